"""OCIRepository end to end: source-controller as its own process, the real cluster, the
real registry (distribution over TLS with htpasswd, and a plain-HTTP one for `insecure`).

Artifacts are pushed the way `flux push artifact` makes them (one tar+gzip layer of media
type `application/vnd.cncf.flux.content.v1.tar+gzip`, config
`application/vnd.cncf.flux.config.v1+json`, the `org.opencontainers.image.*`
annotations), with oras-py, an implementation independent of ours.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import oras.provider
import pytest
from source_env import TIMEOUT, SourceEnv, obj_name, start_source_env, tar_members

from afflux.cli.devenv import Registry, free_port
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import HelmTool
from harness.proxy import TunnelProxy
from harness.silent import SilentServer
from harness.wait import eventually

pytestmark = pytest.mark.integration

KIND = "OCIRepository"
FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
README_TYPE = "application/vnd.afflux.test.readme"


# --- pushing artifacts ------------------------------------------------------------------


def targz(files: Mapping[str, str | bytes]) -> bytes:
    """A tar.gz of `files` (path -> content), as `flux push artifact` builds one."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class Pusher:
    """Pushes flux-style artifacts to a registry with oras-py; returns manifest digests."""

    def __init__(self, registry: Registry, workdir: Path, *, tls: bool = True) -> None:
        self.registry = registry
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.client = oras.provider.Registry(
            hostname=registry.host, insecure=not tls,
            tls_verify=str(registry.ca_cert) if tls else False, auth_backend="basic")
        if registry.auth:
            self.client.auth.set_basic_auth(registry.username, registry.password)

    def push(self, repository: str, tag: str, files: Mapping[str, str | bytes],
             *, revision: str = "main@sha1:0123", extra_layers: list[tuple[bytes, str]] = (),
             ) -> str:
        """Push an artifact; `extra_layers` (content, media type) come *before* the
        content layer. Returns the manifest digest."""
        run = self.workdir / uuid.uuid4().hex
        run.mkdir()
        layer_args = []
        for i, (content, media_type) in enumerate(extra_layers):
            path = run / f"extra-{i}"
            path.write_bytes(content)
            layer_args.append(f"{path}:{media_type}")
        content_path = run / "content.tar.gz"
        content_path.write_bytes(targz(files))
        layer_args.append(f"{content_path}:{FLUX_CONTENT}")
        config = run / "config.json"
        config.write_text("{}")
        response = self.client.push(
            target=f"{self.registry.host}/{repository}:{tag}",
            files=layer_args,
            manifest_config=f"{config}:{FLUX_CONFIG}",
            manifest_annotations={
                "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
                "org.opencontainers.image.source": "https://git.example.com/app.git",
                "org.opencontainers.image.revision": revision,
            },
            disable_path_validation=True,
            quiet=True,
        )
        assert response.status_code == 201, response.text
        digest = response.headers["Docker-Content-Digest"]
        assert digest.startswith("sha256:")
        return digest

    def layer_bytes(self, repository: str, digest: str, index: int) -> bytes:
        manifest = self.client.get_manifest(f"{self.registry.host}/{repository}@{digest}")
        layer = manifest["layers"][index]
        response = self.client.get_blob(f"{self.registry.host}/{repository}", layer["digest"])
        return response.content


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[SourceEnv]:
    yield from start_source_env(cluster, start_controller, tmp_path_factory, "ocirepo")


@pytest.fixture(scope="module")
def pusher(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Pusher:
    return Pusher(registry, tmp_path_factory.mktemp("oras"))


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("plain-registry"), tls=False, auth=False)
    with server:
        yield server


def docker_config(registry: Registry, password: str | None = None) -> dict[str, str]:
    auth = {"auths": {registry.host: {"username": registry.username,
                                      "password": password or registry.password}}}
    return {".dockerconfigjson": json.dumps(auth)}


def registry_secrets(env: SourceEnv, registry: Registry) -> dict[str, Any]:
    """spec fields with credentials and the test CA for the TLS registry."""
    env.secret("regcred", docker_config(registry), "kubernetes.io/dockerconfigjson")
    env.secret("registry-ca", {"ca.crt": registry.ca_cert.read_bytes()})
    return {"secretRef": {"name": "regcred"}, "certSecretRef": {"name": "registry-ca"}}


