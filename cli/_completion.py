"""`afflux completion bash|zsh|fish|powershell`: print a shell completion script (`_completionfmt`),
generated from the command line parser itself.

    . <(afflux completion bash)          # bash, in ~/.bashrc
    afflux completion zsh > "${fpath[1]}/_afflux"
    afflux completion fish | source
    afflux completion powershell | Out-String | Invoke-Expression   # in $PROFILE
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._completionfmt import (
    bash_script,
    command_tree,
    fish_script,
    powershell_script,
    zsh_script,
)

__all__ = ["register", "run"]

_SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script,
            "powershell": powershell_script}


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("completion", parents=list(parents),
                       help="generate a shell completion script (bash, zsh, fish, powershell)",
                       description="Print a completion script for a shell; e.g. "
                       "`. <(afflux completion bash)`.")
    shells = p.add_subparsers(dest="shell", metavar="<shell>")
    shells.required = True
    for shell in _SCRIPTS:
        shells.add_parser(shell, parents=list(parents),
                          help=f"the {shell} completion script").set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ._main import build_parser  # noqa: PLC0415 - the whole tree, built on demand

    sys.stdout.write(_SCRIPTS[args.shell](command_tree(build_parser())))
    return 0
