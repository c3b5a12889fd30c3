"""The action planner against the real cluster and the real `helm`: install remediation,
the uninstall strategy, forceAt/resetAt, a release locked in pending-* after a crash,
dependsOn, serviceAccountName impersonation, maxHistory, targetNamespace with
createNamespace, and the releaseName cut at 53 characters."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import (
    GROUP,
    PLURAL,
    TIMEOUT,
    VERSION,
    HelmEnv,
    chart_spec,
    cond,
    release,
)
from kubernetes import client as k8s
from source_env import obj_name

from afflux.controllers.helm._release import decode_record, encode_record
from harness.fixtures_cluster import Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration
ENV_LABEL = "helmrem"

FORCE_AT = "reconcile.fluxcd.io/forceAt"
RESET_AT = "reconcile.fluxcd.io/resetAt"


@pytest.fixture
def other_namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace name, not created; deleted afterwards if something created it."""
    name = f"t-helmtarget-{uuid.uuid4().hex[:6]}"
    yield name
    cluster.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=false")


@pytest.mark.flux_fields("HelmRelease", "spec.install.remediation.retries",
                         "spec.install.remediation.remediateLastFailure", "status.installFailures",
                         "status.failures")
def test_install_remediation_retries_then_uninstalls_the_last_failure(
        env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"hooks": {"pre-install": "1"}},
                   install={"remediation": {"retries": 2, "remediateLastFailure": True}})
    obj = env.failing(name, "RetriesExceeded", stalled=True, timeout=2 * TIMEOUT)
    status = obj["status"]
    assert status["installFailures"] == 3 and status["failures"] >= 3
    assert "Failed to install after 3 attempt(s)" in cond(obj, "Ready")["message"]
    remediated = cond(obj, "Remediated")
    assert (remediated["status"], remediated["reason"]) == ("True", "UninstallSucceeded")
    assert name not in env.helm_list()  # the last failure was uninstalled too
    reasons = env.source.event_reasons(name)
    assert {"InstallFailed", "UninstallSucceeded"} <= set(reasons)
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.remediation.strategy")
def test_upgrade_remediation_strategy_uninstall_then_installs_again(
        env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {}, upgrade={"remediation": {
        "retries": 0, "remediateLastFailure": True, "strategy": "uninstall"}})
    env.ready(name, "InstallSucceeded")
    first = env.helm_history(name)[0]["updated"]
    env.patch_spec(name, {"values": {"hooks": {"pre-upgrade": "1"}}})
    # the failed upgrade is uninstalled, and the next run installs the release anew (its
    # pre-upgrade hook does not run on install)
    obj = env.ready(name, "InstallSucceeded",
                    check=lambda o: o["status"].get("upgradeFailures") == 1)
    reasons = env.source.event_reasons(name)
    assert {"UpgradeFailed", "UninstallSucceeded"} <= set(reasons)
    [record] = env.helm_history(name)
    assert (record["revision"], record["status"]) == (1, "deployed")
    assert record["updated"] != first
    assert obj["status"]["history"][0]["version"] == 1
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "status.lastHandledForceAt",
                         "status.lastHandledReconcileAt")
def test_force_at_upgrades_an_unchanged_release(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {})
    env.ready(name, "InstallSucceeded")
    stamp = env.request(name, FORCE_AT)
    obj = env.ready(name, "UpgradeSucceeded",
                    check=lambda o: o["status"].get("lastHandledForceAt") == stamp)
    assert obj["status"]["history"][0]["version"] == 2
    assert len(env.helm_history(name)) == 2

    # a forceAt that differs from requestedAt is not honoured (as Flux)
    env.source.api.patch_namespaced_custom_object(
        "helm.toolkit.fluxcd.io", "v2", env.namespace, "helmreleases", name,
        {"metadata": {"annotations": {FORCE_AT: "other",
                                      "reconcile.fluxcd.io/requestedAt": "again"}}})
    obj = env.ready(name, check=lambda o: o["status"].get("lastHandledReconcileAt") == "again")
    assert obj["status"]["lastHandledForceAt"] == stamp
    assert len(env.helm_history(name)) == 2
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.targetNamespace", "status.lastHandledResetAt")
def test_reset_at_retries_a_stalled_install_and_create_namespace(
        env: HelmEnv, repo: str, other_namespace: str) -> None:
    name = release(env, repo, {}, targetNamespace=other_namespace)
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    assert "not found" in cond(obj, "Released")["message"]
    assert obj["status"]["installFailures"] == 1

    # the namespace now exists, but a stalled release waits for a reset
    env.source.core.create_namespace({"metadata": {"name": other_namespace}})
    stamp = env.request(name, RESET_AT)
    obj = env.ready(name, "InstallSucceeded",
                    check=lambda o: o["status"].get("lastHandledResetAt") == stamp)
    assert "installFailures" not in obj["status"]
    release_name = f"{other_namespace}-{name}"
    assert release_name in env.helm_list()  # records in the HelmRelease's namespace (Flux's)
    assert obj["status"]["history"][0]["namespace"] == other_namespace
    env.delete(name)
    eventually(lambda: release_name not in env.helm_list(), TIMEOUT,
               message="the release uninstalled")


