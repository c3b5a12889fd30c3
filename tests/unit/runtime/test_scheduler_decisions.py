"""The scheduler's pure parts: what to do now, and when to run next."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from afflux.controllers.runtime import OutcomeKind, ReconcileResult, Timing
from afflux.controllers.runtime._scheduler import (
    Action,
    ObjectState,
    apply_result,
    cached_body,
    decide,
    next_delay,
    pack,
    result_label,
    unpack,
)

NOW = 1000.0
FINALIZER = "finalizers.fluxcd.io"


def body(*, generation: int = 2, requested: str | None = None, deleting: bool = False,
         finalizers: tuple[str, ...] = (FINALIZER,)) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "w", "namespace": "ns", "generation": generation,
                            "finalizers": list(finalizers)}
    if requested is not None:
        meta["annotations"] = {"reconcile.fluxcd.io/requestedAt": requested}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"interval": "1m"}}


def annotated(obj: dict[str, Any], depends_on: str) -> dict[str, Any]:
    obj["metadata"].setdefault("annotations", {})[
        "afflux.toolkit.fluxcd.io/depends-on"] = depends_on
    return obj


def seen(**changes: Any) -> ObjectState:
    """An object reconciled before at generation 2, next run due at NOW + 30."""
    state = ObjectState(body=body(), reconciled_generation=2, attempted=True,
                        due_at=NOW + 30, due_reason="interval")
    for key, value in changes.items():
        setattr(state, key, value)
    return state


CASES: dict[str, tuple[ObjectState, bool, Action, str]] = {
    "gone": (seen(body=None), False, Action.STOP, "gone"),
    "deleting-with-finalizer": (seen(body=body(deleting=True)), False, Action.FINALIZE,
                                "deleting"),
    "deleting-while-suspended": (seen(body=body(deleting=True)), True, Action.FINALIZE,
                                 "deleting"),
    "deleting-finalize-backoff": (seen(body=body(deleting=True), finalize_retry_at=NOW + 5),
                                  False, Action.WAIT, "finalize retry"),
    "deleting-finalize-retry-due": (seen(body=body(deleting=True), finalize_retry_at=NOW - 1),
                                    False, Action.FINALIZE, "deleting"),
    "deleting-without-finalizer": (seen(body=body(deleting=True, finalizers=())), False,
                                   Action.IDLE, "deleting"),
    "suspended": (seen(attempted=False), True, Action.IDLE, "suspended"),
    "suspended-with-request": (seen(body=body(requested="now")), True, Action.IDLE,
                               "suspended"),
    "first-sight": (ObjectState(body=body()), False, Action.RECONCILE, "first"),
    "generation-changed": (seen(body=body(generation=3)), False, Action.RECONCILE,
                           "generation"),
    "generation-beats-backoff": (seen(body=body(generation=3), failures=4, due_at=NOW + 600),
                                 False, Action.RECONCILE, "generation"),
    "requested": (seen(body=body(requested="t1")), False, Action.RECONCILE, "requested"),
    "requested-already-handled": (seen(body=body(requested="t1"), handled_requested_at="t1"),
                                  False, Action.WAIT, "interval"),
    "triggered": (seen(triggered=True), False, Action.RECONCILE, "triggered"),
    "stalled": (seen(stalled=True, due_at=None), False, Action.IDLE, "stalled"),
    "stalled-generation": (seen(stalled=True, due_at=None, body=body(generation=3)), False,
                           Action.RECONCILE, "generation"),
    "stalled-requested": (seen(stalled=True, due_at=None, body=body(requested="x")), False,
                          Action.RECONCILE, "requested"),
    "stalled-triggered": (seen(stalled=True, due_at=None, triggered=True), False,
                          Action.RECONCILE, "triggered"),
    "stalled-depends-on-changed": (
        seen(stalled=True, due_at=None, body=annotated(body(), "HelmRelease/ns/b")), False,
        Action.RECONCILE, "dependencies"),
    "depends-on-unchanged": (
        seen(body=annotated(body(), "HelmRelease/ns/b"), reconciled_depends_on="HelmRelease/ns/b"),
        False, Action.WAIT, "interval"),
    "depends-on-removed": (seen(reconciled_depends_on="HelmRelease/ns/b"), False,
                           Action.RECONCILE, "dependencies"),
    "interval-not-due": (seen(), False, Action.WAIT, "interval"),
    "interval-due": (seen(due_at=NOW), False, Action.RECONCILE, "interval"),
    "backoff-due": (seen(due_at=NOW - 1, due_reason="backoff"), False, Action.RECONCILE,
                    "backoff"),
    "requeue-waiting": (seen(due_at=NOW + 5, due_reason="dependency"), False, Action.WAIT,
                        "dependency"),
}


@pytest.mark.parametrize(("state", "suspended", "action", "why"), CASES.values(),
                         ids=CASES.keys())
def test_decide(state: ObjectState, suspended: bool, action: Action, why: str) -> None:
    decision = decide(state, NOW, suspended=suspended)
    assert (decision.action, decision.why) == (action, why)
    if action is Action.WAIT:
        assert decision.wake_at is not None and decision.wake_at > NOW


TIMING = Timing(jitter_percent=0, requeue_dependency=30, min_retry_delay=1, max_retry_delay=300)

DELAYS: dict[str, tuple[OutcomeKind, dict[str, Any], float | None, str]] = {
    "success-interval": (OutcomeKind.SUCCESS, {}, 60, "interval"),
    "success-requeue-sooner": (OutcomeKind.SUCCESS, {"requeue_after": 5}, 5, "requeue"),
    "success-requeue-later-ignored": (OutcomeKind.SUCCESS, {"requeue_after": 500}, 60,
                                      "interval"),
    "stalled": (OutcomeKind.STALLED, {}, None, "stalled"),
    "waiting-default": (OutcomeKind.WAITING, {}, 30, "dependency"),
    "waiting-own": (OutcomeKind.WAITING, {"requeue_after": 2}, 2, "dependency"),
    "failed-first": (OutcomeKind.FAILED, {"failures": 1}, 1, "backoff"),
    "failed-third": (OutcomeKind.FAILED, {"failures": 3}, 4, "backoff"),
    "failed-capped-by-interval": (OutcomeKind.FAILED, {"failures": 20}, 60, "backoff"),
    "failed-capped-by-max": (OutcomeKind.FAILED, {"failures": 20, "interval": 3600}, 300,
                             "backoff"),
    "failed-retry-interval": (OutcomeKind.FAILED, {"failures": 5, "retry_interval": 7}, 7,
                              "retry"),
}


@pytest.mark.parametrize(("kind", "kwargs", "delay", "reason"), DELAYS.values(),
                         ids=DELAYS.keys())
def test_next_delay(kind: OutcomeKind, kwargs: dict[str, Any], delay: float | None,
                    reason: str) -> None:
    args: dict[str, Any] = {"failures": 0, "interval": 60.0, **kwargs}
    assert next_delay(kind, timing=TIMING, **args) == (delay, reason)


def test_next_delay_success_is_jittered() -> None:
    timing = Timing(jitter_percent=10)
    rng = random.Random(1)
    delays = {next_delay(OutcomeKind.SUCCESS, failures=0, interval=100, timing=timing,
                         rng=rng)[0] for _ in range(20)}
    assert len(delays) > 1
    assert all(d is not None and 90 <= d <= 110 for d in delays)


def _result(kind: OutcomeKind, requeue_after: float | None = None) -> ReconcileResult:
    return ReconcileResult(kind, "R", "m", requeue_after)


def test_apply_result_counts_failures_and_resets_on_success() -> None:
    state = ObjectState(body=body())
    for expected in (1, 2, 4):
        delay = apply_result(state, _result(OutcomeKind.FAILED), generation=2, requested=None,
                             now=NOW, interval=60, timing=TIMING)
        assert delay == expected
    assert state.failures == 3 and state.due_reason == "backoff"
    apply_result(state, _result(OutcomeKind.SUCCESS), generation=2, requested=None, now=NOW,
                 interval=60, timing=TIMING)
    assert state.failures == 0 and state.due_at == NOW + 60


def test_apply_result_records_handled_generation_and_request() -> None:
    state = ObjectState(body=body(generation=5, requested="r1"))
    apply_result(state, _result(OutcomeKind.STALLED), generation=5, requested="r1", now=NOW,
                 interval=60, timing=TIMING)
    assert (state.reconciled_generation, state.handled_requested_at) == (5, "r1")
    assert state.stalled and state.due_at is None
    assert decide(state, NOW + 10_000, suspended=False).action is Action.IDLE
    # a later run without the annotation keeps the handled value
    apply_result(state, _result(OutcomeKind.SUCCESS), generation=5, requested=None, now=NOW,
                 interval=60, timing=TIMING)
    assert state.handled_requested_at == "r1" and not state.stalled


RESULT_LABELS = {
    "success with an interval": (OutcomeKind.SUCCESS, 600.0, "requeue_after"),
    "waiting for a dependency": (OutcomeKind.WAITING, 30.0, "requeue_after"),
    "stalled, nothing scheduled": (OutcomeKind.STALLED, None, "success"),
    "failed with backoff": (OutcomeKind.FAILED, 1.5, "error"),
}


@pytest.mark.parametrize(("kind", "delay", "label"), RESULT_LABELS.values(),
                         ids=RESULT_LABELS.keys())
def test_result_label(kind: OutcomeKind, delay: float | None, label: str) -> None:
    assert result_label(kind, delay) == label


# --- what the scheduler keeps of a body -----------------------------------------------------------

WATCHED = json.dumps({
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
    "metadata": {"name": "app", "namespace": "ns", "generation": 3,
                 "annotations": {"reconcile.fluxcd.io/requestedAt": "t1"},
                 "managedFields": [{"manager": "kustomize-controller", "operation": "Update",
                                    "fieldsV1": {"f:status": {"f:inventory": {}}}}]},
    "spec": {"interval": "5m", "dependsOn": [{"name": "base"}], "suspend": False},
    "status": {"conditions": [{"type": "Ready", "status": "True",
                               "message": "Applied revision: main@sha1:" + "a" * 40}],
               "inventory": {"entries": [{"id": "ns_cm__ConfigMap", "v": "v1"}]}},
})


def test_cached_body_drops_managed_fields_and_keeps_the_rest() -> None:
    original = json.loads(WATCHED)
    kept = cached_body(original)
    expected = json.loads(WATCHED)
    del expected["metadata"]["managedFields"]
    assert kept == expected
    assert original == json.loads(WATCHED)  # the watch's body is left as it was


def test_the_state_keeps_its_body_packed_and_hands_out_copies() -> None:
    state = ObjectState(body=cached_body(json.loads(WATCHED)))
    assert isinstance(state.packed, bytes)
    assert len(state.packed) < len(WATCHED)  # compact JSON, without managedFields
    given = state.body
    assert given is not None
    given["status"]["conditions"][0]["status"] = "False"
    given["spec"]["dependsOn"].append({"name": "other"})
    kept = state.body
    assert kept is not None and kept is not given
    assert kept["status"]["conditions"][0]["status"] == "True"
    assert kept["spec"]["dependsOn"] == [{"name": "base"}]
    state.body = None
    assert state.packed is None and state.body is None


def test_cached_body_without_metadata() -> None:
    assert cached_body({"spec": {"a": [1, {"b": None}]}}) == {"spec": {"a": [1, {"b": None}]}}


def _inventory_body(entries: int) -> dict[str, Any]:
    return {"metadata": {"namespace": "apps", "name": "app-0001"},
            "status": {"inventory": {"entries": [
                {"id": f"apps_app-0001-cm-{i:02d}__ConfigMap", "v": "v1"}
                for i in range(entries)]}}}


@pytest.mark.parametrize("body", [
    pytest.param(None, id="none-stays-none"),
    pytest.param({}, id="empty"),
    pytest.param({"spec": {"a": [1, 2.5, None, True, "é ✓"]}}, id="scalars-and-unicode"),
    pytest.param(json.loads(WATCHED), id="watched-body"),
    pytest.param(_inventory_body(100), id="inventory-of-100"),
])
def test_pack_and_unpack_give_back_an_equal_body(body: dict[str, Any] | None) -> None:
    assert unpack(pack(body)) == body


@pytest.mark.parametrize(("entries", "most"), [
    pytest.param(10, 0.5, id="10-entries-under-half-the-json"),
    pytest.param(1000, 0.1, id="1000-entries-under-a-tenth"),
])
def test_a_packed_body_is_smaller_than_its_json(entries: int, most: float) -> None:
    body = _inventory_body(entries)
    packed = pack(body)
    assert packed is not None
    assert len(packed) < most * len(json.dumps(body, separators=(",", ":")))
