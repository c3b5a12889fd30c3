"""Fetching a Helm repository index over real HTTP(S) on loopback: basic auth, the test
CA, client certificates, redirects that must not leak credentials, size limits."""

from __future__ import annotations

import base64
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from afflux.cli.devenv import TestCA
from afflux.controllers.source._helmindex import HelmIndexError, fetch_index, parse_index

pytestmark = pytest.mark.integration

INDEX = b"""apiVersion: v1
entries:
  podinfo:
  - name: podinfo
    version: 6.0.0
    urls: [podinfo-6.0.0.tgz]
  - name: podinfo
    version: 6.1.0
    urls: [podinfo-6.1.0.tgz]
"""
USER, PASSWORD = "helm", "s3cret"


class Repo(ThreadingHTTPServer):
    daemon_threads = True
    seen_auth: list[str | None]
    other: str = ""


class Handler(BaseHTTPRequestHandler):
    server: Repo

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.seen_auth.append(self.headers.get("Authorization"))
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.path == "/redirect/index.yaml":
            self.send_response(302)
            self.send_header("Location", self.server.other + "/public/index.yaml")
            self.end_headers()
            return
        if self.path == "/public/index.yaml":
            self._send(INDEX)
            return
        if self.path == "/big/index.yaml":
            self._send(b"#" * 5000)
            return
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="charts"')
            self.end_headers()
            return
        if self.path == "/charts/index.yaml":
            self._send(INDEX)
        else:
            self.send_response(404)
            self.end_headers()

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-yaml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(context: ssl.SSLContext | None = None) -> tuple[Repo, threading.Thread]:
    server = Repo(("127.0.0.1", 0), Handler)
    server.seen_auth = []
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def http_repo() -> Iterator[Repo]:
    server, thread = serve()
    yield server
    server.shutdown()
    thread.join(10)


@pytest.fixture
def https_repo(test_ca: TestCA, tmp_path: Path) -> Iterator[tuple[Repo, TestCA]]:
    cert, key = test_ca.issue_server("charts", hosts=["127.0.0.1"], directory=tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server, thread = serve(context)
    yield server, test_ca
    server.shutdown()
    thread.join(10)


def url(server: Repo, scheme: str = "http", path: str = "/charts") -> str:
    return f"{scheme}://127.0.0.1:{server.server_address[1]}{path}"


def test_basic_auth(http_repo: Repo) -> None:
    data = fetch_index(url(http_repo), username=USER, password=PASSWORD)
    assert parse_index(data).get("podinfo").version == "6.1.0"


def test_wrong_password(http_repo: Repo) -> None:
    with pytest.raises(HelmIndexError) as info:
        fetch_index(url(http_repo), username=USER, password="nope")
    assert info.value.reason == "AuthenticationFailed"
    assert "refused the credentials (HTTP 401)" in str(info.value)


def test_not_found(http_repo: Repo) -> None:
    with pytest.raises(HelmIndexError, match="HTTP 404") as info:
        fetch_index(url(http_repo, path="/missing"), username=USER, password=PASSWORD)
    assert info.value.reason == "IndexationFailed"


def test_https_with_ca(https_repo: tuple[Repo, TestCA]) -> None:
    server, ca = https_repo
    data = fetch_index(
        url(server, "https"),
        username=USER,
        password=PASSWORD,
        ca_cert=Path(ca.ca_cert).read_bytes(),
    )
    assert parse_index(data).digest == parse_index(INDEX).digest


def test_https_with_another_ca(https_repo: tuple[Repo, TestCA], tmp_path: Path) -> None:
    server, _ = https_repo
    other = TestCA(tmp_path / "other").start()
    with pytest.raises(HelmIndexError, match="TLS certificate not trusted") as info:
        fetch_index(url(server, "https"), ca_cert=Path(other.ca_cert).read_bytes())
    assert info.value.reason == "AuthenticationFailed"


def test_redirect_to_another_host_drops_credentials(http_repo: Repo) -> None:
    other, thread = serve()
    try:
        http_repo.other = f"http://localhost:{other.server_address[1]}"
        data = fetch_index(url(http_repo, path="/redirect"), username=USER, password=PASSWORD)
        assert data == INDEX
        assert other.seen_auth == [None]
        fetch_index(
            url(http_repo, path="/redirect"),
            username=USER,
            password=PASSWORD,
            pass_credentials=True,
        )
        assert other.seen_auth[-1] is not None
    finally:
        other.shutdown()
        thread.join(10)


def test_size_limit(http_repo: Repo) -> None:
    with pytest.raises(HelmIndexError, match="larger than the limit of 1000 bytes"):
        fetch_index(url(http_repo, path="/big"), max_size=1000)


def test_client_certificate(test_ca: TestCA, tmp_path: Path) -> None:
    cert, key = test_ca.issue_server("charts-mtls", hosts=["127.0.0.1"], directory=tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(test_ca.ca_cert))
    server, thread = serve(context)
    try:
        client_cert, client_key = test_ca.issue_client("helm-user", directory=tmp_path)
        ca = Path(test_ca.ca_cert).read_bytes()
        data = fetch_index(
            url(server, "https", "/public"),
            ca_cert=ca,
            cert=Path(client_cert).read_bytes(),
            key=Path(client_key).read_bytes(),
        )
        assert data == INDEX
        with pytest.raises(HelmIndexError):
            fetch_index(url(server, "https", "/public"), ca_cert=ca, timeout=10)
    finally:
        server.shutdown()
        thread.join(10)
