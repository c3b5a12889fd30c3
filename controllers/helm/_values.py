"""A HelmRelease's values: `valuesFrom` in order, then inline `values`; and their digest. Pure.

Flux composes the values a release gets like this (helm-controller's
`ChartValuesFromReferences`):

1. each `spec.valuesFrom` entry in turn: without `targetPath`, the YAML document under
   `valuesKey` (`values.yaml` by default) is deep-merged over what came before; with
   `targetPath`, the key's raw text is put at that path (Helm's `--set path=value` syntax:
   dotted keys, `\\.` for a literal dot, `[i]` list indexes, `true`/`false`/`null`/integers
   typed as in `--set`; `literal: true` keeps the text a string, like `--set-literal`);
2. the inline `spec.values` deep-merged last (they win over every valuesFrom).

A reference whose object is missing, or whose object lacks the key, fails the run unless it
is `optional: true`, then it is skipped (`values_sources`, as Flux's chartutil does it).

A deep merge replaces everything but maps: maps merge key by key, a later list or scalar
replaces the earlier value.

`config_digest` is the `sha256:<hex>` Flux writes as `configDigest`/`lastAttemptedConfigDigest`
(and uses as the event token): the SHA-256 of the values marshalled as Go's `encoding/json`
does (keys sorted, no spaces, `<`, `>`, `&`, U+2028 and U+2029 escaped).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = [
    "DEFAULT_VALUES_KEY",
    "ValuesError",
    "ValuesSource",
    "compose_values",
    "config_digest",
    "go_json",
    "merge_maps",
    "reused_values",
    "set_path",
    "values_sources",
    "values_text",
]

DEFAULT_VALUES_KEY = "values.yaml"
_INDEX = re.compile(r"^(.*)\[(\d{1,5})\]$")
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_MAX_INDEX = 65536
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
               "\u2029": "\\u2029"}


class ValuesError(ValueError):
    """Values that cannot be composed (bad YAML, a bad target path)."""


@dataclass(frozen=True)
class ValuesSource:
    """The text one valuesFrom entry found (`where` names it in error messages)."""

    text: str
    where: str
    target_path: str | None = None
    literal: bool = False


def merge_maps(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`overlay` deep-merged over `base` (maps merge, anything else replaces); new dicts."""
    result: dict[str, Any] = dict(base)
    for key, value in overlay.items():
        old = result.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            result[key] = merge_maps(old, value)
        else:
            result[key] = value
    return result


def _split_path(path: str) -> list[str]:
    """`a.b\\.c[0].d` -> ['a', 'b.c[0]', 'd'] (escaped dots stay in their key)."""
    parts, current, escaped = [], [], False
    for char in path:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    if any(not p for p in parts):
        raise ValuesError(f"target path '{path}' has an empty key")
    return parts


def _typed(text: str, literal: bool) -> Any:
    """The value `--set` would give `text` (`--set-literal` keeps it a string)."""
    if literal:
        return text
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _INT.match(text):
        return int(text)
    return text


def _segments(path: str) -> list[str | int]:
    """`a.b[1][2].c` -> ['a', 'b', 1, 2, 'c']."""
    segments: list[str | int] = []
    for part in _split_path(path):
        indexes: list[int] = []
        while (match := _INDEX.match(part)) is not None:
            part, index = match.group(1), int(match.group(2))
            if index >= _MAX_INDEX:
                raise ValuesError(f"target path '{path}': index {index} is too large")
            indexes.insert(0, index)
        if not part:
            raise ValuesError(f"target path '{path}' has an index without a key")
        segments.append(part)
        segments.extend(indexes)
    return segments


