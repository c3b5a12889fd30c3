"""The tag store: where image-reflector-controller keeps the tags it scanned.

Tags are not written to etcd (a repository can have thousands); the operator keeps them
in a directory of its own (`--storage-path`), one file per ImageRepository keyed by
`<namespace>/<name>` (so two repositories with different credentials never share a tag
list), and reports only a summary in `status.lastScanResult`. The store is a cache that a
scan rebuilds: after a restart the files are still there; if they are gone, the next scan
writes them again.

File layout::

    <root>/imagerepository/<namespace>/<name>/tags.json

    {"image": "<canonical image name>", "revision": "sha256:<hex>", "tags": ["1.0.0", ...]}

Writes are atomic (a temporary file in the same directory, fsync, rename), so a reader
sees the old list or the new one, never half of one. Tags keep the registry's order.

`scan_result()` and `latest_tags()` are pure: the `lastScanResult` status value and its
`latestTags` (the first 10 tags in descending byte order, as Flux shows them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "LATEST_TAGS_COUNT",
    "StoredTags",
    "TagStore",
    "TagStoreError",
    "latest_tags",
    "scan_result",
    "tags_revision",
]

#: How many tags `status.lastScanResult.latestTags` shows.
LATEST_TAGS_COUNT = 10

_KIND_DIR = "imagerepository"
_FILE = "tags.json"
# Kubernetes namespaces and names are DNS labels/subdomains: no '/', no '..' possible, but
# the store checks anyway since the key becomes a path.
_KEY_PART = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


class TagStoreError(OSError):
    """The store could not be read or written (reason ReadOperationFailed for a scan)."""


@dataclass(frozen=True)
class StoredTags:
    """What the store holds for one ImageRepository."""

    image: str
    revision: str
    tags: tuple[str, ...]


def tags_revision(tags: Sequence[str]) -> str:
    """A stable digest of a tag set: `sha256:` of the sorted, newline-joined tags."""
    digest = hashlib.sha256("\n".join(sorted(set(tags))).encode("utf-8")).hexdigest()
    return f"sha256:{digest}"


def latest_tags(tags: Sequence[str], count: int = LATEST_TAGS_COUNT) -> list[str]:
    """The `count` greatest tags in descending byte order (Python's code point order is
    the same as Go's byte order over UTF-8)."""
    return sorted(tags, reverse=True)[:count]


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scan_result(
    tags: Sequence[str], *, revision: str | None = None, scan_time: datetime | None = None
) -> dict[str, Any]:
    """`status.lastScanResult` for a scan that found `tags` (after the exclusion list):
    {revision, tagCount, scanTime, latestTags}; `latestTags` is left out when empty."""
    result: dict[str, Any] = {
        "revision": revision or tags_revision(tags),
        "tagCount": len(tags),
        "scanTime": _rfc3339(scan_time or datetime.now(UTC)),
    }
    latest = latest_tags(tags)
    if latest:
        result["latestTags"] = latest
    return result


class TagStore:
    """Tag lists on disk under `root`, keyed by (namespace, name) of the ImageRepository."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _dir(self, namespace: str, name: str) -> Path:
        for part in (namespace, name):
            if not _KEY_PART.fullmatch(part) or ".." in part:
                raise TagStoreError(f"invalid object key part {part!r}")
        return self.root / _KIND_DIR / namespace / name

    def path(self, namespace: str, name: str) -> Path:
        """The file that holds the tags of `namespace/name`."""
        return self._dir(namespace, name) / _FILE

    def set_tags(self, namespace: str, name: str, image: str, tags: Sequence[str]) -> str:
        """Store `tags` of `image` for `namespace/name` atomically; return their revision."""
        revision = tags_revision(tags)
        body = json.dumps(
            {"image": image, "revision": revision, "tags": list(tags)}, separators=(",", ":")
        )
        directory = self._dir(namespace, name)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tags-", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(body)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, directory / _FILE)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_dir(directory)
        except OSError as err:
            raise TagStoreError(f"failed to write tags of {namespace}/{name}: {err}") from err
        return revision

    def get(self, namespace: str, name: str) -> StoredTags | None:
        """What is stored for `namespace/name`, or None when nothing is."""
        path = self.path(namespace, name)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise TagStoreError(f"failed to read tags of {namespace}/{name}: {err}") from err
        try:
            doc = json.loads(raw)
            tags = doc["tags"]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ValueError("'tags' is not a list of strings")
            return StoredTags(
                image=str(doc.get("image", "")),
                revision=str(doc.get("revision") or tags_revision(tags)),
                tags=tuple(tags),
            )
        except (ValueError, KeyError, TypeError) as err:
            # A damaged cache entry is as good as none: the next scan rewrites it.
            raise TagStoreError(
                f"the stored tags of {namespace}/{name} are unreadable ({err}); "
                "they are rebuilt by the next scan"
            ) from err

    def tags(self, namespace: str, name: str, image: str | None = None) -> list[str] | None:
        """The stored tags, or None when there are none (or they belong to another image,
        when `image` is given: the ImageRepository was re-pointed since its last scan)."""
        stored = self.get(namespace, name)
        if stored is None or (image is not None and stored.image != image):
            return None
        return list(stored.tags)

    def delete(self, namespace: str, name: str) -> None:
        """Forget `namespace/name` (its ImageRepository was deleted)."""
        directory = self._dir(namespace, name)
        try:
            shutil.rmtree(directory)
        except FileNotFoundError:
            return
        except OSError as err:
            raise TagStoreError(f"failed to delete tags of {namespace}/{name}: {err}") from err


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