def repo_name() -> str:
    return f"afflux/oci-{uuid.uuid4().hex[:8]}"


APP = {
    "deploy/app.yaml": "kind: ConfigMap\n",
    "deploy/logo.png": b"\x89PNG",
    "README.md": "# app\n",
}


# --- tests ------------------------------------------------------------------------------


@pytest.mark.flux_fields("OCIRepository", "spec.url", "spec.secretRef.name",
                         "spec.certSecretRef.name", "status.artifact.path", "status.artifact.url",
                         "status.artifact.metadata", "status.artifact.revision",
                         "status.artifact.digest", "status.artifact.size",
                         "status.url", "status.observedLayerSelector",
                         "status.conditions[].type", "status.conditions[].status",
                         "status.conditions[].reason", "status.conditions[].message")
def test_default_tag_latest_artifact_status_and_metadata(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "latest", APP, revision="main@sha1:abc")
    name = env.create(KIND, obj_name(), {"url": f"oci://{registry.host}/{repo}",
                                         **registry_secrets(env, registry)})
    obj = env.wait_ready(KIND, name, f"latest@{digest}")
    status = obj["status"]
    artifact = status["artifact"]
    hex_ = digest.split(":")[1]
    assert artifact["path"] == f"ocirepository/{env.namespace}/{name}/{hex_}.tar.gz"
    assert artifact["url"].endswith(artifact["path"])
    assert artifact["metadata"] == {
        "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
        "org.opencontainers.image.source": "https://git.example.com/app.git",
        "org.opencontainers.image.revision": "main@sha1:abc",
    }
    assert status["url"].endswith(f"ocirepository/{env.namespace}/{name}/latest.tar.gz")
    assert status["observedLayerSelector"] == {"operation": "extract"}
    ready = env.condition(obj, "Ready")
    assert ready["reason"] == "Succeeded"
    assert ready["message"] == f"stored artifact for revision 'latest@{digest}'"
    in_storage = env.condition(obj, "ArtifactInStorage")
    assert in_storage["status"] == "True" and in_storage["message"] == ready["message"]
    # default exclusions apply to the extracted content, as for Git
    assert env.members(artifact) == {"deploy/app.yaml": b"kind: ConfigMap\n",
                                     "README.md": b"# app\n"}
    assert env.stored_files(KIND, name) == [f"{hex_}.tar.gz", "latest.tar.gz"]
    eventually(lambda: "NewArtifact" in env.event_reasons(name), TIMEOUT)


@pytest.mark.flux_fields("OCIRepository", "spec.ref.tag", "spec.ref.semver",
                         "spec.ref.semverFilter", "spec.ref.digest")
