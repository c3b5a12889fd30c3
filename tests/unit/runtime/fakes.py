"""An in-memory `KubeClient` for unit tests: stores bodies, applies merge and JSON patches,
bumps resourceVersion and generation like the API server, and records every call."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from afflux.controllers.runtime import ConflictError, NotFoundError, ObjectRef, Resource
from afflux.controllers.runtime._kube import ApiError

_versions = itertools.count(1)


def apply_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_json_patch(target: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p for p in op["path"].split("/") if p]
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if op["op"] == "test":
            value = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if value != op["value"]:
                raise ApiError(422, "Invalid", "test failed")
        elif op["op"] == "add":
            if isinstance(parent, list):
                if last == "-":
                    parent.append(op["value"])
                else:
                    parent.insert(int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        else:
            raise AssertionError(f"the fake API server applies add, replace and remove only, "
                                 f"not {op['op']!r}: the code under test sent an op it "
                                 "should not need")
    return doc


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.fail_status_with: ApiError | None = None

    def put(self, resource: Resource, body: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        meta.setdefault("generation", 1)
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta["resourceVersion"] = str(next(_versions))
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
        self.objects[resource.path(meta.get("namespace"), meta["name"])] = obj
        return copy.deepcopy(obj)

    def body(self, ref: ObjectRef) -> dict[str, Any]:
        return copy.deepcopy(self.objects[ref.path()])

    def status_patches(self) -> list[Any]:
        return [c[2] for c in self.calls if c[0] == "patch" and c[1].endswith("/status")]

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        self.calls.append(("get", ref.path(), None))
        obj = self.objects.get(ref.path())
        return copy.deepcopy(obj) if obj is not None else None

    async def list(self, resource: Resource, namespace: str | None = None, *,
                   label_selector: str | None = None) -> list[dict[str, Any]]:
        prefix = resource.collection_path(namespace) + "/"
        return [copy.deepcopy(o) for p, o in self.objects.items() if p.startswith(prefix)]

    async def create(self, resource: Resource, namespace: str | None,
                     body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", resource.collection_path(namespace), copy.deepcopy(body)))
        path = resource.path(namespace, body["metadata"]["name"])
        if path in self.objects:
            raise ConflictError(409, "AlreadyExists", path)
        return self.put(resource, body)

    async def replace(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("replace", ref.path(), copy.deepcopy(body)))
        current = self.objects.get(ref.path())
        if current is None:
            raise NotFoundError(404, "NotFound", ref.path())
        sent = body.get("metadata", {}).get("resourceVersion")
        if sent and sent != current["metadata"]["resourceVersion"]:
            raise ConflictError(409, "Conflict", ref.path())
        return self.put(ref.resource, body)

    async def patch(self, ref: ObjectRef, patch: Any, *, patch_type: str = "merge",
                    subresource: str | None = None, field_manager: str | None = None,
                    force: bool | None = None) -> dict[str, Any]:
        self.calls.append(("patch", ref.path(subresource), copy.deepcopy(patch)))
        if subresource == "status" and self.fail_status_with is not None:
            raise self.fail_status_with
        current = self.objects.get(ref.path())
        if current is None:
            raise NotFoundError(404, "NotFound", ref.path())
        if patch_type == "json":
            new = apply_json_patch(current, patch)
        else:
            sent = (patch.get("metadata") or {}).get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                raise ConflictError(409, "Conflict", ref.path())
            new = apply_merge_patch(current, patch)
        if subresource == "status":
            new = dict(current, status=new.get("status"))
        elif current.get("spec") != new.get("spec"):
            new["metadata"]["generation"] = current["metadata"]["generation"] + 1
        self.objects[ref.path()] = new
        new["metadata"]["resourceVersion"] = str(next(_versions))
        return copy.deepcopy(new)

    async def delete(self, ref: ObjectRef) -> None:
        self.calls.append(("delete", ref.path(), None))
        self.objects.pop(ref.path(), None)
