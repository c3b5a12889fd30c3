"""The `afflux` command: bootstrap a cluster onto Git, and get, reconcile, suspend, diff,
trace and watch everything afflux runs. A thin layer over the library: one module per
command, named exit codes, errors that carry a hint.
"""

from ._main import main

__all__ = ["main"]
