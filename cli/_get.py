"""`afflux get <kind> [name]`: the status of Flux objects as a table (or YAML / JSON), across
namespaces with -A, filtered with --status-selector, and streamed with --watch.

`get all`, `get sources all` and `get images all` print one table per kind, the names as
`<kind>/<name>`.

`get ks NAME --drift` prints what kustomize-controller put back on the Kustomization's
objects after others changed them (`_drift`).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from . import _columns
from ._context import Context
from ._drift import run_drift
from ._errors import CLIError, NotFoundError
from ._format import column_widths, dump_json, dump_yaml, render_table
from ._kinds import NOUNS, Noun, add_noun_parsers
from ._kube import KubeNotFound, resource_of
from ._status import parse_status_selector, status_selector_matches

__all__ = ["register", "run"]


def _status_selector(text: str) -> tuple[str, str]:
    try:
        return parse_status_selector(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _add_flags(p: argparse.ArgumentParser, single_kind: bool) -> None:
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="list the objects across all namespaces")
    p.add_argument("-o", "--output", choices=("table", "yaml", "json"), default="table",
                   help="output format (default table)")
    p.add_argument("--status-selector", type=_status_selector, metavar="TYPE=STATUS",
                   help="only objects whose condition has that status, e.g. ready=false")
    p.add_argument("--no-header", action="store_true", help="leave out the table header")
    p.add_argument("-l", "--label-selector", metavar="SELECTOR",
                   help="only objects with these labels, e.g. app=web,tier!=db")
    if single_kind:
        p.add_argument("name", nargs="?", help="the name of one object")
        p.add_argument("-w", "--watch", action="store_true",
                       help="after listing, print each change until interrupted or --timeout")
    else:
        p.add_argument("-w", "--watch", action="store_true",
                       help="refused, as flux refuses it: watch needs a single kind")


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("get", parents=list(parents),
                       help="print the status of Flux objects",
                       description="Print the status of Flux objects.")
    kinds = p.add_subparsers(dest="kind_word", metavar="<kind>")
    kinds.required = True

    def leaf(lp: argparse.ArgumentParser, noun: Noun) -> None:
        _add_flags(lp, single_kind=True)
        if noun.kind.KIND in _columns.SHOW_SOURCE_KINDS:
            lp.add_argument("--show-source", action="store_true",
                            help=f"add a SOURCE column: each {noun.kind.KIND}'s source")
        if noun.kind.KIND == "Kustomization":
            lp.add_argument("--drift", action="store_true",
                            help="what kustomize-controller put back on the objects of the "
                                 "named Kustomization after others changed them (from its "
                                 "DriftCorrected Events), newest first")
        lp.set_defaults(func=run, nouns=(noun,))

    def group_all(gp: argparse.ArgumentParser, group: str, members: tuple[Noun, ...]) -> None:
        _add_flags(gp, single_kind=False)
        gp.set_defaults(func=run, nouns=members, noun=None)

    add_noun_parsers(kinds, leaf, parents=parents, for_get=True, group_all=group_all)
    ap = kinds.add_parser("all", parents=list(parents), help="every Flux kind")
    _add_flags(ap, single_kind=False)
    ap.set_defaults(func=run, nouns=NOUNS, noun=None)


def _where(ctx: Context) -> str:
    return "any namespace" if ctx.all_namespaces else f'"{ctx.namespace}" namespace'


def _filter(objs: Iterable[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    selector = args.status_selector
    out = list(objs)
    if selector:
        out = [o for o in out if status_selector_matches(o, *selector)]
    return out


def list_kind(
    ctx: Context, noun: Noun, name: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    """The objects of a kind in the namespace (all with -A), and the list's resourceVersion."""
    rt = resource_of(noun.kind)
    ns = None if ctx.all_namespaces else ctx.namespace
    try:
        objs, version = ctx.kube.list_with_version(
            rt, ns, field_selector=f"metadata.name={name}" if name else None,
            label_selector=getattr(ctx.args, "label_selector", None),
        )
    except KubeNotFound:
        raise NotFoundError(
            f"the cluster does not serve {noun.kind.KIND} ({noun.kind.API_VERSION})",
            "are the Flux CRDs installed? `afflux check` tells; `afflux install` installs them",
        ) from None
    return list(_columns.sort_objects(objs)), version  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    nouns: tuple[Noun, ...] = args.nouns
    if len(nouns) > 1:
        return _run_many(ctx, args, nouns)
    noun = nouns[0]
    name = getattr(args, "name", None)
    objs, version = list_kind(ctx, noun, name)
    if name and not objs:
        raise NotFoundError(
            f"{noun.kind.KIND} object '{name}' not found in {_where(ctx)}",
            f"list them with `afflux get {noun.get_cli} -A`",
        )
    if getattr(args, "drift", False):
        return run_drift(ctx, args, name, objs)
    shown = _filter(objs, args)
    if getattr(args, "watch", False):
        return _watch(ctx, args, noun, shown, version)
    if args.output != "table":
        ctx.printer.result(_dump(shown, args.output, single=bool(name)), end="")
        return 0
    if not objs:  # flux: an error (exit 1), unlike `get all`
        raise CLIError(f"no {noun.kind.KIND} objects found in {_where(ctx)}",
                       f"`afflux get {noun.get_cli} -A` lists them in every namespace"
                       if not ctx.all_namespaces else "")
    show_source = getattr(args, "show_source", False)
    rows = _columns.table_rows(shown, all_namespaces=ctx.all_namespaces,
                               show_source=show_source)
    head = None if args.no_header else _columns.headers(noun.kind.KIND, ctx.all_namespaces,
                                                        show_source)
    ctx.printer.result(render_table(head, rows), end="")
    return 0


