"""The last builds, so that a no-change reconcile does not run `kustomize build` again.

A build is a pure function of the artifact's bytes (named exactly by its digest), the
Kustomization's spec, and the decryption keys, unless it fetched remote bases: those can
change under the same key, so the caller never puts such a build here (`_build.BuildResult`
`.remote`; `_reconcile_build.build_phase`), and it runs every time.
`BuildCache` keeps the objects of recent builds under a key made of those three
(`build_key`), as compact JSON compressed by zlib at its fastest level (inflated and parsed
back by the C JSON parser at a fraction of a build's cost, in a fraction of the JSON's
memory), least recently used first out beyond `max_bytes` of compressed builds in all
(kustomize-controller's `--build-cache-size`, default 64 MiB; 0 turns it off). Every hit is
a fresh copy: the phases after the build may change the objects they get.

What is not in the key is not cached: postBuild substitution (its ConfigMaps and Secrets
are read every run) runs after the build, on the copy.
"""

from __future__ import annotations

import collections
import hashlib
import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DEFAULT_SIZE", "BuildCache", "build_key"]

DEFAULT_SIZE = 64 << 20


def build_key(digest: str | None, spec: Mapping[str, Any],
              keys: Any | None) -> str | None:
    """The cache key of a build, None when the artifact has no digest (nothing names its
    bytes exactly, so nothing is cached)."""
    if not digest:
        return None
    h = hashlib.sha256()
    h.update(digest.encode())
    h.update(b"\0")
    h.update(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode())
    h.update(b"\0")
    h.update(repr(keys).encode())  # a frozen dataclass of the key material: a stable repr
    return h.hexdigest()


class BuildCache:
    """Objects of recent builds by `build_key` (module docstring)."""

    def __init__(self, max_bytes: int = DEFAULT_SIZE, *,
                 on_hit: Callable[[], None] | None = None,
                 on_miss: Callable[[], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self._on_hit = on_hit
        self._on_miss = on_miss
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: collections.OrderedDict[str, bytes] = collections.OrderedDict()

    def get(self, key: str | None) -> list[dict[str, Any]] | None:
        if key is None or self.max_bytes <= 0:
            return None
        raw = self._entries.get(key)
        if raw is None:
            self.misses += 1
            if self._on_miss is not None:
                self._on_miss()
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        if self._on_hit is not None:
            self._on_hit()
        objects: list[dict[str, Any]] = json.loads(zlib.decompress(raw))
        return objects

    def put(self, key: str | None, objects: list[dict[str, Any]]) -> None:
        if key is None or self.max_bytes <= 0:
            return
        raw = zlib.compress(
            json.dumps(objects, separators=(",", ":"), ensure_ascii=False).encode(), 1)
        if len(raw) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old)
        self._entries[key] = raw
        self.bytes += len(raw)
        while self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= len(evicted)

    def __len__(self) -> int:
        return len(self._entries)
