"""`afflux export` round-trips (apply the export elsewhere: equal specs), `afflux create
--export` output the API server accepts, `afflux create` applying and waiting for Ready, and
`afflux delete`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import yaml
from cli_harness import Run, SimulatedController, apply, get_json

from afflux.cli import _clean
from afflux.cli._clean import go_durations
from afflux.cli._errors import EXIT_NOT_FOUND, EXIT_TIMEOUT
from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration

Start = Callable[..., SimulatedController]
REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"

SOURCES = """
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: repo
  labels: {team: web}
  annotations: {note: kept}
spec:
  url: https://example.com/repo.git
  interval: 1m
  ref: {branch: main}
  ignore: |
    /docs
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: another}
spec:
  url: ssh://git@example.com/another.git
  interval: 5m
  ref: {tag: v1.0.0}
  secretRef: {name: ssh-key}
"""


@pytest.fixture
def other_namespace(flux_crds: Cluster) -> Iterator[str]:
    name = f"t-export-target-{uuid.uuid4().hex[:6]}"
    flux_crds.kubectl("create", "namespace", name)
    yield name
    flux_crds.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_export_round_trip(afflux: Run, flux_crds: Cluster, namespace: str,
                           other_namespace: str) -> None:
    apply(flux_crds, namespace, SOURCES)
    flux_crds.kubectl("annotate", "-n", namespace, "gitrepository", "repo",
                      "reconcile.fluxcd.io/requestedAt=now")
    res = afflux("export", "source", "git", "--all", "-n", namespace)
    assert res.code == 0, res.err
    assert res.out.startswith("---\napiVersion: source.toolkit.fluxcd.io/v1\n")
    docs = list(yaml.safe_load_all(res.out))
    assert [d["metadata"]["name"] for d in docs] == ["another", "repo"]  # stable order
    for doc in docs:
        assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(doc["metadata"]) <= {"name", "namespace", "labels", "annotations"}
    repo = docs[1]
    assert repo["metadata"]["annotations"] == {"note": "kept"}  # requestedAt and kubectl's gone
    assert repo["metadata"]["labels"] == {"team": "web"}

    for doc in docs:
        doc["metadata"]["namespace"] = other_namespace
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    for name in ("repo", "another"):
        original = get_json(flux_crds, namespace, "gitrepositories", name)
        copy = get_json(flux_crds, other_namespace, "gitrepositories", name)
        # the same spec, its durations written as Go prints them (as flux export): 60s -> 1m0s
        assert copy["spec"] == go_durations(original["spec"], _clean._spec_schema(
            original["apiVersion"], original["kind"]))
    assert get_json(flux_crds, other_namespace, "gitrepositories", "repo")["spec"][
        "timeout"] == "1m0s"

    single = afflux("export", "gitrepository", "repo", "-n", namespace)
    assert list(yaml.safe_load_all(single.out)) == [
        {**repo, "metadata": {**repo["metadata"], "namespace": namespace}}]


def test_export_needs_name_or_all(afflux: Run, namespace: str) -> None:
    res = afflux("export", "source", "git", "-n", namespace)
    assert res.code == 1 and "give a GitRepository name or --all" in res.err
    res = afflux("export", "source", "git", "missing", "-n", namespace)
    assert res.code == EXIT_NOT_FOUND


CREATE_EXPORTS = [
    ["source", "git", "repo", "--url=https://example.com/repo.git", "--branch=main"],
    ["source", "oci", "manifests", "--url=oci://ghcr.io/org/manifests", "--tag=latest"],
    ["source", "helm", "charts", "--url=oci://ghcr.io/org/charts"],
    ["source", "bucket", "bucket", "--bucket-name=b", "--endpoint=minio:9000", "--insecure"],
    ["kustomization", "apps", "--source=GitRepository/repo", "--path=./apps", "--prune",
     "--depends-on=infra", "--health-check=Deployment/web.apps", "--wait"],
    ["image", "repository", "podinfo", "--image=ghcr.io/stefanprodan/podinfo"],
    ["image", "policy", "podinfo", "--image-ref=podinfo", "--select-numeric=asc",
     "--filter-regex=^main-[a-f0-9]+-(?P<ts>[0-9]+)", "--filter-extract=$ts"],
    ["image", "update", "auto", "--git-repo-ref=repo", "--checkout-branch=main",
     "--push-branch=main", "--author-email=bot@example.com"],
    ["secret", "git", "auth", "--url=https://example.com/repo.git", "-u", "u", "-p", "p"],
]


@pytest.mark.parametrize("argv", CREATE_EXPORTS, ids=lambda a: "-".join(a[:2]))
def test_create_export_is_accepted_by_the_api_server(afflux: Run, flux_crds: Cluster,
                                                     namespace: str, argv: list[str]) -> None:
    res = afflux("create", *argv, "--export", "-n", namespace)
    assert res.code == 0, res.err
    done = flux_crds.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", "-",
                             input=res.out, check=False)
    assert done.returncode == 0, done.stderr


def test_create_applies_and_waits_for_ready(afflux: Run, flux_crds: Cluster, namespace: str,
                                            controller: Start) -> None:
    controller("GitRepository", status={"artifact": {
        "path": "p", "url": "http://x/p", "revision": REV,
        "lastUpdateTime": "2024-05-01T12:00:00Z"}})
    res = afflux("create", "source", "git", "repo", "--url=https://example.com/repo.git",
                 "--branch=main", "--interval=2m", "-n", namespace, "--timeout", "60s")
    assert res.code == 0, res.err
    assert res.err.splitlines() == [
        "✚ generating GitRepository",
        "► applying GitRepository",
        "✔ GitRepository created",
        "◎ waiting for GitRepository reconciliation",
        "✔ GitRepository reconciliation completed",
        f"✔ fetched revision {REV}",
    ]
    obj = get_json(flux_crds, namespace, "gitrepositories", "repo")
    assert obj["spec"]["interval"] == "2m0s" and obj["spec"]["ref"] == {"branch": "main"}
    assert ("flux-client-side-apply", "Apply") in {
        (m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
    # again: an update of the same object
    res = afflux("create", "source", "git", "repo", "--url=https://example.com/repo.git",
                 "--branch=dev", "-n", namespace, "--timeout", "60s")
    assert res.code == 0, res.err
    assert "✔ GitRepository updated" in res.err
    assert get_json(flux_crds, namespace, "gitrepositories", "repo")["spec"]["ref"] == {
        "branch": "dev"}


def test_create_reports_a_failed_reconciliation(afflux: Run, namespace: str,
                                                controller: Start) -> None:
    controller("Kustomization", mode="fail", message="GitRepository 'repo' not found")
    res = afflux("create", "ks", "apps", "--source=repo", "-n", namespace, "--timeout", "60s")
    assert res.code == 1
    assert "✗ Kustomization reconciliation failed: GitRepository 'repo' not found" in res.err


def test_create_times_out_clearly(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    res = afflux("create", "image", "repository", "podinfo", "--image=ghcr.io/a/podinfo",
                 "-n", namespace, "--timeout", "2s")
    assert res.code == EXIT_TIMEOUT
    assert f"✗ timed out waiting for ImageRepository '{namespace}/podinfo' to become ready" \
        in res.err
    assert "image-reflector-controller did not report Ready in time" in res.err
    # it was applied all the same
    assert get_json(flux_crds, namespace, "imagerepositories", "podinfo")["spec"]["image"] == \
        "ghcr.io/a/podinfo"


def test_create_secret_git_applies(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    res = afflux("create", "secret", "git", "auth", "--url=https://example.com/r.git",
                 "--bearer-token=t0k", "-n", namespace)
    assert res.code == 0, res.err
    secret = get_json(flux_crds, namespace, "secret", "auth")
    assert set(secret["data"]) == {"bearerToken"}


def test_delete(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    apply(flux_crds, namespace, SOURCES)
    res = afflux("delete", "source", "git", "repo", "--silent", "-n", namespace)
    assert res.code == 0, res.err
    assert res.err.splitlines() == [f"► deleting GitRepository repo in {namespace} namespace",
                                    "✔ GitRepository deleted"]
    gone = flux_crds.kubectl("get", "-n", namespace, "gitrepository", "repo", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    res = afflux("delete", "source", "git", "repo", "--silent", "-n", namespace)
    assert res.code == EXIT_NOT_FOUND
