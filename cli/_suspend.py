"""`afflux suspend` / `afflux resume` `<kind> <name>|--all`: set `spec.suspend`.

Suspend stops the controller from reconciling the object; resume clears it, requests a
reconciliation (requestedAt) in the same patch and, unless `--no-wait`, waits for the result
as `reconcile` does. An ArtifactGenerator has no `spec.suspend`: it is suspended by the
annotation `source.extensions.fluxcd.io/reconcile: Disabled` (what flux reads as its
SUSPENDED), which resume removes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from afflux.api import meta
from afflux.api._source_extensions_v1beta1 import RECONCILE_ANNOTATION

from ._context import Context
from ._errors import CLIError
from ._format import rfc3339_nano
from ._kinds import Noun, add_noun_parsers
from ._kube import resource_of
from ._objects import get_object, list_objects
from ._reconcile import request_reconcile, wait_reconciled
from ._status import has_status

__all__ = ["register", "run_resume", "run_suspend", "suspend", "suspend_patch"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    for verb, func, text in (
        ("suspend", run_suspend, "stop reconciling a Flux object (spec.suspend: true)"),
        ("resume", run_resume, "resume reconciling a suspended Flux object and wait for it"),
    ):
        p = sub.add_parser(verb, parents=list(parents), help=text, description=text + ".")
        kinds = p.add_subparsers(dest="kind_word", metavar="<kind>")
        kinds.required = True

        def leaf(lp: argparse.ArgumentParser, noun: Noun, verb: str = verb,
                 func: Any = func) -> None:
            lp.add_argument("names", nargs="*", metavar="name",
                            help=f"the name(s) of the {noun.kind.KIND}")
            lp.add_argument("--all", action="store_true",
                            help=f"{verb} every {noun.kind.KIND} in the namespace")
            if verb == "resume":
                lp.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                                help="wait for the reconciliation after resuming (default yes)")
            lp.set_defaults(func=func)

        add_noun_parsers(kinds, leaf, parents=parents)


def _targets(ctx: Context, args: argparse.Namespace, verb: str) -> list[str]:
    noun: Noun = args.noun
    if args.all and args.names:
        raise CLIError("give names or --all, not both")
    if args.all:
        names = [o["metadata"]["name"] for o in list_objects(ctx, noun, ctx.namespace)]
        if not names:
            ctx.printer.failure(f"no {noun.kind.KIND} objects found in "
                                f'"{ctx.namespace}" namespace')
        return names
    if not args.names:
        raise CLIError(f"{noun.kind.KIND} name is required",
                       f"e.g. `afflux {verb} {noun.cli} <name>`, or --all")
    for name in args.names:  # fail before changing anything if one is missing
        get_object(ctx, noun, name, ctx.namespace)
    return list(args.names)


def suspend_patch(kind: str, suspend: bool, requested_at: str | None = None
                  ) -> dict[str, Any]:
    """The merge patch that suspends (or resumes, with a reconcile request) an object."""
    annotations: dict[str, Any] = {}
    if requested_at:
        annotations[meta.REQUESTED_AT_ANNOTATION] = requested_at
    if kind == "ArtifactGenerator":
        annotations[RECONCILE_ANNOTATION] = "Disabled" if suspend else None
        return {"metadata": {"annotations": annotations}}
    patch: dict[str, Any] = {"spec": {"suspend": suspend}}
    if annotations:
        patch["metadata"] = {"annotations": annotations}
    return patch


def suspend(ctx: Context, noun: Noun, name: str, namespace: str) -> None:
    """Suspend one object (a merge patch, as flux's field manager)."""
    ctx.kube.merge_patch(resource_of(noun.kind), name, namespace,
                         suspend_patch(noun.kind.KIND, True), field_manager=meta.CLI_FIELD_MANAGER)


def run_suspend(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    noun: Noun = args.noun
    kind = noun.kind.KIND
    for name in _targets(ctx, args, "suspend"):
        ctx.printer.action(f"suspending {kind} {name} in {ctx.namespace} namespace")
        suspend(ctx, noun, name, ctx.namespace)
        ctx.printer.success(f"{kind} suspended")
    return 0


def run_resume(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    noun: Noun = args.noun
    kind = noun.kind.KIND
    requested: dict[str, str] = {}
    for name in _targets(ctx, args, "resume"):
        ctx.printer.action(f"resuming {kind} {name} in {ctx.namespace} namespace")
        if kind == "ArtifactGenerator":
            requested[name] = rfc3339_nano(time.time_ns())
            ctx.kube.merge_patch(resource_of(noun.kind), name, ctx.namespace,
                                 suspend_patch(kind, False, requested[name]),
                                 field_manager=meta.CLI_FIELD_MANAGER)
        else:
            requested[name] = request_reconcile(ctx, noun, name, ctx.namespace,
                                                spec_patch={"suspend": False})
        ctx.printer.success(f"{kind} resumed")
    if not args.wait or not has_status({"kind": kind}):
        return 0
    for name, value in requested.items():
        wait_reconciled(ctx, noun, name, ctx.namespace, value)
    return 0
