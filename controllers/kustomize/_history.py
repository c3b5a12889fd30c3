"""The reconciliation history of a Kustomization (`status.history`).

It keeps the last five distinct outcomes, newest first, each keyed by the digest of the
applied set and the outcome's reason: a run with the same digest and reason updates that
entry (last time, duration, count) and moves it to the front; anything else is a new entry.
Successful runs are recorded by the last phase; failed runs that got as far as a built set
(apply and health-check failures) by the phase that failed, with their reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from afflux.api import Kustomization
from afflux.controllers.runtime import ReconcileContext, format_duration, format_time

from ._reconcile_state import RunState

__all__ = ["HISTORY_MAX", "record_history", "update_history"]

HISTORY_MAX = 5


def update_history(
    history: Sequence[Mapping[str, Any]] | None,
    *,
    digest: str,
    status: str,
    revision: str,
    origin_revision: str | None,
    now: str,
    duration: float,
) -> list[dict[str, Any]]:
    """`status.history` with one more run (module docstring); pure."""
    entries = [dict(e) for e in history or ()]
    metadata = {"revision": revision}
    if origin_revision:
        metadata["originRevision"] = origin_revision
    spent = format_duration(round(duration, 6))
    for index, entry in enumerate(entries):
        if entry.get("digest") == digest and entry.get("lastReconciledStatus") == status:
            entry.update(lastReconciled=now, lastReconciledDuration=spent,
                         totalReconciliations=int(entry.get("totalReconciliations") or 0) + 1,
                         metadata=metadata)
            del entries[index]
            return [entry, *entries][:HISTORY_MAX]
    fresh = {"digest": digest, "firstReconciled": now, "lastReconciled": now,
             "lastReconciledDuration": spent, "lastReconciledStatus": status,
             "totalReconciliations": 1, "metadata": metadata}
    return [fresh, *entries][:HISTORY_MAX]


def record_history(ctx: ReconcileContext[Kustomization], state: RunState, status: str) -> None:
    """Add this run, ended with `status` (a reason), to `status.history`."""
    if not state.digest:
        return
    old = ctx.status.get("history")
    ctx.status["history"] = update_history(
        old, digest=state.digest, status=status, revision=state.revision,
        origin_revision=state.origin_revision, now=format_time(ctx.now()),
        duration=time.monotonic() - state.started)
