"""`SigV4Relay`: a TCP relay on loopback in front of a plain-HTTP S3 server that notes the
credential scope of every SigV4-signed request passing through it.

The bytes go through unchanged (the Host header too, so the server checks the signature
the client made for the relay's address); from the client's side only the scope
`<date>/<region>/<service>/aws4_request` of each `Authorization: AWS4-HMAC-SHA256
Credential=<key>/<scope>, ...` header is kept, never the key, the signature or the rest
of the header.

    with SigV4Relay("127.0.0.1", s3.port) as relay:
        relay.host                    # 127.0.0.1:<port>, the endpoint to give the client
        ...
        assert "eu-west-3" in relay.regions()
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from typing import Any

__all__ = ["SigV4Relay"]

_SCOPE = re.compile(
    rb"Authorization: AWS4-HMAC-SHA256 Credential=[^/\s,]+/"
    rb"(?P<date>\d{8})/(?P<region>[^/\s,]+)/(?P<service>[^/\s,]+)/aws4_request",
    re.IGNORECASE,
)


class SigV4Relay:
    """Relays loopback TCP connections to `upstream_host:upstream_port`, keeping the
    credential scopes (date, region, service) of the signed requests in `scopes`."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.scopes: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def clear(self) -> None:
        with self._lock:
            self.scopes.clear()

    def regions(self) -> set[str]:
        with self._lock:
            return {region for _, region, _ in self.scopes}

    def __enter__(self) -> SigV4Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            client.close()
            return
        back = threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True)
        back.start()
        self._pipe(client, upstream, True)
        back.join(30)
        client.close()
        upstream.close()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        tail = b""  # the end of the previous chunk, so a header split across reads is seen
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if record:
                    window = tail + data
                    found = [(m["date"].decode(), m["region"].decode(), m["service"].decode())
                             for m in _SCOPE.finditer(window)
                             if m.end() > len(tail)]
                    with self._lock:
                        self.scopes.extend(found)
                    tail = window[-256:]
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
