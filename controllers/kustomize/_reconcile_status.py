"""The last phase: what a successful run leaves in the status, and the reconciliation history.

`finish_phase` records `lastAppliedRevision` and `lastAppliedOriginRevision`, adds the run to
`status.history`, says Ready=True with `Applied revision: <revision>` and records a
`ReconciliationSucceeded` event ("Reconciliation finished in 1.2s, next run in 5m0s") when
the run changed something or reached Ready anew.

The history itself is `_history`'s.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from afflux.api import Kustomization
from afflux.api._meta import RECONCILIATION_SUCCEEDED
from afflux.controllers.runtime import PhaseResult, ReconcileContext, format_duration

from ._history import record_history
from ._reconcile_state import RunState, event_metadata, run_of

__all__ = ["finish_phase"]


def _was_ready(body: Mapping[str, Any]) -> bool:
    for condition in (body.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def _finished_message(state: RunState, interval: float | None) -> str:
    spent = format_duration(round(time.monotonic() - state.started, 3))
    following = format_duration(interval) if interval else "never"
    return f"Reconciliation finished in {spent}, next run in {following}"


async def finish_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    ks = ctx.obj
    previous = (ctx.body.get("status") or {}).get("lastAppliedRevision")
    ctx.status["lastAppliedRevision"] = state.revision
    if state.origin_revision:
        ctx.status["lastAppliedOriginRevision"] = state.origin_revision
    else:
        ctx.status.pop("lastAppliedOriginRevision", None)
    record_history(ctx, state, RECONCILIATION_SUCCEEDED)
    ctx.set_ready(RECONCILIATION_SUCCEEDED, f"Applied revision: {state.revision}")
    news = (previous != state.revision or not _was_ready(ctx.body)
            or bool(state.change_set.changed()) or bool(state.pruned.changed()))
    if news:
        await ctx.events.record("Normal", RECONCILIATION_SUCCEEDED,
                                _finished_message(state, ks.interval), event_metadata(state))
    return None
