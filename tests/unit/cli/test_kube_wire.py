"""What the CLI's kube client puts on the wire, seen by a loopback HTTP server: gzip asked
for (and decoded) unless `--disable-compression` (then `identity`), and every request paced by the rate
limiter of `--kube-api-qps` / `--kube-api-burst`. The global flags reach the client from
any place on the command line."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from afflux.cli._context import Context
from afflux.cli._kube import request_headers
from afflux.cli._main import parse_args

BODY = {"major": "1", "minor": "34", "padding": "x" * 2000}


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        data = json.dumps(BODY).encode()
        gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
        if gzipped:
            data = gzip.compress(data)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "loop",
        "clusters": [{"name": "loop", "cluster": {
            "server": f"http://127.0.0.1:{httpd.server_address[1]}"}}],
        "contexts": [{"name": "loop", "context": {"cluster": "loop", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    try:
        yield kubeconfig, seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("compression", "expected"),
    [
        pytest.param(True, {"Accept": "application/json", "Accept-Encoding": "gzip"},
                     id="gzip-by-default"),
        pytest.param(False, {"Accept": "application/json", "Accept-Encoding": "identity"},
                     id="disable-compression"),
    ],
)
def test_request_headers(compression: bool, expected: dict[str, str]) -> None:
    assert request_headers(compression=compression) == expected


@pytest.mark.parametrize(
    ("flags", "encoding"),
    [
        pytest.param([], "gzip", id="default-asks-for-gzip"),
        pytest.param(["--disable-compression"], "identity", id="disable-compression"),
        pytest.param(["--disable-compression=true"], "identity",
                     id="disable-compression-true"),
        pytest.param(["--disable-compression=false"], "gzip", id="disable-compression-false"),
    ],
)
def test_compression_on_the_wire(server: tuple[Path, list[dict[str, str]]],
                                 flags: list[str], encoding: str) -> None:
    kubeconfig, seen = server
    args = parse_args(["--kubeconfig", str(kubeconfig), *flags, "get", "ks"])
    assert Context.from_args(args).kube.server_version() == BODY  # gzip decoded
    assert seen[-1].get("accept-encoding") == encoding


def test_rate_limit_flags_pace_the_requests(server: tuple[Path, list[dict[str, str]]]) -> None:
    kubeconfig, seen = server
    args = parse_args(["get", "ks", "--kubeconfig", str(kubeconfig), "--kube-api-qps=20",
                       "--kube-api-burst", "2", "--cache-dir", "/nonexistent/cache"])
    kube = Context.from_args(args).kube
    limiter = kube._limiter  # noqa: SLF001 - the bucket the flags made
    assert limiter is not None and (limiter.qps, limiter.burst) == (20.0, 2)
    slept: list[float] = []  # a clock that stands still: the waits are the bucket's alone
    limiter._clock, limiter._last, limiter._sleep = (lambda: 0.0), 0.0, slept.append  # noqa: SLF001
    for _ in range(4):
        kube.server_version()
    assert len(seen) == 4
    assert slept == pytest.approx([0.05, 0.1])  # the burst of 2 at once, then 1/20 s apart
    assert not Path("/nonexistent/cache").exists()


def test_defaults_are_fluxs_and_negative_qps_is_unlimited(
        server: tuple[Path, list[dict[str, str]]]) -> None:
    kubeconfig, _ = server
    kube = Context.from_args(parse_args(["--kubeconfig", str(kubeconfig), "get", "ks"])).kube
    assert (kube._limiter.qps, kube._limiter.burst) == (50.0, 300)  # noqa: SLF001
    kube = Context.from_args(parse_args(["--kubeconfig", str(kubeconfig), "get", "ks",
                                         "--kube-api-qps=-1"])).kube
    assert kube._limiter is None  # noqa: SLF001


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("HTTPSConnectionPool(host='127.1', port=6443): Max retries exceeded with "
                     "url: /version (Caused by SSLError(SSLCertVerificationError(1, \"[SSL: "
                     "CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
                     "certificate is not valid for '127.1'. (_ssl.c:1006)\")))",
                     "TLS certificate verify failed: Hostname mismatch, certificate is not "
                     "valid for '127.1'", id="hostname-mismatch"),
        pytest.param("Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, "
                     "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                     "self-signed certificate in certificate chain')))",
                     "TLS certificate verify failed: self-signed certificate in certificate "
                     "chain", id="no-ssl-c-suffix"),
        pytest.param("[Errno 111] Connection refused", "connection refused", id="refused"),
    ],
)
def test_short_connection_errors(text: str, expected: str) -> None:
    from afflux.cli._kube import _short

    assert _short(OSError(text)) == expected
