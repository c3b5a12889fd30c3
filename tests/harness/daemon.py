"""`Daemon`: a server binary the harness runs for a session (Alertmanager, nats-server,
Prometheus, Gitea), the one way they start and stop: in its own session (process group)
with its output appended to a log file, waited for with `eventually` until `ready()` holds
(failing at once with the log's tail if it exits first), and stopped with SIGTERM to its group,
SIGKILL after a grace period, and reaped.

    daemon = Daemon("prometheus", [binary, "--config.file=..."], directory / "prom.log")
    daemon.start(lambda: probe() == 200, timeout=30)
    ...
    daemon.stop()
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from .wait import eventually

__all__ = ["Daemon"]


class Daemon:
    def __init__(self, name: str, argv: list[str], log: Path, *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, tail: int = 2000) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.tail = tail  # how much of the log an early exit shows
        self._terminated = False
        self.proc: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, ready: Callable[[], bool], timeout: float = 30) -> None:
        """Spawn the daemon and wait until `ready()` holds."""
        self.spawn()
        self.wait(ready, timeout)

    def spawn(self) -> None:
        self._terminated = False
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.cwd, env=self.env,
                                         start_new_session=True)

    def wait(self, ready: Callable[[], bool], timeout: float = 30) -> None:
        """Until `ready()` holds; an `AssertionError` with the log's tail if the daemon
        exits first (at once) or is not ready in time."""
        try:
            eventually(lambda: not self.alive() or ready(), timeout,
                       message=f"{self.name} ready")
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- {self.name}'s log:\n{self.log_tail()}") from None
        if not self.alive():
            assert self.proc is not None
            raise AssertionError(f"{self.name} exited with {self.proc.returncode} before it "
                                 f"was ready:\n{self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-self.tail:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the daemon's process group (a crash: nothing runs on the way out)."""
        if self.alive():
            self._signal(signal.SIGKILL)
            assert self.proc is not None
            self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM to the daemon's process group, without waiting (`stop` waits, and sends
        no second SIGTERM); several daemons told at once shut down side by side."""
        if self.proc is not None and self.proc.poll() is None and not self._terminated:
            self._signal(signal.SIGTERM)
            self._terminated = True

    def stop(self, grace: float = 20) -> None:
        """SIGTERM to the daemon's process group (unless `terminate` sent it); SIGKILL if
        it is still there after `grace` seconds; reaped either way."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
