"""Confirmation answers, and how errors reach the user (message, hint, exit code)."""

from __future__ import annotations

import pytest

from afflux.cli import main
from afflux.cli._errors import (
    EXIT_NOT_FOUND,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    NotFoundError,
    WaitTimeout,
)
from afflux.cli._prompt import confirm, parse_answer


@pytest.mark.parametrize(
    ("answer", "default", "yes"),
    [("y", False, True), ("YES", False, True), ("n", True, False), ("", False, False),
     ("", True, True), ("maybe", True, False)],
    ids=["y", "yes-upper", "n", "empty-default-no", "empty-default-yes", "other"],
)
def test_parse_answer(answer: str, default: bool, yes: bool) -> None:
    assert parse_answer(answer, default) is yes


def test_confirm_does_not_ask_without_a_terminal() -> None:
    def never(prompt: str) -> str:
        raise AssertionError("asked")

    assert confirm("Delete?", read=never) is True  # pytest's stdin is not a terminal


def test_error_classes_carry_their_exit_codes() -> None:
    assert NotFoundError("x").exit_code == EXIT_NOT_FOUND
    assert WaitTimeout("x").exit_code == EXIT_TIMEOUT


def test_missing_kubeconfig_is_reported_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--kubeconfig", "/nonexistent/kubeconfig", "get", "ks"]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "✗ kubeconfig /nonexistent/kubeconfig does not exist",
        "  hint: pass --kubeconfig <file> or set KUBECONFIG",
    ]


def test_logs_without_local_files_or_cluster(tmp_path: object,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "--source", "local", "--log-dir", str(tmp_path)]) == EXIT_NOT_FOUND
    assert "no operator log files" in capsys.readouterr().err
