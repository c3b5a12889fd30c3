"""The cache of parsed Helm indexes (`--helm-cache-max-size`, `--helm-cache-ttl`,
`--helm-cache-purge-interval`): the pure cache with a fake clock, then the HelmChart
reconciler's index loading over a real storage directory, counting the parses."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from afflux.controllers.runtime._options import parse_options
from afflux.controllers.source import _reconcile_helmchart
from afflux.controllers.source.__main__ import add_flags
from afflux.controllers.source._context import SourceContext
from afflux.controllers.source._helmindex import parse_index
from afflux.controllers.source._indexcache import IndexCache
from afflux.controllers.source._reconcile_helmchart import HelmChartReconciler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# (steps, expected results): each step is (op, key, advance seconds before it); "get"
# yields the value found (None: a miss), "set" whether it was stored; size 2, ttl 10,
# purge interval 5
CASES = [
    ("miss-then-hit", [("get", "a", 0), ("set", "a", 0), ("get", "a", 1)], [None, True, "a"]),
    ("expires-after-ttl", [("set", "a", 0), ("get", "a", 10)], [True, None]),
    ("a-hit-renews", [("set", "a", 0), ("get", "a", 8), ("get", "a", 8)], [True, "a", "a"]),
    ("full-keeps-the-old", [("set", "a", 0), ("set", "b", 0), ("set", "c", 0), ("get", "a", 0),
                            ("get", "c", 0)], [True, True, False, "a", None]),
    ("full-drops-expired-first", [("set", "a", 0), ("set", "b", 5), ("set", "c", 6),
                                  ("get", "b", 0)], [True, True, True, "b"]),
    ("other-digest-misses", [("set", "a", 0), ("get", "a@2", 0)], [True, None]),
]


@pytest.mark.parametrize(("steps", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_cache(steps: list[tuple[str, str, float]], expected: list[Any]) -> None:
    clock = Clock()
    cache: IndexCache[str] = IndexCache(2, ttl=10, purge_interval=5, clock=clock)
    results = []
    for op, key, advance in steps:
        clock.now += advance
        path, _, digest = key.partition("@")
        if op == "get":
            results.append(cache.get(path, digest or "1"))
        else:
            results.append(cache.set(path, digest or "1", path))
    assert results == expected


def test_size_zero_disables_the_cache() -> None:
    cache: IndexCache[str] = IndexCache(0)
    assert not cache.enabled
    assert cache.set("a", "1", "a") is False
    assert cache.get("a", "1") is None and len(cache) == 0


def test_expired_entries_are_purged_every_interval() -> None:
    clock = Clock()
    cache: IndexCache[str] = IndexCache(10, ttl=3, purge_interval=5, clock=clock)
    cache.set("a", "1", "a")
    cache.set("b", "1", "b")
    clock.now += 4  # both expired, but the purge interval has not passed
    cache.set("c", "1", "c")
    assert len(cache) == 3
    clock.now += 1  # the interval passed: the next use purges
    assert cache.get("c", "1") == "c" and len(cache) == 1
    assert cache.purge() == 0


# --- the HelmChart reconciler's loading ------------------------------------------------

INDEX = b"""apiVersion: v1
entries:
  app:
  - name: app
    version: 1.0.0
    urls: [app-1.0.0.tgz]
"""


def _context(tmp_path: Path, *argv: str) -> SourceContext:
    options = parse_options("source-controller",
                            [f"--storage-path={tmp_path / 'storage'}", *argv], add_flags)
    events: list[tuple[str, ...]] = []
    ctx = SourceContext.from_options(options)
    ctx.cache_event = lambda *labels: events.append(labels)
    ctx.events_seen = events  # type: ignore[attr-defined]
    return ctx


def _store_index(source: SourceContext, data: bytes, revision: str) -> Any:
    storage = source.storage
    artifact = storage.new_artifact("HelmRepository", "ns", "repo", revision,
                                    f"index-{revision[-6:]}.yaml")
    return storage.write_bytes(artifact, data)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []

    def counting(data: bytes | str, **kwargs: Any) -> Any:
        calls.append(len(data))
        return parse_index(data, **kwargs)

    monkeypatch.setattr(_reconcile_helmchart, "parse_index", counting)
    return calls


def _load(reconciler: HelmChartReconciler, artifact: Any, name: str = "chart") -> Any:
    ctx = SimpleNamespace(obj=SimpleNamespace(name=name, namespace="ns"),
                          logger=logging.getLogger("test"))
    return asyncio.run(reconciler._load_index(ctx, artifact, 5))  # type: ignore[arg-type]


def test_with_the_cache_an_index_is_parsed_once_per_revision(tmp_path: Path,
                                                             parses: list[int]) -> None:
    source = _context(tmp_path, "--helm-cache-max-size=10")
    reconciler = HelmChartReconciler(source)
    first = _store_index(source, INDEX, "sha256:" + "1" * 64)
    indexes = [_load(reconciler, first, f"chart-{i}") for i in range(5)]
    assert len(parses) == 1
    assert all(i is indexes[0] for i in indexes)
    assert indexes[0].get("app").version == "1.0.0"
    newer = _store_index(source, INDEX.replace(b"1.0.0", b"1.1.0"), "sha256:" + "2" * 64)
    assert _load(reconciler, newer).get("app").version == "1.1.0"
    assert _load(reconciler, newer).get("app").version == "1.1.0"
    assert len(parses) == 2
    events = source.events_seen  # type: ignore[attr-defined]
    assert [e[0] for e in events] == ["miss", "hit", "hit", "hit", "hit", "miss", "hit"]
    assert events[1] == ("hit", "chart-1", "ns")


def test_size_zero_parses_at_every_load(tmp_path: Path, parses: list[int]) -> None:
    source = _context(tmp_path)  # Flux's default: --helm-cache-max-size=0
    reconciler = HelmChartReconciler(source)
    artifact = _store_index(source, INDEX, "sha256:" + "1" * 64)
    for _ in range(3):
        assert _load(reconciler, artifact).get("app").version == "1.0.0"
    assert len(parses) == 3
    assert source.events_seen == []  # type: ignore[attr-defined]
