"""Health on the real node, as the operators see it: a Kustomization's health check
watches a real readiness probe. A Deployment whose probe fails stays unhealthy until the
timeout (HealthCheckFailed), one whose probe passes turns the Kustomization Ready, and a
Job whose container exits 1 is Failed.

source-controller and kustomize-controller run as local processes against the real-node
cluster (the in-cluster operators have their own test, `test_in_cluster`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_controllers import apply_crds, controller_factory
from harness.fixtures_realnode import RealCluster
from harness.kustomize_env import KS, Env, dump, make_env
from harness.wait import eventually

pytestmark = pytest.mark.integration

START = 240.0


@pytest.fixture(scope="module")
def env(real_cluster: RealCluster, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    apply_crds(real_cluster)
    start, started = controller_factory(real_cluster.kubeconfig,
                                        tmp_path_factory.mktemp("real-controller-logs"))
    try:
        yield from make_env(real_cluster, start, git_server, tmp_path_factory)
    finally:
        for proc in reversed(started):
            proc.stop()


def podinfo(cluster: RealCluster, name: str, namespace: str, ready_path: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                         "name": "podinfo", "image": cluster.podinfo,
                         "command": ["./podinfo", "--port=9898"],
                         "ports": [{"name": "http", "containerPort": 9898}],
                         "readinessProbe": {"httpGet": {"path": ready_path, "port": "http"},
                                            "periodSeconds": 2}}]}}}}


def failing_job(cluster: RealCluster, name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "run", "image": cluster.podinfo,
                                "command": ["./podcli", "check", "tcp", "127.0.0.1:1"]}]}}}}


def test_a_failing_readiness_probe_fails_the_health_check_at_the_timeout(
        env: Env, real_cluster: RealCluster) -> None:
    ns = env.namespace
    repo, sha = env.repo({"app.yaml": dump(podinfo(real_cluster, "sick", ns, "/no-such-path"))})
    ks = env.kustomization("sick", env.source(repo), timeout="60s", wait=True)
    ready = env.wait_failed(ks, "HealthCheckFailed", timeout=START)
    assert f"Deployment/{ns}/sick status: 'InProgress'" in ready["message"], ready
    status = env.status(ks)
    assert status["lastAttemptedRevision"] == f"main@sha1:{sha}"
    assert "lastAppliedRevision" not in status
    # the Pod did run: its container started and its readiness probe answered 404
    pods = env.kubectl("get", "pods", "-l", "app=sick", "-o",
                       "jsonpath={.items[0].status.containerStatuses[0].started}").stdout
    assert pods == "true", real_cluster.diagnose(ns)


def test_a_passing_readiness_probe_turns_the_kustomization_ready(
        env: Env, real_cluster: RealCluster) -> None:
    ns = env.namespace
    repo, sha = env.repo({"app.yaml": dump(podinfo(real_cluster, "well", ns, "/readyz"))})
    ks = env.kustomization("well", env.source(repo), timeout="3m", wait=True)
    status = env.wait_applied(ks, sha, timeout=START)
    healthy = env.condition(status, "Healthy")
    assert healthy is not None and healthy["status"] == "True", status
    dep = env.get("deployment", "well")
    assert dep is not None and dep["status"].get("readyReplicas") == 1


def test_a_job_that_exits_1_fails_the_health_check(env: Env, real_cluster: RealCluster) -> None:
    """kstatus (Flux's, and ours) counts a Job that runs as Current, so the first health
    check may pass while the container still runs; once it has exited 1 the Job is Failed
    and the next reconcile's health check says so."""
    ns = env.namespace
    repo, _sha = env.repo({"job.yaml": dump(failing_job(real_cluster, "exits", ns))})
    ks = env.kustomization("job", env.source(repo), timeout="30s", wait=True)

    def job_failed() -> dict[str, Any]:
        job = env.get("job", "exits")
        assert job is not None
        failed = [c for c in job["status"].get("conditions") or [] if c["type"] == "Failed"]
        assert failed and failed[0]["status"] == "True", job["status"]
        return job

    eventually(job_failed, START, message=f"the Job to fail\n{real_cluster.diagnose(ns)}")
    exit_code = env.kubectl("get", "pods", "-l", "job-name=exits", "-o", "jsonpath="
                            "{.items[0].status.containerStatuses[0].state.terminated.exitCode}")
    assert exit_code.stdout == "1"
    env.kubectl("annotate", "--overwrite", KS, ks, f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")

    def reported_failed() -> dict[str, Any]:
        ready = env.condition(env.status(ks), "Ready")
        assert ready is not None and ready["reason"] == "HealthCheckFailed", ready
        assert f"Job/{ns}/exits status: 'Failed'" in ready["message"], ready
        return ready

    eventually(reported_failed, START, message="HealthCheckFailed naming the failed Job")
