"""The local cluster is a real control plane: workloads run on the fake nodes, namespaces
delete, and `up`/`down` start and stop exactly the processes they own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from afflux.cli.devenv._cluster import COMPONENTS, LocalCluster
from harness import eventually

pytestmark = pytest.mark.integration


def _json(cluster, *args: str) -> dict:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def test_deployment_of_three_replicas_becomes_available(cluster, namespace: str) -> None:
    cluster.kubectl(
        "-n", namespace, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=3"
    )

    def available() -> bool:
        dep = _json(cluster, "-n", namespace, "get", "deployment", "web")
        conds = {c["type"]: c["status"] for c in dep.get("status", {}).get("conditions", [])}
        return dep["status"].get("availableReplicas") == 3 and conds.get("Available") == "True"

    eventually(available, timeout=60, message="deployment web to have 3 available replicas")
    pods = _json(cluster, "-n", namespace, "get", "pods", "-l", "app=web")["items"]
    assert len(pods) == 3
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    assert all(p["spec"]["nodeName"].startswith("afflux-node-") for p in pods)


def test_namespace_with_objects_in_it_deletes(cluster) -> None:
    name = "t-ns-delete"
    cluster.kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true")
    cluster.kubectl("create", "namespace", name)
    cluster.kubectl("-n", name, "create", "configmap", "c", "--from-literal=a=b")
    cluster.kubectl("-n", name, "create", "deployment", "d", "--image=nginx", "--replicas=2")
    eventually(
        lambda: len(_json(cluster, "-n", name, "get", "pods")["items"]) == 2,
        timeout=60,
        message="2 pods in the namespace",
    )
    cluster.kubectl("delete", "namespace", name, "--wait=false")

    def gone() -> bool:
        proc = cluster.kubectl("get", "namespace", name, check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr

    eventually(gone, timeout=90, message=f"namespace {name} to be deleted")


def test_up_is_idempotent_and_down_leaves_no_process(tmp_path: Path) -> None:
    local = LocalCluster(tmp_path / "c", nodes=1, log=lambda *_: None)
    local.up()
    try:
        pids = dict(local.state.pids)
        assert set(pids) == set(COMPONENTS)
        assert local.running()
        # A second `up` finds it running and changes nothing.
        again = LocalCluster(tmp_path / "c", nodes=1, log=lambda *_: None)
        again.up()
        assert again.state.pids == pids
        assert again.kubeconfig.read_text() == local.kubeconfig.read_text()
    finally:
        local.down(quiet=True)
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"{name} ({pid}) still runs"
    assert not local.running()


def test_up_reports_a_component_that_cannot_start(tmp_path: Path, monkeypatch) -> None:
    fake_cache = tmp_path / "cache"
    (fake_cache / "bin").mkdir(parents=True)
    real_bin = Path(os.environ.get("AFFLUX_CACHE", Path.home() / ".cache" / "afflux")) / "bin"
    for tool in real_bin.iterdir():
        if not tool.name.startswith("kube-apiserver"):
            (fake_cache / "bin" / tool.name).symlink_to(tool.resolve())
    broken = fake_cache / "bin" / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'kube-apiserver: cannot bind, pretending to fail' >&2\nexit 3\n")
    broken.chmod(0o755)
    monkeypatch.setenv("AFFLUX_CACHE", str(fake_cache))
    local = LocalCluster(tmp_path / "c", nodes=1, log=lambda *_: None)
    with pytest.raises(Exception) as err:
        local.up(timeout=20)
    assert "kube-apiserver exited during start-up" in str(err.value)
    assert "pretending to fail" in str(err.value)
    assert not local.state.pids  # the etcd it had started was stopped again


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
