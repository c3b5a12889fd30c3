"""Cluster fixtures: the real local control plane (etcd, kube-apiserver, controllers, kwok).

`cluster` (session scope) reuses the cluster `make cluster-up` started when its
kubeconfig is in `.local/cluster/` and it answers; otherwise it starts its own in a
temporary directory and stops it at the end of the session. `namespace` gives each test
a fresh namespace and deletes it afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from afflux.cli.devenv import LocalCluster
from afflux.cli.devenv._tools import tool_path

REPO = Path(__file__).resolve().parents[2]
SHARED_STATE = REPO / ".local" / "cluster"


class Cluster:
    """A handle on a running cluster for tests: kubeconfig, kubectl, API client."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self._kubectl = str(tool_path("kubectl"))

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl against this cluster; on failure with check, show its stderr."""
        proc = subprocess.run(
            [self._kubectl, f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}"
            )
        return proc

    def api_client(self):
        """A new `kubernetes.client.ApiClient` for this cluster."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    shared = LocalCluster(SHARED_STATE, log=lambda *_: None)
    if shared.kubeconfig.exists() and shared.running():
        yield Cluster(shared.kubeconfig)
        return
    own = LocalCluster(tmp_path_factory.mktemp("cluster"), log=lambda *_: None)
    own.up()
    try:
        yield Cluster(own.kubeconfig)
    finally:
        own.down(quiet=True)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted (without waiting) afterwards."""
    base = request.node.name.lower().replace("_", "-")
    keep = "".join(c for c in base if c.isalnum() or c == "-")[:40].strip("-")
    name = f"t-{keep}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        if not os.environ.get("AFFLUX_KEEP_NAMESPACES"):
            cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
