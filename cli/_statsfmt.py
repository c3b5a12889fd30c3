"""The table of `afflux stats`, as `flux stats` prints it: per kind (flux's thirteen, in its
order), how many objects are running, failing and suspended, and how much artifact storage
they take. Pure.

Flux's counting, kept as it is: RUNNING is every object that is not suspended (a failing one
counts as running too), FAILING every object whose Ready condition is False (suspended ones
included), SUSPENDED every `spec.suspend: true`; STORAGE sums `status.artifact.size` in IEC
units with one decimal, and is `-` when the sum is 0 (no artifacts, or a kind without any).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from afflux.api import meta

from ._status import condition, get_path, is_suspended

__all__ = ["STATS_HEADERS", "STATS_KINDS", "format_size", "stats_row"]

STATS_HEADERS = ["Reconcilers", "Running", "Failing", "Suspended", "Storage"]
#: The kinds `flux stats` counts, in its order.
STATS_KINDS = ("GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket",
               "Kustomization", "HelmRelease", "Alert", "Provider", "Receiver",
               "ImageUpdateAutomation", "ImagePolicy", "ImageRepository")


def format_size(size: int) -> str:
    """flux's formatSize: `-` for 0, `512 B`, `2.4 KiB`, `1.0 MiB`, ..."""
    if size <= 0:
        return "-"
    unit = 1024
    if size < unit:
        return f"{size} B"
    div, exp = unit, 0
    n = size // unit
    while n >= unit:
        div *= unit
        exp += 1
        n //= unit
    return f"{size / div:.1f} {'KMGTPE'[exp]}iB"


def stats_row(kind: str, objs: Iterable[Mapping[str, Any]]) -> list[str]:
    """[kind, running, failing, suspended, storage] (see the module docstring)."""
    total = failing = suspended = size = 0
    for obj in objs:
        total += 1
        if is_suspended(obj):
            suspended += 1
        if (condition(obj, meta.READY) or {}).get("status") == "False":
            failing += 1
        value = get_path(obj, "status", "artifact", "size")
        if isinstance(value, int):
            size += value
    return [kind, str(total - suspended), str(failing), str(suspended), format_size(size)]
