#!/usr/bin/env python3
"""source-controller and many GitRepositories on one interval.

`--repos` GitRepositories (default 200), each on its own small repository (a bare
repository made once with `git push`, then copied under new names on the server's disk),
all with the same `--interval` (default 1m), created at once.

Measured:
- initial sync: all created -> all Ready with an artifact; first artifacts per second;
- steady state after `--settle` (default half an interval, so that the window holds whole
  rounds of reconciles) over `--window` (default two intervals; nothing changes): reconciles per
  second (from the controller's `gotk_reconcile_duration_seconds_count`), the controller's
  CPU time over the window from /proc/<pid>/stat (as a share of one core), Git server
  requests, and API server requests (`apiserver_request_total`);
- burst: requestedAt set on all at once -> all have handled it: no-change reconciles per
  second at full load (the controller's `--concurrent`, default 4).

    .venv/bin/python hack/bench/source_many.py                   # 200 repositories
    .venv/bin/python hack/bench/source_many.py --scale 0.25 --interval 30s
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    SOURCE,
    Bench,
    LocalRepo,
    auth_url,
    coll_path,
    common_args,
    fmt_mib,
    fmt_s,
    is_ready,
    log,
    scaled,
    stamp,
)

from afflux.controllers.runtime._duration import parse_duration  # noqa: E402

NAME = "source_many"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common_args(parser, NAME)
    parser.add_argument(
        "--repos", type=int, default=None, help="GitRepositories (default 200 x scale)"
    )
    parser.add_argument("--interval", default="1m", help="their spec.interval (default 1m)")
    parser.add_argument(
        "--window", default=None, help="steady-state window (default two intervals)"
    )
    parser.add_argument(
        "--settle", default=None, help="wait before the window (default half an interval)"
    )
    parser.add_argument(
        "--concurrent",
        type=int,
        default=None,
        help="the controller's --concurrent (default: its own default, 4)",
    )
    parser.add_argument("--files", type=int, default=20, help="files in each repository")
    args = parser.parse_args()
    count = args.repos or scaled(200, args.scale)
    interval = parse_duration(args.interval)
    window = parse_duration(args.window) if args.window else 2 * interval
    settle = parse_duration(args.settle) if args.settle else interval / 2
    params = {
        "repos": count,
        "interval": args.interval,
        "window_s": window,
        "settle_s": settle,
        "concurrent": args.concurrent or 4,
        "files_per_repo": args.files,
    }

    with Bench(NAME, args, params) as bench:
        res = bench.results
        kube = bench.cluster()
        git = bench.git_server()

        # one small repository, copied under `count` names
        git.create_repo("seed", public=True)
        local = LocalRepo(bench.workdir / "local-seed.git", auth_url(git, "seed"))
        sha = local.commit(
            {f"app/file-{i:03d}.yaml": f"key: value-{i}\n" * 20 for i in range(args.files)}, "seed"
        )
        local.push()
        seed = git.repo_path("seed")
        for i in range(count):
            shutil.copytree(seed, git.repo_path(f"many/r{i:04d}"))
        log(f"{count} repositories at {sha[:12]}")

        ns = kube.create_namespace("bench-source-many")
        extra = [f"--concurrent={args.concurrent}"] if args.concurrent else []
        ctl = bench.source_controller(kube, ns, *extra)
        repos = coll_path(*SOURCE, "gitrepositories", ns)
        watch = bench.watch(kube, repos)

        # initial sync
        cpu0 = ctl.cpu()
        git.clear_requests()
        t0 = time.monotonic()
        for i in range(count):
            kube.create(
                repos,
                {
                    "apiVersion": "/".join(SOURCE),
                    "kind": "GitRepository",
                    "metadata": {"name": f"r{i:04d}", "namespace": ns},
                    "spec": {
                        "url": git.url(f"many/r{i:04d}"),
                        "interval": args.interval,
                        "ref": {"branch": "main"},
                    },
                },
            )
        t_created = time.monotonic() - t0
        t1 = watch.wait_all(
            lambda o: is_ready(o) and bool(o["status"].get("artifact")),
            count,
            timeout=3600,
            what="all first artifacts",
        )
        initial = t1 - t0
        cpu1 = ctl.cpu()
        res["initial"] = {
            "seconds": round(initial, 2),
            "create_s": round(t_created, 2),
            "artifacts_per_s": round(count / initial, 2),
            "cpu_s": round(cpu1["total"] - cpu0["total"], 2),
            "git_requests": len(git.requests()),
        }
        log(f"initial: {count} artifacts in {initial:.1f}s ({count / initial:.1f}/s)")

        # steady state: nothing changes for `window` seconds
        time.sleep(settle)
        n0, s0 = ctl.reconciles("GitRepository")
        c0 = ctl.cpu()
        a0 = kube.apiserver_counts()
        git.clear_requests()
        t0 = time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - t0
        n1, s1 = ctl.reconciles("GitRepository")
        c1 = ctl.cpu()
        api = kube.apiserver_counts() - a0
        reconciles = n1 - n0
        cpu = c1["total"] - c0["total"]
        git_reqs = len(git.requests())
        res["steady"] = {
            "window_s": round(elapsed, 1),
            "reconciles": reconciles,
            "reconciles_per_s": round(reconciles / elapsed, 3),
            "expected_per_s": round(count / interval, 3),
            "reconcile_s_mean": round((s1 - s0) / reconciles, 4) if reconciles else None,
            "cpu_s": round(cpu, 2),
            "cpu_share_of_one_core": round(cpu / elapsed, 4),
            "cpu_ms_per_reconcile": round(1000 * cpu / reconciles, 1) if reconciles else None,
            "git_requests": git_reqs,
            "apiserver": api.as_json(),
        }
        log(f"steady: {reconciles} reconciles in {elapsed:.0f}s, CPU {cpu:.1f}s")

        # burst: requestedAt on all at once
        value = stamp()
        n0, _ = ctl.reconciles("GitRepository")
        c0 = ctl.cpu()
        t0 = time.monotonic()
        # eight at a time: one by one, the patches would set the pace, not the controller
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(lambda i: kube.request_reconcile(f"{repos}/r{i:04d}", value), range(count))
            )
        t_patch = time.monotonic() - t0
        t1 = watch.wait_all(
            lambda o: (o.get("status") or {}).get("lastHandledReconcileAt") == value,
            count,
            timeout=3600,
            what="all requestedAt handled",
        )
        burst = t1 - t0
        time.sleep(1.0)  # the metric is observed after the status patch
        c1 = ctl.cpu()
        n1, _ = ctl.reconciles("GitRepository")
        res["burst"] = {
            "seconds": round(burst, 2),
            "patch_s": round(t_patch, 2),
            "handled_per_s": round(count / burst, 2),
            "reconciles": n1 - n0,
            "cpu_s": round(c1["total"] - c0["total"], 2),
        }
        st = ctl.status()
        res["peak_rss_kib"] = st["VmHWM"]
        res["rss_kib"] = st["VmRSS"]
        res["threads"] = st["Threads"]

        bench.row(
            "GitRepositories",
            f"{count}, interval {args.interval}, --concurrent {params['concurrent']}",
        )
        bench.row(
            "initial sync",
            f"{fmt_s(initial)} ({count / initial:.1f} artifacts/s, "
            f"controller CPU {res['initial']['cpu_s']:.1f}s)",
        )
        s = res["steady"]
        bench.row(
            "steady: reconciles/s",
            f"{s['reconciles_per_s']} (expected "
            f"{s['expected_per_s']} = {count}/{interval:.0f}s; {reconciles} in "
            f"{elapsed:.0f}s)",
        )
        bench.row(
            "steady: CPU",
            f"{cpu:.1f}s over {elapsed:.0f}s = "
            f"{100 * s['cpu_share_of_one_core']:.1f}% of one core "
            f"({s['cpu_ms_per_reconcile']} ms per reconcile)",
        )
        bench.row(
            "steady: requests",
            f"git {git_reqs}, API server {api.total} "
            f"(operator-side {s['apiserver']['operator_side_total']})",
        )
        bench.row(
            "burst (requestedAt on all)",
            f"{fmt_s(burst)} = {count / burst:.1f} reconciles/s (CPU {res['burst']['cpu_s']:.1f}s)",
        )
        bench.row("RSS", f"peak {fmt_mib(st['VmHWM'])}, now {fmt_mib(st['VmRSS'])}")


if __name__ == "__main__":
    main()
