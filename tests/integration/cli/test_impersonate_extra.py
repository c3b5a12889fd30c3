"""The global `--as-user-extra` flag against the real API server: the user extras it
impersonates are the ones the server sees (a SelfSubjectReview answers with them)."""

from __future__ import annotations

import pytest

from afflux.cli._context import Context
from afflux.cli._main import parse_args
from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration


def test_as_user_extra_reaches_the_api_server(flux_crds: Cluster) -> None:
    args = parse_args(["--kubeconfig", str(flux_crds.kubeconfig), "--as", "alice",
                       "--as-group", "devs", "--as-user-extra", "scopes=view",
                       "--as-user-extra", "scopes=edit", "--as-user-extra=acme.com/team=web",
                       "get", "ks"])
    review = Context.from_args(args).kube.request(
        "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review is not None
    user = review["status"]["userInfo"]
    assert user["username"] == "alice"
    assert "devs" in user["groups"]
    assert user["extra"] == {"scopes": ["view", "edit"], "acme.com/team": ["web"]}
