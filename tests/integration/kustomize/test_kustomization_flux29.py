"""Kustomization fields of Flux 2.7-2.9 on the real cluster, with the real source-controller
and kustomize-controller processes: `spec.ignore` (drift ignore rules),
`spec.buildMetadata` and `spec.postBuild.substituteStrategy`.
"""

from __future__ import annotations

import json
import uuid

import pytest

from harness.kustomize_env import TIMEOUT, Env, configmap, dump
from harness.wait import eventually

pytestmark = pytest.mark.integration


@pytest.mark.flux_fields("Kustomization", "spec.ignore[].paths", "spec.ignore[].target.kind",
                         "spec.ignore[].target.name")
def test_ignored_fields_keep_what_another_manager_set_and_the_rest_is_corrected(
        env: Env) -> None:
    name = f"ign-{uuid.uuid4().hex[:6]}"
    cm = configmap(name, {"managed": "git", "ignored": "git"}, namespace=env.namespace)
    repo, sha = env.repo({"deploy/cm.yaml": dump(cm)})
    source = env.source(repo)
    ks = env.kustomization(name, source, path="./deploy", ignore=[
        {"paths": ["/data/ignored"], "target": {"kind": "ConfigMap", "name": f"{name}.*"}}])
    env.wait_applied(ks, sha)

    # another controller changes both keys (its own field manager, as an HPA would)
    patch = json.dumps({"data": {"managed": "drifted", "ignored": "other"}})
    env.kubectl("patch", "configmap", name, "--type=merge", "-p", patch,
                "--field-manager=other-controller")
    env.reconcile_now(ks)

    def corrected() -> bool:
        live = env.get("configmap", name)
        assert live is not None
        assert live["data"] == {"managed": "git", "ignored": "other"}, live["data"]
        return True

    eventually(corrected, TIMEOUT, message="drift corrected except the ignored key")


@pytest.mark.flux_fields("Kustomization", "spec.buildMetadata")
def test_build_metadata_adds_origin_annotations(env: Env) -> None:
    name = f"bm-{uuid.uuid4().hex[:6]}"
    repo, sha = env.repo({
        "deploy/kustomization.yaml": "resources: [cm.yaml]\n",
        "deploy/cm.yaml": dump(configmap(name, namespace=env.namespace))})
    source = env.source(repo)
    ks = env.kustomization(name, source, path="./deploy", buildMetadata=["originAnnotations"])
    env.wait_applied(ks, sha)
    live = env.get("configmap", name)
    assert live is not None
    origin = live["metadata"]["annotations"]["config.kubernetes.io/origin"]
    assert "path: cm.yaml" in origin


@pytest.mark.flux_fields("Kustomization", "spec.postBuild.substituteStrategy")
def test_substitute_strategy_always_resolves_defaults_without_variables(env: Env) -> None:
    name = f"ss-{uuid.uuid4().hex[:6]}"
    cm = configmap(name, {"region": "${region:=eu-west-1}", "literal": "$${kept}"},
                   namespace=env.namespace)
    repo, sha = env.repo({"deploy/cm.yaml": dump(cm)})
    source = env.source(repo)
    ks = env.kustomization(name, source, path="./deploy",
                           postBuild={"substituteStrategy": "WithVariables"})
    env.wait_applied(ks, sha)
    live = env.get("configmap", name)
    assert live is not None and live["data"]["region"] == "${region:=eu-west-1}"

    env.kubectl("patch", "kustomizations.kustomize.toolkit.fluxcd.io", ks, "--type=merge",
                "-p", json.dumps({"spec": {"postBuild": {"substituteStrategy": "Always"}}}))

    def substituted() -> bool:
        live = env.get("configmap", name)
        assert live is not None
        assert live["data"] == {"region": "eu-west-1", "literal": "${kept}"}, live["data"]
        return True

    eventually(substituted, TIMEOUT, message="defaults substituted with strategy Always")


@pytest.mark.flux_fields("Kustomization", "spec.ignore[].target.group",
                         "spec.ignore[].target.version", "spec.ignore[].target.namespace",
                         "spec.ignore[].target.labelSelector",
                         "spec.ignore[].target.annotationSelector")
def test_ignore_rules_apply_only_to_the_objects_their_target_selects(env: Env) -> None:
    """One object matches every field of the first rule and keeps its drift; each other object
    misses exactly one target field (a label, an annotation, the group, the version, the
    namespace) and is corrected."""
    prefix = f"igt-{uuid.uuid4().hex[:6]}"
    marks = {"labels": {"ign": "yes"}, "annotations": {"keep": "true"}}
    objects = {}
    for suffix, meta in {"match": marks, "nolabel": {"annotations": {"keep": "true"}},
                         "noannotation": {"labels": {"ign": "yes"}}, "group": marks,
                         "version": marks, "namespace": marks}.items():
        cm = configmap(f"{prefix}-{suffix}", {"ignored": "git"}, namespace=env.namespace)
        cm["metadata"].update(meta)
        objects[suffix] = cm
    repo, sha = env.repo({f"deploy/{s}.yaml": dump(o) for s, o in objects.items()})
    source = env.source(repo)
    selected = {"labelSelector": "ign=yes", "annotationSelector": "keep=true"}
    ks = env.kustomization(prefix, source, path="./deploy", ignore=[
        {"paths": ["/data/ignored"], "target": {
            "version": "v1", "namespace": env.namespace, "kind": "ConfigMap",
            "name": f"{prefix}-(match|nolabel|noannotation)", **selected}},
        {"paths": ["/data/ignored"], "target": {"group": "apps", "name": f"{prefix}-group"}},
        {"paths": ["/data/ignored"], "target": {"version": "v2", "name": f"{prefix}-version"}},
        {"paths": ["/data/ignored"],
         "target": {"namespace": "elsewhere", "name": f"{prefix}-namespace"}}])
    env.wait_applied(ks, sha)

    for suffix in objects:
        env.kubectl("patch", "configmap", f"{prefix}-{suffix}", "--type=merge",
                    "-p", json.dumps({"data": {"ignored": "other"}}),
                    "--field-manager=other-controller")
    env.reconcile_now(ks)

    def only_the_selected_object_keeps_its_drift() -> bool:
        got = {}
        for suffix in objects:
            live = env.get("configmap", f"{prefix}-{suffix}")
            assert live is not None
            got[suffix] = live["data"]["ignored"]
        assert got == {"match": "other", "nolabel": "git", "noannotation": "git",
                       "group": "git", "version": "git", "namespace": "git"}, got
        return True

    eventually(only_the_selected_object_keeps_its_drift, TIMEOUT,
               message="drift kept only where the ignore rule's target selects the object")
