"""spec.healthCheckExprs: CEL health rules for custom resources, evaluated on objects."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.runtime import HealthExprError, HealthStatus, compile_health_exprs

READY = "status.conditions.filter(e, e.type == 'Ready').all(e, e.status == 'True')"
CHECK = {
    "apiVersion": "example.dev/v1", "kind": "Widget",
    "inProgress": "has(status.phase) && status.phase == 'Provisioning'",
    "failed": "status.conditions.exists(e, e.type == 'Ready' && e.status == 'False')",
    "current": READY + " && status.conditions.size() > 0",
}


def widget(status: dict[str, Any] | None = None, *, generation: int = 1,
           deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "w", "namespace": "apps", "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-23T00:00:00Z"
    body: dict[str, Any] = {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": meta}
    if status is not None:
        body["status"] = status
    return body


def cond(status: str) -> list[dict[str, str]]:
    return [{"type": "Ready", "status": status}]


CASES = {
    "current": (widget({"conditions": cond("True")}), HealthStatus.CURRENT,
                "the current expression is true"),
    "failed": (widget({"conditions": cond("False")}), HealthStatus.FAILED,
               "the failed expression is true"),
    "in-progress-wins-over-failed": (
        widget({"phase": "Provisioning", "conditions": cond("False")}),
        HealthStatus.IN_PROGRESS, "the inProgress expression is true"),
    "none-true-is-in-progress": (widget({"conditions": []}), HealthStatus.IN_PROGRESS,
                                 "no expression is true yet"),
    "missing-field-waits": (widget({}), HealthStatus.IN_PROGRESS,
                            "the failed expression failed to evaluate"),
    "generation-not-observed-comes-first": (
        widget({"observedGeneration": 1, "conditions": cond("True")}, generation=2),
        HealthStatus.IN_PROGRESS, "generation is 2, but latest observed generation is 1"),
    "stalled-condition-comes-first": (
        widget({"conditions": [{"type": "Stalled", "status": "True", "message": "stuck"}]}),
        HealthStatus.FAILED, "stuck"),
    "deleting-is-terminating": (widget({"conditions": cond("True")}, deleting=True),
                                HealthStatus.TERMINATING, "scheduled for deletion"),
}


@pytest.mark.parametrize(("obj", "status", "message"), CASES.values(), ids=CASES.keys())
def test_health_by_expressions(obj: dict[str, Any], status: HealthStatus, message: str) -> None:
    result = compile_health_exprs([CHECK])(obj)
    assert result is not None
    assert result.status is status
    assert message in result.message


def test_other_kinds_are_left_to_kstatus() -> None:
    exprs = compile_health_exprs([CHECK])
    other = {**widget({"conditions": cond("True")}), "kind": "Gadget"}
    assert exprs(other) is None
    assert exprs.covers("example.dev/v1", "Widget")
    assert not exprs.covers("example.dev/v2", "Widget")


def test_a_non_boolean_result_waits_and_says_so() -> None:
    exprs = compile_health_exprs([{"apiVersion": "example.dev/v1", "kind": "Widget",
                                   "current": "status.phase"}])
    result = exprs(widget({"phase": "Ready"}))
    assert result is not None and result.status is HealthStatus.IN_PROGRESS
    assert "not a boolean" in result.message


BAD = {
    "unparsable-current": ({"current": "status.phase =="},
                           "spec.healthCheckExprs[0] (example.dev/v1 Widget).current: invalid "
                           "CEL expression 'status.phase =='"),
    "unparsable-failed": ({"current": "true", "failed": "&& x"},
                          "spec.healthCheckExprs[0] (example.dev/v1 Widget).failed: invalid"),
    "current-missing": ({"current": ""},
                        "spec.healthCheckExprs[0] (example.dev/v1 Widget): the current "
                        "expression is required"),
}


@pytest.mark.parametrize(("fields", "message"), BAD.values(), ids=BAD.keys())
def test_invalid_expressions_name_the_entry(fields: dict[str, str], message: str) -> None:
    with pytest.raises(HealthExprError) as caught:
        compile_health_exprs([{"apiVersion": "example.dev/v1", "kind": "Widget", **fields}])
    assert str(caught.value).startswith(message)
