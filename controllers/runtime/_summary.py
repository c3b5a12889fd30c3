"""The summary: from how a reconcile ended to Ready/Reconciling/Stalled, pure.

This is the decision table every kind shares (Flux's "summarize" step, our own words):

| outcome  | Ready                         | Reconciling                    | Stalled             | observedGeneration |
| -------- | ----------------------------- | ------------------------------ | ------------------- | ------------------ |
| success  | True, the phases' ready reason | removed                        | removed             | = generation       |
| stalled  | False, the error's reason     | removed                        | True, error's reason | = generation       |
| waiting  | False, the error's reason     | True, ProgressingWithRetry     | removed             | unchanged          |
| failed   | False, the error's reason     | True, ProgressingWithRetry     | removed             | unchanged          |

`observedGeneration` is "the last generation that reached Ready or Stalled" (Flux), so a
retrying object keeps the old value and `flux`/kstatus see it as still in progress.
`status.lastHandledReconcileAt` takes the `reconcile.fluxcd.io/requestedAt` annotation
whenever one is present, whatever the outcome.

`build_status` applies the table to the working status and `merge_patch` turns old and new
status into the one merge patch the pipeline sends (empty when nothing changed: a periodic
reconcile that changes nothing writes nothing, which keeps watch traffic down).

While a run is under way, its one progress patch (`ReconcileContext.report_progress`, see
`_pipeline`) shows `Reconciling=True` and, usually, `Ready=Unknown`; the summary then
replaces both with the run's result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from afflux.api._meta import PROGRESSING_WITH_RETRY, READY, RECONCILING, STALLED

from ._conditions import FALSE, TRUE, Condition, remove_condition, set_condition
from ._errors import OutcomeKind


@dataclass(frozen=True)
class Outcome:
    """How the phases ended: `reason`/`message` are the ready reason and message on
    success, the error's otherwise."""

    kind: OutcomeKind
    reason: str
    message: str


@dataclass(frozen=True)
class ConditionSpec:
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Summary:
    """What to do with the three summary conditions (None: remove it)."""

    ready: ConditionSpec
    reconciling: ConditionSpec | None
    stalled: ConditionSpec | None
    observe_generation: bool


def summarize(outcome: Outcome) -> Summary:
    """The decision table of this module's docstring."""
    kind, reason, message = outcome.kind, outcome.reason, outcome.message
    if kind is OutcomeKind.SUCCESS:
        return Summary(ConditionSpec(TRUE, reason, message), None, None, True)
    if kind is OutcomeKind.STALLED:
        failed = ConditionSpec(FALSE, reason, message)
        return Summary(failed, None, ConditionSpec(TRUE, reason, message), True)
    # WAITING and FAILED: retried, so still reconciling
    return Summary(
        ConditionSpec(FALSE, reason, message),
        ConditionSpec(TRUE, PROGRESSING_WITH_RETRY, message),
        None,
        False,
    )


def apply_summary(
    conditions: Sequence[Condition],
    summary: Summary,
    *,
    generation: int | None,
    now: datetime | str,
) -> list[Condition]:
    """`conditions` with Ready/Reconciling/Stalled set as `summary` says."""
    result = list(conditions)
    for type_, spec in ((READY, summary.ready), (RECONCILING, summary.reconciling),
                        (STALLED, summary.stalled)):
        if spec is None:
            result = remove_condition(result, type_)
        else:
            result = set_condition(
                result, type_, spec.status, spec.reason, spec.message,
                now=now, observed_generation=generation,
            )
    return result


def build_status(
    old_status: Mapping[str, Any],
    fields: Mapping[str, Any],
    conditions: Sequence[Condition],
    outcome: Outcome,
    *,
    generation: int | None,
    requested_at: str | None,
    now: datetime | str,
) -> dict[str, Any]:
    """The complete new status: the phases' fields, the summarized conditions,
    observedGeneration and lastHandledReconcileAt."""
    summary = summarize(outcome)
    status: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    status["conditions"] = apply_summary(conditions, summary, generation=generation, now=now)
    if summary.observe_generation and generation is not None:
        status["observedGeneration"] = generation
    elif "observedGeneration" in old_status:
        status["observedGeneration"] = old_status["observedGeneration"]
    if requested_at is not None:
        status["lastHandledReconcileAt"] = requested_at
    elif "lastHandledReconcileAt" in old_status:
        status["lastHandledReconcileAt"] = old_status["lastHandledReconcileAt"]
    return status


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) that turns `old` into `new` ({} if equal).

    Maps are diffed key by key (a removed key becomes null); any other changed value,
    lists included, is replaced whole.
    """
    patch: dict[str, Any] = {}
    for key in old:
        if key not in new:
            patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
            continue
        before = old[key]
        if isinstance(before, Mapping) and isinstance(value, Mapping):
            sub = merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif before != value:
            patch[key] = value
    return patch
