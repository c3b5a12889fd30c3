"""The Helm 4 engine, helm-controller's default as Flux 2.9's (no `UseHelm3Defaults` gate),
against the real helm v4, cluster and chart repository: server-side apply on install,
upgrade and rollback (the objects' managedFields, the records' apply_method), the
post-render strategies (a hook ConfigMap patched or not), and a release the Helm 3 engine
(`--feature-gates=UseHelm3Defaults=true`) made, upgraded by Helm 4 client-side as `auto`
says."""

from __future__ import annotations

from typing import Any

import pytest
from helm_env import (
    HOOKS,
    HelmEnv,
    apply_methods,
    chart_spec,
    field_managers,
    helm_repository,
    job_succeeded,
    release,
)
from source_env import obj_name

from harness.fixtures_helm import ChartRepoServer, HelmTool

pytestmark = pytest.mark.integration

HELM3 = "--feature-gates=UseHelm3Defaults=true"
MANAGER = "helm"  # the helm program's field manager (Flux's SDK use: helm-controller)
ENV_LABEL = "helm4"
#: a ConfigMap hook that stays after the install and each upgrade
HOOK = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-hook
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
data:
  replicas: {{ .Values.replicas | quote }}
"""
#: a kustomize patch labelling every ConfigMap
PATCHED = [{"kustomize": {"patches": [{
    "target": {"kind": "ConfigMap"},
    "patch": '[{"op": "add", "path": "/metadata/labels", "value": {"patched": "yes"}}]'}]}}]


@pytest.fixture(scope="module")
def charts(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
           tmp_path_factory: pytest.TempPathFactory) -> str:
    """A repository with `hooked` 1.0.0: a ConfigMap, a ConfigMap hook, and one Job hook
    per entry of `.Values.hooks` (event -> exit code, `helm_env.HOOKS`)."""
    src, out = tmp_path_factory.mktemp("h4-src"), tmp_path_factory.mktemp("h4-pkg")
    chart = helm_tool.make_chart(src, "hooked", "1.0.0", files={"templates/hook.yaml": HOOK,
                                                                "templates/jobs.yaml": HOOKS})
    return helm_repository(env, helm_repo_server, [helm_tool.package(chart, out)])


def create(env: HelmEnv, repo: str, **spec: Any) -> str:
    return env.create(obj_name("hr"), {**chart_spec(repo, "1.0.0", chart="hooked"), **spec})




def labels(env: HelmEnv, name: str) -> dict[str, str]:
    return env.configmap(name)["metadata"].get("labels") or {}


@pytest.mark.flux_fields("HelmRelease", "spec.install.serverSideApply")
def test_install_applies_server_side_by_default(env: HelmEnv, charts: str) -> None:
    """Flux 2.9's default: no `install.serverSideApply` is server-side."""
    name = create(env, charts)
    obj = env.ready(name, "InstallSucceeded")
    assert (MANAGER, "Apply") in field_managers(env, name), field_managers(env, name)
    assert apply_methods(env, name) == {1: "ssa"}
    assert obj["status"]["history"][0]["status"] == "deployed"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.install.serverSideApply",
                         "spec.upgrade.serverSideApply")
