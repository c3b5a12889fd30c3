"""The fault suite's own cluster: faults here stop and kill parts of a control plane, so
they get a local cluster of their own (etcd, kube-apiserver, no nodes), never the shared one,
and operators started against it with leader election on (as in every real install), with
short leases so that an outage costs the leadership and the test sees it taken back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli.devenv import LocalCluster
from harness.fixtures_cluster import Cluster
from harness.fixtures_controllers import ControllerProcess, apply_crds, controller_factory

LEADER_ELECTION = ("--enable-leader-election", "--leader-election-lease-duration=6s",
                   "--leader-election-renew-deadline=4s", "--leader-election-retry-period=1s")


@pytest.fixture(scope="module")
def fault_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(tmp_path_factory.mktemp("fault-cluster"), nodes=0, log=lambda *_: None)
    local.up()
    try:
        apply_crds(Cluster(local.kubeconfig))
        yield local
    finally:
        local.down(quiet=True)


@pytest.fixture(scope="module")
def fault_start(fault_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Any]:
    """`start(name, *args)` for operators against the fault cluster (stopped at the end)."""
    start, started = controller_factory(fault_cluster.kubeconfig,
                                        tmp_path_factory.mktemp("fault-controller-logs"))
    yield start
    for proc in reversed(started):
        proc.stop()


def assert_alive(*controllers: ControllerProcess) -> None:
    for controller in controllers:
        assert controller.alive(), (f"{controller.name} exited with "
                                    f"{controller.proc.returncode}:\n{controller.log_text()}")
