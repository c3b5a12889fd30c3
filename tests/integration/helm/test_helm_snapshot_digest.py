"""helm-controller's `--snapshot-digest-algo=sha512` against the real parts (a real
source-controller, chart repository, `helm`): `status.history[].digest` is the sha512 of the
release record helm stored, a reconcile with nothing to do changes no release, and a snapshot
written with another algorithm (sha256, the default, before a restart with the flag) still
names the record, while a digest of something else makes the release "not the one last made",
which is upgraded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import GROUP, PLURAL, VERSION, HelmEnv, release, start_helm_env

from afflux.controllers.helm._release import decode_record
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import HelmTool
from harness.wait import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(
    cluster: Cluster,
    start_controller: Any,
    helm_tool: HelmTool,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HelmEnv]:
    yield from start_helm_env(
        cluster,
        start_controller,
        helm_tool,
        tmp_path_factory,
        "helmdigest",
        "--snapshot-digest-algo=sha512",
    )


def record_json(env: HelmEnv, name: str, version: int) -> bytes:
    secret = env.source.core.read_namespaced_secret(
        f"sh.helm.release.v1.{name}.v{version}", env.namespace
    )
    _, raw = decode_record({"data": {"release": secret.data["release"]}})
    return raw


def set_snapshot_digest(env: HelmEnv, name: str, digest: str) -> None:
    history = env.get(name)["status"]["history"]
    history[0]["digest"] = digest
    env.source.api.patch_namespaced_custom_object_status(
        GROUP, VERSION, env.namespace, PLURAL, name, {"status": {"history": history}}
    )


@pytest.mark.flux_fields("HelmRelease", "status.history[].digest")
def test_sha512_snapshot_digests(env: HelmEnv, repo: str) -> None:
    name = release(env, repo, {"replicas": 1})
    obj = env.ready(name, "InstallSucceeded")
    [snap] = obj["status"]["history"]
    raw = record_json(env, name, 1)
    assert snap["digest"] == "sha512:" + hashlib.sha512(raw).hexdigest()

    # nothing to do: no new release
    token = env.request(name)
    env.ready(name, check=lambda o: o["status"].get("lastHandledReconcileAt") == token)
    assert len(env.helm_history(name)) == 1

    # a snapshot of the same record in sha256 (written before the flag): still in sync
    set_snapshot_digest(env, name, "sha256:" + hashlib.sha256(raw).hexdigest())
    token = env.request(name)
    env.ready(name, check=lambda o: o["status"].get("lastHandledReconcileAt") == token)
    assert len(env.helm_history(name)) == 1

    # a sha256 digest of something else: not the release last made, so it is upgraded
    set_snapshot_digest(env, name, "sha256:" + hashlib.sha256(raw + b" ").hexdigest())
    env.request(name)
    eventually(
        lambda: len(env.helm_history(name)) == 2 or None,
        60,
        message="the release not matching its snapshot is upgraded",
    )
    obj = env.ready(name, check=lambda o: o["status"]["history"][0]["version"] == 2)
    latest = obj["status"]["history"][0]
    assert latest["digest"] == "sha512:" + hashlib.sha512(record_json(env, name, 2)).hexdigest()
