"""Flux 2.9's newer HelmRelease fields (helm-controller v1.6) against the real helm, cluster
and chart repository: commonMetadata, post-renderer digests, valuesFrom literal, free-form
values, schema validation, RetryOnFailure, chartNameChangeStrategy, status.inventory,
history[].action, lastAttemptedReleaseActionDuration, under helm-controller's default engine
(Helm 4, as Flux 2.9's; the Helm 3 engine's refusals are in test_helm3_defaults.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from helm_env import HOOKS, TEST, WORKLOADS, HelmEnv, chart_spec, cond, helm_repository
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from source_env import obj_name

from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.kustomize_env import self_contained_kubeconfig
from harness.wait import eventually

pytestmark = pytest.mark.integration
ENV_LABEL = "helm29"

#: values.schema.json of the `strict` chart: replicas must be an integer
SCHEMA = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                     "properties": {"replicas": {"type": "integer"}}})
FILES = {"templates/hooks.yaml": HOOKS, "templates/tests/test.yaml": TEST,
         "templates/workloads.yaml": WORKLOADS, "values-prod.yaml": "replicas: 4\n"}
#: .Values.count more ConfigMaps (the `many` charts: past the mass-deletion guard's minimum)
MANY = """\
{{- range $i := until (int .Values.count) }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $.Release.Name }}-{{ $i }}
{{- end }}
"""
ALLOW_PRUNE = "afflux.toolkit.fluxcd.io/allow-prune"


@pytest.fixture(scope="module")
def charts(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
           tmp_path_factory: pytest.TempPathFactory) -> str:
    """A repository with `life` and `life2` (the same templates under another chart name),
    `strict` (a values schema), `many` and `many2` (13 ConfigMaps)."""
    src, out = tmp_path_factory.mktemp("c29-src"), tmp_path_factory.mktemp("c29-pkg")
    packages = [helm_tool.package(helm_tool.make_chart(
        src, name, "1.0.0", values={"replicas": 1, "hooks": {}}, files=FILES), out)
        for name in ("life", "life2")]
    strict = helm_tool.make_chart(src, "strict", "1.0.0",
                                  files={"values.schema.json": SCHEMA})
    packages.append(helm_tool.package(strict, out))
    packages += [helm_tool.package(helm_tool.make_chart(
        src, name, "1.0.0", values={"replicas": 1, "count": 12},
        files={"templates/many.yaml": MANY}), out) for name in ("many", "many2")]
    return helm_repository(env, helm_repo_server, packages)


def create(env: HelmEnv, repo: str, chart: str = "life", **spec: Any) -> str:
    return env.create(obj_name("hr"), {**chart_spec(repo, "1.0.0", chart=chart), **spec})


def deployment(env: HelmEnv, name: str) -> Any:
    return k8s.AppsV1Api(env.source.core.api_client).read_namespaced_deployment(
        name, env.namespace)


def helm_values(env: HelmEnv, name: str) -> dict[str, Any]:
    return json.loads(env.helm_run("get", "values", name, "-o", "json"))


@pytest.mark.flux_fields("HelmRelease", "spec.commonMetadata.labels{*}",
                         "spec.commonMetadata.annotations{*}",
                         "status.observedCommonMetadataDigest", "status.history[].action",
                         "status.lastAttemptedReleaseActionDuration",
                         "status.inventory.entries[].id", "status.inventory.entries[].v")
def test_common_metadata_labels_every_rendered_object_and_a_change_upgrades(
        env: HelmEnv, charts: str) -> None:
    name = create(env, charts, values={"deployment": {"ready": "true"},
                                       "hooks": {"post-install": "0"}},
                  commonMetadata={"labels": {"team": "platform"},
                                  "annotations": {"owner": "ops"}})
    obj = env.ready(name, "InstallSucceeded")
    status = obj["status"]
    assert status["observedCommonMetadataDigest"].startswith("sha256:")
    assert status["history"][0]["action"] == "install"
    assert re.fullmatch(r"[0-9.]+(ms|s)|[0-9]+m[0-9.]+s", status[
        "lastAttemptedReleaseActionDuration"]), status["lastAttemptedReleaseActionDuration"]
    ids = {e["id"]: e["v"] for e in status["inventory"]["entries"]}
    assert ids == {f"{env.namespace}_{name}__ConfigMap": "v1",
                   f"{env.namespace}_{name}_apps_Deployment": "v1"}, "hooks are not listed"
    for meta in (env.configmap(name)["metadata"], deployment(env, name).metadata.to_dict()):
        assert meta["labels"]["team"] == "platform" and meta["annotations"]["owner"] == "ops"
    hook = k8s.BatchV1Api(env.source.core.api_client).read_namespaced_job(
        f"{name}-post-install", env.namespace)
    # Helm 4's default postRenderStrategy, combined: hooks are post-rendered too (Flux 2.9);
    # Helm 3's nohooks: test_helm3_defaults.py
    assert (hook.metadata.labels or {}).get("team") == "platform", hook.metadata.labels

    # same chart and values, new common metadata: a new generation re-renders the release
    env.patch_spec(name, {"commonMetadata": {"labels": {"team": "web"}, "annotations": None}})
    obj = env.ready(name, "UpgradeSucceeded",
                    check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert obj["status"]["history"][0]["action"] == "upgrade"
    assert obj["status"]["observedCommonMetadataDigest"] != status[
        "observedCommonMetadataDigest"]
    meta = env.configmap(name)["metadata"]
    assert meta["labels"]["team"] == "web" and "owner" not in (meta["annotations"] or {})
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.postRenderers[].kustomize.patches[].patch",
                         "spec.postRenderers[].kustomize.patches[].target.kind",
                         "status.observedPostRenderersDigest")
def test_a_post_renderers_change_upgrades_and_is_recorded(env: HelmEnv, charts: str) -> None:
    patch = {"patch": "- op: add\n  path: /data/extra\n  value: one\n",
             "target": {"kind": "ConfigMap"}}
    name = create(env, charts, postRenderers=[{"kustomize": {"patches": [patch]}}])
    first = env.ready(name, "InstallSucceeded")["status"]["observedPostRenderersDigest"]
    assert env.configmap(name)["data"]["extra"] == "one"
    patch["patch"] = patch["patch"].replace("one", "two")
    env.patch_spec(name, {"postRenderers": [{"kustomize": {"patches": [patch]}}]})
    obj = env.ready(name, "UpgradeSucceeded",
                    check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert obj["status"]["observedPostRenderersDigest"] not in (None, first)
    assert env.configmap(name)["data"]["extra"] == "two"
    env.delete(name)


def _annotate(target: dict[str, str], key: str) -> dict[str, Any]:
    """A strategic-merge post-renderer patch adding annotation `key` to what `target` selects."""
    return {"target": target, "patch": "apiVersion: v1\nkind: Any\nmetadata:\n  name: any\n"
                                       f"  annotations: {{{key}: 'yes'}}\n"}


@pytest.mark.flux_fields("HelmRelease", "spec.postRenderers[].kustomize.patches[].target.group",
                         "spec.postRenderers[].kustomize.patches[].target.version",
                         "spec.postRenderers[].kustomize.patches[].target.name",
                         "spec.postRenderers[].kustomize.patches[].target.namespace",
                         "spec.postRenderers[].kustomize.patches[].target.labelSelector",
                         "spec.postRenderers[].kustomize.patches[].target.annotationSelector")
def test_post_renderer_patch_targets_select_the_objects_they_name(env: HelmEnv,
                                                                  charts: str) -> None:
    """The first post-renderer marks the ConfigMap (a label and an annotation); the second
    patches by selector, by group/version/name, and with targets that select nothing."""
    mark = {"target": {"kind": "ConfigMap"},
            "patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: any\n"
                     "  labels: {tier: web}\n  annotations: {team: a}\n"}
    name = obj_name("hr")
    second = [_annotate({"labelSelector": "tier=web"}, "by-label"),
              _annotate({"annotationSelector": "team=a"}, "by-annotation"),
              _annotate({"group": "apps", "version": "v1", "name": name}, "by-gvk"),
              _annotate({"group": "apps", "version": "v1beta1"}, "wrong-version"),
              _annotate({"group": "batch"}, "wrong-group"),
              _annotate({"name": f"{name}-other"}, "wrong-name"),
              _annotate({"namespace": "elsewhere"}, "wrong-namespace")]
    env.create(name, {**chart_spec(charts, "1.0.0", chart="life"),
                      "values": {"deployment": {"ready": "true"}},
                      "postRenderers": [{"kustomize": {"patches": [mark]}},
                                        {"kustomize": {"patches": second}}]})
    env.ready(name, "InstallSucceeded")
    marks = {"by-label", "by-annotation", "by-gvk", "wrong-version", "wrong-group",
             "wrong-name", "wrong-namespace"}
    cm = env.configmap(name)["metadata"]["annotations"] or {}
    assert {k for k in cm if k in marks} == {"by-label", "by-annotation"}, cm
    dep = deployment(env, name).metadata.annotations or {}
    assert {k for k in dep if k in marks} == {"by-gvk"}, dep
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.valuesFrom[].literal",
                         "spec.valuesFrom[].targetPath", "spec.valuesFrom[].valuesKey")
def test_values_from_literal_keeps_the_text_a_string(env: HelmEnv, charts: str) -> None:
    env.source.core.create_namespaced_config_map(env.namespace, k8s.V1ConfigMap(
        metadata=k8s.V1ObjectMeta(name="flags"), data={"on": "true", "n": "42"}))
    name = create(env, charts, valuesFrom=[
        {"kind": "ConfigMap", "name": "flags", "valuesKey": "on", "targetPath": "typed"},
        {"kind": "ConfigMap", "name": "flags", "valuesKey": "on", "targetPath": "text",
         "literal": True},
        {"kind": "ConfigMap", "name": "flags", "valuesKey": "n", "targetPath": "count",
         "literal": True}])
    env.ready(name, "InstallSucceeded")
    assert helm_values(env, name) == {"typed": True, "text": "true", "count": "42"}
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.values")
def test_values_that_are_not_a_map_stall_with_what_to_change(env: HelmEnv,
                                                             charts: str) -> None:
    name = create(env, charts, values=["replicas", 2])  # the schema takes any JSON value
    obj = env.failing(name, "InitFailed", stalled=True)
    assert "spec.values must be a map" in cond(obj, "Ready")["message"]
    assert name not in env.helm_list()
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.install.disableSchemaValidation")
def test_disable_schema_validation_skips_the_chart_values_schema(env: HelmEnv,
                                                                 charts: str) -> None:
    checked = create(env, charts, chart="strict", values={"replicas": "two"})
    obj = env.failing(checked, "RetriesExceeded", stalled=True)
    assert "replicas" in cond(obj, "Released")["message"]
    unchecked = create(env, charts, chart="strict", values={"replicas": "two"},
                       install={"disableSchemaValidation": True})
    env.ready(unchecked, "InstallSucceeded")
    assert env.configmap(unchecked)["data"]["replicas"] == "two"
    env.delete(checked)
    env.delete(unchecked)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.disableSchemaValidation")
def test_upgrade_disable_schema_validation_skips_the_chart_values_schema(
        env: HelmEnv, charts: str) -> None:
    name = create(env, charts, chart="strict", values={"replicas": 1},
                  upgrade={"disableSchemaValidation": True})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"replicas": "two"}})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert env.configmap(name)["data"]["replicas"] == "two"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.install.strategy.name",
                         "spec.install.strategy.retryInterval", "spec.upgrade.strategy.name",
                         "spec.upgrade.strategy.retryInterval")
def test_retry_on_failure_retries_instead_of_remediating(env: HelmEnv, charts: str) -> None:
    retry = {"strategy": {"name": "RetryOnFailure", "retryInterval": "3s"}}
    name = create(env, charts, values={"hooks": {"pre-install": "1", "pre-upgrade": "1"}},
                  install=retry, upgrade=retry)
    obj = env.failing(name, "InstallFailed", stalled=False)
    assert "retrying after 3s" in cond(obj, "Ready")["message"]
    reconciling = cond(obj, "Reconciling")
    assert reconciling["reason"] == "ProgressingWithRetry"
    assert obj["status"].get("conditions") and not any(
        c["type"] in ("Remediated", "Stalled") for c in obj["status"]["conditions"])
    # retried every 3s (an upgrade of the failed release, as Flux), never uninstalled
    obj = env.failing(name, "UpgradeFailed", stalled=False,
                      check=lambda o: o["status"].get("upgradeFailures", 0) >= 2)
    assert [r["status"] for r in env.helm_history(name)][:2] == ["failed", "failed"]

    env.patch_spec(name, {"values": {"hooks": None}})
    env.ready(name, "UpgradeSucceeded")
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.strategy.retryInterval")
def test_retry_on_failure_cannot_have_a_retry_interval_with_remediation(
        env: HelmEnv, charts: str) -> None:
    with pytest.raises(ApiException) as err:
        create(env, charts, upgrade={"strategy": {"name": "RemediateOnFailure",
                                                  "retryInterval": "1m"}})
    assert err.value.status == 422 and "retryInterval" in err.value.body


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.chartNameChangeStrategy")
def test_chart_name_change_in_place_upgrades_the_release(env: HelmEnv, charts: str) -> None:
    name = create(env, charts, upgrade={"chartNameChangeStrategy": "InPlaceUpdate"})
    env.ready(name, "InstallSucceeded")
    uid = env.configmap(name)["metadata"]["uid"]
    env.patch_spec(name, chart_spec(charts, "1.0.0", chart="life2"))
    obj = env.ready(name, "UpgradeSucceeded",
                    check=lambda o: o["status"]["history"][0]["chartName"] == "life2")
    assert obj["status"]["history"][0]["version"] == 2
    assert [(r["chart"], r["status"]) for r in env.helm_history(name)] == [
        ("life-1.0.0", "superseded"), ("life2-1.0.0", "deployed")]
    assert env.configmap(name)["metadata"]["uid"] == uid, "not uninstalled in between"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "status.history[].action")
def test_rollback_remediation_is_recorded_as_its_action(env: HelmEnv, charts: str) -> None:
    name = create(env, charts, upgrade={"remediation": {"retries": 0,
                                                        "remediateLastFailure": True}})
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"values": {"hooks": {"post-upgrade": "1"}}})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    assert [h["action"] for h in obj["status"]["history"]] == ["rollback", "upgrade",
                                                              "install"]
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.waitStrategy.name", "spec.install.timeout")
def test_poller_waits_for_the_objects_and_fails_the_release_when_they_are_not_ready(
        env: HelmEnv, charts: str) -> None:
    name = create(env, charts, values={"deployment": {"ready": "false"}},
                  waitStrategy={"name": "poller"}, install={"timeout": "4s"})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")
    assert released["reason"] == "InstallFailed"
    assert "resources not ready (waitStrategy poller)" in released["message"]
    assert f"Deployment/{env.namespace}/{name}" in released["message"]
    [record] = env.helm_history(name)
    assert record["status"] == "failed" and "not ready" in record["description"]

    env.patch_spec(name, {"values": {"deployment": {"ready": "true"}}})
    env.ready(name, "UpgradeSucceeded")
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.healthCheckExprs[].apiVersion",
                         "spec.healthCheckExprs[].kind", "spec.healthCheckExprs[].current")
def test_health_check_exprs_decide_readiness_with_the_poller(env: HelmEnv,
                                                             charts: str) -> None:
    exprs = [{"apiVersion": "v1", "kind": "ConfigMap", "current": "data.replicas == '3'"}]
    name = create(env, charts, values={"replicas": 1}, waitStrategy={"name": "poller"},
                  healthCheckExprs=exprs, install={"timeout": "4s"})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    assert "healthCheckExprs" in cond(obj, "Released")["message"]
    env.patch_spec(name, {"values": {"replicas": 3}})
    env.ready(name, "UpgradeSucceeded")
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.healthCheckExprs[].inProgress",
                         "spec.healthCheckExprs[].failed")
def test_health_check_exprs_in_progress_and_failed_win_over_current(env: HelmEnv,
                                                                     charts: str) -> None:
    exprs = [{"apiVersion": "v1", "kind": "ConfigMap", "current": "true",
              "inProgress": "data.replicas == '5'", "failed": "data.replicas == '9'"}]
    name = create(env, charts, values={"replicas": 5}, waitStrategy={"name": "poller"},
                  healthCheckExprs=exprs, install={"timeout": "4s"},
                  upgrade={"timeout": "4s"})
    obj = env.failing(name, "RetriesExceeded", stalled=True)
    released = cond(obj, "Released")["message"]
    assert "status: 'InProgress': healthCheckExprs: the inProgress expression is true" \
        in released, released
    env.patch_spec(name, {"values": {"replicas": 9}})
    obj = env.failing(name, "RetriesExceeded", stalled=True,
                      check=lambda o: (o["status"]["history"][0]["version"],
                                       o["status"]["history"][0]["status"]) == (2, "failed"))
    released = cond(obj, "Released")["message"]
    assert "status: 'Failed': healthCheckExprs: the failed expression is true" in released, \
        released
    env.patch_spec(name, {"values": {"replicas": 1}})
    env.ready(name, "UpgradeSucceeded")
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.kubeConfig.secretRef.key")
def test_kubeconfig_secret_key_names_the_entry_to_read(env: HelmEnv, charts: str) -> None:
    config = self_contained_kubeconfig(env.source.cluster.kubeconfig)
    secret = obj_name("kc")
    env.source.secret(secret, {"cluster.kubeconfig": config.encode()})
    name = create(env, charts, kubeConfig={"secretRef": {"name": secret,
                                                         "key": "cluster.kubeconfig"}})
    env.ready(name, "InstallSucceeded")
    assert env.configmap(name)["data"] == {"replicas": "1"}
    # without the key, the default `value`/`value.yaml` is looked for and is not there
    missing = create(env, charts, kubeConfig={"secretRef": {"name": secret}})
    message = cond(env.failing(missing, "InitFailed"), "Ready")["message"]
    assert f"no kubeconfig in Secret '{env.namespace}/{secret}'" in message, message
    assert "'value'" in message, message
    assert missing not in env.helm_list()
    env.delete(name)
    env.delete(missing)


@pytest.mark.flux_fields("HelmRelease", "spec.chart.spec.sourceRef.namespace",
                         "spec.chartRef.namespace")
def test_chart_sources_in_another_namespace_are_where_the_release_looks(env: HelmEnv,
                                                                      charts: str) -> None:
    """A chart template whose HelmRepository is in another namespace makes its HelmChart
    there (named `<namespace>-<name>`); a chartRef with a namespace reads that namespace.
    No source-controller reconciles the other namespace here, so both wait for an artifact
    and say which object they wait for."""
    ns, other = env.namespace, f"{env.namespace}-src"
    env.source.cluster.kubectl("create", "namespace", other)
    try:
        name = obj_name("hr")
        spec = chart_spec(charts, "1.0.0", chart="life")
        spec["chart"]["spec"]["sourceRef"]["namespace"] = other
        env.create(name, spec)
        helm_chart = f"{other}/{ns}-{name}"
        obj = env.failing(name, "ArtifactFailed",
                          check=lambda o: o["status"].get("helmChart") == helm_chart)
        assert f"HelmChart '{helm_chart}'" in cond(obj, "Ready")["message"]
        made = env.source.api.get_namespaced_custom_object(
            "source.toolkit.fluxcd.io", "v1", other, "helmcharts", f"{ns}-{name}")
        assert made["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": charts}

        by_ref = env.create(obj_name("hr"), {"chartRef": {
            "kind": "HelmChart", "name": f"{ns}-{name}", "namespace": other}})
        obj = env.failing(by_ref, "ArtifactFailed")
        assert f"HelmChart '{helm_chart}'" in cond(obj, "Ready")["message"]
        assert not {name, by_ref} & set(env.helm_list())
        env.delete(by_ref)
        env.delete(name)
    finally:
        env.source.cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.flux_fields("HelmRelease", "spec.healthCheckExprs[].current")
def test_an_invalid_health_check_expression_stalls(env: HelmEnv, charts: str) -> None:
    name = create(env, charts, waitStrategy={"name": "poller"}, healthCheckExprs=[
        {"apiVersion": "v1", "kind": "ConfigMap", "current": "data.replicas =="}])
    obj = env.failing(name, "InvalidCELExpression", stalled=True)
    assert "spec.healthCheckExprs[0]" in cond(obj, "Ready")["message"]
    assert name not in env.helm_list()
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.kubeConfig.configMapRef.name")
def test_kubeconfig_from_a_missing_configmap_is_retried_not_the_own_cluster(
        env: HelmEnv, charts: str) -> None:
    name = create(env, charts, kubeConfig={"configMapRef": {"name": "remote"}})
    obj = env.failing(name, "InitFailed", stalled=False)
    assert f"kubeConfig ConfigMap '{env.namespace}/remote' not found" in cond(
        obj, "Ready")["message"]
    assert name not in env.helm_list()
    env.delete(name)


def annotate(env: HelmEnv, name: str, annotations: dict[str, str]) -> None:
    """Set `annotations` and request a reconcile, as `afflux reconcile hr --allow-prune`."""
    env.source.api.patch_namespaced_custom_object(
        "helm.toolkit.fluxcd.io", "v2", env.namespace, "helmreleases", name,
        {"metadata": {"annotations": annotations}})
    env.request(name)


def test_a_chart_name_change_that_would_uninstall_many_objects_is_held(
        env: HelmEnv, charts: str) -> None:
    name = create(env, charts, chart="many")
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, chart_spec(charts, "1.0.0", chart="many2"))
    obj = env.failing(name, "PruneHeld", stalled=False)
    held = cond(obj, "PruneHeld")
    assert held["status"] == "True"
    assert "chart 'many', not 'many2'" in held["message"]
    assert "would delete 13 of 13 objects (ConfigMap x13)" in held["message"]
    assert f"{ALLOW_PRUNE}=1.0.0" in held["message"]
    assert "PruneHeld" in env.source.event_reasons(name)
    assert [(r["chart"], r["status"]) for r in env.helm_history(name)] == [
        ("many-1.0.0", "deployed")], "nothing was uninstalled"

    annotate(env, name, {ALLOW_PRUNE: "1.0.0"})
    obj = env.ready(name, "InstallSucceeded",
                    check=lambda o: o["status"]["history"][0]["chartName"] == "many2")
    assert not any(c["type"] == "PruneHeld" for c in obj["status"]["conditions"])
    assert [(r["chart"], r["status"]) for r in env.helm_history(name)] == [
        ("many2-1.0.0", "deployed")]
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.releaseName")
def test_a_release_name_change_is_held_until_the_guard_is_off(env: HelmEnv,
                                                              charts: str) -> None:
    name = create(env, charts, chart="many")
    env.ready(name, "InstallSucceeded")
    env.patch_spec(name, {"releaseName": f"{name}-renamed"})
    obj = env.failing(name, "PruneHeld", stalled=False)
    assert f"the release moved from {env.namespace}:{env.namespace}/{name}" in cond(
        obj, "PruneHeld")["message"]
    assert name in env.helm_list()

    annotate(env, name, {"afflux.toolkit.fluxcd.io/prune-guard": "disabled"})
    env.ready(name, "InstallSucceeded",
              check=lambda o: o["status"]["history"][0]["name"] == f"{name}-renamed")
    assert env.helm_list() == [f"{name}-renamed"] or name not in env.helm_list()
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.driftDetection.mode")
def test_drift_is_explained_with_values_and_the_field_manager(env: HelmEnv,
                                                              charts: str) -> None:
    name = create(env, charts, values={"deployment": {"ready": "true"}},
                  driftDetection={"mode": "warn"})
    env.ready(name, "InstallSucceeded")
    ns = env.namespace
    env.source.core.patch_namespaced_config_map(name, ns, {"data": {"replicas": "9"}},
                                                field_manager="kubectl-edit")
    k8s.AppsV1Api(env.source.core.api_client).patch_namespaced_deployment_scale(
        name, ns, {"spec": {"replicas": 3}}, field_manager="autoscaler")

    def explained() -> str:
        env.request(name)
        drifted = cond(env.get(name), "Drifted")
        assert drifted["status"] == "True"
        message = str(drifted["message"])
        assert 'data.replicas: "9" -> "1" (by kubectl-edit)' in message
        assert "spec.replicas: 3 -> 1 (by autoscaler)" in message
        return message

    eventually(explained, 90, interval=2.0, message="Drifted, explained")
    events = [e.message for e in env.source.events(name) if e.reason == "DriftDetected"]
    assert any("(by kubectl-edit)" in m for m in events), events
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.chart.spec.valuesFiles[]",
                         "spec.chart.spec.ignoreMissingValuesFiles",
                         "spec.chart.spec.reconcileStrategy", "spec.chart.spec.interval",
                         "spec.chart.metadata.labels{*}", "spec.chart.metadata.annotations{*}")
def test_chart_template_settings_reach_the_helm_chart_and_its_values_files_the_release(
        env: HelmEnv, charts: str) -> None:
    template = chart_spec(charts, "1.0.0", chart="life")
    template["chart"]["spec"].update({
        "valuesFiles": ["values.yaml", "values-prod.yaml", "values-absent.yaml"],
        "ignoreMissingValuesFiles": True, "reconcileStrategy": "Revision", "interval": "7m"})
    template["chart"]["metadata"] = {"labels": {"team": "web"}, "annotations": {"note": "x"}}
    name = env.create(obj_name("hr"), template)
    env.ready(name, "InstallSucceeded")
    assert env.configmap(name)["data"] == {"replicas": "4"}  # values-prod.yaml over the chart's
    chart = env.source.get("HelmChart", f"{env.namespace}-{name}")
    spec = chart["spec"]
    assert spec["valuesFiles"] == ["values.yaml", "values-prod.yaml", "values-absent.yaml"]
    assert spec["ignoreMissingValuesFiles"] is True
    assert (spec["reconcileStrategy"], spec["interval"]) == ("Revision", "7m")
    assert chart["metadata"]["labels"]["team"] == "web"
    assert chart["metadata"]["annotations"]["note"] == "x"
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.postRenderers[].kustomize.images[].name",
                         "spec.postRenderers[].kustomize.images[].newName",
                         "spec.postRenderers[].kustomize.images[].newTag",
                         "spec.postRenderers[].kustomize.images[].digest")
def test_post_renderer_images_set_the_image_of_the_rendered_workloads(env: HelmEnv,
                                                                      charts: str) -> None:
    renamed = {"name": "busybox", "newName": "mirror.example/busybox", "newTag": "1.36"}
    name = create(env, charts, values={"deployment": {"ready": "true"}},
                  postRenderers=[{"kustomize": {"images": [renamed]}}])
    env.ready(name, "InstallSucceeded")
    [container] = deployment(env, name).spec.template.spec.containers
    assert container.image == "mirror.example/busybox:1.36"

    digest = "sha256:" + "a" * 64
    env.patch_spec(name, {"postRenderers": [{"kustomize": {"images": [
        {"name": "busybox", "newName": "mirror.example/busybox", "digest": digest}]}}]})
    env.ready(name, "UpgradeSucceeded", check=lambda o: o["status"]["history"][0]["version"] == 2)
    [container] = deployment(env, name).spec.template.spec.containers
    assert container.image == f"mirror.example/busybox@{digest}"
    env.delete(name)
