"""`afflux export <kind> <name>|--all`: Flux objects as multi-document YAML manifests, ready to
commit to Git or apply elsewhere (no status, no server-set metadata, stable order). Sources
take `--with-credentials`: each one's `spec.secretRef` Secret follows it, as flux prints it
(`_clean.credentials_for_export`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._clean import clean_for_export, credentials_for_export, export_order
from ._context import Context
from ._errors import CLIError
from ._format import dump_yaml
from ._kinds import Noun, add_noun_parsers
from ._kube import SECRETS, KubeNotFound
from ._objects import get_object, list_objects

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", parents=list(parents),
                       help="print Flux objects as YAML manifests",
                       description="Print Flux objects as YAML manifests (without status).")
    kinds = p.add_subparsers(dest="kind_word", metavar="<kind>")
    kinds.required = True

    def leaf(lp: argparse.ArgumentParser, noun: Noun) -> None:
        lp.add_argument("name", nargs="?", help=f"the name of the {noun.kind.KIND}")
        lp.add_argument("--all", action="store_true",
                        help=f"every {noun.kind.KIND} in the namespace")
        lp.add_argument("-A", "--all-namespaces", action="store_true",
                        help="with --all: in every namespace")
        if noun.group == "source":
            lp.add_argument("--with-credentials", action="store_true",
                            help="include the credentials Secret (spec.secretRef) after each "
                            "source")
        lp.set_defaults(func=run)

    add_noun_parsers(kinds, leaf, parents=parents)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    noun: Noun = args.noun
    if bool(args.name) == bool(args.all):
        raise CLIError(f"give a {noun.kind.KIND} name or --all",
                       f"e.g. `afflux export {noun.cli} <name>` or "
                       f"`afflux export {noun.cli} --all`")
    if args.all:
        objs = list_objects(ctx, noun, None if ctx.all_namespaces else ctx.namespace)
    else:
        objs = [get_object(ctx, noun, args.name, ctx.namespace)]
    docs = []
    for obj in export_order(objs):
        docs.append(clean_for_export(obj))
        ref = ((obj.get("spec") or {}).get("secretRef") or {}).get("name")
        if getattr(args, "with_credentials", False) and ref:
            ns = obj["metadata"].get("namespace", ctx.namespace)
            try:
                secret = ctx.kube.get(SECRETS, ref, ns)
            except KubeNotFound:
                raise CLIError(f"failed to retrieve secret {ref}: not found in {ns}",
                               "create it, or export without --with-credentials") from None
            docs.append(credentials_for_export(secret))
    ctx.printer.result(dump_yaml(docs), end="")
    return 0
