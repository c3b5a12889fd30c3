#!/usr/bin/env python3
"""image-reflector-controller with a large repository, and image-automation's latency.

In the local registry (TLS, htpasswd auth), one small image is pushed once and then
tagged `--tags` times (default 10,000; `1.<i/100>.<i%100>`, by PUT of the same manifest
under each tag). Then:

- scan: an ImageRepository on it, created -> Ready with every tag counted; the
  reconcile's own duration (controller metrics); a no-change rescan (requestedAt); the
  controller's peak RSS (VmHWM) and the tag store's size on disk;
- policies: `--policies` ImagePolicies (default 100; semver ranges, alphabetical and
  numerical with filterTags/extract, in turn) -> all have `status.latestRef`; peak RSS;
  the reflector's CPU for them; then a no-change round (requestedAt on every policy, the
  tags unchanged): CPU and API requests per policy reconcile;
- automation: a second, small image repository and a Git repository with a setter marker,
  the ImageRepository and the ImageUpdateAutomation on `--auto-interval` (default 10s).
  `--repeat` times: a higher tag is pushed (at a random moment of the scan cycle), and the
  clock stops when the automation's commit is on the Git server's branch (split into: tag
  pushed -> ImagePolicy updated -> commit pushed); then `--repeat` times more with
  requestedAt set on the ImageRepository right after the push (what a registry webhook
  and a Receiver do), which leaves the interval out.

    .venv/bin/python hack/bench/image_scale.py
    .venv/bin/python hack/bench/image_scale.py --scale 0.1     # 1,000 tags, 10 policies
"""

from __future__ import annotations

import json
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    IMAGE,
    SOURCE,
    Bench,
    LocalRepo,
    Tagger,
    auth_url,
    bench_parser,
    coll_path,
    fmt_mib,
    fmt_s,
    fmt_summary,
    handled,
    is_ready,
    log,
    remote_head,
    scaled,
    stamp,
    summary,
)

from afflux.controllers.runtime._duration import parse_duration  # noqa: E402

NAME = "image_scale"


def tag_name(i: int) -> str:
    return f"1.{i // 100}.{i % 100}"


def policy_spec(i: int, tags: int) -> dict[str, Any]:
    minors = max(1, (tags + 99) // 100)
    kind = i % 3
    if kind == 0:
        k = (i // 3) % minors
        return {"policy": {"semver": {"range": f">=1.{k}.0 <1.{k + 1}.0"}}}
    if kind == 1:
        return {
            "policy": {"alphabetical": {"order": "asc" if i % 2 else "desc"}},
            "filterTags": {"pattern": rf"^1\.{(i // 3) % minors}\.\d+$"},
        }
    return {
        "policy": {"numerical": {"order": "asc"}},
        "filterTags": {
            "pattern": rf"^1\.{(i // 3) % minors}\.(?P<patch>\d+)$",
            "extract": "$patch",
        },
    }


def no_change_round(kube: Any, refl: Any, ips: str, watch: Any, npol: int) -> dict[str, Any]:
    """requestedAt on every policy (the tags unchanged) -> all handled: reconciles, CPU and
    API requests per reconcile (the benchmark's own requestedAt patches taken out)."""
    n0, s0 = refl.reconciles("ImagePolicy")
    c0 = refl.cpu()
    a0 = kube.apiserver_counts()
    value = stamp()
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: kube.request_reconcile(f"{ips}/p{i:03d}", value), range(npol)))
    t1 = watch.wait_all(handled(value), npol, timeout=1800,
                        what="all policies' requestedAt handled")
    time.sleep(1.0)  # the metric is observed after the status patch
    n1, s1 = refl.reconciles("ImagePolicy")
    cpu = refl.cpu()["total"] - c0["total"]
    api = kube.apiserver_counts() - a0
    ops = sum(api.operator_side().values()) - npol
    reconciles = n1 - n0
    out = {
        "seconds": round(t1 - t0, 2),
        "reconciles": reconciles,
        "reconcile_s_mean": round((s1 - s0) / reconciles, 4) if reconciles else None,
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_reconcile": round(1000 * cpu / reconciles, 1) if reconciles else None,
        "api_requests_per_reconcile": round(ops / reconciles, 2) if reconciles else None,
        "apiserver": api.as_json(),
    }
    log(f"no-change round: {reconciles} policy reconciles in {t1 - t0:.1f}s, CPU {cpu:.1f}s")
    return out