@pytest.mark.flux_fields("HelmRelease", "spec.install.createNamespace", "spec.targetNamespace")
def test_install_create_namespace(env: HelmEnv, repo: str, other_namespace: str) -> None:
    name = release(env, repo, {}, targetNamespace=other_namespace,
                   install={"createNamespace": True})
    env.ready(name, "InstallSucceeded")
    assert env.source.core.read_namespace(other_namespace).metadata.name == other_namespace
    cm = env.source.core.read_namespaced_config_map(f"{other_namespace}-{name}",
                                                    other_namespace)
    assert cm.data == {"replicas": "1"}
    env.delete(name)


def _suspend_metric(env: HelmEnv, name: str) -> float | None:
    """The operator's gotk_suspend_status value for the HelmRelease `name` (None: no series)."""
    for line in env.controller.metrics().splitlines():
        if (line.startswith("gotk_suspend_status{") and f'name="{name}"' in line
                and f'namespace="{env.namespace}"' in line and 'kind="HelmRelease"' in line):
            return float(line.rsplit(" ", 1)[1])
    return None


def _record(env: HelmEnv, release_name: str, version: int) -> tuple[str, dict[str, Any]]:
    secret = f"sh.helm.release.v1.{release_name}.v{version}"
    body = env.source.core.api_client.sanitize_for_serialization(
        env.source.core.read_namespaced_secret(secret, env.namespace))
    return secret, body


@pytest.mark.parametrize("locked", ["pending-install", "pending-upgrade"])
@pytest.mark.flux_fields("HelmRelease", "spec.suspend")
def test_a_release_locked_by_a_crash_is_unlocked_and_upgraded(
        env: HelmEnv, repo: str, locked: str) -> None:
    name = release(env, repo, {})
    env.ready(name, "InstallSucceeded")
    if locked == "pending-upgrade":
        env.patch_spec(name, {"values": {"replicas": 2}})
        env.ready(name, "UpgradeSucceeded",
                  check=lambda o: o["status"]["history"][0]["version"] == 2)
    version = 1 if locked == "pending-install" else 2
    # the crash: the operator is killed (nothing of it runs any more, not even a reconcile
    # that started before the suspension), and the record is left as a helm killed
    # mid-action leaves it
    env.patch_spec(name, {"suspend": True})
    env.controller.kill()
    secret, body = _record(env, name, version)
    rel, _ = decode_record(body)
    rel["info"]["status"] = locked
    body["data"]["release"] = encode_record(rel)
    body["metadata"]["labels"]["status"] = locked
    env.source.core.replace_namespaced_secret(secret, env.namespace, body)
    assert env.helm_history(name)[-1]["status"] == locked
    # started again, the operator sees the release suspended and leaves the lock alone
    env.controller.restart()
    eventually(lambda: _suspend_metric(env, name) == 1, TIMEOUT,
               message="the restarted operator seeing the release suspended")
    assert env.helm_history(name)[-1]["status"] == locked

    env.patch_spec(name, {"suspend": False})
    obj = env.ready(name, "UpgradeSucceeded",
                    check=lambda o: o["status"]["history"][0]["version"] == version + 1)
    history = env.helm_history(name)
    assert history[version - 1]["description"] == f"Release unlocked from stale '{locked}' state"
    assert history[-1]["status"] == "deployed"
    assert obj["status"]["history"][0]["status"] == "deployed"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.dependsOn[].name")
def test_depends_on_waits_for_the_dependency(env: HelmEnv, repo: str) -> None:
    base = obj_name("base")
    app = release(env, repo, {}, dependsOn=[{"name": base}])
    obj = env.failing(app, "DependencyNotReady")
    assert cond(obj, "Ready")["message"] == (
        f"dependency '{env.namespace}/{base}' not found")
    assert app not in env.helm_list()
    env.create(base, release_spec(repo))
    env.ready(base, "InstallSucceeded")
    env.ready(app, "InstallSucceeded")
    for name in (app, base):
        env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.dependsOn[].namespace")
