"""HelmRelease fields against the real helm (both engines: Helm 3 with
`--feature-gates=UseHelm3Defaults=true`, Helm 4 with `=false`), cluster and chart repository:

- `install/upgrade.disableOpenAPIValidation`: what helm's OpenAPI validation still checks on
  a current API server is an object helm cannot ask the server to check, a `kind: List`
  (for every other kind the server supports field validation and helm leaves it to the
  server, which only warns about unknown fields): with Helm 3 an unknown field in a listed
  ConfigMap fails the action with helm's "error validating data" unless the flag is set.
  Helm 4 passes the manifests to the post-renderer (every release has one, in Flux as in
  afflux: the origin labels) through kyaml, which unpacks a List into its items, so its own
  validation never sees an object it would check: the flag changes nothing there, and the
  API server decides (client-side it drops the field, server-side it refuses it);
- `rollback.cleanupOnFail`: a rollback that creates an object and then fails to apply
  another one (an immutable ConfigMap it would change back) deletes the created object only
  with the flag, and so does one that the poller fails (afflux's cleanup, `_cleanup`);
- `healthCheckExprs[].failed` with the poller: a custom resource whose `failed` expression is
  true fails the release at once, not at the end of the action's timeout (Flux's poller
  fails fast on the release's objects).

Every release applies client-side (`install.serverSideApply: false`) so that both engines
take the same path: with Helm 4's server-side apply the API server validates strictly on
its own (shown in the Helm 4 case).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import WORKLOADS, HelmEnv, chart_spec, cond, helm_repository, start_helm_env
from kubernetes.client.rest import ApiException
from source_env import obj_name

from harness.crd import custom_resource_definition
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.wait import eventually

pytestmark = pytest.mark.integration

HELM3, HELM4 = "helm3", "helm4"
GATES = {HELM3: "--feature-gates=UseHelm3Defaults=true",
         HELM4: "--feature-gates=UseHelm3Defaults=false"}
#: client-side apply on install, so that upgrades and rollbacks (`auto`) are client-side too
CLIENT_SIDE = {"serverSideApply": False}

#: a List (which helm validates itself) holding a ConfigMap with an unknown field
LISTED = """\
{{- if .Values.bogus }}
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: {{ .Release.Name }}-listed
  data:
    a: "1"
  bogus: true
{{- end }}
"""
#: `locked`: a ConfigMap that may be made immutable; `extra`: a ConfigMap that comes and goes
ROLLBACK = """\
{{- if .Values.locked }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-locked
{{- if .Values.locked.immutable }}
immutable: true
{{- end }}
data:
  v: {{ .Values.locked.v | quote }}
{{- end }}
{{- if .Values.extra }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-extra
data: {}
{{- end }}
"""


#: a Widget (of the module's CRD, which has no status subresource: the chart writes its status)
WIDGET = """\
{{- if .Values.widget }}
apiVersion: {{ .Values.widget.group }}/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}-widget
status:
  phase: {{ .Values.widget.phase }}
{{- end }}
"""


@pytest.fixture(scope="module", params=[HELM3, HELM4])
def env(request: pytest.FixtureRequest, cluster: Cluster, start_controller: Any,
        helm_tool: HelmTool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmEnv]:
    engine = request.param
    yield from start_helm_env(cluster, start_controller, helm_tool, tmp_path_factory,
                              f"hfm{engine}", GATES[engine])


@pytest.fixture(scope="module")
def engine(env: HelmEnv) -> str:
    return HELM4 if GATES[HELM4] in env.controller.argv else HELM3


@pytest.fixture(scope="module")
def charts(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
           tmp_path_factory: pytest.TempPathFactory) -> str:
    """A repository with `fields` 1.0.0: the chart's ConfigMap, LISTED, ROLLBACK, WIDGET and
    the life chart's workloads (a Job failing with .Values.job)."""
    src, out = tmp_path_factory.mktemp("hfm-src"), tmp_path_factory.mktemp("hfm-pkg")
    chart = helm_tool.make_chart(src, "fields", "1.0.0", files={
        "templates/listed.yaml": LISTED, "templates/rollback.yaml": ROLLBACK,
        "templates/workloads.yaml": WORKLOADS, "templates/widget.yaml": WIDGET})
    return helm_repository(env, helm_repo_server, [helm_tool.package(chart, out)])


def create(env: HelmEnv, repo: str, values: dict[str, Any], **spec: Any) -> str:
    return env.create(obj_name("hr"), {**chart_spec(repo, "1.0.0", chart="fields"),
                                       "values": values, **spec})


def exists(env: HelmEnv, configmap: str) -> bool:
    try:
        env.configmap(configmap)
    except ApiException as err:
        if err.status == 404:
            return False
        raise
    return True


def message(obj: dict[str, Any], type_: str) -> str:
    return str(cond(obj, type_)["message"])


HELM_VALIDATION = 'error validating data: ValidationError(ConfigMap): unknown field "bogus"'


def validated(env: HelmEnv, engine: str, name: str, action: str) -> None:
    """Without disableOpenAPIValidation: Helm 3 refuses the listed ConfigMap; Helm 4 never
    validates it itself (module docstring) and the API server drops the unknown field."""
    if engine == HELM3:
        obj = env.failing(name, "RetriesExceeded", stalled=True)
        assert cond(obj, "Released")["reason"] == f"{action.capitalize()}Failed"
        assert HELM_VALIDATION in message(obj, "Ready"), message(obj, "Ready")
        assert not exists(env, f"{name}-listed")
    else:
        env.ready(name, f"{action.capitalize()}Succeeded")
        assert env.configmap(f"{name}-listed")["data"] == {"a": "1"}


@pytest.mark.flux_fields("HelmRelease", "spec.install.disableOpenAPIValidation")
def test_install_disable_openapi_validation_skips_helms_validation(
        env: HelmEnv, charts: str, engine: str) -> None:
    strict = create(env, charts, {"bogus": True}, install=CLIENT_SIDE)
    validated(env, engine, strict, "install")

    lax = create(env, charts, {"bogus": True},
                 install={**CLIENT_SIDE, "disableOpenAPIValidation": True})
    env.ready(lax, "InstallSucceeded")
    # the API server drops the unknown field (its default field validation only warns)
    assert env.configmap(f"{lax}-listed")["data"] == {"a": "1"}

    if engine == HELM4:
        # applied server-side, the object is validated strictly by the API server itself
        ssa = create(env, charts, {"bogus": True}, install={"disableOpenAPIValidation": True})
        obj = env.failing(ssa, "RetriesExceeded", stalled=True)
        assert ".bogus: field not declared in schema" in message(obj, "Ready"), obj
        assert HELM_VALIDATION not in message(obj, "Ready")
        env.delete(ssa)
    for name in (strict, lax):
        env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.disableOpenAPIValidation")
def test_upgrade_disable_openapi_validation_skips_helms_validation(
        env: HelmEnv, charts: str, engine: str) -> None:
    strict = create(env, charts, {}, install=CLIENT_SIDE)
    lax = create(env, charts, {}, install=CLIENT_SIDE,
                 upgrade={"disableOpenAPIValidation": True})
    for name in (strict, lax):
        env.ready(name, "InstallSucceeded")
        env.patch_spec(name, {"values": {"bogus": True}})

    validated(env, engine, strict, "upgrade")
    env.ready(lax, "UpgradeSucceeded")
    assert env.configmap(f"{lax}-listed")["data"] == {"a": "1"}
    for name in (strict, lax):
        env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.rollback.cleanupOnFail")
@pytest.mark.parametrize("cleanup", [True, False],
                         ids=["cleanupOnFail: the created object is deleted",
                              "without it: the created object stays"])
def test_rollback_cleanup_on_fail_deletes_what_a_failed_rollback_created(
        env: HelmEnv, charts: str, cleanup: bool) -> None:
    """Revision 1 has `extra` and a mutable `locked`; revision 2 drops `extra`, makes `locked`
    immutable and fails in its wait (a failing Job). Its remediation rolls back to 1: helm
    creates `extra` again, then cannot change `locked` back, and the rollback fails."""
    name = create(env, charts, {"locked": {"v": "1"}, "extra": True}, install=CLIENT_SIDE,
                  upgrade={"timeout": "30s", "remediation": {"retries": 1}},
                  rollback={"cleanupOnFail": cleanup})
    env.ready(name, "InstallSucceeded")
    assert exists(env, f"{name}-extra")
    env.patch_spec(name, {"values": {"locked": {"v": "2", "immutable": True}, "extra": None,
                                     "job": "1"}})
    obj = wait_rollback_failed(env, name)
    assert "field is immutable" in message(obj, "Remediated"), message(obj, "Remediated")
    rollback = next(r for r in env.helm_history(name)
                    if r["description"].startswith("Rollback"))
    assert rollback["status"] == "failed", rollback
    assert env.configmap(f"{name}-locked")["data"] == {"v": "2"}
    if cleanup:
        eventually(lambda: not exists(env, f"{name}-extra"), 30,
                   message=f"{name}-extra deleted")
    else:
        assert exists(env, f"{name}-extra")
    env.delete(name)


def wait_rollback_failed(env: HelmEnv, name: str) -> dict[str, Any]:
    """The HelmRelease once its rollback has failed (Remediated=False, RollbackFailed)."""
    def rollback_failed() -> dict[str, Any]:
        obj = env.get(name)
        remediated = cond(obj, "Remediated")
        assert (remediated["status"], remediated["reason"]) == ("False", "RollbackFailed"), \
            remediated
        return obj

    return eventually(rollback_failed, 120, message=f"the rollback of {name} failed")


@pytest.mark.flux_fields("HelmRelease", "spec.rollback.cleanupOnFail")
@pytest.mark.parametrize("cleanup", [True, False],
                         ids=["cleanupOnFail: the created object is deleted",
                              "without it: the created object stays"])
def test_rollback_cleanup_on_fail_after_the_poller_failed_the_rollback(
        env: HelmEnv, charts: str, cleanup: bool) -> None:
    """`waitStrategy: poller`: revision 1 has `extra` and a failed Job (installed without a
    wait); revision 2 drops `extra` and fails in the poll (the Job). The rollback to 1 creates
    `extra` again, helm succeeds, and afflux's poll fails it (the Job): with cleanupOnFail
    afflux deletes `extra`, as Helm's own wait would have."""
    name = create(env, charts, {"extra": True, "job": "1"},
                  install={**CLIENT_SIDE, "disableWait": True},
                  upgrade={"remediation": {"retries": 1}}, waitStrategy={"name": "poller"},
                  rollback={"cleanupOnFail": cleanup})
    env.ready(name, "InstallSucceeded")
    assert exists(env, f"{name}-extra")
    env.patch_spec(name, {"values": {"extra": None}})
    obj = wait_rollback_failed(env, name)
    said = message(obj, "Remediated")
    assert "resources not ready (waitStrategy poller)" in said, said
    deleted = ("cleanupOnFail deleted what the failed rollback created: "
               f"ConfigMap/{env.namespace}/{name}-extra")
    if cleanup:
        assert deleted in said, said
        eventually(lambda: not exists(env, f"{name}-extra"), 30,
                   message=f"{name}-extra deleted")
    else:
        assert "cleanupOnFail" not in said, said
        assert exists(env, f"{name}-extra")
    env.delete(name)


@pytest.fixture(scope="module")
def widgets(cluster: Cluster) -> Iterator[str]:
    """The group of a namespaced kind Widget (fields unchecked, no status subresource)."""
    group = f"hfm{uuid.uuid4().hex[:8]}.test.afflux.dev"
    crd = custom_resource_definition(group, "Widget")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(crd))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}")
    yield group
    cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


@pytest.mark.flux_fields("HelmRelease", "spec.healthCheckExprs[].failed")
def test_a_failed_health_check_expression_fails_the_release_without_waiting(
        env: HelmEnv, charts: str, widgets: str) -> None:
    """The install's timeout is 10 minutes; the failure is reported within TIMEOUT (90s)."""
    exprs = [{"apiVersion": f"{widgets}/v1", "kind": "Widget",
              "failed": "status.phase == 'Broken'", "current": "status.phase == 'Ready'"}]
    name = create(env, charts, {"widget": {"group": widgets, "phase": "Broken"}},
                  install={**CLIENT_SIDE, "timeout": "10m"}, waitStrategy={"name": "poller"},
                  healthCheckExprs=exprs)
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    released = message(obj, "Released")
    assert "failed early due to failed objects" in released, released
    assert (f"Widget/{env.namespace}/{name}-widget status: 'Failed': healthCheckExprs: the "
            "failed expression is true") in released, released
    [record] = env.helm_history(name)
    assert record["status"] == "failed", record
    env.delete(name)
