"""`afflux check --poll-interval`: a controller Deployment still rolling out is read again
every poll interval until it is ready or `--timeout` passes (the local cluster's kwok Pods
stay unready while annotated `afflux.dev/ready: "false"`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_harness import Run, apply

from harness.fixtures_cluster import Cluster

pytestmark = pytest.mark.integration


def deployment(ready: bool) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "source-controller"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "source-controller"}},
                     "template": {"metadata": {"labels": {"app": "source-controller"},
                                               "annotations": {
                                                   "afflux.dev/ready": str(ready).lower()}},
                                  "spec": {"containers": [{"name": "manager",
                                                           "image": "busybox"}]}}}}


def test_check_times_out_on_a_deployment_that_stays_unready(
        afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    apply(flux_crds, namespace, deployment(ready=False))
    res = afflux("check", "-n", namespace, "--components", "source-controller",
                 "--poll-interval", "500ms", "--timeout", "3s")
    assert res.code == 1
    assert "waiting for it to be ready (polling every 500ms)" in res.err
    assert "(timed out waiting for it to be ready)" in res.err
    res = afflux("check", "-n", namespace, "--poll-interval", "soon")
    assert res.code != 0


def test_check_waits_for_a_rollout_to_complete(flux_crds: Cluster, namespace: str) -> None:
    apply(flux_crds, namespace, deployment(ready=False))
    proc = subprocess.Popen(
        [sys.executable, "-m", "afflux.cli", "--kubeconfig", str(flux_crds.kubeconfig),
         "check", "-n", namespace, "--components", "source-controller",
         "--poll-interval", "1s", "--timeout", "120s"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    lines = []
    try:
        for line in proc.stderr:  # ends at the latest with the check's --timeout
            lines.append(line)
            if "waiting for it to be ready (polling every 1s)" in line:
                break
        assert lines and "polling every 1s" in lines[-1], "".join(lines)
        # the rollout completes only now, while the check polls
        flux_crds.kubectl("-n", namespace, "patch", "deployment", "source-controller",
                          "--type=merge", "-p", json.dumps(
                              {"spec": {"template": {"metadata": {"annotations": {
                                  "afflux.dev/ready": "true"}}}}}))
        rest = proc.stderr.read()
        proc.wait(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "✔ source-controller: deployment ready" in rest, "".join(lines) + rest
