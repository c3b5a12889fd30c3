"""`afflux logs` over local log files (the dev setup: one JSON-lines file per operator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afflux.cli import main


def _line(ts: str, level: str, msg: str, **obj: str) -> str:
    return json.dumps({"ts": ts, "level": level, "logger": "afflux", "msg": msg, **obj})


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    (tmp_path / "source-controller.log").write_text("\n".join([
        _line("2024-05-01T12:00:00.000Z", "info", "starting", controller="source-controller"),
        _line("2024-05-01T12:00:02.000Z", "info", "stored artifact", kind="GitRepository",
              name="repo", namespace="flux-system"),
        _line("2024-05-01T12:00:04.000Z", "debug", "checked out", kind="GitRepository",
              name="repo", namespace="apps"),
    ]) + "\n")
    (tmp_path / "kustomize-controller.log").write_text("\n".join([
        _line("2024-05-01T12:00:03.000Z", "error", "build failed", kind="Kustomization",
              name="apps", namespace="flux-system", error="no such path"),
        "plain text line",
    ]) + "\n")
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], log_dir: Path, *args: str) -> list[str]:
    assert main(["logs", "--log-dir", str(log_dir), *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_merged_by_time_in_the_namespace(capsys: pytest.CaptureFixture[str],
                                         log_dir: Path) -> None:
    assert _run(capsys, log_dir) == [
        "2024-05-01T12:00:00.000Z info source-controller - starting",
        "2024-05-01T12:00:02.000Z info GitRepository/repo.flux-system - stored artifact",
        "2024-05-01T12:00:03.000Z error Kustomization/apps.flux-system - build failed: "
        "no such path",
        "kustomize-controller - plain text line",
    ]


@pytest.mark.parametrize(
    ("args", "messages"),
    [
        pytest.param(["--kind", "gitrepo", "-A"], ["stored artifact", "checked out"],
                     id="kind-alias-all-namespaces"),
        pytest.param(["--name", "apps"], ["build failed"], id="name"),
        pytest.param(["--level", "error", "-A"], ["build failed"], id="level"),
        pytest.param(["-n", "apps", "--kind", "GitRepository"], ["checked out"], id="namespace"),
        pytest.param(["--controller", "source-controller", "--tail", "1", "-A"],
                     ["checked out"], id="controller-tail"),
    ],
)
def test_filters(capsys: pytest.CaptureFixture[str], log_dir: Path, args: list[str],
                 messages: list[str]) -> None:
    lines = _run(capsys, log_dir, *args)
    assert [line.split(" - ", 1)[1].split(":")[0] for line in lines] == messages


def test_since_time(capsys: pytest.CaptureFixture[str], log_dir: Path) -> None:
    def timed(*args: str) -> list[str]:  # the lines with a time (a plain one always shows)
        return [x for x in _run(capsys, log_dir, "-A", *args) if x.startswith("2024")]

    lines = timed("--since-time", "2024-05-01T12:00:02.500Z")
    assert len(lines) == 2 and "build failed" in lines[0] and "checked out" in lines[1]
    lines = timed("--since-time", "2024-05-01T14:00:03.5+02:00")
    assert len(lines) == 1 and "checked out" in lines[0]


def test_since_time_errors(capsys: pytest.CaptureFixture[str], log_dir: Path) -> None:
    from afflux.cli._logfmt import parse_since_time

    with pytest.raises(ValueError, match="yesterday is not a valid \\(RFC3339\\) time"):
        parse_since_time("yesterday")
    with pytest.raises(ValueError):
        parse_since_time("2024-05-01T12:00:00")  # no zone
    assert main(["logs", "--log-dir", str(log_dir), "--since", "1m", "--since-time",
                 "2024-05-01T12:00:00Z"]) == 1
    assert "at most one of `sinceTime` or `sinceDuration`" in capsys.readouterr().err


def test_a_controllers_shards_are_read_with_it(capsys: pytest.CaptureFixture[str],
                                               log_dir: Path) -> None:
    (log_dir / "kustomize-controller-shard1.log").write_text(_line(
        "2024-05-01T12:00:05.000Z", "info", "applied", kind="Kustomization", name="team-a",
        namespace="flux-system") + "\n")
    assert _run(capsys, log_dir, "--controller", "kustomize-controller", "--name",
                "team-a") == [
        "2024-05-01T12:00:05.000Z info Kustomization/team-a.flux-system - applied"]
