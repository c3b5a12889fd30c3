"""The real node: Pods run as processes (containerd + runc), get addresses on the node's
bridge, reach the API through the `kubernetes` Service (kube-proxy) and each other by
Service name (CoreDNS); probes are real; and `down()` leaves nothing behind.

Everything waits with generous timeouts (a first image pull on a busy machine is slow);
a failure shows the Pods, the namespace's Events and the kubelet's and containerd's logs.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from harness.fixtures_realnode import RealCluster
from harness.wait import eventually

pytestmark = pytest.mark.integration

START = 240.0  # first pull and start of a Pod on a loaded machine


@pytest.fixture
def ns(real_cluster: RealCluster) -> Iterator[str]:
    name = f"t-real-{uuid.uuid4().hex[:6]}"
    real_cluster.kubectl("create", "namespace", name)
    yield name
    real_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def apply(cluster: RealCluster, ns: str, *docs: dict[str, Any]) -> None:
    cluster.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump_all(list(docs)))


def get(cluster: RealCluster, ns: str, *what: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("-n", ns, "get", *what, "-o", "json").stdout)


def podinfo(cluster: RealCluster, name: str, *, ready_path: str = "/readyz") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "podinfo",
                            "image": cluster.podinfo,
                            "command": ["./podinfo", "--port=9898", "--level=info"],
                            "ports": [{"name": "http", "containerPort": 9898}],
                            "readinessProbe": {
                                "httpGet": {"path": ready_path, "port": "http"},
                                "periodSeconds": 2,
                                "failureThreshold": 1,
                            },
                        }
                    ]
                },
            },
        },
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 9898, "targetPort": 9898}]},
    }


def job(cluster: RealCluster, name: str, *args: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "run", "image": cluster.podinfo, "command": list(args)}],
                }
            },
        },
    }


def job_condition(cluster: RealCluster, ns: str, name: str) -> str:
    """"Complete" or "Failed" once the Job has ended (else an AssertionError: not yet)."""
    status = get(cluster, ns, "job", name).get("status") or {}
    for cond in status.get("conditions") or []:
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return str(cond["type"])
    raise AssertionError(f"job {name} still running: {status}")


def http_get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_a_pod_runs_for_real_and_answers_on_its_address_and_service(
    real_cluster: RealCluster, ns: str
) -> None:
    apply(real_cluster, ns, podinfo(real_cluster, "web"), service("web"))

    def available() -> dict[str, Any]:
        dep = get(real_cluster, ns, "deployment", "web")
        assert dep["status"].get("availableReplicas") == 1, dep["status"]
        return dep

    eventually(available, START, message=f"podinfo available\n{real_cluster.diagnose(ns)}")
    (pod,) = get(real_cluster, ns, "pods", "-l", "app=web")["items"]
    assert pod["spec"]["nodeName"] == "afflux-real-0"
    ip = pod["status"]["podIP"]
    assert ip.startswith(real_cluster.node.network.subnet.rsplit(".", 2)[0])
    # podinfo itself answers, from its own address: its hostname is the Pod's name
    assert http_get(f"http://{ip}:9898/")["hostname"] == pod["metadata"]["name"]
    # and through its Service's ClusterIP (kube-proxy's rules)
    cluster_ip = get(real_cluster, ns, "service", "web")["spec"]["clusterIP"]
    eventually(lambda: http_get(f"http://{cluster_ip}:9898/healthz"), 60,
               message=f"podinfo through ClusterIP {cluster_ip}")


def test_pods_resolve_services_and_reach_the_api_through_the_kubernetes_service(
    real_cluster: RealCluster, ns: str
) -> None:
    apply(real_cluster, ns, podinfo(real_cluster, "web"), service("web"))
    checks = job(
        real_cluster,
        "client",
        "./podcli",
        "check",
        "http",
        f"http://web.{ns}.svc.cluster.local:9898/readyz",
        "--retry=60",
        "--delay=2s",
    )
    api = job(
        real_cluster,
        "api",
        "./podcli",
        "check",
        "tcp",
        "kubernetes.default.svc.cluster.local:443",
        "--retry=30",
        "--delay=2s",
    )
    apply(real_cluster, ns, checks, api)
    for name in ("client", "api"):
        got = eventually(lambda n=name: job_condition(real_cluster, ns, n), START,
                         message=f"job {name} to end\n{real_cluster.diagnose(ns)}")
        logs = real_cluster.kubectl("-n", ns, "logs", f"job/{name}", check=False)
        assert got == "Complete", f"job {name}: {got}\n{logs.stdout}{logs.stderr}"


def test_a_failing_readiness_probe_keeps_the_pod_unready(real_cluster: RealCluster, ns: str) -> None:
    apply(real_cluster, ns, podinfo(real_cluster, "sick", ready_path="/no-such-path"))

    def probed_and_failing() -> dict[str, Any]:
        (pod,) = get(real_cluster, ns, "pods", "-l", "app=sick")["items"]
        (status,) = pod["status"].get("containerStatuses") or [{}]
        assert status.get("started") is True, pod["status"]
        events = get(real_cluster, ns, "events", "--field-selector",
                     f"involvedObject.name={pod['metadata']['name']},reason=Unhealthy")
        assert any("Readiness probe failed" in e["message"] for e in events["items"]), events
        return status

    status = eventually(probed_and_failing, START,
                        message=f"a failed readiness probe\n{real_cluster.diagnose(ns)}")
    assert status["ready"] is False
    dep = get(real_cluster, ns, "deployment", "sick")
    assert not dep["status"].get("availableReplicas")


def test_a_job_that_exits_1_is_failed(real_cluster: RealCluster, ns: str) -> None:
    apply(real_cluster, ns, job(real_cluster, "fails", "./podcli", "check", "tcp", "127.0.0.1:1",
                                "--retry=1", "--delay=1s"))
    got = eventually(lambda: job_condition(real_cluster, ns, "fails"), START,
                     message=f"job fails to end\n{real_cluster.diagnose(ns)}")
    assert got == "Failed"
    (pod,) = get(real_cluster, ns, "pods", "-l", "job-name=fails")["items"]
    (status,) = pod["status"]["containerStatuses"]
    assert status["state"]["terminated"]["exitCode"] == 1


def test_down_leaves_no_process_netns_link_or_chain(real_cluster: RealCluster, ns: str) -> None:
    """Stop the whole cluster with Pods running on the node, check that nothing is left,
    then start it again for the tests that come after."""
    apply(real_cluster, ns, podinfo(real_cluster, "victim"))
    eventually(lambda: get(real_cluster, ns, "deployment", "victim")["status"].get("availableReplicas"),
               START, message=f"a running Pod before down\n{real_cluster.diagnose(ns)}")
    node = real_cluster.node
    assert node.leftovers()  # running: there is something to clean up
    pids = dict(node.state.pids)
    real_cluster.local.down(quiet=True)
    assert node.leftovers() == {}, node.leftovers()
    from afflux.cli.devenv._procs import pid_alive

    assert not [n for n, p in pids.items() if pid_alive(p)]
    # back up for whatever runs next in this session (the registry stays trusted)
    real_cluster.local.up(timeout=300)
