#!/usr/bin/env python3
"""Take the README's screenshot of `afflux ui`'s graph: a cluster of its own with the
Kustomizations of examples/fleet/clusters/dev and their GitRepository, statuses and
inventories set through the status subresource (as the operators would after applying the
example; one failing, one suspended), then Debian's headless Chromium on the graph page.

    .venv/bin/python hack/ui_screenshot.py            # writes docs/ui-graph.png
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

from afflux.cli.devenv import LocalCluster, free_port
from afflux.cli.devenv._tools import tool_path

REPO = Path(__file__).resolve().parents[1]
NS = "flux-system"
REV = "main@sha1:3f1c2a9b7e5d4c8a1f0e9d8c7b6a5f4e3d2c1b0a"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

#: name -> (Ready, message, inventory ids)
STATUS = {
    "infrastructure": (True, f"Applied revision: {REV}",
                       ["_podinfo__Namespace", "podinfo_cluster-settings__ConfigMap"]),
    "apps": (True, f"Applied revision: {REV}",
             ["podinfo_podinfo__ConfigMap", "podinfo_podinfo__Service",
              "podinfo_podinfo_apps_Deployment"]),
    "image-automation": (False, "ImageRepository/flux-system/podinfo dry-run failed: no "
                         "matches for kind \"ImageRepository\"", []),
    "notifications": (True, f"Applied revision: {REV}", []),
}


def main() -> int:
    out = REPO / "docs" / "ui-graph.png"
    with tempfile.TemporaryDirectory(prefix="afflux-ui-shot-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster", nodes=1, log=lambda *_: None)
        cluster.up()
        try:
            shoot(cluster, out)
        finally:
            cluster.down(quiet=True)
    print(f"wrote {out}")
    return 0


def shoot(cluster: LocalCluster, out: Path) -> None:
    kubectl = [str(tool_path("kubectl")), f"--kubeconfig={cluster.kubeconfig}"]

    def run(*args: str, input: str | None = None) -> None:
        subprocess.run([*kubectl, *args], input=input, text=True, check=True,
                       capture_output=True)

    crds = sorted((REPO / "config" / "crd" / "bases").glob("*.yaml"))
    files = [a for f in crds for a in ("-f", str(f))]
    run("apply", "--server-side", *files)
    run("wait", "--for=condition=Established", "--timeout=60s", *files)
    run("create", "namespace", NS)
    docs = [doc for path in sorted((REPO / "examples/fleet/clusters/dev").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text())]
    docs.append({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                 "metadata": {"name": "flux-system", "namespace": NS},
                 "spec": {"url": "https://git.example.com/fleet.git", "interval": "1m",
                          "ref": {"branch": "main"}}})
    run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                              "items": docs}))

    def status(kind: str, name: str, ready: bool, message: str, **extra: object) -> None:
        cond = {"type": "Ready", "status": "True" if ready else "False",
                "reason": "Succeeded" if ready else "BuildFailed", "message": message,
                "lastTransitionTime": "2026-12-01T12:00:00Z"}
        run("patch", kind, name, "-n", NS, "--subresource=status", "--type=merge", "-p",
            json.dumps({"status": {"conditions": [cond], **extra}}))

    status("gitrepository", "flux-system", True, f"stored artifact for revision '{REV}'",
           artifact={"revision": REV, "path": "x", "url": "http://x/x.tar.gz",
                     "lastUpdateTime": "2026-12-01T12:00:00Z", "digest": "sha256:00"})
    for name, (ready, message, inventory) in STATUS.items():
        status("kustomization", name, ready, message, lastAppliedRevision=REV,
               inventory={"entries": [{"id": i, "v": "v1"} for i in inventory]})
    run("patch", "kustomization", "notifications", "-n", NS, "--type=merge", "-p",
        '{"spec":{"suspend":true}}')

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "afflux.cli", "--kubeconfig",
                             str(cluster.kubeconfig), "ui", "--addr", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/api/fleet", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        from playwright.sync_api import expect, sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 520})
            page.goto(url + "/#/graph")
            expect(page.locator("#graph .node")).to_have_count(10, timeout=15_000)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
