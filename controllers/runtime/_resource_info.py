"""The labels of `gotk_resource_info`: one series per Flux object, value 1.

Flux 2.x no longer exports a per-object state gauge from its controllers; its monitoring
setup has kube-state-metrics build `gotk_resource_info` from the objects with a
custom-resource-state configuration, and Flux's dashboards and alert rules query that
series. afflux's operators export the same series themselves, from the bodies their
schedulers already hold, so the dashboards work with no kube-state-metrics at all.

The label names and where each value comes from are the ones that configuration uses:
every kind gets `customresource_group`, `customresource_kind`, `customresource_version`
(as kube-state-metrics adds them), `exported_namespace`, `name`, `suspended`
(`spec.suspend`), and most kinds `ready` (the Ready condition's status); each kind adds
its own (`revision`, `source_name`, `url`, ...), listed in `KIND_LABELS`. A path that
is absent gives an empty value, which Prometheus treats as no label (kube-state-metrics
behaves the same), so `suspended` is "true" or "false" only when `spec.suspend` is set.

The namespace label is `exported_namespace` in the exposition itself: that is the name
Flux's queries use (kube-state-metrics' own `namespace` label is its Pod's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Path = tuple[str, ...]

#: A step `[type=Ready]` in a path: the list element whose `type` is `Ready`.
_READY_PATH: Path = ("status", "conditions", "[type=Ready]", "status")
_ARTIFACT_REVISION: Path = ("status", "artifact", "revision")

#: Per kind: (label, path) in the order they are printed, after the common labels.
KIND_LABELS: dict[str, tuple[tuple[str, Path], ...]] = {
    "Kustomization": (
        ("ready", _READY_PATH),
        ("revision", ("status", "lastAppliedRevision")),
        ("source_name", ("spec", "sourceRef", "name")),
    ),
    "HelmRelease": (
        ("ready", _READY_PATH),
        ("revision", ("status", "history", "0", "chartVersion")),
        ("chart_name", ("status", "history", "0", "chartName")),
        ("chart_app_version", ("status", "history", "0", "appVersion")),
        ("chart_ref_name", ("spec", "chartRef", "name")),
        ("chart_source_name", ("spec", "chart", "spec", "sourceRef", "name")),
    ),
    "GitRepository": (
        ("ready", _READY_PATH), ("revision", _ARTIFACT_REVISION), ("url", ("spec", "url")),
    ),
    "OCIRepository": (
        ("ready", _READY_PATH), ("revision", _ARTIFACT_REVISION), ("url", ("spec", "url")),
    ),
    "HelmRepository": (
        ("ready", _READY_PATH), ("revision", _ARTIFACT_REVISION), ("url", ("spec", "url")),
    ),
    "Bucket": (
        ("ready", _READY_PATH), ("revision", _ARTIFACT_REVISION),
        ("endpoint", ("spec", "endpoint")), ("bucket_name", ("spec", "bucketName")),
    ),
    "HelmChart": (
        ("ready", _READY_PATH), ("revision", _ARTIFACT_REVISION),
        ("chart_name", ("spec", "chart")), ("chart_version", ("spec", "version")),
    ),
    "Alert": (),
    "Provider": (),
    "Receiver": (("ready", _READY_PATH), ("webhook_path", ("status", "webhookPath"))),
    "ImageRepository": (("ready", _READY_PATH), ("image", ("spec", "image"))),
    "ImagePolicy": (
        ("ready", _READY_PATH), ("source_name", ("spec", "imageRepositoryRef", "name")),
    ),
    "ImageUpdateAutomation": (
        ("ready", _READY_PATH), ("source_name", ("spec", "sourceRef", "name")),
    ),
}


def lookup(body: Any, path: Sequence[str]) -> Any:
    """The value at `path` in `body` (None when a step is missing): a step is a mapping
    key, a list index, or `[key=value]` for the first list element with that field."""
    node = body
    for step in path:
        if isinstance(node, Mapping):
            node = node.get(step)
        elif isinstance(node, list):
            node = _list_step(node, step)
        else:
            return None
        if node is None:
            return None
    return node


def _list_step(items: list[Any], step: str) -> Any:
    if step.startswith("[") and step.endswith("]") and "=" in step:
        key, want = step[1:-1].split("=", 1)
        return next((i for i in items if isinstance(i, Mapping) and i.get(key) == want), None)
    if step.isdigit() and int(step) < len(items):
        return items[int(step)]
    return None


def label_value(value: Any) -> str:
    """A value as a label: booleans in lower case, scalars as text, anything else empty."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return ""


def resource_info_labels(
    group: str, version: str, kind: str, body: Mapping[str, Any]
) -> tuple[tuple[str, str], ...]:
    """The labels of the object's `gotk_resource_info` series, in print order."""
    meta = body.get("metadata") or {}
    labels: list[tuple[str, str]] = [
        ("customresource_group", group),
        ("customresource_kind", kind),
        ("customresource_version", version),
        ("exported_namespace", label_value(meta.get("namespace"))),
        ("name", label_value(meta.get("name"))),
        ("suspended", label_value(lookup(body, ("spec", "suspend")))),
    ]
    labels.extend((label, label_value(lookup(body, path)))
                  for label, path in KIND_LABELS.get(kind, ()))
    return tuple(labels)
