"""Helm's lifecycle for real on the local cluster, under helm-controller's default engine
(Helm 4, as Flux 2.9's): hooks (Jobs) and `helm test` Pods that pass or fail (kwok Stages
read the `afflux.dev/exit` annotation), the wait (Helm 4's default, the kstatus poller) on a
Deployment that never becomes ready (`afflux.dev/ready: "false"`) and on Jobs, and what
helm-controller makes of each: conditions, remediation, history. The forced rollback runs
under both engines (`engine_env`: Helm 3 with Flux's `UseHelm3Defaults=true` too), where
`rollback.recreate` differs; Helm 3's own wait is in test_helm3_defaults.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import (
    TIMEOUT,
    HelmEnv,
    chart_spec,
    cond,
    job_succeeded,
    life_repository,
    release,
    remediated,
    start_helm_env,
)
from kubernetes import client as k8s
from source_env import obj_name

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.wait import eventually

pytestmark = pytest.mark.integration
ENV_LABEL = "helmlife"
HELM3, HELM4 = "helm3", "helm4"
HELM3_GATE = "--feature-gates=UseHelm3Defaults=true"


def test_passing_hooks_run_around_install_and_upgrade(env: HelmEnv, repo: str) -> None:
    hooks = dict.fromkeys(("pre-install", "post-install", "pre-upgrade", "post-upgrade"), "0")
    name = release(env, repo, {"hooks": hooks})
    env.ready(name, "InstallSucceeded")
    assert job_succeeded(env, f"{name}-pre-install")
    assert job_succeeded(env, f"{name}-post-install")
    batch = k8s.BatchV1Api(env.source.core.api_client)
    hook = batch.read_namespaced_job(f"{name}-pre-install", env.namespace)
    # post-rendered with the other objects (Helm 4's combined, Flux 2.9's default)
    assert (hook.metadata.labels or {}).get("helm.toolkit.fluxcd.io/name") == name
    assert env.configmap(name)["metadata"]["labels"]["helm.toolkit.fluxcd.io/name"] == name
    env.patch_spec(name, {"values": {"replicas": 2}})
    env.ready(name, "UpgradeSucceeded",
              check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert job_succeeded(env, f"{name}-pre-upgrade")
    assert job_succeeded(env, f"{name}-post-upgrade")
    assert [r["status"] for r in env.helm_history(name)] == ["superseded", "deployed"]
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "status.installFailures")
def test_a_failing_pre_install_hook_fails_the_install_until_the_values_change(
        env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"hooks": {"pre-install": "1"}})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")
    assert (released["status"], released["reason"]) == ("False", "InstallFailed")
    assert "pre-install" in released["message"] and "failed" in released["message"]
    assert obj["status"]["installFailures"] == 1
    assert [r["status"] for r in env.helm_history(name)] == ["failed"]
    assert "InstallFailed" in env.source.event_reasons(name)

    # the hook fixed: new values, the counters start again, the failed release is upgraded
    env.patch_spec(name, {"values": {"hooks": {"pre-install": "0"}}})
    obj = env.ready(name, "UpgradeSucceeded")
    assert "installFailures" not in obj["status"]
    assert [r["status"] for r in env.helm_history(name)] == ["superseded", "deployed"]
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.remediation.retries",
                         "spec.upgrade.remediation.remediateLastFailure")
def test_a_failing_post_upgrade_hook_is_rolled_back(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {}, upgrade={"remediation": {"retries": 0,
                                                           "remediateLastFailure": True}})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"hooks": {"post-upgrade": "2"}}})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")
    assert released["reason"] == "UpgradeFailed" and "post-upgrade" in released["message"]
    assert cond(obj, "Remediated")["reason"] == "RollbackSucceeded"
    history = env.helm_history(name)
    assert [r["status"] for r in history] == ["superseded", "failed", "deployed"]
    assert history[2]["description"] == "Rollback to 1"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.test.enable", "status.history[].testHooks{*}.phase",
                         "status.history[].testHooks{*}.lastCompleted",
                         "status.history[].testHooks{*}.lastStarted",
                         "status.history[].apiVersion")
def test_a_passing_helm_test_makes_the_release_ready_with_test_succeeded(
        env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"test": "0"}, test={"enable": True})
    obj = env.ready(name, "TestSucceeded")
    tested = cond(obj, "TestSuccess")
    assert (tested["status"], tested["reason"]) == ("True", "TestSucceeded")
    assert cond(obj, "Released")["reason"] == "InstallSucceeded"
    hooks = obj["status"]["history"][0]["testHooks"]
    assert hooks[f"{name}-test"]["phase"] == "Succeeded"
    assert hooks[f"{name}-test"]["lastCompleted"]
    assert hooks[f"{name}-test"]["lastStarted"] <= hooks[f"{name}-test"]["lastCompleted"]
    assert obj["status"]["history"][0]["apiVersion"] == "v2"
    assert "TestSucceeded" in env.source.event_reasons(name)
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.test.enable", "spec.test.ignoreFailures")
def test_a_failing_helm_test_fails_the_release_until_failures_are_ignored(
        env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"test": "1"}, test={"enable": True})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    tested = cond(obj, "TestSuccess")
    assert (tested["status"], tested["reason"]) == ("False", "TestFailed")
    assert obj["status"]["installFailures"] == 1
    assert obj["status"]["history"][0]["testHooks"][f"{name}-test"]["phase"] == "Failed"
    assert "TestFailed" in env.source.event_reasons(name)

    # test.ignoreFailures: the same release, tested and failed, is Ready
    env.patch_spec(name, {"test": {"enable": True, "ignoreFailures": True}})
    obj = env.ready(name, "InstallSucceeded")
    assert cond(obj, "TestSuccess")["status"] == "False"
    assert len(env.helm_history(name)) == 1  # nothing was installed again
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.install.remediation.ignoreTestFailures",
                         "spec.upgrade.remediation.ignoreTestFailures")
def test_remediation_ignore_test_failures_on_install_and_upgrade(
        env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"test": "1"}, test={"enable": True},
                   install={"remediation": {"ignoreTestFailures": True}},
                   upgrade={"remediation": {"ignoreTestFailures": True}})
    obj = env.ready(name, "InstallSucceeded")
    assert cond(obj, "TestSuccess")["reason"] == "TestFailed"
    env.patch_spec(name, {"values": {"test": "3"}})
    obj = env.ready(name, "UpgradeSucceeded",
                    check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert cond(obj, "TestSuccess")["reason"] == "TestFailed"
    assert obj["status"]["history"][0]["testHooks"][f"{name}-test"]["phase"] == "Failed"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.timeout", "spec.install.disableWait")
def test_wait_fails_on_a_deployment_that_never_becomes_ready_unless_disabled(
        env: HelmEnv, repo: str) -> None:
    values = {"deployment": {"ready": "false"}}
    waits = release(env, repo, values, timeout="8s")
    obj = env.failing(waits, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")
    assert released["reason"] == "InstallFailed"
    assert "resources not ready (waitStrategy poller)" in released["message"], released
    assert [r["status"] for r in env.helm_history(waits)] == ["failed"]

    no_wait = release(env, repo, values, timeout="8s", install={"disableWait": True})
    env.ready(no_wait, "InstallSucceeded")
    deployment = k8s.AppsV1Api(env.source.core.api_client).read_namespaced_deployment(
        no_wait, env.namespace)
    assert not deployment.status.ready_replicas  # installed, and still not ready
    for name in (waits, no_wait):
        env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.timeout", "spec.install.disableWaitForJobs")
def test_wait_for_jobs_fails_on_a_failing_job_unless_disabled(env: HelmEnv, repo: str) -> None:
    waits = release(env, repo, {"job": "1"}, timeout="10s")
    obj = env.failing(waits, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")
    assert released["reason"] == "InstallFailed"
    assert "resources not ready (waitStrategy poller)" in released["message"], released  # waited for

    no_wait = release(env, repo, {"job": "1"}, timeout="10s",
                      install={"disableWaitForJobs": True})
    env.ready(no_wait, "InstallSucceeded")
    job = k8s.BatchV1Api(env.source.core.api_client)

    def job_failed() -> bool:
        return bool(job.read_namespaced_job(f"{no_wait}-job", env.namespace).status.failed)

    eventually(job_failed, TIMEOUT, message="the release's Job failed (and helm did not wait)")
    for name in (waits, no_wait):
        env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.install.disableHooks", "spec.upgrade.disableHooks")
def test_disabled_hooks_do_not_run_on_install_and_upgrade(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"hooks": {"pre-install": "1"}},
                   install={"disableHooks": True}, upgrade={"disableHooks": True})
    env.ready(name, "InstallSucceeded")  # the failing pre-install hook did not run
    batch = k8s.BatchV1Api(env.source.core.api_client)
    jobs = [j.metadata.name for j in batch.list_namespaced_job(env.namespace).items]
    assert f"{name}-pre-install" not in jobs
    env.patch_spec(name, {"values": {"hooks": {"pre-upgrade": "1"}, "replicas": 2}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    jobs = [j.metadata.name for j in batch.list_namespaced_job(env.namespace).items]
    assert f"{name}-pre-upgrade" not in jobs
    assert env.configmap(name)["data"] == {"replicas": "2"}
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.test.filters[].name", "spec.test.filters[].exclude",
                         "spec.test.timeout")
def test_test_filters_leave_out_the_excluded_tests(env: HelmEnv, repo: str) -> None:
    name = obj_name("hr")
    env.create(name, {**chart_spec(repo, "1.0.0", chart="life"), "values": {"test": "1"},
                      "test": {"enable": True, "timeout": "2m",
                               "filters": [{"name": f"{name}-test", "exclude": True}]}})
    obj = env.ready(name)
    hooks = obj["status"]["history"][0].get("testHooks") or {}
    assert f"{name}-test" not in hooks, "the failing test was excluded, so it did not run"
    with pytest.raises(k8s.ApiException) as err:
        env.source.core.read_namespaced_pod(f"{name}-test", env.namespace)
    assert err.value.status == 404
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.disableWait", "spec.upgrade.timeout")
def test_upgrade_waits_within_its_timeout_unless_disabled(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"deployment": {"ready": "true"}}, upgrade={"timeout": "6s"})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"deployment": {"ready": "false"}}})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")
    assert released["reason"] == "UpgradeFailed"
    assert "resources not ready (waitStrategy poller)" in released["message"], released

    env.patch_spec(name, {"values": {"deployment": {"ready": "false"}, "replicas": 2},
                          "upgrade": {"timeout": "6s", "disableWait": True}})
    env.ready(name, "UpgradeSucceeded")
    assert env.configmap(name)["data"] == {"replicas": "2"}
    env.delete(name)


def revisions(history: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(revision, status) of each record of `helm history`."""
    return [(r["revision"], r["status"]) for r in history]


