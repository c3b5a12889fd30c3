"""The object page's "what the next reconcile would change", against the real API server:
a GitRepository whose status names an artifact served over HTTP on loopback (as
source-controller serves it), two Kustomizations of it whose objects were applied as
kustomize-controller applies them (the CLI's own build, a server-side apply with its field
manager). The one whose ConfigMap and Secret were edited by hand shows both as changed, with
the diff (the Secret's values masked), and the object its inventory has that the build lacks
as pruned; the one in sync shows nothing to change. Through the JSON API and in Chromium.
A HelmRelease whose release (installed by the real helm) has other values than its spec
shows the object an upgrade changes and the one it removes.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from afflux.cli import main
from harness.archives import targz
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import HelmTool

pytestmark = pytest.mark.integration

WAIT_MS = 30_000
FROM_GIT, BY_HAND = "from-git-value", "typed-by-hand"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


FILES = {
    "app-synced/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                 "  name: synced-settings\ndata:\n  color: blue\n",
    "app-drifted/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                  "  name: settings\ndata:\n  color: blue\n  size: small\n",
    "app-drifted/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n"
                               f"data:\n  password: {_b64(FROM_GIT)}\n",
}


@pytest.fixture(scope="module")
def artifacts() -> Iterator[tuple[str, dict[str, bytes]]]:
    """An HTTP server on loopback answering GET /<path> from a dict (source-controller's
    part: it serves the artifact tarballs)."""
    served: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server interface
            body = served.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()


def _apply(cluster: Cluster, namespace: str, docs: list[dict[str, Any]],
           *flags: str) -> None:
    cluster.kubectl("apply", "-n", namespace, *flags, "-f", "-",
                    input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


def _status(cluster: Cluster, namespace: str, kind: str, name: str, **status: Any) -> None:
    ready = {"type": "Ready", "status": "True", "reason": "Succeeded", "message": "ok",
             "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}
    cluster.kubectl("patch", kind, name, "-n", namespace, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": {"conditions": [ready],
                                                                 **status}}))


@pytest.fixture
def deployed(flux_crds: Cluster, namespace: str, artifacts: tuple[str, dict[str, bytes]],
             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The source with its artifact, both Kustomizations applied as the controller applies
    them, then `drifted`'s ConfigMap and Secret edited by hand."""
    base, served = artifacts
    tarball = targz(FILES)
    digest = hashlib.sha256(tarball).hexdigest()
    path = f"gitrepository/{namespace}/repo/{digest}.tar.gz"
    served["/" + path] = tarball
    _apply(flux_crds, namespace, [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "repo"},
         "spec": {"url": "https://example.com/repo.git", "interval": "1m"}},
        *({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": name},
           "spec": {"interval": "10m", "path": f"./app-{name}", "prune": True,
                    "targetNamespace": namespace,
                    "sourceRef": {"kind": "GitRepository", "name": "repo"}}}
          for name in ("synced", "drifted"))])
    _status(flux_crds, namespace, "gitrepository", "repo", artifact={
        "path": path, "url": f"{base}/{path}", "revision": "main@sha1:" + "ab" * 20,
        "digest": f"sha256:{digest}", "lastUpdateTime": "2026-01-01T00:00:00Z",
        "size": len(tarball)})
    for rel, text in FILES.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    inventories: dict[str, list[dict[str, str]]] = {}
    for name in ("synced", "drifted"):
        capsys.readouterr()
        assert main(["--kubeconfig", str(flux_crds.kubeconfig), "-n", namespace, "build",
                     "kustomization", name, "--path", str(tmp_path / f"app-{name}")]) == 0
        built = [d for d in __import__("yaml").safe_load_all(capsys.readouterr().out) if d]
        _apply(flux_crds, namespace, built, "--server-side",
               "--field-manager=kustomize-controller", "--force-conflicts")
        inventories[name] = [{"id": f"{namespace}_{d['metadata']['name']}__{d['kind']}",
                              "v": "v1"} for d in built]
    # in drifted's inventory, not in its build: a prune would delete it
    flux_crds.kubectl("create", "configmap", "old", "-n", namespace)
    inventories["drifted"].append({"id": f"{namespace}_old__ConfigMap", "v": "v1"})
    for name, entries in inventories.items():
        _status(flux_crds, namespace, "kustomization", name, inventory={"entries": entries})
    flux_crds.kubectl("patch", "configmap", "settings", "-n", namespace, "--type=merge",
                      "-p", json.dumps({"data": {"color": "red"}}))
    flux_crds.kubectl("patch", "secret", "creds", "-n", namespace, "--type=merge",
                      "-p", json.dumps({"data": {"password": _b64(BY_HAND)}}))
    return namespace


def _next(ui: Any, namespace: str, name: str, refresh: bool = False,
          kind: str = "Kustomization") -> dict[str, Any]:
    import urllib.request

    url = f"{ui.url}/api/next/{kind}/{namespace}/{name}" + ("?refresh=1" if refresh else "")
    with urllib.request.urlopen(url, timeout=120) as resp:
        result: dict[str, Any] = json.loads(resp.read())
    return result


