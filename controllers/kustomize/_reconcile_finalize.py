"""Deletion: what happens to the applied objects when a Kustomization goes away.

`spec.deletionPolicy` decides (`deletion_plan`, pure):

| policy              | objects of the inventory                                        |
| ------------------- | --------------------------------------------------------------- |
| MirrorPrune (default) | deleted when `spec.prune` is true, left in place otherwise    |
| Delete              | deleted                                                         |
| WaitForTermination  | deleted, and the finalizer stays until they are gone (at most `spec.timeout`) |
| Orphan              | left in place                                                   |

A suspended Kustomization deletes nothing. Deletion uses the same cluster and identity as
the apply (kubeConfig, service account) and the same protections as pruning (`prune:
disabled`, `reconcile: disabled`, objects not labelled as this Kustomization's). As in Flux, a
failure to delete is reported (log and Warning event) but does not keep the Kustomization
from going away: the finalizer is removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from afflux.api import Kustomization
from afflux.api._meta import PRUNE_FAILED
from afflux.controllers.runtime import (
    Action,
    ApplyError,
    DeleteOptions,
    ReconcileContext,
    ReconcileError,
    WaitError,
)

from ._inventory import prune_blocker, refs_from_entries
from ._reconcile_apply import PROGRESSING, inventory_key, target_cluster
from ._reconcile_state import run_of

__all__ = ["DeletionPlan", "deletion_plan", "finalize"]

@dataclass(frozen=True)
class DeletionPlan:
    delete: bool
    wait: bool = False


def deletion_plan(policy: str | None, prune: bool, suspended: bool) -> DeletionPlan:
    """What to do with the inventory on deletion (module docstring table)."""
    if suspended:
        return DeletionPlan(False)
    policy = policy or "MirrorPrune"
    if policy == "Delete":
        return DeletionPlan(True)
    if policy == "WaitForTermination":
        return DeletionPlan(True, wait=True)
    if policy == "Orphan":
        return DeletionPlan(False)
    return DeletionPlan(prune)


async def finalize(ctx: ReconcileContext[Kustomization]) -> None:
    ks = ctx.obj
    plan = deletion_plan(ks.spec.deletion_policy, bool(ks.spec.prune), ks.suspended)
    entries = ((ctx.body.get("status") or {}).get("inventory") or {}).get("entries") or []
    if not plan.delete or not entries:
        return
    state = run_of(ctx)
    keys = [inventory_key(r) for r in refs_from_entries(entries)]
    options = DeleteOptions(blocker=lambda live: prune_blocker(live, ks.name, ks.namespace))
    try:
        cluster = await target_cluster(ctx, state)
        deleted = await cluster.manager.delete_all(keys, options)
        if deleted.with_action(Action.DELETED):
            await ctx.events.normal(PROGRESSING, str(deleted.with_action(Action.DELETED)))
        if plan.wait:
            gone = [e.key for e in deleted if e.action is Action.DELETED]
            await cluster.manager.wait_for_termination(
                gone, interval=state.services.settings.health_poll_interval,
                timeout=ks.timeout or 300.0)
    except (ApplyError, WaitError, ReconcileError) as err:
        message = f"garbage collection of the deleted Kustomization failed: {err}"
        ctx.logger.error(message)
        await ctx.events.warning(PRUNE_FAILED, message)
