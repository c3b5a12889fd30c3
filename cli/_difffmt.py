"""What `diff kustomization` compares and prints, as pure functions: objects without the
fields the API server manages, Secret values masked, unified diffs, inventory ids.

A live object and its server-side dry-run result are compared after `normalize` drops
`status`, `metadata.managedFields`, `resourceVersion`, `uid`, `generation`,
`creationTimestamp`, `selfLink` and the annotations servers and kubectl add
(`kubectl.kubernetes.io/last-applied-configuration`, `deployment.kubernetes.io/revision`).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from afflux.api import meta

__all__ = [
    "disabled",
    "inventory_ids",
    "mask_secrets",
    "normalize",
    "object_id",
    "object_label",
    "ssa_policy",
    "unified_diff",
]

_SERVER_METADATA = ("managedFields", "resourceVersion", "uid", "generation",
                    "creationTimestamp", "selfLink", "deletionTimestamp",
                    "deletionGracePeriodSeconds")
_SERVER_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",
                       "deployment.kubernetes.io/revision")
MASK = "*****"


def normalize(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy without the fields the server manages (see the module docstring)."""
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    m = out.get("metadata") or {}
    for key in _SERVER_METADATA:
        m.pop(key, None)
    notes = m.get("annotations")
    if isinstance(notes, dict):
        for key in _SERVER_ANNOTATIONS:
            notes.pop(key, None)
        if not notes:
            m.pop("annotations", None)
    return out


def mask_secrets(live: Mapping[str, Any] | None, merged: Mapping[str, Any]
                 ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Secrets with their values hidden: equal values show as `*****`, changed ones as
    `***** (before)` / `***** (after)`, so a diff says what changed but not to what."""
    if merged.get("kind") != "Secret" or merged.get("apiVersion") != "v1":
        return (dict(live) if live is not None else None), dict(merged)
    new_live = copy.deepcopy(dict(live)) if live is not None else None
    new_merged = copy.deepcopy(dict(merged))
    for field in ("data", "stringData"):
        before = (new_live or {}).get(field) or {}
        after = new_merged.get(field) or {}
        for key in set(before) | set(after):
            same = before.get(key) == after.get(key)
            if key in before:
                before[key] = MASK if same else f"{MASK} (before)"
            if key in after:
                after[key] = MASK if same else f"{MASK} (after)"
    return new_live, new_merged


def object_label(obj: Mapping[str, Any]) -> str:
    """`Kind/namespace/name` (`Kind/name` for cluster-scoped objects)."""
    m = obj.get("metadata") or {}
    parts = [str(obj.get("kind", "")), m.get("namespace"), m.get("name")]
    return "/".join(str(p) for p in parts if p)


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def object_id(obj: Mapping[str, Any]) -> str:
    """The inventory id of an object: `<ns>_<name>_<group>_<kind>`."""
    m = obj.get("metadata") or {}
    return "_".join([str(m.get("namespace") or ""), str(m.get("name") or ""),
                     _group(str(obj.get("apiVersion", ""))), str(obj.get("kind", ""))])


def inventory_ids(ks: Mapping[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(id, namespace, name, apiVersion, kind) of each `status.inventory` entry."""
    out = []
    for entry in ((ks.get("status") or {}).get("inventory") or {}).get("entries") or []:
        ident, version = str(entry.get("id", "")), str(entry.get("v", ""))
        parts = ident.split("_")
        if len(parts) != 4:
            continue
        ns, name, group, kind = parts
        out.append((ident, ns, name, f"{group}/{version}" if group else version, kind))
    return out


def disabled(obj: Mapping[str, Any], annotation: str) -> bool:
    """Whether the object has `annotation` (or the label of that name) set to disabled."""
    m = obj.get("metadata") or {}
    for source in (m.get("annotations") or {}, m.get("labels") or {}):
        if str(source.get(annotation, "")).lower() == "disabled":
            return True
    return False


def reconcile_disabled(obj: Mapping[str, Any]) -> bool:
    return disabled(obj, meta.KUSTOMIZE_RECONCILE_ANNOTATION)


def prune_disabled(obj: Mapping[str, Any]) -> bool:
    return disabled(obj, meta.KUSTOMIZE_PRUNE_ANNOTATION)


def ssa_policy(obj: Mapping[str, Any]) -> str:
    """The object's `kustomize.toolkit.fluxcd.io/ssa` policy, lower case ('' when unset)."""
    m = obj.get("metadata") or {}
    for source in (m.get("annotations") or {}, m.get("labels") or {}):
        value = source.get(meta.KUSTOMIZE_SSA_ANNOTATION)
        if value:
            return str(value).lower()
    return ""


def _yaml(obj: Mapping[str, Any] | None) -> list[str]:
    if obj is None:
        return []
    return yaml.safe_dump(dict(obj), sort_keys=True, default_flow_style=False,
                          width=1 << 16).splitlines(keepends=True)


def unified_diff(live: Mapping[str, Any] | None, merged: Mapping[str, Any],
                 label: str, context: int = 3) -> str:
    """The unified diff from the live object to the dry-run result ('' when equal)."""
    lines = difflib.unified_diff(_yaml(live), _yaml(merged), fromfile=f"live {label}",
                                 tofile=f"merged {label}", n=context)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def changed(live: Mapping[str, Any], merged: Mapping[str, Any]) -> bool:
    return normalize(live) != normalize(merged)


def summary(created: Iterable[str], drifted: Iterable[str], deleted: Iterable[str]) -> str:
    """One line: `2 created, 1 drifted, 0 deleted`."""
    return f"{len(list(created))} created, {len(list(drifted))} drifted, " \
           f"{len(list(deleted))} deleted"
