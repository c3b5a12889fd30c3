"""Drift ignore rules, `spec.ignore` (pure: no I/O).

A rule names JSON pointers (RFC 6901) and, optionally, the objects it applies to (`target`:
group, version, kind, name, namespace as anchored regular expressions; labelSelector and
annotationSelector as Kubernetes selectors). For an object that exists in the cluster, the
fields at those pointers are left as the cluster has them: `keep_live_values` copies the
live value into the desired object (or drops the field when the live object lacks it), so
the server-side apply neither reports drift there nor changes it, whoever set it (an HPA
scaling replicas, a webhook adding an annotation). Objects being created get the manifest's
values, as in Flux.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from afflux.controllers.runtime import selector_matches

__all__ = ["ignored_paths", "keep_live_values", "parse_pointer", "selector_matches",
           "target_matches"]

_MISSING = object()


def parse_pointer(pointer: str) -> list[str]:
    """`/metadata/annotations/a~1b` -> ["metadata", "annotations", "a/b"]."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"invalid JSON pointer {pointer!r}: it must start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _get(obj: Any, tokens: Sequence[str]) -> Any:
    for token in tokens:
        if isinstance(obj, Mapping) and token in obj:
            obj = obj[token]
        elif isinstance(obj, list) and token.isdigit() and int(token) < len(obj):
            obj = obj[int(token)]
        else:
            return _MISSING
    return obj


def _set(obj: Any, tokens: Sequence[str], value: Any) -> None:
    """Set (or, with _MISSING, remove) the value at `tokens`, creating maps on the way."""
    for token in tokens[:-1]:
        if isinstance(obj, dict):
            if token not in obj:
                if value is _MISSING:
                    return
                obj[token] = {}
            obj = obj[token]
        elif isinstance(obj, list) and token.isdigit() and int(token) < len(obj):
            obj = obj[int(token)]
        else:
            return
    last = tokens[-1]
    if isinstance(obj, dict):
        if value is _MISSING:
            obj.pop(last, None)
        else:
            obj[last] = copy.deepcopy(value)
    elif isinstance(obj, list) and last.isdigit() and int(last) < len(obj):
        if value is _MISSING:
            del obj[int(last)]
        else:
            obj[int(last)] = copy.deepcopy(value)


def _regex(pattern: str | None, value: str) -> bool:
    return not pattern or re.fullmatch(pattern, value) is not None


def target_matches(target: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> bool:
    """Whether a rule's target selects the object (no target: every object)."""
    if not target:
        return True
    api_version = str(obj.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    meta = obj.get("metadata") or {}
    return (_regex(target.get("group"), group) and _regex(target.get("version"), version)
            and _regex(target.get("kind"), str(obj.get("kind") or ""))
            and _regex(target.get("name"), str(meta.get("name") or ""))
            and _regex(target.get("namespace"), str(meta.get("namespace") or ""))
            and selector_matches(target.get("labelSelector") or "", meta.get("labels") or {})
            and selector_matches(target.get("annotationSelector") or "",
                                 meta.get("annotations") or {}))


def ignored_paths(rules: Iterable[Mapping[str, Any]], obj: Mapping[str, Any]) -> list[str]:
    """The pointers of every rule whose target selects `obj`, in rule order, unique."""
    out: list[str] = []
    for rule in rules:
        if target_matches(rule.get("target"), obj):
            out.extend(p for p in rule.get("paths") or () if p not in out)
    return out


def keep_live_values(desired: Mapping[str, Any], live: Mapping[str, Any],
                     paths: Iterable[str]) -> dict[str, Any]:
    """`desired` with each pointer's value taken from `live` (dropped where live has none)."""
    out = copy.deepcopy(dict(desired))
    for pointer in paths:
        tokens = parse_pointer(pointer)
        if not tokens:
            continue
        _set(out, tokens, _get(live, tokens))
    return out
