"""Kustomizations built from the other source kinds: an OCIRepository (an artifact pushed to a
real registry the way `flux push artifact` makes one, with oras-py; its origin revision lands
in `lastAppliedOriginRevision` and the events) and a Bucket (a real S3 server).

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afflux.cli.devenv import Registry
from harness.fixtures_s3 import S3Server
from harness.flux_oci import push_flux_artifact as push
from harness.kustomize_env import TIMEOUT, Env, configmap, dump
from harness.wait import eventually

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("ks-registry"), tls=False, auth=False)
    with server:
        yield server


def wait_revision(env: Env, name: str, revision: str) -> dict[str, Any]:
    def applied() -> dict[str, Any]:
        status = env.status(name)
        ready = env.condition(status, "Ready")
        assert ready is not None and ready["status"] == "True", ready
        assert status.get("lastAppliedRevision") == revision, status
        return status

    return eventually(applied, TIMEOUT, message=f"{name} at {revision}")


@pytest.mark.flux_fields("Kustomization", "spec.sourceRef.kind", "status.lastAppliedOriginRevision",
                         "status.history[].metadata")
def test_oci_repository_source_and_origin_revision(env: Env, registry: Registry,
                                                   tmp_path: Path) -> None:
    repository = f"afflux/ks-{uuid.uuid4().hex[:8]}"
    origin = "main@sha1:" + "1" * 40
    files = {"deploy/cm.yaml": dump(configmap("from-oci", {"v": "1"}, namespace=env.namespace))}
    digest = push(registry, tmp_path, repository, "latest", files, origin)
    source = f"oci-{uuid.uuid4().hex[:6]}"
    env.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
               "metadata": {"name": source, "namespace": env.namespace},
               "spec": {"url": f"oci://{registry.host}/{repository}", "insecure": True,
                        "interval": "10m", "ref": {"tag": "latest"}}})
    ks = env.kustomization("from-oci", source, path="./deploy",
                           sourceRef={"kind": "OCIRepository", "name": source})
    status = wait_revision(env, ks, f"latest@{digest}")
    assert status["lastAppliedOriginRevision"] == origin
    assert status["history"][0]["metadata"] == {"revision": f"latest@{digest}",
                                                "originRevision": origin}
    cm = env.get("configmap", "from-oci")
    assert cm is not None and cm["data"] == {"v": "1"}

    # a new push of the tag rolls out (the source's new revision triggers the Kustomization)
    newer = "main@sha1:" + "2" * 40
    files = {"deploy/cm.yaml": dump(configmap("from-oci", {"v": "2"}, namespace=env.namespace))}
    second = push(registry, tmp_path, repository, "latest", files, newer)
    env.kubectl("annotate", "--overwrite", "ocirepositories.source.toolkit.fluxcd.io", source,
                f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")
    status = wait_revision(env, ks, f"latest@{second}")
    assert status["lastAppliedOriginRevision"] == newer
    events = [e for e in env.events(ks) if e["reason"] == "Progressing"]
    assert any(e["metadata"]["annotations"].get(
        "kustomize.toolkit.fluxcd.io/originRevision") == newer for e in events)


@pytest.mark.flux_fields("Kustomization", "spec.sourceRef.kind")
def test_bucket_source(env: Env, s3_plain_server: S3Server) -> None:
    bucket = f"afx-ks-{uuid.uuid4().hex[:8]}"
    s3_plain_server.bucket(bucket, {
        "apps/cm.yaml": dump(configmap("from-bucket", namespace=env.namespace))})
    env.kubectl("create", "secret", "generic", "s3-keys",
                f"--from-literal=accesskey={s3_plain_server.access_key}",
                f"--from-literal=secretkey={s3_plain_server.secret_key}")
    source = f"bucket-{uuid.uuid4().hex[:6]}"
    env.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "Bucket",
               "metadata": {"name": source, "namespace": env.namespace},
               "spec": {"bucketName": bucket, "endpoint": s3_plain_server.host,
                        "insecure": True, "interval": "10m",
                        "secretRef": {"name": "s3-keys"}}})
    ks = env.kustomization("from-bucket", source, path="./apps",
                           sourceRef={"kind": "Bucket", "name": source})

    def applied() -> dict[str, Any]:
        status = env.status(ks)
        ready = env.condition(status, "Ready")
        assert ready is not None and ready["status"] == "True", ready
        return status

    status = eventually(applied, TIMEOUT, message="the Bucket's manifests applied")
    assert status["lastAppliedRevision"].startswith("sha256:")
    assert env.exists("configmap", "from-bucket")
