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

Then the steady state with skipped applies: every Kustomization's interval becomes
`--steady-interval` (default 30s); after one interval (the generation change applies in
full), over `--steady-window` (default 60s): reconciles, applies skipped
(`afflux_apply_skipped_total`), the controller's CPU time and the API requests it made, per
reconcile. `--drift-watch=false` runs the controller without the watches (no edits then:
each would stay for an hour, as with Flux, which waits for the interval), for the steady
state without skipping.

    .venv/bin/python hack/bench/drift_latency.py
    .venv/bin/python hack/bench/drift_latency.py --count 1000 --edits 50
    .venv/bin/python hack/bench/drift_latency.py --drift-watch=false
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
    app_kustomization,
    coll_path,
    common_args,
    fmt_mib,
    fmt_s,
    fmt_summary,
    git_repository,
    is_ready,
    log,
    push_fleet,
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
    parser.add_argument("--drift-watch", default="true", choices=("true", "false"),
                        help="kustomize-controller's --drift-watch (default true)")
    parser.add_argument("--steady-interval", type=float, default=30.0,
                        help="the Kustomizations' interval in the steady state (s, default 30)")
    parser.add_argument("--steady-window", type=float, default=60.0,
                        help="seconds of steady state measured (default 60; 0 skips it)")
    args = parser.parse_args()
    count = args.count or scaled(100, args.scale)
    edits = args.edits or scaled(30, args.scale, minimum=5)
    params = {"count": count, "configmaps_each": PER_APP, "edits": edits,
              "pause_s": args.pause, "interval": "1h", "editor": EDITOR,
              "drift_watch": args.drift_watch, "steady_interval_s": args.steady_interval,
              "steady_window_s": args.steady_window}
    rng = random.Random(args.seed)

    with Bench(NAME, args, params) as bench:
        res = bench.results
        kube = bench.cluster()
        git = bench.git_server()
        revision = push_fleet(bench, git, "fleet", app_files(count), f"{count} apps")

        ns = kube.create_namespace("bench-drift")
        bench.source_controller(kube, ns)
        repos = coll_path(*SOURCE, "gitrepositories", ns)
        kss = coll_path(*KUSTOMIZE, "kustomizations", ns)
        cms = coll_path("", "v1", "configmaps", ns)
        kube.create(repos, git_repository("fleet", ns, git.url("fleet")))
        for i in range(count):
            kube.create(kss, app_kustomization(i, ns))
        ks_w = bench.watch(kube, kss)
        cm_w = bench.watch(kube, cms)
        ks = bench.controller(kube, "kustomize", "--watch-all-namespaces=false",
                              f"--namespace={ns}", f"--drift-watch={args.drift_watch}")
        t0 = time.monotonic()
        ks_w.wait_all(lambda o: is_ready(o) and
                      (o.get("status") or {}).get("lastAppliedRevision") == revision,
                      count, timeout=3600, what=f"{count} Kustomizations Ready")
        res["initial_sync_s"] = round(time.monotonic() - t0, 2)
        log(f"{count} Kustomizations Ready in {res['initial_sync_s']}s")

        def counter(metric: str) -> float:
            return sum(v for name, _, v in ks.metrics() if name == metric)

        def triggers() -> float:
            return counter("afflux_drift_triggers_total")

        trig0, cpu0 = triggers(), ks.cpu()
        latencies: list[float] = []
        for n in range(edits if args.drift_watch == "true" else 0):
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
        if latencies:
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

        if args.steady_window > 0:
            interval = f"{args.steady_interval:g}s"
            for i in range(count):
                kube.patch(f"{kss}/app-{i:04d}", {"spec": {"interval": interval}})
            log(f"intervals now {interval}; settling for one interval")
            time.sleep(args.steady_interval)
            n0, _ = ks.reconciles("Kustomization")
            skipped0, c0, a0 = counter("afflux_apply_skipped_total"), ks.cpu(), \
                kube.apiserver_counts()
            t0 = time.monotonic()
            time.sleep(args.steady_window)
            elapsed = time.monotonic() - t0
            n1, _ = ks.reconciles("Kustomization")
            skipped = counter("afflux_apply_skipped_total") - skipped0
            cpu_s = ks.cpu()["total"] - c0["total"]
            api = kube.apiserver_counts() - a0
            ops = sum(api.operator_side().values())
            reconciles = n1 - n0
            res["steady"] = {
                "window_s": round(elapsed, 1), "reconciles": reconciles,
                "applies_skipped": skipped, "cpu_s": round(cpu_s, 2),
                "cpu_ms_per_reconcile": round(1000 * cpu_s / reconciles, 1)
                if reconciles else None,
                "api_requests_per_reconcile": round(ops / reconciles, 2) if reconciles else None,
                "apiserver": api.as_json()}
            st = res["steady"]
            bench.row(f"steady ({interval} interval, {elapsed:.0f}s)",
                      f"{reconciles} reconciles, {skipped:.0f} applies skipped, "
                      f"{st['cpu_ms_per_reconcile']} ms CPU and "
                      f"{st['api_requests_per_reconcile']} API requests per reconcile")
        st = ks.status()
        res["peak_rss_kib"] = st["VmHWM"]
        bench.row("kustomize-controller peak RSS", fmt_mib(st["VmHWM"]))

if __name__ == "__main__":
    main()
