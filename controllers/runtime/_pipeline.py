"""The reconcile pipeline: ordered phases, one summary, one status patch.

A kind's `Reconciler` is a list of phases sharing one signature,

    async def phase(ctx: ReconcileContext[T]) -> PhaseResult | None

run in order on a `ReconcileContext` that carries the object (`ctx.obj`, parsed by the
reconciler's `parse`, default `KubeObject`), the working status (`ctx.conditions` and
`ctx.status` for the other fields such as `artifact`), an event recorder, a logger, the
Kubernetes client and `ctx.now()`. A phase sets or removes only its own conditions; it
says how the object is ready with `ctx.set_ready(reason, message)`; it fails by raising a
typed error (`_errors`). A phase may return `PhaseResult(requeue_after=...)` to be called
again sooner than the interval, or `PhaseResult(stop=True)` to end the run early as a
success (the remaining phases have nothing to do).

After the phases, or at the first error, the summary (`_summary`) derives Ready,
Reconciling, Stalled and observedGeneration, copies requestedAt into
lastHandledReconcileAt, and the pipeline sends at most one merge patch of the status
subresource (none when nothing changed).

Progress: a run may also write one intermediate status patch, `ctx.report_progress(message)`,
that says the run is under way while it is: Reconciling=True (`Progressing`, the message),
Ready=Unknown (`Progressing`, "Reconciliation in progress", unless the caller keeps Ready),
the conditions the phases set so far, and the status fields the caller names (e.g. the
inventory, so that what a run created is visible before it waits on health checks). It never
writes observedGeneration or lastHandledReconcileAt: those say a run ended. The second call
in a run does nothing: one extra patch per run at most. Unless a reconciler says otherwise
(`report_new_generation=False`, the kind reports its own progress), a run of a new generation
(generation != status.observedGeneration) reports "processing object: new generation N -> M"
before its first phase, keeping Ready as it is unless Ready is absent or Unknown (Flux's
runtime does the same); a run of an already observed generation, or a retry of one whose
Reconciling condition already says so, writes no progress. Errors with an event in their disposition are
recorded as Warning Events, with the metadata phases put in `ctx.event_metadata`. Nothing else in afflux writes a status.

Finalizers: the first reconcile of a live object adds `finalizers.fluxcd.io` (before the
phases, so no object is ever reconciled without it); when the object is being deleted,
`finalize_object` calls the reconciler's `finalize` hook (if any) and then removes the
finalizer. Neither touches the status: the object is going away. A finalize that raises
is retried with backoff, so an object is never released before its cleanup succeeded.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from afflux.api._meta import (
    FINALIZER,
    NEGATIVE_POLARITY,
    PROGRESSING,
    READY,
    RECONCILIATION_FAILED,
    RECONCILING,
    REQUESTED_AT_ANNOTATION,
    SUCCEEDED,
)

from ._conditions import Conditions
from ._duration import parse_duration
from ._errors import OutcomeKind, disposition
from ._events import EventRecorder, ObjectEvents
from ._kube import (
    ApiError,
    ConflictError,
    KubeClient,
    NotFoundError,
    add_finalizer,
    patch_status,
)
from ._kube import remove_finalizer as _remove_finalizer
from ._logging import ObjectLogger, object_logger
from ._object import KubeObject, ObjectRef, Resource
from ._options import Options
from ._summary import Outcome, build_status, merge_patch

T = TypeVar("T")

#: status keys the summary owns; phases keep their hands off them
SUMMARY_KEYS = frozenset({"conditions", "observedGeneration", "lastHandledReconcileAt"})
DEFAULT_INTERVAL = 600.0
#: Ready's message while a run is under way (Flux's words)
IN_PROGRESS = "Reconciliation in progress"


@dataclass(frozen=True)
class PhaseResult:
    """What a phase may ask of the pipeline besides failing: requeue sooner, stop early."""

    requeue_after: float | None = None
    stop: bool = False


CONTINUE = PhaseResult()


@dataclass(frozen=True)
class ReconcileResult:
    """How one run ended, for the scheduler and the metrics."""

    kind: OutcomeKind
    reason: str
    message: str
    requeue_after: float | None = None
    conditions: tuple[Mapping[str, Any], ...] = ()
    status_written: bool = False
    gone: bool = False  # the object was not found any more (a missed DELETED event)

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.SUCCESS


class WorkingStatus(MutableMapping[str, Any]):
    """The status fields the phases own (everything but the summary's keys), as a dict."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields: dict[str, Any] = {k: v for k, v in fields.items() if k not in SUMMARY_KEYS}

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in SUMMARY_KEYS:
            raise KeyError(f"status.{key} is written by the summary, not by a phase")
        self._fields[key] = value

    def __delitem__(self, key: str) -> None:
        del self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def snapshot(self) -> dict[str, Any]:
        return dict(self._fields)


@dataclass
class Environment:
    """What a reconciler needs from the operator around it."""

    kube: KubeClient
    recorder: EventRecorder
    options: Options
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("afflux.reconcile"))


