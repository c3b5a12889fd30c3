"""The mass-deletion guardrail (afflux's own, on by default): pure, no I/O.

A commit that renders zero objects deletes everything a Kustomization owns (Flux does the
same), so a bad merge can wipe a namespace. Before pruning, `hold_prune` decides whether a
run would delete too much of its inventory: more than `ratio` of an inventory of more than
`minimum` objects (kustomize-controller's `--prune-guard-ratio`, default 0.5, and
`--prune-guard-min`, default 10). A held prune deletes nothing; the objects stay in the
inventory, and the Kustomization says `PruneHeld` with the count and kinds it would delete
until someone allows that revision:

- the annotation `afflux.toolkit.fluxcd.io/allow-prune: <revision>` naming the revision the
  run is at, as `status.lastAttemptedRevision` writes it (`afflux reconcile ks NAME
  --allow-prune` sets it), or
- `afflux.toolkit.fluxcd.io/prune-guard: disabled` on the Kustomization (the guard is off
  for that object), or `--prune-guard-ratio=1` for the whole operator.

It is opt-out through an annotation and a flag, never a new field, so a repository stays
valid for Flux.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from afflux.api._meta import ALLOW_PRUNE_ANNOTATION
from afflux.api._meta import PRUNE_GUARD_ANNOTATION as GUARD_ANNOTATION

__all__ = ["ALLOW_PRUNE_ANNOTATION", "GUARD_ANNOTATION", "Guard", "hold_prune", "held_message"]


@dataclass(frozen=True)
class Guard:
    """The operator's thresholds."""

    ratio: float = 0.5
    minimum: int = 10


def hold_prune(guard: Guard, *, inventory: int, stale: int, revision: str,
               annotations: Mapping[str, str]) -> bool:
    """Should the prune of `stale` objects out of an `inventory` of that size be held?"""
    if stale == 0 or inventory <= guard.minimum or stale <= guard.ratio * inventory:
        return False
    if str(annotations.get(GUARD_ANNOTATION, "")).lower() == "disabled":
        return False
    return not (revision and annotations.get(ALLOW_PRUNE_ANNOTATION) == revision)


def held_message(kinds: Iterable[str], inventory: int, revision: str, name: str) -> str:
    """What a held prune says: how many objects of which kinds, and how to allow it."""
    counts = Counter(kinds)
    total = sum(counts.values())
    listed = ", ".join(f"{kind} x{n}" for kind, n in sorted(counts.items()))
    return (f"prune held: revision {revision} would delete {total} of {inventory} objects "
            f"({listed}); to allow it, annotate {ALLOW_PRUNE_ANNOTATION}={revision} "
            f"(afflux reconcile ks {name} --allow-prune), or "
            f"{GUARD_ANNOTATION}=disabled to turn the guard off for this Kustomization")
