"""Unpacked source artifacts, shared by the Kustomizations that build from them.

Many Kustomizations usually build paths of one GitRepository. Downloading and unpacking
its artifact for each of them, at each interval, costs time proportional to the size of
the whole repository for every app in it. `ArtifactCache` keeps the last unpacked
artifacts on disk, keyed by their digest (`status.artifact.digest`, which names the bytes
exactly): the first reconcile of a revision downloads the tarball, checks its digest,
unpacks it safely (`runtime._tarball.safe_extract`) and publishes the directory with an
atomic rename; the other reconciles of that revision only take a lease on it.

A lease (`Checkout`) keeps its directory from being evicted until it is released; the
cache keeps at most `keep` directories that nobody holds, dropping the least recently
used first. The directories are read-only by convention: `_build.build` copies what it
needs to a private scratch directory before it writes anything. An artifact without a
digest (written by an old source-controller) is unpacked into a private directory that its
release removes.

A download that fails in a way that may pass (no connection, a timeout, 429 or a 5xx but 501)
is tried again up to `retries` times (kustomize-controller's `--http-retry`, default 9) with
Flux's backoff, each retry logged (`runtime._httpretry`); a 404 or another 4xx fails at once.
Failures are `GenericError(ArtifactFailed)`: the download, a digest that does not match
(nothing unverified is unpacked), an archive that is not safe to unpack, and one that is too
big: the download and the unpacked content are each bounded by `max_bytes`, the members by
`max_files` (kustomize-controller's `--artifact-max-size`/`--artifact-max-files`).

The cache lives in a directory `afflux-artifacts-*` of the temp dir, removed when the
process ends. Its process holds an exclusive lock (flock) on the directory's `.owner` file
for as long as it lives, so a directory left by a process that was killed (`kill -9` runs no
clean-up) is one whose lock can be taken: `remove_leftovers()` removes those at the next
start, whatever the PIDs (a restarted container's process is PID 1 again).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import fcntl
import logging
import os
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from afflux.api import new_hash
from afflux.api._meta import ARTIFACT_FAILED
from afflux.controllers.runtime import (
    DEFAULT_HTTP_RETRIES,
    HTTP_RETRY_MAX_WAIT,
    HTTP_RETRY_MIN_WAIT,
    GenericError,
    UnsafeArchiveError,
    safe_extract,
    with_retries,
)

__all__ = ["MAX_BYTES", "MAX_FILES", "ArtifactCache", "Checkout", "Fetch", "remove_leftovers",
           "verify_digest"]

#: Downloads an artifact URL into the given binary file; returns nothing (errors raise).
Fetch = Callable[[str, Any, float], Awaitable[None]]

#: Default bounds of one artifact: 100 MiB of content (downloaded, and unpacked), 100,000 files.
MAX_BYTES = 100 << 20
MAX_FILES = 100_000
_PREFIX = "afflux-artifacts-"
_log = logging.getLogger("afflux.kustomize-controller")
_OWNER = ".owner"


class _Bounded:
    """A file that refuses writes beyond `limit` bytes (a download that would not end)."""

    def __init__(self, into: Any, limit: int) -> None:
        self._into = into
        self._limit = limit
        self.written = 0

    def write(self, data: bytes) -> int:
        self.written += len(data)
        if self.written > self._limit:
            raise GenericError(ARTIFACT_FAILED, f"the artifact is larger than the limit of "
                               f"{self._limit} bytes (--artifact-max-size)")
        return int(self._into.write(data))


def remove_leftovers(tmp: str | os.PathLike[str] | None = None, *,
                     grace: float = 60.0) -> list[Path]:
    """Remove the cache directories whose process is gone (module docstring); returns them.
    One without an `.owner` file (being created, or left by an older version) is removed
    only once it is older than `grace` seconds."""
    removed = []
    for path in Path(tmp or tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        if path.is_symlink() or not path.is_dir():
            continue
        owner = path / _OWNER
        try:
            fd = os.open(owner, os.O_RDWR | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            try:
                old = time.time() - path.stat().st_mtime > grace
            except OSError:
                continue
            if not old:
                continue
        except OSError:
            continue
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its process is alive
            finally:
                os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _hold(root: Path) -> int:
    """Create `root/.owner` and hold an exclusive lock on it until the process ends."""
    fd = os.open(root / _OWNER, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                 | getattr(os, "O_CLOEXEC", 0), 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


_CHUNK = 1 << 16
_DIGEST = re.compile(r"^(sha256|sha384|sha512|blake3|sha1):([0-9a-f]{32,128})$")


def verify_digest(into: Any, expected: str | None) -> None:
    """Check the bytes of the file `into` against `algorithm:hex` (sha256, sha384, sha512,
    blake3: whichever source-controller's `--artifact-digest-algo` chose; nothing to check
    without one); GenericError(ArtifactFailed) on a mismatch or an unknown algorithm."""
    if not expected:
        return
    algorithm, _, want = expected.partition(":")
    try:
        digest = new_hash(algorithm)
    except ValueError:
        raise GenericError(ARTIFACT_FAILED, f"artifact digest '{expected}' uses an unknown "
                           "algorithm") from None
    into.seek(0)
    while chunk := into.read(_CHUNK):
        digest.update(chunk)
    if digest.hexdigest() != want:
        raise GenericError(ARTIFACT_FAILED, f"failed to verify artifact: computed digest "
                           f"{algorithm}:{digest.hexdigest()} does not match the advertised "
                           f"{expected}")


@dataclasses.dataclass
class _Entry:
    path: Path
    users: int = 0


@dataclasses.dataclass
class Checkout:
    """A lease on one unpacked artifact: `path` stays until `release()`."""

    path: Path
    _release: Callable[[], None]
    _released: bool = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._release()


class ArtifactCache:
    """The last `keep` unpacked artifacts, by digest (module docstring)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, keep: int = 8,
                 on_download: Callable[[], None] | None = None, max_bytes: int = MAX_BYTES,
                 max_files: int = MAX_FILES, retries: int = DEFAULT_HTTP_RETRIES,
                 retry_wait: tuple[float, float] = (HTTP_RETRY_MIN_WAIT, HTTP_RETRY_MAX_WAIT)
                 ) -> None:
        self.retries = retries
        self.retry_wait = retry_wait
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._given_root = Path(root) if root is not None else None
        self._root: Path | None = None
        self.keep = keep
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.downloads = 0  # how many artifacts were fetched (for tests and benchmarks)
        self._on_download = on_download

    @property
    def root(self) -> Path:
        if self._root is None:
            if self._given_root is not None:
                self._given_root.mkdir(parents=True, exist_ok=True)
                self._root = Path(tempfile.mkdtemp(prefix="artifacts-", dir=self._given_root))
            else:
                self._root = Path(tempfile.mkdtemp(prefix=_PREFIX))
                self._owner_fd = _hold(self._root)
            weakref.finalize(self, shutil.rmtree, str(self._root), True)
        return self._root

    def cached(self) -> list[str]:
        """The digests unpacked now, least recently used first."""
        return list(self._entries)

    def holds(self, digest: str | None) -> bool:
        """Whether a checkout of `digest` now would find it unpacked (no download)."""
        match = _DIGEST.match(digest or "")
        if match is None:
            return False
        entry = self._entries.get(f"{match[1]}-{match[2]}")
        return entry is not None and entry.path.is_dir()

    async def checkout(self, url: str, digest: str | None, fetch: Fetch,
                       timeout: float) -> Checkout:
        """A lease on the artifact at `url` unpacked (downloaded and checked only when the
        cache does not hold `digest` yet)."""
        match = _DIGEST.match(digest or "")
        if match is None:
            path = await self._unpack(url, digest, fetch, timeout)
            return Checkout(path, lambda: shutil.rmtree(path, ignore_errors=True))
        key = f"{match[1]}-{match[2]}"
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)
            if entry is None or not entry.path.is_dir():
                path = await self._unpack(url, digest, fetch, timeout)
                final = self.root / key
                await asyncio.to_thread(shutil.rmtree, final, True)
                os.rename(path, final)
                entry = _Entry(final)
                self._entries[key] = entry
            self._entries.move_to_end(key)
            entry.users += 1
        self._evict()
        return Checkout(entry.path, lambda: self._release(key, entry))

    def _release(self, key: str, entry: _Entry) -> None:
        entry.users -= 1
        self._evict()

    def _evict(self) -> None:
        idle = [k for k, e in self._entries.items() if e.users == 0]
        for key in idle[:max(0, len(self._entries) - self.keep)]:
            entry = self._entries.pop(key)
            lock = self._locks.get(key)
            if lock is not None and not lock.locked():
                del self._locks[key]
            shutil.rmtree(entry.path, ignore_errors=True)

    async def _unpack(self, url: str, digest: str | None, fetch: Fetch,
                      timeout: float) -> Path:
        self.downloads += 1
        if self._on_download is not None:
            self._on_download()
        with tempfile.SpooledTemporaryFile(max_size=16 << 20) as into:
            async def attempt() -> None:
                into.seek(0)
                into.truncate()  # what a failed try wrote
                await fetch(url, _Bounded(into, self.max_bytes), timeout)

            def retrying(retry: int, wait: float, err: BaseException) -> None:
                _log.warning("artifact download failed, retrying",
                             extra={"url": url, "retry": retry, "of": self.retries,
                                    "wait": wait, "error": str(err) or type(err).__name__})

            try:
                await with_retries(attempt, self.retries, on_retry=retrying,
                                   minimum=self.retry_wait[0], maximum=self.retry_wait[1])
            except GenericError:
                raise
            except Exception as err:  # noqa: BLE001 - any download failure is ArtifactFailed
                raise GenericError(ARTIFACT_FAILED, f"failed to download artifact from {url}: "
                                   f"{err or type(err).__name__}") from None
            verify_digest(into, digest)
            into.seek(0)
            path = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.root))
            try:
                await asyncio.to_thread(safe_extract, into, path, max_bytes=self.max_bytes,
                                        max_files=self.max_files)
            except UnsafeArchiveError as err:
                shutil.rmtree(path, ignore_errors=True)
                raise GenericError(ARTIFACT_FAILED,
                                   f"cannot unpack the artifact: {err}") from None
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
        return path
