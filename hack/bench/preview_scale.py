#!/usr/bin/env python3
"""`afflux preview --ref` and `afflux report` over many Kustomizations of one GitRepository.

For each count in `--counts` (default 20,100, times `--scale`), on a fresh local cluster:
one repository with that many directories `apps/app-NNNN/` of 10 ConfigMaps each, one
GitRepository, that many Kustomizations (`prune: true`), all applied by source- and
kustomize-controller. Then a branch `preview` changes one ConfigMap, adds one and drops
one in every directory, and the CLI runs (as a user would, `python -m afflux.cli`):

- `afflux preview --ref preview -o json`: wall time, the CLI's CPU time (its own and its
  `kustomize` children's), the API requests it made (`apiserver_request_total` before and
  after), and a check that it found exactly count created, count changed, count pruned;
- `afflux report -o json`: wall time, and a check that it counted one deployment each.

    .venv/bin/python hack/bench/preview_scale.py --counts 20
    make bench BENCH=preview_scale
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    KUSTOMIZE,
    SOURCE,
    Bench,
    Kube,
    LocalRepo,
    auth_url,
    coll_path,
    common_args,
    fmt_s,
    is_ready,
    log,
    scaled,
)
from kustomize_scale import PER_APP, app_files  # noqa: E402

from afflux.cli.devenv import GitHTTPServer  # noqa: E402

NAME = "preview_scale"


def branch_files(count: int) -> dict[str, str]:
    """The whole tree of the `preview` branch: in every app, ConfigMap 00 changed, 01
    dropped, a new one added."""
    files = app_files(count)
    for i in range(count):
        path = f"apps/app-{i:04d}/configmaps.yaml"
        docs = files[path].split("---\n")
        docs[0] = docs[0].replace('index: "0"', 'index: "changed"')
        docs[1] = (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i:04d}-new\n"
                   "data:\n  a: b\n")
        files[path] = "---\n".join(docs)
    return files


def cli(kube: Kube, *args: str) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """`afflux <args>` in a process of its own: (result, wall seconds, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "afflux.cli", "--kubeconfig",
                           str(kube.kubeconfig), *args], capture_output=True, text=True,
                          timeout=3600, env={**os.environ, "NO_COLOR": "1"})
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, wall, cpu


def run_count(bench: Bench, git: GitHTTPServer, count: int, args: argparse.Namespace) -> dict:
    res: dict = {"kustomizations": count, "configmaps": count * PER_APP}
    kube = bench.cluster()
    name = f"fleet-{count}"
    git.create_repo(name, public=True)
    local = LocalRepo(bench.workdir / f"local-{name}.git", auth_url(git, name))
    sha = local.commit(app_files(count), f"{count} apps")
    local.push()
    revision = f"main@sha1:{sha}"
    ns = kube.create_namespace("bench-preview")
    bench.source_controller(kube, ns)
    kube.create(coll_path(*SOURCE, "gitrepositories", ns), {
        "apiVersion": "/".join(SOURCE), "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": ns},
        "spec": {"url": git.url(name), "interval": "1h", "ref": {"branch": "main"}}})
    kss = coll_path(*KUSTOMIZE, "kustomizations", ns)
    watch = bench.watch(kube, kss)
    for i in range(count):
        kube.create(kss, {
            "apiVersion": "/".join(KUSTOMIZE), "kind": "Kustomization",
            "metadata": {"name": f"app-{i:04d}", "namespace": ns},
            "spec": {"interval": "1h", "prune": True, "targetNamespace": ns,
                     "path": f"./apps/app-{i:04d}",
                     "sourceRef": {"kind": "GitRepository", "name": "fleet"}}})
    bench.controller(kube, "kustomize", "--watch-all-namespaces=false", f"--namespace={ns}")

    def applied(o: dict) -> bool:
        return is_ready(o) and (o.get("status") or {}).get("lastAppliedRevision") == revision

    watch.wait_all(applied, count, timeout=args.timeout, what=f"{count} Kustomizations Ready")
    log(f"{count} Kustomizations applied; pushing the preview branch")
    local.branch = "preview"
    local.commit(branch_files(count), "the preview")
    local.push()

    api0 = kube.apiserver_counts()
    proc, wall, cpu = cli(kube, "preview", "--ref", "preview", "--source", "fleet", "-n", ns,
                          "-o", "json")
    api = kube.apiserver_counts() - api0
    if proc.returncode != 1:
        raise RuntimeError(f"preview exited {proc.returncode}: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)["summary"]
    want = {"created": count, "changed": count, "pruned": count}
    if {k: summary[k] for k in want} != want:
        raise RuntimeError(f"preview found {summary}, wanted {want}")
    res["preview"] = {"seconds": round(wall, 2), "cpu_s": round(cpu, 2),
                      "ms_per_kustomization": round(1000 * wall / count, 1),
                      "api_requests": api.total, "summary": summary}
    log(f"{count}: preview in {wall:.1f}s, CPU {cpu:.1f}s, {api.total} API requests")

    proc, wall, cpu = cli(kube, "report", "-n", ns, "--since", "1h", "-o", "json")
    if proc.returncode != 0:
        raise RuntimeError(f"report exited {proc.returncode}: {proc.stderr[-2000:]}")
    items = json.loads(proc.stdout)["items"]
    deployments = sum(i["deployments"] for i in items if i["kind"] == "Kustomization")
    if deployments != count:
        raise RuntimeError(f"report counted {deployments} deployments, wanted {count}")
    res["report"] = {"seconds": round(wall, 2), "cpu_s": round(cpu, 2),
                     "lead_times": sum(len(i["lead_times"]) for i in items)}
    log(f"{count}: report in {wall:.1f}s, CPU {cpu:.1f}s")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(parser, NAME)
    parser.add_argument("--counts", default=None,
                        help="comma-separated Kustomization counts (default 20,100 x scale)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds to wait for all to be Ready (default 3600)")
    args = parser.parse_args()
    if args.counts:
        counts = [int(c) for c in args.counts.split(",") if c.strip()]
    else:
        counts = sorted({scaled(c, args.scale) for c in (20, 100)})
    with Bench(NAME, args, {"counts": counts, "configmaps_each": PER_APP}) as bench:
        git = bench.git_server()
        runs = bench.results.setdefault("runs", [])
        for count in counts:
            with bench.scope(f"the run with {count}"):
                runs.append(run_count(bench, git, count, args))
        for r in runs:
            c, p, rep = r["kustomizations"], r["preview"], r["report"]
            bench.row(f"{c}: preview --ref",
                      f"{fmt_s(p['seconds'])} ({p['ms_per_kustomization']:.0f} ms per "
                      f"Kustomization), CPU {p['cpu_s']:.1f}s, {p['api_requests']} API "
                      f"requests; {p['summary']['created']} created, "
                      f"{p['summary']['changed']} changed, {p['summary']['pruned']} pruned")
            bench.row(f"{c}: report", f"{fmt_s(rep['seconds'])}, CPU {rep['cpu_s']:.1f}s, "
                      f"{rep['lead_times']} lead times")


if __name__ == "__main__":
    main()
