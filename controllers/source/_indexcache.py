"""The in-memory cache of parsed Helm repository indexes HelmCharts read (Flux's
`--helm-cache-max-size`, `--helm-cache-ttl`, `--helm-cache-purge-interval`).

A HelmChart built from a HelmRepository reads the repository's stored index artifact and
parses it; with many HelmCharts on one large index, that parse dominates. `IndexCache`
keeps the parsed index under the key Flux uses, the index artifact's stored file (whose
name carries the index revision), together with the artifact's digest, so a new revision
or a rewritten file is a new entry and an old one is never served for it:

- `max_size` entries at most; 0 (Flux's default) disables the cache: `get` misses, `set`
  stores nothing. When full, expired entries are dropped first; if none is, the new index
  is not cached (Flux logs "cache full" and reads the file), and `set` says so;
- an entry lives `ttl` seconds after it was stored or last read (a hit renews it);
- expired entries are dropped at most every `purge_interval` seconds, on the next use,
  and any expired entry is a miss whenever it is looked up; no task of its own runs;
- `hits`, `misses` and `full` count what happened (the reconciler also publishes hits and
  misses as Flux's `gotk_cache_events_total{event_type="hit"|"miss"}`).

Thread-safe (HelmChart reconciles read indexes in worker threads); I/O-free: the clock
is injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["DEFAULT_CACHE_PURGE_INTERVAL", "DEFAULT_CACHE_TTL", "IndexCache"]

V = TypeVar("V")

#: Flux's defaults: `--helm-cache-ttl=15m`, `--helm-cache-purge-interval=1m`
DEFAULT_CACHE_TTL = 900.0
DEFAULT_CACHE_PURGE_INTERVAL = 60.0


class IndexCache(Generic[V]):
    """See the module docstring. Keys are (stored file, digest) pairs."""

    def __init__(self, max_size: int = 0, ttl: float = DEFAULT_CACHE_TTL,
                 purge_interval: float = DEFAULT_CACHE_PURGE_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_size < 0:
            raise ValueError("the cache size must not be negative")
        self.max_size = max_size
        self.ttl = ttl
        self.purge_interval = purge_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[V, float]] = {}
        self._last_purge = clock()
        self.hits = self.misses = self.full = 0

    @property
    def enabled(self) -> bool:
        return self.max_size > 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, path: str, digest: str) -> V | None:
        """The index stored for this file and digest, unless absent or expired."""
        if not self.enabled:
            self.misses += 1
            return None
        with self._lock:
            now = self._clock()
            self._maybe_purge(now)
            entry = self._entries.get((path, digest))
            if entry is None or entry[1] <= now:
                self._entries.pop((path, digest), None)
                self.misses += 1
                return None
            self._entries[(path, digest)] = (entry[0], now + self.ttl)
            self.hits += 1
            return entry[0]

    def set(self, path: str, digest: str, value: V) -> bool:
        """Cache `value`; False when disabled or full (nothing is stored then)."""
        if not self.enabled:
            return False
        with self._lock:
            now = self._clock()
            self._maybe_purge(now)
            key = (path, digest)
            if key not in self._entries and len(self._entries) >= self.max_size:
                self._purge(now)
                if len(self._entries) >= self.max_size:
                    self.full += 1
                    return False
            self._entries[key] = (value, now + self.ttl)
            return True

    def purge(self) -> int:
        """Drop the expired entries now; how many went."""
        with self._lock:
            return self._purge(self._clock())

    def _maybe_purge(self, now: float) -> None:
        if now - self._last_purge >= self.purge_interval:
            self._purge(now)

    def _purge(self, now: float) -> int:
        self._last_purge = now
        expired = [k for k, (_, until) in self._entries.items() if until <= now]
        for key in expired:
            del self._entries[key]
        return len(expired)
