"""The client-side rate limit of requests to the Kubernetes API: a token bucket, as
client-go's (`--kube-api-qps`, `--kube-api-burst`, Flux's defaults 50 and 300). The
operators pace their `KubernetesClient` with it (`wait()`, on the event loop) and the CLI
its requests (`acquire()`, which sleeps the thread).

The bucket holds up to `burst` tokens and starts full; it refills at `qps` tokens a second;
each request takes one, waiting for it when the bucket is empty. As client-go: a QPS of 0
means its default of 5 a second and a burst of 0 its default of 10; a negative QPS means
no limit at all. Pure but for the clock and the sleep, both injectable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

__all__ = ["DEFAULT_BURST", "DEFAULT_QPS", "TokenBucket", "limiter_for"]

#: flux's defaults for --kube-api-qps and --kube-api-burst
DEFAULT_QPS = 50.0
DEFAULT_BURST = 300
#: client-go's own, for a QPS of 0
_CLIENT_GO_QPS = 5.0
_CLIENT_GO_BURST = 10


class TokenBucket:
    """`acquire()` takes a token, sleeping the thread until one is there; `wait()` the same
    on an event loop; `reserve()` takes one and says how long to wait for it (without
    sleeping). One bucket may be shared by threads and tasks."""

    def __init__(self, qps: float, burst: int, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if qps <= 0:
            raise ValueError(f"qps must be positive, not {qps}")
        self.qps = float(qps)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token (the balance may go below zero) and return the seconds until it is
        due: 0 while the burst lasts, then 1/qps apart."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def acquire(self) -> float:
        """Wait for a token; the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    async def wait(self) -> float:
        """Wait on the running event loop for a token; the seconds waited. A task cancelled
        while it waits has still spent its token (as client-go's reservation would not),
        which only makes the next requests wait longer, never exceed the rate."""
        wait = self.reserve()
        if wait > 0:
            await self._async_sleep(wait)
        return wait


def limiter_for(qps: float, burst: int, **kwargs: Callable[..., object]) -> TokenBucket | None:
    """The bucket for the flags' values: None (no limit) for a negative QPS; client-go's
    defaults for a QPS or burst of 0."""
    if qps < 0:
        return None
    return TokenBucket(qps or _CLIENT_GO_QPS, burst or _CLIENT_GO_BURST, **kwargs)
