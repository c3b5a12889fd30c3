"""The Provider, Alert and Receiver reconcilers: each one phase that validates and says
Ready, with Flux's reasons.

| kind     | Ready=True                                   | Ready=False                                  |
| -------- | -------------------------------------------- | -------------------------------------------- |
| Provider | Succeeded, "Initialized"                      | ValidationFailed (stalled: bad address scheme, missing channel, bad PEM, unsupported type; retried: missing Secret), InvalidCELExpression (stalled: commitStatusExpr does not compile), DeliveryFailed (the last delivery failed after its retries) |
| Alert    | Succeeded, "Initialized"                      | ValidationFailed (stalled: invalid regex), AccessDenied (cross-namespace source with --no-cross-namespace-refs), DependencyNotReady (Provider missing or not Ready) |
| Receiver | Succeeded, "Receiver initialized for path: /hook/..." | TokenNotFound (Secret or its 'token' missing), ValidationFailed (unsupported type), InvalidCELExpression (stalled: resourceFilter, resources[].filter or an oidcProviders variable or validation that does not compile) |

No message ever carries a secret value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from afflux.api import Receiver
from afflux.api._meta import ACCESS_DENIED, DEPENDENCY_NOT_READY, SUCCEEDED
from afflux.api._refs import receiver_webhook_path
from afflux.controllers.runtime import (
    KubeClient,
    ObjectRef,
    ReconcileContext,
    Reconciler,
    Resource,
    StallingError,
    WaitingError,
    get_condition,
)

from ._alerts import InvalidRegex, compile_patterns
from ._cel import CELError, compile_expression
from ._commitstatus import COMMIT_STATUS_VARIABLES
from ._config import SecretNotFound, read_secret, resolve_provider
from ._oidc import compile_rules
from ._providers import UNSUPPORTED, ConfigError, SkipEvent, all_builders, build_request
from ._receivers import OIDC_CHECKED
from ._receivers import SUPPORTED as RECEIVER_TYPES

__all__ = [
    "ALERTS",
    "PROVIDERS",
    "RECEIVERS",
    "Services",
    "alert_reconciler",
    "provider_reconciler",
    "receiver_reconciler",
]

GROUP = "notification.toolkit.fluxcd.io"
PROVIDERS = Resource(GROUP, "v1beta3", "Provider", "providers")
ALERTS = Resource(GROUP, "v1beta3", "Alert", "alerts")
RECEIVERS = Resource(GROUP, "v1", "Receiver", "receivers")

VALIDATION_FAILED = "ValidationFailed"
TOKEN_NOT_FOUND = "TokenNotFound"
INVALID_CEL_EXPRESSION = "InvalidCELExpression"
OIDC_TYPE = "generic-oidc"
DELIVERY_FAILED = "DeliveryFailed"
INITIALIZED = "Initialized"
SECRET_RETRY = 30.0
#: how soon a Provider whose delivery failed is looked at again (a delivery also triggers it)
DELIVERY_RECHECK = 60.0
#: a sample event that every supported type can build a request for
_SAMPLE_EVENT = {
    "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                       "name": "sample", "namespace": "default"},
    "severity": "info", "timestamp": "2024-01-01T00:00:00Z", "message": "sample",
    "reason": "ReconciliationSucceeded",
    "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:" + "0" * 40},
    "reportingController": "kustomize-controller",
}


@dataclass
class Services:
    """What the reconcilers and the dispatcher share."""

    kube: KubeClient
    #: (namespace, Provider name) -> why its last delivery failed (absent after a success)
    delivery_failures: dict[tuple[str, str], str] = field(default_factory=dict)


def _key(ctx: ReconcileContext[Any]) -> tuple[str, str]:
    return ctx.namespace or "", ctx.name


def provider_reconciler(services: Services) -> Reconciler[Any]:
    async def validate(ctx: ReconcileContext[Any]) -> None:
        type_ = str(ctx.obj.spec.get("type") or "")
        if type_ not in all_builders():
            supported = ", ".join(sorted(all_builders()))
            why = f" ({UNSUPPORTED[type_]})" if type_ in UNSUPPORTED else ""
            raise StallingError(VALIDATION_FAILED, f"provider type {type_!r} is not supported "
                                f"by afflux yet{why}: use one of {supported}")
        if ctx.obj.spec.get("commitStatusExpr"):
            try:
                compile_expression(str(ctx.obj.spec["commitStatusExpr"]), COMMIT_STATUS_VARIABLES)
            except CELError as err:
                raise StallingError(INVALID_CEL_EXPRESSION, f"invalid CEL expression in "
                                    f"spec.commitStatusExpr: {err}") from None
        try:
            resolved = await resolve_provider(ctx.kube, ctx.body)
            # commitStatusExpr was compiled above; with the sample event it might fail
            build_request(replace(resolved.config, commit_status_expr=""), _SAMPLE_EVENT)
        except SecretNotFound as err:
            raise WaitingError(VALIDATION_FAILED, str(err), SECRET_RETRY) from None
        except ConfigError as err:
            raise StallingError(VALIDATION_FAILED, str(err)) from None
        except SkipEvent:
            pass
        failure = services.delivery_failures.get(_key(ctx))
        if failure:
            raise WaitingError(DELIVERY_FAILED, failure, DELIVERY_RECHECK)
        ctx.set_ready(SUCCEEDED, INITIALIZED)

    return Reconciler(PROVIDERS, [validate], ready_reason=SUCCEEDED,
                      ready_message=INITIALIZED, default_interval=600.0)


def alert_reconciler(services: Services) -> Reconciler[Any]:
    async def validate(ctx: ReconcileContext[Any]) -> None:
        spec = ctx.obj.spec
        try:
            compile_patterns("inclusionList", spec.get("inclusionList"))
            compile_patterns("exclusionList", spec.get("exclusionList"))
        except InvalidRegex as err:
            raise StallingError(VALIDATION_FAILED, f"{err}: fix spec.{err.field}") from None
        if ctx.options.no_cross_namespace_refs:
            for i, source in enumerate(spec.get("eventSources") or ()):
                if source.get("namespace") not in (None, "", ctx.namespace):
                    raise StallingError(ACCESS_DENIED, f"spec.eventSources[{i}] selects namespace "
                                        f"{source['namespace']!r}, but cross-namespace "
                                        "references are disabled (--no-cross-namespace-refs)")
        name = (spec.get("providerRef") or {}).get("name", "")
        provider = await ctx.kube.get(ObjectRef(PROVIDERS, ctx.namespace, name))
        if provider is None:
            raise WaitingError(DEPENDENCY_NOT_READY, f"Provider '{name}' not found: create it or "
                               "fix spec.providerRef.name", ctx.options.requeue_dependency)
        ready = get_condition((provider.get("status") or {}).get("conditions") or [], "Ready")
        if not ready or ready.get("status") != "True":
            why = f": {ready.get('reason')}: {ready.get('message')}" if ready else ""
            raise WaitingError(DEPENDENCY_NOT_READY, f"Provider '{name}' is not ready{why}",
                               ctx.options.requeue_dependency)
        ctx.set_ready(SUCCEEDED, INITIALIZED)

    return Reconciler(ALERTS, [validate], ready_reason=SUCCEEDED, ready_message=INITIALIZED,
                      default_interval=600.0)


async def receiver_token(kube: KubeClient, receiver: Receiver) -> str:
    """The Receiver's token ('' for generic-oidc, which has none); `SecretNotFound`/
    `ConfigError` if missing."""
    if receiver.spec.type == OIDC_TYPE:
        return ""
    if receiver.spec.secret_ref is None or not receiver.spec.secret_ref.name:
        raise ConfigError("spec.secretRef is required for a Receiver of type "
                          f"{receiver.spec.type}: name a Secret with a 'token' key")
    return (await receiver_secret(kube, receiver))["token"]


async def receiver_secret(kube: KubeClient, receiver: Receiver) -> dict[str, str]:
    """The Receiver's Secret, with the keys its type needs ('token'; for gcr also 'email'
    and 'audience'); `SecretNotFound`/`ConfigError` naming what is missing."""
    name = receiver.spec.secret_ref.name if receiver.spec.secret_ref else ""
    data = await read_secret(kube, receiver.namespace or "", name, "secretRef.name")
    needed = ("token", "email", "audience") if receiver.spec.type == "gcr" else ("token",)
    missing = [key for key in needed if not data.get(key)]
    if missing:
        raise ConfigError(f"Secret '{receiver.namespace}/{name}' has no "
                          + ", ".join(f"'{k}'" for k in missing) + " key: add it")
    return data


def filter_variables(receiver: Receiver) -> tuple[str, ...]:
    """What a Receiver's resource filters may use: res and req, and claims for generic-oidc."""
    return ("res", "req", "claims") if receiver.spec.type == OIDC_TYPE else ("res", "req")


