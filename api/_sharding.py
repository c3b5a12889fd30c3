"""Flux's sharding conventions (pure constants and functions): the label that assigns an
object to a shard, the selectors of the main instance and of shard i, and the name of the
leader-election Lease of an operator instance, which the operators take and `afflux check`
and `bootstrap` read."""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["MAIN_SELECTOR", "SHARD_KEY", "leader_lease_name", "shard_selector"]

#: the label whose value names the shard that reconciles an object
SHARD_KEY: Final = "sharding.fluxcd.io/key"
#: the main instance's `--watch-label-selector`: the objects of no shard
MAIN_SELECTOR: Final = f"!{SHARD_KEY}"


def shard_selector(index: int) -> str:
    """The selector of shard `index` (1-based): `sharding.fluxcd.io/key in (shard<index>)`."""
    return f"{SHARD_KEY} in (shard{index})"


def leader_lease_name(controller: str, selector: str = "") -> str:
    """The leader-election Lease of `controller`: `<controller>-leader-election` (Flux's
    name), and for an instance with a `--watch-label-selector` that name with 8 hex digits of
    the selector's SHA-256 appended, so that each shard elects its own leader."""
    base = f"{controller}-leader-election"
    if not selector:
        return base
    return f"{base}-{hashlib.sha256(selector.encode()).hexdigest()[:8]}"
