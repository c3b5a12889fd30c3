"""Status while a Kustomization run is under way, as Flux's kustomize-controller says it:
Ready=Unknown "Reconciliation in progress" and Reconciling=True with what the run waits for
("Running health checks for revision ... with a timeout of ..."), and the inventory of what
the run applied visible before the health wait ends (so `afflux tree` shows it)."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.cli import main
from harness.kustomize_env import Env, configmap, dump
from harness.wait import eventually

pytestmark = pytest.mark.integration


@pytest.mark.flux_fields("Kustomization", "spec.healthChecks[].apiVersion",
                         "spec.healthChecks[].kind", "spec.healthChecks[].name", "spec.timeout",
                         "status.inventory.entries[].id", "status.inventory.entries[].v",
                         "status.observedGeneration")
def test_a_run_waiting_on_health_checks_says_so_and_shows_its_inventory(
        env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    repo, sha = env.repo({"app/cm.yaml": dump(configmap("settings", namespace=env.namespace))})
    revision = f"main@sha1:{sha}"
    ks = env.kustomization("waits", env.source(repo), path="./app", timeout="30s",  # the least there is
                           healthChecks=[{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": "never-created"}])

    def in_progress() -> dict[str, Any]:
        status = env.status(ks)
        ready, reconciling = env.condition(status, "Ready"), env.condition(status, "Reconciling")
        assert ready and (ready["status"], ready["reason"], ready["message"]) == (
            "Unknown", "Progressing", "Reconciliation in progress"), ready
        assert reconciling and (reconciling["status"], reconciling["message"]) == (
            "True", f"Running health checks for revision {revision} with a timeout of 30s")
        healthy = env.condition(status, "Healthy")
        assert healthy and healthy["status"] == "Unknown", healthy
        return status

    status = eventually(in_progress, 30, message="the health-check progress in the status")
    assert status["inventory"]["entries"] == [{"id": f"{env.namespace}_settings__ConfigMap",
                                               "v": "v1"}]
    assert status["lastAttemptedRevision"] == revision
    assert status["observedGeneration"] == -1  # a run in progress has observed nothing yet

    capsys.readouterr()
    assert main(["--kubeconfig", str(env.cluster.kubeconfig), "tree", "ks", ks,
                 "-n", env.namespace]) == 0
    assert "ConfigMap/" in capsys.readouterr().out  # applied, while the wait goes on

    ready = env.wait_failed(ks, "HealthCheckFailed", timeout=90)
    assert "never-created" in ready["message"]
    reconciling = env.condition(env.status(ks), "Reconciling")
    assert reconciling and reconciling["reason"] == "ProgressingWithRetry"


@pytest.mark.flux_fields("Kustomization", "status.observedGeneration")
def test_a_run_without_health_checks_ends_ready(env: Env) -> None:
    repo, sha = env.repo({"app/cm.yaml": dump(configmap("plain", namespace=env.namespace))})
    ks = env.kustomization("plain", env.source(repo), path="./app")
    status = env.wait_applied(ks, sha)
    assert env.condition(status, "Reconciling") is None
    assert status["observedGeneration"] == 1
