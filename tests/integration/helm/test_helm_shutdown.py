"""helm-controller's `--graceful-shutdown-timeout` (Flux's): on SIGTERM the helm actions in
progress are cancelled the way Flux's cancelled context cancels them (helm records the
release `failed`, not `pending-*`), the runs in progress get up to the timeout to end, and
the process then exits. The real helm-controller runs as a process (its helm in a session
of its own, as in a Pod where SIGTERM reaches only the controller) against the real API
server; a Deployment that never becomes ready keeps the action in progress.

- helm waits (`waitStrategy: legacy`, as `test_helm_crash`): SIGTERM cancels helm, the
  release ends `failed` and the controller exits long before the timeout;
- afflux waits (Helm 4's default poller: helm has returned, afflux polls the objects):
  nothing to cancel in helm, the run goes on until the timeout, then the controller exits;
- `--feature-gates=OOMWatch=true`: the memory usage reaching the threshold stops it as
  SIGTERM does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helm_env import TIMEOUT, HelmEnv, cond, life_repository, release, start_helm_env
from test_helm_crash import children, record_status

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.wait import eventually

pytestmark = pytest.mark.integration

GRACE = 20.0  # --graceful-shutdown-timeout
#: what stopping takes besides the runs: kopf's and the servers' own shutdown
MARGIN = 15.0


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, helm_tool: HelmTool,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmEnv]:
    yield from start_helm_env(cluster, start_controller, helm_tool, tmp_path_factory,
                              "helmstop", f"--graceful-shutdown-timeout={GRACE:g}s")


@pytest.fixture(scope="module")
def repo(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
         tmp_path_factory: pytest.TempPathFactory) -> str:
    return life_repository(env, helm_tool, helm_repo_server, tmp_path_factory)


def _sigterm_and_time_the_exit(env: HelmEnv) -> float:
    proc = env.controller.proc
    started = time.monotonic()
    env.controller.daemon.terminate()  # SIGTERM to the controller's process group
    proc.wait(timeout=GRACE + MARGIN + 30)
    return time.monotonic() - started


def test_sigterm_cancels_helm_and_leaves_the_release_failed_not_pending(
        env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"deployment": {"ready": "false"}}, timeout="2m",
                   waitStrategy={"name": "legacy"})
    eventually(lambda: record_status(env, name) == "pending-install", TIMEOUT,
               message="helm install under way")
    assert children(env.controller.proc.pid), "no helm process under the controller"
    took = _sigterm_and_time_the_exit(env)
    assert env.controller.proc.returncode == 0, env.controller.log_text()
    assert took < GRACE, f"exited after {took:.1f}s: helm was not cancelled"
    assert record_status(env, name) == "failed"
    assert env.helm_history(name)[-1]["status"] == "failed"
    assert "cancelled 1 helm action" in env.controller.log_text(200)
    env.controller.restart()  # for the next test, and to delete the release
    env.delete(name)


def test_a_run_that_outlasts_the_timeout_is_cut_there(env: HelmEnv, repo: str) -> None:
    if not env.controller.alive():
        env.controller.restart()
    name = release(env, repo, {"deployment": {"ready": "false"}}, timeout="2m")

    def polling() -> bool:  # helm has made the release and returned: afflux polls (2m)
        assert record_status(env, name) is not None
        assert not children(env.controller.proc.pid)
        return True

    eventually(polling, TIMEOUT, message="afflux waiting for the release's objects")
    took = _sigterm_and_time_the_exit(env)
    assert env.controller.proc.returncode == 0, env.controller.log_text()
    assert GRACE <= took < GRACE + MARGIN, f"exited after {took:.1f}s"
    assert not (record_status(env, name) or "").startswith("pending-")
    assert cond(env.get(name), "Ready")["status"] != "True"  # the poll was cut, not done
    env.controller.restart()
    env.delete(name)


def test_the_oom_watch_cancels_helm_and_stops_the_controller(env: HelmEnv, repo: str,
                                                            tmp_path: Path) -> None:
    """`--feature-gates=OOMWatch=true` with the two path flags on files of a temporary
    directory: the usage reaching the threshold stops the controller as SIGTERM does (helm
    cancelled, the release failed, not pending-install)."""
    limit, usage = tmp_path / "memory.max", tmp_path / "memory.current"
    limit.write_text("1000000\n")
    usage.write_text("100000\n")  # 10 %
    argv = list(env.controller.daemon.argv)
    env.controller.kill()
    env.controller.daemon.argv = [*argv, "--feature-gates=OOMWatch=true",
                                  f"--oom-watch-max-memory-path={limit}",
                                  f"--oom-watch-current-memory-path={usage}",
                                  "--oom-watch-memory-threshold=90",
                                  "--oom-watch-interval=100ms"]
    try:
        env.controller.restart()
        name = release(env, repo, {"deployment": {"ready": "false"}}, timeout="2m",
                       waitStrategy={"name": "legacy"})
        eventually(lambda: record_status(env, name) == "pending-install", TIMEOUT,
                   message="helm install under way")
        assert env.controller.alive()  # 10 % is below the threshold
        started = time.monotonic()
        usage.write_text("950000\n")  # 95 %
        env.controller.proc.wait(timeout=GRACE + MARGIN + 30)
        took = time.monotonic() - started
        assert env.controller.proc.returncode == 0, env.controller.log_text()
        assert took < GRACE, f"exited after {took:.1f}s"
        assert record_status(env, name) == "failed"
        log = env.controller.log_text(200)
        assert "memory usage is near OOM (950000/1000000 bytes, threshold 90%)" in log
        assert "cancelled 1 helm action" in log
    finally:
        env.controller.kill()
        env.controller.daemon.argv = argv
        env.controller.restart()
    env.delete(name)
