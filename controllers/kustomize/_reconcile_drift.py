"""The apply phase's use of the drift watches (`_watches`): skip the apply of an interval
reconcile the cluster cannot have drifted from, and record each full apply.

`try_skip` runs first in the apply phase. It skips when `_drift.skip_apply` says so: the
objects about to be applied (their digest, after substitution, and the Kustomization's
generation, so that a change of the apply options counts) are those of the last full apply
by this process; no foreign change of its objects was seen since that apply started; the
watches of all its kinds were synced before it and hold every object of its inventory; the
run was not requested (`reconcile.fluxcd.io/requestedAt` not handled yet); the target is
this cluster (no `kubeConfig`); and fewer than `--drift-full-apply-every` - 1 applies in a
row were skipped. A skipped apply leaves the inventory as it is and hands the later phases
the change set of an apply that changed nothing (the objects the last apply skipped stay
skipped). `afflux_apply_skipped_total` counts them.

`report_drift` runs after a successful apply that put back fields someone else changed
(`ChangeSet.drifts()`: the runtime's explained drift): one `DriftCorrected` Event whose
message lists per object the paths, the value found, the value restored and the field
manager that wrote it, and whose `afflux.toolkit.fluxcd.io/drift` annotation carries the
same as JSON (what `afflux get ks NAME --drift` and the UI read back), beside Flux's event
metadata (the revision); `afflux_drift_corrections_total` counts the corrections per object.

`recorded` runs after a successful apply: the new inventory goes into the index at once
(so that the deletion of what the prune phase removes next is not taken for drift) with
the digest and the sequence number the apply started at.
"""

from __future__ import annotations

import logging

from afflux.api import Kustomization
from afflux.api._meta import DRIFT_CORRECTED, REQUESTED_AT_ANNOTATION
from afflux.controllers.runtime import (
    DRIFT_ANNOTATION,
    Action,
    ChangeSet,
    ChangeSetEntry,
    ObjectKey,
    ReconcileContext,
    drift_message,
    encode_drift,
)

from ._drift import KsKey, skip_apply
from ._reconcile_state import RunState, event_metadata

__all__ = ["SKIPPED", "recorded", "report_drift", "try_skip"]

#: what `try_skip` returns when it skipped the apply
SKIPPED = -1

_log = logging.getLogger("afflux.kustomize-controller.drift")


def _key(ctx: ReconcileContext[Kustomization]) -> KsKey:
    return ctx.obj.namespace or "", ctx.obj.name


def applied_digest(ctx: ReconcileContext[Kustomization], state: RunState) -> str:
    generation = (ctx.body.get("metadata") or {}).get("generation")
    return f"{state.digest}@{generation}"


def _requested(ctx: ReconcileContext[Kustomization]) -> bool:
    annotations = (ctx.body.get("metadata") or {}).get("annotations") or {}
    requested = annotations.get(REQUESTED_AT_ANNOTATION)
    handled = (ctx.body.get("status") or {}).get("lastHandledReconcileAt")
    return requested is not None and str(requested) != handled


def try_skip(ctx: ReconcileContext[Kustomization], state: RunState) -> int | None:
    """-1 when the apply is skipped (the phase is done), else the sequence number the apply
    starts at (None: no drift watches)."""
    drift = state.services.drift
    if drift is None:
        return None
    ks = ctx.obj
    key = _key(ctx)
    facts = drift.skip_facts(
        key, applied_digest(ctx, state), local=ks.spec.kube_config is None,
        requested=_requested(ctx), full_every=state.services.settings.full_apply_every)
    skip, why = skip_apply(facts)
    if not skip:
        _log.debug("applying: %s", why, extra={"kustomization": f"{key[0]}/{key[1]}"})
        return drift.begin_apply()
    drift.skipped(key)
    if state.services.on_skip is not None:
        state.services.on_skip()
    skipped = drift.skipped_keys(key)
    state.change_set = ChangeSet(
        ChangeSetEntry(k, Action.SKIPPED if k in skipped else Action.UNCHANGED)
        for k in (ObjectKey.of(obj) for obj in state.objects))
    state.entries = list(((ctx.body.get("status") or {}).get("inventory") or {})
                         .get("entries") or [])
    ctx.status["inventory"] = {"entries": state.entries}
    _log.debug("apply skipped: %s", why, extra={"kustomization": f"{key[0]}/{key[1]}"})
    return SKIPPED


def recorded(ctx: ReconcileContext[Kustomization], state: RunState, seq: int | None) -> None:
    """A full apply that started at `seq` succeeded."""
    drift = state.services.drift
    if drift is None or seq is None:
        return
    skipped = frozenset(e.key for e in state.change_set if e.action is Action.SKIPPED)
    drift.applied(_key(ctx), state.entries, applied_digest(ctx, state), seq, skipped)


async def report_drift(ctx: ReconcileContext[Kustomization], state: RunState) -> None:
    """The apply put back fields others changed: an Event that says which, and the metric."""
    drifted = [e for e in state.change_set if e.drift is not None]
    if not drifted:
        return
    drifts = [e.drift for e in drifted if e.drift is not None]
    metadata = {**event_metadata(state), DRIFT_ANNOTATION: encode_drift(drifts)}
    await ctx.events.record("Normal", DRIFT_CORRECTED, drift_message(drifts), metadata)
    count = state.services.on_drift
    if count is not None:
        for entry in drifted:
            count("Kustomization", ctx.obj.namespace or "", ctx.obj.name, entry.key.kind,
                  entry.key.namespace, entry.key.name)