def record_labels(env: HelmEnv, name: str) -> dict[int, dict[str, str]]:
    """The labels of release `name`'s storage Secrets, by revision."""
    secrets = env.source.core.list_namespaced_secret(
        env.namespace, label_selector=f"owner=helm,name={name}").items
    return {int(s.metadata.labels["version"]): s.metadata.labels for s in secrets}


def test_a_failed_upgrade_wait_leaves_the_previous_release_deployed_as_helm_does(
        env: HelmEnv, repo: str) -> None:
    """Under the poller (Helm 4's default wait) an upgrade whose Deployment never becomes
    ready ends as Helm's own wait leaves it: the previous release still deployed, the new
    one failed with Helm's description, as the real helm v4 reads the records. The
    remediation's rollback then supersedes the previous release, as `helm rollback` does."""
    upgrades = {"kept": {"timeout": "6s"},
                "rolled back": {"timeout": "6s", "remediation": {
                    "retries": 0, "remediateLastFailure": True}}}
    names = {case: release(env, repo, {"deployment": {"ready": "true"}}, upgrade=upgrade)
             for case, upgrade in upgrades.items()}
    for name in names.values():
        env.ready(name, "InstallSucceeded")
    for name in names.values():
        env.patch_spec(name, {"values": {"deployment": {"ready": "false"}}})

    kept = names["kept"]
    obj = env.failing(kept, "RetriesExceeded", stalled=True)
    assert cond(obj, "Released")["reason"] == "UpgradeFailed"
    history = env.helm4_history(kept)
    assert revisions(history) == [(1, "deployed"), (2, "failed")], history
    assert history[1]["description"].startswith(
        f'Upgrade "{kept}" failed: resources not ready (waitStrategy poller): '), history
    assert [(h["version"], h["status"]) for h in obj["status"]["history"]] == [
        (2, "failed"), (1, "deployed")], obj["status"]["history"]
    labels = record_labels(env, kept)
    assert {v: labels[v]["status"] for v in labels} == {1: "deployed", 2: "failed"}, labels
    assert all(labels[v]["modifiedAt"].isdigit() for v in labels), labels

    rolled = names["rolled back"]
    obj = env.failing(rolled, "RetriesExceeded", stalled=True)
    assert cond(obj, "Remediated")["reason"] == "RollbackSucceeded", obj["status"]
    history = env.helm4_history(rolled)
    assert revisions(history) == [(1, "superseded"), (2, "failed"), (3, "deployed")], history
    assert history[2]["description"] == "Rollback to 1", history
    for name in names.values():
        env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.uninstall.keepHistory")