def test_semver_filter_digest_and_a_new_tag(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    digests = {tag: pusher.push(repo, tag, {"v.txt": tag})
               for tag in ("1.0.0", "1.1.0", "2.0.0-rc.1", "1.2.0-rc.1")}
    spec = {"url": f"oci://{registry.host}/{repo}", **registry_secrets(env, registry)}

    tag_obj = env.create(KIND, obj_name(), {**spec, "ref": {"tag": "1.0.0"}})
    semver = env.create(KIND, obj_name(), {**spec, "ref": {"tag": "1.0.0", "semver": "1.x"}})
    filtered = env.create(KIND, obj_name(), {**spec, "ref": {
        "semver": ">=1.0.0-0", "semverFilter": ".*-rc.*"}})
    pinned = env.create(KIND, obj_name(), {**spec, "ref": {
        "tag": "1.1.0", "semver": "1.x", "digest": digests["1.0.0"]}})

    env.wait_ready(KIND, tag_obj, f"1.0.0@{digests['1.0.0']}")
    obj = env.wait_ready(KIND, semver, f"1.1.0@{digests['1.1.0']}")
    assert env.members(obj["status"]["artifact"]) == {"v.txt": b"1.1.0"}
    env.wait_ready(KIND, filtered, f"2.0.0-rc.1@{digests['2.0.0-rc.1']}")
    obj = env.wait_ready(KIND, pinned, digests["1.0.0"])  # a digest ref: the digest alone
    assert env.members(obj["status"]["artifact"]) == {"v.txt": b"1.0.0"}

    # newer versions in the range move the semver object; old artifacts are collected
    old = env.get(KIND, semver)["status"]["artifact"]["path"].rsplit("/", 1)[1]
    for tag in ("1.3.0", "1.4.0"):
        new_digest = pusher.push(repo, tag, {"v.txt": tag})
        env.request_reconcile(KIND, semver)
        obj = env.wait_ready(KIND, semver, f"{tag}@{new_digest}")
        assert env.members(obj["status"]["artifact"]) == {"v.txt": tag.encode()}
    current = obj["status"]["artifact"]["path"].rsplit("/", 1)[1]

    def collected() -> bool:
        env.request_reconcile(KIND, semver)  # collection happens at the start of a run
        files = env.stored_files(KIND, semver)
        assert old not in files and current in files and len(files) == 3, files
        return True

    eventually(collected, TIMEOUT)


@pytest.mark.flux_fields("OCIRepository", "status.lastHandledReconcileAt")
def test_no_pull_when_the_digest_is_unchanged(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "stable", {"a.yaml": "a: 1\n"})
    name = env.create(KIND, obj_name(), {"url": f"oci://{registry.host}/{repo}",
                                         "ref": {"tag": "stable"},
                                         **registry_secrets(env, registry)})
    first = env.wait_ready(KIND, name, f"stable@{digest}")["status"]["artifact"]
    mark = registry.log_offset()
    stamp = env.request_reconcile(KIND, name)
    obj = eventually(lambda: (o := env.get(KIND, name))["status"].get(
        "lastHandledReconcileAt") == stamp and o, TIMEOUT)
    assert obj["status"]["artifact"] == first
    assert "no pull: artifact up-to-date with remote revision" in env.controller.log_text(400)
    # one manifest lookup, the credentials sent at once (the registry asked for Basic
    # before): no 401 round trip, no manifest GET, no blob
    served = [(r.method, r.path, r.status)
              for r in registry.served(mark, "afflux-source-controller") if f"/{repo}/" in r.path]
    assert served == [("HEAD", f"/v2/{repo}/manifests/stable", 200)]

    # the same tag pushed again with new content: a new digest, a new artifact
    digest2 = pusher.push(repo, "stable", {"a.yaml": "a: 2\n"})
    env.request_reconcile(KIND, name)
    obj = env.wait_ready(KIND, name, f"stable@{digest2}")
    assert env.members(obj["status"]["artifact"]) == {"a.yaml": b"a: 2\n"}


@pytest.mark.flux_fields("OCIRepository", "spec.ignore", "status.observedIgnore")
def test_ignore_rules_on_extracted_content(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    files = {"app.yaml": "app\n", "secret.env": "x\n", "docs/guide.md": "guide\n",
             "sub/.sourceignore": "local.yaml\n", "sub/local.yaml": "l\n",
             "sub/kept.yaml": "k\n", "logo.png": b"png"}
    digest = pusher.push(repo, "v1", files)
    spec = {"url": f"oci://{registry.host}/{repo}", "ref": {"tag": "v1"},
            **registry_secrets(env, registry)}
    name = env.create(KIND, obj_name(), {**spec, "ignore": "*.env\n/docs/\n"})
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    # spec.ignore replaces the defaults (logo.png is back); .sourceignore in sub/ applies
    assert set(env.members(obj["status"]["artifact"])) == {
        "app.yaml", "logo.png", "sub/.sourceignore", "sub/kept.yaml"}
    assert obj["status"]["observedIgnore"] == "*.env\n/docs/\n"

    # changing only spec.ignore rebuilds the artifact from the same digest
    env.patch_spec(KIND, name, {"ignore": "*.png\n"})
    obj = env.wait_ready(KIND, name, f"v1@{digest}",
                         check=lambda o: o["status"]["observedIgnore"] == "*.png\n")
    assert "secret.env" in env.members(obj["status"]["artifact"])


@pytest.mark.flux_fields("OCIRepository", "spec.layerSelector.mediaType",
                         "spec.layerSelector.operation", "status.observedLayerSelector.mediaType",
                         "status.observedLayerSelector.operation")
def test_layer_selector_extract_and_copy(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"m.yaml": "m\n"},
                         extra_layers=[(b"just a readme\n", README_TYPE)])
    spec = {"url": f"oci://{registry.host}/{repo}", "ref": {"tag": "v1"},
            **registry_secrets(env, registry)}

    # the first layer is not a tarball: extracting it fails, saying what to do
    first = env.create(KIND, obj_name(), spec)
    obj = env.wait_failed(KIND, first, "OCIArtifactLayerOperationFailed")
    fetch = env.condition(obj, "FetchFailed")
    assert fetch["reason"] == "OCIArtifactLayerOperationFailed"
    assert "not a tar+gzip" in fetch["message"]

    extract = env.create(KIND, obj_name(), {**spec, "layerSelector": {"mediaType": FLUX_CONTENT}})
    obj = env.wait_ready(KIND, extract, f"v1@{digest}")
    assert env.members(obj["status"]["artifact"]) == {"m.yaml": b"m\n"}
    assert obj["status"]["observedLayerSelector"] == {"mediaType": FLUX_CONTENT,
                                                      "operation": "extract"}

    copy = env.create(KIND, obj_name(), {**spec, "layerSelector": {
        "mediaType": FLUX_CONTENT, "operation": "copy"}})
    obj = env.wait_ready(KIND, copy, f"v1@{digest}")
    assert env.download(obj["status"]["artifact"]) == pusher.layer_bytes(repo, digest, 1)
    assert tar_members(env.download(obj["status"]["artifact"])) == {"m.yaml": b"m\n"}

    missing = env.create(KIND, obj_name(), {**spec, "layerSelector": {"mediaType": "x/y"}})
    obj = env.wait_failed(KIND, missing, "OCIArtifactLayerOperationFailed")
    assert "no layer of media type 'x/y'" in env.condition(obj, "Ready")["message"]


@pytest.mark.flux_fields("OCIRepository", "status.observedGeneration",
                         "status.conditions[].observedGeneration")
def test_bad_input_keeps_the_last_good_artifact(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"a.yaml": "a\n"})
    spec = {"url": f"oci://{registry.host}/{repo}", "ref": {"tag": "v1"},
            **registry_secrets(env, registry)}
    name = env.create(KIND, obj_name(), spec)
    good = env.wait_ready(KIND, name, f"v1@{digest}")["status"]["artifact"]

    def still_good(obj: dict[str, Any]) -> None:
        assert obj["status"]["artifact"] == good
        assert env.condition(obj, "ArtifactInStorage")["status"] == "True"
        assert good["path"].rsplit("/", 1)[1] in env.stored_files(KIND, name)
        assert env.download(good)

    # wrong credentials
    env.secret("wrong", docker_config(registry, "not-the-password"),
               "kubernetes.io/dockerconfigjson")
    env.patch_spec(KIND, name, {"secretRef": {"name": "wrong"}})
    obj = env.wait_failed(KIND, name, "AuthenticationFailed")
    assert env.condition(obj, "FetchFailed")["reason"] == "AuthenticationFailed"
    still_good(obj)
    # no credentials at all for a registry that wants them
    env.patch(KIND, name, {"spec": {"secretRef": None}})
    still_good(env.wait_failed(KIND, name, "AuthenticationFailed"))
    # a Secret that does not exist
    env.patch_spec(KIND, name, {"secretRef": {"name": "nowhere"}})
    obj = env.wait_failed(KIND, name, "AuthenticationFailed")
    assert "secret" in env.condition(obj, "Ready")["message"]
    still_good(obj)
    # unknown tag
    env.patch_spec(KIND, name, {"secretRef": {"name": "regcred"}, "ref": {"tag": "nope"}})
    obj = env.wait_failed(KIND, name, "OCIArtifactPullFailed")
    assert env.condition(obj, "FetchFailed")["reason"] == "OCIArtifactPullFailed"
    assert "not found" in env.condition(obj, "Ready")["message"]
    still_good(obj)
    # a range no tag satisfies
    env.patch_spec(KIND, name, {"ref": {"semver": ">=5.0.0"}})
    obj = env.wait_failed(KIND, name, "OCIArtifactPullFailed")
    assert "no tag matches" in env.condition(obj, "Ready")["message"]
    still_good(obj)
    # the registry's CA not trusted
    env.patch(KIND, name, {"spec": {"ref": {"tag": "v1"}, "certSecretRef": None}})
    obj = env.wait_failed(KIND, name, "OCIArtifactPullFailed")
    assert "certificate" in env.condition(obj, "Ready")["message"].lower()
    still_good(obj)
    # an unreachable host
    env.patch_spec(KIND, name, {"url": f"oci://127.0.0.1:{free_port()}/{repo}",
                                "certSecretRef": {"name": "registry-ca"}})
    obj = env.wait_failed(KIND, name, "OCIArtifactPullFailed")
    assert "cannot connect" in env.condition(obj, "Ready")["message"]
    still_good(obj)
    # an invalid semver range is a spec error: stalled
    env.patch_spec(KIND, name, {"url": f"oci://{registry.host}/{repo}",
                                "ref": {"semver": "not-a-range"}})
    still_good(env.wait_failed(KIND, name, "OCIArtifactPullFailed", stalled=True))
    # fixing the spec recovers
    env.patch_spec(KIND, name, {"ref": {"tag": "v1", "semver": None}})
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    assert env.condition(obj, "FetchFailed") is None
    assert env.condition(obj, "Stalled") is None
    assert "AuthenticationFailed" in env.event_reasons(name)


