"""The reconcile machinery every afflux operator uses.

An operator describes each kind it reconciles as a `Reconciler`: an ordered list of
phases with one signature, `async def phase(ctx: ReconcileContext) -> PhaseResult | None`.
A phase sets its own conditions on `ctx.conditions`, its status fields on `ctx.status`,
says how the object is ready with `ctx.set_ready(reason, message)`, and fails by raising
`StallingError`, `WaitingError` or `GenericError`. The runtime then summarizes Ready,
Reconciling and Stalled and writes one status patch; it schedules the next run (interval
with jitter, requeue, retry with backoff, requestedAt, spec changes, `trigger()`), manages
the `finalizers.fluxcd.io` finalizer, records Events, serves metrics and health, logs as
JSON, and parses the common flags::

    from afflux.controllers.runtime import (
        Operator, PhaseResult, ReconcileContext, Reconciler, Resource, WaitingError,
        run_operator,
    )

    WIDGET = Resource("test.afflux.dev", "v1", "Widget", "widgets")

    async def check(ctx: ReconcileContext) -> PhaseResult | None:
        if not ctx.obj.spec.get("ready"):
            raise WaitingError("DependencyNotReady", "the widget is not ready yet", 10)
        ctx.status["shade"] = "blue"
        ctx.set_ready("Succeeded", "widget is blue")
        return None

    def setup(operator: Operator) -> None:
        operator.register(Reconciler(WIDGET, [check]))

    run_operator(name="widget-controller", setup=setup)
"""

from ._conditions import (
    FALSE,
    TRUE,
    UNKNOWN,
    Conditions,
    get_condition,
    is_true,
    remove_condition,
    set_condition,
)
from ._duration import backoff, format_duration, jittered, parse_duration
from ._errors import (
    GenericError,
    OutcomeKind,
    ReconcileError,
    StallingError,
    WaitingError,
    disposition,
)
from ._events import NORMAL, WARNING, EventRecorder, ObjectEvents
from ._kube import (
    ApiError,
    ConflictError,
    KubeClient,
    KubernetesClient,
    NotFoundError,
    load_api_client,
)
from ._leader import LeaderElector
from ._logging import configure_logging, object_logger
from ._main import run_operator
from ._metrics import Metrics
from ._object import KubeObject, ObjectRef, Resource
from ._operator import Operator, kopf_settings
from ._options import Options, build_parser, parse_options
from ._pipeline import (
    CONTINUE,
    Environment,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    ReconcileResult,
    WorkingStatus,
)
from ._scheduler import Scheduler, Timing

__all__ = [
    "CONTINUE",
    "FALSE",
    "NORMAL",
    "TRUE",
    "UNKNOWN",
    "WARNING",
    "ApiError",
    "Conditions",
    "ConflictError",
    "Environment",
    "EventRecorder",
    "GenericError",
    "KubeClient",
    "KubeObject",
    "KubernetesClient",
    "LeaderElector",
    "Metrics",
    "NotFoundError",
    "ObjectEvents",
    "ObjectRef",
    "Operator",
    "Options",
    "OutcomeKind",
    "PhaseResult",
    "ReconcileContext",
    "ReconcileError",
    "ReconcileResult",
    "Reconciler",
    "Resource",
    "Scheduler",
    "StallingError",
    "Timing",
    "WaitingError",
    "WorkingStatus",
    "backoff",
    "build_parser",
    "configure_logging",
    "disposition",
    "format_duration",
    "get_condition",
    "is_true",
    "jittered",
    "kopf_settings",
    "load_api_client",
    "object_logger",
    "parse_duration",
    "parse_options",
    "remove_condition",
    "run_operator",
    "set_condition",
]
