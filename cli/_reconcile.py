"""`afflux reconcile <kind> <name>`: ask the controller to reconcile now and wait for it.

It sets `reconcile.fluxcd.io/requestedAt` to the current time (RFC3339Nano, merge patch,
field manager `flux-client-side-apply`), waits until the controller copied that value to
`status.lastHandledReconcileAt` and Ready is True or False, and prints the result. Ready False
exits 1 with its message; running out of --timeout exits with the timeout code. `--with-source`
(Kustomization, HelmRelease, HelmChart) reconciles the source first. `resume` and `create` reuse this.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping, Sequence
from typing import Any

from afflux.api import meta

from ._context import Context
from ._errors import CLIError
from ._format import rfc3339_nano
from ._kinds import Noun, add_noun_parsers, controller_for, noun_for_kind
from ._kube import resource_of
from ._objects import describe, get_object
from ._status import (
    Outcome,
    has_status,
    is_suspended,
    ready_message,
    reconcile_outcome,
    success_message,
)
from ._wait import wait_for

__all__ = ["register", "request_reconcile", "run", "wait_reconciled"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("reconcile", parents=list(parents),
                       help="reconcile a Flux object now and wait for the result",
                       description="Trigger a reconciliation of a Flux object and wait for it.")
    kinds = p.add_subparsers(dest="kind_word", metavar="<kind>")
    kinds.required = True

    def leaf(lp: argparse.ArgumentParser, noun: Noun) -> None:
        lp.add_argument("name", help=f"the name of the {noun.kind.KIND}")
        if noun.kind.KIND in ("Kustomization", "HelmRelease", "HelmChart"):
            lp.add_argument("--with-source", action="store_true",
                            help="reconcile the source first")
        if noun.kind.KIND in ("Kustomization", "HelmRelease"):
            lp.add_argument("--allow-prune", action="store_true",
                            help="allow the prune (a HelmRelease: the uninstall) the "
                            "mass-deletion guard holds for the revision the object is at "
                            f"({meta.ALLOW_PRUNE_ANNOTATION})")
        if noun.kind.KIND == "HelmRelease":
            lp.add_argument("--force", action="store_true",
                            help="force a one-off install or upgrade (reconcile.fluxcd.io/forceAt)")
            lp.add_argument("--reset", action="store_true",
                            help="reset the failure counters (reconcile.fluxcd.io/resetAt)")
        lp.set_defaults(func=run)

    add_noun_parsers(kinds, leaf, parents=parents)


def request_reconcile(
    ctx: Context,
    noun: Noun,
    name: str,
    namespace: str,
    *,
    extra_annotations: Sequence[str] = (),
    set_annotations: Mapping[str, str] | None = None,
    spec_patch: dict[str, Any] | None = None,
) -> str:
    """Set requestedAt (and `extra_annotations` to the same value, plus an optional spec
    patch in the same request); return the value set."""
    requested = rfc3339_nano(time.time_ns())
    annotations = {meta.REQUESTED_AT_ANNOTATION: requested}
    annotations.update({a: requested for a in extra_annotations})
    annotations.update(set_annotations or {})
    patch: dict[str, Any] = {"metadata": {"annotations": annotations}}
    if spec_patch:
        patch["spec"] = spec_patch
    ctx.kube.merge_patch(resource_of(noun.kind), name, namespace, patch,
                         field_manager=meta.CLI_FIELD_MANAGER)
    return requested


def timeout_hint(noun: Noun, name: str, namespace: str) -> str:
    controller = controller_for(noun.kind.KIND)
    return (
        f"is {controller} running? `afflux check` tells; "
        f"`afflux logs --kind {noun.kind.KIND} --name {name} -n {namespace}` shows what it did"
    )


def wait_reconciled(
    ctx: Context, noun: Noun, name: str, namespace: str, requested: str
) -> dict[str, Any]:
    """Wait until the controller handled `requested`; print the result; raise on failure."""
    kind = noun.kind.KIND
    printer = ctx.printer
    printer.waiting(f"waiting for {kind} reconciliation")

    def decide(obj: dict[str, Any]) -> Outcome | None:
        outcome = reconcile_outcome(obj, requested)
        return None if outcome is Outcome.PENDING else outcome

    outcome, obj = wait_for(
        ctx.kube, resource_of(noun.kind), name, namespace, decide,
        timeout=ctx.timeout,
        what=f"{describe(noun, name, namespace)} to be reconciled",
        hint=timeout_hint(noun, name, namespace),
    )
    if outcome is Outcome.FAILED:
        raise CLIError(
            f"{kind} reconciliation failed: {ready_message(obj) or 'Ready is False'}",
            f"`afflux events --for {kind}/{name} -n {namespace}` shows its events",
        )
    printer.success(f"{kind} reconciliation completed")
    printer.success(success_message(obj))
    return obj


def reconcile(
    ctx: Context,
    noun: Noun,
    name: str,
    namespace: str,
    *,
    extra_annotations: Sequence[str] = (),
    set_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Refuse a suspended object; request a reconciliation; wait for it (kinds with status)."""
    kind = noun.kind.KIND
    obj = get_object(ctx, noun, name, namespace)
    if is_suspended(obj):
        raise CLIError(
            f"{describe(noun, name, namespace)} is suspended",
            f"resume it with `afflux resume {noun.cli} {name} -n {namespace}`",
        )
    ctx.printer.action(f"annotating {kind} {name} in {namespace} namespace")
    requested = request_reconcile(ctx, noun, name, namespace, extra_annotations=extra_annotations,
                                  set_annotations=set_annotations)
    ctx.printer.success(f"{kind} annotated")
    if not has_status(obj):
        return obj
    return wait_reconciled(ctx, noun, name, namespace, requested)


def source_of(obj: dict[str, Any]) -> tuple[str, str, str] | None:
    """(kind, name, namespace) of the source of a Kustomization, HelmRelease or HelmChart."""
    spec = obj.get("spec") or {}
    namespace = obj["metadata"].get("namespace", "")
    ref = spec.get("sourceRef") or spec.get("chartRef") or \
        ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
    if not ref or not ref.get("kind") or not ref.get("name"):
        return None
    return str(ref["kind"]), str(ref["name"]), str(ref.get("namespace") or namespace)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    noun: Noun = args.noun
    name, namespace = args.name, ctx.namespace
    if getattr(args, "with_source", False):
        obj = get_object(ctx, noun, name, namespace)
        source = source_of(obj)
        if source is None:
            raise CLIError(f"{describe(noun, name, namespace)} names no source")
        try:
            source_noun = noun_for_kind(source[0])
        except KeyError:
            raise CLIError(f"unknown source kind {source[0]!r} in "
                           f"{describe(noun, name, namespace)}") from None
        reconcile(ctx, source_noun, source[1], source[2])
    extra: list[str] = []
    if getattr(args, "force", False):
        extra.append(meta.FORCE_AT_ANNOTATION)
    if getattr(args, "reset", False):
        extra.append(meta.RESET_AT_ANNOTATION)
    allowed: dict[str, str] = {}
    if getattr(args, "allow_prune", False):
        status = get_object(ctx, noun, name, namespace).get("status") or {}
        revision = status.get("lastAttemptedRevision")
        if not revision:
            raise CLIError(f"{describe(noun, name, namespace)} has attempted no revision yet",
                           "nothing is held before a revision was built")
        allowed[meta.ALLOW_PRUNE_ANNOTATION] = str(revision)
    reconcile(ctx, noun, name, namespace, extra_annotations=extra, set_annotations=allowed)
    return 0
