"""kustomize-controller killed with SIGKILL in the middle of an apply and of a prune (no
clean-up runs): after a restart everything is applied, exactly what left Git is pruned,
nothing else is touched, and the killed process's artifact cache is removed from the temp
dir at the next start."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import Env, configmap, dump, make_env
from harness.wait import eventually

pytestmark = pytest.mark.integration

N = 400
KEEP = 50
NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"


@pytest.fixture(scope="module")
def tmpdir_of_controller(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kustomize-tmp")


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory, tmpdir_of_controller: Path) -> Iterator[Env]:
    # The prune below deletes most of the inventory on purpose: the mass-deletion guard
    # (tested in kustomize/test_kustomization_guard.py) is off here.
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory,
                        "--prune-guard-ratio=1",
                        kustomize_env={"TMPDIR": str(tmpdir_of_controller)})


def managed(env: Env, ks: str) -> int:
    out = env.kubectl("get", "configmaps", "-l", f"{NAME_LABEL}={ks}", "-o", "name").stdout
    return len(out.split())


def cache_dirs_of(pid: int) -> list[Path]:
    """The artifact cache directories whose owner lock the process holds."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.endswith("/.owner") and "afflux-artifacts-" in target:
            found.append(Path(target).parent)
    return found


def manifests(count: int) -> str:
    return dump(*(configmap(f"cm-{i:04d}") for i in range(count)))


def test_kill_mid_apply_then_mid_prune(env: Env, tmpdir_of_controller: Path) -> None:
    controller = env.kustomize_controller
    env.apply(configmap("bystander", {"owner": "nobody"}))  # not in any inventory
    repo, sha = env.repo({"all.yaml": manifests(N)})
    source = env.source(repo)
    ks = env.kustomization("killed", source, targetNamespace=env.namespace)

    # Mid-apply: some objects exist, not all.
    eventually(lambda: 0 < managed(env, ks) < N, 60, interval=0.05,
               message="the apply under way")
    caches = cache_dirs_of(controller.proc.pid)
    assert caches, "the controller holds an artifact cache"
    controller.kill()
    partial = managed(env, ks)
    assert partial < N, "the apply finished before the kill: raise N"
    assert all(c.exists() for c in caches)  # kill -9 ran no clean-up

    controller.restart()
    status = env.wait_applied(ks, sha, timeout=120)
    assert len(status["inventory"]["entries"]) == N and managed(env, ks) == N
    assert not any(c.exists() for c in caches), "the killed process's cache was left behind"

    # Mid-prune: some of the N - KEEP objects are gone, not all.
    pruned_sha = env.push(repo, source, {"all.yaml": manifests(KEEP)})
    eventually(lambda: KEEP < managed(env, ks) < N, 60, interval=0.05,
               message="the prune under way")
    controller.kill()
    assert managed(env, ks) > KEEP, "the prune finished before the kill: raise N"

    controller.restart()
    status = env.wait_applied(ks, pruned_sha, timeout=120)
    ids = {e["id"] for e in status["inventory"]["entries"]}
    assert ids == {f"{env.namespace}_cm-{i:04d}__ConfigMap" for i in range(KEEP)}
    assert managed(env, ks) == KEEP
    bystander = json.loads(env.kubectl("get", "configmap", "bystander", "-o", "json").stdout)
    assert bystander["data"] == {"owner": "nobody"}
