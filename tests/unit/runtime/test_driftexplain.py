"""Explained drift (`_driftexplain`): the differing paths, both values, the writer of each
path from managedFields, masking of Secret data, and the bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from afflux.controllers.runtime._driftexplain import (
    MASK,
    FieldDrift,
    ObjectDrift,
    changed_paths,
    decode,
    drift_message,
    encode,
    explain,
    field_owner,
    format_path,
)

OURS = "kustomize-controller"


def entry(manager: str, fields: dict[str, Any], time: str = "2026-01-01T00:00:00Z",
          operation: str = "Update", subresource: str | None = None) -> dict[str, Any]:
    e = {"manager": manager, "operation": operation, "time": time, "fieldsV1": fields}
    if subresource:
        e["subresource"] = subresource
    return e


def deployment(replicas: int, image: str = "nginx:1", managed: list[Any] | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "apps", "labels": labels or {"app": "web"},
                     "managedFields": managed or [], "resourceVersion": "7"},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [
            {"name": "app", "image": image}]}}},
        "status": {"replicas": replicas},
    }


@pytest.mark.parametrize(("path", "text"), [
    pytest.param(("spec", "replicas"), "spec.replicas", id="keys"),
    pytest.param(("spec", "containers", 0, "image"), "spec.containers[0].image", id="index"),
    pytest.param(("metadata", "labels", "app.kubernetes.io/name"),
                 'metadata.labels["app.kubernetes.io/name"]', id="quoted-key"),
    pytest.param((), "", id="root"),
])
def test_format_path(path: tuple[Any, ...], text: str) -> None:
    assert format_path(path) == text


@pytest.mark.parametrize(("live", "applied", "paths"), [
    pytest.param({"a": 1}, {"a": 1}, [], id="equal"),
    pytest.param({"a": 1}, {"a": 2}, [(("a",), 1, 2)], id="scalar"),
    pytest.param({"a": {"b": 1}}, {"a": {}}, [(("a", "b"), 1, None)], id="removed-key"),
    pytest.param({"l": [1, 2]}, {"l": [1, 3]}, [(("l", 1), 2, 3)], id="same-length-list"),
    pytest.param({"l": [1]}, {"l": [1, 2]}, [(("l",), [1], [1, 2])], id="other-length-list"),
    pytest.param({"a": "x"}, {"a": {"b": 1}}, [(("a",), "x", {"b": 1})], id="type-change"),
])
def test_changed_paths(live: Any, applied: Any, paths: list[Any]) -> None:
    assert list(changed_paths(live, applied)) == paths


CONTAINERS = {"f:spec": {"f:template": {"f:spec": {"f:containers": {
    'k:{"name":"app"}': {".": {}, "f:image": {}}}}}}}


@pytest.mark.parametrize(("managed", "path", "owner"), [
    pytest.param([entry(OURS, {"f:spec": {"f:replicas": {}}}, operation="Apply")],
                 ("spec", "replicas"), OURS, id="ours"),
    pytest.param([entry(OURS, {"f:spec": {}}, operation="Apply"),
                  entry("kubectl-edit", {"f:spec": {"f:replicas": {}}})],
                 ("spec", "replicas"), "kubectl-edit", id="edited"),
    pytest.param([entry(OURS, {"f:spec": {"f:replicas": {}}}, "2026-01-01T00:00:00Z"),
                  entry("kubectl-edit", {"f:spec": {"f:replicas": {}}}, "2026-01-02T00:00:00Z")],
                 ("spec", "replicas"), "kubectl-edit", id="shared-newest-wins"),
    pytest.param([entry(OURS, {"f:spec": {"f:replicas": {}}}, operation="Apply"),
                  entry("kubectl", {"f:spec": {"f:replicas": {}}}, "2027-01-01T00:00:00Z",
                        subresource="scale")],
                 ("spec", "replicas"), "kubectl", id="scale-subresource-counts"),
    pytest.param([entry("kubectl-edit", CONTAINERS)],
                 ("spec", "template", "spec", "containers", 0, "image"), "kubectl-edit",
                 id="list-item-by-merge-key"),
    pytest.param([entry("kubectl-edit", {"f:spec": {"f:template": {}}})],
                 ("spec", "template", "spec", "containers", 0, "image"), None,
                 id="not-deep-enough"),
    pytest.param([], ("spec", "replicas"), None, id="nobody"),
])
def test_field_owner(managed: list[Any], path: tuple[Any, ...], owner: str | None) -> None:
    assert field_owner(managed, path, deployment(3)) == owner


def test_a_kubectl_edit_of_replicas_is_explained() -> None:
    live = deployment(3, managed=[
        entry(OURS, {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {}}, operation="Apply"),
        entry("kubectl-edit", {"f:spec": {"f:replicas": {}}}, "2026-01-02T00:00:00Z")])
    drift = explain(live, deployment(1), subject="Deployment/apps/web")
    assert drift == ObjectDrift("Deployment/apps/web", (
        FieldDrift("spec.replicas", "3", "1", "kubectl-edit"),))
    assert drift.by_others(OURS)
    assert str(drift.fields[0]) == "spec.replicas: 3 -> 1 (by kubectl-edit)"


def test_a_manifest_change_is_not_drift() -> None:
    live = deployment(3, managed=[entry(OURS, {"f:spec": {"f:replicas": {}}}, operation="Apply")])
    assert not explain(live, deployment(1), subject="d").by_others(OURS)
    # a field the manifest adds has no writer yet: not drift either
    assert not explain(deployment(3), {**deployment(3), "extra": 1},
                       subject="d").by_others(OURS)


def test_status_and_metadata_other_than_labels_and_annotations_never_count() -> None:
    live = deployment(1)
    live["status"] = {"replicas": 9}
    live["metadata"]["resourceVersion"] = "99"
    assert explain(live, deployment(1), subject="d").fields == ()


def test_a_removed_label_is_reported_without_a_writer() -> None:
    drift = explain(deployment(1, labels={"app": "web"}),
                    deployment(1, labels={"app": "web", "team": "a"}), subject="d")
    assert drift.fields == (FieldDrift("metadata.labels.team", None, '"a"', None),)
    assert str(drift.fields[0]) == 'metadata.labels.team: (absent) -> "a"'


def secret(value: str, manager: str = "kubectl-edit") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "namespace": "apps", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"data": value})},
                "managedFields": [entry(manager, {"f:data": {"f:token": {}}})]},
            "data": {"token": value}, "stringData": {"plain": value}}


def test_secret_values_are_masked() -> None:
    drift = explain(secret("c2VjcmV0"), secret("b3RoZXI="), subject="Secret/apps/s")
    assert {f.path for f in drift.fields} == {
        "data.token", "stringData.plain",
        'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]'}
    for f in drift.fields:
        assert (f.live, f.applied) == (MASK, MASK)
    text = drift_message([drift]) + encode([drift])
    assert "c2VjcmV0" not in text and "b3RoZXI=" not in text and "secret" not in text
    assert drift.fields[0].manager == "kubectl-edit"


def test_a_configmap_value_is_not_masked() -> None:
    live = {"kind": "ConfigMap", "metadata": {}, "data": {"k": "by hand"}}
    drift = explain(live, {"kind": "ConfigMap", "metadata": {}, "data": {"k": "v"}},
                    subject="c")
    assert drift.fields == (FieldDrift("data.k", '"by hand"', '"v"', None),)


def test_values_and_fields_are_bounded() -> None:
    live = {"kind": "ConfigMap", "data": {f"k{i:02}": "x" * 500 for i in range(30)}}
    applied = {"kind": "ConfigMap", "data": {f"k{i:02}": "y" for i in range(30)}}
    drift = explain(live, applied, subject="c", max_fields=5, value_limit=20)
    assert len(drift.fields) == 5 and drift.more == 25
    assert all(len(f.live or "") <= 20 for f in drift.fields)
    assert drift.fields[0].live.endswith("...")
    assert drift.lines()[-1] == "  ... and 25 more field(s)"


def test_the_message_is_cut_at_a_line() -> None:
    drifts = [ObjectDrift(f"ConfigMap/a/c{i}", (FieldDrift("data.k", '"a"', '"b"', "m"),))
              for i in range(200)]
    message = drift_message(drifts, limit=500)
    assert len(message) <= 500
    assert message.startswith("drift corrected:\nConfigMap/a/c0:\n")
    assert message.splitlines()[-1].endswith("more line(s)")


def test_encode_decode_round_trip_and_bound() -> None:
    drifts = [ObjectDrift(f"ConfigMap/a/c{i}", (FieldDrift("data.k", '"a"', None, "m"),), 2)
              for i in range(50)]
    assert decode(encode(drifts)) == drifts
    small = encode(drifts, max_bytes=400)
    assert len(small) <= 400
    kept = decode(small)
    assert kept == drifts[:len(kept)] and 0 < len(kept) < 50
    assert json.loads(small)[-1] == {"truncated": 50 - len(kept)}


@pytest.mark.parametrize("text", [None, "", "not json", "{}", '[1, "x", {"no": "object"}]'])
def test_decode_of_anything_else_is_nothing(text: str | None) -> None:
    assert decode(text) == []