def test_uninstall_keep_history_keeps_the_release_records(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {}, uninstall={"keepHistory": True})
    env.ready(name, "InstallSucceeded")
    env.delete(name)
    eventually(lambda: env.gone(name), TIMEOUT, message="HelmRelease deleted")
    [record] = env.helm_history(name)
    assert record["status"] == "uninstalled"
    with pytest.raises(k8s.ApiException):
        env.configmap(name)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.preserveValues")
def test_preserve_values_keeps_the_last_release_values_on_upgrade(env: HelmEnv,
                                                                   repo: str) -> None:
    name = release(env, repo, {"replicas": 2}, upgrade={"preserveValues": True})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"replicas": None, "extra": "x"}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert env.configmap(name)["data"] == {"replicas": "2"}, "the last release's value kept"

    env.patch_spec(name, {"upgrade": {"preserveValues": False}, "values": {"extra": "y"}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 3)
    assert env.configmap(name)["data"] == {"replicas": "1"}, "back to the chart's default"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.uninstall.disableHooks")
def test_uninstall_disable_hooks_skips_a_failing_pre_delete_hook(env: HelmEnv,
                                                                 repo: str) -> None:
    name = release(env, repo, {"hooks": {"pre-delete": "1"}},
                   uninstall={"disableHooks": True})
    env.ready(name, "InstallSucceeded")
    env.delete(name)
    eventually(lambda: env.gone(name), TIMEOUT, message="HelmRelease deleted")
    assert name not in env.helm_list()
    jobs = [j.metadata.name for j in k8s.BatchV1Api(
        env.source.core.api_client).list_namespaced_job(env.namespace).items]
    assert f"{name}-pre-delete" not in jobs, "the pre-delete hook did not run"


@pytest.mark.flux_fields("HelmRelease", "spec.rollback.disableHooks")
def test_rollback_disable_hooks_skips_the_failing_pre_rollback_hook(env: HelmEnv,
                                                                    repo: str) -> None:
    # the release rolled back to has a failing pre-rollback hook: it does not run
    name = release(env, repo, {"hooks": {"pre-rollback": "1"}},
                   upgrade={"remediation": {"retries": 0, "remediateLastFailure": True}},
                   rollback={"disableHooks": True})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"hooks": {"pre-rollback": "1", "post-upgrade": "2"}}})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    assert cond(obj, "Remediated")["reason"] == "RollbackSucceeded"
    assert [r["status"] for r in env.helm_history(name)] == ["superseded", "failed", "deployed"]
    jobs = [j.metadata.name for j in k8s.BatchV1Api(
        env.source.core.api_client).list_namespaced_job(env.namespace).items]
    assert f"{name}-pre-rollback" not in jobs, "the pre-rollback hook did not run"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.force")
