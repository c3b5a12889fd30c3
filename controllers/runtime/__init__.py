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

It also exports the shared libraries the operators build on, each from its own module:
the server-side apply engine (`ChangeSet`, `ApplyOptions`, `ApplyError`, `WaitError`, ...),
clients for the cluster an object is applied to, impersonated or remote (`Cluster`,
`ClusterClients`), discovery (`RESTMapper`: apiVersion + kind -> resource), safe extraction
of artifact tarballs (`safe_extract`, `UnsafeArchiveError`), registry credentials from
dockerconfigjson Secrets (`parse_docker_config_secret`, `credentials_for`), the well-known keys of a Secret's data
(`tls_keys`, `auth_keys`, `proxy_keys`, `decode_secret`, `SecretKeyError`), the
client-side rate limit of API requests (`TokenBucket`, `limiter_for`), the argparse
types of the common flags (`duration_arg`, `addr_arg`, ...), and git authentication for
pygit2 (`GitCredentials`, `GitCallbacks`, `GitError`, ...), and CEL as Flux's environment
has it, with cel-go's optional types (`cel_parse`, `cel_program`, `CelOptional`). The git
and CEL names are loaded on first use (module `__getattr__`), so importing the runtime
imports neither pygit2 nor cel-python.
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._clusters import (
    Cluster,
    ClusterClients,
    KubeConfigError,
    KubeConfigRefused,
    service_account_user,
)
from ._conditions import (
    FALSE,
    TRUE,
    UNKNOWN,
    Conditions,
    format_time,
    get_condition,
    is_true,
    remove_condition,
    set_condition,
)
from ._dependencies import (
    GRAPH_KINDS,
    DependentsIndex,
    check_dependencies,
    dependency_refs,
    lists_dependency,
    readiness_problem,
)
from ._discovery import RESTMapper, UnknownKindError
from ._dockerconfig import (
    DockerConfigError,
    RegistryCredentials,
    credentials_for,
    parse_docker_config_secret,
)
from ._driftexplain import DRIFT_ANNOTATION, FieldDrift, ObjectDrift, drift_message
from ._driftexplain import decode as decode_drift
from ._driftexplain import encode as encode_drift
from ._driftexplain import explain as explain_drift
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
from ._healthexprs import HealthExprError, HealthExprs, compile_health_exprs, expr_group_kind
from ._httpretry import DEFAULT_RETRIES as DEFAULT_HTTP_RETRIES
from ._httpretry import MAX_WAIT as HTTP_RETRY_MAX_WAIT
from ._httpretry import MIN_WAIT as HTTP_RETRY_MIN_WAIT
from ._httpretry import HTTPStatusError, with_retries
from ._kstatus import HealthResult, HealthStatus, generic_status
from ._kube import (
    REQUEST_TIMEOUT,
    ApiError,
    ConflictError,
    KubeClient,
    KubernetesClient,
    NotFoundError,
    api_error,
    load_api_client,
)
from ._kubeaio import AioKubeClient, ConnectionPool, client_for
from ._kubeconfig import OBJECT_LEVEL_GATE, KubeConfigPolicy, RemoteConfigError
from ._leader import LeaderElector
from ._logging import configure_logging, object_logger
from ._main import run_operator
from ._metrics import Metrics
from ._object import KubeObject, ObjectRef, Resource
from ._operator import (
    LISTEN_RETRY,
    ChangeFilter,
    Operator,
    config_key,
    kopf_settings,
    label_selector,
    lease_name,
)
from ._options import (
    Options,
    add_http_retry_flag,
    add_override_manager_flag,
    addr_arg,
    build_parser,
    duration_arg,
    group_kinds_arg,
    parse_addr,
    parse_bool,
    parse_options,
    positive_int_arg,
)
from ._pipeline import (
    CONTINUE,
    Environment,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    ReconcileResult,
    WorkingStatus,
)
from ._pruneguard import Guard, add_guard_flags, held_message, hold_prune
from ._ratelimit import DEFAULT_BURST, DEFAULT_QPS, TokenBucket, limiter_for
from ._readyexpr import ADDITIVE_CEL_DEPENDENCY_CHECK_GATE, ReadyExprError
from ._runs import RunStates
from ._scheduler import Scheduler, Timing, trigger_readers
from ._secretkeys import (
    AuthKeys,
    ProxyKeys,
    SecretKeyError,
    TLSKeys,
    auth_keys,
    proxy_keys,
    tls_keys,
)
from ._secretkeys import decode as decode_secret
from ._secretkeys import text as secret_text
from ._selectors import check_selector, selector_matches
from ._ssa import (
    AbsenceHint,
    Action,
    ApplyError,
    ApplyOptions,
    ChangeSet,
    ChangeSetEntry,
    Cleanup,
    DeleteOptions,
    FieldManager,
    ObjectKey,
    WaitError,
    comparable,
    overridden_managers,
)
from ._tarball import UnsafeArchiveError, safe_extract
from ._workload import (
    RemoteAccess,
    RemoteConfigUnavailable,
    ServiceAccountTokens,
    WorkloadIdentity,
    add_workload_identity_flags,
    api_token_issuer,
    parse_feature_gates,
    resolve_remote_access,
)

