"""`--kube-api-qps` / `--kube-api-burst` against the real API server: the client an operator
builds from its flags (the one every reconcile, status patch, Event and Lease request goes
through) spreads a burst of requests at the flags' rate, as client-go's token bucket does,
and a negative QPS (no limit) does not."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from afflux.controllers.runtime import ObjectRef, Operator, Resource, parse_options

pytestmark = pytest.mark.integration

NAMESPACES = Resource("", "v1", "Namespace", "namespaces", namespaced=False)
#: requests in the burst: at qps 2 and burst 2 the last starts (N - 2) / 2 s after the first
N = 8


def _timed_burst(cluster: Any, namespace: str, flags: list[str]) -> tuple[float, list[Any]]:
    """Seconds N concurrent GETs of `namespace` took through the client of an operator
    started with `flags`, and what they returned."""
    options = parse_options("kustomize-controller",
                            ["--metrics-addr=0", "--health-addr=0", *flags])
    operator = Operator("kustomize-controller", options, api_client=cluster.api_client())
    ref = ObjectRef(NAMESPACES, None, namespace)

    async def burst() -> tuple[float, list[Any]]:
        start = time.monotonic()
        got = await asyncio.gather(*(operator.kube.get(ref) for _ in range(N)))
        return time.monotonic() - start, list(got)

    try:
        return asyncio.run(burst())
    finally:
        operator.kube.close()  # type: ignore[attr-defined]


def test_a_burst_is_paced_at_the_flags_rate(cluster: Any, namespace: str) -> None:
    took, got = _timed_burst(cluster, namespace, ["--kube-api-qps=2", "--kube-api-burst=2"])
    assert [g["metadata"]["name"] for g in got] == [namespace] * N  # every request was answered
    assert took >= (N - 2) / 2


def test_a_negative_qps_does_not_pace(cluster: Any, namespace: str) -> None:
    took, got = _timed_burst(cluster, namespace, ["--kube-api-qps=-1", "--kube-api-burst=2"])
    assert [g["metadata"]["name"] for g in got] == [namespace] * N
    assert took < (N - 2) / 2
