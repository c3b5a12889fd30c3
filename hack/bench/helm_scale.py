#!/usr/bin/env python3
"""helm-controller with many HelmReleases of one small chart from one source.

For each count in `--counts` (default 100,500,1000, times `--scale`), on a fresh local
cluster: a chart `small` (one ConfigMap, one Deployment) packaged by the real `helm` and
pushed to the local OCI registry; one OCIRepository (the chart layer) Ready before anything
is measured; and that many HelmReleases (`chartRef` to it, `--interval`, default 5m, each
with its own values so every release differs), created before helm-controller starts. Then
helm-controller starts, and:

- initial sync: controller started -> every HelmRelease Ready (InstallSucceeded); API
  requests made meanwhile (`apiserver_request_total` before and after, operator side vs the
  control plane's own), and per release; peak RSS (VmHWM of the controller; its `helm`
  child processes sampled apart); CPU time (the controller's own and its waited-for
  children's: every `helm install`);
- a no-change reconcile: `requestedAt` set on every HelmRelease at once, until each has
  handled it; reconciles, CPU time and API requests, and per reconcile (the release in
  sync: no helm process, one list of its records, one status patch).

    .venv/bin/python hack/bench/helm_scale.py --counts 100
    make bench BENCH=helm_scale BENCH_ARGS="--counts 100,500"
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _benchlib as lib  # noqa: E402

from afflux.cli.devenv import Registry  # noqa: E402
from afflux.cli.devenv._tools import tool_path  # noqa: E402

NAME = "helm_scale"
HELM = ("helm.toolkit.fluxcd.io", "v2")
CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  index: {{ .Values.index | quote }}
"""
DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: '{{ .Release.Name }}'}\n"
    "spec: {replicas: 1, selector: {matchLabels: {app: '{{ .Release.Name }}'}}, template: "
    "{metadata: {labels: {app: '{{ .Release.Name }}'}}, spec: {containers: "
    "[{name: app, image: 'ghcr.io/afflux/small:1.0.0'}]}}}\n")


def helm(work: Path, *args: str) -> str:
    homes = {f"HELM_{k.upper()}_HOME": str(work / "helm-home" / k)
             for k in ("cache", "config", "data")}
    done = subprocess.run([str(tool_path("helm")), *args], capture_output=True, text=True,
                          env={**os.environ, **homes}, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"helm {args[0]} failed: {done.stderr}{done.stdout}")
    return done.stdout + done.stderr


def push_chart(bench: lib.Bench, reg: Registry) -> str:
    """Package the chart `small` 1.0.0 and push it to `oci://<registry>/charts`."""
    chart = bench.workdir / "small"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: small\nversion: 1.0.0\n"
                                      "appVersion: 1.0.0\n")
    (chart / "values.yaml").write_text("index: 0\n")
    (chart / "templates" / "configmap.yaml").write_text(CONFIGMAP)
    (chart / "templates" / "deployment.yaml").write_text(DEPLOYMENT)
    out = helm(bench.workdir, "package", str(chart), "--destination", str(bench.workdir))
    package = out.strip().rsplit(": ", 1)[1]
    helm(bench.workdir, "registry", "login", reg.host, "--username", reg.username,
         "--password", reg.password, "--ca-file", str(reg.ca_cert))
    helm(bench.workdir, "push", package, f"oci://{reg.host}/charts", "--ca-file",
         str(reg.ca_cert))
    return f"oci://{reg.host}/charts/small"


