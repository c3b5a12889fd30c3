"""`afflux stats [-A]`: per kind, how many Flux objects are running, failing and suspended,
and the artifact storage the sources take, counted as flux counts them (`_statsfmt`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._context import Context
from ._errors import NotFoundError
from ._format import render_table
from ._kinds import noun_for_kind
from ._objects import list_objects
from ._statsfmt import STATS_HEADERS, STATS_KINDS, stats_row

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("stats", parents=list(parents),
                       help="count Flux objects by kind and state",
                       description="Count the Flux objects running, failing and suspended.")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="count in every namespace")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    ns = None if ctx.all_namespaces else ctx.namespace
    rows = []
    for kind in STATS_KINDS:
        try:
            objs = list_objects(ctx, noun_for_kind(kind), ns)
        except NotFoundError as err:  # flux counts a kind it cannot list as none
            ctx.printer.warning(err.message)
            objs = []
        rows.append(stats_row(kind, objs))
    ctx.printer.result(render_table(STATS_HEADERS, rows), end="")
    return 0
