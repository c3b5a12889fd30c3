"""An artifact server on loopback that answers an error a given number of times before it
serves: what the download retries (`--http-retry`) of kustomize- and helm-controller meet
when source-controller is restarting or overloaded. It plays source-controller's artifact
server, with real HTTP over a real socket; it fakes nothing else.

`FlakyArtifactServer.serve(path, body, failures=N, status=503)` publishes `body` at `path`,
answered `status` the first N times; `requests(path)` says how many GETs came.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["FlakyArtifactServer", "flaky_artifact_server"]


@dataclass
class _Route:
    body: bytes
    failures: int
    status: int
    requests: int = 0


class FlakyArtifactServer:
    """See the module docstring; use `flaky_artifact_server()` to run one."""

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        routes, lock = self._routes, self._lock

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                with lock:
                    route = routes.get(self.path)
                    if route is not None:
                        route.requests += 1
                        failing = route.requests <= route.failures
                if route is None:
                    self._answer(404, b"not found\n")
                elif failing:
                    self._answer(route.status, b"try again later\n")
                else:
                    self._answer(200, route.body)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, path: str, body: bytes, *, failures: int = 0, status: int = 503) -> str:
        """Publish `body` at `path` (answered `status` `failures` times first); its URL."""
        with self._lock:
            self._routes[path] = _Route(body, failures, status)
        return self.url + path

    def requests(self, path: str) -> int:
        with self._lock:
            route = self._routes.get(path)
            return route.requests if route is not None else 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def flaky_artifact_server() -> Iterator[FlakyArtifactServer]:
    server = FlakyArtifactServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
