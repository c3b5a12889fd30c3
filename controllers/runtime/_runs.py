"""Per-run state: what the phases of one reconcile hand to each other.

An operator's first phase makes a fresh state object for the run and attaches it to the
`ReconcileContext`; later phases reach it by the context. `RunStates` keeps the states
weakly keyed by context, so a state lives exactly as long as its run (and an optional
`close` runs when the context goes away: releasing a lease on an unpacked artifact)::

    RUNS: RunStates[RunState] = RunStates()
    phases = [RUNS.begin(lambda: RunState(services)), fetch, apply, ...]
    state = RUNS.of(ctx)
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from ._pipeline import PhaseResult, ReconcileContext

__all__ = ["RunStates"]

S = TypeVar("S")


class RunStates(Generic[S]):
    """The run states of one kind's reconciles, by context (module docstring)."""

    def __init__(self) -> None:
        self._runs: weakref.WeakKeyDictionary[ReconcileContext[Any], S] = (
            weakref.WeakKeyDictionary())

    def of(self, ctx: ReconcileContext[Any]) -> S:
        """The run's state (attached by the `begin` phase)."""
        return self._runs[ctx]

    def begin(self, make: Callable[[], S], close: Callable[[S], object] | None = None
              ) -> Callable[[ReconcileContext[Any]], Awaitable[PhaseResult | None]]:
        """The first phase: attach `make()` to the context; `close(state)` when it goes."""

        async def begin_phase(ctx: ReconcileContext[Any]) -> PhaseResult | None:
            state = make()
            self._runs[ctx] = state
            if close is not None:
                weakref.finalize(ctx, close, state)
            return None

        return begin_phase
