"""`afflux plugin update [name]` (alias `upgrade`): bring installed plugins (one, or all) to the
catalog's newest version. A plugin without an install receipt (put there by hand) is
skipped; one already at the newest version is left alone; a failure to check or install
one plugin is reported and the others still go ahead (the command then exits 1).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ._context import Context
from ._errors import EXIT_FAILURE, CLIError, NotFoundError
from ._plugincatalog import CatalogError, update_target
from ._pluginstore import CatalogClient, Fetcher, afflux_commands, local_dir, local_platform

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("update", aliases=["upgrade"], parents=list(parents),
                       help="update installed plugins",
                       description="Update installed plugins (all, or the one named) to the "
                       "newest version in the catalog.")
    p.add_argument("name", nargs="?", help="only this plugin")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    directory = local_dir()
    plugins = directory.discover(afflux_commands())
    if not plugins:
        ctx.printer.err.write("No plugins found\n")
        return 0
    if args.name:
        plugins = [p for p in plugins if p.name == args.name]
        if not plugins:
            raise NotFoundError(f"plugin {args.name!r} is not installed",
                                "`afflux plugin list` shows the installed plugins")
    fetcher = Fetcher(warn=ctx.printer.warning)
    catalog = CatalogClient.from_env(os.environ, fetcher)
    os_, arch = local_platform()
    failed = 0
    for plugin in plugins:
        if plugin.receipt is None:
            ctx.printer.warning(f"skipping {plugin.name} (manually installed)")
            continue
        try:
            manifest = catalog.manifest(plugin.name)
            target = update_target(plugin.receipt, manifest, os_, arch)
        except (CLIError, CatalogError) as err:
            ctx.printer.failure(f"error checking {plugin.name}: {getattr(err, 'message', err)}")
            failed += 1
            continue
        if target is None:
            ctx.printer.success(f"{plugin.name} already up to date (v{plugin.version})")
            continue
        version, platform = target
        ctx.printer.action(f"updating {plugin.name} v{plugin.version} → v{version.version}")
        try:
            directory.install(manifest, version, platform, fetcher)
        except CLIError as err:
            ctx.printer.failure(f"error updating {plugin.name}: {err.message}")
            failed += 1
            continue
        ctx.printer.success(f"updated {plugin.name} v{plugin.version} → v{version.version}")
    return EXIT_FAILURE if failed else 0
