"""`diff helmrelease`'s pure parts: chart source, values as the controller composes them,
the engine helm-controller runs (from its Deployment's args), the helm template command
line, rendered objects and what an upgrade deletes."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from afflux.api import HelmRelease
from afflux.cli._diffhrfmt import (
    chart_source,
    engine_label,
    helm_engine,
    manifest_objects,
    release_values,
    removed_objects,
    template_args,
    values_refs,
)
from afflux.controllers.helm import Engine, ValuesError


def _hr(**spec: Any) -> HelmRelease:
    body = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"interval": "5m", **spec}}
    return HelmRelease.from_dict(body)


CHART = {"chart": {"spec": {"chart": "podinfo", "sourceRef": {
    "kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}}


def test_chart_source() -> None:
    assert chart_source(_hr(**CHART)) == ("HelmChart", "flux-system", "apps-web")
    assert chart_source(_hr(chartRef={"kind": "OCIRepository", "name": "oci"})) == (
        "OCIRepository", "apps", "oci")


def test_release_values_in_order_then_inline() -> None:
    hr = _hr(**CHART, values={"replicas": 3}, valuesFrom=[
        {"kind": "ConfigMap", "name": "base"},
        {"kind": "Secret", "name": "creds", "valuesKey": "token", "targetPath": "auth.token"},
        {"kind": "ConfigMap", "name": "gone", "optional": True}])
    assert values_refs(hr) == [("ConfigMap", "base"), ("Secret", "creds"), ("ConfigMap", "gone")]
    found = {
        ("ConfigMap", "base"): {"data": {"values.yaml": "replicas: 1\nimage: {tag: v1}\n"}},
        ("Secret", "creds"): {"data": {"token": base64.b64encode(b"s3cret").decode()}},
        ("ConfigMap", "gone"): None,
    }
    assert release_values(hr, found) == {"replicas": 3, "image": {"tag": "v1"},
                                         "auth": {"token": "s3cret"}}
    with pytest.raises(ValuesError, match="ConfigMap 'apps/base' not found"):
        release_values(hr, {**found, ("ConfigMap", "base"): None})
    with pytest.raises(ValuesError, match="has no key 'token'"):
        release_values(hr, {**found, ("Secret", "creds"): {"data": {}}})


def test_template_args() -> None:
    hr = _hr(**CHART, targetNamespace="prod", releaseName="site")
    assert template_args(hr, "/c.tgz", "/v.yaml", upgrade=True) == [
        "template", "site", "/c.tgz", "--namespace", "prod", "--values", "/v.yaml",
        "--is-upgrade"]
    assert "--is-upgrade" not in template_args(hr, "c", "v", upgrade=False)
    lax = _hr(**CHART, upgrade={"disableSchemaValidation": True})
    assert template_args(lax, "c", "v", upgrade=True)[-1] == "--skip-schema-validation"
    assert "--skip-schema-validation" not in template_args(lax, "c", "v", upgrade=False)


MANIFEST = """---
# Source: web/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: reader
  namespace: ignored
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
"""


def test_manifest_objects_namespaces() -> None:
    scopes = {"ConfigMap": True, "ClusterRole": False}
    objs = manifest_objects(MANIFEST, "apps", lambda _v, kind: scopes.get(kind))
    assert [(o["kind"], o["metadata"].get("namespace")) for o in objs] == [
        ("ConfigMap", "apps"), ("ClusterRole", None), ("Widget", None)]


def test_removed_objects_keep_policy() -> None:
    def cm(name: str, **notes: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "apps", "annotations": notes}}

    current = [cm("web"), cm("old"), cm("kept", **{"helm.sh/resource-policy": "keep"})]
    assert [o["metadata"]["name"] for o in removed_objects(current, [cm("web")])] == ["old"]


def _deployment(*args: str) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [
        {"name": "manager", "args": list(args)}]}}}}


ENGINE_CASES = [
    ("no Deployment: Flux 2.9's default, Helm 4", None, Engine.HELM4, "Flux 2.9's default"),
    ("no gates: Helm 4", _deployment("--log-level=info"), Engine.HELM4,
     "helm-controller's default"),
    ("other gates only: Helm 4", _deployment("--feature-gates=ObjectLevelWorkloadIdentity=true"),
     Engine.HELM4, "helm-controller's default"),
    ("UseHelm3Defaults=true: Helm 3",
     _deployment("--feature-gates=AdditiveCELDependencyCheck=true,UseHelm3Defaults=true"),
     Engine.HELM3, "--feature-gates UseHelm3Defaults=true"),
    ("UseHelm3Defaults=false: Helm 4", _deployment("--feature-gates", "UseHelm3Defaults=false"),
     Engine.HELM4, "--feature-gates UseHelm3Defaults=false"),
    ("the last flag wins, as the operator reads it",
     _deployment("--feature-gates=UseHelm3Defaults=true", "--feature-gates=UseHelm3Defaults=false"),
     Engine.HELM4, "UseHelm3Defaults=false"),
    ("gates that do not parse: the default, said", _deployment("--feature-gates=UseHelm3Defaults"),
     Engine.HELM4, "cannot be read"),
]


@pytest.mark.parametrize(("deployment", "engine", "why"), [c[1:] for c in ENGINE_CASES],
                         ids=[c[0] for c in ENGINE_CASES])
def test_helm_engine_is_the_one_helm_controller_runs(deployment: dict[str, Any] | None,
                                                     engine: Engine, why: str) -> None:
    found, reason = helm_engine(deployment)
    assert found is engine
    assert why in reason, reason


def test_engine_label_names_the_program() -> None:
    assert engine_label(Engine.HELM4) == "Helm 4 (helm4)"
    assert engine_label(Engine.HELM3) == "Helm 3 (helm)"