def test_upgrade_force_replaces_the_objects(env: HelmEnv, repo: str) -> None:
    """`force` replaces objects applied client-side (Helm 4's --force-replace); a release
    installed client-side is upgraded client-side (`auto`), as Flux decides it."""
    name = release(env, repo, {}, upgrade={"force": True}, install={"serverSideApply": False})
    env.ready(name, "InstallSucceeded")
    # a label added out of band: a three-way merge keeps it, a replacement drops it
    env.source.core.patch_namespaced_config_map(
        name, env.namespace, {"metadata": {"labels": {"added": "by-hand"}}})
    env.patch_spec(name, {"values": {"replicas": 2}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    found = env.configmap(name)
    assert found["data"] == {"replicas": "2"}
    assert "added" not in (found["metadata"]["labels"] or {}), "replaced, not patched"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.uninstall.deletionPropagation")
def test_uninstall_orphan_propagation_leaves_the_dependents(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"deployment": {"ready": "true"}},
                   uninstall={"deletionPropagation": "orphan"})
    env.ready(name, "InstallSucceeded")
    apps = k8s.AppsV1Api(env.source.core.api_client)

    def replica_sets() -> list[Any]:
        found = apps.list_namespaced_replica_set(env.namespace,
                                                 label_selector=f"app={name}").items
        assert found, "the Deployment's ReplicaSet"
        return found

    eventually(replica_sets, TIMEOUT)
    env.delete(name)
    eventually(lambda: env.gone(name), TIMEOUT, message="HelmRelease deleted")
    with pytest.raises(k8s.ApiException):
        apps.read_namespaced_deployment(name, env.namespace)
    [orphan] = replica_sets()
    assert not orphan.metadata.owner_references, "orphaned, not collected"
    apps.delete_namespaced_replica_set(orphan.metadata.name, env.namespace)



@pytest.mark.flux_fields("HelmRelease", "spec.rollback.timeout", "spec.rollback.disableWait")
def test_rollback_waits_within_its_timeout_unless_disabled(env: HelmEnv, repo: str) -> None:
    # the release rolled back to has a Deployment that never becomes ready
    values = {"deployment": {"ready": "false"}}
    failing_upgrade = {"values": {**values, "hooks": {"post-upgrade": "2"}}}
    names = {}
    for case, rollback in (("waits", {"timeout": "5s"}),
                           ("no_wait", {"timeout": "5s", "disableWait": True})):
        names[case] = release(env, repo, values, install={"disableWait": True},
                              upgrade={"disableWait": True, "remediation": {
                                  "retries": 0, "remediateLastFailure": True}},
                              rollback=rollback)
        env.ready(names[case], "InstallSucceeded")
        env.patch_spec(names[case], failing_upgrade)
    obj = remediated(env, names["waits"], "RollbackFailed")
    assert "resources not ready (waitStrategy poller)" in cond(obj, "Remediated")["message"], obj

    def rollback_failed_as_helm_leaves_it() -> list[dict[str, Any]]:
        """As Helm's own failed wait leaves a rollback: the deployed release stays
        deployed, the rollback's record failed (read between the attempts, upgrade and
        rollback again, which go on with backoff; helm's --history-max drops the older
        failed records)."""
        history = env.helm4_history(names["waits"])
        assert revisions(history)[0] == (1, "deployed"), history
        assert all(r["status"] == "failed" for r in history[1:]), history
        rollbacks = [r for r in history[1:] if r["description"].startswith(
            f'Release "{names["waits"]}" failed: resources not ready (waitStrategy poller)')]
        assert rollbacks, history
        return history

    eventually(rollback_failed_as_helm_leaves_it, TIMEOUT,
               message="the failed rollback's records as Helm leaves them")
    remediated(env, names["no_wait"], "RollbackSucceeded")
    assert env.helm_history(names["no_wait"])[-1]["status"] == "deployed"
    for name in names.values():
        env.delete(name)


def _exists(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except k8s.ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.cleanupOnFail", "spec.waitStrategy.name")
@pytest.mark.parametrize("strategy", ["legacy", "poller"])
def test_upgrade_cleanup_on_fail_deletes_what_the_failed_upgrade_created(
        env: HelmEnv, repo: str, strategy: str) -> None:
    """An upgrade adds a Deployment that never becomes ready and a Job: the wait fails.
    `legacy`: helm's own wait fails the upgrade and helm cleans up; `poller` (Helm 4's
    default): helm has succeeded before afflux's poll fails, and afflux cleans up, naming
    what it deleted. Either way what the previous release had stays, a Deployment that
    existed before the upgrade (taken over, takeOwnership) is not deleted, and without
    cleanupOnFail nothing is."""
    apps = k8s.AppsV1Api(env.source.core.api_client)
    batch = k8s.BatchV1Api(env.source.core.api_client)
    names = {case: release(env, repo, {}, upgrade={"timeout": "5s", "cleanupOnFail": cleanup},
                           waitStrategy={"name": strategy})
             for case, cleanup in (("cleanup", True), ("adopting", True), ("keep", False))}
    unowned_deployment(env, names["adopting"])  # long before the upgrade takes it over
    for name in names.values():
        env.ready(name, "InstallSucceeded")
    for name in names.values():
        env.patch_spec(name, {"values": {"deployment": {"ready": "false"}, "job": "0"}})
    for case, name in names.items():
        obj = env.failing(name, "RetriesExceeded", stalled=True)
        released = cond(obj, "Released")
        assert released["reason"] == "UpgradeFailed", released
        history = env.helm_history(name)
        assert [r["revision"] for r in history] == [1, 2], history
        assert history[-1]["status"] == "failed", history
        assert env.configmap(name)["data"] == {"replicas": "1"}  # the previous release's
        deployment = _exists(apps.read_namespaced_deployment, name, env.namespace)
        job = _exists(batch.read_namespaced_job, f"{name}-job", env.namespace)
        assert (deployment, job) == {"cleanup": (False, False), "adopting": (True, False),
                                     "keep": (True, True)}[case], case
        said = "cleanupOnFail deleted what the failed upgrade created: "
        if strategy == "legacy" or case == "keep":
            assert said not in released["message"], released
        else:  # afflux's cleanup names what it deleted
            told = released["message"].partition(said)[2]
            assert told, released
            assert f"Job/{env.namespace}/{name}-job" in told, released
            assert (f"Deployment/{env.namespace}/{name}," in f"{told},") is (
                case == "cleanup"), released
    for name in names.values():
        env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.disableWaitForJobs")
def test_upgrade_disable_wait_for_jobs_does_not_wait_for_a_failing_job(
        env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {}, upgrade={"timeout": "8s", "disableWaitForJobs": True})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"job": "1"}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    batch = k8s.BatchV1Api(env.source.core.api_client)
    eventually(lambda: bool(batch.read_namespaced_job(f"{name}-job", env.namespace).status.failed),
               TIMEOUT, message="the upgrade's Job failed (and helm did not wait)")
    env.delete(name)


def unowned_deployment(env: HelmEnv, name: str) -> None:
    labels = {"app": name}
    k8s.AppsV1Api(env.source.core.api_client).create_namespaced_deployment(env.namespace, {
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}}}})


