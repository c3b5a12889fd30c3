"""Attacks through `spec.kubeConfig`: a tenant's kubeconfig Secret must not run a program on
the controller's host, read the controller's files, or turn off TLS, and what it names must
never come back in a status, an Event or the log.

Against a real kustomize-controller process (default flags) and the real cluster.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import Env, configmap, dump, make_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory)


def _kubeconfig(user: dict[str, Any], cluster: dict[str, Any] | None = None) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1",
                                               **(cluster or {})}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    })


def _secret(env: Env, name: str, kubeconfig: str) -> None:
    env.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
               "data": {"value": base64.b64encode(kubeconfig.encode()).decode()}})


def _wait_stalled(env: Env, name: str) -> dict[str, Any]:
    ready = env.wait_failed(name, "KubeConfigRefused")
    stalled = env.condition(env.status(name), "Stalled")
    assert stalled is not None and stalled["status"] == "True", stalled
    return ready


def _everything_said(env: Env, name: str) -> str:
    return json.dumps(env.status(name)) + json.dumps(
        [e.get("message") for e in env.events(name)]) + env.kustomize_controller.log_text(5000)


def test_exec_plugin_is_refused_and_never_run(env: Env, tmp_path: Path) -> None:
    marker = tmp_path / "exec-ran"
    _secret(env, "kc-exec", _kubeconfig({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh",
        "args": ["-c", f"touch {marker}; echo '{{}}'"]}}))
    repo, _ = env.repo({"cm.yaml": dump(configmap("never", namespace=env.namespace))})
    ks = env.kustomization("kc-exec", env.source(repo), kubeConfig={"secretRef": {"name": "kc-exec"}})
    ready = _wait_stalled(env, ks)
    assert "'users[0].user.exec' is refused" in ready["message"]
    assert "--insecure-kubeconfig-exec" in ready["message"]
    assert not marker.exists(), "the exec plugin ran on the controller's host"
    assert not env.exists("configmap", "never")


@pytest.mark.parametrize(("section", "key"), [
    ("user", "tokenFile"), ("user", "client-certificate"), ("user", "client-key"),
    ("cluster", "certificate-authority")])
def test_file_paths_are_refused_and_their_content_never_shown(env: Env, tmp_path: Path,
                                                               section: str, key: str) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    victim = tmp_path / "victim"
    victim.write_text(f"{canary}\n")
    user: dict[str, Any] = {"token": "inline"}
    cluster: dict[str, Any] = {}
    (user if section == "user" else cluster)[key] = str(victim)
    name = f"kc-{key.lower()}"
    _secret(env, name, _kubeconfig(user, cluster))
    repo, _ = env.repo({"cm.yaml": dump(configmap(name, namespace=env.namespace))})
    ks = env.kustomization(name, env.source(repo), kubeConfig={"secretRef": {"name": name}})
    ready = _wait_stalled(env, ks)
    prefix = "users[0].user" if section == "user" else "clusters[0].cluster"
    assert f"'{prefix}.{key}' is refused: it names a file" in ready["message"]
    assert canary not in _everything_said(env, ks)
    assert str(victim) not in ready["message"]
    assert not env.exists("configmap", name)


def test_insecure_tls_is_refused_without_the_flag(env: Env) -> None:
    _secret(env, "kc-tls", _kubeconfig({"token": "t"}, {"insecure-skip-tls-verify": True}))
    repo, _ = env.repo({"cm.yaml": dump(configmap("kc-tls", namespace=env.namespace))})
    ks = env.kustomization("kc-tls", env.source(repo), kubeConfig={"secretRef": {"name": "kc-tls"}})
    ready = _wait_stalled(env, ks)
    assert "--insecure-kubeconfig-tls" in ready["message"]


def test_invalid_yaml_quotes_no_content(env: Env) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    _secret(env, "kc-yaml", f"clusters:\n- {canary}: [unclosed\n")
    repo, _ = env.repo({"cm.yaml": dump(configmap("kc-yaml", namespace=env.namespace))})
    ks = env.kustomization("kc-yaml", env.source(repo), kubeConfig={"secretRef": {"name": "kc-yaml"}})
    ready = env.wait_failed(ks, "ReconciliationFailed")
    assert "not valid YAML at line" in ready["message"]
    assert canary not in _everything_said(env, ks)
