"""Retries of artifact downloads, as Flux's `--http-retry` makes them.

kustomize- and helm-controller fetch a source's artifact over HTTP from source-controller.
Flux retries that GET (HashiCorp's retryablehttp, in fluxcd/pkg/http/fetch) up to
`--http-retry` times (default 9) after the first try, waiting 5s, 10s, 20s, then 30s
between tries; it retries what may pass on a second try and nothing else:

- a failure to connect, a reset or cut connection, a timeout of the try;
- an answer 429 Too Many Requests, or 5xx except 501 Not Implemented.

Any other answer (404 and every other 4xx, 501, a 200 whose body is too big or whose digest
is wrong) fails at once. `retryable` is that policy, `backoff` the wait before a retry, and
`with_retries` runs an attempt under both, reporting each retry to a callback (the caller
logs it). `HTTPStatusError` is how a download says what the server answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["DEFAULT_RETRIES", "HTTPStatusError", "MAX_WAIT", "MIN_WAIT", "backoff", "retryable",
           "with_retries"]

T = TypeVar("T")

#: Flux's default `--http-retry`
DEFAULT_RETRIES = 9
#: retryablehttp's waits as Flux's fetcher sets them: 5s doubling, at most 30s
MIN_WAIT = 5.0
MAX_WAIT = 30.0


class HTTPStatusError(OSError):
    """A download answered something else than 200 OK."""

    def __init__(self, url: str, status: int, reason: str = "") -> None:
        super().__init__(f"GET {url} answered {status} {reason}".rstrip())
        self.status = status


def retryable(err: BaseException) -> bool:
    """Whether a failed download is worth another try (module docstring)."""
    if isinstance(err, HTTPStatusError):
        return err.status == 429 or (500 <= err.status <= 599 and err.status != 501)
    if isinstance(err, ConnectionError | TimeoutError):
        return True
    try:
        import aiohttp  # noqa: PLC0415 - only the controller processes download
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        return False
    return isinstance(err, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError)


def backoff(retry: int, minimum: float = MIN_WAIT, maximum: float = MAX_WAIT) -> float:
    """The wait before retry number `retry` (1 for the first): `minimum` doubling, capped."""
    return min(maximum, minimum * 2 ** max(0, retry - 1))


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    retries: int,
    *,
    on_retry: Callable[[int, float, BaseException], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    minimum: float = MIN_WAIT,
    maximum: float = MAX_WAIT,
) -> T:
    """`attempt()`, tried again up to `retries` times while it fails with a retryable error
    (`on_retry(retry, wait, error)` before each wait); the last error is raised."""
    retry = 0
    while True:
        try:
            return await attempt()
        except Exception as err:
            if retry >= retries or not retryable(err):
                raise
            retry += 1
            wait = backoff(retry, minimum, maximum)
            if on_retry is not None:
                on_retry(retry, wait, err)
            await sleep(wait)