@pytest.mark.flux_fields("OCIRepository", "spec.insecure")
def test_insecure_plain_http_registry(
        env: SourceEnv, plain_registry: Registry, tmp_path: Path) -> None:
    plain = Pusher(plain_registry, tmp_path / "oras", tls=False)
    repo = repo_name()
    digest = plain.push(repo, "latest", {"p.yaml": "p\n"})
    url = f"oci://{plain_registry.host}/{repo}"
    name = env.create(KIND, obj_name(), {"url": url, "insecure": True})
    obj = env.wait_ready(KIND, name, f"latest@{digest}")
    assert env.members(obj["status"]["artifact"]) == {"p.yaml": b"p\n"}
    # without `insecure` the controller speaks TLS to it and fails
    refused = env.create(KIND, obj_name(), {"url": url})
    env.wait_failed(KIND, refused, "OCIArtifactPullFailed")


@pytest.mark.flux_fields("OCIRepository", "spec.suspend")
def test_suspend_and_deletion(env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"a": "1"})
    spec = {"url": f"oci://{registry.host}/{repo}", "ref": {"tag": "v1"},
            **registry_secrets(env, registry)}
    marker = env.check_suspend(KIND, spec, f"v1@{digest}")

    assert env.stored_files(KIND, marker)
    env.delete(KIND, marker)
    eventually(lambda: not env.exists(KIND, marker), TIMEOUT)
    assert env.stored_files(KIND, marker) == []
    assert not (env.storage / "ocirepository" / env.namespace / marker).exists()


