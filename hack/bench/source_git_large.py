#!/usr/bin/env python3
"""source-controller and one large Git repository.

A repository of `--files` files totalling `--size-mb` MB (default 10,000 / 100 MB) is
generated deterministically (same commit SHA on every run; content: pseudo-random hex
text, which gzip packs to about half, the archiver's worst case short of binary data),
pushed over smart HTTP to the local Git server, and one GitRepository points at it.

Measured:
- time to first artifact: GitRepository created -> Ready with `status.artifact`;
- peak RSS of the controller process (VmHWM), against the goal of < 250 MB;
- no-change reconcile (`--repeat` times): requestedAt set, no new commit ->
  `status.lastHandledReconcileAt` equals it; goal < 1 s and one remote ref lookup: the Git
  server's requests for the repository are counted;
- one changed file: pushed, requestedAt -> the new artifact.

    .venv/bin/python hack/bench/source_git_large.py               # the issue's size
    .venv/bin/python hack/bench/source_git_large.py --scale 0.1   # 1,000 files / 10 MB
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    SOURCE,
    Bench,
    LocalRepo,
    auth_url,
    bench_parser,
    coll_path,
    fmt_mib,
    fmt_s,
    fmt_summary,
    is_ready,
    log,
    scaled,
    summary,
)

NAME = "source_git_large"
GOAL_RSS_MB = 250
GOAL_NOCHANGE_S = 1.0


def generate(files: int, total_bytes: int, seed: int = 1) -> Iterator[tuple[str, bytes]]:
    """`files` files of hex text in directories of 100, sizes varying, summing to `total_bytes`."""
    rng = random.Random(seed)
    weights = [rng.uniform(0.1, 1.9) for _ in range(files)]
    scale = total_bytes / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[-1] += total_bytes - sum(sizes)
    for i, size in enumerate(sizes):
        raw = rng.randbytes((size + 1) // 2).hex()[:size]
        # lines of 80 characters, like text
        lines = [raw[j : j + 79] for j in range(0, len(raw), 79)]
        data = "\n".join(lines).encode()[:size]
        yield f"data/d{i // 100:03d}/f{i % 100:02d}-{i:05d}.txt", data


def main() -> None:
    parser = bench_parser(NAME, __doc__)
    parser.add_argument("--files", type=int, default=None, help="files (default 10000 x scale)")
    parser.add_argument(
        "--size-mb", type=float, default=None, help="total size in MB (default 100 x scale)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="no-change reconciles to time")
    parser.add_argument(
        "--git-timeout",
        default="10m",
        help="the GitRepository's spec.timeout (default 10m; Flux's default "
        "60s may be too short for a cold clone on a busy machine)",
    )
    parser.add_argument(
        "--auth",
        action="store_true",
        help="a private repository read with basic auth (spec.secretRef) instead of a "
        "public one: libgit2 asks without credentials first, so each lookup is two requests",
    )
    args = parser.parse_args()
    files = args.files or scaled(10_000, args.scale)
    size = int((args.size_mb if args.size_mb is not None else 100 * args.scale) * 1_000_000)
    params = {
        "files": files,
        "bytes": size,
        "repeat": args.repeat,
        "git_timeout": args.git_timeout,
        "auth": args.auth,
    }

    with Bench(NAME, args, params) as bench:
        res = bench.results
        kube = bench.cluster()
        git = bench.git_server()
        git.create_repo("big", public=not args.auth)

        # the repository
        t0 = time.monotonic()
        local = LocalRepo(bench.workdir / "local-big.git", auth_url(git, "big"))
        sha = local.commit(generate(files, size), "10,000 files")
        t_gen = time.monotonic() - t0
        t_push = local.push()
        pack_kib = sum(p.stat().st_size for p in git.repo_path("big").rglob("*.pack")) / 1024
        log(
            f"repository {sha[:12]}: generated in {t_gen:.1f}s, pushed in {t_push:.1f}s, "
            f"pack {pack_kib / 1024:.0f} MiB"
        )
        res["repository"] = {
            "commit": sha,
            "files": files,
            "bytes": size,
            "generate_s": round(t_gen, 2),
            "push_s": round(t_push, 2),
            "server_pack_mib": round(pack_kib / 1024, 1),
        }

        ns = kube.create_namespace("bench-git-large")
        ctl = bench.source_controller(kube, ns)
        res["controller_ready_s"] = round(ctl.ready_after, 2)
        res["rss_idle_kib"] = ctl.status()["VmRSS"]
        repos = coll_path(*SOURCE, "gitrepositories", ns)
        watch = bench.watch(kube, repos)
        auth: dict[str, object] = {}
        if args.auth:
            kube.create_secret(ns, "git-auth", {"username": git.username, "password": git.password})
            auth = {"secretRef": {"name": "git-auth"}}

        # time to first artifact
        git.clear_requests()
        cpu0 = ctl.cpu()
        t0 = time.monotonic()
        kube.create(
            repos,
            {
                "apiVersion": "/".join(SOURCE),
                "kind": "GitRepository",
                "metadata": {"name": "big", "namespace": ns},
                "spec": {
                    "url": git.url("big"),
                    "interval": "1h",
                    "timeout": args.git_timeout,
                    "ref": {"branch": "main"},
                    **auth,
                },
            },
        )
        t1 = watch.wait_all(
            lambda o: is_ready(o) and bool(o["status"].get("artifact")),
            1,
            timeout=1800,
            what="the first artifact",
        )
        first = t1 - t0
        obj = watch.get("big") or {}
        artifact = obj["status"]["artifact"]
        assert artifact["revision"] == f"main@sha1:{sha}", artifact
        time.sleep(0.5)  # the duration metric is observed after the status patch
        cpu1 = ctl.cpu()
        st = ctl.status()
        n, secs = ctl.reconciles("GitRepository")
        res["first_artifact"] = {
            "seconds": round(first, 3),
            "reconcile_seconds": round(secs, 3),
            "reconciles": n,
            "cpu_s": round(cpu1["total"] - cpu0["total"], 2),
            "artifact_size_mib": round(artifact["size"] / 1024 / 1024, 1),
            "git_requests": dict(Counter(f"{r.method} {r.path}" for r in git.requests("big"))),
            "vmhwm_kib": st["VmHWM"],
            "vmrss_kib": st["VmRSS"],
        }
        log(
            f"first artifact after {first:.2f}s ({artifact['size'] / 1e6:.1f} MB), "
            f"VmHWM {st['VmHWM'] / 1024:.0f} MiB"
        )

        # no-change reconciles
        times, lookups = [], []
        for _ in range(args.repeat):
            time.sleep(1.0)  # let the previous status patch settle
            git.clear_requests()
            times.append(watch.timed_reconcile(kube, f"{repos}/big", timeout=300,
                                               what="lastHandledReconcileAt"))
            time.sleep(0.5)  # requests are logged when they end
            lookups.append(
                [
                    f"{r.method} {r.path}"
                    + (f" ({r.service})" if r.service else "")
                    + (f" {r.status}" if r.status != 200 else "")
                    for r in git.requests("big")
                ]
            )
        obj = watch.get("big") or {}
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{sha}"
        res["no_change"] = {
            "seconds": summary(times),
            "git_requests_each": lookups,
            "goal_s": GOAL_NOCHANGE_S,
        }
        log(f"no-change reconcile: {fmt_summary(summary(times))}; git requests {lookups[0]}")

        # one file changed
        local.commit({"data/d000/f00-00000.txt": b"changed\n"}, "one file changed")
        new_sha = local.head()
        local.push()
        git.clear_requests()
        t0 = time.monotonic()
        kube.request_reconcile(f"{repos}/big")
        t1 = watch.wait_all(
            lambda o: (
                ((o.get("status") or {}).get("artifact") or {}).get("revision")
                == f"main@sha1:{new_sha}"
            ),
            1,
            timeout=1800,
            what="the new artifact",
        )
        time.sleep(0.5)
        res["one_file_changed"] = {
            "seconds": round(t1 - t0, 3),
            "git_requests": dict(Counter(f"{r.method} {r.path}" for r in git.requests("big"))),
        }

        st = ctl.status()
        res["peak_rss_kib"] = st["VmHWM"]
        res["goal_rss_mb"] = GOAL_RSS_MB
        res["cpu_total_s"] = round(ctl.cpu()["total"], 2)

        bench.row(
            "repository",
            f"{files} files, {size / 1e6:.0f} MB, commit {sha[:12]} "
            f"(generated {t_gen:.1f}s, pushed {t_push:.1f}s)",
        )
        bench.row(
            "time to first artifact",
            f"{fmt_s(first)} (artifact "
            f"{artifact['size'] / 1e6:.1f} MB, controller CPU "
            f"{res['first_artifact']['cpu_s']:.1f}s)",
        )
        peak_mb = st["VmHWM"] * 1024 / 1e6
        bench.row(
            "peak RSS (VmHWM)",
            f"{fmt_mib(st['VmHWM'])} = {peak_mb:.0f} MB "
            f"(idle after start {fmt_mib(res['rss_idle_kib'])}; goal < {GOAL_RSS_MB} MB: "
            f"{'met' if peak_mb < GOAL_RSS_MB else 'MISSED'})",
        )
        med = summary(times)["median"]
        bench.row(
            "no-change reconcile",
            f"{fmt_summary(summary(times))} (goal < 1 s: "
            f"{'met' if med < GOAL_NOCHANGE_S else 'MISSED'})",
        )
        bench.row("  git requests each", "; ".join(sorted(set(", ".join(x) for x in lookups))))
        bench.row("one file changed", f"{fmt_s(t1 - t0)} to the new artifact")


if __name__ == "__main__":
    main()
