"""The artifact server over real HTTP on loopback: exact bytes, headers, no escapes."""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from afflux.api import Artifact
from afflux.controllers.source._server import ArtifactServer
from afflux.controllers.source._storage import Storage

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Storage, ArtifactServer, Path]]:
    root = tmp_path / "storage"
    storage = Storage(root, "localhost")
    (tmp_path / "secret.txt").write_bytes(b"TOP SECRET")
    with ArtifactServer(root, host="127.0.0.1", port=0) as server:
        yield storage, server, tmp_path


def request(
    server: ArtifactServer, method: str, raw_path: str
) -> tuple[int, dict[str, str], bytes]:
    """Send the path exactly as given (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest(method, raw_path, skip_accept_encoding=True)
        conn.putheader("Accept-Encoding", "gzip")
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def store_archive(storage: Storage, src: Path) -> Artifact:
    (src / "apps").mkdir(parents=True)
    (src / "apps" / "deploy.yaml").write_bytes(os.urandom(300_000))  # incompressible, > 1 chunk
    artifact = storage.new_artifact(
        "GitRepository", "default", "app", "main@sha1:" + "a" * 40, "a.tar.gz"
    )
    return storage.archive(artifact, src)


def test_get_serves_exactly_the_stored_bytes(served: tuple[Storage, ArtifactServer, Path]) -> None:
    storage, server, tmp = served
    artifact = store_archive(storage, tmp / "src")
    status, headers, body = request(server, "GET", "/" + artifact.path)
    assert status == 200
    assert "sha256:" + hashlib.sha256(body).hexdigest() == artifact.digest
    assert int(headers["content-length"]) == artifact.size == len(body)
    assert headers["content-type"] == "application/gzip"
    assert "content-encoding" not in headers


def test_head_has_headers_and_no_body(served: tuple[Storage, ArtifactServer, Path]) -> None:
    storage, server, tmp = served
    artifact = store_archive(storage, tmp / "src")
    status, headers, body = request(server, "HEAD", "/" + artifact.path)
    assert (status, body) == (200, b"")
    assert int(headers["content-length"]) == artifact.size
    assert "last-modified" in headers


def test_latest_link_is_served(served: tuple[Storage, ArtifactServer, Path]) -> None:
    storage, server, tmp = served
    artifact = store_archive(storage, tmp / "src")
    url = storage.symlink(artifact)
    status, _, body = request(server, "GET", "/" + url.split("/", 3)[3])
    assert status == 200
    assert "sha256:" + hashlib.sha256(body).hexdigest() == artifact.digest


def test_index_yaml_content_type(served: tuple[Storage, ArtifactServer, Path]) -> None:
    storage, server, _ = served
    artifact = storage.write_bytes(
        storage.new_artifact("HelmRepository", "default", "repo", "sha256:1", "index.yaml"),
        b"apiVersion: v1\n",
    )
    status, headers, body = request(server, "GET", "/" + artifact.path)
    assert (status, body, headers["content-type"]) == (200, b"apiVersion: v1\n", "application/yaml")


REFUSED = [
    ("dotdot", "/../secret.txt"),
    ("dotdot-inside", "/gitrepository/../../secret.txt"),
    ("encoded-dotdot", "/%2e%2e/secret.txt"),
    ("encoded-slash-dotdot", "/gitrepository%2f..%2f..%2fsecret.txt"),
    ("double-slash-absolute", "//etc/passwd"),
    ("backslash", "/..\\secret.txt"),
    ("nul", "/gitrepository%00"),
    ("symlink-escape", "/gitrepository/default/app/escape.txt"),
    ("directory", "/gitrepository/default/app"),
    ("hidden-temp-file", "/gitrepository/default/app/.tmp-partial"),
    ("missing", "/gitrepository/default/app/missing.tar.gz"),
    ("root", "/"),
]


@pytest.mark.parametrize("raw_path", [p for _, p in REFUSED], ids=[i for i, _ in REFUSED])
def test_refuses_paths_outside_or_unservable(
    served: tuple[Storage, ArtifactServer, Path], raw_path: str
) -> None:
    storage, server, tmp = served
    artifact = store_archive(storage, tmp / "src")
    app_dir = storage.local_path(artifact).parent
    (app_dir / "escape.txt").symlink_to(tmp / "secret.txt")
    (app_dir / ".tmp-partial").write_bytes(b"half")
    status, _, body = request(server, "GET", raw_path)
    assert status == 404
    assert b"TOP SECRET" not in body and b"half" not in body


def test_other_methods_are_not_allowed(served: tuple[Storage, ArtifactServer, Path]) -> None:
    storage, server, tmp = served
    artifact = store_archive(storage, tmp / "src")
    status, _, _ = request(server, "DELETE", "/" + artifact.path)
    assert status == 405
    assert storage.exists(artifact)
