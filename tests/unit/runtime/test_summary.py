"""The summary decision table and the status merge patch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from afflux.controllers.runtime import OutcomeKind
from afflux.controllers.runtime._summary import (
    ConditionSpec,
    Outcome,
    build_status,
    merge_patch,
    summarize,
)

NOW = "2024-01-01T00:00:00Z"
LATER = "2024-01-01T01:00:00Z"


@dataclass(frozen=True)
class Row:
    outcome: Outcome
    ready: tuple[str, str]
    reconciling: tuple[str, str] | None
    stalled: tuple[str, str] | None
    observe: bool


TABLE = {
    "success": Row(Outcome(OutcomeKind.SUCCESS, "Succeeded", "stored artifact"),
                   ("True", "Succeeded"), None, None, True),
    "stalled": Row(Outcome(OutcomeKind.STALLED, "InvalidURL", "bad url"),
                   ("False", "InvalidURL"), None, ("True", "InvalidURL"), True),
    "waiting": Row(Outcome(OutcomeKind.WAITING, "DependencyNotReady", "dep"),
                   ("False", "DependencyNotReady"), ("True", "ProgressingWithRetry"), None,
                   False),
    "failed": Row(Outcome(OutcomeKind.FAILED, "GitOperationFailed", "timeout"),
                  ("False", "GitOperationFailed"), ("True", "ProgressingWithRetry"), None,
                  False),
}


def _pair(spec: ConditionSpec | None) -> tuple[str, str] | None:
    return None if spec is None else (spec.status, spec.reason)


@pytest.mark.parametrize("row", TABLE.values(), ids=TABLE.keys())
def test_decision_table(row: Row) -> None:
    summary = summarize(row.outcome)
    assert _pair(summary.ready) == row.ready
    assert summary.ready.message == row.outcome.message
    assert _pair(summary.reconciling) == row.reconciling
    assert _pair(summary.stalled) == row.stalled
    assert summary.observe_generation is row.observe


def _cond(type_: str, status: str, reason: str = "R", gen: int = 1) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": "m",
            "lastTransitionTime": NOW, "observedGeneration": gen}


PREVIOUS = {
    "observedGeneration": 1,
    "lastHandledReconcileAt": "old",
    "conditions": [_cond("Ready", "False", "X"), _cond("Reconciling", "True"),
                   _cond("Stalled", "True")],
}


@pytest.mark.parametrize(
    ("kind", "types", "observed"),
    [
        (OutcomeKind.SUCCESS, ["Ready"], 2),
        (OutcomeKind.STALLED, ["Ready", "Stalled"], 2),
        (OutcomeKind.WAITING, ["Ready", "Reconciling"], 1),
        (OutcomeKind.FAILED, ["Ready", "Reconciling"], 1),
    ],
    ids=["success", "stalled", "waiting", "failed"],
)
def test_build_status_conditions_and_observed_generation(
    kind: OutcomeKind, types: list[str], observed: int
) -> None:
    status = build_status(PREVIOUS, {}, PREVIOUS["conditions"], Outcome(kind, "R2", "m2"),
                          generation=2, requested_at=None, now=LATER)
    assert [c["type"] for c in status["conditions"]] == types
    assert status["observedGeneration"] == observed
    assert all(c["observedGeneration"] == 2 for c in status["conditions"])
    assert status["lastHandledReconcileAt"] == "old"


def test_build_status_copies_requested_at_on_any_outcome() -> None:
    for kind in OutcomeKind:
        status = build_status({}, {}, [], Outcome(kind, "R", "m"), generation=1,
                              requested_at="2024-05-01T00:00:00Z", now=NOW)
        assert status["lastHandledReconcileAt"] == "2024-05-01T00:00:00Z"


def test_build_status_keeps_phase_fields_and_drops_none() -> None:
    fields = {"artifact": {"revision": "main@sha1:abc"}, "url": None}
    status = build_status({}, fields, [], Outcome(OutcomeKind.SUCCESS, "Succeeded", "ok"),
                          generation=4, requested_at=None, now=NOW)
    assert status["artifact"] == {"revision": "main@sha1:abc"}
    assert "url" not in status
    assert status["conditions"][0]["lastTransitionTime"] == NOW


def test_ready_transition_time_kept_when_status_unchanged() -> None:
    old = {"conditions": [_cond("Ready", "True", "Succeeded")]}
    status = build_status(old, {}, old["conditions"],
                          Outcome(OutcomeKind.SUCCESS, "Succeeded", "m"),
                          generation=1, requested_at=None, now=LATER)
    assert status["conditions"][0]["lastTransitionTime"] == NOW


MERGE_CASES = {
    "equal": ({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}, {}),
    "changed-scalar": ({"a": 1}, {"a": 2}, {"a": 2}),
    "removed-key": ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
    "added-key": ({}, {"a": [1]}, {"a": [1]}),
    "nested": ({"x": {"a": 1, "b": 2}}, {"x": {"a": 1, "c": 3}}, {"x": {"b": None, "c": 3}}),
    "list-replaced": ({"l": [1, 2]}, {"l": [2]}, {"l": [2]}),
    "map-to-scalar": ({"x": {"a": 1}}, {"x": 5}, {"x": 5}),
}


@pytest.mark.parametrize(("old", "new", "patch"), MERGE_CASES.values(), ids=MERGE_CASES.keys())
def test_merge_patch(old: dict[str, Any], new: dict[str, Any], patch: dict[str, Any]) -> None:
    assert merge_patch(old, new) == patch


def test_unchanged_reconcile_produces_empty_patch() -> None:
    old = build_status({}, {"artifact": {"r": 1}}, [],
                       Outcome(OutcomeKind.SUCCESS, "Succeeded", "m"),
                       generation=1, requested_at=None, now=NOW)
    again = build_status(old, {"artifact": {"r": 1}}, old["conditions"],
                         Outcome(OutcomeKind.SUCCESS, "Succeeded", "m"),
                         generation=1, requested_at=None, now=LATER)
    assert merge_patch(old, again) == {}
