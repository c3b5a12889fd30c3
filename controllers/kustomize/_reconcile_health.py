"""The health phase: `spec.healthChecks` (or, with `spec.wait`, everything applied) must be
Current by kstatus' rules within `spec.timeout`.

With `wait: true` every object of the apply's change set is checked (skipped ones aside) and
`healthChecks` are ignored, as in Flux. A health check without `apiVersion` means the core
group's preferred version; without `namespace`, the Kustomization's. The objects are polled
in the target cluster (impersonated or remote, like the apply).

`spec.healthCheckExprs` (`_healthexprs`) decide the health of the objects of the kinds they
name, in place of kstatus' rules; an expression that does not compile stalls the
Kustomization (`InvalidCELExpression`) until the spec changes.

The phase owns the `Healthy` condition: True (`Succeeded`, "Health check passed in 1.2s"),
False (`HealthCheckFailed`, naming each object that is not ready, its kstatus status and
why), or absent when there is nothing to check. A failure is retried after `retryInterval`.
"""

from __future__ import annotations

import time

from afflux.api import Kustomization
from afflux.api._meta import HEALTH_CHECK_FAILED, HEALTHY, INVALID_CEL_EXPRESSION, SUCCEEDED
from afflux.controllers.runtime import (
    Action,
    GenericError,
    ObjectKey,
    PhaseResult,
    ReconcileContext,
    RESTMapper,
    StallingError,
    WaitError,
    format_duration,
)

from ._healthexprs import HealthExprError, HealthExprs, compile_health_exprs
from ._history import record_history
from ._reconcile_apply import target_cluster
from ._reconcile_state import run_of

__all__ = ["health_keys", "health_phase"]


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
    started = time.monotonic()
    timeout = ks.timeout or 300.0
    try:
        await cluster.manager.wait_for(
            keys, interval=state.services.settings.health_poll_interval, timeout=timeout,
            reader=reader)
    except WaitError as err:
        spent = format_duration(round(time.monotonic() - started, 3))
        message = f"Health check failed after {spent}: {err}"
        ctx.conditions.mark_false(HEALTHY, HEALTH_CHECK_FAILED, message)
        record_history(ctx, state, HEALTH_CHECK_FAILED)
        raise GenericError(HEALTH_CHECK_FAILED, message) from None
    spent = format_duration(round(time.monotonic() - started, 3))
    ctx.conditions.mark_true(HEALTHY, SUCCEEDED, f"Health check passed in {spent}")
    return None
