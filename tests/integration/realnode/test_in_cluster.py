"""The operators in the cluster: `afflux bootstrap git` without `--local`, from an empty Git
repository, installs the six operators as Deployments (the image built from this checkout,
pushed to the registry the node trusts) whose Pods run on the real node, and they then
reconcile the repository: a commit adds an app, and the in-cluster kustomize-controller
applies it (fetching the artifact from source-controller's Service by its DNS name), and
its Deployment is served by a real Pod. `afflux check` finds the operators as Deployments
and `afflux logs` reads their Pods' logs. The removed API versions work in-cluster: a
GitRepository, a Kustomization and a HelmRelease applied in v1beta2 / v2beta1 go through the
conversion webhooks of source-, kustomize- and helm-controller behind their Services (each
operator made its certificate Secret and put its CA in its CRD's caBundle), are reconciled,
and read back in v1 / v2 and in the old versions. Then the operators upgrade themselves: a commit
that changes their image tag in the repository is applied by kustomize-controller to every
operator's Deployment (its own too), and the new Pods take over.

The Git server listens on the node's address (the bridge), which Pods reach.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.cli.devenv import GitHTTPServer, TestCA
from afflux.cli.devenv._afflux_image import IMAGE_NAME, afflux_image, version
from afflux.cli.devenv._images import push
from afflux.cli.devenv._tools import tool_path
from harness.fixtures_realnode import RealCluster
from harness.fixtures_servers import GitAuth, git_clone, git_push_files
from harness.wait import eventually

pytestmark = pytest.mark.integration

OPERATORS = ("source-controller", "kustomize-controller", "helm-controller",
             "notification-controller", "image-reflector-controller",
             "image-automation-controller")
START = 420.0  # six Python operators starting on two shared cores


@pytest.fixture(scope="module")
def operator_image(real_cluster: RealCluster) -> str:
    """The afflux image of this checkout, in the registry the node pulls from."""
    reg = real_cluster.registry
    ref = f"{reg.host}/{IMAGE_NAME}:v{version()}"
    push(afflux_image(log=lambda *_: None), ref, ca_file=Path(reg.ca_cert),
         username=reg.username, password=reg.password)
    return ref


@pytest.fixture(scope="module", autouse=True)
def uninstalled_afterwards(real_cluster: RealCluster) -> Iterator[None]:
    """The in-cluster operators watch every namespace: they go at the end of the module, so
    that the operators other tests run against this cluster are the only ones."""
    yield
    done = afflux(real_cluster, "uninstall", "--silent", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr

    def gone() -> bool:
        out = real_cluster.kubectl("-n", "flux-system", "get", "pods", "-o", "name", check=False)
        return not out.stdout.strip()

    eventually(gone, 180, message="the operators' Pods to be gone after uninstall")


@pytest.fixture(scope="module")
def fleet(node_git: GitHTTPServer) -> str:
    """The (empty) repository the module bootstraps from; the tests run in order on it."""
    node_git.create_repo("fleet")
    return node_git.url("fleet", "https")


@pytest.fixture(scope="module")
def node_git(real_cluster: RealCluster, test_ca: TestCA,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    server = GitHTTPServer(tmp_path_factory.mktemp("node-git"), ca=test_ca,
                           host=real_cluster.node.address).start()
    yield server
    server.stop()


def afflux(cluster: RealCluster, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run([sys.executable, "-m", "afflux.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def pods_of(cluster: RealCluster, name: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("-n", "flux-system", "get", "pods", "-l", f"app={name}", "-o", "json")
    return json.loads(out.stdout)["items"]


def test_bootstrap_without_local_runs_the_operators_as_pods_that_reconcile_git(
        real_cluster: RealCluster, operator_image: str, node_git: GitHTTPServer,
        test_ca: TestCA, fleet: str) -> None:
    url = fleet
    registry = operator_image.rsplit("/", 1)[0]
    boot = afflux(real_cluster, "--timeout", "10m", "bootstrap", "git", "--url", url,
                  "-u", node_git.username, "-p", node_git.password,
                  "--ca-file", str(test_ca.ca_cert), "--token-auth", "--path", "clusters/real",
                  "--components-extra", "image-reflector-controller,image-automation-controller",
                  "--registry", registry, "--silent")
    assert boot.returncode == 0, (f"{boot.stdout}\n{boot.stderr}\n"
                                  f"{real_cluster.diagnose('flux-system')}")
    assert node_git.password not in boot.stdout + boot.stderr

    for name in OPERATORS:
        (pod,) = [p for p in pods_of(real_cluster, name) if not p["metadata"].get("deletionTimestamp")]
        assert pod["spec"]["nodeName"] == "afflux-real-0"
        (container,) = pod["spec"]["containers"]
        assert container["image"] == operator_image
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"] is True, (name, status)

    # a commit adds an app: the in-cluster operators fetch, build and apply it, for real
    app = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "podinfo", "namespace": "demo"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "podinfo"}},
                  "template": {"metadata": {"labels": {"app": "podinfo"}}, "spec": {
                      "containers": [{"name": "podinfo", "image": real_cluster.podinfo,
                                      "command": ["./podinfo", "--port=9898"],
                                      "readinessProbe": {"httpGet": {"path": "/readyz",
                                                                     "port": 9898}}}]}}}},
    ]
    sha = git_push_files(url, {"clusters/real/app.yaml": yaml.safe_dump_all(app)},
                         branch="main", message="add podinfo", auth=GitAuth.for_server(node_git))
    real_cluster.kubectl("-n", "flux-system", "annotate", "--overwrite",
                         "gitrepositories.source.toolkit.fluxcd.io", "flux-system",
                         f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")

    def applied() -> dict[str, Any]:
        ks = json.loads(real_cluster.kubectl(
            "-n", "flux-system", "get", "kustomizations.kustomize.toolkit.fluxcd.io",
            "flux-system", "-o", "json").stdout)
        assert ks["status"].get("lastAppliedRevision") == f"main@sha1:{sha}", ks["status"]
        return ks

    eventually(applied, START, message=f"the commit applied by the in-cluster operators\n"
               f"{real_cluster.diagnose('flux-system')}")

    def served() -> str:
        dep = json.loads(real_cluster.kubectl("-n", "demo", "get", "deployment", "podinfo",
                                              "-o", "json").stdout)
        assert dep["status"].get("availableReplicas") == 1, dep["status"]
        pod = json.loads(real_cluster.kubectl("-n", "demo", "get", "pods", "-l", "app=podinfo",
                                              "-o", "json").stdout)["items"][0]
        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:9898/", timeout=5) as r:
            return str(json.loads(r.read())["hostname"])

    assert eventually(served, START, message=f"podinfo served\n{real_cluster.diagnose('demo')}")

    check = afflux(real_cluster, "check", "--components-extra",
                   "image-reflector-controller,image-automation-controller", timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    for name in OPERATORS:
        assert f"{name}: deployment ready" in check.stdout + check.stderr

    logs = afflux(real_cluster, "logs", "--source", "cluster", "--tail", "20", timeout=120)
    assert logs.returncode == 0, logs.stderr
    assert "source-controller" in logs.stdout and "kustomize-controller" in logs.stdout
    assert node_git.password not in logs.stdout

    # the real flux CLI finds the operators' Pods and filters their JSON lines by kind
    # (flux logs reads `controllerKind`): lines of the flux-system Kustomization only
    flux_logs = subprocess.run(
        [str(tool_path("flux")), f"--kubeconfig={real_cluster.kubeconfig}", "logs",
         "--kind=Kustomization", "--name=flux-system", "--tail=500"],
        capture_output=True, text=True, timeout=120, check=False)
    assert flux_logs.returncode == 0, flux_logs.stdout + flux_logs.stderr
    lines = [line for line in flux_logs.stdout.splitlines() if line.strip()]
    assert lines, flux_logs.stderr
    assert all("flux-system" in line for line in lines), lines
    assert node_git.password not in flux_logs.stdout


LEGACY_FILES = {
    "legacy/app/cm.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy-cm\n"
                           "  namespace: demo\ndata:\n  a: b\n"),
    "legacy/charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    "legacy/charts/app/values.yaml": "color: blue\n",
    "legacy/charts/app/values-prod.yaml": "color: red\n",
    "legacy/charts/app/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  color: {{ .Values.color | quote }}\n"),
}
CONVERTED_CRDS = {
    "gitrepositories.source.toolkit.fluxcd.io": "source-controller",
    "kustomizations.kustomize.toolkit.fluxcd.io": "kustomize-controller",
    "helmreleases.helm.toolkit.fluxcd.io": "helm-controller",
}


def get_json(cluster: RealCluster, *args: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("-n", "flux-system", "get", *args, "-o", "json").stdout)


def ready_status(cluster: RealCluster, resource: str, name: str) -> dict[str, Any]:
    body = get_json(cluster, resource, name)
    ready = [c for c in (body.get("status") or {}).get("conditions") or []
             if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True", body.get("status")
    return body


def test_old_api_versions_are_served_in_cluster_by_the_operators_conversion_webhooks(
        real_cluster: RealCluster, node_git: GitHTTPServer, fleet: str) -> None:
    # each owning operator made its certificate and put its CA in its CRD (no URL anywhere)
    for crd, operator in CONVERTED_CRDS.items():
        body = json.loads(real_cluster.kubectl("get", "crd", crd, "-o", "json").stdout)
        config = body["spec"]["conversion"]["webhook"]["clientConfig"]
        assert "url" not in config, config
        assert config["service"]["name"] == operator, config
        secret = get_json(real_cluster, "secret", f"{operator}-conversion-cert")
        assert config.get("caBundle") == secret["data"]["ca.crt"], crd

    sha = git_push_files(fleet, LEGACY_FILES, branch="main", message="legacy app and chart",
                         auth=GitAuth.for_server(node_git))
    patch = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "legacy-cm", "namespace": "demo"},
             "data": {"patched": "yes"}}
    old = [
        {"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "GitRepository",
         "metadata": {"name": "legacy", "namespace": "flux-system"},
         "spec": {"url": fleet, "interval": "10m", "ref": {"branch": "main"},
                  "gitImplementation": "go-git", "secretRef": {"name": "flux-system"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2", "kind": "Kustomization",
         "metadata": {"name": "legacy", "namespace": "flux-system"},
         "spec": {"interval": "10m", "path": "./legacy/app", "prune": True,
                  "validation": "client", "patchesStrategicMerge": [patch],
                  "sourceRef": {"kind": "GitRepository", "name": "legacy"}}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2beta1", "kind": "HelmRelease",
         "metadata": {"name": "legacy", "namespace": "flux-system"},
         "spec": {"interval": "10m", "chart": {"spec": {
             "chart": "./legacy/charts/app",
             "valuesFile": "legacy/charts/app/values-prod.yaml",
             "sourceRef": {"kind": "GitRepository", "name": "legacy"}}}}},
    ]
    applied = real_cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(old))
    assert "deprecated" in applied.stderr

    # stored as the current versions, converted by the webhooks
    git = get_json(real_cluster, "gitrepositories.v1.source.toolkit.fluxcd.io", "legacy")
    assert git["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert "gitImplementation" not in git["spec"]
    ks = get_json(real_cluster, "kustomizations.v1.kustomize.toolkit.fluxcd.io", "legacy")
    assert ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    assert "validation" not in ks["spec"] and "patchesStrategicMerge" not in ks["spec"]
    assert "name: legacy-cm" in ks["spec"]["patches"][0]["patch"]
    hr = get_json(real_cluster, "helmreleases.v2.helm.toolkit.fluxcd.io", "legacy")
    assert hr["spec"]["chart"]["spec"]["valuesFiles"] == ["legacy/charts/app/values-prod.yaml"]

    # reconciled by the operators in the cluster
    def applied_at_commit() -> dict[str, Any]:
        body = ready_status(real_cluster, "kustomizations.v1.kustomize.toolkit.fluxcd.io",
                            "legacy")
        assert body["status"]["lastAppliedRevision"] == f"main@sha1:{sha}", body["status"]
        return body

    done = eventually(applied_at_commit, START, message=f"Kustomization legacy applied\n"
                      f"{real_cluster.diagnose('flux-system')}")
    cm = json.loads(real_cluster.kubectl("-n", "demo", "get", "configmap", "legacy-cm", "-o",
                                         "json").stdout)
    assert cm["data"] == {"a": "b", "patched": "yes"}
    eventually(lambda: ready_status(real_cluster, "helmreleases.v2.helm.toolkit.fluxcd.io",
                                    "legacy"),
               START, message=f"HelmRelease legacy released\n"
               f"{real_cluster.diagnose('flux-system')}")
    released = get_json(real_cluster, "configmap", "legacy-cm")  # the chart's, in flux-system
    assert released["data"] == {"color": "red"}  # valuesFile kept by the conversion

    # and read back in the old versions, converted on the way out
    old_ks = get_json(real_cluster, "kustomizations.v1beta2.kustomize.toolkit.fluxcd.io",
                      "legacy")
    assert old_ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1beta2"
    assert old_ks["status"]["lastAppliedRevision"] == done["status"]["lastAppliedRevision"]
    old_git = get_json(real_cluster, "gitrepositories.v1beta2.source.toolkit.fluxcd.io",
                       "legacy")
    assert old_git["apiVersion"] == "source.toolkit.fluxcd.io/v1beta2"
    old_hr = get_json(real_cluster, "helmreleases.v2beta1.helm.toolkit.fluxcd.io", "legacy")
    assert old_hr["apiVersion"] == "helm.toolkit.fluxcd.io/v2beta1"
    real_cluster.kubectl("-n", "flux-system", "delete", "helmreleases.v2.helm.toolkit.fluxcd.io,"
                         "kustomizations.v1.kustomize.toolkit.fluxcd.io,"
                         "gitrepositories.v1.source.toolkit.fluxcd.io", "legacy",
                         "--timeout=120s")


def test_a_commit_that_changes_the_image_tag_upgrades_the_operators(
        real_cluster: RealCluster, operator_image: str, node_git: GitHTTPServer,
        fleet: str) -> None:
    reg = real_cluster.registry
    repo = operator_image.rsplit(":", 1)[0]
    upgraded = f"{repo}:v{version()}-next"
    push(afflux_image(log=lambda *_: None), upgraded, ca_file=Path(reg.ca_cert),
         username=reg.username, password=reg.password)
    kfile = "clusters/real/flux-system/kustomization.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        git_clone(fleet, Path(tmp) / "clone", auth=GitAuth.for_server(node_git))
        kustomization = yaml.safe_load((Path(tmp) / "clone" / kfile).read_text())
    kustomization["images"] = [{"name": repo, "newTag": upgraded.rsplit(":", 1)[1]}]
    sha = git_push_files(fleet, {kfile: yaml.safe_dump(kustomization, sort_keys=False)},
                         branch="main", message="upgrade the operators",
                         auth=GitAuth.for_server(node_git))
    real_cluster.kubectl("-n", "flux-system", "annotate", "--overwrite",
                         "gitrepositories.source.toolkit.fluxcd.io", "flux-system",
                         f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")

    def upgraded_and_running() -> list[str]:
        out = []
        for name in OPERATORS:
            dep = json.loads(real_cluster.kubectl("-n", "flux-system", "get", "deployment",
                                                  name, "-o", "json").stdout)
            (container,) = dep["spec"]["template"]["spec"]["containers"]
            assert container["image"] == upgraded, (name, container["image"])
            status = dep["status"]
            assert status.get("updatedReplicas") == 1 == status.get("availableReplicas"), status
            assert status.get("replicas") == 1, status  # the old Pod is gone
            out.append(name)
        return out

    eventually(upgraded_and_running, START, message=f"every operator running {upgraded}\n"
               f"{real_cluster.diagnose('flux-system')}")
    # and the upgraded operators still reconcile: the Kustomization is Ready at the commit

    def ready_at_commit() -> dict[str, Any]:
        ks = json.loads(real_cluster.kubectl(
            "-n", "flux-system", "get", "kustomizations.kustomize.toolkit.fluxcd.io",
            "flux-system", "-o", "json").stdout)
        ready = [c for c in ks["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True", ks["status"]
        assert ks["status"].get("lastAppliedRevision") == f"main@sha1:{sha}", ks["status"]
        return ks

    eventually(ready_at_commit, START, message="the upgraded operators at the commit")
