#!/usr/bin/env python3
"""What a Prometheus scrape of an operator costs with many objects.

`--objects` Kustomizations (default 1,000) and a tenth as many GitRepositories recorded in
the runtime's `Metrics` as the scheduler records them (a watch event each, one reconcile
each with its duration and conditions), then `/metrics` served by the runtime's own HTTP
server (`Servers`) on a loopback port and fetched `--scrapes` times: the time per scrape
(median, max), the exposition's size and its number of series. No cluster: the operators
build the exposition from memory, so this is the whole cost of a scrape.

    .venv/bin/python hack/bench/metrics_scrape.py                 # 1,000 Kustomizations
    .venv/bin/python hack/bench/metrics_scrape.py --scale 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import Bench, common_args, scaled  # noqa: E402

from afflux.controllers.runtime import Metrics  # noqa: E402
from afflux.controllers.runtime._serve import Servers  # noqa: E402

NAME = "metrics_scrape"


def populate(metrics: Metrics, kustomizations: int, sources: int) -> None:
    for i in range(sources):
        body = {"metadata": {"name": f"repo-{i:04d}", "namespace": "bench"},
                "spec": {"url": f"https://git.example/repo-{i}", "interval": "5m"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}],
                           "artifact": {"revision": f"main@sha1:{i:040x}"}}}
        metrics.record_object("source.toolkit.fluxcd.io", "v1", "GitRepository", body)
        metrics.record_suspend("GitRepository", "bench", f"repo-{i:04d}", False)
        metrics.observe_duration("GitRepository", "bench", f"repo-{i:04d}", 0.05)
        metrics.record_conditions("GitRepository", "bench", f"repo-{i:04d}",
                                  body["status"]["conditions"])
    for i in range(kustomizations):
        ready = "False" if i % 10 == 0 else "True"
        body = {"metadata": {"name": f"app-{i:04d}", "namespace": "bench"},
                "spec": {"sourceRef": {"kind": "GitRepository", "name": f"repo-{i % sources:04d}"}},
                "status": {"conditions": [{"type": "Ready", "status": ready}],
                           "lastAppliedRevision": f"main@sha1:{i:040x}"}}
        metrics.record_object("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", body)
        metrics.record_suspend("Kustomization", "bench", f"app-{i:04d}", False)
        metrics.observe_duration("Kustomization", "bench", f"app-{i:04d}", 0.2)
        metrics.record_conditions("Kustomization", "bench", f"app-{i:04d}",
                                  body["status"]["conditions"])
    for controller in ("kustomization", "gitrepository"):
        metrics.set_max_concurrent(controller, 4)
        metrics.end_work(metrics.begin_work(controller), "requeue_after")


async def scrape(metrics: Metrics, times: int) -> tuple[list[float], bytes]:
    servers = Servers(metrics=metrics, metrics_addr="127.0.0.1:0", health_addr="0",
                      ready=lambda: True)
    await servers.start()
    url = f"http://127.0.0.1:{servers.metrics_port}/metrics"
    durations: list[float] = []
    body = b""
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(times):
                t0 = time.perf_counter()
                async with session.get(url) as resp:
                    body = await resp.read()
                durations.append(time.perf_counter() - t0)
    finally:
        await servers.stop()
    return durations, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(parser, NAME)
    parser.add_argument("--objects", type=int, default=None,
                        help="Kustomizations (default 1,000 x scale); a tenth as many sources")
    parser.add_argument("--scrapes", type=int, default=20, help="scrapes timed (default 20)")
    args = parser.parse_args()
    count = args.objects or scaled(1000, args.scale)
    sources = max(1, count // 10)
    params = {"kustomizations": count, "gitrepositories": sources, "scrapes": args.scrapes}
    with Bench(NAME, args, params) as bench:
        metrics = Metrics()
        populate(metrics, count, sources)
        durations, body = asyncio.run(scrape(metrics, args.scrapes))
        lines = body.decode().splitlines()
        series = sum(1 for line in lines if line and not line.startswith("#"))
        res = bench.results
        res.update(scrape_median_s=statistics.median(durations), scrape_max_s=max(durations),
                   bytes=len(body), series=series)
        bench.row(f"scrape, {count} Kustomizations + {sources} GitRepositories",
                  f"median {res['scrape_median_s'] * 1000:.0f} ms, max "
                  f"{res['scrape_max_s'] * 1000:.0f} ms (n={len(durations)})")
        bench.row("exposition", f"{len(body) / 1024:.0f} KiB, {series} series "
                  f"({series / (count + sources):.0f} per object)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
