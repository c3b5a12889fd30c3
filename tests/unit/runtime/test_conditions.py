"""Condition helpers: transition times, negative polarity, ordering, immutability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from afflux.controllers.runtime import (
    Conditions,
    format_time,
    get_condition,
    is_true,
    remove_condition,
    set_condition,
)

T0 = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
T1 = datetime(2024, 1, 1, 0, 5, 0, tzinfo=UTC)


def test_set_new_condition_has_all_fields() -> None:
    conds = set_condition([], "Ready", True, "Succeeded", "all good", now=T0,
                          observed_generation=3)
    assert conds == [{
        "type": "Ready", "status": "True", "reason": "Succeeded", "message": "all good",
        "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 3,
    }]


def test_same_status_keeps_transition_time_but_updates_the_rest() -> None:
    first = set_condition([], "Ready", False, "A", "a", now=T0, observed_generation=1)
    second = set_condition(first, "Ready", False, "B", "b", now=T1, observed_generation=2)
    cond = get_condition(second, "Ready")
    assert cond is not None
    assert cond["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    assert (cond["reason"], cond["message"], cond["observedGeneration"]) == ("B", "b", 2)


def test_status_change_moves_transition_time() -> None:
    first = set_condition([], "Ready", False, "A", "a", now=T0)
    second = set_condition(first, "Ready", True, "A", "a", now=T1)
    assert get_condition(second, "Ready")["lastTransitionTime"] == "2024-01-01T00:05:00Z"


@pytest.mark.parametrize("status", [False, "Unknown"], ids=["false", "unknown"])
def test_negative_polarity_not_true_is_removed(status: bool | str) -> None:
    conds = set_condition([], "FetchFailed", True, "GitOperationFailed", "boom", now=T0)
    assert is_true(conds, "FetchFailed")
    conds = set_condition(conds, "FetchFailed", status, "Succeeded", "ok", now=T1)
    assert get_condition(conds, "FetchFailed") is None


def test_negative_polarity_set_can_be_extended() -> None:
    conds = set_condition([], "Custom", False, "R", "m", now=T0,
                          negative_polarity=frozenset({"Custom"}))
    assert conds == []


def test_summary_conditions_come_first() -> None:
    conds = set_condition([], "ArtifactInStorage", True, "Succeeded", "x", now=T0)
    conds = set_condition(conds, "Stalled", True, "S", "s", now=T0)
    conds = set_condition(conds, "Ready", False, "S", "s", now=T0)
    conds = set_condition(conds, "FetchFailed", True, "F", "f", now=T0)
    assert [c["type"] for c in conds] == ["Ready", "Stalled", "ArtifactInStorage", "FetchFailed"]


def test_functions_do_not_mutate_input() -> None:
    original = [{"type": "Ready", "status": "False", "reason": "A", "message": "a",
                 "lastTransitionTime": "2024-01-01T00:00:00Z"}]
    snapshot = [dict(c) for c in original]
    set_condition(original, "Ready", True, "B", "b", now=T1)
    remove_condition(original, "Ready")
    assert original == snapshot


def test_invalid_status_is_rejected() -> None:
    with pytest.raises(ValueError):
        set_condition([], "Ready", "Maybe", "R", "m", now=T0)


def test_conditions_wrapper_binds_generation_and_clock() -> None:
    clock = iter([T0, T1])
    conds = Conditions([], generation=7, now=lambda: next(clock))
    conds.mark_true("ArtifactInStorage", "Succeeded", "stored")
    conds.mark_true("FetchFailed", "GitOperationFailed", "boom")
    assert conds.is_true("FetchFailed")
    conds.remove("FetchFailed")
    assert [c["type"] for c in conds] == ["ArtifactInStorage"]
    assert conds.get("ArtifactInStorage")["observedGeneration"] == 7
    assert len(conds) == 1


@pytest.mark.parametrize(("when", "text"), [
    pytest.param(datetime(2026, 12, 2, 3, 4, 5, 999999, tzinfo=UTC), "2026-12-02T03:04:05Z",
                 id="utc-seconds-truncated"),
    pytest.param(datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
                 "2025-12-31T22:30:00Z", id="other-zone-to-utc"),
    pytest.param(datetime(999, 5, 6, 7, 8, 9), "0999-05-06T07:08:09Z", id="naive-is-utc-padded"),
])
def test_format_time_is_rfc3339_utc_seconds(when: datetime, text: str) -> None:
    assert format_time(when) == text