@pytest.mark.flux_fields("HelmRelease", "spec.install.disableTakeOwnership",
                         "spec.upgrade.disableTakeOwnership")
def test_disable_take_ownership_refuses_objects_helm_does_not_own(env: HelmEnv,
                                                                  repo: str) -> None:
    values = {"deployment": {"ready": "true"}}
    install = obj_name("hr")
    unowned_deployment(env, install)
    env.create(install, {**chart_spec(repo, "1.0.0", chart="life"), "values": values,
                         "install": {"disableTakeOwnership": True}})
    obj = env.failing(install, "RetriesExceeded", stalled=True)
    assert "invalid ownership metadata" in cond(obj, "Released")["message"], obj

    upgrade = release(env, repo, {}, upgrade={"disableTakeOwnership": True})
    env.ready(upgrade, "InstallSucceeded")
    unowned_deployment(env, upgrade)
    env.patch_spec(upgrade, {"values": values})
    obj = env.failing(upgrade, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")
    assert released["reason"] == "UpgradeFailed"
    assert "invalid ownership metadata" in released["message"], released

    # by default (Flux's), helm takes the object over
    env.patch_spec(upgrade, {"upgrade": {"disableTakeOwnership": False}})
    env.ready(upgrade, "UpgradeSucceeded")
    for name in (install, upgrade):
        env.delete(name)


def hold(env: HelmEnv, name: str, finalizers: list[str] | None) -> None:
    """Put (a list) or take (None) a finalizer on the release's ConfigMap."""
    env.source.core.patch_namespaced_config_map(
        name, env.namespace, {"metadata": {"finalizers": finalizers}})


@pytest.mark.flux_fields("HelmRelease", "spec.uninstall.timeout", "spec.uninstall.disableWait")
def test_uninstall_waits_within_its_timeout_unless_disabled(env: HelmEnv, repo: str) -> None:
    # the release's ConfigMap is held by a finalizer: it is deleted, but not gone
    waits = release(env, repo, {}, uninstall={"timeout": "3s"})
    no_wait = release(env, repo, {}, uninstall={"timeout": "3s", "disableWait": True})
    for name in (waits, no_wait):
        env.ready(name, "InstallSucceeded")
        hold(env, name, ["afflux.dev/test"])
        env.delete(name)
    eventually(lambda: env.gone(no_wait), TIMEOUT, message="HelmRelease deleted")
    assert env.configmap(no_wait)["metadata"]["deletion_timestamp"]  # not waited for
    assert "UninstallFailed" not in env.source.event_reasons(no_wait)

    def timed_out() -> list[str]:  # helm waited 3s, then failed (and deleted the records)
        failed = [e.message for e in env.source.events(waits) if e.reason == "UninstallFailed"]
        assert any("context deadline exceeded" in m for m in failed), failed
        return failed

    eventually(timed_out, TIMEOUT, message="the uninstall timed out")
    for name in (waits, no_wait):
        hold(env, name, None)
    eventually(lambda: env.gone(waits), TIMEOUT, message="HelmRelease deleted")


@pytest.mark.flux_fields("HelmRelease", "spec.install.replace")
def test_install_replace_reuses_the_name_of_an_uninstalled_release(env: HelmEnv,
                                                                   repo: str) -> None:
    name = release(env, repo, {}, uninstall={"keepHistory": True})
    env.ready(name, "InstallSucceeded")
    env.delete(name)
    eventually(lambda: env.gone(name), TIMEOUT, message="HelmRelease deleted")
    assert [r["status"] for r in env.helm_history(name)] == ["uninstalled"]
    env.create(name, {**chart_spec(repo, "1.0.0", chart="life"), "values": {"replicas": 3},
                      "install": {"replace": True}})
    env.ready(name, "InstallSucceeded")
    assert [r["status"] for r in env.helm_history(name)] == ["superseded", "deployed"]
    assert env.configmap(name)["data"] == {"replicas": "3"}
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "status.history[].deleted")
def test_an_uninstalled_failed_install_records_when_it_was_deleted(env: HelmEnv,
                                                                   repo: str) -> None:
    name = release(env, repo, {"hooks": {"pre-install": "1"}},
                   install={"remediation": {"retries": 0, "remediateLastFailure": True}})
    obj = env.failing(name, "RetriesExceeded", stalled=True,
                      check=lambda o: cond(o, "Remediated")["reason"] == "UninstallSucceeded")
    snap = obj["status"]["history"][0]
    assert snap["status"] == "uninstalled", snap
    assert snap["firstDeployed"] <= snap["deleted"], snap
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.rollback.disableWaitForJobs")
def test_rollback_disable_wait_for_jobs_does_not_wait_for_a_failing_job(
        env: HelmEnv, repo: str) -> None:
    # the release rolled back to has a failing Job: waited for, the rollback would time out
    name = release(env, repo, {"job": "1"}, install={"disableWaitForJobs": True},
                   upgrade={"remediation": {"retries": 0, "remediateLastFailure": True}},
                   rollback={"disableWaitForJobs": True})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"hooks": {"post-upgrade": "2"}}})
    remediated(env, name, "RollbackSucceeded")
    assert [r["status"] for r in env.helm_history(name)] == ["superseded", "failed", "deployed"]
    env.delete(name)


