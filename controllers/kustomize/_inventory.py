"""The inventory of applied objects, and the order objects are applied and deleted in.

A Kustomization records what it applied in `status.inventory.entries[]` = `{id, v}`, with the
id `<namespace>_<name>_<group>_<kind>` (`afflux.api._refs`). On the next apply, the entries of
the old inventory that the new build no longer has are stale: they are pruned, unless the object
in the cluster says `kustomize.toolkit.fluxcd.io/prune: disabled` or `.../reconcile: disabled`
(label or annotation), or no longer carries this Kustomization's owner labels.

Order: objects are applied in stages, each finished before the next starts:

1. CustomResourceDefinitions, then Namespaces (everything else may need them);
2. the other cluster-scoped objects (ClusterRoles, StorageClasses, webhooks, ...);
3. namespaced objects.

Within a stage, kinds follow kustomize's customary order (ServiceAccounts and ConfigMaps before
the Deployments that use them, webhook configurations last), then kind, group, namespace and
name, so the order is stable. Deletion is the exact reverse: namespaced objects first, the
Namespaces and the CustomResourceDefinitions last.

An object with no `metadata.namespace` counts as cluster-scoped unless the caller says
otherwise (`namespaced`), since only the API server knows the scope of a custom kind.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from afflux.api._meta import (
    KUSTOMIZE_NAME_LABEL,
    KUSTOMIZE_NAMESPACE_LABEL,
    KUSTOMIZE_PRUNE_ANNOTATION,
    KUSTOMIZE_RECONCILE_ANNOTATION,
)
from afflux.api._refs import ObjectRef, inventory_id, parse_inventory_id

from ._objects import is_disabled, labels

__all__ = [
    "CRD_KIND",
    "NAMESPACE_KIND",
    "ObjectRef",
    "apply_order",
    "apply_stages",
    "delete_order",
    "inventory_entries",
    "inventory_id",
    "is_prune_disabled",
    "is_reconcile_disabled",
    "object_ref",
    "parse_inventory_id",
    "prune_blocker",
    "refs_from_entries",
    "stale_refs",
]

CRD_KIND = "CustomResourceDefinition"
CRD_GROUP = "apiextensions.k8s.io"
NAMESPACE_KIND = "Namespace"

#: Kinds in the order kustomize has always emitted them; kinds not listed go between the two
#: lists, in alphabetical order.
_KINDS_FIRST = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
_KINDS_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
_RANK = {kind: i for i, kind in enumerate(_KINDS_FIRST)}
_RANK.update({kind: 1000 + i for i, kind in enumerate(_KINDS_LAST)})
_UNLISTED = len(_KINDS_FIRST)

Namespaced = Callable[[ObjectRef], bool]


def object_ref(obj: Mapping[str, Any]) -> ObjectRef:
    """The identity of an object (namespace, name, group, kind, and version carried along).

    Raises ValueError for an object without apiVersion, kind or metadata.name."""
    meta = obj.get("metadata") or {}
    if not obj.get("apiVersion") or not obj.get("kind") or not meta.get("name"):
        raise ValueError(f"object has no apiVersion, kind or metadata.name: {dict(obj)!r:.200}")
    return ObjectRef.from_object(dict(obj))


def _ref(item: ObjectRef | Mapping[str, Any]) -> ObjectRef:
    return item if isinstance(item, ObjectRef) else object_ref(item)


def _is_namespaced(ref: ObjectRef, namespaced: Namespaced | None) -> bool:
    return namespaced(ref) if namespaced is not None else bool(ref.namespace)


def _stage(ref: ObjectRef, namespaced: Namespaced | None) -> int:
    if ref.kind == CRD_KIND and ref.group == CRD_GROUP:
        return 0
    if ref.kind == NAMESPACE_KIND and ref.group == "":
        return 1
    return 3 if _is_namespaced(ref, namespaced) else 2


def _sort_key(ref: ObjectRef, namespaced: Namespaced | None) -> tuple:
    return (
        _stage(ref, namespaced),
        _RANK.get(ref.kind, _UNLISTED),
        ref.kind,
        ref.group,
        ref.namespace,
        ref.name,
    )


def apply_stages(
    objects: Iterable[Mapping[str, Any]], namespaced: Namespaced | None = None
) -> list[list[dict[str, Any]]]:
    """The objects in apply stages (module docstring): [CRDs and Namespaces], [other
    cluster-scoped], [namespaced]; empty stages are left out."""
    stages: dict[int, list[tuple[tuple, dict[str, Any]]]] = {}
    for obj in objects:
        ref = object_ref(obj)
        key = _sort_key(ref, namespaced)
        group = 0 if key[0] <= 1 else key[0] - 1
        stages.setdefault(group, []).append((key, dict(obj)))
    return [
        [obj for _, obj in sorted(stages[i], key=lambda pair: pair[0])] for i in sorted(stages)
    ]


def apply_order(
    objects: Iterable[Mapping[str, Any]], namespaced: Namespaced | None = None
) -> list[dict[str, Any]]:
    """All objects in the order they are applied (the stages, one after the other)."""
    return [obj for stage in apply_stages(objects, namespaced) for obj in stage]


def delete_order(
    items: Iterable[ObjectRef | Mapping[str, Any]], namespaced: Namespaced | None = None
) -> list[ObjectRef]:
    """References (of objects or refs) in the order they are deleted: the reverse of apply."""
    refs = {r.id: r for r in map(_ref, items)}.values()
    return sorted(refs, key=lambda r: _sort_key(r, namespaced), reverse=True)


def inventory_entries(
    objects: Iterable[ObjectRef | Mapping[str, Any]], namespaced: Namespaced | None = None
) -> list[dict[str, str]]:
    """`status.inventory.entries` for these objects: `{id, v}` each, one per object identity
    (the last version wins), in apply order."""
    refs: dict[str, ObjectRef] = {}
    for ref in map(_ref, objects):
        refs[ref.id] = ref
    ordered = sorted(refs.values(), key=lambda r: _sort_key(r, namespaced))
    return [{"id": r.id, "v": r.version} for r in ordered]


def refs_from_entries(entries: Iterable[Mapping[str, str]] | None) -> list[ObjectRef]:
    """The object identities of `status.inventory.entries` (None: an empty inventory)."""
    return [parse_inventory_id(e["id"], e.get("v", "")) for e in entries or ()]


def stale_refs(
    old: Iterable[ObjectRef | Mapping[str, Any]],
    new: Iterable[ObjectRef | Mapping[str, Any]],
    namespaced: Namespaced | None = None,
) -> list[ObjectRef]:
    """What the old inventory has and the new build does not, compared by identity (a new API
    version of the same object is not stale), in delete order."""
    keep = {r.id for r in map(_ref, new)}
    return delete_order((r for r in map(_ref, old) if r.id not in keep), namespaced)


def is_prune_disabled(obj: Mapping[str, Any]) -> bool:
    """The object says `kustomize.toolkit.fluxcd.io/prune: disabled` (label or annotation)."""
    return is_disabled(obj, KUSTOMIZE_PRUNE_ANNOTATION)


def is_reconcile_disabled(obj: Mapping[str, Any]) -> bool:
    """The object says `kustomize.toolkit.fluxcd.io/reconcile: disabled`: it is neither applied
    nor pruned."""
    return is_disabled(obj, KUSTOMIZE_RECONCILE_ANNOTATION)


def prune_blocker(
    obj: Mapping[str, Any] | None, owner_name: str, owner_namespace: str
) -> str | None:
    """Why a stale object, as it is in the cluster, must not be deleted, or None to delete it.

    It is kept when it is already gone (None), when pruning or reconciling is disabled on it,
    or when it does not carry this Kustomization's owner labels (it moved to another one, or
    someone took it over), as Flux only deletes what is labelled as its own."""
    if obj is None:
        return "it no longer exists"
    if is_prune_disabled(obj):
        return f"it is labelled or annotated {KUSTOMIZE_PRUNE_ANNOTATION}: disabled"
    if is_reconcile_disabled(obj):
        return f"it is labelled or annotated {KUSTOMIZE_RECONCILE_ANNOTATION}: disabled"
    owner = labels(obj)
    name, namespace = owner.get(KUSTOMIZE_NAME_LABEL), owner.get(KUSTOMIZE_NAMESPACE_LABEL)
    if (name, namespace) == (owner_name, owner_namespace):
        return None
    if name is None and namespace is None:
        return f"it has no {KUSTOMIZE_NAME_LABEL} and {KUSTOMIZE_NAMESPACE_LABEL} labels"
    return f"its owner labels name Kustomization {namespace}/{name}"

