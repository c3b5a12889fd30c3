#!/usr/bin/env python3
"""kustomize-controller with many Kustomizations from one GitRepository.

For each count in `--counts` (default 100,500,1000, times `--scale`), on a fresh local
cluster: one repository with that many directories `apps/app-NNNN/` of 10 ConfigMaps each
(and a kustomization.yaml), one GitRepository (Ready before anything is measured), and
that many Kustomizations (`prune: true`, `--interval`, default 5m), created before
kustomize-controller starts. Then kustomize-controller starts, and:

- initial sync: controller started -> every Kustomization Ready at the source's revision;
  API requests made meanwhile (`apiserver_request_total` scraped from the API server
  before and after, split by verb and resource; the control plane's own resources such
  as leases and nodes are counted apart); peak RSS (VmHWM of the controller; the
  `kustomize build` child processes are sampled apart); CPU time (the controller's own
  and its waited-for children's); and where the machine's CPU went meanwhile: the CPU
  seconds (own + waited-for children, /proc/<pid>/stat) of every process of the bench's
  world (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok,
  source-controller, the Git server, kustomize-controller, this script) against the
  machine's busy seconds (/proc/stat), the rest being "other";
- steady state (nothing changes): after `--settle` (default half an interval; all objects
  were reconciled together at the start, so their next rounds come together too, and a
  window starting half an interval later holds whole rounds), over `--window` (default
  one interval): reconciles, CPU time and API requests in the window, and per reconcile.
  If the initial sync took longer than the interval, there is no steady state to speak
  of: the controller is saturated, and the figures say so. `--window 0` skips it (the
  initial sync only: 10,000 need not wait out a 5 m interval and a half); `--steady-at`
  picks the counts that get it.

Progress goes to the log every 30 s during the long waits (Ready so far, the rate, the
controller's CPU and RSS), and every 1,000 objects created.

    .venv/bin/python hack/bench/kustomize_scale.py --counts 100
    .venv/bin/python hack/bench/kustomize_scale.py --counts 500,1000     # a quiet machine
    .venv/bin/python hack/bench/kustomize_scale.py --counts 1000,5000,10000 --window 0
    make bench BENCH=kustomize_scale BENCH_ARGS="--counts 100,500,1000"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    KUSTOMIZE,
    SOURCE,
    Bench,
    Controller,
    CpuLedger,
    Kube,
    LocalRepo,
    Profiler,
    RssSampler,
    app_kustomization,
    auth_url,
    coll_path,
    common_args,
    cpu_shares,
    cpu_table,
    fmt_mib,
    fmt_s,
    is_ready,
    log,
    other_processes,
    scaled,
    sync_figures,
    top_frames,
)

from afflux.cli.devenv import GitHTTPServer  # noqa: E402
from afflux.controllers.runtime._duration import parse_duration  # noqa: E402

NAME = "kustomize_scale"
PER_APP = 10
#: log a progress line every so many objects created
CREATE_PROGRESS = 1000


def default_timeout(count: int) -> float:
    """Seconds to wait for `count` Kustomizations Ready: 30 min plus 1 s each (about ten
    times the 0.1 s each of a quiet 5,000 run)."""
    return 1800.0 + 1.0 * count


def create_kustomizations(kube: Kube, path: str, bodies: Iterable[dict]) -> None:
    """Create them one after the other, with a progress line every `CREATE_PROGRESS`."""
    t0 = time.monotonic()
    for n, body in enumerate(bodies, start=1):
        kube.create(path, body)
        if n % CREATE_PROGRESS == 0:
            log(f"  {n} Kustomizations created ({time.monotonic() - t0:.0f}s)")


def world(kube: Kube, git: GitHTTPServer, source: Controller, ks: Controller) -> CpuLedger:
    """The CPU ledger of every process of the bench's world (a process not running is
    left out of a reading: the controller before its start)."""
    return CpuLedger(lambda: {
        **kube.cluster.state.pids,
        "source-controller": source.proc.pid,
        "git server": git.pid,
        "kustomize-controller": ks.proc.pid,
        "bench (this script)": os.getpid(),
    })


def app_files(count: int) -> dict[str, str]:
    files: dict[str, str] = {}
    for i in range(count):
        docs = []
        for j in range(PER_APP):
            docs.append(
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i:04d}-cm-{j:02d}\n"
                f"  labels:\n    app: app-{i:04d}\n"
                f'data:\n  index: "{j}"\n  app: app-{i:04d}\n'
                f"  settings.yaml: |\n    replicas: {1 + j % 3}\n    tier: t{j % 4}\n"
            )
        files[f"apps/app-{i:04d}/configmaps.yaml"] = "---\n".join(docs)
        files[f"apps/app-{i:04d}/kustomization.yaml"] = (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "resources:\n  - configmaps.yaml\n"
        )
    return files


def run_count(
    bench: Bench, git: GitHTTPServer, count: int, args: argparse.Namespace, window: float
) -> dict:
    res: dict = {"kustomizations": count, "configmaps": count * PER_APP}
    kube: Kube = bench.cluster()
    name = f"fleet-{count}"
    git.create_repo(name, public=True)
    local = LocalRepo(bench.workdir / f"local-{name}.git", auth_url(git, name))
    apps = max(count, args.repo_apps or 0)
    sha = local.commit(app_files(apps), f"{apps} apps")
    local.push()
    revision = f"main@sha1:{sha}"

    ns = kube.create_namespace("bench-ks")
    source = bench.source_controller(kube, ns)
    repos = coll_path(*SOURCE, "gitrepositories", ns)
    kube.create(
        repos,
        {
            "apiVersion": "/".join(SOURCE),
            "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": ns},
            "spec": {"url": git.url(name), "interval": "1h", "ref": {"branch": "main"}},
        },
    )
    kss = coll_path(*KUSTOMIZE, "kustomizations", ns)
    watch = bench.watch(kube, kss)
    src_watch = bench.watch(kube, repos)
    src_watch.wait_all(is_ready, 1, timeout=600, what="the GitRepository")
    artifact = (src_watch.get("fleet") or {})["status"]["artifact"]
    res["artifact_kib"] = round(artifact["size"] / 1024, 1)
    res["artifact_files"] = 2 * apps
    res["repo_apps"] = apps

    t0 = time.monotonic()
    create_kustomizations(kube, kss, (app_kustomization(i, ns, args.interval)
                                      for i in range(count)))
    res["create_s"] = round(time.monotonic() - t0, 2)
    log(f"{count} Kustomizations created in {res['create_s']}s")

    # initial sync, from the controller's start
    api0 = kube.apiserver_counts()
    ks = bench.controller(
        kube, "kustomize", "--watch-all-namespaces=false", f"--namespace={ns}",
        *args.controller_args, start=False
    )
    sampler = RssSampler(lambda: [ks.pid] if ks.proc.alive() else []).start()
    ledger = world(kube, git, source, ks)
    everyone0 = ledger.everyone()
    cpu0 = ledger.read()
    ks.start(timeout=300)
    t_start = ks.started_at
    profiler = None
    if args.py_spy is not None:  # from /readyz on: the first ready_after seconds are not in it
        profiler = Profiler(ks.pid, args.py_spy / f"initial-{count}-{args.py_spy_mode}.txt",
                            mode=args.py_spy_mode).start()

    def applied(o: dict) -> bool:
        return is_ready(o) and (o.get("status") or {}).get("lastAppliedRevision") == revision

    t_all = watch.wait_all(
        applied, count, timeout=args.timeout or default_timeout(count),
        what=f"{count} Kustomizations Ready", status=ks.brief,
    )
    initial = t_all - t_start
    cpu1 = ledger.read()
    everyone1 = ledger.everyone()
    api = kube.apiserver_counts() - api0
    if profiler is not None:
        path = profiler.stop()
        top = top_frames(path.read_text())
        path.with_suffix(".top.json").write_text(json.dumps(top, indent=1))
        res["profile"] = {"path": str(path), "mode": args.py_spy_mode, "top": top}
        log(f"{count}: py-spy profile {path}")
    figures = sync_figures(ks, "Kustomization", initial, count, api, per="per_kustomization_ms")
    st = ks.status()
    applied_cms = kube.count(
        coll_path("", "v1", "configmaps", ns),
        labelSelector=f"kustomize.toolkit.fluxcd.io/namespace={ns}",
    )
    res["initial"] = {**figures, "configmaps_applied": applied_cms,
                      "cpu_where": {**cpu_shares(cpu0[0], cpu1[0], cpu0[1], cpu1[1]),
                                    "other_top": other_processes(everyone0, everyone1,
                                                                 ledger.pids.values())}}
    res["source_vmhwm_kib"] = source.status()["VmHWM"]
    ops = api.operator_side()
    log(
        f"{count}: all Ready in {initial:.1f}s, {sum(ops.values())} operator-side API "
        f"requests, VmHWM {st['VmHWM'] / 1024:.0f} MiB"
    )

    if window <= 0 or (args.steady_at is not None and count not in args.steady_at):
        sampler.stop()
        res["steady"] = None
        st = ks.status()
        res["peak_rss_kib"] = st["VmHWM"]
        res["rss_end_kib"] = st["VmRSS"]
        res["peak_child_rss_kib"] = sampler.peak_child_kib
        res["peak_rss_with_children_kib"] = sampler.peak_sum_kib
        log(f"{count}: no steady-state window (--window 0, or not in --steady-at)")
        return res

    # steady state
    log(f"{count}: settling for {args.settle_s:.0f}s, then measuring for {window:.0f}s")
    time.sleep(args.settle_s)
    n0, s0 = ks.reconciles("Kustomization")
    c0 = ks.cpu()
    a0 = kube.apiserver_counts()
    e0 = watch.events
    t0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - t0
    n1, s1 = ks.reconciles("Kustomization")
    c1 = ks.cpu()
    api_s = kube.apiserver_counts() - a0
    sampler.stop()
    reconciles = n1 - n0
    cpu_s = c1["total"] - c0["total"]
    ops_s = sum(api_s.operator_side().values())
    res["steady"] = {
        "window_s": round(elapsed, 1),
        "reconciles": reconciles,
        "reconcile_s_mean": round((s1 - s0) / reconciles, 3) if reconciles else None,
        "cpu_s": round(cpu_s, 2),
        "cpu_s_children": round(c1["children"] - c0["children"], 2),
        "cpu_share_of_one_core": round(cpu_s / elapsed, 4),
        "cpu_ms_per_reconcile": round(1000 * cpu_s / reconciles, 1) if reconciles else None,
        "apiserver": api_s.as_json(),
        "api_requests_per_reconcile": round(ops_s / reconciles, 2) if reconciles else None,
        "still_ready": watch.count(applied),
        # MODIFIED events seen on the Kustomizations: a status patch that changes nothing
        # makes none, so this says whether the steady-state status patches wrote anything
        "kustomization_watch_events": watch.events - e0,
    }
    st = ks.status()
    res["peak_rss_kib"] = st["VmHWM"]
    res["rss_end_kib"] = st["VmRSS"]
    res["peak_child_rss_kib"] = sampler.peak_child_kib
    res["peak_rss_with_children_kib"] = sampler.peak_sum_kib
    log(
        f"{count}: steady {reconciles} reconciles in {elapsed:.0f}s, CPU {cpu_s:.1f}s, "
        f"{ops_s} operator-side API requests"
    )
    return res


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common_args(parser, NAME)
    parser.add_argument(
        "--counts",
        default=None,
        help="comma-separated Kustomization counts (default 100,500,1000 x scale)",
    )
    parser.add_argument("--interval", default="5m", help="the Kustomizations' spec.interval")
    parser.add_argument("--window", default=None,
                        help="steady-state window (default: interval; 0: no steady state)")
    parser.add_argument(
        "--settle", default=None, help="wait before the steady-state window (default: interval/2)"
    )
    parser.add_argument(
        "--steady-at", default=None,
        help="comma-separated counts that get the steady-state window (default: all); "
        "e.g. 10000: at 10,000 the initial sync outlasts the interval, so the rounds are "
        "already spread and a window right after it (--settle 1s) is a fair sample",
    )
    parser.add_argument(
        "--repo-apps",
        type=int,
        default=None,
        help="directories in the repository (default: as many as Kustomizations); more than "
        "the count makes each Kustomization's artifact bigger without more Kustomizations",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for all to be Ready (default 1800 + 1 per Kustomization)",
    )
    parser.add_argument(
        "--controller-args", type=shlex.split, default=[],
        help="more arguments for kustomize-controller, e.g. '--concurrent=8'",
    )
    parser.add_argument(
        "--py-spy", type=Path, default=None, metavar="DIR",
        help="profile kustomize-controller's initial sync (from /readyz to all Ready) with "
        "py-spy --nonblocking into DIR/initial-<count>-<mode>.txt (collapsed stacks) and "
        "its top frames into DIR/initial-<count>-<mode>.top.json",
    )
    parser.add_argument(
        "--py-spy-mode", choices=sorted(Profiler.MODES), default="gil",
        help="gil: the thread holding the GIL (CPU; default); active: every running thread; "
        "idle: every thread, waits included (py-spy --idle)",
    )
    args = parser.parse_args()
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    if args.counts:
        counts = [int(c) for c in args.counts.split(",") if c.strip()]
    else:
        counts = sorted({scaled(c, args.scale) for c in (100, 500, 1000)})
    window = parse_duration(args.window) if args.window else parse_duration(args.interval)
    args.steady_at = ({int(c) for c in args.steady_at.split(",") if c.strip()}
                      if args.steady_at else None)
    args.settle_s = (
        parse_duration(args.settle) if args.settle
        else 0.0 if window <= 0 else parse_duration(args.interval) / 2
    )
    params = {
        "counts": counts,
        "configmaps_each": PER_APP,
        "interval": args.interval,
        "window_s": window,
        "settle_s": args.settle_s,
        "repo_apps": args.repo_apps,
        "steady_at": sorted(args.steady_at) if args.steady_at is not None else None,
        "controller_args": args.controller_args,
        "py_spy": None if args.py_spy is None else {"mode": args.py_spy_mode},
    }

    with Bench(NAME, args, params) as bench:
        git = bench.git_server()
        runs = bench.results.setdefault("runs", [])
        for count in counts:
            with bench.scope(f"the run with {count}"):
                runs.append(run_count(bench, git, count, args, window))
        for r in runs:
            c = r["kustomizations"]
            i, s = r["initial"], r["steady"]
            bench.row(
                f"{c}: all Ready",
                f"{fmt_s(i['seconds'])} from controller start "
                f"({i['per_kustomization_ms']:.0f} ms each; {i['configmaps_applied']} "
                f"ConfigMaps; ready after {i['controller_ready_s']:.1f}s; artifact "
                f"{r['artifact_files']} files, {r['artifact_kib']:.0f} KiB)",
            )
            bench.row(
                f"{c}: initial API requests",
                f"{i['apiserver']['operator_side_total']} operator-side "
                f"({i['apiserver']['operator_side_total'] / c:.1f} per Kustomization; "
                f"control plane {i['apiserver']['control_plane_total']})",
            )
            bench.row(
                f"{c}: initial CPU",
                f"{i['cpu_s_self']:.1f}s controller + {i['cpu_s_children']:.1f}s kustomize build",
            )
            bench.row(f"{c}: where the machine's CPU went",
                      "initial sync, CPU seconds (own + children) and share of the busy")
            for label, value in cpu_table(i["cpu_where"], os.cpu_count() or 1):
                bench.row(f"    {label}", value)
            bench.row(
                f"{c}: peak RSS",
                f"{fmt_mib(r['peak_rss_kib'])} controller (VmHWM); "
                f"with children {fmt_mib(r['peak_rss_with_children_kib'])}; "
                f"source-controller {fmt_mib(r['source_vmhwm_kib'])}",
            )
            if s is None:
                bench.row(f"{c}: steady", "not measured (--window 0 or --steady-at)")
                continue
            bench.row(
                f"{c}: steady, per {s['window_s']:.0f}s",
                f"{s['reconciles']} reconciles, CPU {s['cpu_s']:.1f}s "
                f"({100 * s['cpu_share_of_one_core']:.1f}% of a core; "
                f"{s['cpu_ms_per_reconcile']} ms each), "
                f"{s['apiserver']['operator_side_total']} API requests "
                f"({s['api_requests_per_reconcile']} each)",
            )


if __name__ == "__main__":
    main()
