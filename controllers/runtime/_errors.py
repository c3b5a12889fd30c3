"""Typed reconcile errors, and the one place that says what each of them means.

A phase signals failure by raising one of these; nothing else about retries, conditions
or events is decided in a phase. `disposition` is the single adapter from an exception to
what the rest of the machinery does with it:

| error           | Ready | Reconciling          | Stalled | next attempt              | event   |
| --------------- | ----- | -------------------- | ------- | ------------------------- | ------- |
| StallingError   | False | removed              | True    | none until the spec changes | Warning |
| WaitingError    | False | True, ProgressingWithRetry | removed | `requeue_after` (or `--requeue-dependency`) | none (logged) |
| GenericError    | False | True, ProgressingWithRetry | removed | exponential backoff       | Warning |
| any other error | as GenericError, reason `ReconciliationFailed`, logged with its traceback       |

A waiting error is an expected state (a dependency is not ready yet), so, as in Flux, it
is logged but not recorded as a Kubernetes Event: an Event per retry would only be noise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from afflux.api._meta import RECONCILIATION_FAILED


class ReconcileError(Exception):
    """A reconcile failed for a reason the user can read: `reason` is a Flux reason string
    (CamelCase, e.g. `GitOperationFailed`), `message` says what went wrong and, where it
    can, what to change."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r}, {self.message!r})"


class StallingError(ReconcileError):
    """Retrying cannot help until the spec changes (invalid input, unsupported option)."""


class WaitingError(ReconcileError):
    """Something this object needs is not ready yet: try again after `requeue_after`
    seconds (None means the operator's `--requeue-dependency`)."""

    def __init__(self, reason: str, message: str, requeue_after: float | None = None) -> None:
        super().__init__(reason, message)
        self.requeue_after = requeue_after


class GenericError(ReconcileError):
    """A failure that may go away by itself (network, remote server): retry with backoff."""


class OutcomeKind(enum.Enum):
    """How a reconcile ended, as far as conditions and scheduling care."""

    SUCCESS = "success"
    STALLED = "stalled"
    WAITING = "waiting"
    FAILED = "failed"


@dataclass(frozen=True)
class Disposition:
    """What the machinery does with an error: the outcome for the summary, the event to
    record (None: none), and the requeue delay the error asked for (None: the default
    for its kind)."""

    kind: OutcomeKind
    reason: str
    message: str
    event_type: str | None
    requeue_after: float | None = None
    unexpected: bool = False


def disposition(err: BaseException, *, failure_reason: str = RECONCILIATION_FAILED) -> Disposition:
    """Map any exception raised by a phase to its disposition (the table in this module's
    docstring). Unknown exceptions are treated as generic failures with `failure_reason`."""
    if isinstance(err, StallingError):
        return Disposition(OutcomeKind.STALLED, err.reason, err.message, "Warning")
    if isinstance(err, WaitingError):
        return Disposition(OutcomeKind.WAITING, err.reason, err.message, None, err.requeue_after)
    if isinstance(err, ReconcileError):
        return Disposition(OutcomeKind.FAILED, err.reason, err.message, "Warning")
    message = str(err) or type(err).__name__
    return Disposition(OutcomeKind.FAILED, failure_reason, message, "Warning", unexpected=True)