def test_extract_a_helm_chart_layer(env: SourceEnv, registry: Registry, helm_tool: HelmTool,
                                    tmp_path: Path) -> None:
    """Helm writes a gzip header extra field into its packages: extraction copes."""
    chart = helm_tool.make_chart(tmp_path / "src", "demo", "0.3.0")
    base = f"afflux/charts-{uuid.uuid4().hex[:8]}"
    digest = helm_tool.push(registry, helm_tool.package(chart, tmp_path / "pkg"), base)
    name = env.create(KIND, obj_name(), {
        "url": f"oci://{registry.host}/{base}/demo", "ref": {"tag": "0.3.0"},
        "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip"},
        **registry_secrets(env, registry)})
    obj = env.wait_ready(KIND, name, f"0.3.0@{digest}")
    members = env.members(obj["status"]["artifact"])
    assert members["demo/Chart.yaml"].startswith(b"apiVersion: v2")
    assert "demo/templates/configmap.yaml" in members


@pytest.mark.flux_fields("OCIRepository", "spec.serviceAccountName")
def test_credentials_from_a_service_accounts_pull_secrets(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"sa.yaml": "sa\n"})
    env.secret("sa-pull", docker_config(registry), "kubernetes.io/dockerconfigjson")
    env.secret("registry-ca", {"ca.crt": registry.ca_cert.read_bytes()})
    account = obj_name("sa")
    env.core.create_namespaced_service_account(env.namespace, {
        "metadata": {"name": account}, "imagePullSecrets": [{"name": "sa-pull"}]})
    name = env.create(KIND, obj_name(), {
        "url": f"oci://{registry.host}/{repo}", "ref": {"tag": "v1"},
        "serviceAccountName": account, "certSecretRef": {"name": "registry-ca"}})
    obj = env.wait_ready(KIND, name, f"v1@{digest}")
    assert env.members(obj["status"]["artifact"]) == {"sa.yaml": b"sa\n"}


