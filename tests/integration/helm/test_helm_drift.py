"""Drift detection against the real cluster: objects of a release changed or deleted by
hand are reported (`warn`) or corrected (`enabled`) by a server-side dry-run comparison,
with the Drifted condition and events naming objects and fields; ignore rules and the
`helm.toolkit.fluxcd.io/driftDetection: disabled` annotation leave fields and objects alone."""

from __future__ import annotations

from typing import Any

import pytest
from helm_env import HelmEnv, chart_spec, cond, release
from kubernetes import client as k8s
from source_env import SourceEnv, obj_name

from harness.wait import eventually

pytestmark = pytest.mark.integration
ENV_LABEL = "helmdrift"


def reconciled(env: HelmEnv, name: str) -> dict[str, Any]:
    stamp = env.request(name)
    return env.ready(name, check=lambda o: o["status"].get("lastHandledReconcileAt") == stamp)


def events_of(env: HelmEnv, name: str, reason: str) -> list[str]:
    events = env.source.core.list_namespaced_event(
        env.namespace, field_selector=f"involvedObject.name={name}").items
    return [e.message for e in events if e.reason == reason]


@pytest.mark.flux_fields("HelmRelease", "spec.driftDetection.mode")
def test_warn_reports_drift_and_enabled_corrects_it(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"deployment": {"ready": "true"}},
                   driftDetection={"mode": "warn"})
    env.ready(name, "InstallSucceeded")
    apps = k8s.AppsV1Api(env.source.core.api_client)
    ns = env.namespace
    # helm-controller's origin labels on what it installed (and no drift because of them)
    origin = {"helm.toolkit.fluxcd.io/name": name, "helm.toolkit.fluxcd.io/namespace": ns}
    assert origin.items() <= env.configmap(name)["metadata"]["labels"].items()
    assert origin.items() <= apps.read_namespaced_deployment(name, ns).metadata.labels.items()
    assert SourceEnv.condition(reconciled(env, name), "Drifted") is None
    env.source.core.patch_namespaced_config_map(name, ns, {"data": {"replicas": "9"},
                                                           "metadata": {"labels": {"x": "y"}}})
    apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": 3}})

    obj = reconciled(env, name)
    drifted = cond(obj, "Drifted")
    assert (drifted["status"], drifted["reason"]) == ("True", "DriftDetected")
    message = drifted["message"]
    assert message.startswith(f"Cluster state of release {ns}/{name}.v1 has drifted from the "
                              "desired state:\n")
    assert (f"ConfigMap/{ns}/{name} changed (0 additions, 1 changes, 0 removals): "
            "/data/replicas") in message  # a label added by hand is not the manifest's
    assert (f"Deployment/{ns}/{name} changed (0 additions, 1 changes, 0 removals): "
            "/spec/replicas") in message
    assert cond(obj, "Ready")["status"] == "True"  # warn only reports
    assert any(f"ConfigMap/{ns}/{name} changed" in m for m in events_of(env, name, "DriftDetected"))
    assert env.configmap(name)["data"] == {"replicas": "9"}  # nothing corrected

    # a deleted object is reported as removed
    apps.delete_namespaced_deployment(name, ns)
    eventually(lambda: not apps.list_namespaced_deployment(
        ns, field_selector=f"metadata.name={name}").items, 60, message="deployment deleted")
    obj = reconciled(env, name)
    assert f"Deployment/{ns}/{name} removed" in cond(obj, "Drifted")["message"]

    # enabled: corrected in place, without a Helm action
    env.patch_spec(name, {"driftDetection": {"mode": "enabled"}})
    obj = env.ready(name, check=lambda o: SourceEnv.condition(o, "Drifted") is None)
    configmap = env.configmap(name)
    assert configmap["data"] == {"replicas": "1"}
    assert configmap["metadata"]["labels"]["x"] == "y"  # not the manifest's: left alone
    deployment = apps.read_namespaced_deployment(name, ns)
    assert deployment.spec.replicas == 1
    [corrected] = events_of(env, name, "DriftCorrected")
    assert corrected.startswith(f"Cluster state of release {ns}/{name}.v1 has been corrected:")
    assert f"Deployment/{ns}/{name} removed" in corrected
    assert f"ConfigMap/{ns}/{name} changed" in corrected
    assert len(env.helm_history(name)) == 1
    assert obj["status"]["history"][0]["version"] == 1

    # in sync now: nothing to report
    obj = reconciled(env, name)
    assert SourceEnv.condition(obj, "Drifted") is None
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.driftDetection.mode",
                         "spec.driftDetection.ignore[].paths[]",
                         "spec.driftDetection.ignore[].target.kind")