def _dump(objs: list[dict[str, Any]], output: str, single: bool) -> str:
    if single and len(objs) == 1:
        return dump_yaml(objs, separator=False) if output == "yaml" else dump_json(objs[0])
    doc = {"apiVersion": "v1", "kind": "List", "items": objs, "metadata": {}}
    return dump_yaml([doc], separator=False) if output == "yaml" else dump_json(doc)


def _run_many(ctx: Context, args: argparse.Namespace, nouns: tuple[Noun, ...]) -> int:
    if getattr(args, "watch", False):
        raise CLIError("expected a single resource type, but found all",  # flux's words
                       "watch one kind, e.g. `afflux get sources git --watch`")
    everything: list[dict[str, Any]] = []
    tables: list[str] = []
    for noun in nouns:
        try:
            objs, _ = list_kind(ctx, noun)
        except NotFoundError as err:
            ctx.printer.warning(err.message)
            continue
        shown = _filter(objs, args)
        everything.extend(shown)
        if not shown:
            continue
        rows = _columns.table_rows(shown, all_namespaces=ctx.all_namespaces, include_kind=True)
        head = None if args.no_header else _columns.headers(noun.kind.KIND, ctx.all_namespaces)
        tables.append(render_table(head, rows))
    if args.output != "table":
        ctx.printer.result(_dump(everything, args.output, single=False), end="")
        return 0
    if not tables:
        ctx.printer.failure(f"no Flux objects found in {_where(ctx)}")
        return 0
    ctx.printer.result("\n".join(tables), end="")
    return 0


def _watch(
    ctx: Context, args: argparse.Namespace, noun: Noun, objs: list[dict[str, Any]], version: str
) -> int:
    """Print the list, then each change, until --timeout passes (exit 0) or Ctrl-C."""
    rt = resource_of(noun.kind)
    ns = None if ctx.all_namespaces else ctx.namespace
    name = getattr(args, "name", None)
    printer = ctx.printer
    head: list[str] | None = None
    widths: list[int] = []
    header_pending = False
    show_source = getattr(args, "show_source", False)
    if args.output == "table":
        head = None if args.no_header else _columns.headers(noun.kind.KIND, ctx.all_namespaces,
                                                            show_source)
        rows = _columns.table_rows(objs, all_namespaces=ctx.all_namespaces,
                                   show_source=show_source)
        if rows:
            printer.result(render_table(head, rows), end="")
        header_pending = not rows and head is not None  # with the first change, then
        widths = column_widths(head, rows)
    else:
        for obj in objs:
            printer.result(_watch_doc(obj, args.output), end="")
    deadline = time.monotonic() + ctx.timeout if args.timeout_given else float("inf")
    while time.monotonic() < deadline:
        remaining = min(deadline - time.monotonic(), 300.0)
        for type_, obj in ctx.kube.watch(
            rt, ns, resource_version=version,
            field_selector=f"metadata.name={name}" if name else None,
            label_selector=args.label_selector,
            timeout_seconds=max(1, min(int(remaining + 0.999), 300)),
        ):
            if type_ == "ERROR":  # resourceVersion too old: list again
                _, version = list_kind(ctx, noun, name)
                break
            version = str((obj.get("metadata") or {}).get("resourceVersion", version))
            if type_ == "BOOKMARK" or not _filter([obj], args):
                continue
            if args.output == "table":
                row = _columns.table_rows([obj], all_namespaces=ctx.all_namespaces,
                                          show_source=show_source)
                printer.result(render_table(head if header_pending else None, row, widths),
                               end="")
                header_pending = False
            else:
                printer.result(_watch_doc(obj, args.output), end="")
            if time.monotonic() >= deadline:
                break
    return 0


def _watch_doc(obj: dict[str, Any], output: str) -> str:
    if output == "yaml":
        return dump_yaml([obj])
    return json.dumps(obj, ensure_ascii=False) + "\n"
