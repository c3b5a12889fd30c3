"""`eventually`: the one way tests wait for something to become true."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.2,
    message: str = "",
) -> T:
    """Call `check` until it returns a truthy value without raising, and return that value.

    An AssertionError (or any exception) raised by `check` counts as "not yet". When
    `timeout` seconds pass, raise AssertionError with `message` and the last failure,
    so a test that times out says what it was waiting for and what it saw last.
    """
    deadline = time.monotonic() + timeout
    last: str = "check returned a falsy value"
    while True:
        try:
            value = check()
        except Exception as err:  # noqa: BLE001 - any failure means "not yet"
            last = f"{type(err).__name__}: {err}"
        else:
            if value:
                return value
            last = f"check returned {value!r}"
        if time.monotonic() >= deadline:
            what = message or getattr(check, "__name__", "condition")
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last}")
        time.sleep(interval)