def test_depends_on_a_release_in_another_namespace(env: HelmEnv, repo: str) -> None:
    """The dependency lives in a namespace this controller does not reconcile: its Ready
    status (written through the status subresource, as its own controller would) is what
    the dependent waits for."""
    other = f"{env.namespace}-dep"
    kubectl = env.source.cluster.kubectl
    kubectl("create", "namespace", other)
    try:
        base = obj_name("base")
        app = release(env, repo, {}, dependsOn=[{"name": base, "namespace": other}])
        obj = env.failing(app, "DependencyNotReady")
        assert cond(obj, "Ready")["message"] == f"dependency '{other}/{base}' not found"
        kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "HelmRelease",
            "metadata": {"name": base, "namespace": other},
            "spec": {"interval": "1h", "suspend": True, **release_spec(repo)}}))
        status = {"status": {"observedGeneration": 1, "conditions": [{
            "type": "Ready", "status": "True", "reason": "InstallSucceeded",
            "message": "installed by hand", "observedGeneration": 1,
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
        kubectl("-n", other, "patch", PLURAL, base, "--subresource=status", "--type=merge",
                "-p", json.dumps(status))
        env.ready(app, "InstallSucceeded")
        env.delete(app)
    finally:
        kubectl("delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.flux_fields("HelmRelease", "spec.dependsOn[].readyExpr")
def test_ready_expr_replaces_the_readiness_check(env: HelmEnv, repo: str) -> None:
    # the dependency never becomes Ready (no such chart version): only the expression decides
    base = env.create(obj_name("base"), chart_spec(repo, "9.9.9", chart="life"))
    env.failing(base, "ArtifactFailed")
    expr = ("has(dep.metadata.labels) && 'stage' in dep.metadata.labels && "
            "dep.metadata.labels['stage'] == 'done' && "
            "self.metadata.namespace == dep.metadata.namespace")
    app = release(env, repo, {}, dependsOn=[{"name": base, "readyExpr": expr}])
    obj = env.failing(app, "DependencyNotReady")
    assert cond(obj, "Ready")["message"].startswith(
        f"dependency '{env.namespace}/{base}' is not ready according to its readyExpr")
    assert app not in env.helm_list()

    env.source.api.patch_namespaced_custom_object(
        GROUP, VERSION, env.namespace, PLURAL, base, {"metadata": {"labels": {"stage": "done"}}})
    env.ready(app, "InstallSucceeded")
    for name in (app, base):
        env.delete(name)


def release_spec(repo: str) -> dict[str, Any]:
    return {**chart_spec(repo, "1.0.0", chart="life"), "values": {}}


@pytest.mark.flux_fields("HelmRelease", "spec.serviceAccountName")
def test_service_account_impersonation_denied_then_allowed(env: HelmEnv, repo: str) -> None:
    account = obj_name("deployer")
    env.source.core.create_namespaced_service_account(env.namespace,
                                                      {"metadata": {"name": account}})
    name = release(env, repo, {}, serviceAccountName=account)
    obj = env.failing(name, "GetLastReleaseFailed")
    message = cond(obj, "Ready")["message"]
    assert f"system:serviceaccount:{env.namespace}:{account}" in message
    assert "forbidden" in message
    assert name not in env.helm_list()

    rbac = k8s.RbacAuthorizationV1Api(env.source.core.api_client)
    rbac.create_namespaced_role(env.namespace, {
        "metadata": {"name": account},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]})
    rbac.create_namespaced_role_binding(env.namespace, {
        "metadata": {"name": account},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
        "subjects": [{"kind": "ServiceAccount", "name": account,
                      "namespace": env.namespace}]})
    env.ready(name, "InstallSucceeded", timeout=2 * TIMEOUT)
    assert name in env.helm_list()
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.maxHistory")
def test_max_history_bounds_helm_records_and_status_history(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {}, maxHistory=2)
    env.ready(name, "InstallSucceeded")
    for replicas in (2, 3, 4):
        env.patch_spec(name, {"values": {"replicas": replicas}})
        env.ready(name, "UpgradeSucceeded",
                  check=lambda o, r=replicas: o["status"]["history"][0]["version"] == r)
    assert [r["revision"] for r in env.helm_history(name)] == [3, 4]
    assert len(env.get(name)["status"]["history"]) <= 2
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.targetNamespace")
def test_a_release_name_over_53_characters_is_cut_and_hashed(
        env: HelmEnv, repo: str, other_namespace: str) -> None:
    name = f"a-helmrelease-with-a-rather-long-name-{uuid.uuid4().hex[:8]}"
    full = f"{other_namespace}-{name}"
    assert len(full) > 53
    env.create(name, {**release_spec(repo), "targetNamespace": other_namespace,
                      "install": {"createNamespace": True}})
    obj = env.ready(name, "InstallSucceeded")
    want = f"{full[:40]}-{hashlib.sha256(full.encode()).hexdigest()[:12]}"
    assert len(want) == 53
    assert obj["status"]["history"][0]["name"] == want
    assert want in env.helm_list()
    env.delete(name)
