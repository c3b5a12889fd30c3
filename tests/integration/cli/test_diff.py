"""`afflux build kustomization` and `afflux diff kustomization` against the test cluster: a
Kustomization (no operator needed) whose spec shapes the local build (targetNamespace,
commonMetadata, postBuild from a ConfigMap), the build applied as kustomize-controller would,
then diffs: clean (exit 0), a changed field, a new object, a pruned one, a masked Secret."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from cli_harness import Run, apply, patch_status

from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
        - name: web
          image: ghcr.io/afflux/web:1.0.0
"""
CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: ${GREETING}
  who: ${WHO:=world}
"""
SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: token
data:
  token: {value}
"""


def write_app(directory: Path, replicas: int = 1, token: str = "czNjcjN0") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "deployment.yaml").write_text(DEPLOYMENT.format(replicas=replicas))
    (directory / "config.yaml").write_text(CONFIG)
    (directory / "secret.yaml").write_text(SECRET.format(value=token))


def kustomization(namespace: str) -> dict:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {
            "interval": "10m", "path": "./app", "prune": True, "targetNamespace": namespace,
            "sourceRef": {"kind": "GitRepository", "name": f"none-{uuid.uuid4().hex[:6]}"},
            "commonMetadata": {"labels": {"team": "web"}},
            "postBuild": {"substitute": {"WHO": "the web team"},
                          "substituteFrom": [{"kind": "ConfigMap", "name": "vars"}]},
        },
    }


def inventory(namespace: str, *names: tuple[str, str, str]) -> dict:
    return {"inventory": {"entries": [
        {"id": f"{namespace}_{name}_{group}_{kind}", "v": "v1"} for kind, group, name in names]}}


BUILT = [("Deployment", "apps", "web"), ("ConfigMap", "", "settings"), ("Secret", "", "token")]


def test_build_then_diff(afflux: Run, flux_crds: Cluster, namespace: str,
                         tmp_path: Path) -> None:
    app = tmp_path / "app"
    write_app(app)
    apply(flux_crds, namespace, kustomization(namespace),
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars"},
           "data": {"GREETING": "hello"}})

    # build: the spec's overlay, substitutions (inline over the ConfigMap) and labels
    res = afflux("build", "ks", "app", "-n", namespace, "--path", str(app))
    assert res.code == 0, res.err
    docs = {d["kind"]: d for d in yaml.safe_load_all(res.out) if d}
    assert set(docs) == {"Deployment", "ConfigMap", "Secret"}
    assert docs["ConfigMap"]["data"] == {"greeting": "hello", "who": "the web team"}
    for doc in docs.values():
        meta = doc["metadata"]
        assert meta["namespace"] == namespace
        assert meta["labels"]["team"] == "web"
        assert meta["labels"]["kustomize.toolkit.fluxcd.io/name"] == "app"
        assert meta["labels"]["kustomize.toolkit.fluxcd.io/namespace"] == namespace

    # what kustomize-controller would have applied, and its inventory
    flux_crds.kubectl("apply", "--server-side", "--field-manager=kustomize-controller",
                      "-f", "-", input=res.out)
    patch_status(flux_crds, namespace, "kustomizations.kustomize.toolkit.fluxcd.io", "app",
                 inventory(namespace, *BUILT))

    res = afflux("diff", "ks", "app", "-n", namespace, "--path", str(app))
    assert res.code == 0, res.out + res.err
    assert res.out == ""
    assert res.err.splitlines()[-1] == "✔ no changes"

    # a changed field, a new object, a changed Secret, an object left in the inventory
    write_app(app, replicas=3, token="bmV3LXNlY3JldA==")
    (app / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n"
                                    "data:\n  a: b\n")
    apply(flux_crds, namespace, {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "old"}, "data": {"k": "v"}},
          {"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "kept", "annotations": {
               "kustomize.toolkit.fluxcd.io/prune": "disabled"}}})
    patch_status(flux_crds, namespace, "kustomizations.kustomize.toolkit.fluxcd.io", "app",
                 inventory(namespace, *BUILT, ("ConfigMap", "", "old"),
                           ("ConfigMap", "", "kept")))
    res = afflux("diff", "ks", "app", "-n", namespace, "--path", str(app))
    assert res.code == 1, res.out + res.err
    out = res.out
    assert f"► Deployment/{namespace}/web drifted\n" in out
    assert f"--- live Deployment/{namespace}/web\n+++ merged Deployment/{namespace}/web\n" in out
    assert "-  replicas: 1\n" in out
    assert "+  replicas: 3\n" in out
    assert f"► Secret/{namespace}/token drifted\n" in out
    assert "-  token: '***** (before)'\n" in out and "+  token: '***** (after)'\n" in out
    assert "czNjcjN0" not in out and "bmV3LXNlY3JldA==" not in out
    assert f"► ConfigMap/{namespace}/extra created\n" in out
    assert f"► ConfigMap/{namespace}/old deleted\n" in out
    assert "kept" not in out
    assert f"ConfigMap/{namespace}/settings" not in out
    assert "1 created, 2 drifted, 1 deleted" in res.err

    # nothing was applied by the dry runs
    live = json.loads(flux_crds.kubectl("get", "-n", namespace, "deployment", "web", "-o",
                                        "json").stdout)
    assert live["spec"]["replicas"] == 1


def test_diff_of_a_missing_kustomization(afflux: Run, namespace: str, tmp_path: Path) -> None:
    write_app(tmp_path / "app")
    res = afflux("diff", "ks", "nope", "-n", namespace, "--path", str(tmp_path / "app"))
    assert res.code == 3
    assert f"✗ Kustomization '{namespace}/nope' not found" in res.err


def test_build_of_broken_manifests_is_one_line(afflux: Run, namespace: str,
                                              flux_crds: Cluster, tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    apply(flux_crds, namespace, kustomization(namespace))
    res = afflux("build", "ks", "app", "-n", namespace, "--path", str(app))
    assert res.code == 1
    failures = [line for line in res.err.splitlines() if line.startswith("✗ build failed")]
    assert len(failures) == 1, res.err
    assert "  hint: " in res.err
    res = afflux("diff", "ks", "app", "-n", namespace, "--path", str(app))
    assert res.code == 2, res.err  # >1: the diff itself failed
