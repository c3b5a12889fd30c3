"""The health phase: `spec.healthChecks` (or, with `spec.wait`, everything applied) must be
Current by kstatus' rules within `spec.timeout`.

With `wait: true` every object of the apply's change set is checked (skipped ones aside) and
`healthChecks` are ignored, as in Flux. A health check without `apiVersion` means the core
group's preferred version; without `namespace`, the Kustomization's. The objects are polled
in the target cluster (impersonated or remote, like the apply).

`spec.healthCheckExprs` (the runtime's `compile_health_exprs`) decide the health of the objects of the kinds they
name, in place of kstatus' rules; an expression that does not compile stalls the
Kustomization (`InvalidCELExpression`) until the spec changes.

The phase owns the `Healthy` condition: True (`Succeeded`, "Health check passed in 1.2s"),
False (`HealthCheckFailed`, naming each object that is not ready, its kstatus status and
why), or absent when there is nothing to check. A failure is retried after `retryInterval`.

The wait fails fast, as Flux's kustomize-controller: as soon as one object is Failed (by
kstatus, or a `healthCheckExprs` `failed` expression) the check fails with that object's
status and message, without waiting out `spec.timeout`; with the operator's
`--feature-gates=DisableFailFastBehavior=true` it waits on while other objects are still in
progress, and stops once every object not Current is Failed.

Progress (as Flux's kustomize-controller says it, in one patch per run instead of Flux's
three or four): a run that will wait on health checks reports when the wait begins, with
Reconciling and Healthy "Running health checks for revision <rev> with a timeout of 5m0s",
Ready=Unknown "Reconciliation in progress", and the new inventory and lastAttemptedRevision,
so what the run created is visible (`afflux tree`) while it waits; any other run reports at
its start (`progress_phase`, after the source and the dependencies are ready, where Flux
reports it): "Fetching manifests for revision <rev> with a timeout of 5m0s". A run that
stops before (source not ready, dependency not ready) writes only its result.

Unlike Flux, that start-of-run patch waits for the run's first real work (a download, a
`kustomize build`, an apply: `report_work`), a few milliseconds after the phase: a
no-change interval run (artifact unpacked, build cached, apply skipped by the drift
watches) does none, takes milliseconds, and writes only its result (one status write per
run instead of two, and Ready never flips to Unknown and back, which would also wake every
watcher of the Kustomization for nothing). Every run that changes or checks anything in
the cluster still shows Ready=Unknown while it does.
"""

from __future__ import annotations

import time

from afflux.api import Kustomization
from afflux.api._meta import (
    HEALTH_CHECK_FAILED,
    HEALTHY,
    INVALID_CEL_EXPRESSION,
    PROGRESSING,
    SUCCEEDED,
)
from afflux.controllers.runtime import (
    Action,
    GenericError,
    HealthExprError,
    HealthExprs,
    ObjectKey,
    PhaseResult,
    ReconcileContext,
    RESTMapper,
    StallingError,
    WaitError,
    compile_health_exprs,
    format_duration,
)

from ._history import record_history
from ._reconcile_apply import target_cluster
from ._reconcile_state import run_of

__all__ = ["health_keys", "health_phase", "progress_message", "progress_phase", "waits_on_health"]


def waits_on_health(ks: Kustomization) -> bool:
    """Whether a run will wait on health checks (`wait`, or `healthChecks`)."""
    return bool(ks.spec.wait or ks.spec.health_checks)


def progress_message(doing: str, revision: str, timeout: float | None) -> str:
    """"Running health checks for revision main@sha1:abc with a timeout of 5m0s"."""
    return f"{doing} for revision {revision} with a timeout of {format_duration(timeout or 300.0)}"


async def progress_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    """The run's progress patch at its start, unless the health phase will report it:
    pending until the run does real work (`report_work`: a download, a build, an apply), so
    that a no-change run writes its status once."""
    ks = ctx.obj
    if not waits_on_health(ks):
        run_of(ctx).progress = progress_message("Fetching manifests", run_of(ctx).revision,
                                                ks.timeout)
    return None


async def health_keys(ks: Kustomization, applied: list[ObjectKey], mapper: RESTMapper
                      ) -> list[ObjectKey]:
    """What to check: everything applied (`wait`), else the `healthChecks`."""
    if ks.spec.wait:
        return applied
    keys = []
    for check in ks.spec.health_checks or ():
        api_version = check.api_version or await mapper.preferred_version("")
        keys.append(ObjectKey(api_version, check.kind, check.namespace or ks.namespace,
                              check.name))
    return keys


async def health_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    ks = ctx.obj
    applied = [e.key for e in state.change_set
               if e.action not in (Action.SKIPPED, Action.DELETED)]
    if not ks.spec.wait and not ks.spec.health_checks:
        ctx.conditions.remove(HEALTHY)
        return None
    cluster = await target_cluster(ctx, state)
    keys = await health_keys(ks, applied, cluster.mapper)
    if not keys:
        ctx.conditions.remove(HEALTHY)
        return None
    reader: HealthExprs | None = None
    if ks.spec.health_check_exprs:
        try:
            reader = compile_health_exprs(ks.spec.health_check_exprs)
        except HealthExprError as err:
            ctx.conditions.mark_false(HEALTHY, INVALID_CEL_EXPRESSION, str(err))
            raise StallingError(INVALID_CEL_EXPRESSION, str(err)) from None
    timeout = ks.timeout or 300.0
    message = progress_message("Running health checks", state.revision, timeout)
    ctx.conditions.mark_unknown(HEALTHY, PROGRESSING, message)
    await ctx.report_progress(message, publish=["inventory", "lastAttemptedRevision"])
    started = time.monotonic()
    try:
        await cluster.manager.wait_for(
            keys, interval=state.services.settings.health_poll_interval, timeout=timeout,
            fail_fast=state.services.settings.fail_fast, reader=reader)
    except WaitError as err:
        spent = format_duration(round(time.monotonic() - started, 3))
        message = f"Health check failed after {spent}: {err}"
        ctx.conditions.mark_false(HEALTHY, HEALTH_CHECK_FAILED, message)
        record_history(ctx, state, HEALTH_CHECK_FAILED)
        raise GenericError(HEALTH_CHECK_FAILED, message) from None
    spent = format_duration(round(time.monotonic() - started, 3))
    ctx.conditions.mark_true(HEALTHY, SUCCEEDED, f"Health check passed in {spent}")
    return None
