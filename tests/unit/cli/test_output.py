"""Progress lines, colour decisions and the Printer's streams."""

from __future__ import annotations

import io

import pytest

from afflux.cli._output import Printer, styled, use_color


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("tty", "env", "expected"),
    [
        pytest.param(True, {}, True, id="terminal"),
        pytest.param(False, {}, False, id="pipe"),
        pytest.param(True, {"NO_COLOR": "1"}, False, id="no-color"),
        pytest.param(True, {"NO_COLOR": ""}, True, id="empty-no-color-is-unset"),
        pytest.param(True, {"TERM": "dumb"}, False, id="dumb-terminal"),
    ],
)
def test_use_color(tty: bool, env: dict[str, str], expected: bool) -> None:
    stream = _Tty() if tty else io.StringIO()
    assert use_color(stream, env) is expected


@pytest.mark.parametrize(
    ("style", "plain"),
    [
        ("action", "► annotating"),
        ("success", "✔ annotating"),
        ("waiting", "◎ annotating"),
        ("failure", "✗ annotating"),
        ("generate", "✚ annotating"),
        ("warning", "⚠ annotating"),
    ],
)
def test_styled_symbols(style: str, plain: str) -> None:
    assert styled(style, "annotating", color=False) == plain
    coloured = styled(style, "annotating", color=True)
    assert coloured.startswith("\033[") and coloured.endswith("\033[0m annotating")


def test_printer_results_to_stdout_progress_to_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    p = Printer(out, err)
    p.result("NAME")
    p.action("doing")
    p.success("done")
    p.hint("try this")
    p.debug("invisible")
    assert out.getvalue() == "NAME\n"
    assert err.getvalue() == "► doing\n✔ done\n  hint: try this\n"


def test_printer_quiet_keeps_failures_and_verbose_shows_debug() -> None:
    err = io.StringIO()
    p = Printer(io.StringIO(), err, quiet=True, verbose=1)
    p.action("hidden")
    p.failure("shown")
    p.debug("GET /version")
    assert err.getvalue() == "✗ shown\n  · GET /version\n"
