"""Attacks on helm-controller through `spec.kubeConfig` (part of the attack suite; see
docs/security.md): a kubeconfig Secret whose user runs a program, or that names a file of the
controller's, is refused with Stalled/KubeConfigRefused, the program never runs, and the
file's content never shows up."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from source_env import SourceEnv, obj_name, start_source_env
from test_helmrelease import HelmEnv, chart_spec, helm_repository, packages  # noqa: F401

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, helm_tool: HelmTool,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmEnv]:
    for source in start_source_env(cluster, start_controller, tmp_path_factory, "helmatk"):
        controller = start_controller("helm", "--watch-all-namespaces=false",
                                      f"--namespace={source.namespace}")
        yield HelmEnv(source, helm_tool, controller)


def _kubeconfig(user: dict[str, Any]) -> bytes:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }).encode()


@pytest.mark.flux_fields("HelmRelease", "spec.kubeConfig.secretRef.name")
def test_kubeconfig_exec_and_files_are_refused(
        env: HelmEnv, helm_repo_server: ChartRepoServer, packages: dict[str, Path],  # noqa: F811
        tmp_path: Path) -> None:
    repo = helm_repository(env, helm_repo_server, [packages["app-1.0.0"]])
    marker = tmp_path / "exec-ran"
    canary = f"canary-{uuid.uuid4().hex}"
    victim = tmp_path / "victim-token"
    victim.write_text(canary)
    cases = {
        "exec": ({"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                           "command": "/bin/sh", "args": ["-c", f"touch {marker}"]}},
                 "'users[0].user.exec' is refused", "--insecure-kubeconfig-exec"),
        "token-file": ({"tokenFile": str(victim)}, "'users[0].user.tokenFile' is refused",
                       "names a file"),
    }
    names = {}
    for case, (user, _, _) in cases.items():
        secret = obj_name(f"kc-{case}")
        env.source.secret(secret, {"value": _kubeconfig(user)})
        names[case] = env.create(obj_name(f"hr-{case}"), {
            **chart_spec(repo, "1.0.0"), "kubeConfig": {"secretRef": {"name": secret}}})
    for case, (_, refused, hint) in cases.items():
        obj = env.failing(names[case], "KubeConfigRefused", stalled=True)
        message = SourceEnv.condition(obj, "Ready")["message"]
        assert refused in message and hint in message, message
        assert canary not in json.dumps(obj.get("status"))
    assert not marker.exists(), "the exec plugin ran on the controller's host"
    assert canary not in env.controller.log_text(100_000)
    assert str(victim) not in env.controller.log_text(100_000)
    assert env.helm_list() == []
