"""Drift of a release's objects from its manifest: what differs, what is ignored, what to
patch, and how it is told. Pure: no I/O, table-tested.

helm-controller (`_reconcile_drift`) dry-runs each object of the release's manifest with
server-side apply and hands the object in the cluster and the dry-run result (what the object
would become) to `object_drift`, which:

1. removes from both copies the paths that `spec.driftDetection.ignore` rules name for this
   object (JSON pointers, RFC 6901; a rule without `target` applies to every object; a
   target selects by group, version, kind, name and namespace, each an anchored regular
   expression as in kustomize, and by `labelSelector`/`annotationSelector`);
2. compares labels, annotations and everything but `metadata` and `status` (the runtime's
   `comparable`), and returns the JSON patch (RFC 6902) that turns the cluster's copy into the
   dry-run result: `add` for a field the cluster lacks, `replace` for one that differs,
   `remove` for one the apply would drop. Maps are compared key by key, lists of the same
   length item by item; a list whose length changed is replaced whole.

An object missing from the cluster is "removed" (Flux's word: removed from the cluster).
`summary` says, per object, what Flux says ("ConfigMap/ns/name changed (1 additions,
2 changes, 0 removals)") followed by the paths that differ, so the condition and the event
name the objects and the fields. No value is ever put in a summary.

Explained drift (afflux's own, issue #16): `explained` adds one line per drifted path (at
most ten an object), from the runtime's `explain_drift` (the same explanation
kustomize-controller gives): the value in the cluster and in the release (compact JSON,
cut; a Secret's data masked) and the field manager that last wrote the field, from
managedFields. `drift_message` puts these in the Drifted condition and the event, cut at
4000 characters.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from afflux.controllers.runtime import ObjectDrift as FieldsExplained
from afflux.controllers.runtime import comparable, explain_drift, selector_matches

__all__ = [
    "DISABLED_KEY",
    "ObjectDrift",
    "correction_patch",
    "drift_message",
    "ignored_paths",
    "json_patch",
    "object_drift",
    "remove_pointer",
    "selector_matches",
    "target_matches",
]

#: A label or annotation (value `disabled`) that keeps an object out of drift detection.
DISABLED_KEY = "helm.toolkit.fluxcd.io/driftDetection"
MAX_PATHS = 10
MAX_MESSAGE = 4000


@dataclass(frozen=True)
class ObjectDrift:
    """One drifted object: its `Kind/namespace/name`, and the patch that corrects it
    (empty for a missing object, which is applied whole); `explanation` explains the paths
    (the runtime's `explain_drift`)."""

    subject: str
    missing: bool = False
    patch: list[dict[str, Any]] = field(default_factory=list)
    explanation: FieldsExplained | None = None

    def explained(self) -> str:
        """The summary, then one line per path (the runtime's explained drift)."""
        lines = self.explanation.lines()[1:] if self.explanation else []
        return "\n".join([self.summary(), *lines])

    def summary(self) -> str:
        if self.missing:
            return f"{self.subject} removed"
        count = {op: sum(1 for p in self.patch if p["op"] == op)
                 for op in ("add", "replace", "remove")}
        paths = [p["path"] for p in self.patch]
        shown = ", ".join(paths[:MAX_PATHS]) + (
            f", and {len(paths) - MAX_PATHS} more" if len(paths) > MAX_PATHS else "")
        return (f"{self.subject} changed ({count['add']} additions, {count['replace']} changes, "
                f"{count['remove']} removals): {shown}")


def drift_message(release_ref: str, drifts: Sequence[ObjectDrift], *, corrected: bool,
                  limit: int = MAX_MESSAGE) -> str:
    """The Drifted condition's and the event's message: each object's summary and its
    explained paths, cut at `limit` characters."""
    what = "has been corrected" if corrected else "has drifted from the desired state"
    text = f"Cluster state of release {release_ref} {what}:\n" + "\n".join(
        d.explained() for d in drifts)
    if len(text) <= limit:
        return text
    cut = text[: limit - 40].rsplit("\n", 1)[0]
    return f"{cut}\n... ({len(text) - len(cut)} more characters)"


# --- JSON pointers ----------------------------------------------------------------------


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def remove_pointer(doc: Any, pointer: str) -> None:
    """Remove what `pointer` names from `doc`, in place; nothing when it names nothing."""
    if not pointer.startswith("/"):
        return
    tokens = [_unescape(t) for t in pointer[1:].split("/")]
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return
    last = tokens[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]


# --- selectors --------------------------------------------------------------------------

def _full(pattern: str | None, value: str) -> bool:
    if not pattern:
        return True
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return pattern == value


def target_matches(target: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> bool:
    """Whether an ignore rule's `target` (camelCase keys, as in the spec) selects `obj`."""
    if not target:
        return True
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    meta = obj.get("metadata") or {}
    return (_full(target.get("group"), group) and _full(target.get("version"), version)
            and _full(target.get("kind"), str(obj.get("kind") or ""))
            and _full(target.get("name"), str(meta.get("name") or ""))
            and _full(target.get("namespace"), str(meta.get("namespace") or ""))
            and selector_matches(target.get("labelSelector"), meta.get("labels") or {})
            and selector_matches(target.get("annotationSelector"),
                                 meta.get("annotations") or {}))


def ignored_paths(rules: Sequence[Mapping[str, Any]], obj: Mapping[str, Any]) -> list[str]:
    """The JSON pointers the rules ignore on `obj`."""
    return [path for rule in rules if target_matches(rule.get("target"), obj)
            for path in rule.get("paths") or ()]


# --- the diff ---------------------------------------------------------------------------


def json_patch(live: Any, want: Any, path: str = "") -> list[dict[str, Any]]:
    """The RFC 6902 operations that turn `live` into `want` (module docstring)."""
    if isinstance(live, dict) and isinstance(want, dict):
        ops: list[dict[str, Any]] = []
        for key in sorted(set(live) | set(want)):
            where = f"{path}/{_escape(str(key))}"
            if key not in live:
                ops.append({"op": "add", "path": where, "value": copy.deepcopy(want[key])})
            elif key not in want:
                ops.append({"op": "remove", "path": where})
            else:
                ops.extend(json_patch(live[key], want[key], where))
        return ops
    if isinstance(live, list) and isinstance(want, list) and len(live) == len(want):
        return [op for i, (a, b) in enumerate(zip(live, want, strict=True))
                for op in json_patch(a, b, f"{path}/{i}")]
    if live == want:
        return []
    return [{"op": "replace", "path": path or "/", "value": copy.deepcopy(want)}]


def correction_patch(live: Mapping[str, Any], patch: Sequence[Mapping[str, Any]]
                     ) -> list[dict[str, Any]]:
    """`patch` made applicable to the object in the cluster: the diff is over `comparable`
    copies, which always have labels and annotations; the real object may have neither."""
    meta = live.get("metadata") or {}
    first = [{"op": "add", "path": f"/metadata/{key}", "value": {}}
             for key in ("labels", "annotations")
             if key not in meta and any(p["path"].startswith(f"/metadata/{key}/")
                                        for p in patch)]
    return first + [dict(p) for p in patch]


def object_drift(subject: str, live: Mapping[str, Any] | None,
                 dry_run: Mapping[str, Any] | None,
                 rules: Sequence[Mapping[str, Any]] = ()) -> ObjectDrift | None:
    """How the object in the cluster (`live`, None when missing) differs from what applying
    the manifest would make of it (`dry_run`); None when it does not (module docstring)."""
    if live is None:
        return ObjectDrift(subject, missing=True)
    if dry_run is None:
        return None
    ignore = ignored_paths(rules, live)
    sides = []
    for side in (live, dry_run):
        doc = copy.deepcopy(dict(side))
        for pointer in ignore:
            remove_pointer(doc, pointer)
        sides.append(doc)
    patch = json_patch(comparable(sides[0]), comparable(sides[1]))
    if not patch:
        return None
    return ObjectDrift(subject, patch=patch, explanation=explain_drift(
        sides[0], sides[1], subject=subject, max_fields=MAX_PATHS))
