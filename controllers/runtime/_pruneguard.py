"""The mass-deletion guardrail (afflux's own, on by default): pure, no I/O. Shared by
kustomize-controller (prunes) and helm-controller (uninstalls a chart-name or release-name
change causes: every object of the release is deleted, and the new release creates its
objects anew, without the data of what was deleted).

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
valid for Flux. `add_guard_flags` declares the two flags for an operator, `Guard.from_flags`
reads them.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from afflux.api._meta import ALLOW_PRUNE_ANNOTATION
from afflux.api._meta import PRUNE_GUARD_ANNOTATION as GUARD_ANNOTATION

__all__ = ["ALLOW_PRUNE_ANNOTATION", "GUARD_ANNOTATION", "Guard", "add_guard_flags",
           "hold_prune", "held_message"]


@dataclass(frozen=True)
class Guard:
    """The operator's thresholds."""

    ratio: float = 0.5
    minimum: int = 10

    @classmethod
    def from_flags(cls, extra: Any) -> Guard:
        """The thresholds `add_guard_flags` declared (the defaults when not declared)."""
        return cls(getattr(extra, "prune_guard_ratio", 0.5), getattr(extra, "prune_guard_min",
                                                                      10))


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not in (0, 1]")
    return value


def add_guard_flags(parser: argparse.ArgumentParser, what: str = "a prune") -> None:
    """`--prune-guard-ratio` and `--prune-guard-min`."""
    parser.add_argument(
        "--prune-guard-ratio", type=_ratio, default=0.5, metavar="RATIO",
        help=f"hold {what} that would delete more than this share of an inventory (default "
        "0.5; 1 turns the guard off); see afflux.toolkit.fluxcd.io/allow-prune")
    parser.add_argument(
        "--prune-guard-min", type=int, default=10, metavar="N",
        help="inventories of at most N objects are never held (default 10)")


def hold_prune(guard: Guard, *, inventory: int, stale: int, revision: str,
               annotations: Mapping[str, str]) -> bool:
    """Should the prune of `stale` objects out of an `inventory` of that size be held?"""
    if stale == 0 or inventory <= guard.minimum or stale <= guard.ratio * inventory:
        return False
    if str(annotations.get(GUARD_ANNOTATION, "")).lower() == "disabled":
        return False
    return not (revision and annotations.get(ALLOW_PRUNE_ANNOTATION) == revision)


def held_message(kinds: Iterable[str], inventory: int, revision: str, name: str, *,
                 held: str = "prune", kind: str = "Kustomization", short: str = "ks") -> str:
    """What a held prune (or uninstall) says: how many objects of which kinds, and how to
    allow it."""
    counts = Counter(kinds)
    total = sum(counts.values())
    listed = ", ".join(f"{k} x{n}" for k, n in sorted(counts.items()))
    return (f"{held} held: revision {revision} would delete {total} of {inventory} objects "
            f"({listed}); to allow it, annotate {ALLOW_PRUNE_ANNOTATION}={revision} "
            f"(afflux reconcile {short} {name} --allow-prune), or "
            f"{GUARD_ANNOTATION}=disabled to turn the guard off for this {kind}")
