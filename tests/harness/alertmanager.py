"""`alertmanager` (session fixture): a real Prometheus Alertmanager (Debian's
`prometheus-alertmanager`, installed by hack/install-deps.sh) on a free loopback port, with
clustering off and a route to a receiver that sends nowhere, so alerts posted to it stay
listed by its API.

    alertmanager.url("/api/v2/alerts")    # where a Provider of type alertmanager posts
    alertmanager.alerts()                 # what GET /api/v2/alerts lists now
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afflux.cli.devenv import free_port

from .daemon import Daemon

__all__ = ["Alertmanager", "alertmanager"]

BINARY = "prometheus-alertmanager"
CONFIG = """\
route:
  receiver: nowhere
  group_wait: 1h
receivers:
  - name: nowhere
"""


class Alertmanager:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which(BINARY)
        if binary is None:
            raise RuntimeError(f"{BINARY} not found: run hack/install-deps.sh (Debian package "
                               "prometheus-alertmanager)")
        self.directory = directory
        self.port = free_port()
        (directory / "alertmanager.yml").write_text(CONFIG)
        self.daemon = Daemon("alertmanager", [
            binary, f"--config.file={directory / 'alertmanager.yml'}",
            f"--storage.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=", "--log.level=warn"], directory / "alertmanager.log")

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v2/alerts"))

    def start(self) -> Alertmanager:
        self.daemon.start(lambda: self._get("/api/v2/status") is not None)
        return self

    def stop(self) -> None:
        self.daemon.stop()


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    server = Alertmanager(tmp_path_factory.mktemp("alertmanager")).start()
    try:
        yield server
    finally:
        server.stop()
