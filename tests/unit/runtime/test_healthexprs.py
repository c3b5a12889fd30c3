"""spec.healthCheckExprs: CEL health rules for custom resources, evaluated on objects."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.runtime import (
    HealthExprError,
    HealthStatus,
    compile_health_exprs,
    expr_group_kind,
)

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
    assert not exprs.covers("other.dev/v1", "Widget")


# (entry apiVersion, entry kind, object apiVersion, object kind, whether the entry judges it)
MATCHES = {
    "same-group-and-version": ("example.dev/v1", "Widget", "example.dev/v1", "Widget", True),
    "other-version-of-the-group": ("example.dev/v1", "Widget", "example.dev/v2beta1",
                                   "Widget", True),
    "entry-version-not-served": ("example.dev/v9", "Widget", "example.dev/v1", "Widget",
                                 True),
    "other-group": ("example.dev/v1", "Widget", "other.dev/v1", "Widget", False),
    "subdomain-is-another-group": ("example.dev/v1", "Widget", "sub.example.dev/v1",
                                   "Widget", False),
    "other-kind": ("example.dev/v1", "Widget", "example.dev/v1", "Gadget", False),
    "kind-is-case-sensitive": ("example.dev/v1", "Widget", "example.dev/v1", "widget", False),
    "core-group": ("v1", "ConfigMap", "v1", "ConfigMap", True),
    "core-group-any-version": ("v1", "ConfigMap", "v2", "ConfigMap", True),
    "core-is-not-a-named-group": ("v1", "Widget", "example.dev/v1", "Widget", False),
    "group-name-alone-is-a-version": ("example.dev", "Widget", "example.dev/v1", "Widget",
                                      False),
    "malformed-api-version-is-the-core-group": ("a/b/c", "Widget", "v1", "Widget", True),
}


@pytest.mark.parametrize(("entry_api", "entry_kind", "api", "kind", "judged"),
                         MATCHES.values(), ids=MATCHES.keys())
def test_an_entry_judges_objects_of_its_group_and_kind(
        entry_api: str, entry_kind: str, api: str, kind: str, judged: bool) -> None:
    exprs = compile_health_exprs([{"apiVersion": entry_api, "kind": entry_kind,
                                   "current": "true"}])
    obj = {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "generation": 1}}
    assert exprs.covers(api, kind) is judged
    assert (exprs(obj) is not None) is judged
    assert (expr_group_kind(entry_api, entry_kind) == expr_group_kind(api, kind)) is judged


def test_the_first_entry_of_a_group_and_kind_wins() -> None:
    exprs = compile_health_exprs([
        {"apiVersion": "example.dev/v1", "kind": "Widget", "current": "true"},
        {"apiVersion": "example.dev/v2", "kind": "Widget", "current": "false",
         "failed": "true"},
    ])
    result = exprs({**widget(), "apiVersion": "example.dev/v2"})
    assert result is not None and result.status is HealthStatus.CURRENT


def test_a_shadowed_entry_is_still_checked() -> None:
    with pytest.raises(HealthExprError, match=r"spec.healthCheckExprs\[1\]"):
        compile_health_exprs([
            {"apiVersion": "example.dev/v1", "kind": "Widget", "current": "true"},
            {"apiVersion": "example.dev/v2", "kind": "Widget", "current": "status.phase =="},
        ])


OPTIONAL = {
    "optional-field-present": ({"phase": "Ready"}, HealthStatus.CURRENT,
                               "the current expression is true"),
    "optional-field-missing-is-false-not-an-error": (
        {}, HealthStatus.IN_PROGRESS, "no expression is true yet"),
    "failed-by-optional-conditions": (
        {"conditions": [{"type": "Failed", "status": "True"}]}, HealthStatus.FAILED,
        "the failed expression is true"),
    "value-of-none-waits-with-the-error": (
        {"phase": "Ready", "migrating": True}, HealthStatus.IN_PROGRESS,
        "the inProgress expression failed to evaluate: optional.none() dereference"),
}


@pytest.mark.parametrize(("status", "health", "message"), OPTIONAL.values(),
                         ids=OPTIONAL.keys())
def test_expressions_with_optional_syntax(status: dict[str, Any], health: HealthStatus,
                                          message: str) -> None:
    exprs = compile_health_exprs([{
        "apiVersion": "example.dev/v1", "kind": "Widget",
        "inProgress": "status.?migrating.orValue(false) && status.?step.value() > 0",
        "failed": "status.?conditions.orValue([]).exists(c, c.type == 'Failed' && "
                  "c.status == 'True')",
        "current": "status.?phase.orValue('') == 'Ready'"}])
    result = exprs(widget(status))
    assert result is not None
    assert result.status is health
    assert message in result.message


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
