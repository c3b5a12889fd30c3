"""The real-node cluster: the local control plane plus one real node (kubelet, containerd,
runc, CNI bridge, kube-proxy, CoreDNS; `afflux.cli.devenv._realnode`), and a registry its
containerd trusts, holding podinfo built from source.

- `real_cluster` (session): `RealCluster`, a `Cluster` with `.local` (the `LocalCluster`),
  `.node` (the `RealNode`), `.registry` (a TLS + htpasswd registry bound to the node
  address, so Pods and the host reach it alike) and `.podinfo` (the image reference).
  Its kwok node is tainted: Pods without a toleration run on the real node.

- `real_node_free` (function): the machine's one real node free for a test that starts its
  own (`afflux dev up --real-node`): the session's real cluster, if it runs, is stopped for
  the test and started again after it.

Only one real node can run on a machine at a time (kube-proxy's chains are global), so
the session owns it. It needs root; a missing piece fails with what to install (never a
skip). When a start-up fails, the error carries the last lines of the component's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from afflux.cli.devenv import LocalCluster, Registry, TestCA
from afflux.cli.devenv._images import podinfo_image, push

from .fixtures_cluster import Cluster

PODINFO_REPO = "afflux/podinfo"
PODINFO_TAG = "6.9.2"


#: The session's real cluster while it is up (for `real_node_free`).
_RUNNING: list[RealCluster] = []


class RealCluster(Cluster):
    def __init__(self, local: LocalCluster, registry: Registry, podinfo: str) -> None:
        super().__init__(local.kubeconfig)
        self.local = local
        assert local.real_node is not None
        self.node = local.real_node
        self.registry = registry
        self.podinfo = podinfo

    def logs(self, component: str, lines: int = 40) -> str:
        """The last lines of a node component's log (containerd, kubelet, kube-proxy, coredns)."""
        return self.node.log_tail(component, lines)

    def diagnose(self, namespace: str) -> str:
        """What to show when a Pod does not do what a test waits for: the namespace's Pods,
        Events and the last lines of their logs, the kubelet's log, containerd's errors."""
        pods = self.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
        events = self.kubectl("-n", namespace, "get", "events", "--sort-by=.lastTimestamp",
                              check=False).stdout
        logs = self.kubectl("-n", namespace, "logs", "--all-containers", "--prefix",
                            "--tail=15", "-l", "app", check=False)
        errors = [line for line in self.logs("containerd", 400).splitlines()
                  if "level=error" in line][-10:]
        return (f"pods:\n{pods}\nevents:\n{events[-4000:]}\npod logs:\n{logs.stdout[-6000:]}"
                f"\n{self.logs('kubelet', 20)}\ncontainerd errors:\n" + "\n".join(errors))


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    base = tmp_path_factory.mktemp("real")
    local = LocalCluster(base / "cluster", nodes=1, real_node=True, log=lambda *_: None)
    local.up(timeout=300)
    registry = None
    try:
        node = local.real_node
        assert node is not None
        ca = TestCA(base / "ca").start()
        registry = Registry(base / "registry", ca=ca, host=node.address).start()
        node.trust_registry(registry.host, Path(registry.ca_cert), registry.username, registry.password)
        podinfo = f"{registry.host}/{PODINFO_REPO}:{PODINFO_TAG}"
        push(podinfo_image(), podinfo, ca_file=Path(registry.ca_cert),
             username=registry.username, password=registry.password)
        cluster = RealCluster(local, registry, podinfo)
        _RUNNING.append(cluster)
        yield cluster
    finally:
        _RUNNING.clear()
        if registry is not None:
            registry.stop()
        local.down(quiet=True)


@pytest.fixture
def real_node_free() -> Iterator[None]:
    paused = [c for c in _RUNNING if c.local.running()]
    for cluster in paused:
        cluster.local.down(quiet=True)
    try:
        yield
    finally:
        for cluster in paused:
            cluster.local.up(timeout=300)
