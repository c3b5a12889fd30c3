"""Exit codes the CLI promises to scripts, and the error type that carries a hint."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
#: Anything that went wrong and has no code of its own (a failed reconciliation, a check).
EXIT_FAILURE: Final = 1
#: `diff` found a difference (like `diff(1)` and `flux diff`).
EXIT_DIFF: Final = 1
#: Bad command line (argparse's own code).
EXIT_USAGE: Final = 2
#: The object (or its kind) is not in the cluster.
EXIT_NOT_FOUND: Final = 3
#: Waiting (for a reconciliation, for Ready) ran out of `--timeout`.
EXIT_TIMEOUT: Final = 4
#: The API server could not be reached (or no kubeconfig was found).
EXIT_UNREACHABLE: Final = 5
#: The user said no to a confirmation prompt.
EXIT_CANCELLED: Final = 6
#: `preview` could not build or dry-run what a ref holds (a change is EXIT_DIFF).
EXIT_PREVIEW_FAILED: Final = 7
#: Interrupted with Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED: Final = 130


class CLIError(Exception):
    """A failure to show the user as one line, with what to do about it."""

    def __init__(self, message: str, hint: str = "", exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code


class NotFoundError(CLIError):
    """An object or kind that is not there."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint, EXIT_NOT_FOUND)


class WaitTimeout(CLIError):
    """Waiting ran out of time."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint, EXIT_TIMEOUT)
