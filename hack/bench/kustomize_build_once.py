#!/usr/bin/env python3
"""The cost of one `kustomize build` as kustomize-controller runs it (`_build.build`: copy,
checks, the kustomize process in its own process group with a timeout timer, its output
read back), without a cluster: `--builds` builds (after one warm-up) of a temporary
directory of `--objects` ConfigMaps; prints the median and the 90th percentile.

    .venv/bin/python hack/bench/kustomize_build_once.py --builds 40 --objects 20
    make bench BENCH=kustomize_build_once
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from afflux.controllers.kustomize._build import BuildOptions, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=40)
    parser.add_argument("--objects", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="afflux-bench-build-") as tmp:
        app = Path(tmp) / "app"
        app.mkdir()
        names = []
        for i in range(args.objects):
            names.append(f"cm{i}.yaml")
            (app / names[-1]).write_text(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{k: v}}\n")
        (app / "kustomization.yaml").write_text(f"resources: [{', '.join(names)}]\n")
        build(tmp, BuildOptions(path="app"))
        took = []
        for _ in range(args.builds):
            start = time.perf_counter()
            build(tmp, BuildOptions(path="app"))
            took.append(time.perf_counter() - start)
    took.sort()
    p90 = took[min(len(took) - 1, int(len(took) * 0.9))]
    print(f"{args.builds} builds of {args.objects} objects: median "
          f"{statistics.median(took) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
