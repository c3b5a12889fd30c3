#!/usr/bin/env python3
"""From a `kubectl edit` of a managed object to its correction by kustomize-controller.

One repository with `--count` (default 100) directories of 10 ConfigMaps each, one
GitRepository, as many Kustomizations (`prune: true`, interval 1h, so the interval never
corrects anything during the run), kustomize-controller with its drift watches on (the
default). Once all are Ready, `--edits` times (default 30), `--pause` seconds apart: one
ConfigMap of a random Kustomization is changed by another field manager (`kubectl-edit`, as
`kubectl edit` does: a merge patch of its `data`), and the clock stops when a watch of the
ConfigMaps sees the value put back. Reported: p50/p95 of edit -> corrected, the drift
triggers the controller counted, and its CPU time over the edits.

`--drift-watch=false` on the controller would leave every edit in place for an hour: that
is the comparison (Flux waits for the interval).

    .venv/bin/python hack/bench/drift_latency.py
    .venv/bin/python hack/bench/drift_latency.py --count 1000 --edits 50
    make bench BENCH=drift_latency
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    KUSTOMIZE,
    SOURCE,
    Bench,
    LocalRepo,
    auth_url,
    coll_path,
    common_args,
    fmt_s,
    fmt_summary,
    is_ready,
    log,
    scaled,
    summary,
)
from kustomize_scale import PER_APP, app_files  # noqa: E402

NAME = "drift_latency"
EDITOR = "kubectl-edit"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common_args(parser, NAME)
    parser.add_argument("--count", type=int, default=None,
                        help="Kustomizations of 10 ConfigMaps (default 100 x scale)")
    parser.add_argument("--edits", type=int, default=None,
                        help="edits to time (default 30 x scale, at least 5)")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds between edits (default 1)")
    parser.add_argument("--seed", type=int, default=14, help="which objects get edited")
    args = parser.parse_args()
    count = args.count or scaled(100, args.scale)
    edits = args.edits or scaled(30, args.scale, minimum=5)
    params = {"count": count, "configmaps_each": PER_APP, "edits": edits,
              "pause_s": args.pause, "interval": "1h", "editor": EDITOR}
    rng = random.Random(args.seed)

    with Bench(NAME, args, params) as bench:
        res = bench.results
        kube = bench.cluster()
        git = bench.git_server()
        git.create_repo("fleet", public=True)
        local = LocalRepo(bench.workdir / "local-fleet.git", auth_url(git, "fleet"))
        sha = local.commit(app_files(count), f"{count} apps")
        local.push()
        revision = f"main@sha1:{sha}"

        ns = kube.create_namespace("bench-drift")
        bench.source_controller(kube, ns)
        repos = coll_path(*SOURCE, "gitrepositories", ns)
        kss = coll_path(*KUSTOMIZE, "kustomizations", ns)
        cms = coll_path("", "v1", "configmaps", ns)
        kube.create(repos, {
            "apiVersion": "/".join(SOURCE), "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": ns},
            "spec": {"url": git.url("fleet"), "interval": "1h", "ref": {"branch": "main"}}})
        for i in range(count):
            kube.create(kss, {
                "apiVersion": "/".join(KUSTOMIZE), "kind": "Kustomization",
                "metadata": {"name": f"app-{i:04d}", "namespace": ns},
                "spec": {"interval": "1h", "prune": True, "targetNamespace": ns,
                         "path": f"./apps/app-{i:04d}",
                         "sourceRef": {"kind": "GitRepository", "name": "fleet"}}})
        ks_w = bench.watch(kube, kss)
        cm_w = bench.watch(kube, cms)
        ks = bench.controller(kube, "kustomize", "--watch-all-namespaces=false",
                              f"--namespace={ns}")
        t0 = time.monotonic()
        ks_w.wait_all(lambda o: is_ready(o) and
                      (o.get("status") or {}).get("lastAppliedRevision") == revision,
                      count, timeout=3600, what=f"{count} Kustomizations Ready")
        res["initial_sync_s"] = round(time.monotonic() - t0, 2)
        log(f"{count} Kustomizations Ready in {res['initial_sync_s']}s")

        def triggers() -> float:
            return sum(v for name, _, v in ks.metrics() if name == "afflux_drift_triggers_total")

        trig0, cpu0 = triggers(), ks.cpu()
        latencies: list[float] = []
        for n in range(edits):
            time.sleep(args.pause)
            i, j = rng.randrange(count), rng.randrange(PER_APP)
            name = f"app-{i:04d}-cm-{j:02d}"
            original = str(j)
            start = time.monotonic()
            edited = kube.request("PATCH", f"{cms}/{name}", {"data": {"index": f"edited-{n}"}},
                                  content_type="application/merge-patch+json",
                                  fieldManager=EDITOR)
            edited_rv = int(edited["metadata"]["resourceVersion"])

            def corrected(objs: dict, nm: str = name, o: str = original,
                          rv: int = edited_rv) -> bool:
                obj = objs.get(nm) or {}
                return (int((obj.get("metadata") or {}).get("resourceVersion") or 0) > rv
                        and (obj.get("data") or {}).get("index") == o)

            done = cm_w.wait(corrected, timeout=600, what=f"{name} corrected")
            latencies.append(max(done - start, 0.0))
            log(f"edit {n + 1}/{edits}: {name} corrected after {fmt_s(latencies[-1])}")
        cpu1 = ks.cpu()

        stats = summary(latencies)
        res["edit_to_corrected"] = stats
        res["samples_s"] = [round(x, 3) for x in latencies]
        res["drift_triggers"] = triggers() - trig0
        res["controller_cpu_s_during_edits"] = round(cpu1["total"] - cpu0["total"], 2)
        bench.row(f"{count} Kustomizations: edit -> corrected",
                  f"p50 {fmt_s(stats['median'])}, p95 {fmt_s(stats['p95'])} "
                  f"({fmt_summary(stats)})")
        bench.row("drift triggers", f"{res['drift_triggers']:.0f} for {edits} edits")
        bench.row("controller CPU over the edits",
                  f"{res['controller_cpu_s_during_edits']:.2f}s")
        bench.row("initial sync", fmt_s(res["initial_sync_s"]))


if __name__ == "__main__":
    main()
