"""`afflux get ks NAME --drift`, the pure part: DriftCorrected Events back to records, and
the text printed."""

from __future__ import annotations

import json
from typing import Any

from afflux.cli._driftfmt import drift_records, render_drift


def event(reason: str, time: str, drift: Any, count: int = 1) -> dict[str, Any]:
    return {"reason": reason, "lastTimestamp": time, "count": count, "metadata": {
        "annotations": {"afflux.toolkit.fluxcd.io/drift": json.dumps(drift),
                        "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"}}}


EDIT = [{"object": "Deployment/apps/web", "fields": [
    {"path": "spec.replicas", "live": "3", "applied": "1", "manager": "kubectl-edit"},
    {"path": "metadata.labels.team", "applied": '"a"'}], "more": 2}]


def test_records_are_the_drift_events_newest_first() -> None:
    records = drift_records([
        event("DriftCorrected", "2026-01-01T10:00:00Z", EDIT),
        event("Progressing", "2026-01-01T11:00:00Z", EDIT),
        event("DriftCorrected", "2026-01-01T12:00:00Z", [], count=3),
    ])
    assert [(r["time"], r["count"]) for r in records] == [
        ("2026-01-01T12:00:00Z", 3), ("2026-01-01T10:00:00Z", 1)]
    assert records[1]["objects"] == EDIT
    assert records[1]["revision"] == "main@sha1:abc"


def test_render() -> None:
    text = render_drift("web", drift_records([
        event("DriftCorrected", "2026-01-01T10:00:00Z", EDIT, count=2)]))
    assert text == (
        "drift corrected 2026-01-01T10:00:00Z, 2 times at revision main@sha1:abc:\n"
        "  Deployment/apps/web\n"
        "    spec.replicas: 3 -> 1  by kubectl-edit\n"
        '    metadata.labels.team: (absent) -> "a"\n'
        "    ... and 2 more field(s)\n")


def test_render_nothing() -> None:
    assert render_drift("web", []).startswith("no drift corrected on Kustomization web")


def test_a_malformed_annotation_is_an_empty_record() -> None:
    bad = event("DriftCorrected", "t", None)
    bad["metadata"]["annotations"]["afflux.toolkit.fluxcd.io/drift"] = "{not json"
    assert drift_records([bad])[0]["objects"] == []
