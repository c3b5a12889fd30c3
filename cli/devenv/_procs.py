"""Child processes of the local environment: start with a log file, wait until ready, stop.

A `ManagedProcess` runs in its own session (process group), writes stdout and stderr to
a log file, and `stop()` ends it and everything it spawned: the group first, then any
descendant that left the group (sshd's per-connection children call setsid). A server
that exits or does not become ready raises `ServerStartError` carrying its own log.
Processes that are still running when the interpreter exits are stopped by an atexit
hook, so an aborted test run leaves nothing behind; a `persistent` process is left out of
that hook (`afflux dev up` starts servers that outlive the command), and another process
stops it later by its pid with `stop_pid`.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

#: How much of a log an error message carries.
LOG_TAIL_BYTES = 12_000


class DevEnvError(Exception):
    """A local server or tool could not do what was asked."""


class ServerStartError(DevEnvError):
    """A server did not start; the message ends with the server's own log output."""

    def __init__(self, server: str, reason: str, log: str = "") -> None:
        self.server = server
        self.reason = reason
        self.log = log
        text = f"{server}: {reason}"
        if log.strip():
            text += f"\n--- {server} log ---\n{log.rstrip()}\n--- end of {server} log ---"
        super().__init__(text)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def address_in_use(log: str) -> bool:
    """Whether a server's log says its listening address was taken."""
    return "address already in use" in log.lower()


def tail(text: str, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """The end of `text`, cut at a line start, marked when cut."""
    if len(text) <= max_bytes:
        return text
    cut = text[-max_bytes:]
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]
    return "[... earlier lines cut ...]\n" + cut


class ManagedProcess:
    """One child process with a log file; see the module docstring."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        persistent: bool = False,
    ) -> None:
        self.name = name
        #: Left running when this interpreter exits (not stopped by the atexit hook).
        self.persistent = persistent
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.alive():
            raise DevEnvError(f"{self.name} is already running (pid {self.pid})")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            header = f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(self.argv)}\n"
            log.write(header.encode())
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as err:
                raise ServerStartError(self.name, f"cannot run {self.argv[0]}: {err}") from err
        if not self.persistent:
            _register(self)

    def log_text(self, max_bytes: int = LOG_TAIL_BYTES) -> str:
        """This run's log output (the last `max_bytes` of it)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                data = log.read()
        except OSError:
            return ""
        return tail(data.decode(errors="replace"), max_bytes)

    def wait_until(
        self, check: Callable[[], bool], what: str, timeout: float = 30.0, interval: float = 0.05
    ) -> None:
        """Poll `check` until true; fail with the log if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                code = self.returncode
                self.stop()
                raise ServerStartError(
                    self.name, f"exited with status {code} before {what}", self.log_text()
                )
            try:
                if check():
                    return
            except Exception:  # noqa: BLE001 - a failing probe means "not yet"
                pass
            if time.monotonic() >= deadline:
                log = self.log_text()
                self.stop()
                raise ServerStartError(self.name, f"not {what} after {timeout:.0f}s", log)
            time.sleep(interval)
            interval = min(interval * 1.5, 0.5)

    def stop(self, timeout: float = 10.0) -> None:
        """End the process, its group and its descendants; idempotent."""
        proc = self._proc
        if proc is None:
            return
        pids = _descendants(proc.pid)
        _signal_all(proc.pid, pids, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left after the grace period (the process or its children) is killed.
        pids = [p for p in pids + _descendants(proc.pid) if _exists(p)]
        if proc.poll() is None or pids:
            _signal_all(proc.pid, pids, signal.SIGKILL)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        _unregister(self)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie counts as gone)."""
    return pid > 0 and _exists(pid)


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """Stop a process started elsewhere (a persistent `ManagedProcess` of an earlier run),
    its process group and its descendants: SIGTERM, then SIGKILL after `timeout`. Returns
    whether it was running. Only for pids this environment recorded itself."""
    if not pid_alive(pid):
        return False
    pids = _descendants(pid)
    _signal_all(pid, pids, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (pid_alive(pid) or any(_exists(p) for p in pids)):
        _reap(pid)
        time.sleep(0.05)
    left = [p for p in [pid, *pids, *_descendants(pid)] if _exists(p)]
    if left:
        _signal_all(pid, left, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_exists(p) for p in left):
            _reap(pid)
            time.sleep(0.05)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collect `pid`'s exit status if it is our child (else nothing)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _signal_all(leader: int, pids: Sequence[int], sig: signal.Signals) -> None:
    try:
        os.killpg(leader, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie exists until reaped; it holds no resources, so it counts as gone.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True


def parent_map(proc_dir: Path = Path("/proc")) -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc (empty without /proc)."""
    parents: dict[int, int] = {}
    try:
        entries = list(proc_dir.iterdir())
    except OSError:
        return parents
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
        except OSError:
            continue
        ppid = parse_ppid(stat)
        if ppid is not None:
            parents[int(entry.name)] = ppid
    return parents


def parse_ppid(stat: bytes) -> int | None:
    """The parent pid field of a /proc/<pid>/stat line (the command may hold spaces)."""
    fields = stat.rsplit(b")", 1)[-1].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def descendants_of(root: int, parents: Mapping[int, int]) -> list[int]:
    """Every pid below `root` in a pid -> parent map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


def _descendants(pid: int) -> list[int]:
    return descendants_of(pid, parent_map())


_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def _register(proc: ManagedProcess) -> None:
    with _live_lock:
        _live.add(proc)


def _unregister(proc: ManagedProcess) -> None:
    with _live_lock:
        _live.discard(proc)


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        proc.stop(timeout=3.0)


class ProcessServer:
    """What every devenv server built on one `ManagedProcess` shares: stop, context
    manager, `running` and `pid`. Subclasses set `self._proc` in `start()`."""

    _proc: ManagedProcess | None = None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()
            self._proc = None

    def __enter__(self) -> Self:
        return self.start()  # type: ignore[attr-defined, no-any-return]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.alive()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None
