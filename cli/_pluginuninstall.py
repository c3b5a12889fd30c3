"""`afflux plugin uninstall <name>` (alias `delete`): remove the plugin's binary (or link) and
its install receipt from the plugin directory.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._context import Context
from ._errors import CLIError
from ._pluginstore import local_dir

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("uninstall", aliases=["delete"], parents=list(parents),
                       help="uninstall a plugin",
                       description="Remove a plugin's binary and install receipt from the "
                       "plugin directory.")
    p.add_argument("name", help="the plugin's name (`afflux plugin list` shows them)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    name: str = args.name
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise CLIError(f"invalid plugin name {name!r}: a name, not a path")
    local_dir().uninstall(name)
    ctx.printer.success(f"uninstalled {name}")
    return 0
