"""The Helm 3 engine, pinned with Flux's `--feature-gates=UseHelm3Defaults=true` (helm-
controller's default is Helm 4, as Flux 2.9's), against the real helm v3, cluster and chart
repository, so that both engines stay tested: upgrades and rollbacks apply client-side
(records without an apply_method, objects written by helm's Update), hooks never reach the
post-renderers (Helm 3's `nohooks`: no commonMetadata, no origin labels), Helm's own wait
(`legacy`) is the default, drift is corrected by helm-controller, and the settings only
Helm 4 can honour stall with what to change. `rollback.force` and `rollback.recreate` (Helm
3's `--force` and `--recreate-pods`) are tested under both engines in
test_helm_lifecycle.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import (
    HelmEnv,
    apply_methods,
    cond,
    field_managers,
    job_succeeded,
    release,
    start_helm_env,
)
from kubernetes import client as k8s
from source_env import SourceEnv

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import HelmTool
from harness.wait import eventually

pytestmark = pytest.mark.integration

HELM3 = "--feature-gates=UseHelm3Defaults=true"
MANAGER = "helm"  # the helm program's field manager
ORIGIN = "helm.toolkit.fluxcd.io/name"


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, helm_tool: HelmTool,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmEnv]:
    yield from start_helm_env(cluster, start_controller, helm_tool, tmp_path_factory,
                              "helm3", HELM3)





@pytest.mark.flux_fields("HelmRelease", "spec.rollback.serverSideApply")
def test_upgrade_and_rollback_apply_client_side(env: HelmEnv, repo: str) -> None:
    """Helm 3's `auto` is client-side for every release it makes; a rollback remediation of
    a failed upgrade is client-side too (`rollback.serverSideApply: disabled` is accepted)."""
    name = release(env, repo, {}, upgrade={"remediation": {"retries": 0,
                                                           "remediateLastFailure": True}},
                   rollback={"serverSideApply": "disabled"})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"replicas": 2}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert env.configmap(name)["data"]["replicas"] == "2"
    env.patch_spec(name, {"values": {"replicas": 3, "hooks": {"post-upgrade": "1"}}})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    assert cond(obj, "Remediated")["reason"] == "RollbackSucceeded"
    assert [h["action"] for h in obj["status"]["history"]][:3] == ["rollback", "upgrade",
                                                                  "upgrade"]
    assert env.configmap(name)["data"]["replicas"] == "2"
    assert apply_methods(env, name) == {1: "", 2: "", 3: "", 4: ""}
    ours = {m for m in field_managers(env, name) if m[0] == MANAGER}
    assert ours == {(MANAGER, "Update")}, field_managers(env, name)
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.commonMetadata.labels{*}")
def test_hooks_skip_the_post_renderers(env: HelmEnv, repo: str) -> None:
    """Helm 3 never hands hooks to a post-renderer (`nohooks`): the release's objects get
    commonMetadata and the origin labels, its hooks neither; Helm's own wait ran them."""
    hooks = {"pre-install": "0", "post-install": "0"}
    name = release(env, repo, {"hooks": hooks}, commonMetadata={"labels": {"team": "web"}})
    env.ready(name, "InstallSucceeded")
    labels = env.configmap(name)["metadata"]["labels"]
    assert labels["team"] == "web" and labels[ORIGIN] == name
    batch = k8s.BatchV1Api(env.source.core.api_client)
    for hook in hooks:
        assert job_succeeded(env, f"{name}-{hook}")
        job = batch.read_namespaced_job(f"{name}-{hook}", env.namespace)
        assert not {"team", ORIGIN} & set(job.metadata.labels or {}), job.metadata.labels
    env.delete(name)


def test_helms_own_wait_is_the_default(env: HelmEnv, repo: str) -> None:
    """Helm 3's default wait (`legacy`) is helm's `--wait`: a Deployment that never becomes
    ready fails the install with helm's own message, not the poller's."""
    name = release(env, repo, {"deployment": {"ready": "false"}}, timeout="5s")
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")
    assert released["reason"] == "InstallFailed", released
    assert "waitStrategy poller" not in released["message"], released
    assert "context deadline exceeded" in released["message"], released
    env.delete(name)


def test_drift_is_corrected_over_helms_client_side_writes(env: HelmEnv, repo: str) -> None:
    """A release helm wrote client-side is corrected by helm-controller (its own patch)."""
    name = release(env, repo, {}, driftDetection={"mode": "enabled"})
    env.ready(name, "InstallSucceeded")
    env.source.core.patch_namespaced_config_map(name, env.namespace,
                                                {"data": {"replicas": "9"}},
                                                field_manager="kubectl-edit")

    def corrected() -> bool:
        env.request(name)
        obj = env.ready(name)
        return (SourceEnv.condition(obj, "Drifted") is None
                and env.configmap(name)["data"] == {"replicas": "1"})

    eventually(corrected, 90, message="drift corrected")
    # corrected with a patch as helm-controller (Flux corrects drift with JSON patches)
    assert ("helm-controller", "Update") in field_managers(env, name), field_managers(env, name)
    assert any(e.reason == "DriftCorrected" for e in env.source.events(name))
    env.delete(name)


@pytest.mark.parametrize(("spec", "named"), [
    pytest.param({"upgrade": {"serverSideApply": "enabled"}},
                 "spec.upgrade.serverSideApply: enabled", id="server-side-upgrade"),
    pytest.param({"install": {"serverSideApply": True}, "postRenderStrategy": "combined"},
                 "spec.postRenderStrategy: combined", id="helm4-defaults-asked-for"),
])
@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.serverSideApply",
                         "spec.install.serverSideApply", "spec.postRenderStrategy")
def test_helm4_settings_stall_and_say_what_to_change(env: HelmEnv, repo: str,
                                                     spec: dict[str, Any], named: str) -> None:
    """Settings only Helm 4 can honour are not silently given Helm 3's behaviour."""
    name = release(env, repo, {}, **spec)
    obj = env.failing(name, "UnsupportedByEngine", stalled=True)
    message = cond(obj, "Ready")["message"]
    assert named in message and "Helm 3" in message
    assert "UseHelm3Defaults=true" in message, message
    assert name not in env.helm_list()
    env.patch_spec(name, {key: None for key in spec})
    env.ready(name, "InstallSucceeded")
    env.delete(name)
