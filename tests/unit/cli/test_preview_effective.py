"""The Kustomization (or HelmRelease) a preview renders: the spec the ref's parent renders,
over the live object's status and metadata (`afflux.cli._preview`)."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.cli._preview import Previewer, uses_source

LIVE = {"metadata": {"name": "child", "namespace": "apps",
                     "annotations": {"afflux.toolkit.fluxcd.io/allow-prune": "main@sha1:1"},
                     "labels": {"team": "a"}},
        "spec": {"path": "./v1"}, "status": {"inventory": {"entries": [{"id": "x", "v": "v1"}]}}}
RENDERED = {"metadata": {"name": "child", "namespace": "apps", "labels": {"tier": "b"}},
            "spec": {"path": "./v2"}}


@pytest.mark.parametrize(("rendered", "live", "want"), [
    pytest.param(None, None, None, id="neither"),
    pytest.param(None, LIVE, LIVE, id="not-rendered-is-live"),
    pytest.param(RENDERED, None, RENDERED, id="new-at-the-ref"),
    pytest.param(RENDERED, LIVE, {
        "metadata": {"name": "child", "namespace": "apps",
                     "annotations": {"afflux.toolkit.fluxcd.io/allow-prune": "main@sha1:1"},
                     "labels": {"team": "a", "tier": "b"}},
        "spec": {"path": "./v2"}, "status": LIVE["status"]}, id="ref-spec-live-status"),
])
def test_effective(rendered: dict[str, Any] | None, live: dict[str, Any] | None,
                   want: dict[str, Any] | None) -> None:
    assert Previewer.effective(rendered, live) == want


@pytest.mark.parametrize(("ref", "uses"), [
    pytest.param({"kind": "GitRepository", "name": "repo"}, True, id="same-namespace"),
    pytest.param({"kind": "GitRepository", "name": "repo", "namespace": "apps"}, True,
                 id="namespace-given"),
    pytest.param({"kind": "GitRepository", "name": "repo", "namespace": "x"}, False,
                 id="other-namespace"),
    pytest.param({"kind": "OCIRepository", "name": "repo"}, False, id="other-kind"),
])
def test_uses_source(ref: dict[str, str], uses: bool) -> None:
    ks = {"metadata": {"name": "k", "namespace": "apps"}, "spec": {"sourceRef": ref}}
    assert uses_source(ks, ("apps", "repo")) is uses