class ReconcileContext(Generic[T]):
    """Everything a phase gets: the object, the working status, events, logger, clock."""

    def __init__(
        self,
        *,
        obj: T,
        body: Mapping[str, Any],
        resource: Resource,
        env: Environment,
        logger: ObjectLogger,
        negative_polarity: frozenset[str] | set[str] = NEGATIVE_POLARITY,
        ready_reason: str = SUCCEEDED,
        ready_message: str = "reconciliation succeeded",
    ) -> None:
        self.obj = obj
        self.body = body
        self.resource = resource
        self.ref = ObjectRef.of(resource, body)
        self.kube = env.kube
        self.options = env.options
        self.logger = logger
        self.events: ObjectEvents = env.recorder.for_object(body)
        self._now = env.now
        meta = body.get("metadata") or {}
        self.generation: int | None = meta.get("generation")
        status = body.get("status") or {}
        self.conditions = Conditions(
            status.get("conditions") or [],
            generation=self.generation,
            now=self._now,
            negative_polarity=negative_polarity,
        )
        self.status = WorkingStatus(status)
        self.ready_reason = ready_reason
        self.ready_message = ready_message
        #: metadata (e.g. `revision`) for the Warning event the pipeline records on failure
        self.event_metadata: dict[str, str] = {}
        #: the status as this run last wrote it (the object's until a progress patch)
        self.written_status: dict[str, Any] = dict(status)
        self.progress_reported = False

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def namespace(self) -> str | None:
        return self.ref.namespace

    def now(self) -> datetime:
        return self._now()

    def set_ready(self, reason: str, message: str) -> None:
        """Reason and message of Ready=True if the run succeeds."""
        self.ready_reason = reason
        self.ready_message = message

    async def report_progress(self, message: str, *, ready_message: str | None = IN_PROGRESS,
                              publish: Sequence[str] = ()) -> bool:
        """Write the run's one intermediate status patch (see the module docstring):
        Reconciling=True with `message`, Ready=Unknown with `ready_message` (None keeps
        Ready), the conditions so far and the `publish`ed status fields. False when this run
        already reported (nothing written) or the write failed (logged; the run goes on)."""
        if self.progress_reported:
            return False
        self.progress_reported = True
        self.conditions.mark_true(RECONCILING, PROGRESSING, message)
        if ready_message is not None:
            self.conditions.mark_unknown(READY, PROGRESSING, ready_message)
        new = progress_status(self.written_status, self.conditions.items,
                              {key: self.status.get(key) for key in publish})
        patch = merge_patch(self.written_status, new)
        if not patch:
            return False
        try:
            await patch_status(self.kube, self.ref, patch)
        except ApiError as err:  # NotFound included: the final patch will say it again
            self.logger.warning("could not write the progress status: %s", err)
            return False
        self.written_status = new
        return True


def progress_status(written: Mapping[str, Any], conditions: Sequence[Mapping[str, Any]],
                    fields: Mapping[str, Any]) -> dict[str, Any]:
    """The status a progress patch leaves: `written` with the run's conditions and the
    published `fields` (a None value removes the field). Pure."""
    new = dict(written)
    new["conditions"] = [dict(c) for c in conditions]
    for key, value in fields.items():
        if key in SUMMARY_KEYS:
            raise KeyError(f"status.{key} is written by the summary, not by a progress report")
        if value is None:
            new.pop(key, None)
        else:
            new[key] = value
    return new


def new_generation_message(body: Mapping[str, Any]) -> str | None:
    """"processing object: new generation 1 -> 2" when the object's generation is not the
    observed one (a missing observedGeneration is 0, as in Flux); None otherwise. Pure."""
    generation = (body.get("metadata") or {}).get("generation")
    observed = (body.get("status") or {}).get("observedGeneration") or 0
    if generation is None or generation == observed:
        return None
    return f"processing object: new generation {observed} -> {generation}"


