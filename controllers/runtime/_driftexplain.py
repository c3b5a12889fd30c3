"""Explained drift, the pure part: what differs between an object in the cluster and what an
apply makes of it, field by field, and who wrote each field last.

`explain(live, dry_run, ...)` compares the two the way the apply engine judges drift
(`_ssa.comparable`: labels, annotations and every field but the rest of `metadata` and
`status`) and returns an `ObjectDrift`: per differing JSON path (`spec.replicas`,
`spec.template.spec.containers[0].image`, `metadata.labels.team`) the value in the cluster,
the value the apply restores, and the field manager that last wrote that path in the
cluster (from `metadata.managedFields`: the entries whose `fieldsV1` hold the path, the
newest by `time`, a subresource's too, so `kubectl scale` through `/scale` is named; None when
nobody owns it, e.g. a field removed by hand).

Bounds and masking, so that nothing secret and nothing large leaves the cluster through an
Event: values of a Secret's `data` and `stringData` (and kubectl's last-applied annotation
on a Secret, which holds its data) are shown as `***`; each value is compact JSON cut to
`value_limit` characters; at most `max_fields` paths per object are kept (the rest are
counted in `more`). Lists of the same length are compared item by item; lists of different
lengths are one change of the whole list.

`drift_message` is the Event message; `encode`/`decode` the compact JSON form that travels
in the Event's `afflux.toolkit.fluxcd.io/drift` annotation (cut to `max_bytes` by dropping
whole objects), which `afflux get ks NAME --drift` and the UI read back.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "DRIFT_ANNOTATION",
    "MASK",
    "FieldDrift",
    "ObjectDrift",
    "changed_paths",
    "decode",
    "drift_message",
    "encode",
    "explain",
    "field_owner",
    "format_path",
]

#: the Event annotation holding `encode`'s JSON
DRIFT_ANNOTATION = "afflux.toolkit.fluxcd.io/drift"
MASK = "***"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_SECRET_FIELDS = frozenset({"data", "stringData"})

Segment = str | int
Path = tuple[Segment, ...]


@dataclasses.dataclass(frozen=True)
class FieldDrift:
    """One differing path: values as compact JSON text (None: absent), masked and cut."""

    path: str
    live: str | None
    applied: str | None
    manager: str | None

    def __str__(self) -> str:
        by = f" (by {self.manager})" if self.manager else ""
        return f"{self.path}: {_show(self.live)} -> {_show(self.applied)}{by}"


@dataclasses.dataclass(frozen=True)
class ObjectDrift:
    """What drifted on one object (`Kind/ns/name`)."""

    subject: str
    fields: tuple[FieldDrift, ...]
    more: int = 0  # differing paths left out (over `max_fields`)

    def by_others(self, ours: str) -> bool:
        """Whether someone other than `ours` last wrote a differing field (drift, rather
        than a change of the manifest, which only touches fields `ours` wrote or none)."""
        return any(f.manager not in (None, ours) for f in self.fields)

    def lines(self) -> list[str]:
        out = [f"{self.subject}:"]
        out.extend(f"  {f}" for f in self.fields)
        if self.more:
            out.append(f"  ... and {self.more} more field(s)")
        return out

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"object": self.subject, "fields": [
            {k: v for k, v in dataclasses.asdict(f).items() if v is not None}
            for f in self.fields]}
        if self.more:
            doc["more"] = self.more
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ObjectDrift:
        fields = tuple(
            FieldDrift(str(f.get("path") or ""), _opt(f.get("live")), _opt(f.get("applied")),
                       _opt(f.get("manager")))
            for f in doc.get("fields") or () if isinstance(f, Mapping))
        more = doc.get("more")
        return cls(str(doc.get("object") or ""), fields, more if isinstance(more, int) else 0)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _show(value: str | None) -> str:
    return "(absent)" if value is None else value


# --- paths -----------------------------------------------------------------------------------


def format_path(path: Path) -> str:
    """`spec.template.spec.containers[0].image`; keys with dots or brackets quoted
    (`metadata.labels["app.kubernetes.io/name"]`)."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif seg and all(c.isalnum() or c in "-_" for c in seg):
            out += f".{seg}" if out else seg
        else:
            out += f"[{json.dumps(seg)}]"
    return out


def _comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    out = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    if labels or annotations:
        out["metadata"] = {k: dict(v) for k, v in (("labels", labels),
                                                  ("annotations", annotations)) if v}
    return out


def changed_paths(live: Any, applied: Any, path: Path = ()) -> Iterator[tuple[Path, Any, Any]]:
    """(path, value in the cluster, value applied) for every leaf that differs; a key absent on
    one side is `None` there (a `None` value and an absent key are not told apart)."""
    if live == applied:
        return
    if isinstance(live, Mapping) and isinstance(applied, Mapping):
        for key in sorted(set(live) | set(applied), key=str):
            yield from changed_paths(live.get(key), applied.get(key), (*path, str(key)))
    elif (isinstance(live, list) and isinstance(applied, list)
          and len(live) == len(applied)):
        for i, (a, b) in enumerate(zip(live, applied, strict=True)):
            yield from changed_paths(a, b, (*path, i))
    else:
        yield path, live, applied


