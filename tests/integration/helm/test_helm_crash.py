"""helm-controller killed with SIGKILL in the middle of `helm install` (and its helm with it,
as when a Pod dies): the release is left locked in pending-install; the restarted
controller unlocks it and installs it again.

The release asks for `waitStrategy: legacy` so that helm itself waits (Helm 4's
`--wait=legacy`) and holds the release pending-install meanwhile; with Helm 4's default,
the poller, helm returns at once and afflux polls, so there would be no helm to kill."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from helm_env import TIMEOUT, HelmEnv, release

from harness.wait import eventually

pytestmark = pytest.mark.integration
ENV_LABEL = "helmcrash"


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the controller's helm)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def record_status(env: HelmEnv, name: str) -> str | None:
    secrets = env.source.core.list_namespaced_secret(
        env.namespace, label_selector=f"owner=helm,name={name}").items
    latest = max(secrets, key=lambda s: int(s.metadata.labels["version"]), default=None)
    return latest.metadata.labels["status"] if latest else None


def test_a_release_locked_by_a_killed_controller_is_unlocked_after_restart(
        env: HelmEnv, repo: str) -> None:
    # helm waits (up to 2 minutes) for a Deployment that never becomes ready
    name = release(env, repo, {"deployment": {"ready": "false"}}, timeout="2m",
                   waitStrategy={"name": "legacy"})
    eventually(lambda: record_status(env, name) == "pending-install", TIMEOUT,
               message="helm install under way")
    helms = children(env.controller.proc.pid)
    assert helms, "no helm process under the controller"
    env.controller.kill()
    for pid in helms:  # the Pod's other processes die with it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert record_status(env, name) == "pending-install"
    assert env.helm_history(name)[-1]["status"] == "pending-install"

    # fixed while the controller is down; then it comes back
    env.patch_spec(name, {"values": {"deployment": {"ready": "true"}}})
    env.controller.restart()
    obj = env.ready(name, "UpgradeSucceeded")
    history = env.helm_history(name)
    assert [r["status"] for r in history] == ["superseded", "deployed"], history
    assert history[0]["description"] == "Release unlocked from stale 'pending-install' state"
    assert obj["status"]["history"][0]["version"] == 2
    env.delete(name)