async def report_new_generation(ctx: ReconcileContext[Any]) -> bool:
    """The runtime's progress report of a run of a new generation (module docstring)."""
    message = new_generation_message(ctx.body)
    if message is None:
        return False
    reconciling = ctx.conditions.get(RECONCILING)
    if reconciling is not None and reconciling.get("status") == "True" and \
            reconciling.get("observedGeneration") == ctx.generation:
        return False  # a retry: the status already says this generation is in progress
    ready = ctx.conditions.get(READY)
    keep_ready = ready is not None and ready.get("status") in ("True", "False")
    return await ctx.report_progress(message, ready_message=None if keep_ready else message)


Phase = Callable[[ReconcileContext[Any]], Awaitable[PhaseResult | None]]
Finalize = Callable[[ReconcileContext[Any]], Awaitable[None]]


class Reconciler(Generic[T]):
    """The reconcile of one kind: phases, an optional finalize hook, and scheduling knobs.

    `interval_of`, `retry_interval_of` and `is_suspended` read the body; the defaults use
    `spec.interval` (Go duration; `default_interval` if absent or unreadable), no retry
    interval (exponential backoff), and `spec.suspend`.
    """

    def __init__(
        self,
        resource: Resource,
        phases: Sequence[Phase],
        *,
        finalize: Finalize | None = None,
        parse: Callable[[Mapping[str, Any]], T] = KubeObject,  # type: ignore[assignment]
        ready_reason: str = SUCCEEDED,
        ready_message: str = "reconciliation succeeded",
        failure_reason: str = RECONCILIATION_FAILED,
        negative_polarity: frozenset[str] | set[str] = NEGATIVE_POLARITY,
        default_interval: float = DEFAULT_INTERVAL,
        interval_of: Callable[[Mapping[str, Any]], float] | None = None,
        retry_interval_of: Callable[[Mapping[str, Any]], float | None] | None = None,
        is_suspended: Callable[[Mapping[str, Any]], bool] | None = None,
        report_new_generation: bool = True,
    ) -> None:
        if not phases:
            raise ValueError("a reconciler needs at least one phase")
        self.resource = resource
        self.phases = tuple(phases)
        self.finalize = finalize
        self.parse = parse
        self.ready_reason = ready_reason
        self.ready_message = ready_message
        self.failure_reason = failure_reason
        self.negative_polarity = negative_polarity
        self.default_interval = default_interval
        self._interval_of = interval_of
        self._retry_interval_of = retry_interval_of
        self._is_suspended = is_suspended
        self.report_new_generation = report_new_generation

    # --- scheduling knobs ------------------------------------------------------------

    def interval(self, body: Mapping[str, Any]) -> float:
        if self._interval_of is not None:
            return self._interval_of(body)
        text = (body.get("spec") or {}).get("interval")
        if not text:
            return self.default_interval
        try:
            value = parse_duration(str(text))
        except ValueError:
            return self.default_interval
        return value if value > 0 else self.default_interval

    def retry_interval(self, body: Mapping[str, Any]) -> float | None:
        return self._retry_interval_of(body) if self._retry_interval_of is not None else None

    def suspended(self, body: Mapping[str, Any]) -> bool:
        if self._is_suspended is not None:
            return self._is_suspended(body)
        return (body.get("spec") or {}).get("suspend") is True

    # --- running ---------------------------------------------------------------------

    def _logger(self, env: Environment, ref: ObjectRef) -> ObjectLogger:
        return object_logger(env.logger, kind=self.resource.kind, name=ref.name,
                             namespace=ref.namespace, reconcileID=str(uuid.uuid4()))

    def _context(self, body: Mapping[str, Any], env: Environment,
                 logger: ObjectLogger) -> ReconcileContext[T]:
        return ReconcileContext(
            obj=self.parse(body), body=body, resource=self.resource, env=env, logger=logger,
            negative_polarity=self.negative_polarity, ready_reason=self.ready_reason,
            ready_message=self.ready_message,
        )

    async def reconcile(self, body: Mapping[str, Any], env: Environment) -> ReconcileResult:
        """One run: finalizer, phases, summary, one status patch, events."""
        ref = ObjectRef.of(self.resource, body)
        logger = self._logger(env, ref)
        started = time.monotonic()
        try:
            try:
                body = await add_finalizer(env.kube, ref, body, FINALIZER)
            except ConflictError:  # our copy was stale (the watch lags our own writes)
                fresh = await env.kube.get(ref)
                if fresh is None:
                    raise NotFoundError(404, "NotFound", str(ref)) from None
                body = await add_finalizer(env.kube, ref, fresh, FINALIZER)
        except NotFoundError:
            return ReconcileResult(OutcomeKind.SUCCESS, "Gone", "object no longer exists",
                                   gone=True)
        except ApiError as err:
            logger.warning("could not add finalizer: %s", err)
            return ReconcileResult(OutcomeKind.FAILED, self.failure_reason, str(err))

        requeue_after: float | None = None
        ctx: ReconcileContext[T] | None = None
        try:
            ctx = self._context(body, env, logger)
            if self.report_new_generation:
                await report_new_generation(ctx)
            for phase in self.phases:
                result = await phase(ctx)
                if result is None:
                    continue
                if result.requeue_after is not None:
                    requeue_after = (result.requeue_after if requeue_after is None
                                     else min(requeue_after, result.requeue_after))
                if result.stop:
                    break
            outcome = Outcome(OutcomeKind.SUCCESS, ctx.ready_reason, ctx.ready_message)
            event_type = None
        except Exception as err:  # noqa: BLE001 - every failure goes through disposition
            disp = disposition(err, failure_reason=self.failure_reason)
            outcome = Outcome(disp.kind, disp.reason, disp.message)
            event_type = disp.event_type
            if disp.kind is OutcomeKind.WAITING:
                requeue_after = disp.requeue_after
                logger.info("waiting: %s", disp.message, extra={"reason": disp.reason})
            elif disp.unexpected:
                logger.error("reconcile failed", exc_info=err, extra={"reason": disp.reason})
            else:
                logger.error("%s", disp.message, extra={"reason": disp.reason,
                                                       "outcome": disp.kind.value})

        if ctx is None:  # parse failed: summarize on what the body says
            ctx = ReconcileContext(obj=KubeObject(body), body=body, resource=self.resource,
                                   env=env, logger=logger,
                                   negative_polarity=self.negative_polarity)
        old_status: Mapping[str, Any] = ctx.written_status
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        new_status = build_status(
            old_status,
            ctx.status.snapshot(),
            ctx.conditions.items,
            outcome,
            generation=ctx.generation,
            requested_at=annotations.get(REQUESTED_AT_ANNOTATION),
            now=env.now(),
        )
        patch = merge_patch(old_status, new_status)
        written = gone = False
        if patch:
            try:
                await patch_status(env.kube, ref, patch)
                written = True
            except NotFoundError:
                gone = True
            except ApiError as err:
                logger.error("could not write status: %s", err)
                if outcome.kind is OutcomeKind.SUCCESS:
                    outcome = Outcome(OutcomeKind.FAILED, self.failure_reason,
                                      f"could not write status: {err}")
        if event_type is not None:
            await ctx.events.record(event_type, outcome.reason, outcome.message,
                                    ctx.event_metadata or None)
        if outcome.kind is OutcomeKind.SUCCESS:
            logger.info("%s", outcome.message, extra={
                "reason": outcome.reason, "duration": round(time.monotonic() - started, 3)})
        return ReconcileResult(outcome.kind, outcome.reason, outcome.message, requeue_after,
                               tuple(new_status["conditions"]), written, gone)

    async def finalize_object(self, body: Mapping[str, Any], env: Environment) -> ReconcileResult:
        """Run the finalize hook of an object being deleted, then drop our finalizer."""
        ref = ObjectRef.of(self.resource, body)
        logger = self._logger(env, ref)
        finalizers = (body.get("metadata") or {}).get("finalizers") or []
        if FINALIZER not in finalizers:
            return ReconcileResult(OutcomeKind.SUCCESS, "Finalized", "no finalizer")
        try:
            if self.finalize is not None:
                await self.finalize(self._context(body, env, logger))
            await _remove_finalizer(env.kube, ref, body, FINALIZER)
        except Exception as err:  # noqa: BLE001 - retried with backoff by the scheduler
            disp = disposition(err, failure_reason=self.failure_reason)
            logger.error("finalize failed: %s", disp.message, exc_info=disp.unexpected,
                         extra={"reason": disp.reason})
            await env.recorder.record(body, "Warning", disp.reason, disp.message)
            return ReconcileResult(OutcomeKind.FAILED, disp.reason, disp.message,
                                   disp.requeue_after)
        logger.info("finalized")
        return ReconcileResult(OutcomeKind.SUCCESS, "Finalized", "finalizer removed")
