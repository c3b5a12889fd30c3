"""Crash-only supervision: what `/healthz` knows about the operator's long-lived tasks.

An operator is a handful of tasks that must run for as long as the process does: kopf's
watches, leader election, the endpoints, and per-operator ones (the artifact server).
Each retries its own transient errors with backoff and logs them; `TaskHealth` is where
they say how they are:

- `expect(name, within)`: the task promises a `beat(name)` at least every `within`
  seconds (a loop that hangs on a dead connection stops beating);
- `died(name, why)`: the task ended for good (the operator then stops and the process
  exits non-zero, so that its Deployment restarts it).

`problems(now)` lists what is wrong (empty: healthy); it is pure over the recorded times,
so it is tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["OperatorFailed", "TaskHealth"]


class OperatorFailed(RuntimeError):
    """A long-lived task of the operator ended for good."""


@dataclass
class _Expectation:
    within: float
    last: float


@dataclass
class TaskHealth:
    """The liveness of the operator's long-lived tasks (module docstring)."""

    clock: Callable[[], float] = time.monotonic
    _expected: dict[str, _Expectation] = field(default_factory=dict)
    _dead: dict[str, str] = field(default_factory=dict)

    def expect(self, name: str, within: float) -> None:
        """`name` will beat at least every `within` seconds from now on."""
        self._expected[name] = _Expectation(within, self.clock())

    def beat(self, name: str) -> None:
        expectation = self._expected.get(name)
        if expectation is not None:
            expectation.last = self.clock()

    def forget(self, name: str) -> None:
        """`name` stopped on purpose (the operator is stopping)."""
        self._expected.pop(name, None)

    def died(self, name: str, why: str) -> None:
        self._dead[name] = why
        self._expected.pop(name, None)

    def problems(self, now: float | None = None) -> list[str]:
        """What is wrong, one line per task; empty when every task is alive and beating."""
        now = self.clock() if now is None else now
        found = [f"{name} ended: {why}" for name, why in sorted(self._dead.items())]
        for name, exp in sorted(self._expected.items()):
            quiet = now - exp.last
            if quiet > exp.within:
                found.append(f"{name} has not made progress for {quiet:.0f}s "
                             f"(expected every {exp.within:.0f}s)")
        return found

    def healthy(self) -> bool:
        return not self.problems()
