"""Naming Kubernetes resources and objects, and a thin read-only view of an object body.

`Resource` names a kind (group, version, kind, plural) and builds its REST paths;
`ObjectRef` names one object of it. `KubeObject` wraps a body dict with the accessors the
runtime needs (metadata, spec, status, generation, annotations, ...). The runtime never
depends on the typed models of `afflux.api`: a reconciler can parse the body into its own
model (`Reconciler(parse=...)`) and the runtime keeps working on the dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    """A kind served by the API: `group` is "" for the core group."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        """REST path of the collection, in `namespace` or across namespaces (None)."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"

    def path(self, namespace: str | None, name: str, subresource: str | None = None) -> str:
        path = f"{self.collection_path(namespace)}/{name}"
        return f"{path}/{subresource}" if subresource else path

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


@dataclass(frozen=True)
class ObjectRef:
    """One object of a resource."""

    resource: Resource
    namespace: str | None
    name: str

    def path(self, subresource: str | None = None) -> str:
        return self.resource.path(self.namespace, self.name, subresource)

    @classmethod
    def of(cls, resource: Resource, body: Mapping[str, Any]) -> ObjectRef:
        meta = body.get("metadata") or {}
        return cls(resource, meta.get("namespace"), meta["name"])

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.resource.kind}/{where}{self.name}"


class KubeObject:
    """A read-only view of an object body (the runtime's default `ctx.obj`)."""

    __slots__ = ("body",)

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body: Mapping[str, Any] = body

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self.body.get("metadata") or {}

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.body.get("spec") or {}

    @property
    def status(self) -> Mapping[str, Any]:
        return self.body.get("status") or {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str | None:
        return self.metadata.get("namespace")

    @property
    def uid(self) -> str | None:
        return self.metadata.get("uid")

    @property
    def generation(self) -> int | None:
        return self.metadata.get("generation")

    @property
    def resource_version(self) -> str | None:
        return self.metadata.get("resourceVersion")

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def finalizers(self) -> list[str]:
        return list(self.metadata.get("finalizers") or [])

    @property
    def deletion_timestamp(self) -> str | None:
        return self.metadata.get("deletionTimestamp")

    @property
    def suspended(self) -> bool:
        return self.spec.get("suspend") is True

    def __repr__(self) -> str:
        return f"KubeObject({self.kind}/{self.namespace}/{self.name})"
