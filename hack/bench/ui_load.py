#!/usr/bin/env python3
"""`afflux ui` with many Kustomizations: page load time and the server's RSS.

`--objects` Kustomizations (default 1,000) and one GitRepository in one namespace, every
tenth Kustomization failing (status set through the status subresource; no operators), in a
cluster of the bench's own. Then `afflux ui` as a process and Debian's headless Chromium
(Playwright):

- fleet load: navigation start -> every row drawn (`N of N objects`), `--loads` times in a
  fresh tab (median, max);
- graph load: navigation start -> every node drawn;
- live: a status patch -> its row turns red on the open page;
- the server's RSS (and peak) after the loads.

    .venv/bin/python hack/bench/ui_load.py                 # 1,000 Kustomizations
    .venv/bin/python hack/bench/ui_load.py --scale 0.1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _benchlib import (  # noqa: E402
    KUSTOMIZE,
    REPO,
    SOURCE,
    Bench,
    coll_path,
    common_args,
    fmt_mib,
    log,
    proc_status,
    scaled,
)

from afflux.cli.devenv import free_port  # noqa: E402

NAME = "ui_load"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _status(ready: bool, message: str) -> dict[str, object]:
    return {"status": {"conditions": [{
        "type": "Ready", "status": "True" if ready else "False",
        "reason": "ReconciliationSucceeded" if ready else "BuildFailed", "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(parser, NAME)
    parser.add_argument("--objects", type=int, default=None,
                        help="Kustomizations (default 1000 x scale)")
    parser.add_argument("--loads", type=int, default=5, help="page loads to time (default 5)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    count = args.objects or scaled(1000, args.scale)

    from playwright.sync_api import expect, sync_playwright

    with Bench(NAME, args, {"kustomizations": count, "loads": args.loads}) as bench:
        res = bench.results
        kube = bench.cluster()
        ns = kube.create_namespace("bench-ui")
        kube.create(coll_path(*SOURCE, "gitrepositories", ns), {
            "apiVersion": "/".join(SOURCE), "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": ns},
            "spec": {"url": "https://example.com/repo.git", "interval": "1m"}})
        kss = coll_path(*KUSTOMIZE, "kustomizations", ns)

        def make(i: int) -> None:
            name = f"ks-{i:04d}"
            kube.create(kss, {
                "apiVersion": "/".join(KUSTOMIZE), "kind": "Kustomization",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"interval": "10m", "path": "./", "prune": True,
                         "sourceRef": {"kind": "GitRepository", "name": "repo"},
                         **({"dependsOn": [{"name": f"ks-{i - 1:04d}"}]} if i % 5 else {})}})
            kube.patch(f"{kss}/{name}/status", _status(i % 10 != 0, f"message of {name}"))

        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(make, range(count)))
        log(f"{count} Kustomizations in {time.monotonic() - t0:.1f}s")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "afflux.cli", "--kubeconfig", str(kube.kubeconfig), "ui",
             "--addr", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        bench.on_exit("afflux ui", lambda: (proc.terminate(), proc.wait(10)))
        deadline = time.monotonic() + 60
        while True:  # the server's port opens once it listens
            try:
                with urllib.request.urlopen(url + "/api/fleet", timeout=5) as resp:
                    if len(resp.read()) > count * 100:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("afflux ui did not serve the fleet within 60s")
            time.sleep(0.2)
        total = count + 1

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            fleet: list[float] = []
            for _ in range(args.loads):
                page = browser.new_page()
                t0 = time.monotonic()
                page.goto(url + "/#/")
                expect(page.locator("#count")).to_have_text(
                    f"{total} of {total} objects", timeout=30_000)
                fleet.append(time.monotonic() - t0)
                page.close()
            page = browser.new_page()
            t0 = time.monotonic()
            page.goto(url + "/#/graph")
            expect(page.locator("#graph-count")).to_contain_text(f"{total} nodes",
                                                                  timeout=30_000)
            graph = time.monotonic() - t0
            page.goto(url + "/#/")
            expect(page.locator("#count")).to_have_text(f"{total} of {total} objects",
                                                        timeout=30_000)
            t0 = time.monotonic()
            kube.patch(f"{kss}/ks-0001/status", _status(False, "broken now"))
            expect(page.locator(f'tr[data-key="Kustomization/{ns}/ks-0001"]')) \
                .to_have_attribute("data-state", "failing", timeout=30_000)
            live = time.monotonic() - t0
            browser.close()
        st = proc_status(proc.pid)
        res.update({
            "fleet_load_s": {"median": round(statistics.median(fleet), 3),
                             "max": round(max(fleet), 3), "all": [round(f, 3) for f in fleet]},
            "graph_load_s": round(graph, 3),
            "live_update_s": round(live, 3),
            "rss_kib": st["VmRSS"], "peak_rss_kib": st["VmHWM"],
        })
        bench.row("objects", f"{count} Kustomizations (1 in 10 failing) + 1 GitRepository")
        bench.row("fleet page load", f"median {statistics.median(fleet):.2f}s, "
                  f"max {max(fleet):.2f}s over {len(fleet)} loads")
        bench.row("graph page load", f"{graph:.2f}s ({total} nodes)")
        bench.row("live update", f"status patch -> row red on the page in {live:.2f}s")
        bench.row("afflux ui RSS", f"{fmt_mib(st['VmRSS'])} (peak {fmt_mib(st['VmHWM'])})")


if __name__ == "__main__":
    main()
