"""The client-side rate limit of `--kube-api-qps` / `--kube-api-burst`: a token bucket on a
fake clock (the waits it asks for, and that it sleeps them, in a thread or on an event loop)."""

from __future__ import annotations

import asyncio

import pytest

from afflux.controllers.runtime._ratelimit import (
    DEFAULT_BURST,
    DEFAULT_QPS,
    TokenBucket,
    limiter_for,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.mark.parametrize(
    ("qps", "burst", "requests_at", "waits"),
    [
        pytest.param(10, 3, [0, 0, 0], [0, 0, 0], id="the-burst-goes-at-once"),
        pytest.param(10, 3, [0, 0, 0, 0, 0], [0, 0, 0, 0.1, 0.2], id="then-1-over-qps-apart"),
        pytest.param(2, 1, [0, 0, 0], [0, 0.5, 1.0], id="burst-1"),
        pytest.param(10, 2, [0, 0, 1.0, 1.0, 1.0], [0, 0, 0, 0, 0.1],
                     id="refills-at-qps-up-to-the-burst"),
        pytest.param(10, 2, [0, 0, 0, 0.05], [0, 0, 0.1, 0.15],
                     id="a-wait-already-owed-is-kept"),
        pytest.param(4, 0, [0, 0], [0, 0.25], id="burst-0-means-1"),
    ],
)
def test_reserve(qps: float, burst: int, requests_at: list[float], waits: list[float]) -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps, burst, clock=clock, sleep=clock.sleep)
    got = []
    for at in requests_at:
        clock.now = 100.0 + at
        got.append(bucket.reserve())
    assert got == pytest.approx(waits)


def test_acquire_sleeps_the_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, 2, clock=clock, sleep=clock.sleep)
    waited = [bucket.acquire() for _ in range(4)]
    assert waited == pytest.approx([0, 0, 0.2, 0.2])
    assert clock.slept == pytest.approx([0.2, 0.2])
    assert clock.now == pytest.approx(100.4)


def test_wait_sleeps_the_wait_on_the_event_loop() -> None:
    """The operators' path: `wait()` awaits the same waits `acquire()` sleeps, so a burst of
    N requests at qps 2, burst 2 is spread over (N - 2) / 2 seconds."""
    clock = FakeClock()
    bucket = TokenBucket(2, 2, clock=clock, sleep=clock.sleep, async_sleep=clock.async_sleep)

    async def burst() -> list[float]:
        return [await bucket.wait() for _ in range(6)]

    assert asyncio.run(burst()) == pytest.approx([0, 0, 0.5, 0.5, 0.5, 0.5])
    assert clock.now - 100.0 == pytest.approx((6 - 2) / 2)


def test_concurrent_waiters_queue_behind_each_other() -> None:
    """Tasks that ask at the same moment are given successive slots, not the same one."""
    clock = FakeClock()
    bucket = TokenBucket(4, 1, clock=clock)
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0.25, 0.5, 0.75])


@pytest.mark.parametrize(
    ("qps", "burst", "expected"),
    [
        pytest.param(DEFAULT_QPS, DEFAULT_BURST, (50.0, 300), id="flux-defaults"),
        pytest.param(0, 0, (5.0, 10), id="zero-is-client-go-default"),
        pytest.param(2.5, 0, (2.5, 10), id="burst-zero-is-client-go-default"),
        pytest.param(-1, 300, None, id="negative-qps-no-limit"),
    ],
)
def test_limiter_for(qps: float, burst: int, expected: tuple[float, int] | None) -> None:
    bucket = limiter_for(qps, burst)
    assert (None if bucket is None else (bucket.qps, bucket.burst)) == expected


def test_positive_qps_required() -> None:
    with pytest.raises(ValueError, match="qps must be positive"):
        TokenBucket(0, 1)
