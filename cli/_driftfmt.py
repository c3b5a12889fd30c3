"""The pure part of `afflux get ks NAME --drift`: the DriftCorrected Events of a
Kustomization (kustomize-controller records one per apply that put back fields someone else
changed, with the explanation as JSON in its `afflux.toolkit.fluxcd.io/drift` annotation)
turned into what is printed: the newest first, each with when, how often, the revision,
and per object the paths, the value found, the value restored and who wrote it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from afflux.api._meta import DRIFT_CORRECTED
from afflux.controllers.runtime import DRIFT_ANNOTATION, decode_drift

__all__ = ["drift_records", "render_drift"]

_REVISION = "kustomize.toolkit.fluxcd.io/revision"


def _when(event: Mapping[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime")
               or (event.get("metadata") or {}).get("creationTimestamp") or "")


def drift_records(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The drift corrections in `events` (others left out), newest first, as
    {time, count, revision, objects: [ObjectDrift.to_dict()]}."""
    records = []
    for event in events:
        if event.get("reason") != DRIFT_CORRECTED:
            continue
        annotations = (event.get("metadata") or {}).get("annotations") or {}
        records.append({
            "time": _when(event),
            "count": int(event.get("count") or 1),
            "revision": str(annotations.get(_REVISION) or ""),
            "objects": [d.to_dict() for d in decode_drift(annotations.get(DRIFT_ANNOTATION))],
        })
    records.sort(key=lambda r: r["time"], reverse=True)
    return records


def render_drift(name: str, records: list[dict[str, Any]]) -> str:
    """The text `--drift` prints."""
    if not records:
        return (f"no drift corrected on Kustomization {name} (within the lifetime of its "
                "Events)\n")
    lines: list[str] = []
    for record in records:
        times = f", {record['count']} times" if record["count"] > 1 else ""
        at = f" at revision {record['revision']}" if record["revision"] else ""
        lines.append(f"drift corrected {record['time']}{times}{at}:")
        for obj in record["objects"]:
            lines.append(f"  {obj['object']}")
            for f in obj.get("fields") or ():
                by = f"  by {f['manager']}" if f.get("manager") else ""
                lines.append(f"    {f['path']}: {f.get('live', '(absent)')} -> "
                             f"{f.get('applied', '(absent)')}{by}")
            if obj.get("more"):
                lines.append(f"    ... and {obj['more']} more field(s)")
    return "\n".join(lines) + "\n"