# --- the interval, timeout, proxy and provider -------------------------------------------


@pytest.mark.flux_fields("OCIRepository", "spec.interval", "status.artifact.lastUpdateTime",
                         "status.conditions[].lastTransitionTime")
def test_the_interval_alone_picks_up_a_moved_tag(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    pusher.push(repo, "stable", {"a.yaml": "a: 1\n"})
    name = env.create(KIND, obj_name(), {"url": f"oci://{registry.host}/{repo}",
                                         "ref": {"tag": "stable"}, "interval": "2s",
                                         **registry_secrets(env, registry)})
    before = env.wait_ready(KIND, name)
    moved = pusher.push(repo, "stable", {"a.yaml": "a: 2\n"})  # no requestedAt
    after = env.wait_moved_by_interval(KIND, before)
    assert after["status"]["artifact"]["revision"] == f"stable@{moved}"
    assert env.members(after["status"]["artifact"]) == {"a.yaml": b"a: 2\n"}


@pytest.mark.flux_fields("OCIRepository", "spec.timeout")
def test_a_hung_registry_fails_within_the_timeout(env: SourceEnv) -> None:
    server = SilentServer()
    try:
        name = env.create(KIND, obj_name(), {"url": f"oci://127.0.0.1:{server.port}/app",
                                             "ref": {"tag": "v1"}, "timeout": "2s"})
        obj = env.wait_failed(KIND, name, "OCIArtifactPullFailed", timeout=30)
        message = env.condition(obj, "Ready")["message"]
        assert "did not answer within 2s" in message, message
    finally:
        server.close()


@pytest.mark.flux_fields("OCIRepository", "spec.proxySecretRef.name")
def test_pulls_through_the_proxy_of_the_secret(
        env: SourceEnv, registry: Registry, pusher: Pusher) -> None:
    repo = repo_name()
    digest = pusher.push(repo, "v1", {"p.yaml": "p\n"})
    with TunnelProxy("proxy-user", "proxy-p@ss") as proxy:
        env.secret("oci-proxy", {"address": proxy.address, "username": "proxy-user",
                                 "password": "proxy-p@ss"})
        name = env.create(KIND, obj_name(), {"url": f"oci://{registry.host}/{repo}",
                                             "ref": {"tag": "v1"},
                                             "proxySecretRef": {"name": "oci-proxy"},
                                             **registry_secrets(env, registry)})
        obj = env.wait_ready(KIND, name, f"v1@{digest}")
        assert env.members(obj["status"]["artifact"]) == {"p.yaml": b"p\n"}
        assert proxy.seen and set(proxy.seen) == {registry.host}, proxy.seen
        # a proxy that refuses the credentials: the pull fails, through the proxy
        env.secret("oci-proxy-wrong", {"address": proxy.address, "username": "proxy-user",
                                       "password": "wrong"})
        env.patch_spec(KIND, name, {"proxySecretRef": {"name": "oci-proxy-wrong"}})
        obj = env.wait_failed(KIND, name, "OCIArtifactPullFailed")
        assert obj["status"]["artifact"]["revision"] == f"v1@{digest}"


def test_a_cloud_provider_is_refused_with_what_to_use(
        env: SourceEnv, registry: Registry) -> None:
    """afflux has no cloud registry login (ECR, ACR, GAR): `spec.provider` other than
    generic stalls and says what to use instead of pulling without credentials."""
    name = env.create(KIND, obj_name(), {"url": f"oci://{registry.host}/any",
                                         "ref": {"tag": "v1"}, "provider": "aws"})
    obj = env.wait_failed(KIND, name, "OCIArtifactPullFailed", stalled=True)
    message = env.condition(obj, "Ready")["message"]
    assert "spec.provider 'aws'" in message and "generic" in message, message
