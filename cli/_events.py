"""`afflux events [--for Kind/name] [-A] [--watch]`: the Kubernetes Events of Flux objects,
oldest first, as a table LAST SEEN, TYPE, REASON, OBJECT, MESSAGE."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ._context import Context
from ._errors import CLIError
from ._eventfmt import event_headers, event_row, event_rows, is_flux_event
from ._format import column_widths, render_table
from ._kinds import resolve_kind
from ._kube import EVENTS

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("events", parents=list(parents), help="show the events of Flux objects",
                       description="Show the Kubernetes Events of Flux objects.")
    p.add_argument("--for", dest="for_object", metavar="KIND/NAME",
                   help="only the events of this object, e.g. Kustomization/apps or ks/apps")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="events in every namespace")
    p.add_argument("-w", "--watch", action="store_true",
                   help="after listing, print new events until interrupted or --timeout")
    p.add_argument("--no-header", action="store_true", help="leave out the table header")
    p.set_defaults(func=run)


def parse_for(text: str) -> tuple[str, str, bool]:
    """`ks/apps` -> (`Kustomization`, `apps`, True); a non-Flux kind is kept as written
    (False: not a Flux kind)."""
    kind, sep, name = text.partition("/")
    if not sep or not kind or not name:
        raise CLIError(f"--for {text!r}: expected <kind>/<name>, e.g. Kustomization/apps")
    try:
        return resolve_kind(kind).KIND, name, True
    except KeyError:
        return kind, name, False


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    ns = None if ctx.all_namespaces else ctx.namespace
    selector = None
    flux_only = True
    if args.for_object:
        kind, name, is_flux = parse_for(args.for_object)
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        flux_only = is_flux

    def wanted(event: dict[str, Any]) -> bool:
        return not flux_only or is_flux_event(event)

    events, version = ctx.kube.list_with_version(EVENTS, ns, field_selector=selector)
    events = [e for e in events if wanted(e)]
    now = datetime.now(UTC)
    rows = event_rows(events, now, ctx.all_namespaces)
    head = None if args.no_header else event_headers(ctx.all_namespaces)
    if rows:
        ctx.printer.result(render_table(head, rows), end="")
    elif not args.watch:
        where = "any namespace" if ctx.all_namespaces else f'"{ctx.namespace}" namespace'
        ctx.printer.failure(f"no events found in {where}")
        return 0
    if not args.watch:
        return 0
    widths = column_widths(head, rows)
    header_pending = not rows and head is not None
    deadline = time.monotonic() + ctx.timeout if args.timeout_given else float("inf")
    while time.monotonic() < deadline:
        remaining = min(deadline - time.monotonic(), 300.0)
        for type_, event in ctx.kube.watch(
            EVENTS, ns, resource_version=version, field_selector=selector,
            timeout_seconds=max(1, min(int(remaining + 0.999), 300)),
        ):
            if type_ == "ERROR":
                _, version = ctx.kube.list_with_version(EVENTS, ns, field_selector=selector)
                break
            version = str((event.get("metadata") or {}).get("resourceVersion", version))
            if type_ not in ("ADDED", "MODIFIED") or not wanted(event):
                continue
            row = event_row(event, datetime.now(UTC), ctx.all_namespaces)
            ctx.printer.result(render_table(head if header_pending else None, [row], widths),
                               end="")
            header_pending = False
            if time.monotonic() >= deadline:
                break
    return 0
