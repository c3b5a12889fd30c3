"""`afflux dev up --real-node` on its own, then `afflux dev down`.

With the flag the dev environment gets the real node: the Git server, the registry and the
chart repository listen on the node's address (Pods reach it), the afflux image of this
checkout is built and pushed to the dev registry, and no operator runs locally (`up` prints
the `bootstrap --registry` command that runs them in the cluster). A Deployment of that
image serves HTTP from a real Pod (this machine reaches it on the Pod's address and its
Service's), and a Job's Pod fetches the chart repository's index and the registry's API.
`afflux dev down` (without the flag, as users type it) then leaves no process, mount
(network namespaces among them), link, iptables chain or cgroup.

The environment lives in a state directory of its own; the session's real cluster, if
one runs, is stopped for the test (one real node per machine) and started again after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from typing import Any

import pytest
import yaml

from afflux.cli.devenv._afflux_image import IMAGE_NAME, version
from afflux.cli.devenv._env import DevEnvironment
from afflux.cli.devenv._images import manifest_of
from afflux.cli.devenv._procs import pid_alive
from afflux.cli.devenv._realnode import RealNode
from harness.fixtures_cluster import REPO
from harness.processes import processes_mentioning
from harness.wait import eventually

pytestmark = pytest.mark.integration

START = 300.0  # a first pull of the afflux image and its start on a loaded machine


def afflux(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "afflux.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def kubectl(dev: DevEnvironment, *args: str, input: str | None = None) -> str:
    return dev.kubectl(*args, input=input)


def workload(image: str, charts_url: str, registry: str) -> list[dict[str, Any]]:
    labels = {"app": "web"}
    fetch = ("import ssl, urllib.error, urllib.request as u\n"
             f"u.urlopen({charts_url + '/index.yaml'!r}, timeout=10).read()\n"
             "ctx = ssl.create_default_context(); ctx.check_hostname = False\n"
             "ctx.verify_mode = ssl.CERT_NONE\n"
             "try:\n"
             f"    u.urlopen('https://{registry}/v2/', timeout=10, context=ctx)\n"
             "except urllib.error.HTTPError as err:\n"
             "    assert err.code == 401, err  # the registry answers: it wants a login\n"
             "print('reached the chart repository and the registry')\n")
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev-real"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "web", "namespace": "dev-real"},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "terminationGracePeriodSeconds": 2,
                      "containers": [{
                          "name": "web", "image": image,
                          "command": ["python", "-m", "http.server", "8080",
                                      "--directory", "/opt/afflux/app"],
                          "readinessProbe": {"httpGet": {"path": "/", "port": 8080}}}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "web", "namespace": "dev-real"},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "batch/v1", "kind": "Job",
         "metadata": {"name": "reach", "namespace": "dev-real"},
         "spec": {"backoffLimit": 0, "template": {"spec": {
             "restartPolicy": "Never",
             "containers": [{"name": "reach", "image": image,
                             "command": ["python", "-c", fetch]}]}}}},
    ]


def wait_for(check: Any, timeout: float, what: str, diagnose: Any) -> Any:
    """`eventually`, with the namespace's Pods and Events and the kubelet's log on failure."""
    try:
        return eventually(check, timeout, message=what)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{diagnose()}") from None


def http_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return int(resp.status)


def test_dev_up_real_node_serves_from_real_pods_and_dev_down_leaves_nothing(
        tmp_path_factory: pytest.TempPathFactory, real_node_free: None) -> None:
    # short: the kubelet's unix sockets live under it (at most 107 bytes a path)
    state = tmp_path_factory.mktemp("devreal") / "dev"
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("KUBECONFIG", None)
    dev = DevEnvironment(state, log=lambda _: None)
    node = RealNode(state / "cluster")
    pids: list[int] = []
    try:
        up = afflux("dev", "up", "--state-dir", str(state), "--real-node", env=env, timeout=1800)
        assert up.returncode == 0, (up.stdout + up.stderr)[-6000:]
        info = dev.info()
        node = RealNode(state / "cluster")
        pids = [*dev.pids(), *node.state.pids.values()]
        address = node.address

        # the servers on the node's address; no operator runs locally; the image is pushed
        assert info.registry.startswith(f"{address}:")
        assert info.git_https.startswith(f"https://{address}:")
        assert info.charts_url.startswith(f"http://{address}:")
        assert f"bootstrap git --registry {info.registry}/afflux " in up.stdout
        assert not dev.load().get("operators")
        assert not [p for p in processes_mentioning("afflux.controllers.") if str(state) in p]
        image = f"{info.registry}/{IMAGE_NAME}:v{version()}"
        assert manifest_of(image, ca_file=info.ca_file, username=info.registry_username,
                           password=info.registry_password)["layers"]

        # something served by a real Pod, and a Pod that reaches the dev servers
        kubectl(dev, "apply", "-f", "-",
                input=yaml.safe_dump_all(workload(image, info.charts_url, info.registry)))

        def diagnose() -> str:
            return (kubectl(dev, "-n", "dev-real", "get", "pods,events", "-o", "wide")
                    + node.log_tail("kubelet", 20))

        def served() -> int:
            pod = json.loads(kubectl(dev, "-n", "dev-real", "get", "pods", "-l", "app=web",
                                     "-o", "json"))["items"][0]
            assert pod["spec"]["nodeName"] == "afflux-real-0"
            assert [c["ready"] for c in pod["status"]["containerStatuses"]] == [True]
            return http_status(f"http://{pod['status']['podIP']}:8080/")

        assert wait_for(served, START, "the web Pod serving", diagnose) == 200
        ip = kubectl(dev, "-n", "dev-real", "get", "service", "web", "-o",
                     "jsonpath={.spec.clusterIP}")
        assert eventually(lambda: http_status(f"http://{ip}:80/"), 60,
                          message="the web Service's cluster IP") == 200

        def job_done() -> dict[str, Any]:
            job = json.loads(kubectl(dev, "-n", "dev-real", "get", "job", "reach", "-o", "json"))
            conds = {c["type"]: c["status"] for c in job["status"].get("conditions") or []}
            assert conds.get("Complete") == "True" or conds.get("Failed") == "True", conds
            return conds

        conds = wait_for(job_done, START, "the Job reach to end", diagnose)
        logs = kubectl(dev, "-n", "dev-real", "logs", "job/reach")
        assert conds.get("Complete") == "True", logs
        assert "reached the chart repository and the registry" in logs
        assert node.leftovers()  # running: there is something to clean up
    finally:
        down = afflux("dev", "down", "--state-dir", str(state), env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "✔ dev environment stopped" in down.stderr
    assert pids and not [p for p in pids if pid_alive(p)]
    assert processes_mentioning(str(state)) == []
    assert RealNode(state / "cluster").leftovers() == {}