if TYPE_CHECKING:
    from ._cel import CelOptional, cel_parse, cel_program
    from ._gitauth import (
        GitAuthError,
        GitCallbacks,
        GitCredentials,
        GitError,
        redact_url,
        translate_git_error,
        url_transport,
    )

#: Names loaded on first access (PEP 562), name -> the private module defining it: their
#: modules import heavy third-party packages (pygit2, celpy) that not every operator needs.
_LAZY: dict[str, str] = {
    "CelOptional": "._cel",
    "cel_parse": "._cel",
    "cel_program": "._cel",
    "GitAuthError": "._gitauth",
    "GitCallbacks": "._gitauth",
    "GitCredentials": "._gitauth",
    "GitError": "._gitauth",
    "redact_url": "._gitauth",
    "translate_git_error": "._gitauth",
    "url_transport": "._gitauth",
}

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_QPS",
    "TokenBucket",
    "limiter_for",
    "AbsenceHint",
    "AuthKeys",
    "ProxyKeys",
    "SecretKeyError",
    "TLSKeys",
    "auth_keys",
    "decode_secret",
    "proxy_keys",
    "secret_text",
    "tls_keys",
    "CONTINUE",
    "DRIFT_ANNOTATION",
    "GRAPH_KINDS",
    "FALSE",
    "NORMAL",
    "REQUEST_TIMEOUT",
    "TRUE",
    "UNKNOWN",
    "WARNING",
    "Action",
    "AioKubeClient",
    "ApiError",
    "ApplyError",
    "ApplyOptions",
    "ChangeSet",
    "ChangeFilter",
    "ChangeSetEntry",
    "Cleanup",
    "Cluster",
    "ClusterClients",
    "Conditions",
    "ConflictError",
    "ConnectionPool",
    "DeleteOptions",
    "DockerConfigError",
    "Environment",
    "EventRecorder",
    "FieldDrift",
    "DEFAULT_HTTP_RETRIES",
    "FieldManager",
    "HTTPStatusError",
    "HTTP_RETRY_MAX_WAIT",
    "HTTP_RETRY_MIN_WAIT",
    "GenericError",
    "CelOptional",
    "GitAuthError",
    "GitCallbacks",
    "GitCredentials",
    "GitError",
    "Guard",
    "HealthExprError",
    "HealthExprs",
    "HealthResult",
    "HealthStatus",
    "KubeClient",
    "KubeConfigError",
    "KubeConfigPolicy",
    "KubeConfigRefused",
    "OBJECT_LEVEL_GATE",
    "RemoteAccess",
    "RemoteConfigError",
    "RemoteConfigUnavailable",
    "ServiceAccountTokens",
    "WorkloadIdentity",
    "add_workload_identity_flags",
    "api_token_issuer",
    "parse_feature_gates",
    "ADDITIVE_CEL_DEPENDENCY_CHECK_GATE",
    "ReadyExprError",
    "resolve_remote_access",
    "KubeObject",
    "KubernetesClient",
    "LeaderElector",
    "Metrics",
    "NotFoundError",
    "ObjectEvents",
    "ObjectDrift",
    "ObjectKey",
    "ObjectRef",
    "LISTEN_RETRY",
    "Operator",
    "Options",
    "OutcomeKind",
    "PhaseResult",
    "RESTMapper",
    "ReconcileContext",
    "ReconcileError",
    "ReconcileResult",
    "Reconciler",
    "RegistryCredentials",
    "Resource",
    "RunStates",
    "DependentsIndex",
    "decode_drift",
    "dependency_refs",
    "drift_message",
    "encode_drift",
    "explain_drift",
    "Scheduler",
    "trigger_readers",
    "StallingError",
    "Timing",
    "UnknownKindError",
    "UnsafeArchiveError",
    "WaitError",
    "WaitingError",
    "WorkingStatus",
    "add_guard_flags",
    "add_http_retry_flag",
    "add_override_manager_flag",
    "addr_arg",
    "api_error",
    "backoff",
    "build_parser",
    "check_dependencies",
    "client_for",
    "comparable",
    "cel_parse",
    "cel_program",
    "compile_health_exprs",
    "expr_group_kind",
    "configure_logging",
    "credentials_for",
    "disposition",
    "duration_arg",
    "format_duration",
    "format_time",
    "generic_status",
    "held_message",
    "hold_prune",
    "get_condition",
    "is_true",
    "jittered",
    "check_selector",
    "kopf_settings",
    "config_key",
    "label_selector",
    "lease_name",
    "lists_dependency",
    "load_api_client",
    "object_logger",
    "with_retries",
    "overridden_managers",
    "group_kinds_arg",
    "parse_addr",
    "parse_bool",
    "parse_docker_config_secret",
    "parse_duration",
    "parse_options",
    "positive_int_arg",
    "readiness_problem",
    "redact_url",
    "remove_condition",
    "run_operator",
    "safe_extract",
    "selector_matches",
    "service_account_user",
    "set_condition",
    "translate_git_error",
    "url_transport",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
