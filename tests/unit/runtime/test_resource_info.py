"""`gotk_resource_info` labels from an object's body, per kind (the paths Flux's
kube-state-metrics configuration reads)."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.runtime._resource_info import (
    KIND_LABELS,
    label_value,
    lookup,
    resource_info_labels,
)

READY_TRUE = {"conditions": [{"type": "Reconciling", "status": "False"},
                             {"type": "Ready", "status": "True"}]}

CASES: dict[str, tuple[str, str, str, dict[str, Any], dict[str, str]]] = {
    "kustomization ready, revision and source": (
        "kustomize.toolkit.fluxcd.io", "v1", "Kustomization",
        {"metadata": {"name": "apps", "namespace": "flux-system"},
         "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "suspend": False},
         "status": {**READY_TRUE, "lastAppliedRevision": "main@sha1:abc"}},
        {"ready": "True", "suspended": "false", "revision": "main@sha1:abc",
         "source_name": "repo", "exported_namespace": "flux-system", "name": "apps"}),
    "kustomization never reconciled: no ready, no revision": (
        "kustomize.toolkit.fluxcd.io", "v1", "Kustomization",
        {"metadata": {"name": "apps", "namespace": "ns"}, "spec": {"suspend": True}},
        {"ready": "", "revision": "", "suspended": "true", "source_name": ""}),
    "helmrelease from its first history entry": (
        "helm.toolkit.fluxcd.io", "v2", "HelmRelease",
        {"metadata": {"name": "podinfo", "namespace": "apps"},
         "spec": {"chart": {"spec": {"chart": "podinfo", "sourceRef": {"name": "charts"}}}},
         "status": {"conditions": [{"type": "Ready", "status": "False"}],
                    "history": [{"chartVersion": "6.5.0", "chartName": "podinfo",
                                 "appVersion": "6.5.0"}, {"chartVersion": "6.4.0"}]}},
        {"ready": "False", "revision": "6.5.0", "chart_name": "podinfo",
         "chart_app_version": "6.5.0", "chart_source_name": "charts", "chart_ref_name": ""}),
    "gitrepository artifact revision and url": (
        "source.toolkit.fluxcd.io", "v1", "GitRepository",
        {"metadata": {"name": "repo", "namespace": "flux-system"},
         "spec": {"url": "https://git.example/repo"},
         "status": {**READY_TRUE, "artifact": {"revision": "main@sha1:0f"}}},
        {"ready": "True", "revision": "main@sha1:0f", "url": "https://git.example/repo",
         "customresource_group": "source.toolkit.fluxcd.io",
         "customresource_kind": "GitRepository", "customresource_version": "v1"}),
    "bucket endpoint and name": (
        "source.toolkit.fluxcd.io", "v1", "Bucket",
        {"metadata": {"name": "b", "namespace": "ns"},
         "spec": {"endpoint": "s3.local:9000", "bucketName": "manifests"}},
        {"endpoint": "s3.local:9000", "bucket_name": "manifests"}),
    "alert has no ready label": (
        "notification.toolkit.fluxcd.io", "v1beta3", "Alert",
        {"metadata": {"name": "a", "namespace": "ns"}, "spec": {"suspend": True}},
        {"suspended": "true", "customresource_version": "v1beta3"}),
    "receiver webhook path": (
        "notification.toolkit.fluxcd.io", "v1", "Receiver",
        {"metadata": {"name": "r", "namespace": "ns"},
         "status": {"webhookPath": "/hook/abc", **READY_TRUE}},
        {"webhook_path": "/hook/abc", "ready": "True"}),
    "imagepolicy source is its image repository": (
        "image.toolkit.fluxcd.io", "v1", "ImagePolicy",
        {"metadata": {"name": "p", "namespace": "ns"},
         "spec": {"imageRepositoryRef": {"name": "podinfo"}}},
        {"source_name": "podinfo"}),
}


@pytest.mark.parametrize(("group", "version", "kind", "body", "expected"), CASES.values(),
                         ids=CASES.keys())
def test_resource_info_labels(group: str, version: str, kind: str, body: dict[str, Any],
                              expected: dict[str, str]) -> None:
    labels = dict(resource_info_labels(group, version, kind, body))
    assert {k: labels[k] for k in expected} == expected


def test_alert_and_provider_have_no_ready_label() -> None:
    for kind in ("Alert", "Provider"):
        labels = dict(resource_info_labels("g", "v", kind, {"metadata": {}}))
        assert "ready" not in labels


def test_every_flux_kind_has_a_row() -> None:
    assert set(KIND_LABELS) == {
        "Kustomization", "HelmRelease", "GitRepository", "OCIRepository", "HelmRepository",
        "Bucket", "HelmChart", "Alert", "Provider", "Receiver", "ImageRepository",
        "ImagePolicy", "ImageUpdateAutomation"}


LOOKUPS: dict[str, tuple[Any, tuple[str, ...], Any]] = {
    "nested key": ({"a": {"b": 1}}, ("a", "b"), 1),
    "missing key": ({"a": {}}, ("a", "b"), None),
    "list index": ({"a": [{"x": 1}, {"x": 2}]}, ("a", "1", "x"), 2),
    "list index out of range": ({"a": []}, ("a", "0"), None),
    "list selector": ({"c": [{"type": "A"}, {"type": "Ready", "status": "U"}]},
                      ("c", "[type=Ready]", "status"), "U"),
    "list selector no match": ({"c": [{"type": "A"}]}, ("c", "[type=Ready]"), None),
    "through a scalar": ({"a": "text"}, ("a", "b"), None),
}


@pytest.mark.parametrize(("body", "path", "expected"), LOOKUPS.values(), ids=LOOKUPS.keys())
def test_lookup(body: Any, path: tuple[str, ...], expected: Any) -> None:
    assert lookup(body, path) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (True, "true"), (False, "false"), ("x", "x"), (3, "3"), (None, ""), ({"a": 1}, ""),
], ids=["true", "false", "text", "number", "none", "mapping"])
def test_label_value(value: Any, expected: str) -> None:
    assert label_value(value) == expected
