"""`afflux delete <kind> <name>`: delete a Flux object (its controller's finalizer then cleans
up what it made: a Kustomization prunes, a HelmRelease uninstalls). Asks first on a terminal
unless `--silent`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._context import Context
from ._errors import EXIT_CANCELLED, CLIError
from ._kinds import Noun, add_noun_parsers
from ._kube import KubeNotFound, resource_of
from ._objects import describe, get_object
from ._prompt import confirm

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("delete", parents=list(parents), help="delete a Flux object",
                       description="Delete a Flux object.")
    kinds = p.add_subparsers(dest="kind_word", metavar="<kind>")
    kinds.required = True

    def leaf(lp: argparse.ArgumentParser, noun: Noun) -> None:
        lp.add_argument("name", help=f"the name of the {noun.kind.KIND}")
        lp.add_argument("-s", "--silent", action="store_true",
                        help="delete without asking for confirmation")
        lp.set_defaults(func=run)

    add_noun_parsers(kinds, leaf, parents=parents)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    noun: Noun = args.noun
    kind, name, namespace = noun.kind.KIND, args.name, ctx.namespace
    get_object(ctx, noun, name, namespace)
    if not args.silent and not confirm(f"Are you sure you want to delete this {kind}?"):
        raise CLIError("deletion cancelled", exit_code=EXIT_CANCELLED)
    ctx.printer.action(f"deleting {kind} {name} in {namespace} namespace")
    try:
        ctx.kube.delete(resource_of(noun.kind), name, namespace)
    except KubeNotFound:
        ctx.printer.warning(f"{describe(noun, name, namespace)} was already gone")
        return 0
    ctx.printer.success(f"{kind} deleted")
    return 0
