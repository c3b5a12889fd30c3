"""The table of `afflux stats`: per kind, how many objects are running, failing and
suspended, and how much artifact storage the sources use. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from afflux.api import meta

from ._format import human_bytes
from ._status import condition, get_path, is_suspended

__all__ = ["ARTIFACT_KINDS", "STATS_HEADERS", "stats_row"]

#: Kinds whose objects own an artifact in source-controller's storage.
ARTIFACT_KINDS = frozenset({"GitRepository", "OCIRepository", "HelmRepository", "HelmChart",
                            "Bucket"})
STATS_HEADERS = ["Reconcilers", "Running", "Failing", "Suspended", "Storage"]


def stats_row(kind: str, objs: Iterable[Mapping[str, Any]]) -> list[str]:
    """[kind, running, failing, suspended, storage]: suspended objects count only as
    suspended; the others are failing when their Ready condition is False, else running (not
    yet reconciled counts as running)."""
    running = failing = suspended = 0
    size = 0
    for obj in objs:
        if is_suspended(obj):
            suspended += 1
        elif (condition(obj, meta.READY) or {}).get("status") == "False":
            failing += 1
        else:
            running += 1
        value = get_path(obj, "status", "artifact", "size")
        if isinstance(value, int):
            size += value
    storage = human_bytes(size) if kind in ARTIFACT_KINDS else "-"
    return [kind, str(running), str(failing), str(suspended), storage]