def test_ignore_rules_and_the_disabled_annotation(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"deployment": {"ready": "true"}}, driftDetection={
        "mode": "enabled",
        "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}},
                   {"paths": ["/data/replicas"], "target": {"kind": "Secret"}}]})
    env.ready(name, "InstallSucceeded")
    apps = k8s.AppsV1Api(env.source.core.api_client)
    ns = env.namespace
    apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": 4}})
    obj = reconciled(env, name)
    assert SourceEnv.condition(obj, "Drifted") is None
    assert apps.read_namespaced_deployment(name, ns).spec.replicas == 4  # ignored: kept

    # the rule for Secrets does not cover the ConfigMap: corrected
    env.source.core.patch_namespaced_config_map(name, ns, {"data": {"replicas": "7"}})
    reconciled(env, name)
    assert env.configmap(name)["data"] == {"replicas": "1"}

    # an object annotated driftDetection: disabled is left out
    env.source.core.patch_namespaced_config_map(name, ns, {
        "data": {"replicas": "8"},
        "metadata": {"annotations": {"helm.toolkit.fluxcd.io/driftDetection": "disabled"}}})
    obj = reconciled(env, name)
    assert SourceEnv.condition(obj, "Drifted") is None
    assert env.configmap(name)["data"] == {"replicas": "8"}
    assert not events_of(env, name, "DriftDetected")
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.driftDetection.ignore[].target.group",
                         "spec.driftDetection.ignore[].target.version",
                         "spec.driftDetection.ignore[].target.name",
                         "spec.driftDetection.ignore[].target.namespace",
                         "spec.driftDetection.ignore[].target.labelSelector",
                         "spec.driftDetection.ignore[].target.annotationSelector")
def test_ignore_rules_apply_only_to_the_objects_their_target_selects(env: HelmEnv,
                                                                     repo: str) -> None:
    """The Deployment (labelled and annotated by a post-renderer) matches every field of the
    first rule and keeps its drifted replicas; each other rule misses the ConfigMap by one
    target field, so its drifted data is corrected."""
    name, ns = obj_name("hr"), env.namespace
    mark = {"target": {"kind": "Deployment"},
            "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\n"
                     "  labels: {tier: web}\n  annotations: {team: a}\n"}
    data = "/data/replicas"
    env.create(name, {**chart_spec(repo, "1.0.0", chart="life"),
                      "values": {"deployment": {"ready": "true"}},
                      "postRenderers": [{"kustomize": {"patches": [mark]}}],
                      "driftDetection": {"mode": "enabled", "ignore": [
                          {"paths": ["/spec/replicas"], "target": {
                              "group": "apps", "version": "v1", "name": name, "namespace": ns,
                              "labelSelector": "tier=web", "annotationSelector": "team=a"}},
                          {"paths": [data], "target": {"labelSelector": "tier=web"}},
                          {"paths": [data], "target": {"annotationSelector": "team=a"}},
                          {"paths": [data], "target": {"group": "apps"}},
                          {"paths": [data], "target": {"version": "v2"}},
                          {"paths": [data], "target": {"name": f"{name}-other"}},
                          {"paths": [data], "target": {"namespace": "elsewhere"}}]}})
    env.ready(name, "InstallSucceeded")
    apps = k8s.AppsV1Api(env.source.core.api_client)
    apps.patch_namespaced_deployment_scale(name, ns, {"spec": {"replicas": 4}})
    env.source.core.patch_namespaced_config_map(name, ns, {"data": {"replicas": "7"}})
    reconciled(env, name)
    assert env.configmap(name)["data"] == {"replicas": "1"}  # no rule selects it: corrected
    assert apps.read_namespaced_deployment(name, ns).spec.replicas == 4  # selected: kept
    env.delete(name)


@pytest.mark.flux_fields("HelmRelease", "spec.interval")
def test_drift_is_corrected_on_the_interval_without_a_request(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {}, interval="3s", driftDetection={"mode": "enabled"})
    env.ready(name, "InstallSucceeded")
    env.source.core.patch_namespaced_config_map(name, env.namespace, {"data": {"replicas": "9"}})
    eventually(lambda: env.configmap(name)["data"] == {"replicas": "1"}, 60,
               message="the drift corrected by the next run of the interval")
    assert "reconcile.fluxcd.io/requestedAt" not in (env.get(name)["metadata"].get(
        "annotations") or {})
    env.delete(name)