# --- managedFields ----------------------------------------------------------------------------


def _item_keys(fields: Mapping[str, Any], item: Any) -> list[str]:
    """The keys of a list item in `fieldsV1`: `k:{...}` whose pairs the item has, `v:<json>`."""
    found = []
    for key in fields:
        if key.startswith("k:") and isinstance(item, Mapping):
            try:
                wanted = json.loads(key[2:])
            except ValueError:
                continue
            if isinstance(wanted, dict) and all(item.get(k) == v for k, v in wanted.items()):
                found.append(key)
        elif key.startswith("v:"):
            try:
                if json.loads(key[2:]) == item:
                    found.append(key)
            except ValueError:
                continue
    return found


def _owns(fields: Any, path: Path, live: Any) -> bool:
    """Whether a `fieldsV1` tree holds `path` (or a field below it) of the object `live`."""
    node, value = fields, live
    for seg in path:
        if not isinstance(node, Mapping):
            return False
        if isinstance(seg, int):
            item = value[seg] if isinstance(value, list) and seg < len(value) else None
            keys = _item_keys(node, item) or ([f"i:{seg}"] if f"i:{seg}" in node else [])
            if not keys:
                return False
            node, value = node[keys[0]], item
        else:
            node = node.get(f"f:{seg}")
            if node is None:
                return False
            value = value.get(seg) if isinstance(value, Mapping) else None
    return True


def field_owner(managed_fields: Iterable[Mapping[str, Any]] | None, path: Path, live: Any
                ) -> str | None:
    """The manager of the newest entry of `managed_fields` that holds `path` in the object
    `live` (module docstring); None when none does."""
    best: tuple[str, str] | None = None
    for entry in managed_fields or ():
        if not _owns(entry.get("fieldsV1"), path, live):
            continue
        cand = (str(entry.get("time") or ""), str(entry.get("manager") or ""))
        if best is None or cand[0] > best[0]:
            best = cand
    return best[1] if best else None


# --- the explanation ----------------------------------------------------------------------------


def _masked(kind: str, path: Path) -> bool:
    if kind != "Secret" or not path:
        return False
    if path[0] in _SECRET_FIELDS:
        return True
    return path[:3] == ("metadata", "annotations", LAST_APPLIED)


def _text(value: Any, limit: int) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[:max(limit - 3, 1)] + "..."


def _value(value: Any, masked: bool, limit: int) -> str | None:
    if value is None:
        return None
    return MASK if masked else _text(value, limit)


def explain(live: Mapping[str, Any], applied: Mapping[str, Any], *, subject: str,
            max_fields: int = 20, value_limit: int = 80) -> ObjectDrift:
    """What differs between `live` (with its managedFields) and `applied` (the dry-run
    result), bounded and masked (module docstring)."""
    kind = str(applied.get("kind") or live.get("kind") or "")
    live_c, applied_c = _comparable(live), _comparable(applied)
    managed = (live.get("metadata") or {}).get("managedFields")
    fields: list[FieldDrift] = []
    more = 0
    for path, old, new in changed_paths(live_c, applied_c):
        if len(fields) >= max_fields:
            more += 1
            continue
        masked = _masked(kind, path)
        fields.append(FieldDrift(format_path(path), _value(old, masked, value_limit),
                                 _value(new, masked, value_limit),
                                 field_owner(managed, path, live)))
    return ObjectDrift(subject, tuple(fields), more)


def drift_message(drifts: Sequence[ObjectDrift], limit: int = 2048) -> str:
    """The Event message: one block per object, cut at a line to `limit` characters."""
    lines = ["drift corrected:"]
    for drift in drifts:
        lines.extend(drift.lines())
    out: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        if size + len(line) + 1 > limit - 40:
            out.append(f"... {len(lines) - i} more line(s)")
            break
        out.append(line)
        size += len(line) + 1
    return "\n".join(out)


def encode(drifts: Sequence[ObjectDrift], max_bytes: int = 16384) -> str:
    """The annotation's JSON: a list of `ObjectDrift.to_dict`, whole objects dropped from
    the end until it fits `max_bytes` (then `{"truncated": n}` ends the list)."""
    docs = [d.to_dict() for d in drifts]
    for keep in range(len(docs), -1, -1):
        tail = [{"truncated": len(docs) - keep}] if keep < len(docs) else []
        text = json.dumps(docs[:keep] + tail, separators=(",", ":"), sort_keys=True)
        if len(text.encode()) <= max_bytes:
            return text
    return "[]"


def decode(text: str | None) -> list[ObjectDrift]:
    """`encode`'s JSON back (malformed input: nothing)."""
    try:
        docs = json.loads(text or "[]")
    except ValueError:
        return []
    if not isinstance(docs, list):
        return []
    return [ObjectDrift.from_dict(d) for d in docs if isinstance(d, Mapping) and "object" in d]