def run_count(bench: lib.Bench, reg: Registry, url: str, count: int,
              args: argparse.Namespace) -> dict:
    res: dict = {"helmreleases": count}
    kube: lib.Kube = bench.cluster()
    ns = kube.create_namespace("bench-helm")
    bench.source_controller(kube, ns)
    auth = json.dumps({"auths": {reg.host: {"username": reg.username,
                                            "password": reg.password}}})
    kube.create_secret(ns, "regcred", {".dockerconfigjson": auth},
                       "kubernetes.io/dockerconfigjson")
    kube.create_secret(ns, "registry-ca", {"ca.crt": Path(reg.ca_cert).read_bytes()})
    repos = lib.coll_path(*lib.SOURCE, "ocirepositories", ns)
    kube.create(repos, {
        "apiVersion": "/".join(lib.SOURCE), "kind": "OCIRepository",
        "metadata": {"name": "small", "namespace": ns},
        "spec": {"url": url, "ref": {"tag": "1.0.0"}, "interval": "1h",
                 "layerSelector": {"mediaType": CHART_MEDIA_TYPE, "operation": "copy"},
                 "secretRef": {"name": "regcred"}, "certSecretRef": {"name": "registry-ca"}}})
    src_watch = bench.watch(kube, repos)
    src_watch.wait_all(lib.is_ready, 1, timeout=600, what="the OCIRepository")

    hrs = lib.coll_path(*HELM, "helmreleases", ns)
    watch = bench.watch(kube, hrs)
    t0 = time.monotonic()
    for i in range(count):
        kube.create(hrs, {
            "apiVersion": "/".join(HELM), "kind": "HelmRelease",
            "metadata": {"name": f"app-{i:04d}", "namespace": ns},
            "spec": {"interval": args.interval,
                     "chartRef": {"kind": "OCIRepository", "name": "small"},
                     "values": {"index": i}}})
    res["create_s"] = round(time.monotonic() - t0, 2)
    lib.log(f"{count} HelmReleases created in {res['create_s']}s")

    api0 = kube.apiserver_counts()
    hc = bench.controller(kube, "helm", "--watch-all-namespaces=false", f"--namespace={ns}",
                          *args.controller_args, start=False)
    sampler = lib.RssSampler(lambda: [hc.pid] if hc.proc.alive() else []).start()
    hc.start(timeout=300)
    t_all = watch.wait_all(lib.is_ready, count, timeout=args.timeout,
                           what=f"{count} HelmReleases Ready")
    initial = t_all - hc.started_at
    api = kube.apiserver_counts() - api0
    ops = sum(api.operator_side().values())
    res["initial"] = {**lib.sync_figures(hc, "HelmRelease", initial, count, api),
                      "api_requests_per_release": round(ops / count, 1)}
    lib.log(f"{count}: all Ready in {initial:.1f}s, {ops} operator-side API requests, "
        f"VmHWM {res['initial']['vmhwm_kib'] / 1024:.0f} MiB")

    # a no-change reconcile of every release
    n0, s0 = hc.reconciles("HelmRelease")
    c0 = hc.cpu()
    a0 = kube.apiserver_counts()
    value = lib.stamp()
    t0 = time.monotonic()
    for i in range(count):
        kube.request_reconcile(f"{hrs}/app-{i:04d}", value)
    t_req = time.monotonic() - t0

    def handled(o: dict) -> bool:
        return lib.is_ready(o) and (o.get("status") or {}).get("lastHandledReconcileAt") == value

    t_done = watch.wait_all(handled, count, timeout=args.timeout,
                            what=f"{count} no-change reconciles")
    elapsed = t_done - t0
    n1, s1 = hc.reconciles("HelmRelease")
    c1 = hc.cpu()
    api_s = kube.apiserver_counts() - a0
    sampler.stop()
    reconciles = n1 - n0
    cpu_s = c1["total"] - c0["total"]
    ops_s = sum(api_s.operator_side().values())
    res["no_change"] = {
        "seconds": round(elapsed, 2),
        "requests_sent_s": round(t_req, 2),
        "reconciles": reconciles,
        "reconcile_s_mean": round((s1 - s0) / reconciles, 3) if reconciles else None,
        "cpu_s": round(cpu_s, 2),
        "cpu_s_children": round(c1["children"] - c0["children"], 2),
        "cpu_ms_per_reconcile": round(1000 * cpu_s / reconciles, 1) if reconciles else None,
        "apiserver": api_s.as_json(),
        # the benchmark's own requestedAt patches are among them: one per release
        "api_requests_per_reconcile": round((ops_s - count) / reconciles, 2)
        if reconciles else None,
    }
    st = hc.status()
    res["peak_rss_kib"] = st["VmHWM"]
    res["rss_end_kib"] = st["VmRSS"]
    res["peak_child_rss_kib"] = sampler.peak_child_kib
    res["peak_rss_with_children_kib"] = sampler.peak_sum_kib
    lib.log(f"{count}: {reconciles} no-change reconciles in {elapsed:.1f}s, CPU {cpu_s:.1f}s")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lib.common_args(parser, NAME)
    parser.add_argument("--counts", default=None,
                        help="comma-separated HelmRelease counts (default 100,500,1000 x scale)")
    parser.add_argument("--interval", default="5m", help="the HelmReleases' spec.interval")
    parser.add_argument("--timeout", type=float, default=7200.0,
                        help="seconds to wait for all to be Ready (default 7200)")
    parser.add_argument("--controller-arg", dest="controller_args", action="append",
                        default=[], help="an extra flag for helm-controller (repeatable), "
                        "e.g. --controller-arg=--concurrent=8")
    args = parser.parse_args()
    counts = ([int(c) for c in args.counts.split(",") if c.strip()] if args.counts
              else sorted({lib.scaled(c, args.scale) for c in (100, 500, 1000)}))
    params = {"counts": counts, "chart": "one ConfigMap, one Deployment",
              "source": "one OCIRepository (chartRef)", "interval": args.interval,
              "controller_args": args.controller_args}

    with lib.Bench(NAME, args, params) as bench:
        reg = bench.registry()
        url = push_chart(bench, reg)
        runs = bench.results.setdefault("runs", [])
        for count in counts:
            with bench.scope(f"the run with {count}"):
                runs.append(run_count(bench, reg, url, count, args))
        for r in runs:
            c = r["helmreleases"]
            i, s = r["initial"], r["no_change"]
            bench.row(f"{c}: all Ready",
                      f"{lib.fmt_s(i['seconds'])} from controller start "
                      f"({i['per_object_ms']:.0f} ms each; ready after "
                      f"{i['controller_ready_s']:.1f}s)")
            bench.row(f"{c}: initial API requests",
                      f"{i['apiserver']['operator_side_total']} operator-side "
                      f"({i['api_requests_per_release']} per release; control plane "
                      f"{i['apiserver']['control_plane_total']})")
            bench.row(f"{c}: initial CPU",
                      f"{i['cpu_s_self']:.1f}s controller + {i['cpu_s_children']:.1f}s helm")
            bench.row(f"{c}: peak RSS",
                      f"{lib.fmt_mib(r['peak_rss_kib'])} controller (VmHWM); with helm children "
                      f"{lib.fmt_mib(r['peak_rss_with_children_kib'])}")
            bench.row(f"{c}: no-change reconcile",
                      f"{s['reconciles']} in {lib.fmt_s(s['seconds'])}, CPU {s['cpu_s']:.1f}s "
                      f"({s['cpu_ms_per_reconcile']} ms each, helm {s['cpu_s_children']:.1f}s), "
                      f"{s['api_requests_per_reconcile']} API requests each")


if __name__ == "__main__":
    main()
