"""`nats` (session fixture): a real NATS server (Debian's `nats-server`, installed by
hack/install-deps.sh) on a free loopback port, with three users: `flux` (a password, may
publish only on `flux.>`), an NKey user (may publish anywhere), and `reader` (subscribes).
`subscribe(subject)` starts a subscriber (its own small protocol client: INFO, CONNECT,
SUB, then MSG frames) whose `messages` fill as they arrive.

    with nats.subscribe("flux.events") as sub:
        ...                                  # a nats Provider publishes
        eventually(lambda: sub.messages)
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest

from afflux.cli.devenv import TestCA, free_port
from afflux.cli.devenv._ca import CertPair
from afflux.controllers.notification._nats import _crc16, parse_seed

from .daemon import Daemon

__all__ = ["NatsServer", "Subscriber", "nats", "nats_tls", "user_seed"]

BINARY = "nats-server"


def user_seed() -> str:
    """A new user NKey seed (`SU...`): prefix bytes, 32 random bytes, CRC-16 (little end)."""
    user = 20 << 3
    raw = bytes([(18 << 3) | (user >> 5), (user & 31) << 3]) + secrets.token_bytes(32)
    return base64.b32encode(raw + _crc16(raw).to_bytes(2, "little")).decode().rstrip("=")


class Subscriber:
    """A subscriber on one subject, reading in a thread until closed."""

    def __init__(self, port: int, subject: str, user: str, password: str,
                 ca_file: Path | None = None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._file = self._sock.makefile("rb")
        info = self._file.readline()
        assert info.startswith(b"INFO "), info
        if ca_file is not None:  # the server requires TLS: upgrade after INFO
            context = ssl.create_default_context(cafile=str(ca_file))
            self._sock = context.wrap_socket(self._sock, server_hostname="127.0.0.1")
            self._file = self._sock.makefile("rb")
        connect = json.dumps({"verbose": False, "user": user, "pass": password})
        self._sock.sendall(f"CONNECT {connect}\r\nSUB {subject} 1\r\nPING\r\n".encode())
        assert self._file.readline().strip() == b"PONG"  # subscribed
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while line := self._file.readline():
                if line.startswith(b"PING"):
                    self._sock.sendall(b"PONG\r\n")
                elif line.startswith(b"MSG "):
                    fields = line.split()
                    body = self._file.read(int(fields[-1]) + 2)[:-2]
                    self.messages.append((fields[1].decode(), body))
        except (OSError, ValueError):
            pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: Any) -> None:
        self._sock.close()


class NatsServer:
    """`tls` (a certificate pair of the test CA) makes the server require TLS."""

    def __init__(self, directory: Path, tls: CertPair | None = None,
                 ca_file: Path | None = None) -> None:
        binary = shutil.which(BINARY) or (f"/usr/sbin/{BINARY}"
                                          if os.path.exists(f"/usr/sbin/{BINARY}") else None)
        if binary is None:
            raise RuntimeError(f"{BINARY} not found: run hack/install-deps.sh (Debian package "
                               "nats-server)")
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.reader_password = secrets.token_hex(12)
        self.seed = user_seed()
        self.ca_file = ca_file
        _, public = parse_seed(self.seed)
        config = directory / "nats.conf"
        tls_block = (f'tls {{\n  cert_file: "{tls.cert}"\n  key_file: "{tls.key}"\n}}\n'
                     if tls else "")
        config.write_text(f"""\
listen: 127.0.0.1:{self.port}
http: 0
{tls_block}authorization {{
  users = [
    {{user: flux, password: "{self.password}", permissions: {{publish: ["flux.>"]}}}}
    {{user: reader, password: "{self.reader_password}"}}
    {{nkey: {public}}}
  ]
}}
""")
        self.daemon = Daemon("nats-server", [binary, "-c", str(config)], directory / "nats.log")

    @property
    def address(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def subscribe(self, subject: str) -> Subscriber:
        return Subscriber(self.port, subject, "reader", self.reader_password, self.ca_file)

    def start(self) -> NatsServer:
        def ready() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                return sock.recv(5) == b"INFO "
        self.daemon.start(ready)
        return self

    def stop(self) -> None:
        self.daemon.stop()


@pytest.fixture(scope="session")
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_tls(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[NatsServer]:
    """A second server that requires TLS (its certificate from the test CA)."""
    directory = tmp_path_factory.mktemp("nats-tls")
    pair = test_ca.issue_server("nats-server", directory=directory)
    server = NatsServer(directory, tls=pair, ca_file=test_ca.ca_cert).start()
    try:
        yield server
    finally:
        server.stop()
