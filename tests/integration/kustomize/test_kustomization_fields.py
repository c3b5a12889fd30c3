"""Kustomization fields the other files do not exercise, each against the real
source-controller, kustomize-controller and cluster: `commonMetadata`, `force`,
`retryInterval`, `kubeConfig.secretRef.key`, `healthChecks[].namespace`,
`dependsOn[].namespace`, and what `status.history` and the conditions' times record.

The environment is `harness.kustomize_env` (see `test_kustomization`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.kustomize_env import (
    KS,
    TIMEOUT,
    Env,
    configmap,
    deployment,
    dump,
    self_contained_kubeconfig,
)

pytestmark = pytest.mark.integration

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.mark.flux_fields("Kustomization", "spec.commonMetadata")
def test_common_metadata_lands_on_every_applied_object(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"app.yaml": dump(
        configmap("common-a", namespace=ns),
        {**configmap("common-b", namespace=ns),
         "metadata": {"name": "common-b", "namespace": ns, "labels": {"team": "from-git"}}})})
    ks = env.kustomization("common", env.source(repo), commonMetadata={
        "labels": {"team": "platform", "tier": "back"}, "annotations": {"owner": "ops"}})
    env.wait_applied(ks, sha)
    for name in ("common-a", "common-b"):
        meta = env.get("configmap", name)["metadata"]
        # commonMetadata wins over the manifest's own label of the same key
        assert meta["labels"]["team"] == "platform", meta
        assert meta["labels"]["tier"] == "back"
        assert meta["labels"]["kustomize.toolkit.fluxcd.io/name"] == ks
        assert meta["annotations"]["owner"] == "ops", meta


@pytest.mark.flux_fields("Kustomization", "spec.force", "status.conditions[].observedGeneration")
def test_force_recreates_an_object_whose_immutable_field_changed(env: Env) -> None:
    ns = env.namespace
    frozen = {**configmap("frozen", {"v": "1"}, namespace=ns), "immutable": True}
    repo, sha = env.repo({"cm.yaml": dump(frozen)})
    source = env.source(repo)
    ks = env.kustomization("force", source)
    env.wait_applied(ks, sha)
    second = env.push(repo, source, {"cm.yaml": dump({**frozen, "data": {"v": "2"}})})
    ready = env.wait_failed(ks, "ReconciliationFailed")
    assert "ConfigMap/" in ready["message"] and "frozen" in ready["message"], ready
    assert env.get("configmap", "frozen")["data"] == {"v": "1"}
    env.kubectl("patch", KS, ks, "--type=merge", "-p", '{"spec":{"force":true}}')
    status = env.wait_applied(ks, second)
    assert status["observedGeneration"] == 2
    assert env.condition(status, "Ready")["observedGeneration"] == 2
    assert env.get("configmap", "frozen")["data"] == {"v": "2"}


@pytest.mark.flux_fields("Kustomization", "spec.retryInterval")
def test_retry_interval_decides_when_a_failed_run_is_tried_again(env: Env) -> None:
    """Two Kustomizations with `interval: 1h` fail on a missing substituteFrom ConfigMap
    (not watched, so nothing but a retry notices it appear): once it exists, the one with
    `retryInterval: 2s` recovers by itself, the one with `retryInterval: 1h` stays failed
    until asked."""
    ns = env.namespace
    repo, sha = env.repo({"cm.yaml": dump(configmap("retried", {"v": "${v}"}, namespace=ns))})
    source = env.source(repo)
    vars_ = {"substituteFrom": [{"kind": "ConfigMap", "name": "late-vars"}]}
    patient = env.kustomization("retry-1h", source, interval="1h", retryInterval="1h",
                                postBuild=vars_)
    eager = env.kustomization("retry-2s", source, interval="1h", retryInterval="2s",
                              postBuild=vars_, namePrefix="eager-")
    env.wait_failed(patient, "BuildFailed")
    env.wait_failed(eager, "BuildFailed")
    env.kubectl("create", "configmap", "late-vars", "--from-literal=v=here")
    env.wait_applied(eager, sha)
    assert env.get("configmap", "eager-retried")["data"] == {"v": "here"}
    ready = env.condition(env.status(patient), "Ready")
    assert ready is not None and ready["reason"] == "BuildFailed", ready
    assert not env.exists("configmap", "retried")
    env.reconcile_now(patient)
    env.wait_applied(patient, sha)
    assert env.get("configmap", "retried")["data"] == {"v": "here"}


@pytest.mark.flux_fields("Kustomization", "spec.kubeConfig.secretRef.key")
def test_kubeconfig_secret_key_names_the_entry_to_read(env: Env, tmp_path: Path) -> None:
    config = tmp_path / "cluster.kubeconfig"
    config.write_text(self_contained_kubeconfig(env.cluster.kubeconfig))
    env.kubectl("create", "secret", "generic", "custom-key-kubeconfig",
                f"--from-file=cluster.kubeconfig={config}")
    repo, sha = env.repo({"cm.yaml": dump(configmap("via-key", namespace=env.namespace))})
    source = env.source(repo)
    ks = env.kustomization("kubeconfig-key", source, kubeConfig={
        "secretRef": {"name": "custom-key-kubeconfig", "key": "cluster.kubeconfig"}})
    env.wait_applied(ks, sha)
    assert env.exists("configmap", "via-key")
    # without the key, the default `value`/`value.yaml` is looked for and is not there
    missing = env.kustomization("kubeconfig-no-key", source, kubeConfig={
        "secretRef": {"name": "custom-key-kubeconfig"}})
    ready = env.wait_failed(missing, "ReconciliationFailed")
    assert "custom-key-kubeconfig" in ready["message"], ready
    assert "value" in ready["message"], ready


@pytest.mark.flux_fields("Kustomization", "spec.healthChecks[].namespace")
def test_health_check_of_an_object_in_another_namespace(env: Env) -> None:
    other = f"{env.namespace}-hc"
    env.cluster.kubectl("create", "namespace", other)
    try:
        stuck = deployment("far-stuck", namespace=other,
                           nodeSelector={"afflux.dev/no-such-node": "x"})
        repo, _ = env.repo({"app.yaml": dump(stuck)})
        ks = env.kustomization("far-health", env.source(repo), timeout="10s",
                               healthChecks=[{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": "far-stuck", "namespace": other}])
        ready = env.wait_failed(ks, "HealthCheckFailed", timeout=TIMEOUT + 30)
        assert f"Deployment/{other}/far-stuck" in ready["message"], ready
    finally:
        env.cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.flux_fields("Kustomization", "spec.dependsOn[].namespace")
def test_depends_on_a_kustomization_in_another_namespace(env: Env) -> None:
    """The dependency lives in a namespace this controller does not reconcile: its Ready
    status (written here through the status subresource, as its own controller would) is
    what the dependent waits for."""
    other = f"{env.namespace}-dep"
    env.cluster.kubectl("create", "namespace", other)
    try:
        repo, sha = env.repo({"cm.yaml": dump(configmap("after-far", namespace=env.namespace))})
        app = env.kustomization("after-far", env.source(repo),
                                dependsOn=[{"name": "far-base", "namespace": other}])
        ready = env.wait_failed(app, "DependencyNotReady")
        assert f"'{other}/far-base'" in ready["message"], ready
        env.cluster.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "far-base", "namespace": other},
            "spec": {"interval": "1h", "prune": False, "suspend": True,
                     "sourceRef": {"kind": "GitRepository", "name": "none"}}}))
        status = {"status": {"observedGeneration": 1, "conditions": [{
            "type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
            "message": "Applied revision: main@sha1:0", "observedGeneration": 1,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
        env.cluster.kubectl("-n", other, "patch", KS, "far-base", "--subresource=status",
                            "--type=merge", "-p", json.dumps(status))
        env.wait_applied(app, sha)  # --requeue-dependency=2s in this environment
        assert env.exists("configmap", "after-far")
    finally:
        env.cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.flux_fields("Kustomization", "status.history[].digest",
                         "status.history[].firstReconciled", "status.history[].lastReconciled",
                         "status.history[].lastReconciledDuration",
                         "status.history[].totalReconciliations",
                         "status.conditions[].lastTransitionTime")
def test_history_counts_runs_of_one_applied_set(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"cm.yaml": dump(configmap("counted", {"v": "1"}, namespace=ns))})
    source = env.source(repo)
    ks = env.kustomization("counted", source)
    first = env.wait_applied(ks, sha)
    entry = first["history"][0]
    assert DIGEST.match(entry["digest"]), entry
    assert RFC3339.match(entry["firstReconciled"]) and RFC3339.match(entry["lastReconciled"])
    assert GO_DURATION.match(entry["lastReconciledDuration"]), entry
    assert entry["totalReconciliations"] == 1
    ready_since = env.condition(first, "Ready")["lastTransitionTime"]
    assert RFC3339.match(ready_since)

    env.reconcile_now(ks)  # the same revision, the same applied set
    env.reconcile_now(ks)
    again = env.status(ks)
    same = again["history"][0]
    assert len(again["history"]) == 1, again["history"]
    assert same["digest"] == entry["digest"]
    assert same["firstReconciled"] == entry["firstReconciled"]
    assert same["lastReconciled"] >= entry["lastReconciled"]
    assert same["totalReconciliations"] == 3, same
    # each run passes through Ready=Unknown (Progressing): the time moves with the runs
    since = env.condition(again, "Ready")["lastTransitionTime"]
    assert ready_since <= since <= same["lastReconciled"], (ready_since, since, same)

    # a new applied set is a new entry in front
    second = env.push(repo, source, {"cm.yaml": dump(configmap("counted", {"v": "2"},
                                                               namespace=ns))})
    newer = env.wait_applied(ks, second)
    assert [h["totalReconciliations"] for h in newer["history"]] == [1, 3]
    assert newer["history"][0]["digest"] != entry["digest"]
