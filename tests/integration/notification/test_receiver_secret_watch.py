"""`--watch-configs-label-selector` in notification-controller, as Flux's: a change of a
Secret the selector selects reconciles at once the Receivers whose `spec.secretRef` names it,
so a new token is a new `status.webhookPath` long before the Receiver's interval (10m).

The real notification-controller runs as a process against the real API server, started
with a custom selector; the Secret carries that label and not the default one.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from notify_env import Env, name, notification_env

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration

SELECTOR = "afflux.test/hook-secret=yes"


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer) -> Iterator[Env]:
    namespace = f"t-rcvsecret-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    with notification_env(cluster, start_controller, git_server, namespace,
                          extra_args=(f"--watch-configs-label-selector={SELECTOR}",)) as env:
        yield env


def _webhook_path(token: str, receiver: str, namespace: str) -> str:
    return "/hook/" + hashlib.sha256(f"{token}{receiver}{namespace}".encode()).hexdigest()


def test_a_selected_secret_change_reconciles_its_receiver_at_once(env: Env) -> None:
    secret = name("hook")
    env.core.create_namespaced_secret(env.namespace, {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": secret, "labels": {"afflux.test/hook-secret": "yes"}},
        "data": {"token": base64.b64encode(b"first-token").decode()}})
    receiver = env.create("Receiver", name("r"), {
        "type": "generic", "interval": "10m", "secretRef": {"name": secret},
        "resources": [{"kind": "GitRepository", "name": "any"}]})
    env.ready("Receiver", receiver)
    assert env.get("Receiver", receiver)["status"]["webhookPath"] == _webhook_path(
        "first-token", receiver, env.namespace)
    token = "second-" + uuid.uuid4().hex
    env.core.patch_namespaced_secret(secret, env.namespace, {"data": {
        "token": base64.b64encode(token.encode()).decode()}})
    expected = _webhook_path(token, receiver, env.namespace)

    def moved() -> bool:
        path = env.get("Receiver", receiver)["status"]["webhookPath"]
        assert path == expected, path
        return True

    # the interval is 10m: only the Secret watch can bring the new token in this time
    eventually(moved, 30, message="the webhookPath of the new token")