def du_kib(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) // 1024


def main() -> None:
    parser = bench_parser(NAME, __doc__)
    parser.add_argument("--tags", type=int, default=None, help="tags (default 10000 x scale)")
    parser.add_argument(
        "--policies", type=int, default=None, help="ImagePolicies (default 100 x scale)"
    )
    parser.add_argument(
        "--auto-interval",
        default="10s",
        help="interval of the automation's ImageRepository and ImageUpdateAutomation (default 10s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="tag pushes timed through the automation (default 5 x scale, at least 3)",
    )
    parser.add_argument("--push-threads", type=int, default=8)
    args = parser.parse_args()
    ntags = args.tags or scaled(10_000, args.scale)
    npol = args.policies or scaled(100, args.scale)
    repeat = args.repeat or scaled(5, args.scale, minimum=3)
    params = {
        "tags": ntags,
        "policies": npol,
        "auto_interval": args.auto_interval,
        "repeat": repeat,
    }

    with Bench(NAME, args, params) as bench:
        res = bench.results
        kube = bench.cluster()
        reg = bench.registry()
        git = bench.git_server()
        tagger = Tagger(reg)
        push_s = tagger.tags("bench/big", [tag_name(i) for i in range(ntags)], args.push_threads)
        res["tag_push"] = {
            "tags": ntags,
            "seconds": round(push_s, 1),
            "per_s": round(ntags / push_s, 1),
        }
        log(f"{ntags} tags pushed in {push_s:.1f}s")

        ns = kube.create_namespace("bench-image")
        store = bench.workdir / "tag-store"
        scope = ("--watch-all-namespaces=false", f"--namespace={ns}")
        refl = bench.controller(kube, "image-reflector", *scope, f"--storage-path={store}")
        res["reflector_rss_idle_kib"] = refl.status()["VmRSS"]
        auth = json.dumps(
            {"auths": {reg.host: {"username": reg.username, "password": reg.password}}}
        )
        kube.create_secret(
            ns, "regcred", {".dockerconfigjson": auth}, "kubernetes.io/dockerconfigjson"
        )
        kube.create_secret(ns, "registry-ca", {"ca.crt": Path(reg.ca_cert).read_bytes()})
        irs = coll_path(*IMAGE, "imagerepositories", ns)
        ips = coll_path(*IMAGE, "imagepolicies", ns)
        ir_w = bench.watch(kube, irs)
        ip_w = bench.watch(kube, ips)

        def image_repo(name: str, image: str, interval: str) -> None:
            kube.create(
                irs,
                {
                    "apiVersion": "/".join(IMAGE),
                    "kind": "ImageRepository",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {
                        "image": image,
                        "interval": interval,
                        "secretRef": {"name": "regcred"},
                        "certSecretRef": {"name": "registry-ca"},
                    },
                },
            )

        # scan
        image = f"{reg.host}/bench/big"
        t0 = time.monotonic()
        image_repo("big", image, "1h")
        t1 = ir_w.wait_all(
            lambda o: (
                is_ready(o) and ((o["status"].get("lastScanResult") or {}).get("tagCount") == ntags)
            ),
            1,
            timeout=1800,
            what="the scan",
        )
        n, secs = refl.reconciles("ImageRepository")
        st = refl.status()
        res["scan"] = {
            "seconds": round(t1 - t0, 3),
            "reconcile_s": round(secs, 3),
            "vmhwm_kib": st["VmHWM"],
            "tag_store_kib": du_kib(store),
        }
        log(
            f"scan of {ntags} tags: {t1 - t0:.2f}s (reconcile {secs:.2f}s), "
            f"VmHWM {st['VmHWM'] / 1024:.0f} MiB"
        )
        times = []
        for _ in range(3):
            time.sleep(1)
            times.append(ir_w.timed_reconcile(kube, f"{irs}/big", timeout=600, what="the rescan"))
        res["rescan"] = summary(times)

        # policies
        cpu0 = refl.cpu()
        t0 = time.monotonic()
        for i in range(npol):
            kube.create(
                ips,
                {
                    "apiVersion": "/".join(IMAGE),
                    "kind": "ImagePolicy",
                    "metadata": {"name": f"p{i:03d}", "namespace": ns},
                    "spec": {"imageRepositoryRef": {"name": "big"}, **policy_spec(i, ntags)},
                },
            )
        t1 = ip_w.wait_all(
            lambda o: is_ready(o) and bool((o.get("status") or {}).get("latestRef")),
            npol,
            timeout=1800,
            what="all policies",
        )
        st = refl.status()
        cpu_pol = refl.cpu()["total"] - cpu0["total"]
        res["policies"] = {
            "count": npol,
            "seconds": round(t1 - t0, 3),
            "per_policy_ms": round(1000 * (t1 - t0) / npol, 1),
            "cpu_s": round(cpu_pol, 2),
            "cpu_ms_per_policy": round(1000 * cpu_pol / npol, 1),
            "vmhwm_kib": st["VmHWM"],
            "cpu_s_total": round(refl.cpu()["total"], 2),
            "sample": {
                n: (ip_w.get(n) or {})["status"]["latestRef"]["tag"]
                for n in [f"p{i:03d}" for i in range(min(3, npol))]
            },
        }
        log(f"{npol} policies resolved in {t1 - t0:.2f}s, CPU {cpu_pol:.1f}s")
        res["policies_no_change"] = no_change_round(kube, refl, ips, ip_w, npol)

        # automation: tag pushed -> commit pushed
        tagger.tags("bench/auto", ["1.0.0"])
        auto_image = f"{reg.host}/bench/auto"
        image_repo("auto", auto_image, args.auto_interval)
        kube.create(
            ips,
            {
                "apiVersion": "/".join(IMAGE),
                "kind": "ImagePolicy",
                "metadata": {"name": "auto", "namespace": ns},
                "spec": {
                    "imageRepositoryRef": {"name": "auto"},
                    "policy": {"semver": {"range": ">=1.0.0"}},
                },
            },
        )
        git.create_repo("config")
        local = LocalRepo(bench.workdir / "local-config.git", auth_url(git, "config"))
        marker = f'{{"$imagepolicy": "{ns}:auto"}}'
        local.commit(
            {
                "apps/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
                "spec:\n  template:\n    spec:\n      containers:\n"
                f"        - name: web\n          image: {auto_image}:1.0.0 # {marker}\n"
            },
            "initial",
        )
        local.push()
        kube.create_secret(ns, "git-auth", {"username": git.username, "password": git.password})
        kube.create(
            coll_path(*SOURCE, "gitrepositories", ns),
            {
                "apiVersion": "/".join(SOURCE),
                "kind": "GitRepository",
                "metadata": {"name": "config", "namespace": ns},
                "spec": {
                    "url": git.url("config"),
                    "interval": "1h",
                    "ref": {"branch": "main"},
                    "secretRef": {"name": "git-auth"},
                },
            },
        )
        auto = bench.controller(kube, "image-automation", *scope)
        kube.create(
            coll_path(*IMAGE, "imageupdateautomations", ns),
            {
                "apiVersion": "/".join(IMAGE),
                "kind": "ImageUpdateAutomation",
                "metadata": {"name": "auto", "namespace": ns},
                "spec": {
                    "interval": args.auto_interval,
                    "sourceRef": {"kind": "GitRepository", "name": "config"},
                    "git": {
                        "commit": {"author": {"name": "bench", "email": "b@x.invalid"}},
                        "push": {"branch": "main"},
                    },
                    "update": {"path": "./apps", "strategy": "Setters"},
                },
            },
        )
        ip_w.wait_all(
            lambda o: (
                o["metadata"]["name"] != "auto"
                or ((o.get("status") or {}).get("latestRef") or {}).get("tag") == "1.0.0"
            ),
            npol + 1,
            timeout=300,
            what="the automation's policy",
        )
        time.sleep(2)

        def through(tag: str, trigger: bool) -> tuple[float, float, float]:
            """Push `tag`; the seconds to the policy's update and to the commit."""
            before = remote_head(git, "config")
            t0 = time.monotonic()
            tagger.tag("bench/auto", tag)
            if trigger:  # what a registry webhook (a Receiver) would do
                kube.request_reconcile(f"{irs}/auto")
            t1 = ip_w.wait_all(
                lambda o, t=tag: (
                    o["metadata"]["name"] != "auto"
                    or ((o.get("status") or {}).get("latestRef") or {}).get("tag") == t
                ),
                npol + 1,
                timeout=600,
                what=f"the policy at {tag}",
            )
            deadline = time.monotonic() + 600
            while remote_head(git, "config") == before:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no commit for {tag}: {auto.proc.log_text(3000)}")
                time.sleep(0.02)
            t2 = time.monotonic()
            log(f"{tag}: policy after {t1 - t0:.2f}s, commit after {t2 - t0:.2f}s")
            return t1 - t0, t2 - t1, t2 - t0

        # on the interval: pushed at a random moment of the scan cycle (not just after a
        # scan, which would always wait nearly a whole interval)
        rng = random.Random(7)
        interval_s = parse_duration(args.auto_interval)
        polled = []
        for k in range(1, repeat + 1):
            time.sleep(rng.uniform(0, interval_s))
            polled.append(through(f"1.0.{k}", trigger=False))
        # with requestedAt on the ImageRepository right after the push
        triggered = []
        for k in range(repeat + 1, 2 * repeat + 1):
            time.sleep(1)
            triggered.append(through(f"1.0.{k}", trigger=True))

        def parts(samples: list[tuple[float, float, float]]) -> dict[str, Any]:
            return {
                "tag_to_policy": summary([p for p, _, _ in samples]),
                "policy_to_commit": summary([c for _, c, _ in samples]),
                "tag_to_commit": summary([t for _, _, t in samples]),
                "samples": [round(t, 3) for _, _, t in samples],
            }

        res["automation"] = {
            "interval": args.auto_interval,
            "on_interval": parts(polled),
            "requested": parts(triggered),
        }
        st = refl.status()
        res["reflector_peak_rss_kib"] = st["VmHWM"]
        res["automation_peak_rss_kib"] = auto.status()["VmHWM"]

        bench.row("tags pushed", f"{ntags} in {push_s:.1f}s ({ntags / push_s:.0f}/s)")
        bench.row(
            "scan",
            f"{fmt_s(res['scan']['seconds'])} created -> Ready "
            f"(reconcile {fmt_s(res['scan']['reconcile_s'])}); tag store "
            f"{res['scan']['tag_store_kib']} KiB",
        )
        bench.row("rescan (no new tags)", fmt_summary(res["rescan"]))
        bench.row(
            "reflector RSS",
            f"idle {fmt_mib(res['reflector_rss_idle_kib'])}, after scan "
            f"{fmt_mib(res['scan']['vmhwm_kib'])}, after policies "
            f"{fmt_mib(res['policies']['vmhwm_kib'])} (VmHWM)",
        )
        bench.row(
            f"{npol} policies -> latestRef",
            f"{fmt_s(res['policies']['seconds'])} ({res['policies']['per_policy_ms']:.0f} ms "
            f"each; reflector CPU {res['policies']['cpu_ms_per_policy']} ms each)",
        )
        nc = res["policies_no_change"]
        bench.row(
            "no-change policy round",
            f"{nc['reconciles']} in {fmt_s(nc['seconds'])}: {nc['cpu_ms_per_reconcile']} ms CPU "
            f"and {nc['api_requests_per_reconcile']} API requests each",
        )
        for label, key in (
            (f"interval {args.auto_interval}", "on_interval"),
            ("requestedAt after push", "requested"),
        ):
            a = res["automation"][key]
            bench.row(f"tag -> commit ({label})", fmt_summary(a["tag_to_commit"]))
            bench.row("  tag -> policy", fmt_summary(a["tag_to_policy"]))
            bench.row("  policy -> commit", fmt_summary(a["policy_to_commit"]))


if __name__ == "__main__":
    main()
