"""The errors of a Kustomization build, typed for the reconcile machinery.

Both are generic failures (retried with backoff, recorded as a Warning event) with Flux's
reason `BuildFailed`; a new source revision or spec triggers a new attempt anyway.
"""

from __future__ import annotations

from afflux.api._meta import BUILD_FAILED
from afflux.controllers.runtime import GenericError

__all__ = ["BuildError", "DecryptionError"]


class BuildError(GenericError):
    """The build failed (reason `BuildFailed`). `file` is the file at fault, relative to the
    artifact root, when known; `stderr` is the output of the program that failed, if any."""

    def __init__(self, message: str, *, file: str | None = None, stderr: str = "") -> None:
        super().__init__(BUILD_FAILED, message)
        self.file = file
        self.stderr = stderr


class DecryptionError(BuildError):
    """Something could not be decrypted, or a key could not be loaded; the message names it."""