def compile_receiver_cel(receiver: Receiver) -> None:
    """`CELError` naming the field of the first expression that does not compile."""
    variables = filter_variables(receiver)
    if receiver.spec.resource_filter:
        try:
            compile_expression(receiver.spec.resource_filter, variables)
        except CELError as err:
            raise CELError(f"spec.resourceFilter: {err}") from None
    for i, ref in enumerate(receiver.spec.resources):
        if ref.filter:
            try:
                compile_expression(ref.filter, variables)
            except CELError as err:
                raise CELError(f"spec.resources[{i}].filter: {err}") from None
    for i, provider in enumerate(receiver.to_dict()["spec"].get("oidcProviders") or ()):
        compile_rules(provider, f"spec.oidcProviders[{i}]")


def receiver_reconciler(services: Services) -> Reconciler[Receiver]:
    async def validate(ctx: ReconcileContext[Receiver]) -> None:
        receiver = ctx.obj
        if receiver.spec.type not in RECEIVER_TYPES | OIDC_CHECKED:
            raise StallingError(VALIDATION_FAILED, f"receiver type {receiver.spec.type!r} is not "
                                "supported by afflux yet: use one of "
                                + ", ".join(sorted(RECEIVER_TYPES | OIDC_CHECKED)))
        try:
            compile_receiver_cel(receiver)
        except CELError as err:
            raise StallingError(INVALID_CEL_EXPRESSION, f"invalid CEL expression in {err}"
                                ) from None
        try:
            token = await receiver_token(ctx.kube, receiver)
        except ConfigError as err:
            raise WaitingError(TOKEN_NOT_FOUND, str(err), SECRET_RETRY) from None
        path = receiver_webhook_path(token, receiver.name, receiver.namespace or "")
        ctx.status["webhookPath"] = path
        ctx.set_ready(SUCCEEDED, f"Receiver initialized for path: {path}")

    return Reconciler(RECEIVERS, [validate], parse=Receiver.from_dict, ready_reason=SUCCEEDED,
                      ready_message=INITIALIZED)
