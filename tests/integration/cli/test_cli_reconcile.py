"""`afflux reconcile` / `suspend` / `resume` against a simulated controller: success prints
the revision, Ready=False exits 1 with the message, no answer exits with the timeout code,
a suspended object is refused with a hint, --with-source reconciles the source first."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from cli_harness import Run, SimulatedController, apply, get_json

from afflux.cli._errors import EXIT_NOT_FOUND, EXIT_TIMEOUT
from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration

REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"
ARTIFACT = {"artifact": {"path": "gitrepository/x/repo/a.tar.gz", "url": "http://x/a.tar.gz",
                         "revision": REV, "lastUpdateTime": "2024-05-01T12:00:00Z"}}
GIT = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
       "metadata": {"name": "repo"},
       "spec": {"url": "https://example.com/repo.git", "interval": "1m",
                "ref": {"branch": "main"}}}
KS = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
      "metadata": {"name": "apps"},
      "spec": {"interval": "10m", "path": "./", "prune": True,
               "sourceRef": {"kind": "GitRepository", "name": "repo"}}}
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")

Start = Callable[..., SimulatedController]


@pytest.fixture
def objects(flux_crds: Cluster, namespace: str) -> str:
    apply(flux_crds, namespace, GIT, KS)
    return namespace


def test_reconcile_succeeds(afflux: Run, objects: str, controller: Start,
                            flux_crds: Cluster) -> None:
    sim = controller("GitRepository", status=ARTIFACT,
                     message=f"stored artifact for revision '{REV}'")
    res = afflux("reconcile", "source", "git", "repo", "-n", objects, "--timeout", "60s")
    assert res.code == 0, res.err
    assert res.err.splitlines() == [
        f"► annotating GitRepository repo in {objects} namespace",
        "✔ GitRepository annotated",
        "◎ waiting for GitRepository reconciliation",
        "✔ GitRepository reconciliation completed",
        f"✔ fetched revision {REV}",
    ]
    obj = get_json(flux_crds, objects, "gitrepositories", "repo")
    requested = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
    assert RFC3339_NANO.match(requested), requested
    assert obj["status"]["lastHandledReconcileAt"] == requested
    assert ("repo", requested) in sim.handled
    managers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
    assert ("flux-client-side-apply", "Update") in managers


def test_reconcile_failure_exits_1_with_the_ready_message(afflux: Run, objects: str,
                                                          controller: Start) -> None:
    controller("Kustomization", mode="fail", message="kustomize build failed: no such path")
    res = afflux("reconcile", "ks", "apps", "-n", objects, "--timeout", "60s")
    assert res.code == 1
    assert ("✗ Kustomization reconciliation failed: kustomize build failed: no such path"
            in res.err)
    assert "reconciliation completed" not in res.err


def test_reconcile_times_out_without_a_controller(afflux: Run, objects: str,
                                                  controller: Start) -> None:
    controller("GitRepository", mode="ignore")
    res = afflux("reconcile", "source", "git", "repo", "-n", objects, "--timeout", "2s")
    assert res.code == EXIT_TIMEOUT
    assert f"✗ timed out waiting for GitRepository '{objects}/repo' to be reconciled" in res.err
    assert "hint: is source-controller running?" in res.err


def test_reconcile_with_source(afflux: Run, objects: str, controller: Start) -> None:
    git = controller("GitRepository", status=ARTIFACT)
    ks = controller("Kustomization", status={"lastAppliedRevision": REV})
    res = afflux("reconcile", "kustomization", "apps", "-n", objects, "--with-source",
                 "--timeout", "60s")
    assert res.code == 0, res.err
    lines = res.err.splitlines()
    assert lines[0] == f"► annotating GitRepository repo in {objects} namespace"
    assert f"✔ fetched revision {REV}" in lines
    assert lines[-1] == f"✔ applied revision {REV}"
    assert [name for name, _ in git.handled] == ["repo"], git.handled
    assert [name for name, _ in ks.handled] == ["apps"]


def test_reconcile_source_chart_with_source(afflux: Run, flux_crds: Cluster, namespace: str,
                                            controller: Start) -> None:
    apply(flux_crds, namespace,
          {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
           "metadata": {"name": "charts"},
           "spec": {"url": "https://charts.example.com", "interval": "1h"}},
          {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
           "metadata": {"name": "podinfo"},
           "spec": {"chart": "podinfo", "interval": "1h",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"}}})
    repo = controller("HelmRepository", status={"artifact": {
        "path": "helmrepository/x/charts/index.yaml", "url": "http://x/index.yaml",
        "revision": "sha256:" + "a" * 64, "lastUpdateTime": "2024-05-01T12:00:00Z"}})
    chart = controller("HelmChart", status={"artifact": {
        "path": "helmchart/x/podinfo/podinfo-6.0.0.tgz", "url": "http://x/podinfo.tgz",
        "revision": "6.0.0", "lastUpdateTime": "2024-05-01T12:00:00Z"}})
    res = afflux("reconcile", "source", "chart", "podinfo", "-n", namespace, "--with-source",
                 "--timeout", "60s")
    assert res.code == 0, res.err
    assert res.err.splitlines()[0] == f"► annotating HelmRepository charts in {namespace} namespace"
    assert [name for name, _ in repo.handled] == ["charts"], repo.handled
    assert [name for name, _ in chart.handled] == ["podinfo"], chart.handled


def test_reconcile_not_found(afflux: Run, objects: str) -> None:
    res = afflux("reconcile", "hr", "nope", "-n", objects)
    assert res.code == EXIT_NOT_FOUND
    assert f"✗ HelmRelease '{objects}/nope' not found" in res.err
    assert "afflux get helmreleases -A" in res.err


def test_suspend_refuses_reconcile_and_resume_waits(afflux: Run, objects: str,
                                                    controller: Start, flux_crds: Cluster) -> None:
    sim = controller("GitRepository", status=ARTIFACT)
    res = afflux("suspend", "source", "git", "repo", "-n", objects)
    assert res.code == 0, res.err
    assert res.err.splitlines() == [f"► suspending GitRepository repo in {objects} namespace",
                                    "✔ GitRepository suspended"]
    assert get_json(flux_crds, objects, "gitrepositories", "repo")["spec"]["suspend"] is True

    res = afflux("reconcile", "source", "git", "repo", "-n", objects)
    assert res.code == 1
    assert f"✗ GitRepository '{objects}/repo' is suspended" in res.err
    assert f"hint: resume it with `afflux resume source git repo -n {objects}`" in res.err

    handled_before = len(sim.handled)
    res = afflux("resume", "source", "git", "repo", "-n", objects, "--timeout", "60s")
    assert res.code == 0, res.err
    assert "✔ GitRepository resumed" in res.err
    assert res.err.splitlines()[-1] == f"✔ fetched revision {REV}"
    obj = get_json(flux_crds, objects, "gitrepositories", "repo")
    assert obj["spec"]["suspend"] is False
    assert len(sim.handled) == handled_before + 1


def test_suspend_all(afflux: Run, objects: str, flux_crds: Cluster) -> None:
    apply(flux_crds, objects, {**GIT, "metadata": {"name": "second"}})
    res = afflux("suspend", "source", "git", "--all", "-n", objects)
    assert res.code == 0, res.err
    for name in ("repo", "second"):
        assert get_json(flux_crds, objects, "gitrepositories", name)["spec"]["suspend"] is True
    res = afflux("resume", "source", "git", "--all", "-n", objects, "--no-wait")
    assert res.code == 0, res.err
    for name in ("repo", "second"):
        assert get_json(flux_crds, objects, "gitrepositories", name)["spec"]["suspend"] is False
