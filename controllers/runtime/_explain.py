"""Explained drift (afflux's own): who changed a field, and its values said safely. Pure.

- `field_manager` reads `metadata.managedFields` (server-side apply's field ownership, which
  the API server keeps for every write, `kubectl edit` and `kubectl apply` included): the
  manager whose `fieldsV1` set holds the field at a JSON pointer (RFC 6901) of the object.
  Maps are walked by `f:<key>`; list items by `k:{...}` (the item's merge keys, matched
  against the object's item at that index) or `v:<value>` (sets of scalars); entries of a
  subresource count (a `scale` entry holds `spec.replicas`). When several managers hold
  the field (shared ownership), the one that wrote last wins. A field nobody
  holds (it was removed) has no manager: `newest_manager` names the last writer of the
  object instead, with "last write by".
- `shown_value` is a value as a message may carry it: compact JSON cut to `limit`
  characters, and "(masked)" for anything of a Secret but its labels (data, stringData and
  annotations such as kubectl's last-applied-configuration all carry the secret).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASKED", "field_manager", "newest_manager", "pointer_tokens", "shown_value"]

MASKED = "(masked)"


def pointer_tokens(pointer: str) -> list[str]:
    """`/a/b~1c/0` -> ['a', 'b/c', '0']."""
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _item_key(node: Mapping[str, Any], item: Any) -> str | None:
    """The fieldsV1 key of list item `item` among `node`'s keys."""
    for key in node:
        if key.startswith("k:") and isinstance(item, Mapping):
            try:
                keys = json.loads(key[2:])
            except ValueError:
                continue
            if isinstance(keys, dict) and all(item.get(k) == v for k, v in keys.items()):
                return key
        elif key.startswith("v:"):
            try:
                if json.loads(key[2:]) == item:
                    return key
            except ValueError:
                continue
    return None


def _holds(fields: Any, obj: Any, tokens: list[str]) -> bool:
    node, value = fields, obj
    for token in tokens:
        if not isinstance(node, Mapping):
            return False
        if isinstance(value, list):
            try:
                item = value[int(token)]
            except (ValueError, IndexError):
                return False
            key = _item_key(node, item)
            value = item
        else:
            key = f"f:{token}"
            value = value.get(token) if isinstance(value, Mapping) else None
        if key is None or key not in node:
            return False
        node = node[key]
    return True


def field_manager(managed_fields: Iterable[Mapping[str, Any]] | None, obj: Mapping[str, Any],
                  pointer: str) -> str | None:
    """The manager that holds the field at `pointer` of `obj` (module docstring)."""
    tokens = pointer_tokens(pointer)
    best: tuple[str, str] | None = None
    for entry in managed_fields or ():
        if not _holds(entry.get("fieldsV1"), obj, tokens):
            continue
        cand = (str(entry.get("time") or ""), str(entry.get("manager") or ""))
        if best is None or cand[0] >= best[0]:
            best = cand
    return best[1] if best else None


def newest_manager(managed_fields: Iterable[Mapping[str, Any]] | None) -> str | None:
    """The manager of the newest write (of the object or a subresource such as scale, but
    not of its status)."""
    best: tuple[str, str] | None = None
    for entry in managed_fields or ():
        if entry.get("subresource") == "status":
            continue
        cand = (str(entry.get("time") or ""), str(entry.get("manager") or ""))
        if best is None or cand[0] >= best[0]:
            best = cand
    return best[1] if best else None


def shown_value(value: Any, *, secret: bool, pointer: str, limit: int = 80) -> str:
    """`value` as a message may carry it (module docstring)."""
    if secret and not pointer.startswith("/metadata/labels"):
        return MASKED
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
