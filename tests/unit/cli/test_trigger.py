"""`trigger receiver` (against a loopback webhook server) and `create secret receiver`'s
Secret, as flux makes and sends them."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
from collections.abc import Iterator

import pytest

from afflux.cli import main
from afflux.cli._build import BuildError
from afflux.cli._buildsecrets import receiver_secret
from afflux.cli._triggerfmt import is_retryable, trigger_request, validate_trigger

HOOK = "/hook/" + hashlib.sha256(b"s3cretweb" + b"apps").hexdigest()


def test_trigger_request_per_type() -> None:
    url, headers = trigger_request("web", "apps", "https://h/base/", "generic", "s3cret", b"{}")
    assert url == f"https://h/base{HOOK}" and "X-Signature" not in headers
    _, headers = trigger_request("web", "apps", "https://h", "generic-hmac", "s3cret", b"{}")
    assert headers["X-Signature"] == "sha256=" + hmac.new(b"s3cret", b"{}",
                                                          hashlib.sha256).hexdigest()
    url, headers = trigger_request("web", "apps", "https://h", "generic-oidc", None, b"{}",
                                   "jwt")
    assert url.endswith(hashlib.sha256(b"webapps").hexdigest())
    assert headers["Authorization"] == "Bearer jwt"
    assert is_retryable(404) and is_retryable(503) and not is_retryable(401)


@pytest.mark.parametrize(("args", "message"), [
    (("github", "t", None, None, None), 'invalid --type "github"'),
    (("generic", None, None, None, None), "--token is required for --type=generic"),
    (("generic", "t", "github", None, None), "can only be set for --type=generic-oidc"),
    (("generic-oidc", "t", None, None, None), "--token must not be set"),
    (("generic-oidc", None, "github", "x", None), "mutually exclusive"),
    (("generic-oidc", None, "gitlab", None, None), 'invalid --oidc-provider "gitlab"'),
    (("generic-oidc", None, None, "x", "aud"), "--oidc-audience can only be set together"),
])
def test_validate_trigger(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_trigger(*args)


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append((self.path, dict(self.headers), body))
            self.send_response(404 if len(seen) == 1 else 200)  # not served yet, then ok
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_trigger_receiver_retries_then_succeeds(
        webhook: tuple[str, list], capsys: pytest.CaptureFixture[str]) -> None:
    url, seen = webhook
    code = main(["trigger", "receiver", "web", "-n", "apps", "--url", url, "--token", "s3cret",
                 "--type", "generic-hmac", "--payload", '{"image":"a:v1"}',
                 "--retry-delay", "0s"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert [s[0] for s in seen] == [HOOK, HOOK]
    assert seen[1][2] == b'{"image":"a:v1"}'
    assert seen[1][1]["X-Signature"] == "sha256=" + hmac.new(
        b"s3cret", b'{"image":"a:v1"}', hashlib.sha256).hexdigest()
    assert "retrying" in err and "Receiver apps/web triggered" in err


def test_receiver_secret() -> None:
    doc = receiver_secret("web", "apps", type_="github", token="s3cret", hostname="flux.io")
    assert doc == {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "annotations": {"notification.toolkit.fluxcd.io/webhook": f"https://flux.io{HOOK}"},
        "name": "web", "namespace": "apps"}, "stringData": {"token": "s3cret"}}
    gcr = receiver_secret("web", "apps", type_="gcr", token="s3cret", hostname="flux.io",
                          email_claim="sa@p.iam")
    assert gcr["stringData"] == {"audience": f"https://flux.io{HOOK}", "email": "sa@p.iam",
                                 "token": "s3cret"}
    with pytest.raises(BuildError, match="--email-claim is required for gcr"):
        receiver_secret("web", "apps", type_="gcr", token="t", hostname="h")
    with pytest.raises(BuildError, match="--hostname is required"):
        receiver_secret("web", "apps", type_="github", token="t", hostname="")
