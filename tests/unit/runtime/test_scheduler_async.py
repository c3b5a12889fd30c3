"""The Scheduler's wiring, in memory: watch events in, reconciles out."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from typing import Any

import pytest

from afflux.controllers.runtime import (
    Environment,
    EventRecorder,
    Metrics,
    ObjectRef,
    Options,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    Resource,
    Scheduler,
    StallingError,
    Timing,
)

from .fakes import FakeKube, apply_merge_patch

WIDGET = Resource("test.afflux.dev", "v1", "Widget", "widgets")
TIMEOUT = 5.0


async def until(check: Any, timeout: float = TIMEOUT) -> None:
    async def loop() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(loop(), timeout)


class Harness:
    def __init__(self, concurrent: int = 4) -> None:
        self.kube = FakeKube()
        self.metrics = Metrics(process=None)
        self.runs: list[tuple[str, int]] = []
        self.active = 0
        self.max_active = 0
        self.gate: asyncio.Event | None = None

        async def phase(ctx: ReconcileContext[Any]) -> PhaseResult | None:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            try:
                self.runs.append((ctx.name, ctx.generation or 0))
                if self.gate is not None:
                    await self.gate.wait()
                if ctx.obj.spec.get("mode") == "stall":
                    raise StallingError("InvalidMode", "mode stall")
                return None
            finally:
                self.active -= 1

        env = Environment(kube=self.kube, recorder=EventRecorder(self.kube, "c"),
                          options=Options(name="c"))
        self.scheduler = Scheduler(
            Reconciler(WIDGET, [phase]), env, semaphore=asyncio.Semaphore(concurrent),
            metrics=self.metrics, timing=Timing(jitter_percent=0, min_retry_delay=0.01))

    def add(self, name: str, **spec: Any) -> None:
        body = self.kube.put(WIDGET, {"metadata": {"name": name, "namespace": "ns"},
                                      "spec": {"interval": "1h", **spec}})
        self.scheduler.observe("ADDED", body)

    def update(self, name: str, patch: dict[str, Any]) -> None:
        """Change the stored object as a client would, then deliver the watch event."""
        path = ObjectRef(WIDGET, "ns", name).path()
        current = self.kube.objects[path]
        new = apply_merge_patch(current, patch)
        if new.get("spec") != current.get("spec"):
            new["metadata"]["generation"] = current["metadata"]["generation"] + 1
        self.kube.objects[path] = new
        self.scheduler.observe("MODIFIED", new)

    def redeliver(self, name: str, event: str = "MODIFIED") -> None:
        self.scheduler.observe(event, self.kube.body(ObjectRef(WIDGET, "ns", name)))

    def runs_of(self, name: str) -> int:
        return sum(1 for n, _ in self.runs if n == name)


def test_first_sight_generation_trigger_request_and_quiet_otherwise() -> None:
    async def scenario() -> None:
        h = Harness()
        h.add("a")
        await until(lambda: h.runs_of("a") == 1)
        h.redeliver("a")  # our own finalizer/status writes come back: same generation
        await asyncio.sleep(0.05)
        assert h.runs_of("a") == 1
        h.update("a", {"spec": {"interval": "2h"}})
        await until(lambda: h.runs_of("a") == 2)
        assert h.scheduler.trigger("ns", "a")
        await until(lambda: h.runs_of("a") == 3)
        h.update("a", {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "t1"}}})
        await until(lambda: h.runs_of("a") == 4)
        h.redeliver("a")  # the same request again: nothing
        await asyncio.sleep(0.05)
        assert h.runs_of("a") == 4
        assert not h.scheduler.trigger("ns", "unknown")
        assert [b["metadata"]["name"] for b in h.scheduler.find(lambda b: True)] == ["a"]
        assert h.scheduler.find(lambda b: b["metadata"]["name"] == "b") == []
        found = h.scheduler.find(lambda b: True)[0]
        found["metadata"]["name"] = "changed"  # a copy: the scheduler's body is untouched
        assert [b["metadata"]["name"] for b in h.scheduler.objects()] == ["a"]
        await h.scheduler.stop()

    asyncio.run(scenario())


def test_suspended_then_resumed() -> None:
    async def scenario() -> None:
        h = Harness()
        h.add("s", suspend=True)
        await asyncio.sleep(0.05)
        assert h.runs_of("s") == 0
        h.update("s", {"spec": {"suspend": False}})
        await until(lambda: h.runs_of("s") == 1)
        await h.scheduler.stop()

    asyncio.run(scenario())


def test_stalled_is_not_retried_until_spec_changes() -> None:
    async def scenario() -> None:
        h = Harness()
        h.add("x", mode="stall", interval="10ms")
        await until(lambda: h.runs_of("x") == 1)
        await asyncio.sleep(0.1)  # ten intervals
        assert h.runs_of("x") == 1
        h.update("x", {"spec": {"mode": "ok"}})
        await until(lambda: h.runs_of("x") >= 3)  # reconciled, then again on its interval
        await h.scheduler.stop()

    asyncio.run(scenario())


def test_a_sleeping_object_holds_a_timer_not_a_task() -> None:
    """Memory at 10,000 objects: between runs an object has no worker task, only a timer
    (none when idle); the timer starts a worker when the interval is due, and an event or
    a trigger starts one at once."""
    async def scenario() -> None:
        h = Harness()
        h.add("t", interval="100ms")
        await until(lambda: h.runs_of("t") == 1 and not h.scheduler._workers)
        assert list(h.scheduler._timers) == [("ns", "t")]
        await until(lambda: h.runs_of("t") == 2)  # the timer
        h.add("idle", mode="stall")  # stalled: neither a task nor a timer
        await until(lambda: h.runs_of("idle") == 1 and ("ns", "idle") not in h.scheduler._workers)
        assert ("ns", "idle") not in h.scheduler._timers
        assert h.scheduler.trigger("ns", "idle")
        await until(lambda: h.runs_of("idle") == 2)
        h.redeliver("t", "DELETED")
        assert ("ns", "t") not in h.scheduler._timers
        await h.scheduler.stop()
        assert not h.scheduler._timers and not h.scheduler._workers

    asyncio.run(scenario())


def test_concurrency_is_bounded_and_deleted_objects_stop() -> None:
    async def scenario() -> None:
        h = Harness(concurrent=2)
        h.gate = asyncio.Event()
        for i in range(5):
            h.add(f"o{i}")
        await until(lambda: h.active == 2)
        await asyncio.sleep(0.05)
        assert h.active == 2  # the other three wait for the semaphore
        h.gate.set()
        await until(lambda: len(h.runs) == 5)
        assert h.max_active == 2
        h.redeliver("o0", "DELETED")
        assert not h.scheduler.trigger("ns", "o0")
        assert len(h.scheduler.objects()) == 4
        await h.scheduler.stop()

    asyncio.run(scenario())


def test_deleted_event_during_finalize_ends_the_worker_quietly(
        caplog: Any) -> None:
    async def scenario() -> None:
        h = Harness()
        finalizing = asyncio.Event()
        release = asyncio.Event()

        async def finalize(ctx: ReconcileContext[Any]) -> None:
            finalizing.set()
            await release.wait()

        h.scheduler.reconciler.finalize = finalize
        h.add("d")
        await until(lambda: h.runs_of("d") == 1)
        h.update("d", {"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}})
        await asyncio.wait_for(finalizing.wait(), TIMEOUT)
        h.redeliver("d", "DELETED")
        release.set()
        await asyncio.sleep(0.05)
        assert h.scheduler.objects() == []
        await h.scheduler.stop()

    asyncio.run(scenario())
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_object_found_gone_is_forgotten() -> None:
    async def scenario() -> None:
        h = Harness()
        body = h.kube.put(WIDGET, {"metadata": {"name": "ghost", "namespace": "ns"},
                                   "spec": {"interval": "1h"}})
        del h.kube.objects[ObjectRef(WIDGET, "ns", "ghost").path()]  # a missed DELETED
        h.scheduler.observe("ADDED", body)
        await until(lambda: not h.scheduler.objects())
        assert h.runs_of("ghost") == 0
        await h.scheduler.stop()

    asyncio.run(scenario())


def test_runs_are_counted_per_controller_and_objects_exported() -> None:
    def sample(text: str, prefix: str) -> str:
        return next(x for x in text.splitlines() if x.startswith(prefix + " ")).rsplit(" ", 1)[1]

    async def scenario() -> None:
        h = Harness(concurrent=1)
        h.gate = asyncio.Event()
        h.add("ok")
        h.add("stuck", mode="stall")
        await until(lambda: h.active == 1)
        text = h.metrics.render()  # one run in flight, the other waiting for the slot
        c, q = 'controller="widget"', 'controller="widget",name="widget"'
        assert sample(text, f"controller_runtime_active_workers{{{c}}}") == "1"
        assert sample(text, f"workqueue_depth{{{q}}}") == "1"
        h.gate.set()
        await until(lambda: len(h.runs) == 2 and h.active == 0)
        await until(lambda: sample(h.metrics.render(),
                                   f"controller_runtime_active_workers{{{c}}}") == "0")
        text = h.metrics.render()
        reconciles = f"controller_runtime_reconcile_total{{{c},result="
        assert sample(text, reconciles + '"requeue_after"}') == "1"  # next run on its interval
        assert sample(text, reconciles + '"success"}') == "1"  # stalled: nothing scheduled
        assert sample(text, f"workqueue_adds_total{{{q}}}") == "2"
        assert sample(text, f"workqueue_depth{{{q}}}") == "0"
        info = [x for x in text.splitlines() if x.startswith("gotk_resource_info{")]
        assert len(info) == 2 and all('customresource_kind="Widget"' in x for x in info)
        h.kube.objects.pop(ObjectRef(WIDGET, "ns", "ok").path())
        h.scheduler.observe("DELETED", {"metadata": {"name": "ok", "namespace": "ns"}})
        assert 'name="ok"' not in h.metrics.render()
        await h.scheduler.stop()

    asyncio.run(scenario())


def test_the_index_of_dependents_follows_every_observed_body() -> None:
    async def scenario() -> None:
        h = Harness()
        h.add("app", dependsOn=[{"name": "base"}])
        h.add("web", dependsOn=[{"name": "base"}, {"name": "db", "namespace": "data"}])
        assert h.scheduler.dependents("Widget", "ns", "base") == [("ns", "app"), ("ns", "web")]
        assert h.scheduler.dependents("Widget", "data", "db") == [("ns", "web")]
        assert h.scheduler.keys_where(lambda b: len(b["spec"].get("dependsOn", [])) == 2) == [
            ("ns", "web")]
        h.update("app", {"spec": {"dependsOn": [{"name": "db", "namespace": "data"}]}})
        assert h.scheduler.dependents("Widget", "ns", "base") == [("ns", "web")]
        assert h.scheduler.dependents("Widget", "data", "db") == [("ns", "app"), ("ns", "web")]
        h.update("web", {"metadata": {"annotations": {
            "afflux.toolkit.fluxcd.io/depends-on": "HelmRelease/cache"}}})
        assert h.scheduler.dependents("HelmRelease", "ns", "cache") == [("ns", "web")]
        body = h.kube.objects.pop(ObjectRef(WIDGET, "ns", "web").path())
        h.scheduler.observe("DELETED", body)
        assert h.scheduler.dependents("Widget", "ns", "base") == []
        assert h.scheduler.dependents("Widget", "data", "db") == [("ns", "app")]
        assert h.scheduler.dependents("HelmRelease", "ns", "cache") == []
        await h.scheduler.stop()

    asyncio.run(scenario())


def test_a_graceful_stop_lets_the_runs_in_progress_end_and_starts_none() -> None:
    """`stop(grace)`: a run in progress that ends within the grace ends normally (its
    status written); an object waiting for a free slot, or triggered meanwhile, is not
    run."""
    async def scenario() -> None:
        h = Harness(concurrent=1)
        h.gate = asyncio.Event()
        h.add("a")
        h.add("b")  # waits for the one slot
        await until(lambda: h.active == 1)
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, h.gate.set)  # the run ends 0.2s into the stop
        started = loop.time()
        await h.scheduler.stop(grace=5.0)
        assert 0.15 < loop.time() - started < 2.0
        assert [name for name, _ in h.runs] == ["a"]
        assert h.kube.body(ObjectRef(WIDGET, "ns", "a"))["status"]["conditions"]
        assert not h.scheduler.trigger("ns", "a") or h.runs_of("a") == 1
        assert h.scheduler.running == 0

    asyncio.run(scenario())


def test_a_graceful_stop_cancels_what_outlasts_the_grace() -> None:
    async def scenario() -> None:
        h = Harness()
        h.gate = asyncio.Event()  # never set: the run would go on for ever
        h.add("slow")
        await until(lambda: h.active == 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await h.scheduler.stop(grace=0.3)
        assert 0.25 < loop.time() - started < 2.0
        assert h.active == 0  # cancelled
        assert h.scheduler.running == 0

    asyncio.run(scenario())


def test_trigger_readers_triggers_only_the_objects_that_read_the_one_changed() -> None:
    from afflux.controllers.runtime import trigger_readers

    def reads(body: Any, namespace: str, name: str) -> bool:
        return (body["metadata"]["namespace"] == namespace
                and body["spec"].get("configRef") == name)

    async def scenario() -> None:
        h = Harness()
        h.add("reader", configRef="vars")
        h.add("other", configRef="else")
        await until(lambda: h.runs_of("reader") == 1 and h.runs_of("other") == 1)
        callback = trigger_readers(h.scheduler, reads)
        callback("MODIFIED", {"metadata": {"namespace": "ns", "name": "vars"}})
        await until(lambda: h.runs_of("reader") == 2)
        callback("MODIFIED", {"metadata": {"namespace": "elsewhere", "name": "vars"}})
        await asyncio.sleep(0.05)
        assert (h.runs_of("reader"), h.runs_of("other")) == (2, 1)
        await h.scheduler.stop()

    asyncio.run(scenario())


class _Held:
    """Something a caller's context variable holds (kopf's: the watch event's body)."""


_EVENT: contextvars.ContextVar[_Held] = contextvars.ContextVar("event")


@pytest.mark.parametrize("woken_by", [
    pytest.param("observe", id="a-watch-event"),
    pytest.param("trigger", id="a-trigger"),
])
def test_workers_and_timers_do_not_keep_the_callers_context(woken_by: str) -> None:
    """`observe` runs inside kopf's handler, whose context variables hold the whole watch
    event: a worker task or timer made there must not copy that context, or every sleeping
    object keeps the body of the event that woke it."""

    async def go() -> None:
        h = Harness()
        h.add("w1")
        await until(lambda: h.runs == [("w1", 1)] and h.scheduler._timers)
        held = _Held()
        gone = weakref.ref(held)
        token = _EVENT.set(held)
        if woken_by == "observe":
            h.update("w1", {"spec": {"interval": "2h"}})  # a new generation: a run
        else:
            h.scheduler.trigger("ns", "w1")
        _EVENT.reset(token)
        del held
        await until(lambda: len(h.runs) == 2 and ("ns", "w1") in h.scheduler._timers)
        gc.collect()
        assert gone() is None  # neither the worker nor the timer it left holds it
        await h.scheduler.stop()

    asyncio.run(go())
