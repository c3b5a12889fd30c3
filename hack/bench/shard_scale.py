#!/usr/bin/env python3
"""kustomize-controller sharded: the same Kustomizations over 1, 2 and 4 shards.

For each shard count S in `--shards` (default 1,2,4), on a fresh local cluster: one
repository of `--count` directories (default 1000 x scale) of 10 ConfigMaps each, one
GitRepository (Ready before anything is measured, served by one source-controller), and
`--count` Kustomizations created before any kustomize-controller starts, Kustomization i
labelled `sharding.fluxcd.io/key: shard<(i mod S) + 1>`. Then S kustomize-controllers
start at once, shard k with `--watch-label-selector=sharding.fluxcd.io/key in (shard<k>)`
(S = 1: one unsharded controller and no labels, the baseline), and:

- time from the first start to every Kustomization Ready at the source's revision;
- per shard: the Kustomizations it reconciled, its CPU time (own, and its `kustomize
  build` children's), its peak RSS (VmHWM), and when its last Kustomization became Ready;
- the API requests made meanwhile (operator side, from `apiserver_request_total`).

Progress goes to the log every 30 s while waiting (Ready so far, the rate, each shard's
CPU and RSS), and every 1,000 Kustomizations created.

All shards, the API server and etcd share this machine's cores, so the figures show
where adding processes stops paying: once the cores or the API server are saturated,
more shards only add their own overhead.

    .venv/bin/python hack/bench/shard_scale.py --count 300
    make bench BENCH=shard_scale BENCH_ARGS="--count 1000 --shards 1,2,4"
    .venv/bin/python hack/bench/shard_scale.py --count 5000 --shards 1,2,4   # the issue's size
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    KUSTOMIZE,
    SOURCE,
    Bench,
    Controller,
    Kube,
    app_kustomization,
    coll_path,
    common_args,
    fmt_mib,
    fmt_s,
    git_repository,
    is_ready,
    log,
    push_fleet,
    scaled,
)
from kustomize_scale import (  # noqa: E402
    PER_APP,
    app_files,
    create_kustomizations,
    default_timeout,
)

from afflux.api._sharding import SHARD_KEY, shard_selector  # noqa: E402
from afflux.cli.devenv import GitHTTPServer  # noqa: E402

NAME = "shard_scale"


def start_shards(bench: Bench, kube: Kube, ns: str, shards: int) -> list[Controller]:
    """`shards` kustomize-controllers started together (each waited for afterwards)."""
    ctls = []
    for k in range(1, shards + 1):
        selector = [f"--watch-label-selector={shard_selector(k)}"] if shards > 1 else []
        ctl = Controller("kustomize", kube.kubeconfig, bench.workdir,
                         ["--watch-all-namespaces=false", f"--namespace={ns}",
                          "--enable-leader-election", *selector], bench.args.log_level)
        ctl.log_path = ctl.proc.log_path = bench.workdir / f"kustomize-shard{k}-of-{shards}.log"
        ctl.name = f"shard{k}"  # in progress lines and errors (the module was chosen above)
        bench.on_exit(f"kustomize shard {k}", ctl.stop)
        ctls.append(ctl)
    for ctl in ctls:
        ctl.started_at = time.monotonic()
        ctl.proc.start()
    for ctl in ctls:
        ctl.proc.wait_until(lambda c=ctl: c.ready_now(), "ready (/readyz)", timeout=300)
        ctl.ready_after = time.monotonic() - ctl.started_at
    return ctls


def run_shards(bench: Bench, git: GitHTTPServer, shards: int, count: int,
               args: argparse.Namespace) -> dict:
    res: dict = {"shards": shards, "kustomizations": count}
    kube: Kube = bench.cluster()
    name = f"fleet-{shards}"
    revision = push_fleet(bench, git, name, app_files(count), f"{count} apps")

    ns = kube.create_namespace("bench-shard")
    bench.source_controller(kube, ns)
    repos = coll_path(*SOURCE, "gitrepositories", ns)
    kube.create(repos, git_repository("fleet", ns, git.url(name)))
    kss = coll_path(*KUSTOMIZE, "kustomizations", ns)
    watch = bench.watch(kube, kss)
    bench.watch(kube, repos).wait_all(is_ready, 1, timeout=600, what="the GitRepository")

    t0 = time.monotonic()
    create_kustomizations(kube, kss, (
        app_kustomization(i, ns, args.interval,
                          {SHARD_KEY: f"shard{i % shards + 1}"} if shards > 1 else {})
        for i in range(count)))
    res["create_s"] = round(time.monotonic() - t0, 2)
    log(f"{shards} shard(s): {count} Kustomizations created in {res['create_s']}s")

    api0 = kube.apiserver_counts()
    ctls = start_shards(bench, kube, ns, shards)
    t_start = min(c.started_at for c in ctls)

    def applied(o: dict) -> bool:
        return is_ready(o) and (o.get("status") or {}).get("lastAppliedRevision") == revision

    t_all = watch.wait_all(applied, count, timeout=args.timeout or default_timeout(count),
                           what=f"{count} Kustomizations Ready over {shards} shard(s)",
                           status=lambda: "; ".join(c.brief() for c in ctls))
    api = kube.apiserver_counts() - api0
    res["seconds"] = round(t_all - t_start, 2)
    res["api_operator_side"] = sum(api.operator_side().values())
    res["per_shard"] = []
    for k, ctl in enumerate(ctls, start=1):
        n, _ = ctl.reconciles("Kustomization")
        cpu = ctl.cpu()
        res["per_shard"].append({
            "shard": k, "reconciles": n, "ready_after_s": round(ctl.ready_after, 2),
            "cpu_s_self": round(cpu["self"], 2), "cpu_s_children": round(cpu["children"], 2),
            "vmhwm_kib": ctl.status()["VmHWM"]})
    cpu_total = sum(s["cpu_s_self"] + s["cpu_s_children"] for s in res["per_shard"])
    res["cpu_s_total"] = round(cpu_total, 2)
    log(f"{shards} shard(s): all {count} Ready in {res['seconds']:.1f}s, CPU {cpu_total:.1f}s "
        f"over all shards, {res['api_operator_side']} operator-side API requests")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(parser, NAME)
    parser.add_argument("--count", type=int, default=None,
                        help="Kustomizations (default 1000 x scale; the issue asks 5000)")
    parser.add_argument("--shards", default="1,2,4", help="shard counts (default 1,2,4)")
    parser.add_argument("--interval", default="1h", help="the Kustomizations' spec.interval")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds to wait for all to be Ready (default 1800 + 1 per "
                        "Kustomization)")
    args = parser.parse_args()
    count = args.count or scaled(1000, args.scale)
    shard_counts = [int(s) for s in args.shards.split(",") if s.strip()]
    params = {"count": count, "shards": shard_counts, "configmaps_each": PER_APP,
              "interval": args.interval}
    with Bench(NAME, args, params) as bench:
        git = bench.git_server()
        runs = bench.results.setdefault("runs", [])
        for shards in shard_counts:
            with bench.scope(f"the run with {shards} shard(s)"):
                runs.append(run_shards(bench, git, shards, count, args))
        base = runs[0]["seconds"] if runs else None
        for r in runs:
            speedup = f", x{base / r['seconds']:.2f} vs {runs[0]['shards']}" if base else ""
            bench.row(f"{r['shards']} shard(s): all Ready",
                      f"{fmt_s(r['seconds'])} for {r['kustomizations']}{speedup}; CPU "
                      f"{r['cpu_s_total']:.1f}s in all; {r['api_operator_side']} API requests")
            for s in r["per_shard"]:
                bench.row(f"  shard {s['shard']}/{r['shards']}",
                          f"{s['reconciles']} reconciles, CPU {s['cpu_s_self']:.1f}s + "
                          f"{s['cpu_s_children']:.1f}s kustomize build, peak "
                          f"{fmt_mib(s['vmhwm_kib'])}")


if __name__ == "__main__":
    main()