def test_the_next_reconcile_shows_the_hand_edits_and_the_prune(
    start_ui: Callable[..., Any], deployed: str
) -> None:
    ns = deployed
    ui = start_ui()
    drifted = _next(ui, ns, "drifted")
    assert drifted["error"] == "", drifted["error"]
    assert (drifted["created"], drifted["pruned"], drifted["cached"]) == (
        [], [f"ConfigMap/{ns}/old"], False)
    assert drifted["revision"] == "main@sha1:" + "ab" * 20
    diffs = {c["object"]: c["diff"] for c in drifted["changed"]}
    assert sorted(diffs) == [f"ConfigMap/{ns}/settings", f"Secret/{ns}/creds"]
    lines = diffs[f"ConfigMap/{ns}/settings"].splitlines()
    assert "-  color: red" in lines and "+  color: blue" in lines, lines
    assert not any("size" in line for line in lines if line[:1] in "+-" and
                   not line.startswith(("+++", "---")))
    secret = diffs[f"Secret/{ns}/creds"]
    for value in (FROM_GIT, BY_HAND, _b64(FROM_GIT), _b64(BY_HAND)):
        assert value not in secret
    assert "*****" in secret

    synced = _next(ui, ns, "synced")
    assert (synced["error"], synced["created"], synced["changed"], synced["pruned"],
            synced["changes"]) == ("", [], [], [], 0)
    # the same artifact and generation: from the cache, unless asked again
    assert _next(ui, ns, "synced")["cached"] is True
    assert _next(ui, ns, "synced", refresh=True)["cached"] is False


def test_the_object_page_computes_the_next_reconcile(
    start_ui: Callable[..., Any], page: Page, deployed: str
) -> None:
    ns = deployed
    ui = start_ui()
    page.goto(f"{ui.url}/#/object/Kustomization/{ns}/drifted")
    expect(page.locator("h2").first).to_contain_text(f"Kustomization {ns}/drifted",
                                                     timeout=WAIT_MS)
    page.click("#next-compute")
    expect(page.locator("#next-summary")).to_contain_text(
        "0 to create, 2 to change, 1 to prune", timeout=WAIT_MS)
    diff = page.locator(f'#next-changed details[data-object="ConfigMap/{ns}/settings"] pre')
    expect(diff).to_contain_text("+  color: blue")
    expect(diff).to_contain_text("-  color: red")
    expect(page.locator("#next-pruned")).to_have_text(f"ConfigMap/{ns}/old")
    expect(page.locator("#next-compute")).to_have_text("Recompute")

    page.goto(f"{ui.url}/#/object/Kustomization/{ns}/synced")
    expect(page.locator("h2").first).to_contain_text(f"Kustomization {ns}/synced",
                                                     timeout=WAIT_MS)
    page.click("#next-compute")
    expect(page.locator("#next-summary")).to_contain_text("nothing to change", timeout=WAIT_MS)
    expect(page.locator("#next-changed")).to_have_count(0)


EXTRA = ("{{ if .Values.extra }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
         "  name: {{ .Release.Name }}-extra\ndata:\n  on: \"yes\"\n{{ end }}\n")


def test_the_next_upgrade_of_a_helm_release(
    start_ui: Callable[..., Any], flux_crds: Cluster, namespace: str, helm_tool: HelmTool,
    artifacts: tuple[str, dict[str, bytes]], tmp_path: Path,
) -> None:
    ns = namespace
    base, served = artifacts
    chart = helm_tool.make_chart(tmp_path / "src", "web", "1.0.0",
                                 values={"replicas": 1, "extra": False},
                                 files={"templates/extra.yaml": EXTRA})
    tgz = helm_tool.package(chart, tmp_path / "www")
    served[f"/{ns}/{tgz.name}"] = tgz.read_bytes()
    helm_tool.run("install", "web", str(tgz), "-n", ns, "--kubeconfig",
                  str(flux_crds.kubeconfig), "--set", "replicas=1", "--set", "extra=true")
    source = {"kind": "HelmRepository", "name": "charts"}
    _apply(flux_crds, ns, [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
         "metadata": {"name": f"{ns}-web"},
         "spec": {"chart": "web", "interval": "5m", "sourceRef": source}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {"name": "web"},
         "spec": {"interval": "5m", "values": {"replicas": 2, "extra": False},
                  "chart": {"spec": {"chart": "web", "sourceRef": source}}}}])
    _status(flux_crds, ns, "helmchart", f"{ns}-web", artifact={
        "path": f"helmchart/{ns}/web/{tgz.name}", "url": f"{base}/{ns}/{tgz.name}",
        "revision": "1.0.0", "digest": "sha256:" + hashlib.sha256(tgz.read_bytes()).hexdigest(),
        "lastUpdateTime": "2026-01-01T00:00:00Z"})
    _status(flux_crds, ns, "helmrelease", "web", storageNamespace=ns, history=[{
        "name": "web", "namespace": ns, "version": 1, "chartName": "web",
        "chartVersion": "1.0.0", "configDigest": "sha256:0", "digest": "sha256:0",
        "firstDeployed": "2026-01-01T00:00:00Z", "lastDeployed": "2026-01-01T00:00:00Z",
        "status": "deployed"}])
    ui = start_ui()
    result = _next(ui, ns, "web", kind="HelmRelease")
    assert result["error"] == "", result["error"]
    assert (result["created"], result["pruned"]) == ([], [f"ConfigMap/{ns}/web-extra"])
    [changed] = result["changed"]
    assert changed["object"] == f"ConfigMap/{ns}/web"
    lines = changed["diff"].splitlines()
    assert "-  replicas: '1'" in lines and "+  replicas: '2'" in lines, lines
