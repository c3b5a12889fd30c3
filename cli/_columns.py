"""The columns `afflux get` shows per kind, as flux shows them, and the rows of a list of
objects (NAMESPACE first with -A; names as `<kind>/<name>` in `get all`). Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._format import title_bool
from ._status import get_path, latest_image, ready_summary, revision_of

__all__ = ["Columns", "columns_for", "table_rows"]

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Columns:
    """Headers after NAME and how to fill them from an object."""

    headers: tuple[str, ...]
    cells: Callable[[Obj], list[str]]


def _suspended(obj: Obj) -> str:
    return title_bool(get_path(obj, "spec", "suspend"))


def _revision_row(obj: Obj) -> list[str]:
    return [revision_of(obj), _suspended(obj), *ready_summary(obj)]


def _image_repository_row(obj: Obj) -> list[str]:
    scan = get_path(obj, "status", "lastScanResult", "scanTime") or ""
    return [str(scan), _suspended(obj), *ready_summary(obj)]


def _image_policy_row(obj: Obj) -> list[str]:
    return [latest_image(obj), *ready_summary(obj)]


def _image_update_row(obj: Obj) -> list[str]:
    last_run = get_path(obj, "status", "lastAutomationRunTime") or ""
    return [str(last_run), _suspended(obj), *ready_summary(obj)]


def _suspended_ready_row(obj: Obj) -> list[str]:
    return [_suspended(obj), *ready_summary(obj)]


def _ready_row(obj: Obj) -> list[str]:
    return list(ready_summary(obj))


_REVISION = Columns(("Revision", "Suspended", "Ready", "Message"), _revision_row)

_BY_KIND: dict[str, Columns] = {
    "GitRepository": _REVISION,
    "OCIRepository": _REVISION,
    "HelmRepository": _REVISION,
    "HelmChart": _REVISION,
    "Bucket": _REVISION,
    "ExternalArtifact": _REVISION,
    "ArtifactGenerator": Columns(("Ready", "Message"), _ready_row),
    "Kustomization": _REVISION,
    "HelmRelease": _REVISION,
    "ImageRepository": Columns(("Last scan", "Suspended", "Ready", "Message"),
                               _image_repository_row),
    "ImagePolicy": Columns(("Latest image", "Ready", "Message"), _image_policy_row),
    "ImageUpdateAutomation": Columns(("Last run", "Suspended", "Ready", "Message"),
                                     _image_update_row),
    "Alert": Columns(("Suspended", "Ready", "Message"), _suspended_ready_row),
    "Provider": Columns(("Ready", "Message"), _ready_row),
    "Receiver": Columns(("Suspended", "Ready", "Message"), _suspended_ready_row),
}


def columns_for(kind: str) -> Columns:
    """The columns of a kind; KeyError for kinds `get` does not know."""
    return _BY_KIND[kind]


def headers(kind: str, all_namespaces: bool) -> list[str]:
    """NAMESPACE (with -A), NAME and the kind's columns."""
    head = ["Namespace"] if all_namespaces else []
    return [*head, "Name", *columns_for(kind).headers]


def table_rows(
    objs: Iterable[Obj], *, all_namespaces: bool = False, include_kind: bool = False
) -> list[list[str]]:
    """One row per object, in the order given."""
    rows: list[list[str]] = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        name = str(meta.get("name", ""))
        if include_kind:
            name = f"{str(obj.get('kind', '')).lower()}/{name}"
        head = [str(meta.get("namespace", ""))] if all_namespaces else []
        rows.append([*head, name, *columns_for(str(obj.get("kind"))).cells(obj)])
    return rows


def sort_objects(objs: Sequence[Obj]) -> list[Obj]:
    """By namespace, then name (the API server's order, made explicit)."""
    return sorted(objs, key=lambda o: (
        str((o.get("metadata") or {}).get("namespace", "")),
        str((o.get("metadata") or {}).get("name", "")),
    ))
