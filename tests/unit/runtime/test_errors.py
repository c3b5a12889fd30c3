"""The one adapter from exceptions to dispositions."""

from __future__ import annotations

import pytest

from afflux.controllers.runtime import (
    GenericError,
    OutcomeKind,
    StallingError,
    WaitingError,
    disposition,
)

CASES = {
    "stalling": (StallingError("URLInvalid", "bad"), OutcomeKind.STALLED, "URLInvalid",
                 "Warning", None, False),
    "waiting-default": (WaitingError("DependencyNotReady", "dep"), OutcomeKind.WAITING,
                        "DependencyNotReady", None, None, False),
    "waiting-own-delay": (WaitingError("DependencyNotReady", "dep", 5), OutcomeKind.WAITING,
                          "DependencyNotReady", None, 5, False),
    "generic": (GenericError("GitOperationFailed", "t"), OutcomeKind.FAILED,
                "GitOperationFailed", "Warning", None, False),
    "unexpected": (KeyError("spec"), OutcomeKind.FAILED, "ReconciliationFailed", "Warning",
                   None, True),
}


@pytest.mark.parametrize(("err", "kind", "reason", "event", "requeue", "unexpected"),
                         CASES.values(), ids=CASES.keys())
def test_disposition(err: Exception, kind: OutcomeKind, reason: str, event: str | None,
                     requeue: float | None, unexpected: bool) -> None:
    d = disposition(err)
    assert (d.kind, d.reason, d.event_type, d.requeue_after, d.unexpected) == (
        kind, reason, event, requeue, unexpected)
    assert d.message


def test_unexpected_failure_reason_is_configurable() -> None:
    assert disposition(RuntimeError("x"), failure_reason="BuildFailed").reason == "BuildFailed"