@pytest.fixture(scope="module", params=[HELM3, HELM4])
def engine_env(request: pytest.FixtureRequest, env: HelmEnv, repo: str, cluster: Cluster,
               start_controller: Any, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, HelmEnv, str]]:
    """(engine, env, repo): the module's (Helm 4, the default), or a helm-controller of its
    own with Flux's `UseHelm3Defaults=true` (Helm 3) and the `life` chart."""
    if request.param == HELM4:
        yield HELM4, env, repo
        return
    for helm3 in start_helm_env(cluster, start_controller, helm_tool, tmp_path_factory,
                                f"{ENV_LABEL}3", HELM3_GATE):
        yield HELM3, helm3, life_repository(helm3, helm_tool, helm_repo_server,
                                            tmp_path_factory)


def live_pods(env: HelmEnv, name: str) -> set[str]:
    """The Pods of release `name`'s Deployment that are not being deleted (at least one)."""
    found = {p.metadata.name for p in env.source.core.list_namespaced_pod(
        env.namespace, label_selector=f"app={name}").items if not p.metadata.deletion_timestamp}
    assert found, "the Deployment's Pods"
    return found


@pytest.mark.flux_fields("HelmRelease", "spec.rollback.force", "spec.rollback.recreate")
def test_rollback_force_replaces_objects_and_recreate_restarts_pods_with_helm3(
        engine_env: tuple[str, HelmEnv, str]) -> None:
    """`force` replaces the objects, applied client-side (Helm 3's `--force`, Helm 4's
    `--force-replace`: the release rolled back to was installed client-side, so the Helm 4
    rollback is too, `auto`). `recreate` restarts the Deployment's Pods with Helm 3
    (`--recreate-pods`) and changes nothing with Helm 4, which removed it (Flux ignores it;
    afflux logs a warning)."""
    engine, env, repo = engine_env
    name = release(env, repo, {"deployment": {"ready": "true"}},
                   install={"serverSideApply": False},
                   upgrade={"remediation": {"retries": 0, "remediateLastFailure": True}},
                   rollback={"force": True, "recreate": True})
    env.ready(name, "InstallSucceeded")
    before = eventually(lambda: live_pods(env, name), TIMEOUT)
    # a label added out of band: the forced rollback replaces the ConfigMap, dropping it
    env.source.core.patch_namespaced_config_map(
        name, env.namespace, {"metadata": {"labels": {"added": "by-hand"}}})
    env.patch_spec(name, {"values": {"hooks": {"post-upgrade": "2"}}})
    remediated(env, name, "RollbackSucceeded")
    assert [r["status"] for r in env.helm_history(name)] == ["superseded", "failed", "deployed"]
    assert "added" not in (env.configmap(name)["metadata"]["labels"] or {}), "replaced"
    if engine == HELM3:
        def recreated() -> set[str]:
            now = live_pods(env, name)
            assert not now & before, (before, now)
            return now

        eventually(recreated, TIMEOUT, message="the Deployment's Pods recreated by the rollback")
    else:
        assert live_pods(env, name) == before, "Helm 4 has no --recreate-pods"
    env.delete(name)
