"""The columns `afflux get` shows per kind, as flux shows them, and the rows of a list of
objects (NAMESPACE first with -A; names as `<kind>/<name>` in `get all`). Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._format import title_bool
from ._status import get_path, is_suspended, latest_image, ready_summary, revision_of

__all__ = ["Columns", "columns_for", "source_of", "table_rows", "truncate_hex"]

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Columns:
    """Headers after NAME and how to fill them from an object."""

    headers: tuple[str, ...]
    cells: Callable[[Obj], list[str]]


_HEX = re.compile(r"\b[a-f0-9]{40,128}\b")


def truncate_hex(text: str) -> str:
    """Every hex string of 40 to 128 characters (a SHA-1 to SHA-512) cut to its first 8, as
    flux prints revisions: `main@sha1:95919c72`."""
    return _HEX.sub(lambda m: m.group(0)[:8], text)


#: Kinds whose REVISION flux shortens (not HelmChart's or HelmRelease's: they are versions).
_SHORT_REVISION = frozenset({"GitRepository", "OCIRepository", "HelmRepository", "Bucket",
                             "Kustomization"})
#: Kinds whose MESSAGE flux shortens the same way.
_SHORT_MESSAGE = _SHORT_REVISION | {"HelmChart"}


def _suspended(obj: Obj) -> str:
    return title_bool(is_suspended(obj))


def _revision_row(obj: Obj) -> list[str]:
    kind = obj.get("kind")
    revision = revision_of(obj)
    ready, message = ready_summary(obj)
    if kind in _SHORT_REVISION:
        revision = truncate_hex(revision)
    if kind in _SHORT_MESSAGE:
        message = truncate_hex(message)
    return [revision, _suspended(obj), ready, message]


def _image_repository_row(obj: Obj) -> list[str]:
    scan = get_path(obj, "status", "lastScanResult", "scanTime") or ""
    return [str(scan), _suspended(obj), *ready_summary(obj)]


def _image_policy_row(obj: Obj) -> list[str]:
    ref = get_path(obj, "status", "latestRef") or {}
    if isinstance(ref, Mapping) and ref.get("name"):
        image, tag = str(ref["name"]), str(ref.get("tag", ""))
    else:  # v1beta2's latestImage `<name>:<tag>`
        image, _, tag = latest_image(obj).rpartition(":")
        if "/" in tag:
            image, tag = latest_image(obj), ""
    return [image, tag, *ready_summary(obj)]


def _image_update_row(obj: Obj) -> list[str]:
    last_run = get_path(obj, "status", "lastAutomationRunTime") or ""
    return [str(last_run), _suspended(obj), *ready_summary(obj)]


def _suspended_ready_row(obj: Obj) -> list[str]:
    return [_suspended(obj), *ready_summary(obj)]


def _external_artifact_row(obj: Obj) -> list[str]:
    ref = get_path(obj, "spec", "sourceRef") or {}
    source = f"{ref.get('kind', '')}/{ref.get('namespace', '')}/{ref.get('name', '')}" \
        if ref else ""
    ready, message = ready_summary(obj)
    return [truncate_hex(revision_of(obj)), source, ready, truncate_hex(message)]


def _ready_row(obj: Obj) -> list[str]:
    return list(ready_summary(obj))


_REVISION = Columns(("Revision", "Suspended", "Ready", "Message"), _revision_row)

_BY_KIND: dict[str, Columns] = {
    "GitRepository": _REVISION,
    "OCIRepository": _REVISION,
    "HelmRepository": _REVISION,
    "HelmChart": _REVISION,
    "Bucket": _REVISION,
    "ExternalArtifact": Columns(("Revision", "Source", "Ready", "Message"),
                                _external_artifact_row),
    "ArtifactGenerator": Columns(("Suspended", "Ready", "Message"), _suspended_ready_row),
    "Kustomization": _REVISION,
    "HelmRelease": _REVISION,
    "ImageRepository": Columns(("Last scan", "Suspended", "Ready", "Message"),
                               _image_repository_row),
    "ImagePolicy": Columns(("Image", "Tag", "Ready", "Message"), _image_policy_row),
    "ImageUpdateAutomation": Columns(("Last run", "Suspended", "Ready", "Message"),
                                     _image_update_row),
    "Alert": Columns(("Suspended", "Ready", "Message"), _suspended_ready_row),
    "Provider": Columns(("Ready", "Message"), _ready_row),
    "Receiver": Columns(("Suspended", "Ready", "Message"), _suspended_ready_row),
}


def columns_for(kind: str) -> Columns:
    """The columns of a kind; KeyError for kinds `get` does not know."""
    return _BY_KIND[kind]


#: Kinds `get --show-source` adds a SOURCE column to.
SHOW_SOURCE_KINDS = frozenset({"Kustomization", "HelmRelease"})


def headers(kind: str, all_namespaces: bool, show_source: bool = False) -> list[str]:
    """NAMESPACE (with -A), NAME, SOURCE (with --show-source) and the kind's columns."""
    head = ["Namespace"] if all_namespaces else []
    source = ["Source"] if show_source and kind in SHOW_SOURCE_KINDS else []
    return [*head, "Name", *source, *columns_for(kind).headers]


def source_of(obj: Obj) -> str:
    """`<kind>/<namespace>/<name>` of a Kustomization's sourceRef or a HelmRelease's chartRef
    or chart source (the object's namespace when the ref has none)."""
    spec = obj.get("spec") or {}
    ref = spec.get("sourceRef") or spec.get("chartRef") or \
        get_path(spec, "chart", "spec", "sourceRef") or {}
    namespace = ref.get("namespace") or (obj.get("metadata") or {}).get("namespace", "")
    return f"{ref.get('kind', '')}/{namespace}/{ref.get('name', '')}"


def table_rows(
    objs: Iterable[Obj], *, all_namespaces: bool = False, include_kind: bool = False,
    show_source: bool = False,
) -> list[list[str]]:
    """One row per object, in the order given."""
    rows: list[list[str]] = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        kind = str(obj.get("kind"))
        name = str(meta.get("name", ""))
        if include_kind:
            name = f"{kind.lower()}/{name}"
        head = [str(meta.get("namespace", ""))] if all_namespaces else []
        source = [source_of(obj)] if show_source and kind in SHOW_SOURCE_KINDS else []
        rows.append([*head, name, *source, *columns_for(kind).cells(obj)])
    return rows


def sort_objects(objs: Sequence[Obj]) -> list[Obj]:
    """By namespace, then name (the API server's order, made explicit)."""
    return sorted(objs, key=lambda o: (
        str((o.get("metadata") or {}).get("namespace", "")),
        str((o.get("metadata") or {}).get("name", "")),
    ))
