"""The test OCI registry (distribution), exercised with oras-py over TLS with basic auth."""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import oras.client
import pytest
import requests

from afflux.cli.devenv import Registry, ServerStartError, TestCA

pytestmark = pytest.mark.integration


def _client(registry: Registry, tls_verify: bool | str | None = None) -> oras.client.OrasClient:
    verify = str(registry.ca_cert) if tls_verify is None else tls_verify
    return oras.client.OrasClient(hostname=registry.host, tls_verify=verify, auth_backend="basic")


def _login(client: oras.client.OrasClient, registry: Registry, password: str, tmp: Path) -> None:
    # config_path keeps oras from writing the user's ~/.docker/config.json
    client.login(
        username=registry.username,
        password=password,
        hostname=registry.host,
        config_path=str(tmp / "docker-config.json"),
    )


def test_oras_pushes_an_artifact_and_lists_its_tags(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # oras pushes files below the working directory only
    Path("manifests.yaml").write_text("kind: ConfigMap\n")
    client = _client(registry)
    _login(client, registry, registry.password, tmp_path)
    target = f"{registry.host}/afflux/manifests"

    for tag in ("v1.0.0", "v1.1.0"):
        resp = client.push(target=f"{target}:{tag}", files=["manifests.yaml"])
        assert resp.status_code == 201, resp.text

    assert sorted(client.get_tags(target)) == ["v1.0.0", "v1.1.0"]
    manifest = client.get_manifest(f"{target}:v1.1.0")
    assert manifest["layers"][0]["annotations"]["org.opencontainers.image.title"] == (
        "manifests.yaml"
    )
    pulled = client.pull(target=f"{target}:v1.1.0", outdir=str(tmp_path / "out"))
    assert [Path(p).read_text() for p in pulled] == ["kind: ConfigMap\n"]
    assert registry.url == f"https://{registry.host}"


def test_wrong_credentials_are_rejected(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.txt").write_text("a")
    client = _client(registry)
    _login(client, registry, "not-the-password", tmp_path)
    with pytest.raises(ValueError, match="(?i)401|unauthorized"):
        client.push(target=f"{registry.host}/afflux/denied:v1", files=["a.txt"])
    with pytest.raises(ValueError, match="(?i)401|unauthorized"):
        client.get_tags(f"{registry.host}/afflux/denied")

    anonymous = urllib.request.Request(f"{registry.url}/v2/_catalog")
    ctx = ssl.create_default_context(cafile=str(registry.ca_cert))
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(anonymous, context=ctx, timeout=10)
    assert denied.value.code == 401
    assert 'Basic realm="afflux-registry"' in denied.value.headers["WWW-Authenticate"]


def test_tls_is_verified_against_the_test_ca(registry: Registry, tmp_path: Path) -> None:
    stranger = TestCA(tmp_path / "other-ca", name="not trusted").start()
    for verify in (True, str(stranger.ca_cert)):  # the system CAs / another CA
        with pytest.raises(requests.exceptions.SSLError):
            _client(registry, tls_verify=verify).get_tags(f"{registry.host}/afflux/any")


def test_deletes_are_enabled(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.txt").write_text("a")
    client = _client(registry)
    _login(client, registry, registry.password, tmp_path)
    target = f"{registry.host}/afflux/deletable"
    client.push(target=f"{target}:v1", files=["a.txt"])
    assert client.delete_tag(target, "v1")
    assert client.get_tags(target) == []


def test_plain_http_registry_without_auth(tmp_path: Path) -> None:
    with Registry(tmp_path / "reg", tls=False, auth=False) as plain:
        assert plain.url == f"http://{plain.host}"
        with urllib.request.urlopen(f"{plain.url}/v2/_catalog", timeout=10) as resp:
            assert json.load(resp) == {"repositories": []}


def test_a_registry_that_cannot_start_reports_its_own_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerStartError) as failed:
            Registry(tmp_path / "reg", port=port).start()
    message = str(failed.value)
    assert "--- docker-registry log ---" in message
    assert "address already in use" in message
