"""Confirmation prompts: asked only on a terminal (a script never hangs on one)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO


def is_interactive(stdin: TextIO | None = None) -> bool:
    """Whether stdin is a terminal a person can answer on."""
    stream = stdin or sys.stdin
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def parse_answer(answer: str, default: bool = False) -> bool:
    """`y`/`yes` (any case) is yes, `n`/`no` no, empty the default; anything else no."""
    text = answer.strip().lower()
    if not text:
        return default
    return text in ("y", "yes")


def confirm(question: str, *, read: Callable[[str], str] = input) -> bool:
    """Ask `<question> [y/N]` on the terminal; True without asking when not interactive."""
    if not is_interactive():
        return True
    try:
        return parse_answer(read(f"{question} [y/N] "))
    except EOFError:
        return False
