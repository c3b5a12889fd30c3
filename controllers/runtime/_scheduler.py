"""When to reconcile: a per-object scheduler fed by watch events.

kopf delivers every watch event of a kind to `Scheduler.observe`, which only records the
latest body and wakes the object's worker: at most one asyncio task per object, so an
object is never reconciled twice at the same time, while a semaphore shared by all kinds of
the operator bounds the reconciles in flight (`--concurrent`). A worker lives only while
there is something to do: when the decision is to sleep it arms a timer for the due time
(none when idle) and ends, and the timer, a new body or `trigger()` starts a worker again.
A sleeping object costs its state and a timer handle, not a task with its coroutines and
an event (memory: about 3 KiB less per object, tens of MiB at 10,000 objects).

The worker asks the pure `decide` what to do, in this order:

1. the object is gone                               -> stop the worker
2. it is being deleted and carries our finalizer    -> finalize (after a failed finalize:
                                                        once its backoff elapsed)
3. it is being deleted, without our finalizer       -> nothing (wait for it to go)
4. `spec.suspend` is true                           -> nothing (suspended)
5. it was never reconciled by this process          -> reconcile ("first")
6. `metadata.generation` changed since the last run -> reconcile ("generation")
   (or the `afflux.toolkit.fluxcd.io/depends-on` annotation did -> reconcile ("dependencies"))
7. `reconcile.fluxcd.io/requestedAt` differs from the last handled value
                                                    -> reconcile ("requested")
8. `trigger()` was called since the last run         -> reconcile ("triggered")
9. the last run stalled                             -> nothing until one of 6-8
10. the due time (interval, retry, requeue) passed  -> reconcile (its reason)
11. otherwise                                       -> sleep until the due time

and `next_delay` computes the due time after a run: success -> the interval with jitter
(or a phase's shorter `requeue_after`); stalled -> none; waiting -> the error's
`requeue_after` or `--requeue-dependency`; failed -> the kind's retry interval if it has
one (Kustomization's `spec.retryInterval`), else exponential backoff from
`--min-retry-delay` capped by `--max-retry-delay` and by the interval.

The scheduler keeps the latest body of each object (`cached_body`: without managedFields;
stored as compact JSON bytes, parsed afresh for each reader) and the kind's `DependentsIndex` (`_dependencies`),
updated by every body `observe` records and emptied of an object when it goes, so that
`dependents(...)` answers "who depends on this" without scanning every object.

Triggers that arrive during a run are not lost: the worker decides again after each run
(and again before it ends, if anything woke it meanwhile).
With leader election on, workers wait for leadership before each run (the watch and the
cache keep running, so a new leader starts warm).
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import json
import logging
import math
import random
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any, Protocol

from afflux.api._depends import DEPENDS_ON_ANNOTATION
from afflux.api._meta import FINALIZER, REQUESTED_AT_ANNOTATION

from ._dependencies import DependentsIndex
from ._duration import backoff, format_duration, jittered
from ._errors import OutcomeKind
from ._logging import object_extra
from ._metrics import Metrics, controller_name
from ._pipeline import Environment, Reconciler, ReconcileResult

_log = logging.getLogger("afflux.runtime.scheduler")

Key = tuple[str, str]  # namespace ("" for cluster-scoped), name


class Action(enum.Enum):
    RECONCILE = "reconcile"
    FINALIZE = "finalize"
    WAIT = "wait"  # until wake_at, or an event
    IDLE = "idle"  # until an event
    STOP = "stop"


@dataclass(frozen=True)
class Decision:
    action: Action
    why: str
    wake_at: float | None = None


@dataclass(slots=True)
class ObjectState:
    """What the scheduler remembers about one object (monotonic times). Its body is kept
    packed (`pack`: compact JSON, deflated; about a ninth of the memory of the parsed
    body); reading `body` parses a fresh copy, which the reader may change or keep. Slots,
    not a `__dict__`: one of these per object."""

    body: InitVar[Mapping[str, Any] | None]  # a property (below): stored in `packed`
    reconciled_generation: int | None = None
    handled_requested_at: str | None = None
    attempted: bool = False
    stalled: bool = False
    due_at: float | None = None
    due_reason: str = "interval"
    failures: int = 0
    triggered: bool = False
    finalize_retry_at: float | None = None
    reconciled_depends_on: str | None = None  # the depends-on annotation of the last run
    packed: bytes | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self, body: Mapping[str, Any] | None) -> None:
        self.packed = pack(body)


def pack(body: Mapping[str, Any] | None) -> bytes | None:
    """A body as compact JSON bytes deflated by zlib at its fastest level (None stays
    None). A Kustomization of 10 inventory entries: 1.8 KB of JSON, 0.6 KB packed; packing
    costs about 10 µs more, and each read (`unpack`) about 6 µs more, than the JSON alone.
    Pure."""
    if body is None:
        return None
    return zlib.compress(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), 1)


def unpack(packed: bytes | None) -> dict[str, Any] | None:
    """The body `pack` packed, a fresh copy. Pure."""
    return None if packed is None else json.loads(zlib.decompress(packed))


def _get_body(state: ObjectState) -> dict[str, Any] | None:
    return unpack(state.packed)


def _set_body(state: ObjectState, body: Mapping[str, Any] | None) -> None:
    state.packed = pack(body)


ObjectState.body = property(_get_body, _set_body)  # type: ignore[assignment]


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return body.get("metadata") or {}


def cached_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the scheduler keeps of a watched body (packed by `ObjectState`): the body
    without `metadata.managedFields` (no phase reads its own object's field managers, and
    they were half of a Kustomization's body). A shallow view: the caller packs or reads
    it, never changes it. Pure."""
    if "metadata" not in body:
        return dict(body)
    meta = _meta(body)
    return {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def depends_on_annotation(body: Mapping[str, Any]) -> str | None:
    value = (_meta(body).get("annotations") or {}).get(DEPENDS_ON_ANNOTATION)
    return None if value is None else str(value)


def requested_at(body: Mapping[str, Any]) -> str | None:
    value = (_meta(body).get("annotations") or {}).get(REQUESTED_AT_ANNOTATION)
    return None if value is None else str(value)


def decide(state: ObjectState, now: float, *, suspended: bool) -> Decision:
    """The trigger rules of this module's docstring, as a pure function."""
    body = state.body
    if body is None:
        return Decision(Action.STOP, "gone")
    meta = _meta(body)
    if meta.get("deletionTimestamp"):
        if FINALIZER not in (meta.get("finalizers") or []):
            return Decision(Action.IDLE, "deleting")
        if state.finalize_retry_at is not None and now < state.finalize_retry_at:
            return Decision(Action.WAIT, "finalize retry", state.finalize_retry_at)
        return Decision(Action.FINALIZE, "deleting")
    if suspended:
        return Decision(Action.IDLE, "suspended")
    if not state.attempted:
        return Decision(Action.RECONCILE, "first")
    if meta.get("generation") != state.reconciled_generation:
        return Decision(Action.RECONCILE, "generation")
    if depends_on_annotation(body) != state.reconciled_depends_on:
        return Decision(Action.RECONCILE, "dependencies")
    req = requested_at(body)
    if req is not None and req != state.handled_requested_at:
        return Decision(Action.RECONCILE, "requested")
    if state.triggered:
        return Decision(Action.RECONCILE, "triggered")
    if state.stalled or state.due_at is None:
        return Decision(Action.IDLE, "stalled" if state.stalled else "idle")
    if now >= state.due_at:
        return Decision(Action.RECONCILE, state.due_reason)
    return Decision(Action.WAIT, state.due_reason, state.due_at)


@dataclass(frozen=True)
class Timing:
    """The scheduling flags (seconds)."""

    jitter_percent: float = 5.0
    requeue_dependency: float = 30.0
    min_retry_delay: float = 0.75
    max_retry_delay: float = 900.0


def next_delay(
    kind: OutcomeKind,
    *,
    failures: int,
    interval: float,
    timing: Timing,
    requeue_after: float | None = None,
    retry_interval: float | None = None,
    rng: random.Random | None = None,
) -> tuple[float | None, str]:
    """Seconds until the next run after a run ended with `kind` (None: not until a
    trigger), and the reason to log. `failures` counts consecutive failures, this one
    included."""
    if kind is OutcomeKind.SUCCESS:
        delay = jittered(interval, timing.jitter_percent, rng)
        if requeue_after is not None and requeue_after < delay:
            return max(requeue_after, 0.0), "requeue"
        return delay, "interval"
    if kind is OutcomeKind.STALLED:
        return None, "stalled"
    if kind is OutcomeKind.WAITING:
        wait = timing.requeue_dependency if requeue_after is None else requeue_after
        return max(wait, 0.0), "dependency"
    if retry_interval is not None:
        return retry_interval, "retry"
    cap = min(timing.max_retry_delay, interval) if interval > 0 else timing.max_retry_delay
    return backoff(failures, base=timing.min_retry_delay, cap=max(cap, timing.min_retry_delay)), (
        "backoff"
    )


def result_label(kind: OutcomeKind, delay: float | None) -> str:
    """The `result` label of `controller_runtime_reconcile_total` for a run, as Flux's
    controllers report theirs: a failure is `error`; a run after which the object comes
    back on a timer (interval, dependency wait) is `requeue_after`; a run with nothing
    scheduled (stalled) is `success`."""
    if kind is OutcomeKind.FAILED:
        return "error"
    return "success" if delay is None else "requeue_after"


def apply_result(
    state: ObjectState,
    result: ReconcileResult,
    *,
    generation: int | None,
    requested: str | None,
    now: float,
    interval: float,
    timing: Timing,
    retry_interval: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Update `state` after a reconcile that saw `generation`/`requested`; return the
    delay until the next run (None: none scheduled)."""
    state.attempted = True
    state.reconciled_generation = generation
    if requested is not None:
        state.handled_requested_at = requested
    state.failures = state.failures + 1 if result.kind is OutcomeKind.FAILED else 0
    state.stalled = result.kind is OutcomeKind.STALLED
    delay, reason = next_delay(
        result.kind, failures=state.failures, interval=interval, timing=timing,
        requeue_after=result.requeue_after, retry_interval=retry_interval, rng=rng,
    )
    state.due_at = None if delay is None else now + delay
    state.due_reason = reason
    return delay


class LeaderGate(Protocol):
    """Leadership as the scheduler sees it."""

    @property
    def is_leader(self) -> bool: ...

    async def wait(self) -> None:
        """Return once this process leads."""
        ...


class Scheduler:
    """Schedules the reconciles of one kind (see this module's docstring)."""

    def __init__(
        self,
        reconciler: Reconciler[Any],
        env: Environment,
        *,
        semaphore: asyncio.Semaphore,
        metrics: Metrics | None = None,
        leader: LeaderGate | None = None,
        timing: Timing | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.env = env
        self.kind = reconciler.resource.kind
        self.controller = controller_name(self.kind)
        self._semaphore = semaphore
        self._metrics = metrics
        self._leader = leader
        self._timing = timing or Timing(
            jitter_percent=env.options.interval_jitter_percentage,
            requeue_dependency=env.options.requeue_dependency,
            min_retry_delay=env.options.min_retry_delay,
            max_retry_delay=env.options.max_retry_delay,
        )
        self._clock = clock
        self._rng = rng or random.Random()
        self._states: dict[Key, ObjectState] = {}
        self._workers: dict[Key, asyncio.Task[None]] = {}  # only while one runs
        self._timers: dict[Key, asyncio.TimerHandle] = {}  # sleeping objects' due times
        self._dependents = DependentsIndex(self.kind)
        self._closed = False

    # --- inputs ------------------------------------------------------------------------

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Record a watch event (`ADDED`/`MODIFIED`/`DELETED`, or None from a listing)."""
        meta = _meta(body)
        key: Key = (meta.get("namespace") or "", meta.get("name") or "")
        if event_type == "DELETED":
            state = self._states.pop(key, None)
            self._cancel_timer(key)
            self._workers.pop(key, None)  # a running one sees the body gone and ends
            self._dependents.remove(key)
            if state is not None:
                state.body = None
            if self._metrics is not None:
                self._metrics.forget(self.kind, key[0], key[1])
            return
        if self._closed:
            return
        snapshot = cached_body(body)  # read by the index, the metrics, `suspended`; packed
        self._dependents.update(key, snapshot)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = ObjectState(body=snapshot)
        else:
            state.body = snapshot
        self._wake(key)
        if self._metrics is not None:
            self._metrics.record_suspend(self.kind, key[0], key[1],
                                         self.reconciler.suspended(snapshot))
            resource = self.reconciler.resource
            self._metrics.record_object(resource.group, resource.version, self.kind, snapshot)

    def trigger(self, namespace: str | None, name: str) -> bool:
        """Reconcile this object soon (even if stalled); False if it is not known.

        Call it on the operator's event loop (watch callbacks and phases run there)."""
        key: Key = (namespace or "", name)
        state = self._states.get(key)
        if state is None:
            return False
        state.triggered = True
        self._wake(key)
        return True

    # --- the cache -----------------------------------------------------------------------

    def objects(self) -> list[dict[str, Any]]:
        """Copies of the latest body of every known object."""
        return [b for b in (s.body for s in self._states.values()) if b is not None]

    def find(self, predicate: Callable[[Mapping[str, Any]], bool]) -> list[dict[str, Any]]:
        """Copies of the bodies `predicate` accepts. It sees the scheduler's own bodies (it
        must not change them); only the matches are copied, since watch callbacks call
        this for every event of a kind: copying every body each time made a start with N
        objects cost N² copies."""
        return [b for b in (s.body for s in self._states.values())
                if b is not None and predicate(b)]

    def keys_where(self, predicate: Callable[[Mapping[str, Any]], bool]) -> list[Key]:
        """The keys of the objects whose body `predicate` accepts (it must not change them):
        for a watch callback that only triggers, no copy of any body."""
        return [key for key, s in self._states.items()
                if s.packed is not None and predicate(unpack(s.packed) or {})]

    def dependents(self, kind: str, namespace: str, name: str) -> list[Key]:
        """The objects of this kind that depend on `kind` namespace/name (spec.dependsOn,
        or the depends-on annotation), from the index: no scan."""
        return self._dependents.dependents(kind, namespace, name)

    def keys(self) -> Iterable[Key]:
        return list(self._states)

    # --- workers ---------------------------------------------------------------------------

    def _wake(self, key: Key) -> None:
        """Something happened to `key`: its running worker decides again after its current
        step, or, when none runs, a worker starts (its timer, if any, is dropped)."""
        state = self._states.get(key)
        if state is None or self._closed or key in self._workers:
            return  # a running worker decides again after each step: nothing is missed
        self._cancel_timer(key)
        # a context of its own, not a copy of the caller's: `observe` runs inside kopf's
        # handler, whose context variables hold the watch event (the whole parsed body),
        # and a task or timer made there would keep it for as long as the object sleeps
        # (about 15 KiB per Kustomization)
        self._workers[key] = asyncio.create_task(
            self._work(key, state), name=f"reconcile {self.kind} {key[0]}/{key[1]}",
            context=contextvars.Context())

    def _cancel_timer(self, key: Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _sleep(self, key: Key, wake_at: float | None) -> None:
        """The worker ends; a timer wakes the object at `wake_at` (None: only an event)."""
        if wake_at is not None:
            self._timers[key] = asyncio.get_running_loop().call_later(
                max(wake_at - self._clock(), 0.0), self._timer_fired, key,
                context=contextvars.Context())  # not the worker's (`_wake`)

    def _timer_fired(self, key: Key) -> None:
        self._timers.pop(key, None)
        self._wake(key)

    async def _work(self, key: Key, state: ObjectState) -> None:
        """The object's worker: decide and run until the decision is to sleep (a timer
        then wakes it) or the object is gone; a crash in one turn (a bug: the pipeline
        turns errors into results) is logged and the worker goes on after a pause."""
        task = asyncio.current_task()
        try:
            while not self._closed:  # stopping: the run in progress was the last
                try:
                    if not await self._turn(key, state):
                        return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("scheduler turn failed", extra=object_extra(
                        self.kind, key[1], key[0]))
                    await asyncio.sleep(self._timing.max_retry_delay / 100)
        finally:
            if self._workers.get(key) is task:
                del self._workers[key]

    async def _turn(self, key: Key, state: ObjectState) -> bool:
        """One decision and its consequence; False once the worker ends (the object is
        gone, or it sleeps: a timer or an event starts a new worker)."""
        decision = self._decide(state)
        if decision.action is Action.STOP:
            return False
        if decision.action in (Action.WAIT, Action.IDLE):
            if self._states.get(key) is state and not self._closed:
                self._sleep(key, decision.wake_at)
            return False
        if self._leader is not None and not self._leader.is_leader:
            await self._leader.wait()
            return True
        metrics = self._metrics
        enqueued = metrics.enqueue(self.controller) if metrics is not None else 0.0
        async with self._semaphore:
            if metrics is not None:
                metrics.dequeue(self.controller, enqueued)
            decision = self._decide(state)  # the body may have moved on meanwhile
            if self._closed or decision.action not in (Action.RECONCILE, Action.FINALIZE):
                return True
            work = metrics.begin_work(self.controller) if metrics is not None else None
            result = "error"
            try:
                if decision.action is Action.RECONCILE:
                    result = await self._reconcile(key, state, decision)
                else:
                    result = await self._finalize(state)
            finally:
                if metrics is not None and work is not None:
                    metrics.end_work(work, result)
        return True

    def _decide(self, state: ObjectState) -> Decision:
        body = state.body
        suspended = body is not None and self.reconciler.suspended(body)
        return decide(state, self._clock(), suspended=suspended)

    async def _reconcile(self, key: Key, state: ObjectState, decision: Decision) -> str:
        """One run; returns its `result` label (`result_label`)."""
        assert state.packed is not None
        body = state.body
        assert body is not None
        state.triggered = False
        generation = _meta(body).get("generation")
        requested = requested_at(body)
        state.reconciled_depends_on = depends_on_annotation(body)
        started = self._clock()
        _log.debug("reconciling", extra=object_extra(self.kind, key[1], key[0],
                                                     trigger=decision.why))
        result = await self.reconciler.reconcile(body, self.env)
        if result.gone:  # deleted while our watch missed it: forget it as if told
            if self._states.get(key) is state:
                self.observe("DELETED", body)
            return "success"
        finished = self._clock()
        delay = apply_result(
            state, result, generation=generation, requested=requested, now=finished,
            interval=self.reconciler.interval(body), timing=self._timing,
            retry_interval=self.reconciler.retry_interval(body), rng=self._rng,
        )
        if self._metrics is not None and state.packed is not None:
            self._metrics.observe_duration(self.kind, key[0], key[1], finished - started)
            self._metrics.record_conditions(self.kind, key[0], key[1], result.conditions)
        _log.debug(
            "next reconcile %s", "not scheduled" if delay is None
            else f"in {format_duration(round(delay, 3))}",
            extra=object_extra(self.kind, key[1], key[0], outcome=result.kind.value),
        )
        return result_label(result.kind, delay)

    async def _finalize(self, state: ObjectState) -> str:
        """One finalize run; returns its `result` label."""
        assert state.packed is not None
        body = state.body
        assert body is not None
        result = await self.reconciler.finalize_object(body, self.env)
        if result.kind is OutcomeKind.SUCCESS:
            state.failures = 0
            state.finalize_retry_at = None
            body = state.body
            if body is not None:  # None: the DELETED event came in meanwhile
                # wait for the DELETED event; if other finalizers keep the object, stay idle
                meta = _meta(body)
                kept = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
                state.body = dict(body, metadata=dict(meta, finalizers=kept))
            return "success"
        state.failures += 1
        delay = backoff(state.failures, base=self._timing.min_retry_delay,
                        cap=self._timing.max_retry_delay)
        state.finalize_retry_at = self._clock() + delay
        return "error"

    # --- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Start no run any more: timers are dropped, events and triggers ignored; the
        runs in progress go on (`stop` ends them)."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    @property
    def running(self) -> int:
        """Workers still running (a run in progress, or waiting for its turn)."""
        return len(self._workers)

    async def stop(self, grace: float = 0.0) -> None:
        """`close()`, give the runs in progress up to `grace` seconds (inf: no limit) to end, then cancel
        the workers left and wait for them (a graceful shutdown: `Operator.graceful_stop`)."""
        self.close()
        workers = list(self._workers.values())
        if grace > 0 and workers:
            await asyncio.wait(workers, timeout=None if math.isinf(grace) else grace)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()


def trigger_readers(
    scheduler: Scheduler, reads: Callable[[Mapping[str, Any], str, str], bool]
) -> Callable[[str | None, Mapping[str, Any]], None]:
    """A watch callback (`Operator.watch`) for an object others read (a ConfigMap, a Secret,
    a source): trigger each object of `scheduler` whose body `reads(body, namespace, name)`
    says reads the one the event is about."""

    def callback(_event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        for key in scheduler.keys_where(lambda b: reads(b, namespace, name)):
            scheduler.trigger(*key)

    return callback
