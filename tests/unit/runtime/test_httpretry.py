"""The retry policy of artifact downloads (`runtime._httpretry`, Flux's `--http-retry`):
which failures are tried again, the waits between tries, and how many tries there are."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from afflux.controllers.runtime._httpretry import (
    HTTPStatusError,
    backoff,
    retryable,
    with_retries,
)


@pytest.mark.parametrize(("error", "again"), [
    pytest.param(HTTPStatusError("u", 500), True, id="500"),
    pytest.param(HTTPStatusError("u", 502), True, id="502"),
    pytest.param(HTTPStatusError("u", 503), True, id="503"),
    pytest.param(HTTPStatusError("u", 429), True, id="429-too-many-requests"),
    pytest.param(HTTPStatusError("u", 501), False, id="501-not-implemented"),
    pytest.param(HTTPStatusError("u", 404), False, id="404"),
    pytest.param(HTTPStatusError("u", 403), False, id="403"),
    pytest.param(HTTPStatusError("u", 400), False, id="400"),
    pytest.param(ConnectionRefusedError(), True, id="connection-refused"),
    pytest.param(ConnectionResetError(), True, id="connection-reset"),
    pytest.param(TimeoutError(), True, id="timeout"),
    pytest.param(aiohttp.ServerDisconnectedError(), True, id="server-disconnected"),
    pytest.param(aiohttp.ClientPayloadError("cut"), True, id="body-cut"),
    pytest.param(ValueError("bad digest"), False, id="other-error"),
])
def test_retryable(error: BaseException, again: bool) -> None:
    assert retryable(error) is again


@pytest.mark.parametrize(("retry", "wait"), [
    pytest.param(1, 5.0, id="first"), pytest.param(2, 10.0, id="second"),
    pytest.param(3, 20.0, id="third"), pytest.param(4, 30.0, id="capped"),
    pytest.param(9, 30.0, id="ninth"),
])
def test_backoff_is_fluxs(retry: int, wait: float) -> None:
    assert backoff(retry) == wait


def _flaky(failures: list[BaseException]) -> tuple[list[int], object]:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls))
        if failures:
            raise failures.pop(0)
        return "served"

    return calls, attempt


def _run(attempt: object, retries: int, slept: list[float],
         retried: list[tuple[int, float]]) -> str:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return asyncio.run(with_retries(
        attempt, retries, sleep=sleep,  # type: ignore[arg-type]
        on_retry=lambda n, wait, _err: retried.append((n, wait))))


def test_transient_failures_are_retried_until_it_serves() -> None:
    calls, attempt = _flaky([HTTPStatusError("u", 503), ConnectionResetError(),
                             HTTPStatusError("u", 500)])
    slept: list[float] = []
    retried: list[tuple[int, float]] = []
    assert _run(attempt, 9, slept, retried) == "served"
    assert len(calls) == 4
    assert slept == [5.0, 10.0, 20.0]
    assert retried == [(1, 5.0), (2, 10.0), (3, 20.0)]


def test_a_4xx_fails_at_once() -> None:
    calls, attempt = _flaky([HTTPStatusError("u", 404)])
    slept: list[float] = []
    with pytest.raises(HTTPStatusError, match="404"):
        _run(attempt, 9, slept, [])
    assert len(calls) == 1 and slept == []


@pytest.mark.parametrize("retries", [0, 2])
def test_the_last_error_is_raised_after_the_retries(retries: int) -> None:
    calls, attempt = _flaky([HTTPStatusError("u", 502) for _ in range(5)])
    slept: list[float] = []
    with pytest.raises(HTTPStatusError, match="502"):
        _run(attempt, retries, slept, [])
    assert len(calls) == retries + 1
    assert len(slept) == retries
