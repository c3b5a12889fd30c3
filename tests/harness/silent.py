"""`SilentServer`: a TCP server on loopback that accepts connections and never answers (a
hung Git server, registry or bucket), for tests of `spec.timeout`.

    server = SilentServer()
    try:
        url = f"http://127.0.0.1:{server.port}/repo.git"
        ...
    finally:
        server.close()
"""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["SilentServer"]


class SilentServer:
    """Accepts TCP connections and never answers (a hung server)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.conns.append(conn)

    def close(self) -> None:
        for conn in self.conns:
            conn.close()
        self.sock.close()
