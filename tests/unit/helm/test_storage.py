"""Moving release records between namespaces (`spec.storageNamespace`)."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.helm._storage import record_copy, sync_plan


def _record(version: int, data: str = "x", status: str = "deployed") -> dict[str, Any]:
    name = f"sh.helm.release.v1.app.v{version}"
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": name, "namespace": "apps", "uid": "u", "resourceVersion": "9",
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "managedFields": [{"manager": "helm"}],
                         "labels": {"owner": "helm", "name": "app", "status": status,
                                    "version": str(version)}},
            "data": {"release": data}}


def test_a_copy_keeps_type_labels_and_data_and_drops_server_fields() -> None:
    assert record_copy(_record(3), "flux-system") == {
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": "sh.helm.release.v1.app.v3", "namespace": "flux-system",
                     "labels": {"owner": "helm", "name": "app", "status": "deployed",
                                "version": "3"}},
        "data": {"release": "x"}}


def _names(items: list[Any]) -> list[str]:
    return [(i if isinstance(i, str) else i["metadata"]["name"]).rsplit(".", 1)[1]
            for i in items]


@pytest.mark.parametrize(("source", "dest", "create", "replace", "delete"), [
    pytest.param([_record(1)], [], ["v1"], [], [], id="first-copy"),
    pytest.param([_record(1), _record(2)], [_record(1)], ["v2"], [], [], id="new-revision"),
    pytest.param([_record(1, status="superseded"), _record(2)], [_record(1), _record(2)],
                 [], ["v1"], [], id="status-label-changed"),
    pytest.param([_record(1, data="y")], [_record(1)], [], ["v1"], [], id="data-changed"),
    pytest.param([_record(2)], [_record(1), _record(2)], [], [], ["v1"], id="pruned"),
    pytest.param([], [_record(1)], [], [], ["v1"], id="uninstalled"),
    pytest.param([_record(1)], [_record(1)], [], [], [], id="in-sync"),
])
def test_sync_plan(source: list[dict[str, Any]], dest: list[dict[str, Any]], create: list[str],
                   replace: list[str], delete: list[str]) -> None:
    got = sync_plan(source, dest)
    assert (_names(got[0]), _names(got[1]), _names(got[2])) == (create, replace, delete)
