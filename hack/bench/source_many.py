#!/usr/bin/env python3
"""source-controller and many GitRepositories (or OCIRepositories) on one interval.

`--repos` GitRepositories (default 200), each on its own small repository (a bare
repository made once with `git push`, then copied under new names on the server's disk),
all with the same `--interval` (default 1m), created at once. With `--kind oci`, as many
OCIRepositories instead, each on its own tag of one small artifact (a tar.gz layer of
`--files` files) in the local registry (TLS, htpasswd: `secretRef` and `certSecretRef`).

Measured:
- initial sync: all created -> all Ready with an artifact; first artifacts per second;
- steady state after `--settle` (default half an interval, so that the window holds whole
  rounds of reconciles) over `--window` (default two intervals; nothing changes): reconciles per
  second (from the controller's `gotk_reconcile_duration_seconds_count`), the controller's
  CPU time over the window from /proc/<pid>/stat (as a share of one core), Git server
  (or registry) requests, and API server requests (`apiserver_request_total`);
- burst: requestedAt set on all at once -> all have handled it: no-change reconciles per
  second at full load (the controller's `--concurrent`, default 4).

    .venv/bin/python hack/bench/source_many.py                   # 200 repositories
    .venv/bin/python hack/bench/source_many.py --scale 0.25 --interval 30s
    .venv/bin/python hack/bench/source_many.py --kind oci --repos 1000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    SOURCE,
    TAR_GZ_LAYER_TYPE,
    Bench,
    LocalRepo,
    RegistryLog,
    Tagger,
    auth_url,
    coll_path,
    common_args,
    fmt_mib,
    fmt_s,
    is_ready,
    log,
    scaled,
    stamp,
    tar_gz,
)

from afflux.controllers.runtime._duration import parse_duration  # noqa: E402

NAME = "source_many"
KINDS = {"git": ("GitRepository", "gitrepositories"), "oci": ("OCIRepository", "ocirepositories")}
CONTROLLER_AGENT = "afflux-source-controller"


class GitRemote:
    """`count` small Git repositories on the Git server; its request log."""

    def __init__(self, bench: Bench, count: int, files: dict[str, str]) -> None:
        git = self.server = bench.git_server()
        git.create_repo("seed", public=True)
        local = LocalRepo(bench.workdir / "local-seed.git", auth_url(git, "seed"))
        sha = local.commit(files, "seed")
        local.push()
        seed = git.repo_path("seed")
        for i in range(count):
            shutil.copytree(seed, git.repo_path(f"many/r{i:04d}"))
        log(f"{count} repositories at {sha[:12]}")

    def setup(self, kube: Any, ns: str) -> None:
        pass

    def spec(self, i: int, interval: str) -> dict[str, Any]:
        return {"url": self.server.url(f"many/r{i:04d}"), "interval": interval,
                "ref": {"branch": "main"}}

    def clear(self) -> None:
        self.server.clear_requests()

    def requests(self) -> list[str]:
        return [f"{r.method} {r.path} {r.status}" for r in self.server.requests()]


class OCIRemote:
    """One small artifact in the registry under `count` tags; the registry's access log."""

    def __init__(self, bench: Bench, count: int, files: dict[str, str]) -> None:
        self.registry = reg = bench.registry()
        tagger = Tagger(reg, layer=tar_gz(files), layer_type=TAR_GZ_LAYER_TYPE)
        took = tagger.tags("bench/many", [f"r{i:04d}" for i in range(count)])
        self.log = RegistryLog(reg)
        log(f"{count} tags of one artifact pushed in {took:.1f}s")

    def setup(self, kube: Any, ns: str) -> None:
        reg = self.registry
        auth = json.dumps({"auths": {reg.host: {"username": reg.username,
                                                "password": reg.password}}})
        kube.create_secret(ns, "regcred", {".dockerconfigjson": auth},
                           "kubernetes.io/dockerconfigjson")
        kube.create_secret(ns, "registry-ca", {"ca.crt": Path(reg.ca_cert).read_bytes()})

    def spec(self, i: int, interval: str) -> dict[str, Any]:
        return {"url": f"oci://{self.registry.host}/bench/many", "interval": interval,
                "ref": {"tag": f"r{i:04d}"}, "secretRef": {"name": "regcred"},
                "certSecretRef": {"name": "registry-ca"}}

    def clear(self) -> None:
        self.log.mark()

    def requests(self) -> list[str]:
        # the path without the tag or digest: one line per kind of request
        return [f"{r['method']} {r['path'].rsplit('/', 1)[0]}/… {r['status']}"
                for r in self.log.requests(CONTROLLER_AGENT)]


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
    parser.add_argument("--kind", choices=sorted(KINDS), default="git",
                        help="GitRepositories (git, default) or OCIRepositories (oci)")
    args = parser.parse_args()
    count = args.repos or scaled(200, args.scale)
    interval = parse_duration(args.interval)
    window = parse_duration(args.window) if args.window else 2 * interval
    settle = parse_duration(args.settle) if args.settle else interval / 2
    kind, plural = KINDS[args.kind]
    params = {
        "kind": kind,
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
        files = {f"app/file-{i:03d}.yaml": f"key: value-{i}\n" * 20 for i in range(args.files)}
        remote = (OCIRemote if args.kind == "oci" else GitRemote)(bench, count, files)

        ns = kube.create_namespace("bench-source-many")
        remote.setup(kube, ns)
        extra = [f"--concurrent={args.concurrent}"] if args.concurrent else []
        ctl = bench.source_controller(kube, ns, *extra)
        repos = coll_path(*SOURCE, plural, ns)
        watch = bench.watch(kube, repos)

        # initial sync
        cpu0 = ctl.cpu()
        remote.clear()
        t0 = time.monotonic()
        for i in range(count):
            kube.create(
                repos,
                {
                    "apiVersion": "/".join(SOURCE),
                    "kind": kind,
                    "metadata": {"name": f"r{i:04d}", "namespace": ns},
                    "spec": remote.spec(i, args.interval),
                },
            )
        t_created = time.monotonic() - t0
        t1 = watch.wait_all(
            lambda o: is_ready(o) and bool(o["status"].get("artifact")),
            count,
            timeout=3600,
            what="all first artifacts",
            status=ctl.brief,
        )
        initial = t1 - t0
        cpu1 = ctl.cpu()
        res["initial"] = {
            "seconds": round(initial, 2),
            "create_s": round(t_created, 2),
            "artifacts_per_s": round(count / initial, 2),
            "cpu_s": round(cpu1["total"] - cpu0["total"], 2),
            "remote_requests": len(remote.requests()),
        }
        log(f"initial: {count} artifacts in {initial:.1f}s ({count / initial:.1f}/s)")

        # steady state: nothing changes for `window` seconds
        time.sleep(settle)
        n0, s0 = ctl.reconciles(kind)
        c0 = ctl.cpu()
        a0 = kube.apiserver_counts()
        remote.clear()
        t0 = time.monotonic()
        time.sleep(window)
        elapsed = time.monotonic() - t0
        n1, s1 = ctl.reconciles(kind)
        c1 = ctl.cpu()
        api = kube.apiserver_counts() - a0
        reconciles = n1 - n0
        cpu = c1["total"] - c0["total"]
        remote_reqs = remote.requests()
        git_reqs = len(remote_reqs)
        res["steady"] = {
            "window_s": round(elapsed, 1),
            "reconciles": reconciles,
            "reconciles_per_s": round(reconciles / elapsed, 3),
            "expected_per_s": round(count / interval, 3),
            "reconcile_s_mean": round((s1 - s0) / reconciles, 4) if reconciles else None,
            "cpu_s": round(cpu, 2),
            "cpu_share_of_one_core": round(cpu / elapsed, 4),
            "cpu_ms_per_reconcile": round(1000 * cpu / reconciles, 1) if reconciles else None,
            "remote_requests": git_reqs,
            "remote_requests_per_reconcile": round(git_reqs / reconciles, 2)
            if reconciles else None,
            "remote_requests_by_kind": dict(Counter(remote_reqs).most_common()),
            "apiserver": api.as_json(),
        }
        log(f"steady: {reconciles} reconciles in {elapsed:.0f}s, CPU {cpu:.1f}s")

        # burst: requestedAt on all at once
        value = stamp()
        n0, _ = ctl.reconciles(kind)
        c0 = ctl.cpu()
        remote.clear()
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
            status=ctl.brief,
        )
        burst = t1 - t0
        time.sleep(1.0)  # the metric is observed after the status patch
        c1 = ctl.cpu()
        n1, _ = ctl.reconciles(kind)
        res["burst"] = {
            "remote_requests": len(remote.requests()),
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
            f"{kind} objects",
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
            f"{args.kind} {git_reqs} ({s['remote_requests_per_reconcile']} per reconcile: "
            f"{s['remote_requests_by_kind']}), API server {api.total} "
            f"(operator-side {s['apiserver']['operator_side_total']})",
        )
        bench.row(
            "burst (requestedAt on all)",
            f"{fmt_s(burst)} = {count / burst:.1f} reconciles/s (CPU {res['burst']['cpu_s']:.1f}s)",
        )
        bench.row("RSS", f"peak {fmt_mib(st['VmHWM'])}, now {fmt_mib(st['VmRSS'])}")


if __name__ == "__main__":
    main()
