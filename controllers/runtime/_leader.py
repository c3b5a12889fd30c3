"""Leader election on a coordination.k8s.io/v1 Lease (`--enable-leader-election`).

The protocol is client-go's: the leader writes its identity and a renew time into the
Lease every `retry_period`; a candidate takes the Lease over once it has seen the same
record unchanged for `lease_duration` (time measured on the candidate's own monotonic
clock, so clock skew between nodes does not matter); every write carries the
resourceVersion it read, so of two candidates only one wins. A leader that cannot renew
within `renew_deadline` stops leading (its workers pause before their next run), and a
leader that stops releases the Lease so a successor need not wait it out.

Crash-only: every error of a round (the API server restarting, a refused connection, a
timeout, a bug's exception) is logged and the loop goes on at `retry_period`, so an
outage of any length ends with the leadership taken back; each round calls
`heartbeat()` so that `/healthz` sees a loop that stopped turning.

The Lease is `<controller-name>-leader-election` in `--namespace`, as in Flux. The
decisions (`expired`, `next_spec`) are pure; `LeaderElector` does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ._kube import ApiError, ConflictError, KubeClient
from ._object import ObjectRef, Resource

LEASES = Resource("coordination.k8s.io", "v1", "Lease", "leases")

_log = logging.getLogger("afflux.runtime.leader")


def micro_time(when: datetime) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def expired(observed_at: float, lease_duration: float, now: float) -> bool:
    """Has the record we last saw change at `observed_at` been left alone too long?"""
    return now - observed_at >= lease_duration


def next_spec(
    current: Mapping[str, Any] | None,
    identity: str,
    lease_duration: float,
    now: datetime,
) -> dict[str, Any]:
    """The Lease spec after `identity` acquires or renews it."""
    spec = dict(current or {})
    stamp = micro_time(now)
    if spec.get("holderIdentity") != identity:
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (
            1 if spec.get("holderIdentity") else 0)
        spec["acquireTime"] = stamp
    spec["holderIdentity"] = identity
    spec["leaseDurationSeconds"] = max(int(round(lease_duration)), 1)
    spec["renewTime"] = stamp
    return spec


class LeaderElector:
    """Takes and keeps a Lease; a `LeaderGate` for the schedulers."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        name: str,
        namespace: str,
        identity: str | None = None,
        lease_duration: float = 35.0,
        renew_deadline: float = 30.0,
        retry_period: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self.kube = kube
        self.heartbeat = heartbeat
        self.failures = 0
        self.ref = ObjectRef(LEASES, namespace, name)
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._clock = clock
        self._now = now
        self._leading = asyncio.Event()
        self._observed: tuple[Any, Any] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    async def wait(self) -> None:
        await self._leading.wait()

    async def run(self) -> None:
        """Acquire, then renew, until cancelled; release the Lease on the way out."""
        try:
            while True:
                self.heartbeat()
                try:
                    ok = await self.try_acquire_or_renew()
                    self.failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception as err:  # crash-only: every error is retried
                    self.failures += 1
                    what = str(err) if isinstance(err, ApiError) else (
                        f"{type(err).__name__}: {err}")
                    _log.warning("leader election: cannot reach the Lease (attempt %d, "
                                 "retrying every %.0fs): %s", self.failures,
                                 self.retry_period, what)
                    ok = False
                if ok:
                    if not self.is_leader:
                        _log.info("became the leader", extra={"identity": self.identity,
                                                              "lease": str(self.ref)})
                    self._renewed_at = self._clock()
                    self._leading.set()
                elif self.is_leader and self._clock() - self._renewed_at > self.renew_deadline:
                    _log.error("lost the leadership: could not renew the lease in time")
                    self._leading.clear()
                await asyncio.sleep(self.retry_period)
        finally:
            if self.is_leader:
                self._leading.clear()
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.release())

    async def try_acquire_or_renew(self) -> bool:
        lease = await self.kube.get(self.ref)
        now = self._now()
        if lease is None:
            body = {
                "apiVersion": LEASES.api_version,
                "kind": LEASES.kind,
                "metadata": {"name": self.ref.name, "namespace": self.ref.namespace},
                "spec": next_spec(None, self.identity, self.lease_duration, now),
            }
            try:
                await self.kube.create(LEASES, self.ref.namespace, body)
            except ConflictError:
                return False
            return True
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"))
        if record != self._observed:
            self._observed, self._observed_at = record, self._clock()
        holder = spec.get("holderIdentity")
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and not expired(
                self._observed_at, duration, self._clock()):
            return False
        lease["spec"] = next_spec(spec, self.identity, self.lease_duration, now)
        try:
            await self.kube.replace(self.ref, lease)
        except ConflictError:
            return False
        return True

    async def release(self) -> None:
        lease = await self.kube.get(self.ref)
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        lease["spec"] = dict(lease["spec"], holderIdentity="", leaseDurationSeconds=1)
        await self.kube.replace(self.ref, lease)
