"""Where the CLI writes: results to stdout, progress lines (► ✔ ◎ ✗ ✚ ⚠) to stderr, as flux
does, so `afflux export ... > file` keeps only the YAML. Colour only on a terminal and never
when NO_COLOR is set (https://no-color.org).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

# symbol and ANSI colour of each kind of progress line
_STYLES: dict[str, tuple[str, str]] = {
    "action": ("►", "36"),  # cyan
    "success": ("✔", "32"),  # green
    "waiting": ("◎", "33"),  # yellow
    "failure": ("✗", "31"),  # red
    "generate": ("✚", "36"),
    "warning": ("⚠", "33"),
}


def use_color(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Colour when `stream` is a terminal, NO_COLOR is unset (or empty) and TERM is not dumb."""
    env = os.environ if env is None else env
    if env.get("NO_COLOR"):
        return False
    if env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def styled(style: str, message: str, color: bool) -> str:
    """One progress line: `<symbol> <message>`, the symbol coloured when `color`."""
    symbol, code = _STYLES[style]
    if color:
        symbol = f"\033[{code}m{symbol}\033[0m"
    return f"{symbol} {message}"


class Printer:
    """Writes results and progress. The streams are looked up at each write (so tests that
    swap sys.stdout/sys.stderr see everything) unless given explicitly."""

    def __init__(
        self,
        out: TextIO | None = None,
        err: TextIO | None = None,
        *,
        quiet: bool = False,
        verbose: int = 0,
    ) -> None:
        self._out = out
        self._err = err
        self.quiet = quiet
        self.verbose = verbose

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    @property
    def err(self) -> TextIO:
        return self._err or sys.stderr

    def result(self, text: str = "", end: str = "\n") -> None:
        """Write `text` to stdout (the command's output proper)."""
        self.out.write(text + end)
        self.out.flush()

    def _progress(self, style: str, message: str) -> None:
        if self.quiet and style not in ("failure", "warning"):
            return
        self.err.write(styled(style, message, use_color(self.err)) + "\n")
        self.err.flush()

    def action(self, message: str) -> None:
        self._progress("action", message)

    def success(self, message: str) -> None:
        self._progress("success", message)

    def waiting(self, message: str) -> None:
        self._progress("waiting", message)

    def failure(self, message: str) -> None:
        self._progress("failure", message)

    def generate(self, message: str) -> None:
        self._progress("generate", message)

    def warning(self, message: str) -> None:
        self._progress("warning", message)

    def hint(self, message: str) -> None:
        self.err.write(f"  hint: {message}\n")
        self.err.flush()

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err.write(f"  · {message}\n")
            self.err.flush()
