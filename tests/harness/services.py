"""Local stand-ins for the SaaS services notification-controller's Providers talk to.

- `StrictService(kind, ca, expect)`: an HTTPS server on loopback (certificate from the test
  CA) that answers like service `kind` would, by the rules in `service_rules`: it accepts
  only the documented request and rejects anything else with the service's 4xx. Every
  request is kept, accepted or not, with why it was rejected, so a failing test says what
  was wrong with the payload. `rule=` serves another rule than `service_rules`'s for
  `kind` (e.g. a stateful stand-in of `forge_rules`). `client_ca=True` asks for a client certificate signed by the
  test CA (mTLS). Request bodies over 1 MiB are refused (413) without being read.

    with StrictService("slack", test_ca, Expect(token="t")) as slack:
        slack.url("/services/T1/B1/abc")
        [req] = eventually(lambda: slack.accepted)
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from afflux.cli.devenv import TestCA

from .service_rules import Expect, Rejected, Request, Rule, check
from .sink import Serving

__all__ = ["Seen", "StrictService"]

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Seen:
    request: Request
    status: int
    why: str = ""  # empty when accepted

    def json(self) -> Any:
        return json.loads(self.request.body)


class StrictService(Serving):
    def __init__(self, kind: str, ca: TestCA, expect: Expect | None = None, *,
                 client_ca: bool = False, rule: Rule | None = None) -> None:
        self.kind = kind
        self.rule = rule or partial(check, kind)
        self.expect = expect or Expect()
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._reply(413, {"error": "body too large"})
                    self.close_connection = True
                    return
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = Request(self.command, parts.path, parts.query, dict(self.headers.items()),
                              body)
                try:
                    answer = service.rule(req, service.expect)
                except Rejected as err:
                    service._keep(Seen(req, err.status, err.why))
                    self._reply(err.status, err.body)
                    return
                service._keep(Seen(req, answer.status))
                self._reply(answer.status, answer.body)

            def _reply(self, status: int, body: Any) -> None:
                data = b"" if body is None or status == 204 else (
                    body.encode() if isinstance(body, str) else json.dumps(body).encode())
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle  # noqa: N815 - http.server's naming

            def log_message(self, *_: Any) -> None:
                pass

        pair = ca.issue_server(f"{kind}-service")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(pair.cert), str(pair.key))
        if client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cafile=str(ca.ca_cert))
        super().__init__(Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)

    def _keep(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def url(self, path: str = "/") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    @property
    def accepted(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if not s.why]

    @property
    def rejected(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.why]
