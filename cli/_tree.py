"""`afflux tree kustomization|helmrelease|artifact generator <name>`: the objects a Flux
object manages, as a tree, the way `flux tree` prints it.

- A Kustomization's inventory (`status.inventory`), nested Kustomizations expanded and each
  HelmRelease's objects added below it; the root is not listed again as its own child (a
  Kustomization that applies itself, as flux-system does).
- A HelmRelease's objects (afflux's `tree helmrelease`; flux shows them only below a
  Kustomization): `status.inventory` when the HelmRelease has one, else the manifest of its
  latest release, read as flux reads it from the Helm storage Secret
  `sh.helm.release.v1.<name>.v<version>` of `status.history[0]` in
  `status.storageNamespace` (a release made before the history was written is found by
  Helm's own labels), plus the CRDs labelled with the HelmRelease when its install or
  upgrade creates CRDs. A release on another cluster (`spec.kubeConfig`) is not read.
- An ArtifactGenerator's ExternalArtifacts (`status.inventory`).
- `tree --graph`: the whole dependency graph (`_graph`).

`-o json|yaml` prints flux's shape (`_treefmt.tree_to_dict`).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from afflux.api import ObjectRef, helm_release_name, meta

from ._clean import _sorted
from ._context import Context
from ._format import dump_json, dump_yaml
from ._graph import run_graph
from ._kinds import noun_for_kind
from ._kube import CRDS, SECRETS, Kube, KubeError, resource_of
from ._objects import get_object
from ._treefmt import (
    Node,
    decode_helm_release,
    helm_manifest_refs,
    helm_storage_secret,
    inventory_refs,
    render_tree,
    tree_to_dict,
)

__all__ = ["register", "release_record", "run"]

_KS_GROUP = meta.KUSTOMIZE_GROUP
_FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"
_EXTERNAL_ARTIFACT = ("source.toolkit.fluxcd.io", "ExternalArtifact")


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tree", parents=list(parents),
                       help="print the objects a Flux object manages as a tree, or --graph",
                       description="Print the objects a Flux object manages as a tree; "
                       "with --graph, the dependency graph of every Flux object.")
    p.add_argument("--graph", action="store_true",
                   help="the whole graph, every namespace: sources -> Kustomizations and "
                   "HelmReleases, dependsOn and depends-on edges, cycles")
    p.add_argument("-o", "--output", choices=("tree", "json", "yaml"), default="tree",
                   help="output format (default tree)")
    p.set_defaults(func=run_graph)
    kinds = p.add_subparsers(dest="kind_word", metavar="<kind>")
    kinds.required = False  # `tree --graph` names none

    def leaf(lp: argparse.ArgumentParser, kind: str, compact: bool = True) -> None:
        lp.add_argument("name", help=f"the name of the {kind}")
        if compact:
            lp.add_argument("--compact", action="store_true", help="only Flux objects")
        lp.add_argument("-o", "--output", choices=("tree", "json", "yaml"), default="tree",
                        help="output format (default tree)")
        lp.set_defaults(func=run, tree_kind=kind)

    leaf(kinds.add_parser("kustomization", aliases=["kustomizations", "ks"],
                          parents=list(parents), help="a Kustomization's inventory"),
         "Kustomization")
    leaf(kinds.add_parser("helmrelease", aliases=["helmreleases", "hr"],
                          parents=list(parents), help="the objects of a HelmRelease's release"),
         "HelmRelease")
    artifact = kinds.add_parser("artifact", aliases=["artifacts"], parents=list(parents),
                                help="artifact kinds")
    akinds = artifact.add_subparsers(dest="artifact_kind", metavar="<kind>")
    akinds.required = True
    leaf(akinds.add_parser("generator", aliases=["generators"], parents=list(parents),
                           help="the ExternalArtifacts of an ArtifactGenerator"),
         "ArtifactGenerator", compact=False)


def release_record(kube: Kube, hr: Mapping[str, Any]) -> dict[str, Any] | None:
    """The record of a HelmRelease's current Helm release (what `helm get` reads), found as
    the module docstring says; None when there is none or it is on another cluster. Raises
    KubeError, or ValueError for a record that cannot be decoded."""
    spec, status = hr.get("spec") or {}, hr.get("status") or {}
    if spec.get("kubeConfig"):
        return None
    where = helm_storage_secret(hr)
    secret: dict[str, Any] | None
    if where is not None:
        secret = kube.get_or_none(SECRETS, where[1], where[0])
    else:  # no history yet: the latest deployed release by Helm's labels
        m = hr.get("metadata") or {}
        ns = m.get("namespace", "")
        release = helm_release_name(m.get("name", ""), spec.get("targetNamespace"),
                                    spec.get("releaseName"))
        storage_ns = (status.get("storageNamespace") or spec.get("storageNamespace")
                      or spec.get("targetNamespace") or ns)
        secrets = kube.list(SECRETS, storage_ns,
                            label_selector=f"owner=helm,name={release},status=deployed")
        secret = max(secrets, default=None, key=lambda s: int(
            (s["metadata"].get("labels") or {}).get("version", "0") or 0))
    if secret is None:
        return None
    return decode_helm_release(str((secret.get("data") or {}).get("release", "")))


class _Builder:
    def __init__(self, ctx: Context, root: ObjectRef) -> None:
        self.ctx = ctx
        self.root = (root.group, root.kind, root.namespace, root.name)
        self.seen: set[tuple[str, str, str]] = {(root.kind, root.namespace, root.name)}

    def namespaced(self, api_version: str, kind: str) -> bool:
        try:
            return self.ctx.kube.resource_for(api_version, kind).namespaced
        except KubeError:
            return True

    def kustomization(self, node: Node, obj: dict[str, Any]) -> None:
        for ref in inventory_refs(obj):
            if (ref.group, ref.kind, ref.namespace, ref.name) == self.root:
                continue  # flux: the root is not its own child
            child = Node(ref)
            node.children.append(child)
            key = (ref.kind, ref.namespace, ref.name)
            if key in self.seen:
                continue
            self.seen.add(key)
            if ref.group == _KS_GROUP and ref.kind == "Kustomization":
                if (obj.get("spec") or {}).get("kubeConfig"):
                    continue  # flux: not followed into a remote cluster
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

    def _release_record(self, node: Node, hr: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return release_record(self.ctx.kube, hr)
        except KubeError as err:
            node.note = f"release unreadable: {err.message}"
        except (ValueError, OSError) as err:
            node.note = f"release unreadable: {err}"
        return None

    def helm_release(self, node: Node, hr: dict[str, Any]) -> None:
        if ((hr.get("status") or {}).get("inventory") or {}).get("entries"):
            node.children.extend(Node(ref) for ref in inventory_refs(hr))
            return
        record = self._release_record(node, hr)
        if record is None:
            return
        spec, status = hr.get("spec") or {}, hr.get("status") or {}
        history = status.get("history") or []
        release_ns = str(record.get("namespace") or
                         (history[0].get("namespace") if history else None) or
                         spec.get("targetNamespace") or hr["metadata"].get("namespace", ""))
        refs = helm_manifest_refs(str(record.get("manifest", "")), release_ns, self.namespaced)
        node.children.extend(Node(ref) for ref in refs)
        self._crds(node, hr, {r.name for r in refs if r.kind == "CustomResourceDefinition"})

    def _crds(self, node: Node, hr: dict[str, Any], known: set[str]) -> None:
        spec = hr.get("spec") or {}
        policies = {str((spec.get(a) or {}).get("crds") or "") for a in ("install", "upgrade")}
        if not policies - {"", "Skip"}:
            return
        m = hr["metadata"]
        selector = (f"{meta.HELM_GROUP}/name={m['name']},"
                    f"{meta.HELM_GROUP}/namespace={m.get('namespace', '')}")
        try:
            crds = self.ctx.kube.list(CRDS, label_selector=selector)
        except KubeError:
            return
        for crd in crds:
            name = crd["metadata"]["name"]
            if name not in known:
                node.children.append(Node(ObjectRef("", name, CRDS.group,
                                                    "CustomResourceDefinition", CRDS.version)))


def _compact(node: Node) -> Node:
    kept = [_compact(c) for c in node.children if c.ref.group.endswith(_FLUX_GROUP_SUFFIX)]
    return Node(node.ref, kept, node.note)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    kind = args.tree_kind
    noun = noun_for_kind(kind)
    obj = get_object(ctx, noun, args.name, ctx.namespace)
    root = Node(ObjectRef(ctx.namespace, args.name, noun.kind.GROUP, kind, noun.kind.VERSION))
    builder = _Builder(ctx, root.ref)
    if kind == "Kustomization":
        builder.kustomization(root, obj)
    elif kind == "HelmRelease":
        builder.helm_release(root, obj)
    else:
        for entry in (obj.get("status") or {}).get("inventory") or []:
            root.children.append(Node(ObjectRef(str(entry.get("namespace", "")),
                                                str(entry.get("name", "")),
                                                *_EXTERNAL_ARTIFACT, "v1")))
    if getattr(args, "compact", False):
        root = _compact(root)
    if args.output == "json":
        ctx.printer.result(dump_json(tree_to_dict(root)), end="")
    elif args.output == "yaml":
        # sigs.k8s.io/yaml writes the JSON with its keys sorted
        ctx.printer.result(dump_yaml([_sorted(tree_to_dict(root))], separator=False), end="")
    else:
        ctx.printer.result(render_tree(root), end="")
    if not root.children and kind == "Kustomization" and \
            not (obj.get("status") or {}).get("inventory"):
        ctx.printer.warning(f"Kustomization '{ctx.namespace}/{args.name}' has no inventory "
                            "yet (it has applied nothing; `afflux get ks` shows its status)")
    elif not root.children and kind == "HelmRelease":
        ctx.printer.warning(f"HelmRelease '{ctx.namespace}/{args.name}' has no release yet "
                            "(`afflux get hr` shows its status)")
    return 0

