"""The mass-deletion guardrail end to end: a commit that would delete most of a
Kustomization's objects is held (nothing deleted, PruneHeld with the count and kinds, a
Warning event) until `afflux reconcile ks NAME --allow-prune` allows that revision; a commit
that deletes a few objects is pruned as before."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from harness.kustomize_env import TIMEOUT, Env, configmap, dump
from harness.wait import eventually

pytestmark = pytest.mark.integration


def files(names: list[str], ns: str) -> dict[str, str | None]:
    return {"app/all.yaml": dump(*(configmap(n, namespace=ns) for n in names))}


def test_a_mass_deletion_is_held_until_allowed(env: Env) -> None:
    ns = env.namespace
    names = [f"guarded-{i:02d}" for i in range(14)]
    repo, sha = env.repo(files(names, ns))
    source = env.source(repo)
    ks = env.kustomization("guarded", source, path="./app")
    env.wait_applied(ks, sha)

    few = env.push(repo, source, files(names[2:], ns))  # 2 of 14: pruned as before
    env.wait_applied(ks, few)
    assert not env.exists("configmap", names[0]) and env.exists("configmap", names[2])

    bad = env.push(repo, source, files(names[2:3], ns))  # 11 of 12 would go: held
    revision = f"main@sha1:{bad}"

    def held() -> dict[str, Any]:
        status = env.status(ks)
        cond = env.condition(status, "PruneHeld")
        assert cond is not None and cond["status"] == "True", status.get("conditions")
        assert status.get("lastAttemptedRevision") == revision
        return cond

    cond = eventually(held, TIMEOUT, message="the prune held")
    assert cond["message"].startswith(f"prune held: revision {revision} would delete 11 of 12 "
                                      "objects (ConfigMap x11)")
    ready = env.condition(env.status(ks), "Ready")
    assert ready is not None and ready["status"] == "False" and ready["reason"] == "PruneHeld"
    assert all(env.exists("configmap", n) for n in names[2:])
    assert len(env.status(ks)["inventory"]["entries"]) == 12
    assert any(e["type"] == "Warning" and e["reason"] == "PruneHeld" for e in env.events(ks))

    cli = subprocess.run(
        [sys.executable, "-m", "afflux.cli", "reconcile", "ks", ks, "-n", ns, "--allow-prune",
         "--timeout", "2m"],
        env={**os.environ, "KUBECONFIG": str(env.cluster.kubeconfig)},
        capture_output=True, text=True, timeout=180)
    assert cli.returncode == 0, cli.stderr + cli.stdout
    status = env.wait_applied(ks, bad)
    assert env.condition(status, "PruneHeld") is None
    assert [e["id"] for e in status["inventory"]["entries"]] == [f"{ns}_{names[2]}__ConfigMap"]
    assert not any(env.exists("configmap", n) for n in names[3:])
