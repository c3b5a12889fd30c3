"""Artifact storage: the directory source-controller writes artifacts into and serves.

Layout (FLUX-API §0): `<root>/<kind-lower>/<namespace>/<name>/<file>`, e.g.
`gitrepository/flux-system/podinfo/3f1c...e9.tar.gz`; the artifact's `path` is the part
after the root and its `url` is `http://<advertised address>/<path>`.

- Writes are atomic: the content goes to a hidden temporary file (`.tmp-*`) in the
  object's directory, is fsynced, and is renamed over the final name, so a reader (the
  HTTP server, a consumer) sees the old file or the new one, never half of one. The
  digest (`<algorithm>:<hex>`, with the `digest_algorithm` of `--artifact-digest-algo`:
  sha256, the default, sha384, sha512 or blake3) and the size are computed while writing,
  in one pass. `verify` checks a stored file with the algorithm its artifact's digest
  names, so artifacts written before the flag changed stay valid.
- `latest.tar.gz` (or `index.yaml` for a HelmRepository's legacy `status.url`) is a
  *symlink* next to the artifact, pointing at it by file name; it is replaced
  atomically (a temporary link renamed over it). The server follows it because it
  stays inside the root; a copy would double the disk usage for nothing.
- Garbage collection keeps, per object, the current artifact and the newest
  `retention_records - 1` others, and deletes the rest once they are older than
  `retention_ttl` seconds (a consumer may still be downloading an older one); leftover
  temporary files older than the TTL go too. Flux's defaults: 2 records, 60s.
- Deleting an object removes its whole directory.
- `lock(kind, namespace, name)` serialises the operations on one object between threads
  (reconciles of different objects run in parallel); one operator process owns the
  storage directory (leader election guarantees it), so no cross-process lock is used.

All methods do blocking file I/O: call them from a worker thread
(`asyncio.to_thread`) when on the event loop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from afflux.api import ARTIFACT_DIGEST_ALGORITHMS, Artifact, new_hash, parse_digest

from ._archive import ArchiveError, write_archive
from ._ignore import Matcher

__all__ = [
    "DEFAULT_RETENTION_RECORDS",
    "DEFAULT_RETENTION_TTL",
    "HashingWriter",
    "Storage",
    "StorageError",
    "rfc3339",
]

DEFAULT_RETENTION_RECORDS = 2
DEFAULT_RETENTION_TTL = 60.0
CHUNK = 1 << 20
TEMP_PREFIX = ".tmp-"
_SEGMENT = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class StorageError(Exception):
    """A storage operation failed; the message names the file and the cause."""


def rfc3339(timestamp: float) -> str:
    """`2024-05-01T12:00:00Z` for a POSIX timestamp (seconds precision, UTC)."""
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HashingWriter:
    """A binary writer that passes bytes on and keeps their digest and count."""

    def __init__(self, out: BinaryIO, algorithm: str = "sha256") -> None:
        self._out = out
        self._algorithm = algorithm
        self._hash = new_hash(algorithm)
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        self._out.write(data)
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    @property
    def digest(self) -> str:
        return f"{self._algorithm}:{self._hash.hexdigest()}"


def _check_segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not _SEGMENT.match(value) or ".." in value:
        raise StorageError(f"invalid {what} {value!r} for an artifact path")
    return value


class Storage:
    """The artifact directory `root`, advertised to consumers as `http://<address>/`."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        advertised_address: str,
        *,
        retention_records: int = DEFAULT_RETENTION_RECORDS,
        retention_ttl: float = DEFAULT_RETENTION_TTL,
        digest_algorithm: str = "sha256",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention_records < 1:
            raise ValueError("retention_records must be at least 1 (the current artifact)")
        if digest_algorithm not in ARTIFACT_DIGEST_ALGORITHMS:
            raise ValueError(f"unsupported artifact digest algorithm {digest_algorithm!r}: "
                             "expected one of " + ", ".join(ARTIFACT_DIGEST_ALGORITHMS))
        self.digest_algorithm = digest_algorithm
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.advertised_address = advertised_address.rstrip("/")
        self.retention_records = retention_records
        self.retention_ttl = retention_ttl
        self._clock = clock
        self._locks: dict[tuple[str, str, str], threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # --- names ------------------------------------------------------------------------

    def object_path(self, kind: str, namespace: str, name: str) -> str:
        """`<kind-lower>/<namespace>/<name>` (validated: no `/`, `..` or odd characters)."""
        kind_lower = _check_segment(kind.lower(), "kind")
        return f"{kind_lower}/{_check_segment(namespace, 'namespace')}/{_check_segment(name, 'name')}"

    def new_artifact(
        self,
        kind: str,
        namespace: str,
        name: str,
        revision: str,
        filename: str,
        metadata: dict[str, str] | None = None,
    ) -> Artifact:
        """An artifact record for `filename` of the object (nothing is written yet)."""
        if not _FILENAME.match(filename) or filename.startswith(TEMP_PREFIX):
            raise StorageError(f"invalid artifact file name {filename!r}")
        path = f"{self.object_path(kind, namespace, name)}/{filename}"
        return Artifact(
            path=path,
            url=self.url_for(path),
            revision=revision,
            last_update_time=rfc3339(self._clock()),
            metadata=metadata,
        )

    def url_for(self, path: str) -> str:
        return f"http://{self.advertised_address}/{path.lstrip('/')}"

    def local_path(self, artifact: Artifact | str) -> Path:
        """The file of an artifact (or of a storage-relative path), checked to be in the root."""
        rel = artifact if isinstance(artifact, str) else artifact.path
        parts = [p for p in rel.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts) or rel.startswith("/"):
            raise StorageError(f"invalid artifact path {rel!r}")
        return self.root.joinpath(*parts)

    # --- locking ----------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, kind: str, namespace: str, name: str) -> Iterator[None]:
        """Hold the object's lock (re-entrant within a thread)."""
        key = (kind.lower(), namespace, name)
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.RLock())
        with lock:
            yield

    @contextlib.contextmanager
    def lock_artifact(self, artifact: Artifact) -> Iterator[None]:
        kind, namespace, name = artifact.path.split("/")[:3]
        with self.lock(kind, namespace, name):
            yield

    # --- writing ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _atomic(self, artifact: Artifact) -> Iterator[HashingWriter]:
        target = self.local_path(artifact)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}-{target.name}"
        try:
            with open(tmp, "xb") as raw:
                writer = HashingWriter(raw, self.digest_algorithm)
                yield writer
                raw.flush()
                os.fsync(raw.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def _finish(self, artifact: Artifact, writer: HashingWriter) -> Artifact:
        return dataclasses.replace(
            artifact,
            digest=writer.digest,
            size=writer.size,
            last_update_time=rfc3339(self._clock()),
        )

    def archive(
        self, artifact: Artifact, directory: str | os.PathLike[str], matcher: Matcher | None = None
    ) -> Artifact:
        """Write the deterministic tar.gz of `directory` (see `_archive`) as the artifact's
        file; return the artifact with digest, size and lastUpdateTime set."""
        try:
            with self._atomic(artifact) as writer:
                write_archive(directory, writer, matcher)  # type: ignore[arg-type]
        except ArchiveError as err:
            raise StorageError(f"failed to archive {os.fspath(directory)!r}: {err}") from err
        except OSError as err:
            raise StorageError(f"failed to write artifact {artifact.path!r}: {err}") from err
        return self._finish(artifact, writer)

    def write_stream(self, artifact: Artifact, reader: BinaryIO) -> Artifact:
        """Copy `reader` to the end into the artifact's file (chunked, atomic)."""
        try:
            with self._atomic(artifact) as writer:
                while chunk := reader.read(CHUNK):
                    writer.write(chunk)
        except OSError as err:
            raise StorageError(f"failed to write artifact {artifact.path!r}: {err}") from err
        return self._finish(artifact, writer)

    def write_bytes(self, artifact: Artifact, data: bytes) -> Artifact:
        try:
            with self._atomic(artifact) as writer:
                writer.write(data)
        except OSError as err:
            raise StorageError(f"failed to write artifact {artifact.path!r}: {err}") from err
        return self._finish(artifact, writer)

    def copy_file(self, artifact: Artifact, source: str | os.PathLike[str]) -> Artifact:
        """Copy the file `source` into the artifact's file."""
        try:
            with open(source, "rb") as reader:
                return self.write_stream(artifact, reader)
        except FileNotFoundError as err:
            raise StorageError(f"cannot store {os.fspath(source)!r}: it does not exist") from err

    def symlink(self, artifact: Artifact, link_name: str = "latest.tar.gz") -> str:
        """Point `<object dir>/<link_name>` at the artifact (atomically); return its URL."""
        if not _FILENAME.match(link_name) or link_name.startswith(TEMP_PREFIX):
            raise StorageError(f"invalid link name {link_name!r}")
        target = self.local_path(artifact)
        if not target.is_file():
            raise StorageError(f"cannot link to {artifact.path!r}: the artifact is not stored")
        link = target.parent / link_name
        if link == target:
            raise StorageError(f"the link {link_name!r} would replace the artifact itself")
        tmp = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}-{link_name}"
        try:
            os.symlink(target.name, tmp)
            os.replace(tmp, link)
        except OSError as err:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise StorageError(f"failed to link {link_name!r} to {artifact.path!r}: {err}") from err
        rel = artifact.path.rsplit("/", 1)[0] + "/" + link_name
        return self.url_for(rel)

    # --- reading ----------------------------------------------------------------------

    def exists(self, artifact: Artifact) -> bool:
        """Whether the artifact's file is stored (a regular file, not a link)."""
        try:
            return self.local_path(artifact).is_file() and not self.local_path(artifact).is_symlink()
        except StorageError:
            return False

    def digest_of(self, artifact: Artifact, algorithm: str | None = None) -> str:
        """The digest of the stored file: with `algorithm`, else the one the artifact's
        digest names, else `digest_algorithm`."""
        if algorithm is None:
            try:
                algorithm = parse_digest(artifact.digest)[0] if artifact.digest else None
            except ValueError:
                algorithm = None
        algorithm = algorithm or self.digest_algorithm
        h = new_hash(algorithm)
        try:
            with open(self.local_path(artifact), "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except FileNotFoundError as err:
            raise StorageError(f"artifact {artifact.path!r} is not in storage") from err
        return f"{algorithm}:{h.hexdigest()}"

    def verify(self, artifact: Artifact) -> bool:
        """Whether the stored file's digest is the artifact's recorded digest."""
        if not artifact.digest:
            return False
        try:
            return self.digest_of(artifact) == artifact.digest
        except StorageError:
            return False

    # --- cleaning ---------------------------------------------------------------------

    def garbage_collect(self, artifact: Artifact) -> list[str]:
        """Delete old files of the artifact's object (see the module docstring); return the
        storage paths deleted. Links (`latest.tar.gz`) are kept."""
        current = self.local_path(artifact)
        directory = current.parent
        if not directory.is_dir():
            return []
        now = self._clock()
        candidates: list[tuple[float, Path]] = []
        temps: list[tuple[float, Path]] = []
        for entry in os.scandir(directory):
            if entry.name == current.name or entry.is_symlink() or not entry.is_file():
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime
            (temps if entry.name.startswith(TEMP_PREFIX) else candidates).append(
                (mtime, Path(entry.path))
            )
        candidates.sort(key=lambda item: (item[0], item[1].name), reverse=True)
        doomed = [
            path
            for mtime, path in candidates[self.retention_records - 1 :]
            if now - mtime > self.retention_ttl
        ]
        doomed += [path for mtime, path in temps if now - mtime > self.retention_ttl]
        removed = []
        for path in doomed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.relative_to(self.root).as_posix())
        self._remove_dangling_links(directory)
        return sorted(removed)

    @staticmethod
    def _remove_dangling_links(directory: Path) -> None:
        for entry in os.scandir(directory):
            if entry.is_symlink() and not os.path.exists(entry.path):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)

    def remove_object(self, kind: str, namespace: str, name: str) -> bool:
        """Delete everything stored for an object; True if there was something."""
        directory = self.root.joinpath(*self.object_path(kind, namespace, name).split("/"))
        if not directory.exists():
            return False
        shutil.rmtree(directory)
        return True

    def remove_all_except(self, artifact: Artifact) -> list[str]:
        """Delete every other file of the artifact's object, right away (no TTL)."""
        current = self.local_path(artifact)
        removed = []
        if current.parent.is_dir():
            for entry in os.scandir(current.parent):
                if entry.name != current.name and not entry.is_symlink() and entry.is_file():
                    os.unlink(entry.path)
                    removed.append(Path(entry.path).relative_to(self.root).as_posix())
            self._remove_dangling_links(current.parent)
        return sorted(removed)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
