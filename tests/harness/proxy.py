"""`TunnelProxy`: a minimal HTTPS forward proxy on loopback (CONNECT tunnels only) with
basic proxy auth, for tests of `proxySecretRef`. `seen` lists the `host:port` of every
tunnel it opened; a request without the right `Proxy-Authorization` gets 407.

    with TunnelProxy("user", "pass") as proxy:
        proxy.address            # http://127.0.0.1:<port>
        ...
        assert proxy.seen == ["127.0.0.1:8443"]
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from base64 import b64encode
from typing import Any

__all__ = ["TunnelProxy"]


class TunnelProxy:
    """A minimal HTTPS proxy (CONNECT tunnels) with basic proxy auth that records the
    tunnels it opened."""

    def __init__(self, username: str, password: str) -> None:
        expected = "Basic " + b64encode(f"{username}:{password}".encode()).decode()
        seen = self.seen = []  # type: list[str]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_CONNECT(self) -> None:  # noqa: N802 - http.server's naming
                if self.headers.get("Proxy-Authorization") != expected:
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                host, _, port = self.path.rpartition(":")
                upstream = socket.create_connection((host, int(port)), timeout=30)
                seen.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.close_connection = True
                pipes = [threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                         for a, b in ((self.connection, upstream), (upstream, self.connection))]
                for t in pipes:
                    t.start()
                for t in pipes:
                    t.join()
                upstream.close()

            @staticmethod
            def _pipe(src: socket.socket, dst: socket.socket) -> None:
                with contextlib.suppress(OSError):
                    while data := src.recv(65536):
                        dst.sendall(data)
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TunnelProxy:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()