def set_path(values: dict[str, Any], path: str, text: str, *, literal: bool = False) -> None:
    """Put `text` (typed as `--set` does, unless `literal`) at `path` in `values`, creating
    maps and padding lists on the way."""
    segments = _segments(path)
    value = _typed(text, literal)
    node: Any = values
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        following: Any = None if last else ([] if isinstance(segments[i + 1], int) else {})
        if isinstance(segment, int):
            if not isinstance(node, list):
                raise ValuesError(f"target path '{path}': not a list at index {segment}")
            while len(node) <= segment:
                node.append(None)
            if last:
                node[segment] = value
            else:
                if not isinstance(node[segment], (dict, list)):
                    node[segment] = following
                node = node[segment]
            continue
        if last:
            node[segment] = value
            return
        child = node.get(segment)
        want_list = isinstance(following, list)
        if want_list and not isinstance(child, list) or not want_list and not isinstance(
                child, dict):
            child = following
            node[segment] = child
        node = child


def compose_values(sources: Sequence[ValuesSource],
                   inline: Mapping[str, Any] | None) -> dict[str, Any]:
    """The release's values (module docstring): `sources` in order, then `inline`."""
    result: dict[str, Any] = {}
    for source in sources:
        if source.target_path:
            set_path(result, source.target_path, source.text.strip("\n") if not source.literal
                     else source.text, literal=source.literal)
            continue
        try:
            document = yaml.safe_load(source.text)
        except yaml.YAMLError as err:
            raise ValuesError(f"{source.where} is not valid YAML: {err}") from None
        if document is None:
            continue
        if not isinstance(document, Mapping):
            raise ValuesError(f"{source.where} is not a YAML mapping of values")
        result = merge_maps(result, document)
    return merge_maps(result, inline or {})


def go_json(value: Any) -> str:
    """`value` as Go's json.Marshal writes it (sorted keys, compact, HTML-safe escapes)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text


def reused_values(values: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """The values `helm upgrade --reuse-values` (`upgrade.preserveValues`) gives a release:
    the previous release's values under the new ones (maps merged key by key, the new side
    winning), a null on the new side removing the key."""
    result: dict[str, Any] = {}
    for key in {**previous, **values}:
        new, old = values.get(key), previous.get(key)
        if key in values and new is None:
            continue
        if isinstance(new, Mapping) and isinstance(old, Mapping):
            result[key] = reused_values(new, old)
        else:
            result[key] = new if key in values else old
    return result


def config_digest(values: Mapping[str, Any] | None) -> str:
    """`sha256:<hex>` of the values (module docstring)."""
    return "sha256:" + hashlib.sha256(go_json(dict(values or {})).encode()).hexdigest()


def values_sources(refs: Sequence[Any], namespace: str,
                   found: Mapping[tuple[str, str], Mapping[str, Any] | None]
                   ) -> list[ValuesSource]:
    """The texts of `spec.valuesFrom` (`refs`, in order) from `found`, (kind, name) -> the
    ConfigMap or Secret read from `namespace` (None: not there). A missing object or key is
    skipped when the reference is optional; otherwise ValuesError says what to fix."""
    sources: list[ValuesSource] = []
    for ref in refs:
        where = f"{ref.kind} '{namespace}/{ref.name}'"
        key = ref.values_key or DEFAULT_VALUES_KEY
        obj = found.get((ref.kind, ref.name))
        if obj is None:
            if ref.optional:
                continue
            raise ValuesError(f"{where} not found; create it, or set optional: true in "
                              "spec.valuesFrom")
        text = values_text(dict(obj), ref.kind, key)
        if text is None:
            if ref.optional:
                continue
            raise ValuesError(f"{where} has no key '{key}' (set valuesKey to the key holding "
                              "the values, or optional: true)")
        sources.append(ValuesSource(text, f"key '{key}' of {where}", ref.target_path,
                                    bool(getattr(ref, "literal", False))))
    return sources


def values_text(obj: dict[str, Any], kind: str, key: str) -> str | None:
    """The text under `key` of a ConfigMap or Secret body, None when the key is absent."""
    data = obj.get("data") or {}
    if key in data:
        value = data[key]
        if kind == "Secret":
            try:
                return base64.b64decode(value).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
        return str(value)
    binary = obj.get("binaryData") or {}
    if key in binary:
        try:
            return base64.b64decode(binary[key]).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None
