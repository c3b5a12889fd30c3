"""`afflux events [--for Kind[/name]] [--types T] [-A] [--watch]`: the Kubernetes Events of
Flux objects, oldest first, as a table LAST SEEN, TYPE, REASON, OBJECT, MESSAGE. With
`--for` of a named object, the events of the objects it refers to come too (its source, a
HelmRelease's HelmChart: `_eventfmt.related_objects`), as flux shows them; NAMESPACE is shown
when one of them is in another namespace. notification-controller records every delivery on
the Alert it went through (Delivered / DeliveryFailed: which object's event went to which
Provider), so `--for Alert/<name>` shows what was sent where, and `--for Provider/<name>`
also shows the records of the Alerts that use the Provider (an afflux addition)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ._context import Context
from ._errors import CLIError, NotFoundError
from ._eventfmt import (
    alerts_of_provider,
    event_headers,
    event_row,
    event_rows,
    involved_key,
    is_flux_event,
    parse_types,
    related_objects,
    type_matches,
)
from ._format import column_widths, render_table
from ._kinds import noun_for_kind, resolve_kind
from ._kube import EVENTS
from ._objects import get_object, list_objects

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("events", parents=list(parents), help="show the events of Flux objects",
                       description="Show the Kubernetes Events of Flux objects.")
    p.add_argument("--for", dest="for_object", metavar="KIND[/NAME]",
                   help="only the events of this object and of the objects it refers to "
                   "(its source, a HelmRelease's HelmChart), e.g. Kustomization/apps or ks/apps;"
                   " a kind alone: every object of that kind")
    p.add_argument("--types", action="append", metavar="TYPE",
                   help="only events of these types: Normal, Warning (comma-separated or "
                   "repeated)")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="events in every namespace")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after listing, print new events until interrupted or --timeout")
    p.add_argument("--no-header", action="store_true", help="leave out the table header")
    p.set_defaults(func=run)


def parse_for(text: str) -> tuple[str, str | None, bool]:
    """`ks/apps` -> (`Kustomization`, `apps`, True); `Kustomization` -> (`Kustomization`,
    None, True): every object of the kind, as flux; a non-Flux kind is kept as written
    (False: not a Flux kind)."""
    kind, sep, name = text.partition("/")
    if not kind or (sep and not name):
        raise CLIError(f"--for {text!r}: expected <kind>[/<name>], e.g. Kustomization/apps")
    try:
        return resolve_kind(kind).KIND, name or None, True
    except KeyError:
        return kind, name or None, False


Target = tuple[str, "str | None", "str | None"]


def _selector(kind: str, name: str | None) -> str:
    return f"involvedObject.kind={kind}" + (f",involvedObject.name={name}" if name else "")


def _targets(ctx: Context, for_object: str) -> tuple[list[Target], bool]:
    """The objects whose events to show (the one asked for and, for a named Flux object, the
    ones `related_objects` names) and whether they are Flux objects."""
    ns = None if ctx.all_namespaces else ctx.namespace
    kind, name, is_flux = parse_for(for_object)
    targets: list[Target] = [(kind, name, ns)]
    if name and is_flux:
        try:
            obj = get_object(ctx, noun_for_kind(kind), name, ctx.namespace)
        except NotFoundError:  # gone (or never there): its own events are still worth seeing
            return targets, is_flux
        targets += related_objects(obj)
        if kind == "Provider":  # what was sent through it: the delivery records of its Alerts
            alerts = list_objects(ctx, noun_for_kind("Alert"), obj["metadata"]["namespace"])
            targets += alerts_of_provider(obj, alerts)
    return targets, is_flux


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    try:
        types = parse_types(args.types or ())
    except ValueError as err:
        raise CLIError(str(err), "e.g. --types Warning") from None
    ns = None if ctx.all_namespaces else ctx.namespace
    targets: list[Target] = [("", None, ns)]
    flux_only = True
    if args.for_object:
        targets, flux_only = _targets(ctx, args.for_object)
    show_ns = ctx.all_namespaces or any(t[2] != ctx.namespace for t in targets)

    def about_target(event: dict[str, Any]) -> bool:
        kind, name, where = involved_key(event)
        return not args.for_object or any(
            kind == k and (n is None or name == n) and (tns is None or where == tns)
            for k, n, tns in targets)

    def wanted(event: dict[str, Any]) -> bool:
        return (not flux_only or is_flux_event(event)) and type_matches(event, types) \
            and about_target(event)

    events: dict[str, dict[str, Any]] = {}
    version = ""
    for kind, name, where in targets:
        found, version = ctx.kube.list_with_version(
            EVENTS, where, field_selector=_selector(kind, name) if kind else None)
        for event in found:
            m = event.get("metadata") or {}
            events[str(m.get("uid") or (m.get("namespace"), m.get("name")))] = event
    shown = [e for e in events.values() if wanted(e)]
    now = datetime.now(UTC)
    rows = event_rows(shown, now, show_ns)
    head = None if args.no_header else event_headers(show_ns)
    if rows:
        ctx.printer.result(render_table(head, rows), end="")
    elif not args.watch:
        where = "any namespace" if ctx.all_namespaces else f'"{ctx.namespace}" namespace'
        ctx.printer.failure(f"no events found in {where}")
        return 0
    if not args.watch:
        return 0
    # one watch: by field selector for a single target, else of the namespace(s), filtered
    if len(targets) == 1:
        kind, name, watch_ns = targets[0]
        selector = _selector(kind, name) if kind else None
    else:
        spaces = {t[2] for t in targets}
        watch_ns = spaces.pop() if len(spaces) == 1 else None
        selector = None
        _, version = ctx.kube.list_with_version(EVENTS, watch_ns)
    widths = column_widths(head, rows)
    header_pending = not rows and head is not None
    deadline = time.monotonic() + ctx.timeout if args.timeout_given else float("inf")
    while time.monotonic() < deadline:
        remaining = min(deadline - time.monotonic(), 300.0)
        for type_, event in ctx.kube.watch(
            EVENTS, watch_ns, resource_version=version, field_selector=selector,
            timeout_seconds=max(1, min(int(remaining + 0.999), 300)),
        ):
            if type_ == "ERROR":
                _, version = ctx.kube.list_with_version(EVENTS, watch_ns,
                                                        field_selector=selector)
                break
            version = str((event.get("metadata") or {}).get("resourceVersion", version))
            if type_ not in ("ADDED", "MODIFIED") or not wanted(event):
                continue
            row = event_row(event, datetime.now(UTC), show_ns)
            ctx.printer.result(render_table(head if header_pending else None, [row], widths),
                               end="")
            header_pending = False
            if time.monotonic() >= deadline:
                break
    return 0
