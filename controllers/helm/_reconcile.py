"""The HelmRelease reconciler: its phases, in order, and what happens on deletion.

    begin -> dependencies -> source -> values -> release

| phase        | module                | does                                                | fails with |
| ------------ | --------------------- | --------------------------------------------------- | ---------- |
| dependencies | `_reconcile_source`   | every dependsOn HelmRelease Ready at its generation | DependencyNotReady (waiting) |
| source       | `_reconcile_source`   | the HelmChart made from spec.chart, or spec.chartRef; its artifact; the chart's name and version | ArtifactFailed |
| values       | `_reconcile_values`   | valuesFrom then values; the config digest            | InitFailed |
| release      | `_reconcile_release`  | plan and run helm actions until the release is in sync; conditions, history, events | InstallFailed, UpgradeFailed, TestFailed, RollbackSucceeded, RetriesExceeded (stalled), ... |

Deletion (`finalize`): unless the HelmRelease is suspended, the release (where the status
says it was made: name, namespace, storage namespace) is uninstalled with
`spec.uninstall`'s options (as the same identity and on the same cluster as the
releases), then the HelmChart made for `spec.chart` is deleted.
"""

from __future__ import annotations

import dataclasses

from afflux.api import HelmRelease
from afflux.api._helm_v2 import INSTALL_SUCCEEDED
from afflux.api._meta import RECONCILIATION_FAILED
from afflux.controllers.runtime import (
    ReconcileContext,
    Reconciler,
)

from ._reconcile_release import release_phase, target_of, uninstall_release
from ._reconcile_source import delete_helm_chart, dependencies_phase, source_phase
from ._reconcile_values import values_phase
from ._state import HELMRELEASE, Services, begin, run_of

__all__ = ["helm_release_reconciler"]


async def finalize(ctx: ReconcileContext[HelmRelease]) -> None:
    hr = ctx.obj
    state = run_of(ctx)
    if not hr.spec.suspend:
        target = await target_of(ctx, state)
        history = ctx.status.get("history") or []
        name = str(history[0].get("name")) if history else hr.release_name
        namespace = str(history[0].get("namespace") or "") if history else ""
        target = dataclasses.replace(
            target, namespace=namespace or target.namespace,
            storage=ctx.status.get("storageNamespace") or target.storage_namespace)
        await uninstall_release(ctx, state, target, name)
    chart = ctx.status.get("helmChart")
    if chart:
        await delete_helm_chart(ctx, str(chart), RECONCILIATION_FAILED)


def helm_release_reconciler(services: Services) -> Reconciler[HelmRelease]:
    """The Reconciler of HelmReleases, its phases bound to `services`."""
    start = begin(services)

    async def finalize_with_services(ctx: ReconcileContext[HelmRelease]) -> None:
        await start(ctx)
        await finalize(ctx)

    return Reconciler(
        HELMRELEASE,
        [start, dependencies_phase, source_phase, values_phase, release_phase],
        finalize=finalize_with_services,
        parse=HelmRelease.from_dict,
        ready_reason=INSTALL_SUCCEEDED,
        ready_message="release in sync",
        failure_reason=RECONCILIATION_FAILED,
    )
