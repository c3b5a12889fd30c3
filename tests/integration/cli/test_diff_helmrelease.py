"""`afflux diff helmrelease` on the real cluster with the real `helm4` (helm-controller's
default engine; which one is said): a release installed by
`helm install`, a chart artifact served over HTTP as a HelmChart's artifact, values from a
ConfigMap and inline; the diff shows the drifted (values, helm-controller's origin labels)
and the deleted object and exits 1, and 0 once `helm upgrade` applied the same values (and
the labels are there); a missing valuesFrom fails with exit 2. `tree
hr` and `trace` read the same release."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_harness import Run, apply, patch_status, ready_condition

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import HelmTool

pytestmark = pytest.mark.integration

EXTRA = ("{{ if .Values.extra }}apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
         "  name: {{ .Release.Name }}-extra\ndata:\n  on: \"yes\"\n{{ end }}\n")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A loopback HTTP server of `tmp_path/www`; (directory, base URL)."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _history(ns: str, version: int) -> dict:
    return {"storageNamespace": ns, "history": [{
        "name": "web", "namespace": ns, "version": version, "chartName": "web",
        "chartVersion": "1.0.0", "configDigest": "sha256:0", "digest": "sha256:0",
        "firstDeployed": "2024-05-01T12:00:00Z", "lastDeployed": "2024-05-01T12:00:00Z",
        "status": "deployed"}]}


def test_diff_helmrelease(afflux: Run, flux_crds: Cluster, namespace: str, helm_tool: HelmTool,
                          served: tuple[Path, str], tmp_path: Path) -> None:
    ns = namespace
    www, base = served
    chart = helm_tool.make_chart(tmp_path / "src", "web", "1.0.0",
                                 values={"replicas": 1, "extra": False},
                                 files={"templates/extra.yaml": EXTRA})
    tgz = helm_tool.package(chart, www)
    digest = "sha256:" + hashlib.sha256(tgz.read_bytes()).hexdigest()
    kubeconfig = str(flux_crds.kubeconfig)
    helm_tool.run("install", "web", str(tgz), "-n", ns, "--kubeconfig", kubeconfig,
                  "--set", "replicas=1", "--set", "extra=true")
    apply(flux_crds, ns,
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-values"},
           "data": {"values.yaml": "replicas: 2\n"}},
          {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
           "metadata": {"name": f"{ns}-web"},
           "spec": {"chart": "web", "interval": "5m",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
          {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": "web"},
           "spec": {"interval": "5m", "values": {"extra": False},
                    "valuesFrom": [{"kind": "ConfigMap", "name": "web-values"}],
                    "chart": {"spec": {"chart": "web", "sourceRef": {
                        "kind": "HelmRepository", "name": "charts"}}}}})
    patch_status(flux_crds, ns, "helmcharts", f"{ns}-web", {
        "artifact": {"path": "c/web.tgz", "url": f"{base}/{tgz.name}", "revision": "1.0.0",
                     "digest": digest, "lastUpdateTime": "2024-05-01T12:00:00Z"},
        "conditions": [ready_condition("True", "pulled 'web' chart with version '1.0.0'", 1)]})
    patch_status(flux_crds, ns, "helmreleases", "web", _history(ns, 1))

    res = afflux("diff", "hr", "web", "-n", ns)
    assert res.code == 1, res.err
    # the engine helm-controller runs by default (Flux 2.9's), said
    assert "rendering with Helm 4 (helm4): " in res.err, res.err
    assert f"► ConfigMap/{ns}/web drifted" in res.out
    assert "-  replicas: '1'" in res.out and "+  replicas: '2'" in res.out
    assert "+    helm.toolkit.fluxcd.io/name: web" in res.out  # the controller's origin labels
    assert f"+    helm.toolkit.fluxcd.io/namespace: {ns}" in res.out
    assert f"► ConfigMap/{ns}/web-extra deleted" in res.out
    assert "created" not in res.out

    helm_tool.run("upgrade", "web", str(tgz), "-n", ns, "--kubeconfig", kubeconfig,
                  "--set", "replicas=2", "--set", "extra=false")
    flux_crds.kubectl("label", "configmap", "web", "-n", ns, "helm.toolkit.fluxcd.io/name=web",
                      f"helm.toolkit.fluxcd.io/namespace={ns}")
    patch_status(flux_crds, ns, "helmreleases", "web", _history(ns, 2))
    res = afflux("diff", "helmrelease", "web", "-n", ns)
    assert res.code == 0, res.out + res.err
    assert "no changes" in res.err

    # commonMetadata, as the controller's post-renderer sets it
    flux_crds.kubectl("patch", "helmrelease", "web", "-n", ns, "--type=merge", "-p",
                      '{"spec": {"commonMetadata": {"labels": {"team": "platform"}}}}')
    res = afflux("diff", "hr", "web", "-n", ns)
    assert res.code == 1, res.out + res.err
    assert f"► ConfigMap/{ns}/web drifted" in res.out and "+    team: platform" in res.out
    flux_crds.kubectl("patch", "helmrelease", "web", "-n", ns, "--type=merge", "-p",
                      '{"spec": {"commonMetadata": null}}')

    # the release's objects, as tree and trace find them (Helm's own storage and annotations)
    res = afflux("tree", "hr", "web", "-n", ns)
    assert res.out == f"HelmRelease/{ns}/web\n└── ConfigMap/{ns}/web\n", res.err
    res = afflux("trace", "configmap", "web", "-n", ns)
    assert res.code == 0, res.err
    assert "Status:          Managed by Flux" in res.out
    assert "HelmRelease:     web" in res.out and "HelmRepository:  charts" in res.out

    flux_crds.kubectl("delete", "configmap", "web-values", "-n", ns)
    res = afflux("diff", "hr", "web", "-n", ns)
    assert res.code == 2
    assert f"ConfigMap '{ns}/web-values' not found" in res.err
