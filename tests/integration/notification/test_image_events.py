"""The image operators' events through notification-controller: a real image-reflector-
controller process scans a real registry (TLS, basic auth); its ImageRepository and
ImagePolicy events reach a generic Provider with what Flux's carry: the reason and message
(the policy's "Latest image tag ... resolved to ..."), `reportingController`, and the
object's `event.toolkit.fluxcd.io/*` annotations as metadata (which Alerts add to and
change request Providers read); an Alert's inclusionList filters on the message.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notify_env import TIMEOUT, Env, name, notification_env, watched_namespace

from afflux.cli.devenv import GitHTTPServer, Registry
from afflux.cli.devenv._images import pause_image, push
from harness.fixtures_cluster import Cluster
from harness.sink import Recorded
from harness.wait import eventually

pytestmark = pytest.mark.integration

EVENT_GROUP = "event.toolkit.fluxcd.io"


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    namespace, scope = watched_namespace(cluster, "t-imgevents")
    reflector = start_controller("image-reflector", *scope,
                                 f"--storage-path={tmp_path_factory.mktemp('img-tags')}")
    with notification_env(cluster, start_controller, git_server, namespace) as env:
        yield env
        # the image objects' finalizers need their operator: delete them while it runs
        cluster.kubectl("delete", "imagepolicies,imagerepositories", "--all", "-n", namespace,
                        "--wait=true", "--timeout=60s", check=False)
    reflector.stop()


def registry_secrets(env: Env, registry: Registry) -> tuple[str, str]:
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    config = json.dumps({"auths": {registry.host: {"auth": auth}}})
    creds = name("regcred")
    env.core.create_namespaced_secret(env.namespace, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": creds},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()}})
    ca = env.secret(name("ca"), {"ca.crt": Path(registry.ca_cert).read_text()})
    return creds, ca


def test_image_events_reach_a_provider_with_their_metadata(env: Env,
                                                           registry: Registry) -> None:
    image = f"{registry.host}/events-{uuid.uuid4().hex[:6]}/app"
    for tag in ("1.0.0", "1.1.0", "2.0.0-rc.1"):
        push(pause_image(), f"{image}:{tag}", ca_file=Path(registry.ca_cert),
             username=registry.username, password=registry.password)
    path = f"/{name('img')}"
    provider = env.provider({"type": "generic", "address": env.sink.url(path)})
    env.alert(provider, eventSources=[{"kind": "ImagePolicy", "name": "*"},
                                      {"kind": "ImageRepository", "name": "*"}],
              inclusionList=["^Latest image tag", "^successful scan"],
              eventMetadata={"cluster": "staging"})
    creds, ca = registry_secrets(env, registry)
    repo = env.create("ImageRepository", name("repo"), {
        "image": image, "interval": "1h", "secretRef": {"name": creds},
        "certSecretRef": {"name": ca}}, annotations={f"{EVENT_GROUP}/team": "platform"})
    policy = env.create("ImagePolicy", name("pol"), {
        "imageRepositoryRef": {"name": repo}, "policy": {"semver": {"range": ">=1.0.0"}}},
        annotations={f"{EVENT_GROUP}/change_request": "5"})

    def about(kind: str) -> Recorded:
        got = [r for r in env.sink.requests(path)
               if r.json()["involvedObject"]["kind"] == kind]
        assert got, f"no {kind} event yet"
        return got[0]
    scanned = eventually(lambda: about("ImageRepository"), TIMEOUT,
                         message="the ImageRepository's event delivered").json()
    assert scanned["reportingController"] == "image-reflector-controller"
    assert scanned["message"].startswith("successful scan: found 3 tags"), scanned["message"]
    # the object's event.toolkit.fluxcd.io annotations, their prefix stripped as Flux's
    assert scanned["metadata"] == {"team": "platform", "cluster": "staging"}

    resolved = eventually(lambda: about("ImagePolicy"), TIMEOUT,
                          message="the ImagePolicy's event delivered").json()
    assert resolved["involvedObject"]["name"] == policy
    assert resolved["reason"] == "Succeeded" and resolved["severity"] == "info"
    assert "1.1.0" in resolved["message"], resolved["message"]
    assert resolved["metadata"] == {"change_request": "5", "cluster": "staging"}
