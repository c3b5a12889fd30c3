"""`HTTPSink`: a loopback HTTP server that records every request it gets, for tests of
what notification-controller sends (Providers) and of anything else that POSTs.

    with HTTPSink() as sink:
        url = sink.url("/hooks/a")          # answered 200 by default
        sink.answer("/fail", 400)            # this path answers 400
        sink.answer("/echo", 401, echo=True) # ... and quotes the request's headers
        ...
        [req] = eventually(lambda: sink.requests("/hooks/a"))
        req.json()["message"], req.headers["X-Signature"]
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass
from typing import Any, Self

from afflux.cli.devenv import free_port

__all__ = ["HTTPSink", "Recorded", "Serving"]


class Serving:
    """A `ThreadingHTTPServer` on a free loopback port, served from a thread between
    `__enter__` and `__exit__` (the base of the harness's small HTTP servers)."""

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        self.port = free_port()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HTTPSink(Serving):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._answers: dict[str, int] = {}
        self._echo: set[str] = set()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with sink._lock:
                    sink._requests.append(Recorded(self.command, self.path,
                                                   dict(self.headers.items()), body))
                    status = sink._answers.get(self.path.split("?", 1)[0], 200)
                    echo = self.path.split("?", 1)[0] in sink._echo
                # a service that quotes the request's headers in its answer
                data = "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode() \
                    if echo else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = _record  # noqa: N815 - http.server's naming

            def log_message(self, *_: Any) -> None:
                pass

        super().__init__(Handler)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, status: int, *, echo: bool = False) -> None:
        """Answer `status` on `path` (with `echo`: the request's headers as the body)."""
        with self._lock:
            self._answers[path] = status
            if echo:
                self._echo.add(path)

    def requests(self, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self._requests
                    if path is None or r.path.split("?", 1)[0] == path]
