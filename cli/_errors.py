"""Exit codes the CLI promises to scripts, and the error type that carries a hint."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
#: `diff` found a difference (like `diff(1)` and `flux diff`).
EXIT_DIFF: Final = 1
EXIT_USAGE: Final = 2
EXIT_NOT_FOUND: Final = 3
EXIT_TIMEOUT: Final = 4


class CLIError(Exception):
    """A failure to show the user as one line, with what to do about it."""

    def __init__(self, message: str, hint: str = "", exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.hint = hint
        self.exit_code = exit_code
