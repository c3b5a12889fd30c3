"""Leader election: the pure rules, and two electors sharing one in-memory Lease."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from afflux.controllers.runtime import LeaderElector
from afflux.controllers.runtime._leader import LEASES, expired, micro_time, next_spec

from .fakes import FakeKube

NOW = datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_micro_time() -> None:
    assert micro_time(NOW) == "2024-01-01T12:00:00.123456Z"


def test_next_spec_acquire_renew_takeover() -> None:
    fresh = next_spec(None, "a", 35, NOW)
    assert fresh == {"holderIdentity": "a", "leaseDurationSeconds": 35, "leaseTransitions": 0,
                     "acquireTime": micro_time(NOW), "renewTime": micro_time(NOW)}
    renewed = next_spec(dict(fresh, renewTime="old"), "a", 35, NOW)
    assert renewed["leaseTransitions"] == 0 and renewed["renewTime"] == micro_time(NOW)
    taken = next_spec(fresh, "b", 35, NOW)
    assert taken["holderIdentity"] == "b" and taken["leaseTransitions"] == 1


def test_expired() -> None:
    assert not expired(100.0, 35, 120.0)
    assert expired(100.0, 35, 135.0)


class Tick:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_only_one_leads_until_the_lease_expires() -> None:
    kube = FakeKube()
    tick = Tick()

    def elector(identity: str) -> LeaderElector:
        return LeaderElector(kube, name="c-leader-election", namespace="flux-system",
                             identity=identity, lease_duration=10, clock=tick,
                             now=lambda: NOW)

    a, b = elector("a"), elector("b")

    async def scenario() -> None:
        assert await a.try_acquire_or_renew()
        assert not await b.try_acquire_or_renew()  # b first sees a's record now
        tick.t = 5
        assert await a.try_acquire_or_renew()  # a renews: record changes (same stamp here)
        assert not await b.try_acquire_or_renew()
        tick.t = 16  # b has seen the same record for >= 10s
        assert await b.try_acquire_or_renew()
        lease = await kube.get(a.ref)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "b"
        assert lease["spec"]["leaseTransitions"] == 1
        await b.release()
        lease = await kube.get(a.ref)
        assert lease is not None and lease["spec"]["holderIdentity"] == ""
        assert await a.try_acquire_or_renew()  # a released lease is free at once

    asyncio.run(scenario())
    assert a.ref.resource == LEASES


class Outage(FakeKube):
    """A FakeKube whose API server is away for the first `down` calls (a connection error,
    not an API answer: what a restarting kube-apiserver gives)."""

    def __init__(self, down: int) -> None:
        super().__init__()
        self.down = down

    async def get(self, ref):  # type: ignore[no-untyped-def]
        if self.down > 0:
            self.down -= 1
            raise ConnectionRefusedError("[Errno 111] Connection refused")
        return await super().get(ref)


def test_an_outage_of_any_kind_is_retried_and_the_leadership_taken_back() -> None:
    kube = Outage(down=3)
    beats: list[int] = []
    elector = LeaderElector(kube, name="c-leader-election", namespace="flux-system",
                            identity="a", retry_period=0.01, now=lambda: NOW,
                            heartbeat=lambda: beats.append(1))

    async def scenario() -> None:
        task = asyncio.create_task(elector.run())
        await asyncio.wait_for(elector.wait(), 5)
        assert not task.done(), "the loop must outlive the outage"
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert kube.down == 0 and elector.failures == 0
    assert len(beats) >= 4  # one beat per round, failed rounds included
