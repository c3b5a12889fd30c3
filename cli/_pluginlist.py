"""`afflux plugin list` (alias `ls`): the plugins in the plugin directory with their version
(from the install receipt, `manual` without one) and path, as `flux plugin list` prints them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._context import Context
from ._format import render_table
from ._pluginstore import afflux_commands, local_dir

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("list", aliases=["ls"], parents=list(parents),
                       help="list installed plugins",
                       description="List the installed plugins with their versions and paths.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    plugins = local_dir().discover(afflux_commands())
    if not plugins:
        ctx.printer.err.write("No plugins found\n")
        return 0
    rows = [[p.name, p.version, str(p.path)] for p in plugins]
    ctx.printer.result(render_table(["NAME", "VERSION", "PATH"], rows), end="")
    return 0
