"""`make demo` end to end, then `afflux dev up` again (idempotent), `dev status`, and `dev
down` leaving no process behind. The environment lives in a state directory of its own
(its own cluster, Git server, registry and operators), so the shared test cluster is never
touched. It takes a few minutes: one test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from afflux.cli.devenv import TARGETS_FILE
from afflux.cli.devenv._env import OPERATOR_MODULES, DevEnvironment
from afflux.cli.devenv._procs import pid_alive
from harness.fixtures_cluster import REPO
from harness.processes import processes_mentioning

pytestmark = pytest.mark.integration


def afflux(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "afflux.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_make_demo_then_dev_up_is_idempotent_and_down_leaves_nothing(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    env = {**os.environ, "AFFLUX_DEV_DIR": str(state), "KEEP": "1", "NO_COLOR": "1"}
    env.pop("KUBECONFIG", None)
    try:
        demo = subprocess.run(["make", "demo"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=1200)
        output = demo.stdout + demo.stderr
        assert demo.returncode == 0, output[-6000:]
        for line in ("==> Drift: scaling the Deployment by hand to 5 replicas",
                     "spec.replicas is 2 again",
                     "ConfigMap podinfo/podinfo-ui now says: Hello from the dev cluster, changed",
                     "Deployment podinfo/podinfo runs ghcr.io/afflux/podinfo:6.0.1",
                     "✔ all checks passed", "==> Demo finished in"):
            assert line in output, output[-6000:]

        dev = DevEnvironment(state, log=lambda _: None)
        pids = sorted(dev.pids())
        # the launcher and its six operators; the Git server, the registry and the chart
        # repository; the cluster
        assert len(pids) == 1 + 6 + 3 + 5
        again = afflux("dev", "up", "--state-dir", str(state), env=env)
        assert again.returncode == 0, again.stderr
        assert again.stderr.count("(already running)") == 1 + 3 + 1 + 6, again.stderr
        assert sorted(dev.pids()) == pids
        assert "export KUBECONFIG=" in again.stdout
        status = afflux("dev", "status", "--state-dir", str(state), env=env)
        assert status.returncode == 0, status.stderr
        assert "✗" not in status.stderr
        assert (state / "logs" / "source-controller.log").stat().st_size > 0
        # KEEP=1 ends with how to open the UI and scrape the operators; the scrape targets
        # file names each operator's metrics port, and each answers with Flux's series
        assert "then open http://127.0.0.1:9080/" in output, output[-3000:]
        assert "Metrics: `make prometheus` (prometheus --config.file=config/monitoring/" in output
        groups = json.loads((state / TARGETS_FILE).read_text())
        assert sorted(g["labels"]["app"] for g in groups) == sorted(OPERATOR_MODULES)
        for group in groups:
            [target] = group["targets"]
            with urllib.request.urlopen(f"http://{target}/metrics", timeout=10) as resp:
                text = resp.read().decode()
            assert "# TYPE gotk_resource_info gauge" in text, group
            assert "controller_runtime_max_concurrent_reconciles{" in text, group
        kustomize = next(g for g in groups if g["labels"]["app"] == "kustomize-controller")
        with urllib.request.urlopen(f"http://{kustomize['targets'][0]}/metrics",
                                    timeout=10) as resp:
            assert 'customresource_kind="Kustomization"' in resp.read().decode()
    finally:
        down = afflux("dev", "down", "--state-dir", str(state), env=env)
    assert down.returncode == 0, down.stderr
    assert "✔ dev environment stopped" in down.stderr
    assert not [p for p in pids if pid_alive(p)]
    assert processes_mentioning(str(state)) == []
    status = afflux("dev", "status", "--state-dir", str(state), env=env)
    assert status.returncode == 1
