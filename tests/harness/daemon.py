"""`Daemon`: a server binary the harness runs for a session (Alertmanager, nats-server):
started in its own session with its output in a log file, waited for with `eventually`
(failing with the log's tail if it exits), terminated at the end."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from .wait import eventually

__all__ = ["Daemon"]


class Daemon:
    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready: Callable[[], bool], timeout: float = 30) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

        def check() -> bool:
            assert self.proc is not None and self.proc.poll() is None, (
                f"{self.name} exited:\n{self.log.read_text(errors='replace')[-2000:]}")
            return ready()
        eventually(check, timeout, message=f"{self.name} ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
