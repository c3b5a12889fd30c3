"""`afflux plugin search [query]`: the catalog's plugins (those whose name or description
holds the query, ignoring case) with the installed version of each.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ._context import Context
from ._format import render_table
from ._plugincatalog import matches_query
from ._pluginstore import CatalogClient, Fetcher, local_dir

__all__ = ["register"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("search", parents=list(parents), help="search the plugin catalog",
                       description="List the plugins of the Flux plugin catalog, those whose "
                       "name or description contains the query if one is given.")
    p.add_argument("query", nargs="?", default="", help="a part of a name or description")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    catalog = CatalogClient.from_env(os.environ, Fetcher(warn=ctx.printer.warning)).catalog()
    directory = local_dir()
    rows = []
    for entry in catalog.plugins:
        if matches_query(entry, args.query):
            receipt = directory.receipt(entry.name)
            rows.append([entry.name, entry.description, receipt.version if receipt else ""])
    if not rows:
        ctx.printer.err.write(f"No plugins matching {args.query.lower()!r} found in catalog\n"
                              if args.query else "No plugins found in catalog\n")
        return 0
    ctx.printer.result(render_table(["NAME", "DESCRIPTION", "INSTALLED"], rows), end="")
    return 0
