"""Explained drift: the field manager of a path (managedFields) and values shown safely."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.runtime import field_manager, newest_manager, shown_value

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web", "team": "x"}},
    "spec": {"replicas": 3, "template": {"spec": {"containers": [
        {"name": "sidecar", "image": "proxy:1"}, {"name": "app", "image": "app:2"}]}}},
}
MANAGED = [
    {"manager": "helm", "operation": "Update", "time": "2026-01-01T00:00:00Z",
     "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}},
                  "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                      'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}},
    {"manager": "kubectl-edit", "operation": "Update", "time": "2026-01-02T00:00:00Z",
     "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}},
                  "f:spec": {"f:replicas": {}}}},
    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
     "time": "2026-01-03T00:00:00Z", "fieldsV1": {"f:status": {"f:replicas": {}}}},
]


@pytest.mark.parametrize(("pointer", "manager"), [
    pytest.param("/spec/replicas", "kubectl-edit", id="shared-field-newest-writer"),
    pytest.param("/metadata/labels/team", "kubectl-edit", id="label-added-by-hand"),
    pytest.param("/metadata/labels/app", "helm", id="label-of-the-release"),
    pytest.param("/spec/template/spec/containers/1/image", "helm", id="list-item-by-merge-key"),
    pytest.param("/spec/template/spec/containers/0/image", None, id="item-nobody-holds"),
    pytest.param("/status/replicas", "kube-controller-manager", id="subresource-entries"),
    pytest.param("/spec/paused", None, id="absent-field"),
])
def test_field_manager(pointer: str, manager: str | None) -> None:
    assert field_manager(MANAGED, DEPLOYMENT, pointer) == manager


def test_newest_manager_leaves_out_status_writes() -> None:
    assert newest_manager(MANAGED) == "kubectl-edit"
    assert newest_manager([]) is None


@pytest.mark.parametrize(("value", "secret", "pointer", "shown"), [
    pytest.param({"b": 1, "a": "x"}, False, "/data", '{"a":"x","b":1}', id="compact-sorted"),
    pytest.param("c2VjcmV0", True, "/data/password", "(masked)", id="secret-data"),
    pytest.param("{...}", True, "/metadata/annotations/kubectl.kubernetes.io~1last-applied",
                 "(masked)", id="secret-annotation"),
    pytest.param("web", True, "/metadata/labels/app", '"web"', id="secret-label-shown"),
    pytest.param("x" * 100, False, "/data/k", '"' + "x" * 76 + "...", id="cut"),
])
def test_shown_value(value: Any, secret: bool, pointer: str, shown: str) -> None:
    assert shown_value(value, secret=secret, pointer=pointer) == shown
