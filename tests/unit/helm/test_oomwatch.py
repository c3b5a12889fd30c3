"""helm-controller's OOM watch (`_oomwatch`): the threshold arithmetic, the cgroup paths it
picks, the files it reads (in a temporary directory), and when it calls for a stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from afflux.controllers.helm._oomwatch import (
    V1_CURRENT,
    V1_MAX,
    V2_CURRENT,
    V2_MAX,
    MemoryPaths,
    OOMWatch,
    OOMWatchError,
    memory_paths,
    near_oom,
    read_bytes,
)


@pytest.mark.parametrize(
    ("current", "limit", "threshold", "near"),
    [
        pytest.param(94, 100, 95, False, id="below"),
        pytest.param(95, 100, 95, True, id="at-the-threshold"),
        pytest.param(100, 100, 95, True, id="above"),
        pytest.param(50 * 2**20, 100 * 2**20, 50, True, id="half-of-100MiB"),
        pytest.param(1, 0, 95, False, id="no-limit-is-never-near"),
    ],
)
def test_near_oom(current: int, limit: int, threshold: float, near: bool) -> None:
    assert near_oom(current, limit, threshold) is near


@pytest.mark.parametrize(
    ("given", "v2", "expected"),
    [
        pytest.param(("", ""), True, (V2_MAX, V2_CURRENT), id="cgroup-v2"),
        pytest.param(("", ""), False, (V1_MAX, V1_CURRENT), id="cgroup-v1"),
        pytest.param(("/m/max", "/m/cur"), True, ("/m/max", "/m/cur"), id="flags-win"),
        pytest.param(("/m/max", ""), True, ("/m/max", V2_CURRENT), id="one-flag"),
    ],
)
def test_memory_paths(given: tuple[str, str], v2: bool, expected: tuple[str, str]) -> None:
    paths = memory_paths(*given, exists=lambda path: v2 and path == V2_CURRENT)
    assert (paths.max_path, paths.current_path) == expected


def _files(tmp_path: Path, limit: str, current: str) -> MemoryPaths:
    (tmp_path / "memory.max").write_text(limit)
    (tmp_path / "memory.current").write_text(current)
    return MemoryPaths(str(tmp_path / "memory.max"), str(tmp_path / "memory.current"))


def test_read_bytes_refuses_max_and_text(tmp_path: Path) -> None:
    paths = _files(tmp_path, "max\n", "1234\n")
    assert read_bytes(paths.current_path) == 1234
    with pytest.raises(ValueError, match="'max'"):
        read_bytes(paths.max_path)


@pytest.mark.parametrize(
    ("limit", "threshold", "message"),
    [
        pytest.param("max\n", 95, "set a memory limit", id="no-limit"),
        pytest.param("1000\n", 0, "between 1 and 100", id="threshold-0"),
        pytest.param("1000\n", 101, "between 1 and 100", id="threshold-101"),
    ],
)
def test_bad_settings_stop_at_start(tmp_path: Path, limit: str, threshold: float,
                                    message: str) -> None:
    with pytest.raises(OOMWatchError, match=message):
        OOMWatch(_files(tmp_path, limit, "1\n"), threshold, 0.5, lambda _why: None)


def test_a_missing_usage_file_names_the_flag(tmp_path: Path) -> None:
    paths = MemoryPaths(str(tmp_path / "memory.max"), str(tmp_path / "nope"))
    (tmp_path / "memory.max").write_text("1000\n")
    with pytest.raises(OOMWatchError, match="--oom-watch-current-memory-path"):
        OOMWatch(paths, 95, 0.5, lambda _why: None)


def test_the_watch_calls_for_a_stop_once_the_usage_reaches_the_threshold(
        tmp_path: Path) -> None:
    paths = _files(tmp_path, "1000\n", "100\n")
    stops: list[str] = []
    watch = OOMWatch(paths, 90, 0.01, stops.append)
    assert not watch.check() and stops == []
    Path(paths.current_path).write_text("garbage")  # unreadable: skipped, no stop
    assert not watch.check() and stops == []
    Path(paths.current_path).write_text("900\n")

    async def scenario() -> None:
        task = asyncio.create_task(watch.run())
        for _ in range(200):
            if stops:
                break
            await asyncio.sleep(0.01)
        assert not task.done()  # it stays (supervised), stopped only with the operator
        task.cancel()

    asyncio.run(scenario())
    assert stops == ["memory usage is near OOM (900/1000 bytes, threshold 90%)"]
