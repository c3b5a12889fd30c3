"""Attacks through artifact content: a decompression bomb is refused by kustomize-controller
before it fills the disk (here with a small `--artifact-max-size`, so the test stays fast),
nothing is applied or pruned, and the Kustomization recovers when the repository does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import TIMEOUT, Env, configmap, dump, make_env
from harness.wait import eventually

pytestmark = pytest.mark.integration

LIMIT = 1_000_000


def wait_refused(env: Env, ks: str, words: str) -> dict[str, Any]:
    """Until Ready=False/ArtifactFailed says `words` (not only "source not ready yet")."""

    def refused() -> dict[str, Any]:
        ready = env.condition(env.status(ks), "Ready")
        assert ready is not None and ready["status"] == "False", ready
        assert ready["reason"] == "ArtifactFailed" and words in ready["message"], ready
        return ready

    return eventually(refused, TIMEOUT, message=f"{ks} refusing its artifact: {words}")


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory,
                        f"--artifact-max-size={LIMIT}", "--artifact-max-files=50")


def test_decompression_bomb_is_refused_and_nothing_is_pruned(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"app/cm.yaml": dump(configmap("bomb-app", namespace=ns))})
    source = env.source(repo)
    ks = env.kustomization("bomb", source, path="./app")
    env.wait_applied(ks, sha)

    # 5 MB of zeros packs into a few kilobytes: within any download limit, far over the
    # unpacked one.
    env.push(repo, source, {"app/zeros.txt": "\0" * 5_000_000})
    wait_refused(env, ks, f"larger than the limit of {LIMIT} bytes")
    assert env.exists("configmap", "bomb-app"), "a refused artifact must not prune anything"

    fixed = env.push(repo, source, {"app/zeros.txt": None})
    env.wait_applied(ks, fixed)


def test_too_many_files_are_refused(env: Env) -> None:
    ns = env.namespace
    files: dict[str, str | None] = {f"many/f{i}.txt": "x" for i in range(80)}
    files["many/cm.yaml"] = dump(configmap("many", namespace=ns))
    repo, _ = env.repo(files)
    ks = env.kustomization("many", env.source(repo), path="./many")
    wait_refused(env, ks, "archive has more than 50 members")
    assert not env.exists("configmap", "many")
