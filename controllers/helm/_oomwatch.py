"""helm-controller's OOM watch (`--feature-gates=OOMWatch=true`, Flux's): when the memory the
controller's cgroup uses reaches `--oom-watch-memory-threshold` percent (default 95) of its
limit, the controller stops gracefully before the kernel kills it, so that the helm actions
in progress are cancelled (their releases recorded `failed`) instead of being left
`pending-*`; its Deployment then restarts it.

As Flux's: the limit (`--oom-watch-max-memory-path`) is read once at start and the usage
(`--oom-watch-current-memory-path`) every `--oom-watch-interval` (default 500ms); a usage
that cannot be read is logged and skipped. Without paths, cgroup v2's
`/sys/fs/cgroup/memory.max` and `memory.current`, else (no cgroup v2 usage file) cgroup
v1's `memory.limit_in_bytes` and `memory.usage_in_bytes`. A threshold outside 1..100, a
usage file that is not there or a limit that is not a number (`max`: no limit set) stop
the controller at start with a message naming the flag to change. The paths are the
administrator's flags, never an object's; each read is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["OOMWatch", "OOMWatchError", "MemoryPaths", "memory_paths", "near_oom", "read_bytes"]

_log = logging.getLogger("afflux.helm-controller.oomwatch")

OOM_WATCH_GATE = "OOMWatch"
V2_MAX = "/sys/fs/cgroup/memory.max"
V2_CURRENT = "/sys/fs/cgroup/memory.current"
V1_MAX = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
V1_CURRENT = "/sys/fs/cgroup/memory/memory.usage_in_bytes"
_MAX_READ = 64  # a number of bytes, in decimal, and a newline


class OOMWatchError(Exception):
    """The OOM watch cannot run with these flags (the message says which to change)."""


@dataclass(frozen=True)
class MemoryPaths:
    max_path: str
    current_path: str


def memory_paths(max_path: str, current_path: str,
                 exists: Callable[[str], bool] = os.path.exists) -> MemoryPaths:
    """The files to read: the flags' where given, else cgroup v2's when its usage file
    exists, else cgroup v1's."""
    v2 = exists(V2_CURRENT)
    return MemoryPaths(max_path or (V2_MAX if v2 else V1_MAX),
                       current_path or (V2_CURRENT if v2 else V1_CURRENT))


def read_bytes(path: str) -> int:
    """The number of bytes the cgroup file `path` holds; ValueError for `max` or other
    text, OSError when it cannot be read."""
    with open(path, "rb") as f:
        text = f.read(_MAX_READ).decode("ascii", errors="replace").strip()
    if not text.isdigit():
        raise ValueError(f"{path} holds {text[:20]!r}, not a number of bytes")
    return int(text)


def near_oom(current: int, limit: int, threshold: float) -> bool:
    """Whether `current` bytes are at least `threshold` percent of `limit`. Pure."""
    return limit > 0 and current * 100 >= threshold * limit


class OOMWatch:
    """Reads the usage every `interval` seconds; at the threshold calls `on_near_oom(why)`
    once (helm-controller: `Operator.graceful_stop`)."""

    def __init__(self, paths: MemoryPaths, threshold: float, interval: float,
                 on_near_oom: Callable[[str], None],
                 read: Callable[[str], int] = read_bytes) -> None:
        if not 1 <= threshold <= 100:
            raise OOMWatchError("--oom-watch-memory-threshold must be between 1 and 100, got "
                                f"{threshold:g}")
        if interval <= 0:
            raise OOMWatchError(f"--oom-watch-interval must be positive, got {interval:g}s")
        if not os.path.exists(paths.current_path):
            raise OOMWatchError(f"the memory usage file {paths.current_path} does not exist: "
                                "set --oom-watch-current-memory-path")
        try:
            self.limit = read(paths.max_path)
        except (OSError, ValueError) as err:
            raise OOMWatchError(f"cannot read the memory limit ({err}): set a memory limit on "
                                "the container, or --oom-watch-max-memory-path") from None
        if self.limit <= 0:
            raise OOMWatchError(f"the memory limit in {paths.max_path} is 0")
        self.paths = paths
        self.threshold = threshold
        self.interval = interval
        self.on_near_oom = on_near_oom
        self._read = read

    def check(self) -> bool:
        """One look at the usage: True (and `on_near_oom` called) at the threshold."""
        try:
            current = self._read(self.paths.current_path)
        except (OSError, ValueError) as err:
            _log.warning("cannot read the memory usage, skipping this check: %s", err)
            return False
        if not near_oom(current, self.limit, self.threshold):
            return False
        why = (f"memory usage is near OOM ({current}/{self.limit} bytes, "
               f"threshold {self.threshold:g}%)")
        _log.warning("%s: stopping gracefully", why,
                     extra={"current": current, "limit": self.limit})
        self.on_near_oom(why)
        return True

    async def run(self) -> None:
        """Check every interval until the threshold is reached, then wait for the stop (the
        operator supervises this task: it never returns)."""
        _log.info("watching memory usage", extra={
            "limit": self.limit, "threshold": self.threshold, "interval": self.interval,
            "currentPath": self.paths.current_path, "maxPath": self.paths.max_path})
        while True:
            await asyncio.sleep(self.interval)
            if self.check():
                break
        await asyncio.Event().wait()
