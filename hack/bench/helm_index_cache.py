#!/usr/bin/env python3
"""HelmCharts against one large Helm repository index, with and without source-controller's
cache of parsed indexes (`--helm-cache-max-size`): the HelmChart reconciler's index loading
(`HelmChartReconciler._load_index`: the stored index artifact read, verified and parsed, or
taken from the cache), without a cluster. An index of `--charts` charts with `--versions`
versions each is stored once as a HelmRepository artifact (real `Storage`); then
`--helmcharts` HelmCharts load it, first with the cache off (Flux's default, size 0), then
with `--helm-cache-max-size=10`; prints the parses and the time per load (median, p90).

    .venv/bin/python hack/bench/helm_index_cache.py --charts 1000 --versions 20 --helmcharts 50
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from afflux.controllers.runtime._options import parse_options
from afflux.controllers.source import _reconcile_helmchart
from afflux.controllers.source.__main__ import add_flags
from afflux.controllers.source._context import SourceContext
from afflux.controllers.source._helmindex import parse_index
from afflux.controllers.source._reconcile_helmchart import HelmChartReconciler


def large_index(charts: int, versions: int) -> bytes:
    entries = {
        f"chart-{c}": [{
            "apiVersion": "v2", "name": f"chart-{c}", "version": f"1.{v}.0",
            "appVersion": f"1.{v}.0", "description": "a chart of the benchmark",
            "created": "2026-12-01T00:00:00Z", "digest": f"{c:032x}{v:032x}",
            "urls": [f"chart-{c}-1.{v}.0.tgz"],
            "maintainers": [{"name": "afflux", "email": "afflux@example.invalid"}],
        } for v in range(versions)]
        for c in range(charts)
    }
    return yaml.safe_dump({"apiVersion": "v1", "entries": entries}).encode()


def run(root: Path, data: bytes, helmcharts: int, cache_size: int) -> tuple[int, list[float]]:
    options = parse_options("source-controller", [
        f"--storage-path={root}", f"--helm-cache-max-size={cache_size}"], add_flags)
    source = SourceContext.from_options(options)
    # the artifact as a HelmRepository stores it: the parsed index in canonical JSON
    index = parse_index(data)
    artifact = source.storage.write_bytes(source.storage.new_artifact(
        "HelmRepository", "bench", "repo", index.digest, "index-bench.yaml"), index.to_bytes())
    reconciler = HelmChartReconciler(source)
    parses = 0
    real_parse = _reconcile_helmchart.parse_index

    def counting(raw: bytes, **kwargs: Any) -> Any:
        nonlocal parses
        parses += 1
        return real_parse(raw, **kwargs)

    _reconcile_helmchart.parse_index = counting  # type: ignore[assignment]
    took = []
    try:
        for i in range(helmcharts):
            ctx = SimpleNamespace(obj=SimpleNamespace(name=f"chart-{i}", namespace="bench"),
                                  logger=logging.getLogger("bench"))
            start = time.perf_counter()
            loaded = asyncio.run(reconciler._load_index(ctx, artifact, 60))  # type: ignore[arg-type]
            took.append(time.perf_counter() - start)
            loaded.get(f"chart-{i % 10}", "1.x")
    finally:
        _reconcile_helmchart.parse_index = real_parse  # type: ignore[assignment]
    return parses, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charts", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--helmcharts", type=int, default=50)
    args = parser.parse_args()
    data = large_index(args.charts, args.versions)
    print(f"index: {args.charts} charts x {args.versions} versions, "
          f"{len(data) / 1048576:.1f} MiB of YAML")
    for size in (0, 10):
        with tempfile.TemporaryDirectory(prefix="afflux-bench-index-") as tmp:
            parses, took = run(Path(tmp), data, args.helmcharts, size)
        took.sort()
        p90 = took[min(len(took) - 1, int(len(took) * 0.9))]
        print(f"--helm-cache-max-size={size}: {args.helmcharts} HelmChart loads, {parses} "
              f"parses, total {sum(took):.2f} s, median {statistics.median(took) * 1000:.1f} "
              f"ms, p90 {p90 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
