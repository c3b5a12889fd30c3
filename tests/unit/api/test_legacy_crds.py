"""The removed versions in the generated CRDs (afflux.api._legacy): served, not stored, a
superset of the stored schema, and a conversion webhook that installers can point elsewhere."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.api import crdgen
from afflux.api._legacy import point_conversion

CRDS = {c["spec"]["names"]["kind"]: c for c in crdgen.build_crds()}
OLD = [("Kustomization", "v1beta2"), ("GitRepository", "v1beta2"),
       ("HelmRelease", "v2beta1"), ("HelmRelease", "v2beta2")]


def _version(kind: str, name: str) -> dict[str, Any]:
    return next(v for v in CRDS[kind]["spec"]["versions"] if v["name"] == name)


def _paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for name, child in (node.get("properties") or {}).items():
        out.add(prefix + name)
        out |= _paths(child, f"{prefix}{name}.")
        if "items" in child:
            out |= _paths(child["items"], f"{prefix}{name}[].")
    return out


@pytest.mark.parametrize(("kind", "version"), OLD, ids=[f"{k}-{v}" for k, v in OLD])
def test_old_version_is_served_deprecated_and_a_superset(kind: str, version: str) -> None:
    old = _version(kind, version)
    stored = CRDS[kind]["spec"]["versions"][0]
    assert old["served"] and not old["storage"] and old["deprecated"]
    assert "afflux migrate" in old["deprecationWarning"]
    assert _paths(stored["schema"]["openAPIV3Schema"]) <= _paths(old["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize(("kind", "version", "path"), [
    ("Kustomization", "v1beta2", "spec.validation"),
    ("Kustomization", "v1beta2", "spec.patchesStrategicMerge"),
    ("Kustomization", "v1beta2", "spec.patchesJson6902[].target.kind"),
    ("GitRepository", "v1beta2", "spec.gitImplementation"),
    ("GitRepository", "v1beta2", "status.artifact.checksum"),
    ("HelmRelease", "v2beta1", "spec.chart.spec.valuesFile"),
    ("HelmRelease", "v2beta1", "status.lastAppliedRevision"),
])
def test_old_only_fields(kind: str, version: str, path: str) -> None:
    assert path in _paths(_version(kind, version)["schema"]["openAPIV3Schema"])


def test_gitrepository_v1beta2_accepts_head() -> None:
    spec = _version("GitRepository", "v1beta2")["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "head" in spec["properties"]["verify"]["properties"]["mode"]["enum"]


def test_conversion_webhook_names_the_owning_operator_service() -> None:
    conv = CRDS["HelmRelease"]["spec"]["conversion"]
    assert conv["strategy"] == "Webhook"
    assert conv["webhook"]["clientConfig"]["service"]["name"] == "helm-controller"
    assert "conversion" not in CRDS["Bucket"]["spec"]


def test_point_conversion_to_loopback_with_ca() -> None:
    crds = list(CRDS.values())
    out = point_conversion(crds, url_for={"Kustomization": "https://127.0.0.1:1/convert"},
                           ca_bundle="Q0E=")
    ks = next(c for c in out if c["spec"]["names"]["kind"] == "Kustomization")
    cfg = ks["spec"]["conversion"]["webhook"]["clientConfig"]
    assert cfg == {"url": "https://127.0.0.1:1/convert", "caBundle": "Q0E="}
    git = next(c for c in out if c["spec"]["names"]["kind"] == "GitRepository")
    assert git["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["name"]
    assert "url" not in CRDS["Kustomization"]["spec"]["conversion"]["webhook"]["clientConfig"]


def test_point_conversion_retargets_the_service_namespace() -> None:
    out = point_conversion([CRDS["GitRepository"], CRDS["Bucket"]], namespace="other")
    assert out[0]["spec"]["conversion"]["webhook"]["clientConfig"]["service"]["namespace"] == \
        "other"
    assert out[1] == CRDS["Bucket"]


def test_install_keeps_a_local_url_target() -> None:
    from afflux.api._legacy import follow_live_conversion

    live = point_conversion([CRDS["Kustomization"]], url="https://127.0.0.1:5/convert",
                            ca_bundle="Q0E=")[0]
    out = follow_live_conversion(CRDS["Kustomization"], live)
    assert out["spec"]["conversion"]["webhook"]["clientConfig"] == {
        "url": "https://127.0.0.1:5/convert", "caBundle": "Q0E="}
    # a Service target on the cluster, or no CRD yet: the Service of the install
    assert follow_live_conversion(CRDS["Kustomization"], CRDS["Kustomization"]) == \
        CRDS["Kustomization"]
    assert follow_live_conversion(CRDS["Kustomization"], None) == CRDS["Kustomization"]


def test_bootstrap_local_manifests_name_no_webhook_target() -> None:
    from afflux.api._legacy import without_client_config

    out = without_client_config([CRDS["HelmRelease"], CRDS["Bucket"]])
    assert out[0]["spec"]["conversion"]["webhook"] == {"conversionReviewVersions": ["v1"]}
    assert out[1] == CRDS["Bucket"]
