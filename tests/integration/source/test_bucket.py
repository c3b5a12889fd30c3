"""Bucket end to end: source-controller as its own process, the real cluster, a real
S3-compatible server (moto_server with IAM authentication and SigV4 checks, see
harness.fixtures_s3) over TLS and plain HTTP. Objects are written with boto3."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from source_env import TIMEOUT, SourceEnv, obj_name, start_source_env

from afflux.cli.devenv import free_port
from afflux.controllers.source._s3 import S3Client
from afflux.controllers.source._transport import TLSMaterial
from harness.fixtures_cluster import Cluster
from harness.fixtures_s3 import S3Server
from harness.proxy import TunnelProxy
from harness.relay import SigV4Relay
from harness.silent import SilentServer
from harness.wait import eventually

pytestmark = pytest.mark.integration

KIND = "Bucket"


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[SourceEnv]:
    yield from start_source_env(cluster, start_controller, tmp_path_factory, "bucket")


def bucket_name() -> str:
    return f"afx-{uuid.uuid4().hex[:10]}"


def revision_of(objects: Mapping[str, str]) -> str:
    """Flux's Bucket revision, computed here independently: sha256 over sorted
    "<key> <etag>\\n" lines."""
    lines = "".join(f"{k} {objects[k]}\n" for k in sorted(objects))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def credentials(env: SourceEnv, server: S3Server, secret_key: str | None = None
                ) -> dict[str, Any]:
    env.secret("s3-keys", {"accesskey": server.access_key,
                           "secretkey": secret_key or server.secret_key})
    assert server.ca is not None
    env.secret("s3-ca", {"ca.crt": server.ca.ca_cert.read_bytes()})
    return {"endpoint": server.host, "secretRef": {"name": "s3-keys"},
            "certSecretRef": {"name": "s3-ca"}}


def make_bucket(server: S3Server, objects: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    name = bucket_name()
    etags = server.bucket(name, objects)
    return name, dict(zip(objects, etags, strict=True))


def downloads(server: S3Server, bucket: str, key: str) -> int:
    """How many times the server served GET of an object (from moto's request log)."""
    assert server._proc is not None
    log = server._proc.log_text(1 << 22)
    return len(re.findall(rf'"GET /{bucket}/{re.escape(key)} HTTP', log))


FILES = {
    "deploy/app.yaml": "kind: ConfigMap\n",
    "deploy/values.yaml": "replicas: 1\n",
    ".sourceignore": "*.env\n",
    "secret.env": "TOKEN=x\n",
    "logo.png": "png",
    "nested/.sourceignore": "app.yaml\n",
}


@pytest.mark.flux_fields("Bucket", "spec.bucketName", "spec.endpoint", "spec.secretRef.name",
                         "spec.certSecretRef.name", "status.artifact.path",
                         "status.artifact.revision", "status.artifact.url",
                         "status.artifact.digest", "status.artifact.size",
                         "status.url", "status.conditions[].type",
                         "status.conditions[].status", "status.conditions[].reason",
                         "status.conditions[].message")
def test_artifact_revision_and_root_sourceignore(env: SourceEnv, s3_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_server, FILES)
    name = env.create(KIND, obj_name(), {"bucketName": bucket,
                                         **credentials(env, s3_server)})
    # in the index: not .sourceignore itself, not what it or the defaults exclude
    kept = {k: etags[k] for k in ("deploy/app.yaml", "deploy/values.yaml",
                                  "nested/.sourceignore")}
    revision = revision_of(kept)
    obj = env.wait_ready(KIND, name, revision)
    artifact = obj["status"]["artifact"]
    assert artifact["path"] == f"bucket/{env.namespace}/{name}/{revision[7:]}.tar.gz"
    assert obj["status"]["url"].endswith(f"bucket/{env.namespace}/{name}/latest.tar.gz")
    ready = env.condition(obj, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "Succeeded", f"stored artifact for revision '{revision}'")
    assert env.members(artifact) == {"deploy/app.yaml": b"kind: ConfigMap\n",
                                     "deploy/values.yaml": b"replicas: 1\n",
                                     "nested/.sourceignore": b"app.yaml\n"}
    eventually(lambda: any(e.reason == "NewArtifact" and e.message ==
                           f"stored artifact with 3 fetched files from '{bucket}' bucket"
                           for e in env.events(name)), TIMEOUT)


@pytest.mark.flux_fields("Bucket", "status.lastHandledReconcileAt")
def test_revision_moves_only_when_objects_do(env: SourceEnv, s3_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_server, {"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    name = env.create(KIND, obj_name(), {"bucketName": bucket, **credentials(env, s3_server)})
    first = env.wait_ready(KIND, name, revision_of(etags))["status"]["artifact"]

    # nothing changed: the same artifact, nothing downloaded again
    stamp = env.request_reconcile(KIND, name)
    obj = eventually(lambda: (o := env.get(KIND, name))["status"].get(
        "lastHandledReconcileAt") == stamp and o, TIMEOUT)
    assert obj["status"]["artifact"] == first
    assert downloads(s3_server, bucket, "b.yaml") == 1

    # one object changed: a new revision; only that object is downloaded again
    (etag_a,) = s3_server.apply([("put", bucket, "a.yaml", "a: 2\n")])
    etags["a.yaml"] = etag_a
    env.request_reconcile(KIND, name)
    obj = env.wait_ready(KIND, name, revision_of(etags))
    assert env.members(obj["status"]["artifact"]) == {"a.yaml": b"a: 2\n", "b.yaml": b"b: 1\n"}
    assert downloads(s3_server, bucket, "a.yaml") == 2
    assert downloads(s3_server, bucket, "b.yaml") == 1

    # an object deleted, another added
    (etag_c,) = s3_server.apply([("delete", bucket, "b.yaml"), ("put", bucket, "c.yaml", "c\n")])
    env.request_reconcile(KIND, name)
    obj = env.wait_ready(KIND, name, revision_of({"a.yaml": etag_a, "c.yaml": etag_c}))
    assert env.members(obj["status"]["artifact"]) == {"a.yaml": b"a: 2\n", "c.yaml": b"c\n"}


@pytest.mark.flux_fields("Bucket", "spec.prefix", "spec.ignore", "status.observedIgnore")
def test_prefix_and_spec_ignore(env: SourceEnv, s3_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_server, {"team-a/app.yaml": "a\n", "team-a/notes.md": "n\n",
                                            "team-b/app.yaml": "b\n", "top.yaml": "t\n"})
    spec = {"bucketName": bucket, **credentials(env, s3_server)}
    name = env.create(KIND, obj_name(), {**spec, "prefix": "team-a/", "ignore": "*.md\n"})
    obj = env.wait_ready(KIND, name, revision_of({"team-a/app.yaml": etags["team-a/app.yaml"]}))
    assert env.members(obj["status"]["artifact"]) == {"team-a/app.yaml": b"a\n"}
    assert obj["status"]["observedIgnore"] == "*.md\n"


@pytest.mark.flux_fields("Bucket", "spec.secretRef.name", "spec.certSecretRef.name",
                         "spec.endpoint", "spec.bucketName")
@pytest.mark.flux_fields("Bucket", "status.observedGeneration",
                         "status.conditions[].observedGeneration")
def test_bad_input_keeps_the_last_good_artifact(env: SourceEnv, s3_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_server, {"a.yaml": "a\n"})
    name = env.create(KIND, obj_name(), {"bucketName": bucket, **credentials(env, s3_server)})
    good = env.wait_ready(KIND, name, revision_of(etags))["status"]["artifact"]

    def still_good(obj: dict[str, Any]) -> str:
        assert obj["status"]["artifact"] == good
        assert env.condition(obj, "ArtifactInStorage")["status"] == "True"
        assert env.download(good)
        fetch = env.condition(obj, "FetchFailed")
        assert fetch["status"] == "True"
        return str(env.condition(obj, "Ready")["message"])

    env.secret("s3-wrong", {"accesskey": s3_server.access_key, "secretkey": "wrong"})
    env.patch_spec(KIND, name, {"secretRef": {"name": "s3-wrong"}})
    message = still_good(env.wait_failed(KIND, name, "BucketOperationFailed"))
    assert "SignatureDoesNotMatch" in message or "403" in message

    env.secret("s3-half", {"accesskey": s3_server.access_key})
    env.patch_spec(KIND, name, {"secretRef": {"name": "s3-half"}})
    assert "secretkey" in still_good(env.wait_failed(KIND, name, "AuthenticationFailed"))

    env.patch_spec(KIND, name, {"secretRef": {"name": "s3-keys"}, "bucketName": "no-such-bkt"})
    assert "bucket 'no-such-bkt' not found" in still_good(
        env.wait_failed(KIND, name, "BucketOperationFailed"))

    env.patch_spec(KIND, name, {"bucketName": bucket, "endpoint": f"127.0.0.1:{free_port()}"})
    assert "cannot connect" in still_good(env.wait_failed(KIND, name, "BucketOperationFailed"))

    env.patch(KIND, name, {"spec": {"endpoint": s3_server.host, "certSecretRef": None}})
    assert "certificate" in still_good(
        env.wait_failed(KIND, name, "BucketOperationFailed")).lower()

    env.patch_spec(KIND, name, {"certSecretRef": {"name": "s3-ca"}})
    obj = env.wait_ready(KIND, name, good["revision"])
    assert env.condition(obj, "FetchFailed") is None
    assert "BucketOperationFailed" in env.event_reasons(name)


@pytest.mark.flux_fields("Bucket", "spec.proxySecretRef")
def test_through_proxy_secret_ref(env: SourceEnv, s3_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_server, {"a.yaml": "a: 1\n"})
    password = uuid.uuid4().hex
    with TunnelProxy("fetcher", password) as proxy:
        env.secret("s3-proxy", {"address": proxy.address, "username": "fetcher",
                                "password": password})
        name = env.create(KIND, obj_name(), {"bucketName": bucket,
                                             "proxySecretRef": {"name": "s3-proxy"},
                                             **credentials(env, s3_server)})
        obj = env.wait_ready(KIND, name, revision_of(etags))
        assert s3_server.host in proxy.seen, proxy.seen
        assert obj["status"]["artifact"]["revision"] == revision_of(etags)


@pytest.mark.flux_fields("Bucket", "spec.insecure")
def test_insecure_plain_http(env: SourceEnv, s3_plain_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_plain_server, {"p.yaml": "p\n"})
    env.secret("s3-plain-keys", {"accesskey": s3_plain_server.access_key,
                                 "secretkey": s3_plain_server.secret_key})
    name = env.create(KIND, obj_name(), {
        "bucketName": bucket, "endpoint": s3_plain_server.host, "insecure": True,
        "secretRef": {"name": "s3-plain-keys"}})
    obj = env.wait_ready(KIND, name, revision_of(etags))
    assert env.members(obj["status"]["artifact"]) == {"p.yaml": b"p\n"}


@pytest.mark.flux_fields("Bucket", "spec.region")
def test_region_is_the_one_the_requests_are_signed_for(
        env: SourceEnv, s3_plain_server: S3Server) -> None:
    """moto accepts a SigV4 signature for any region, so the region is read off the
    requests: each carries `Credential=<key>/<date>/<region>/s3/aws4_request`, seen by a
    relay in front of the server (only that scope is kept). spec.region is used; without
    it, us-east-1."""
    bucket, etags = make_bucket(s3_plain_server, {"r.yaml": "r\n"})
    env.secret("s3-region-keys", {"accesskey": s3_plain_server.access_key,
                                  "secretkey": s3_plain_server.secret_key})
    with SigV4Relay("127.0.0.1", s3_plain_server.port) as relay:
        name = env.create(KIND, obj_name(), {
            "bucketName": bucket, "endpoint": relay.host, "insecure": True,
            "region": "eu-west-3", "secretRef": {"name": "s3-region-keys"}})
        env.wait_ready(KIND, name, revision_of(etags))
        assert relay.regions() == {"eu-west-3"}, relay.scopes
        assert {service for _, _, service in relay.scopes} == {"s3"}

        relay.clear()
        env.patch_spec(KIND, name, {"region": "ap-south-1"})
        env.wait_ready(KIND, name, revision_of(etags))
        assert relay.regions() == {"ap-south-1"}, relay.scopes

        relay.clear()
        env.patch_spec(KIND, name, {"region": None})
        env.wait_ready(KIND, name, revision_of(etags))
        assert relay.regions() == {"us-east-1"}, relay.scopes

def test_client_pages_through_listings(s3_server: S3Server) -> None:
    objects = {f"k{i:02d}.yaml": str(i) for i in range(7)}
    bucket, etags = make_bucket(s3_server, objects)
    assert s3_server.ca is not None
    with S3Client(s3_server.host, access_key=s3_server.access_key,
                  secret_key=s3_server.secret_key,
                  tls=TLSMaterial(ca=s3_server.ca.ca_cert.read_bytes())) as client:
        listed = client.list_objects(bucket, page_size=2)  # four pages
        assert {o.key: o.etag for o in listed} == etags
        assert [o.key for o in client.list_objects(bucket, "k0", page_size=3)] == [
            f"k0{i}.yaml" for i in range(7)]
        assert client.bucket_exists(bucket) and not client.bucket_exists("absent-bucket")


def test_deletion_removes_storage(env: SourceEnv, s3_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_server, {"x": "x"})
    name = env.create(KIND, obj_name(), {"bucketName": bucket, **credentials(env, s3_server)})
    env.wait_ready(KIND, name, revision_of(etags))
    assert env.stored_files(KIND, name)
    env.delete(KIND, name)
    eventually(lambda: not env.exists(KIND, name), TIMEOUT)
    assert not (env.storage / "bucket" / env.namespace / name).exists()


# --- the interval, suspend, timeout and what afflux refuses ---------------------------------


@pytest.mark.flux_fields("Bucket", "spec.interval", "status.artifact.lastUpdateTime",
                         "status.conditions[].lastTransitionTime")
def test_the_interval_alone_picks_up_a_changed_object(
        env: SourceEnv, s3_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_server, {"a.yaml": "a: 1\n"})
    name = env.create(KIND, obj_name(), {"bucketName": bucket, "interval": "2s",
                                         **credentials(env, s3_server)})
    before = env.wait_ready(KIND, name, revision_of(etags))
    (etag,) = s3_server.apply([("put", bucket, "a.yaml", "a: 2\n")])  # no requestedAt
    after = env.wait_moved_by_interval(KIND, before)
    assert after["status"]["artifact"]["revision"] == revision_of({"a.yaml": etag})
    assert env.members(after["status"]["artifact"]) == {"a.yaml": b"a: 2\n"}


@pytest.mark.flux_fields("Bucket", "spec.suspend")
def test_suspended_then_resumed(env: SourceEnv, s3_server: S3Server) -> None:
    bucket, etags = make_bucket(s3_server, {"s.yaml": "s\n"})
    spec = {"bucketName": bucket, **credentials(env, s3_server)}
    env.check_suspend(KIND, spec, revision_of(etags))


@pytest.mark.flux_fields("Bucket", "spec.timeout")
def test_a_hung_endpoint_fails_within_the_timeout(env: SourceEnv) -> None:
    server = SilentServer()
    try:
        env.secret("s3-any", {"accesskey": "a", "secretkey": "b"})
        name = env.create(KIND, obj_name(), {
            "bucketName": "hung", "endpoint": f"127.0.0.1:{server.port}", "insecure": True,
            "secretRef": {"name": "s3-any"}, "timeout": "2s"})
        obj = env.wait_failed(KIND, name, "BucketOperationFailed", timeout=30)
        message = env.condition(obj, "Ready")["message"]
        assert "2s" in message, message
    finally:
        server.close()


def test_sts_is_refused_with_what_to_use(env: SourceEnv, s3_server: S3Server) -> None:
    """afflux has no STS (temporary credentials) flow: `spec.sts` stalls and says to use
    static keys, instead of fetching without the credentials the user asked for."""
    bucket, _ = make_bucket(s3_server, {"x": "x"})
    name = env.create(KIND, obj_name(), {
        "bucketName": bucket, "provider": "aws", **credentials(env, s3_server),
        "sts": {"provider": "aws", "endpoint": "https://sts.example.invalid"}})
    obj = env.wait_failed(KIND, name, "BucketOperationFailed", stalled=True)
    assert "spec.sts" in env.condition(obj, "Ready")["message"]
