"""The report of `afflux trace`: an object, the Flux object that applied it (labels
`kustomize.toolkit.fluxcd.io/name|namespace` or `helm.toolkit.fluxcd.io/name|namespace`),
and that one's source, each a block of `Label:  value` lines separated by `---`. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from afflux.api import helm_release_name, meta

from ._format import parse_time
from ._status import condition, get_path

__all__ = [
    "HELM_NAME_LABEL",
    "HELM_NAMESPACE_LABEL",
    "flux_owner",
    "go_time",
    "helm_release_of",
    "helmchart_ref",
    "manages_release",
    "render_report",
    "section_for",
    "source_ref",
]

HELM_NAME_LABEL = meta.HELM_NAME_LABEL
HELM_NAMESPACE_LABEL = meta.HELM_NAMESPACE_LABEL
_WIDTH = 17  # "Origin Revision: "

Obj = Mapping[str, Any]
Section = list[tuple[str, str]]


def flux_owner(obj: Obj) -> tuple[str, str, str] | None:
    """(kind, name, namespace) of the Kustomization or HelmRelease that applied `obj`."""
    labels = get_path(obj, "metadata", "labels") or {}
    for kind, name_label, ns_label in (
        ("Kustomization", meta.KUSTOMIZE_NAME_LABEL, meta.KUSTOMIZE_NAMESPACE_LABEL),
        ("HelmRelease", HELM_NAME_LABEL, HELM_NAMESPACE_LABEL),
    ):
        if labels.get(name_label) and labels.get(ns_label):
            return kind, str(labels[name_label]), str(labels[ns_label])
    return None


#: The annotations Helm puts on every object of a release.
HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def helm_release_of(obj: Obj) -> tuple[str, str] | None:
    """(release name, release namespace) of the Helm release an object belongs to, from the
    annotations Helm sets on each object it installs; None for other objects."""
    notes = get_path(obj, "metadata", "annotations") or {}
    name, ns = notes.get(HELM_RELEASE_NAME), notes.get(HELM_RELEASE_NAMESPACE)
    return (str(name), str(ns)) if name and ns else None


def manages_release(hr: Obj, release: str, namespace: str) -> bool:
    """Whether the HelmRelease `hr` made the Helm release `release` in `namespace`: its latest
    history entry names it, or (no history yet) its release name and target namespace do."""
    latest = get_path(hr, "status", "history", 0)
    if isinstance(latest, Mapping) and latest.get("name"):
        return (latest.get("name"), latest.get("namespace")) == (release, namespace)
    spec = hr.get("spec") or {}
    own_ns = str(get_path(hr, "metadata", "namespace") or "")
    name = helm_release_name(str(get_path(hr, "metadata", "name") or ""),
                             spec.get("targetNamespace"), spec.get("releaseName"))
    return (name, spec.get("targetNamespace") or own_ns) == (release, namespace)


def source_ref(obj: Obj) -> tuple[str, str, str] | None:
    """(kind, name, namespace) of a Kustomization's or HelmRelease's source (a HelmRelease's
    chart source, or its chartRef)."""
    spec = obj.get("spec") or {}
    ref = spec.get("sourceRef") or spec.get("chartRef") or \
        get_path(spec, "chart", "spec", "sourceRef")
    if not isinstance(ref, Mapping) or not ref.get("kind") or not ref.get("name"):
        return None
    ns = ref.get("namespace") or get_path(obj, "metadata", "namespace") or ""
    return str(ref["kind"]), str(ref["name"]), str(ns)


def helmchart_ref(hr: Obj) -> tuple[str, str] | None:
    """(namespace, name) of the HelmChart made for a HelmRelease (`status.helmChart`)."""
    text = get_path(hr, "status", "helmChart")
    if not text or "/" not in str(text):
        return None
    ns, _, name = str(text).partition("/")
    return ns, name


def go_time(text: str) -> str:
    """An RFC 3339 timestamp as flux prints a condition's time (Go's `time.Time.String()`):
    `2024-05-01T11:00:00Z` -> `2024-05-01 11:00:00 +0000 UTC`; text that is no timestamp as
    it is."""
    when = parse_time(text)
    if when is None:
        return text
    offset = when.strftime("%z")
    zone = "UTC" if offset == "+0000" else offset
    base = when.strftime("%Y-%m-%d %H:%M:%S")
    if when.microsecond:
        base += f".{when.microsecond:06d}".rstrip("0")
    return f"{base} {offset} {zone}"


def _status_lines(obj: Obj) -> Section:
    ready = condition(obj, meta.READY)
    if ready is None:
        return [("Status", "Unknown")]
    when = go_time(str(ready.get("lastTransitionTime", "")))
    status = ready.get("status")
    if status == "True":
        text = f"Last reconciled at {when}"
    elif status == "False":
        text = f"Last reconciliation failed at {when}"
    else:
        text = "Reconciliation in progress"
    lines: Section = [("Status", text)]
    if get_path(obj, "spec", "suspend") is True:
        lines.append(("Suspended", "True"))
    lines.append(("Message", str(ready.get("message", ""))))
    return lines


def _ref_lines(ref: Mapping[str, Any] | None) -> Section:
    if not isinstance(ref, Mapping):
        return []
    for key, label in (("commit", "Commit"), ("name", "Ref"), ("semver", "Tag"),
                       ("tag", "Tag"), ("digest", "Digest"), ("branch", "Branch")):
        if ref.get(key):
            return [(label, str(ref[key]))]
    return []


def section_for(obj: Obj, *, top: bool = False, managed: bool | None = None) -> Section:
    """The lines of one object's block: the traced object itself (`top`; `managed` says
    whether a Flux object manages it when labels alone do not tell), a Kustomization, a
    HelmRelease, a HelmChart or a source."""
    kind = str(obj.get("kind", ""))
    name = str(get_path(obj, "metadata", "name") or "")
    ns = str(get_path(obj, "metadata", "namespace") or "")
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if top:
        lines: Section = [("Object", f"{kind}/{name}")]
        if ns:
            lines.append(("Namespace", ns))
        if managed is None:
            managed = flux_owner(obj) is not None
        lines.append(("Status", "Managed by Flux" if managed else "Not managed by Flux"))
        return lines
    lines = [(kind, name), ("Namespace", ns)]
    if kind == "Kustomization":
        if spec.get("targetNamespace"):
            lines.append(("Target", str(spec["targetNamespace"])))
        lines.append(("Path", str(spec.get("path", ""))))
        lines.append(("Revision", str(status.get("lastAppliedRevision", ""))))
        attempted = status.get("lastAttemptedRevision")
        if attempted and attempted != status.get("lastAppliedRevision"):
            lines.append(("Attempted", str(attempted)))
    elif kind == "HelmRelease":
        if spec.get("targetNamespace"):
            lines.append(("Target", str(spec["targetNamespace"])))
        history = status.get("history") or []
        if history:
            lines.append(("Chart", f"{history[0].get('chartName', '')}@"
                                   f"{history[0].get('chartVersion', '')}"))
        lines.append(("Revision", str(get_path(status, "history", 0, "chartVersion")
                                      or status.get("lastAttemptedRevision", ""))))
    elif kind == "HelmChart":
        lines.append(("Chart", str(spec.get("chart", ""))))
        lines.append(("Version", str(spec.get("version", "*"))))
        if get_path(status, "artifact", "revision"):
            lines.append(("Revision", str(status["artifact"]["revision"])))
    else:  # a source
        if spec.get("url"):
            lines.append(("URL", str(spec["url"])))
        if kind == "Bucket":
            lines.append(("Bucket", f"{spec.get('endpoint', '')}/{spec.get('bucketName', '')}"))
        lines.extend(_ref_lines(spec.get("ref")))
        artifact = status.get("artifact") or {}
        if artifact.get("revision"):
            lines.append(("Revision", str(artifact["revision"])))
        metadata = artifact.get("metadata") or {}
        for key, label in (("org.opencontainers.image.source", "Origin Source"),
                           ("org.opencontainers.image.revision", "Origin Revision")):
            if metadata.get(key):
                lines.append((label, str(metadata[key])))
    lines.extend(_status_lines(obj))
    return lines


def render_report(sections: Sequence[Section]) -> str:
    """The blocks, each line `Label:` padded to a common column, blocks split by `---`."""
    blocks = []
    for section in sections:
        blocks.append("\n".join(f"{(label + ':').ljust(_WIDTH)}{value}".rstrip()
                                for label, value in section))
    return "\n---\n".join(blocks) + "\n"
