"""Turning live objects into manifests to keep in Git (`afflux export`): no status, no
server-set metadata (uid, resourceVersion, generation, managedFields, ...), no one-off
annotations (requestedAt, kubectl's last-applied, afflux's and kopf's bookkeeping), keys in a
stable order, objects sorted by namespace and name. Durations are written as flux export
writes them, Go's `Duration.String()` (`interval: 5m` -> `5m0s`): every field whose CRD
schema has Flux's duration pattern, found by walking the kind's schema. Pure."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from afflux.api import (
    DURATION_PATTERN,
    TIMEOUT_PATTERN,
    DurationError,
    format_duration,
    kind_for,
    meta,
    parse_duration,
)
from afflux.api.crdgen import root_schema

__all__ = ["clean_for_export", "credentials_for_export", "export_order", "go_durations"]

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


_DURATION_PATTERNS = frozenset({DURATION_PATTERN, TIMEOUT_PATTERN})


def go_durations(value: Any, schema: Mapping[str, Any]) -> Any:
    """`value` with every string its `schema` (an openAPIV3Schema node) marks as a Flux
    duration rewritten the way Go prints a `metav1.Duration` (`90s` -> `1m30s`); a string that
    does not parse is left as it is."""
    if isinstance(value, str):
        if schema.get("pattern") in _DURATION_PATTERNS:
            try:
                return format_duration(parse_duration(value))
            except DurationError:
                return value
        return value
    if isinstance(value, Mapping):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {k: go_durations(v, props.get(k) or (extra if isinstance(extra, Mapping) else {}))
                for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items") or {}
        return [go_durations(v, items) for v in value]
    return value


@functools.cache
def _kind_spec_schema(group: str, kind: str) -> Mapping[str, Any]:
    try:
        cls = kind_for(group, kind)
    except KeyError:
        return {}
    return (root_schema(cls).get("properties") or {}).get("spec") or {}


def _spec_schema(api_version: Any, kind: Any) -> Mapping[str, Any]:
    """The spec schema of a Flux kind afflux serves; {} for anything else."""
    return _kind_spec_schema(str(api_version or "").rpartition("/")[0], str(kind or ""))


def clean_for_export(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object as a manifest: apiVersion, kind, metadata (name, namespace, labels,
    annotations), then spec (durations as Go prints them) and any other content such as a
    Secret's data, keys sorted."""
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
        schema = _spec_schema(obj.get("apiVersion"), obj.get("kind"))
        out["spec"] = _sorted(go_durations(obj["spec"], schema))
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
