"""The local cluster's Pod lifecycle (kwok Stages, `cli/devenv/_kwok_stages`): a plain Pod
runs for ever, an annotated one succeeds or fails after its delay, Jobs complete or fail
with their Pods, and a Deployment of Pods annotated not ready never becomes Available."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from harness import eventually

pytestmark = pytest.mark.integration


def _get(cluster, namespace: str, *what: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("-n", namespace, "get", *what, "-o", "json").stdout)


def _apply(cluster, namespace: str, *docs: dict[str, Any]) -> None:
    cluster.kubectl("-n", namespace, "apply", "-f", "-",
                    input="\n---\n".join(json.dumps(d) for d in docs))


def _pod(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "busybox"}]}}


def _job(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    pod = _pod(name, annotations)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0,
                     "template": {"metadata": {"annotations": annotations or {}},
                                  "spec": pod["spec"]}}}


def _phase(cluster, namespace: str, name: str) -> str:
    return _get(cluster, namespace, "pod", name).get("status", {}).get("phase", "")


def test_annotated_pods_succeed_or_fail_after_their_delay(cluster, namespace: str) -> None:
    _apply(cluster, namespace,
           _pod("plain"),
           _pod("passes", {"afflux.dev/exit": "0", "afflux.dev/delay": "3s"}),
           _pod("fails", {"afflux.dev/exit": "7"}))
    started = time.monotonic()
    eventually(lambda: _phase(cluster, namespace, "fails") == "Failed", 60,
               message="the Pod annotated exit 7 to fail")
    eventually(lambda: _phase(cluster, namespace, "passes") == "Succeeded", 60,
               message="the Pod annotated exit 0 to succeed")
    assert time.monotonic() - started >= 3  # it ran for its delay first
    failed = _get(cluster, namespace, "pod", "fails")["status"]["containerStatuses"][0]
    assert failed["state"]["terminated"]["exitCode"] == 7
    assert failed["state"]["terminated"]["reason"] == "Error"
    passed = _get(cluster, namespace, "pod", "passes")["status"]["containerStatuses"][0]
    assert passed["state"]["terminated"]["exitCode"] == 0
    # a Pod without the annotation keeps running, Ready
    plain = _get(cluster, namespace, "pod", "plain")["status"]
    assert plain["phase"] == "Running"
    assert {c["type"]: c["status"] for c in plain["conditions"]}["Ready"] == "True"


def test_jobs_complete_or_fail_with_their_pods(cluster, namespace: str) -> None:
    _apply(cluster, namespace, _job("plain"), _job("passes", {"afflux.dev/exit": "0"}),
           _job("fails", {"afflux.dev/exit": "1", "afflux.dev/delay": "1s"}))

    def job_condition(name: str) -> str | None:
        conds = _get(cluster, namespace, "job", name).get("status", {}).get("conditions", [])
        done = [c["type"] for c in conds
                if c["type"] in ("Complete", "Failed") and c["status"] == "True"]
        return done[0] if done else None

    for name, want in (("plain", "Complete"), ("passes", "Complete"), ("fails", "Failed")):
        eventually(lambda n=name, w=want: job_condition(n) == w, 90,
                   message=f"Job {name} {want}")


def test_a_deployment_of_unready_pods_never_becomes_available(cluster, namespace: str) -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "stuck"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "stuck"}},
                           "template": {"metadata": {"labels": {"app": "stuck"},
                                                     "annotations": {"afflux.dev/ready": "false"}},
                                        "spec": {"containers": [{"name": "main",
                                                                 "image": "busybox"}]}}}}
    _apply(cluster, namespace, deployment)

    def running_unready() -> bool:
        [pod] = _get(cluster, namespace, "pods", "-l", "app=stuck")["items"]
        conds = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        return pod["status"].get("phase") == "Running" and conds.get("Ready") == "False"

    eventually(running_unready, 60, message="the Pod running and not Ready")
    status = _get(cluster, namespace, "deployment", "stuck")["status"]
    assert not status.get("availableReplicas")
    assert not status.get("readyReplicas")
