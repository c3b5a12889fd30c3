"""Faults of the control plane, with leader election on: kube-apiserver stopped (and
restarted) for longer than the renew deadline, and etcd stopped and restarted. The operators
must live through both, take the leadership back, and apply the next commit; nothing
applied may be lost or pruned on the way.

A single `time.sleep` holds each outage for its length: it is the fault, not a wait.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import LEADER_ELECTION, assert_alive

from afflux.cli.devenv import GitHTTPServer, LocalCluster
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import Env, configmap, dump, make_env

pytestmark = pytest.mark.integration

OUTAGE = 15.0  # > the renew deadline (4 s) and the lease (6 s): the leadership is lost
RECOVERY = 90.0


@pytest.fixture(scope="module")
def env(fault_cluster: LocalCluster, fault_start: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from make_env(Cluster(fault_cluster.kubeconfig), fault_start, git_server,
                        tmp_path_factory, common_args=LEADER_ELECTION)


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_operators_survive_an_outage_and_apply_the_next_commit(
        env: Env, fault_cluster: LocalCluster, component: str) -> None:
    ns = env.namespace
    controllers = (env.source_controller, env.kustomize_controller)
    repo, sha = env.repo({"cm.yaml": dump(configmap(f"before-{component}", namespace=ns))})
    source = env.source(repo)
    ks = env.kustomization(f"outage-{component}", source)
    env.wait_applied(ks, sha, timeout=RECOVERY)

    fault_cluster.stop_component(component)
    try:
        time.sleep(OUTAGE)
        assert_alive(*controllers)
        # Alive and retrying is healthy: a restart would not bring the API server back.
        assert [c.probe("/healthz") for c in controllers] == [200, 200]
    finally:
        fault_cluster.start_component(component)

    after = env.push(repo, source, {"next.yaml": dump(configmap(f"after-{component}",
                                                                namespace=ns))})
    env.wait_applied(ks, after, timeout=RECOVERY)
    assert env.exists("configmap", f"before-{component}")  # nothing lost on the way
    assert env.exists("configmap", f"after-{component}")
    assert_alive(*controllers)
    if component == "kube-apiserver":
        for controller in controllers:
            log = controller.log_text(100_000)
            assert "leader election: cannot reach the Lease" in log, controller.name
            assert "lost the leadership" in log, controller.name
