"""The object tree of `afflux tree`: what a Kustomization's inventory lists (nested
Kustomizations expanded, a HelmRelease's objects read from its Helm release), drawn with
box characters:

    Kustomization/flux-system/apps
    ├── Namespace/podinfo
    └── HelmRelease/podinfo/podinfo
        └── Deployment/podinfo/podinfo

Pure: inventory parsing, Helm release decoding and drawing; the command does the reading.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from afflux.api import ObjectRef, parse_inventory_id

__all__ = [
    "Node",
    "decode_helm_release",
    "helm_manifest_refs",
    "inventory_refs",
    "helm_storage_secret",
    "render_tree",
    "tree_to_dict",
]


@dataclass
class Node:
    """One object in the tree and what it manages."""

    ref: ObjectRef
    children: list[Node] = field(default_factory=list)
    note: str = ""

    @property
    def label(self) -> str:
        """`Kind/namespace/name`, or `Kind/name` for a cluster-scoped object."""
        r = self.ref
        text = f"{r.kind}/{r.namespace}/{r.name}" if r.namespace else f"{r.kind}/{r.name}"
        return f"{text} ({self.note})" if self.note else text

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()


def render_tree(root: Node) -> str:
    """The tree as text, one object per line."""
    lines = [root.label]

    def draw(node: Node, prefix: str) -> None:
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{child.label}")
            draw(child, prefix + ("    " if last else "│   "))

    draw(root, "")
    return "\n".join(lines) + "\n"


def tree_to_dict(node: Node) -> dict[str, Any]:
    """The tree as data (for -o json / yaml) in flux's shape: each node is
    `{"resource": {"Namespace", "Name", "GroupKind": {"Group", "Kind"}}, "resources": [...]}`
    (cli-utils' ObjMetadata has no JSON tags, so Go writes its field names; `resources` is
    left out when empty). Notes are not part of it."""
    r = node.ref
    out: dict[str, Any] = {"resource": {"Namespace": r.namespace, "Name": r.name,
                                        "GroupKind": {"Group": r.group, "Kind": r.kind}}}
    if node.children:
        out["resources"] = [tree_to_dict(c) for c in node.children]
    return out


def inventory_refs(obj: Mapping[str, Any]) -> list[ObjectRef]:
    """The objects in a Kustomization's or HelmRelease's `status.inventory.entries`, in
    their order; entries whose id cannot be read are skipped."""
    out = []
    for entry in ((obj.get("status") or {}).get("inventory") or {}).get("entries") or []:
        try:
            out.append(parse_inventory_id(str(entry.get("id", "")), str(entry.get("v", ""))))
        except (ValueError, KeyError):
            continue
    return out


def decode_helm_release(data: str) -> dict[str, Any]:
    """A Helm release record from the `release` key of its storage Secret's `.data`: base64
    (the Secret's encoding) of base64 (Helm's) of gzip'd (usually) JSON."""
    inner = base64.b64decode(data)
    raw = base64.b64decode(inner)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    record: dict[str, Any] = json.loads(raw)
    return record


def helm_manifest_refs(
    manifest: str,
    release_namespace: str,
    is_namespaced: Callable[[str, str], bool] = lambda api_version, kind: True,
) -> list[ObjectRef]:
    """The objects of a rendered Helm manifest; namespaced ones without a namespace are in
    the release's namespace."""
    refs: list[ObjectRef] = []
    for doc in yaml.safe_load_all(manifest or ""):
        if not isinstance(doc, Mapping) or not doc.get("kind"):
            continue
        api_version = str(doc.get("apiVersion", ""))
        group, _, version = api_version.rpartition("/")
        meta = doc.get("metadata") or {}
        kind = str(doc["kind"])
        namespace = ""
        if is_namespaced(api_version, kind):
            namespace = str(meta.get("namespace") or release_namespace)
        refs.append(ObjectRef(namespace, str(meta.get("name", "")), group, kind, version))
    return refs


def helm_storage_secret(hr: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the storage Secret of a HelmRelease's latest release, as flux's
    tree reads it: `sh.helm.release.v1.<name>.v<version>` of `status.history[0]` in
    `status.storageNamespace`; None when there is no release yet or it targets another
    cluster (`spec.kubeConfig`)."""
    status = hr.get("status") or {}
    if (hr.get("spec") or {}).get("kubeConfig"):
        return None
    history = status.get("history") or []
    storage = status.get("storageNamespace")
    if not history or not storage or not history[0].get("name") or \
            history[0].get("version") is None:
        return None
    latest = history[0]
    return str(storage), f"sh.helm.release.v1.{latest['name']}.v{latest['version']}"
