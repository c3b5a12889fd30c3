"""`afflux tree kustomization <name>`: the objects a Kustomization applied (its inventory) as a
tree, nested Kustomizations expanded and a HelmRelease's objects read from its Helm release
(the storage Secret), so one command shows everything that came from Git."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from afflux.api import ObjectRef, helm_release_name, meta

from ._context import Context
from ._format import dump_json, dump_yaml
from ._kinds import noun_for_kind
from ._kube import SECRETS, KubeError, resource_of
from ._objects import get_object
from ._treefmt import (
    Node,
    decode_helm_release,
    helm_manifest_refs,
    inventory_refs,
    render_tree,
    tree_to_dict,
)

__all__ = ["register", "run"]

_KS_GROUP = meta.KUSTOMIZE_GROUP
_FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tree", parents=list(parents),
                       help="print the objects a Flux object manages as a tree",
                       description="Print the objects a Kustomization manages as a tree.")
    kinds = p.add_subparsers(dest="kind_word", metavar="<kind>")
    kinds.required = True
    lp = kinds.add_parser("kustomization", aliases=["kustomizations", "ks"],
                          parents=list(parents), help="a Kustomization's inventory")
    lp.add_argument("name", help="the name of the Kustomization")
    lp.add_argument("--compact", action="store_true", help="only Flux objects")
    lp.add_argument("-o", "--output", choices=("tree", "json", "yaml"), default="tree",
                    help="output format (default tree)")
    lp.set_defaults(func=run)


class _Builder:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.seen: set[tuple[str, str, str]] = set()

    def namespaced(self, api_version: str, kind: str) -> bool:
        try:
            return self.ctx.kube.resource_for(api_version, kind).namespaced
        except KubeError:
            return True

    def kustomization(self, node: Node, obj: dict[str, Any]) -> None:
        for ref in inventory_refs(obj):
            child = Node(ref)
            node.children.append(child)
            key = (ref.kind, ref.namespace, ref.name)
            if key in self.seen:
                continue
            self.seen.add(key)
            if ref.group == _KS_GROUP and ref.kind == "Kustomization":
                nested = self._get(ref, child)
                if nested is not None:
                    self.kustomization(child, nested)
            elif ref.kind == "HelmRelease" and ref.group.endswith(_FLUX_GROUP_SUFFIX):
                hr = self._get(ref, child)
                if hr is not None:
                    self.helm_release(child, hr)

    def _get(self, ref: ObjectRef, node: Node) -> dict[str, Any] | None:
        try:
            return self.ctx.kube.get(resource_of(noun_for_kind(ref.kind).kind), ref.name,
                                     ref.namespace)
        except KubeError as err:
            node.note = "not found" if err.status == 404 else f"unreadable: {err.message}"
            return None

    def helm_release(self, node: Node, hr: dict[str, Any]) -> None:
        spec, status = hr.get("spec") or {}, hr.get("status") or {}
        ns = hr["metadata"].get("namespace", "")
        history = status.get("history") or []
        release = (history[0].get("name") if history else None) or helm_release_name(
            hr["metadata"]["name"], spec.get("targetNamespace"), spec.get("releaseName"))
        storage_ns = (status.get("storageNamespace") or spec.get("storageNamespace")
                      or spec.get("targetNamespace") or ns)
        release_ns = (history[0].get("namespace") if history else None) or \
            spec.get("targetNamespace") or ns
        try:
            secrets = self.ctx.kube.list(
                SECRETS, storage_ns, label_selector=f"owner=helm,name={release},status=deployed")
        except KubeError as err:
            node.note = f"release unreadable: {err.message}"
            return
        if not secrets:
            return
        latest = max(secrets, key=lambda s: int((s["metadata"].get("labels") or {})
                                                .get("version", "0") or 0))
        try:
            record = decode_helm_release(str((latest.get("data") or {}).get("release", "")))
        except (ValueError, OSError) as err:
            node.note = f"release unreadable: {err}"
            return
        for ref in helm_manifest_refs(str(record.get("manifest", "")), release_ns,
                                      self.namespaced):
            node.children.append(Node(ref))


def _compact(node: Node) -> Node:
    kept = [_compact(c) for c in node.children if c.ref.group.endswith(_FLUX_GROUP_SUFFIX)]
    return Node(node.ref, kept, node.note)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    noun = noun_for_kind("Kustomization")
    obj = get_object(ctx, noun, args.name, ctx.namespace)
    root = Node(ObjectRef(ctx.namespace, args.name, _KS_GROUP, "Kustomization",
                          noun.kind.VERSION))
    builder = _Builder(ctx)
    builder.seen.add(("Kustomization", ctx.namespace, args.name))
    builder.kustomization(root, obj)
    if args.compact:
        root = _compact(root)
    if args.output == "json":
        ctx.printer.result(dump_json(tree_to_dict(root)), end="")
    elif args.output == "yaml":
        ctx.printer.result(dump_yaml([tree_to_dict(root)], separator=False), end="")
    else:
        ctx.printer.result(render_tree(root), end="")
    if not root.children and not (obj.get("status") or {}).get("inventory"):
        ctx.printer.warning(f"Kustomization '{ctx.namespace}/{args.name}' has no inventory "
                            "yet (it has applied nothing; `afflux get ks` shows its status)")
    return 0
