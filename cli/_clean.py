"""Turning live objects into manifests to keep in Git (`afflux export`): no status, no
server-set metadata (uid, resourceVersion, generation, managedFields, ...), no one-off
annotations (requestedAt, kubectl's last-applied, afflux's and kopf's bookkeeping), keys in a
stable order, objects sorted by namespace and name. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from afflux.api import meta

__all__ = ["clean_for_export", "export_order"]

#: metadata fields kept in an export, in this order
_KEEP_METADATA = ("name", "namespace", "labels", "annotations")

#: annotations that describe a moment or a tool, not the desired state
_DROP_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    meta.REQUESTED_AT_ANNOTATION,
    meta.FORCE_AT_ANNOTATION,
    meta.RESET_AT_ANNOTATION,
    "deployment.kubernetes.io/revision",
})
_DROP_ANNOTATION_PREFIXES = (f"{meta.AFFLUX_ANNOTATION_PREFIX}/", "kopf.zalando.org/")


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _keep_annotation(key: str) -> bool:
    return key not in _DROP_ANNOTATIONS and not key.startswith(_DROP_ANNOTATION_PREFIXES)


def clean_for_export(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object as a manifest: apiVersion, kind, metadata (name, namespace, labels,
    annotations), then spec (and any other content such as a Secret's data), keys sorted."""
    src_meta = obj.get("metadata") or {}
    metadata: dict[str, Any] = {}
    for key in _KEEP_METADATA:
        value = src_meta.get(key)
        if key == "annotations" and value:
            value = {k: v for k, v in value.items() if _keep_annotation(k)}
        if value:
            metadata[key] = _sorted(value) if isinstance(value, Mapping) else value
    out: dict[str, Any] = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                           "metadata": metadata}
    skip = {"apiVersion", "kind", "metadata", "status"}
    if "spec" in obj:
        out["spec"] = _sorted(obj["spec"])
    for key in sorted(k for k in obj if k not in skip and k != "spec"):
        out[key] = _sorted(obj[key])
    return out


def export_order(objs: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Objects sorted by namespace, then name (the order `export --all` prints)."""
    return sorted(objs, key=lambda o: (
        str((o.get("metadata") or {}).get("namespace", "")),
        str((o.get("metadata") or {}).get("name", "")),
    ))


def credentials_for_export(secret: Mapping[str, Any]) -> dict[str, Any]:
    """A source's credentials Secret as `flux export --with-credentials` prints it: name,
    namespace, data and type, nothing else of the live object."""
    m = secret.get("metadata") or {}
    out: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": m.get("name", ""),
                                        "namespace": m.get("namespace", "")}}
    if secret.get("data"):
        out["data"] = dict(sorted((secret.get("data") or {}).items()))
    if secret.get("type"):
        out["type"] = secret["type"]
    return out