def test_upgrade_with_server_side_enabled_takes_over_a_client_side_install(
        env: HelmEnv, charts: str) -> None:
    name = create(env, charts, install={"serverSideApply": False})
    env.ready(name, "InstallSucceeded")
    assert (MANAGER, "Apply") not in field_managers(env, name)
    assert apply_methods(env, name) == {1: "csa"}
    env.patch_spec(name, {"values": {"replicas": 2},
                          "upgrade": {"serverSideApply": "enabled"}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert (MANAGER, "Apply") in field_managers(env, name), field_managers(env, name)
    assert env.configmap(name)["data"]["replicas"] == "2"
    assert apply_methods(env, name) == {1: "csa", 2: "ssa"}
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.postRenderStrategy")
@pytest.mark.parametrize(("strategy", "hook_patched"), [
    (None, True), ("separate", True), ("nohooks", False)],
    ids=["combined by default: hooks patched too", "separate: hooks patched apart",
         "nohooks: hooks untouched"])
def test_post_render_strategies_reach_hooks_as_flux(env: HelmEnv, charts: str,
                                                    strategy: str | None,
                                                    hook_patched: bool) -> None:
    spec: dict[str, Any] = {"postRenderers": PATCHED,
                            "commonMetadata": {"labels": {"team": "platform"}}}
    if strategy:
        spec["postRenderStrategy"] = strategy
    name = create(env, charts, **spec)
    env.ready(name, "InstallSucceeded")
    ours = {"patched": "yes", "team": "platform"}
    assert ours.items() <= labels(env, name).items(), labels(env, name)
    hook = labels(env, f"{name}-hook")
    assert (ours.items() <= hook.items()) is hook_patched, hook
    if not hook_patched:
        assert not set(ours) & set(hook), hook
    env.delete(name)


def test_a_post_renderer_failure_says_why(env: HelmEnv, charts: str) -> None:
    broken = [{"kustomize": {"patches": [{"target": {"kind": "ConfigMap"},
                                          "patch": "[{\"op\": \"bogus\"}]"}]}}]
    name = create(env, charts, postRenderers=broken)
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    message = next(c["message"] for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert "(post-renderer: " in message and "kustomize build failed" in message, message
    assert "Unexpected kind: bogus" in message, message
    env.delete(name)


def test_a_helm3_release_is_upgraded_client_side_by_helm4(
        env: HelmEnv, charts: str, start_controller: Any) -> None:
    env.controller.kill()
    helm3 = start_controller("helm", "--watch-all-namespaces=false",
                             f"--namespace={env.namespace}", HELM3)
    try:
        name = create(env, charts)
        env.ready(name, "InstallSucceeded")
        assert apply_methods(env, name) == {1: ""}
        assert (MANAGER, "Update") in field_managers(env, name), field_managers(env, name)
    finally:
        helm3.stop()
        env.controller.restart()
    env.patch_spec(name, {"values": {"replicas": 3}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert env.configmap(name)["data"]["replicas"] == "3"
    assert apply_methods(env, name) == {1: "", 2: "csa"}
    assert (MANAGER, "Apply") not in field_managers(env, name), field_managers(env, name)
    env.delete(name)


def test_the_default_poller_waits_for_jobs_to_complete(env: HelmEnv, repo: str) -> None:
    """Helm 4's default wait is the poller: a Job that fails fails the install (kstatus
    alone would call it ready as soon as it started), one that succeeds is waited for."""
    failing = release(env, repo, {"job": "1"}, timeout="15s")
    obj = env.failing(failing, "RetriesExceeded", stalled=True)
    released = next(c for c in obj["status"]["conditions"] if c["type"] == "Released")
    assert released["reason"] == "InstallFailed", released
    assert "waitStrategy poller" in released["message"], released
    assert f"Job/{env.namespace}/{failing}-job" in released["message"], released
    passing = release(env, repo, {"job": "0"}, timeout="60s")
    env.ready(passing, "InstallSucceeded")
    assert job_succeeded(env, f"{passing}-job")
    for name in (failing, passing):
        env.delete(name)


def owners_of_replicas(env: HelmEnv, name: str) -> set[tuple[str, str]]:
    """(manager, operation) of the managedFields entries that own ConfigMap `name`'s
    `data.replicas`."""
    cm = env.source.core.read_namespaced_config_map(name, env.namespace)
    return {(f.manager, f.operation) for f in cm.metadata.managed_fields or ()
            if "f:replicas" in ((f.fields_v1 or {}).get("f:data") or {})}


ROLLBACK_CASES = [
    ("auto after a client-side release: client-side", False, "auto", None, "csa"),
    ("auto after a server-side release: server-side", True, "auto", None, "ssa"),
    ("enabled: server-side after a client-side release", False, "disabled", "enabled", "ssa"),
    ("disabled: client-side after a server-side release", True, "auto", "disabled", "csa"),
]


@pytest.mark.flux_fields("HelmRelease", "spec.rollback.serverSideApply")
@pytest.mark.parametrize(("install_ssa", "upgrade_ssa", "rollback_ssa", "method"),
                         [c[1:] for c in ROLLBACK_CASES], ids=[c[0] for c in ROLLBACK_CASES])
def test_rollback_server_side_apply_decides_how_the_rollback_applies(
        env: HelmEnv, charts: str, install_ssa: bool, upgrade_ssa: str,
        rollback_ssa: str | None, method: str) -> None:
    """A failed upgrade (its post-upgrade hook fails after it changed `data.replicas`) is
    rolled back (remediation) as `rollback.serverSideApply` says: `auto` (unset) as the
    release rolled back to was applied, `enabled` server-side, `disabled` client-side. The
    rollback's record says how (`apply_method`), and the field it changed back is owned by
    helm's server-side apply or its client-side update accordingly."""
    upgrade_method = "ssa" if install_ssa and upgrade_ssa == "auto" else "csa"
    spec: dict[str, Any] = {
        "install": {"serverSideApply": install_ssa},
        "upgrade": {"serverSideApply": upgrade_ssa,
                    "remediation": {"retries": 0, "remediateLastFailure": True}}}
    if rollback_ssa:
        spec["rollback"] = {"serverSideApply": rollback_ssa}
    name = create(env, charts, **spec)
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"replicas": 2, "hooks": {"post-upgrade": "1"}}})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    assert [h["action"] for h in obj["status"]["history"]] == ["rollback", "upgrade",
                                                              "install"]
    first = "ssa" if install_ssa else "csa"
    assert apply_methods(env, name) == {1: first, 2: upgrade_method, 3: method}
    assert env.configmap(name)["data"]["replicas"] == "1"
    operation = "Apply" if method == "ssa" else "Update"
    assert owners_of_replicas(env, name) == {(MANAGER, operation)}, owners_of_replicas(env, name)
    env.delete(name)
