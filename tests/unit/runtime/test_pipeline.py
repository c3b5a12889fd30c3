"""The pipeline against an in-memory KubeClient: phases, summary, one status patch,
finalizer, events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from afflux.controllers.runtime import (
    Environment,
    EventRecorder,
    GenericError,
    ObjectRef,
    Options,
    OutcomeKind,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    Resource,
    StallingError,
    WaitingError,
    get_condition,
)
from afflux.controllers.runtime._kube import ApiError
from afflux.controllers.runtime._pipeline import new_generation_message, progress_status

from .fakes import FakeKube

WIDGET = Resource("test.afflux.dev", "v1", "Widget", "widgets")
REF = ObjectRef(WIDGET, "ns", "w")
START = datetime(2024, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_env(kube: FakeKube, clock: Clock | None = None) -> Environment:
    clock = clock or Clock()
    return Environment(kube=kube, recorder=EventRecorder(kube, "widget-controller",
                                                         instance="test", now=clock),
                       options=Options(name="widget-controller"), now=clock)


def new_widget(kube: FakeKube, **meta: Any) -> dict[str, Any]:
    return kube.put(WIDGET, {"metadata": {"name": "w", "namespace": "ns", **meta},
                             "spec": {"interval": "1m"}})


async def fetch(ctx: ReconcileContext[Any]) -> PhaseResult | None:
    ctx.conditions.mark_true("ArtifactInStorage", "Succeeded", "stored")
    ctx.status["artifact"] = {"revision": "main@sha1:abc"}
    ctx.set_ready("Succeeded", "stored artifact for revision 'main@sha1:abc'")
    return None


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def events(kube: FakeKube) -> list[dict[str, Any]]:
    return [c[2] for c in kube.calls if c[0] == "create" and c[1].endswith("/events")]


def test_success_adds_finalizer_and_writes_progress_then_one_status_patch() -> None:
    kube = FakeKube()
    result = run(Reconciler(WIDGET, [fetch]).reconcile(new_widget(kube), make_env(kube)))
    assert result.kind is OutcomeKind.SUCCESS and result.status_written
    progress, final = kube.status_patches()  # a new generation: progress first
    assert progress["status"]["conditions"] == [
        {"type": "Ready", "status": "Unknown", "reason": "Progressing",
         "message": "processing object: new generation 0 -> 1",
         "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 1},
        {"type": "Reconciling", "status": "True", "reason": "Progressing",
         "message": "processing object: new generation 0 -> 1",
         "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 1}]
    assert "observedGeneration" not in progress["status"]
    assert final["status"]["observedGeneration"] == 1
    obj = kube.body(REF)
    assert obj["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]
    status = obj["status"]
    assert status["observedGeneration"] == 1
    assert status["artifact"] == {"revision": "main@sha1:abc"}
    assert [c["type"] for c in status["conditions"]] == ["Ready", "ArtifactInStorage"]
    ready = get_condition(status["conditions"], "Ready")
    assert ready["status"] == "True"
    assert ready["message"] == "stored artifact for revision 'main@sha1:abc'"
    assert events(kube) == []


def test_unchanged_second_run_writes_no_status() -> None:
    kube = FakeKube()
    reconciler = Reconciler(WIDGET, [fetch])
    clock = Clock()
    run(reconciler.reconcile(new_widget(kube), make_env(kube, clock)))
    clock.advance(60)
    result = run(reconciler.reconcile(kube.body(REF), make_env(kube, clock)))
    assert result.kind is OutcomeKind.SUCCESS and not result.status_written
    assert len(kube.status_patches()) == 2  # the first run's progress and result only


def test_existing_finalizers_are_kept() -> None:
    kube = FakeKube()
    body = new_widget(kube, finalizers=["other.io/keep"])
    run(Reconciler(WIDGET, [fetch]).reconcile(body, make_env(kube)))
    assert kube.body(REF)["metadata"]["finalizers"] == ["other.io/keep", "finalizers.fluxcd.io"]


def test_requested_at_is_copied() -> None:
    kube = FakeKube()
    body = new_widget(kube, annotations={"reconcile.fluxcd.io/requestedAt": "2024-05-05"})
    run(Reconciler(WIDGET, [fetch]).reconcile(body, make_env(kube)))
    assert kube.body(REF)["status"]["lastHandledReconcileAt"] == "2024-05-05"


ERRORS = {
    "generic": (GenericError("GitOperationFailed", "timeout"), OutcomeKind.FAILED,
                "GitOperationFailed", True, None),
    "stalling": (StallingError("URLInvalid", "bad url"), OutcomeKind.STALLED, "URLInvalid",
                 True, 1),
    "waiting": (WaitingError("DependencyNotReady", "dep", 3.0), OutcomeKind.WAITING,
                "DependencyNotReady", False, None),
    "unexpected": (RuntimeError("bug"), OutcomeKind.FAILED, "ReconciliationFailed", True,
                   None),
}


@pytest.mark.parametrize(("error", "kind", "reason", "event", "observed"), ERRORS.values(),
                         ids=ERRORS.keys())
def test_errors(error: Exception, kind: OutcomeKind, reason: str, event: bool,
                observed: int | None) -> None:
    async def fail(ctx: ReconcileContext[Any]) -> None:
        ctx.conditions.mark_true("FetchFailed", reason, str(error))
        raise error

    kube = FakeKube()
    result = run(Reconciler(WIDGET, [fetch, fail]).reconcile(new_widget(kube), make_env(kube)))
    assert (result.kind, result.reason) == (kind, reason)
    assert len(kube.status_patches()) == 2  # progress (a new generation), then the result
    status = kube.body(REF)["status"]
    conds = status["conditions"]
    assert get_condition(conds, "Ready")["status"] == "False"
    assert get_condition(conds, "Ready")["reason"] == reason
    assert get_condition(conds, "FetchFailed")["status"] == "True"
    assert get_condition(conds, "ArtifactInStorage") is not None  # earlier phase's kept
    stalled = kind is OutcomeKind.STALLED
    assert (get_condition(conds, "Stalled") is not None) is stalled
    reconciling = get_condition(conds, "Reconciling")
    assert (reconciling is not None) is (not stalled)
    if reconciling is not None:
        assert reconciling["reason"] == "ProgressingWithRetry"
    assert status.get("observedGeneration") == observed
    recorded = events(kube)
    assert len(recorded) == (1 if event else 0)
    if event:
        assert recorded[0]["type"] == "Warning" and recorded[0]["reason"] == reason
    if kind is OutcomeKind.WAITING:
        assert result.requeue_after == 3.0


def test_recovery_clears_retry_conditions() -> None:
    calls = {"n": 0}

    async def flaky(ctx: ReconcileContext[Any]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise GenericError("GitOperationFailed", "timeout")

    kube = FakeKube()
    reconciler = Reconciler(WIDGET, [flaky, fetch])
    run(reconciler.reconcile(new_widget(kube), make_env(kube)))
    run(reconciler.reconcile(kube.body(REF), make_env(kube)))
    conds = kube.body(REF)["status"]["conditions"]
    assert [c["type"] for c in conds] == ["Ready", "ArtifactInStorage"]
    assert conds[0]["status"] == "True"


def test_stop_and_requeue_after() -> None:
    seen: list[str] = []

    async def first(ctx: ReconcileContext[Any]) -> PhaseResult:
        seen.append("first")
        return PhaseResult(requeue_after=20)

    async def second(ctx: ReconcileContext[Any]) -> PhaseResult:
        seen.append("second")
        return PhaseResult(requeue_after=5, stop=True)

    async def third(ctx: ReconcileContext[Any]) -> None:
        seen.append("third")

    kube = FakeKube()
    result = run(Reconciler(WIDGET, [first, second, third]).reconcile(new_widget(kube),
                                                                         make_env(kube)))
    assert seen == ["first", "second"]
    assert result.ok and result.requeue_after == 5


def test_phase_cannot_write_summary_fields() -> None:
    async def meddle(ctx: ReconcileContext[Any]) -> None:
        ctx.status["observedGeneration"] = 99

    kube = FakeKube()
    result = run(Reconciler(WIDGET, [meddle]).reconcile(new_widget(kube), make_env(kube)))
    assert result.kind is OutcomeKind.FAILED
    assert kube.body(REF)["status"].get("observedGeneration") is None


def test_status_write_failure_is_a_failure() -> None:
    kube = FakeKube()
    kube.fail_status_with = ApiError(500, "InternalError", "etcd is down")
    result = run(Reconciler(WIDGET, [fetch]).reconcile(new_widget(kube), make_env(kube)))
    assert result.kind is OutcomeKind.FAILED and not result.status_written


def test_parse_gives_typed_object() -> None:
    seen: list[Any] = []

    class Widget:
        def __init__(self, body: Any) -> None:
            self.name = body["metadata"]["name"]

    async def phase(ctx: ReconcileContext[Widget]) -> None:
        seen.append(ctx.obj.name)

    kube = FakeKube()
    run(Reconciler(WIDGET, [phase], parse=Widget).reconcile(new_widget(kube), make_env(kube)))
    assert seen == ["w"]


def test_finalize_runs_hook_then_removes_finalizer() -> None:
    cleaned: list[str] = []

    async def finalize(ctx: ReconcileContext[Any]) -> None:
        cleaned.append(ctx.name)

    kube = FakeKube()
    body = new_widget(kube, finalizers=["finalizers.fluxcd.io", "other.io/x"],
                      deletionTimestamp="2024-01-01T00:00:00Z")
    result = run(Reconciler(WIDGET, [fetch], finalize=finalize).finalize_object(
        body, make_env(kube)))
    assert result.ok and cleaned == ["w"]
    assert kube.body(REF)["metadata"]["finalizers"] == ["other.io/x"]
    assert kube.status_patches() == []


def test_failed_finalize_keeps_finalizer_and_records_event() -> None:
    async def finalize(ctx: ReconcileContext[Any]) -> None:
        raise GenericError("PruneFailed", "cannot delete")

    kube = FakeKube()
    body = new_widget(kube, finalizers=["finalizers.fluxcd.io"],
                      deletionTimestamp="2024-01-01T00:00:00Z")
    result = run(Reconciler(WIDGET, [fetch], finalize=finalize).finalize_object(
        body, make_env(kube)))
    assert result.kind is OutcomeKind.FAILED
    assert kube.body(REF)["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]
    assert [e["reason"] for e in events(kube)] == ["PruneFailed"]


def test_interval_and_suspend_knobs() -> None:
    reconciler = Reconciler(WIDGET, [fetch], default_interval=42)
    assert reconciler.interval({"spec": {"interval": "2m"}}) == 120
    assert reconciler.interval({"spec": {}}) == 42
    assert reconciler.interval({"spec": {"interval": "nonsense"}}) == 42
    assert reconciler.suspended({"spec": {"suspend": True}})
    assert not reconciler.suspended({"spec": {"suspend": "true"}})
    assert reconciler.retry_interval({"spec": {}}) is None


def test_stale_copy_conflict_on_finalizer_is_retried_with_a_fresh_copy() -> None:
    kube = FakeKube()
    stale = new_widget(kube)
    kube.objects[REF.path()]["metadata"]["resourceVersion"] = "changed-meanwhile"
    result = run(Reconciler(WIDGET, [fetch]).reconcile(stale, make_env(kube)))
    assert result.ok
    assert kube.body(REF)["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]


def test_progress_is_one_patch_per_run_and_the_result_follows_it() -> None:
    async def slow(ctx: ReconcileContext[Any]) -> PhaseResult | None:
        ctx.status["inventory"] = {"entries": [{"id": "ns_a__ConfigMap", "v": "v1"}]}
        assert await ctx.report_progress("Running health checks", publish=["inventory"])
        assert not await ctx.report_progress("again")  # one per run
        return None

    kube = FakeKube()
    clock = Clock()
    reconciler = Reconciler(WIDGET, [fetch, slow], report_new_generation=False)
    run(reconciler.reconcile(new_widget(kube), make_env(kube, clock)))
    clock.advance(60)
    run(reconciler.reconcile(kube.body(REF), make_env(kube, clock)))  # a no-change run
    patches = kube.status_patches()
    assert len(patches) == 4  # progress and result of each run
    first = patches[0]["status"]
    assert first["inventory"] == {"entries": [{"id": "ns_a__ConfigMap", "v": "v1"}]}
    assert "artifact" not in first and "observedGeneration" not in first
    assert [(c["type"], c["status"], c["message"]) for c in first["conditions"]] == [
        ("Ready", "Unknown", "Reconciliation in progress"),
        ("Reconciling", "True", "Running health checks"),
        ("ArtifactInStorage", "True", "stored")]
    ready = get_condition(kube.body(REF)["status"]["conditions"], "Ready")
    assert (ready["status"], ready["lastTransitionTime"]) == ("True", "2024-01-01T00:01:00Z")
    assert get_condition(kube.body(REF)["status"]["conditions"], "Reconciling") is None


def test_new_generation_keeps_a_decided_ready() -> None:
    kube = FakeKube()
    clock = Clock()
    reconciler = Reconciler(WIDGET, [fetch])
    run(reconciler.reconcile(new_widget(kube), make_env(kube, clock)))
    body = kube.body(REF)
    body["metadata"]["generation"] = 2
    kube.put(WIDGET, body)
    clock.advance(60)
    run(reconciler.reconcile(kube.body(REF), make_env(kube, clock)))
    progress = kube.status_patches()[2]["status"]
    assert [(c["type"], c["status"], c["message"]) for c in progress["conditions"]] == [
        ("Ready", "True", "stored artifact for revision 'main@sha1:abc'"),
        ("Reconciling", "True", "processing object: new generation 1 -> 2"),
        ("ArtifactInStorage", "True", "stored")]


@pytest.mark.parametrize(("meta", "status", "expected"), [
    pytest.param({"generation": 1}, {}, "processing object: new generation 0 -> 1",
                 id="new-object"),
    pytest.param({"generation": 3}, {"observedGeneration": 2},
                 "processing object: new generation 2 -> 3", id="spec-changed"),
    pytest.param({"generation": 2}, {"observedGeneration": 2}, None, id="observed"),
    pytest.param({}, {}, None, id="no-generation"),
])
def test_new_generation_message(meta: dict[str, Any], status: dict[str, Any],
                                expected: str | None) -> None:
    assert new_generation_message({"metadata": meta, "status": status}) == expected


@pytest.mark.parametrize(("written", "fields", "expected"), [
    pytest.param({"observedGeneration": 1}, {}, {"observedGeneration": 1, "conditions": []},
                 id="summary-fields-kept"),
    pytest.param({}, {"inventory": {"entries": []}},
                 {"conditions": [], "inventory": {"entries": []}}, id="published"),
    pytest.param({"inventory": {"entries": []}}, {"inventory": None}, {"conditions": []},
                 id="removed"),
])
def test_progress_status(written: dict[str, Any], fields: dict[str, Any],
                         expected: dict[str, Any]) -> None:
    assert progress_status(written, [], fields) == expected


def test_progress_status_refuses_summary_fields() -> None:
    with pytest.raises(KeyError, match="observedGeneration"):
        progress_status({}, [], {"observedGeneration": 2})


def test_a_retry_of_a_new_generation_reports_no_progress_again() -> None:
    async def wait(ctx: ReconcileContext[Any]) -> None:
        raise WaitingError("DependencyNotReady", "dep", 3.0)

    kube = FakeKube()
    reconciler = Reconciler(WIDGET, [wait])
    run(reconciler.reconcile(new_widget(kube), make_env(kube)))
    assert len(kube.status_patches()) == 2  # progress, then the waiting result
    run(reconciler.reconcile(kube.body(REF), make_env(kube)))
    assert len(kube.status_patches()) == 2  # the retry changed nothing
