"""Kubernetes label selector strings matched against a label map (pure, no I/O): what the
`labelSelector` / `annotationSelector` of Flux's patch and ignore-rule targets mean, shared by
kustomize-controller's `spec.ignore` and helm-controller's drift ignore rules."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["selector_matches"]

_SET_TERM = re.compile(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$")


def _split_terms(selector: str) -> list[str]:
    """The terms of a selector: split at the commas outside parentheses."""
    terms: list[str] = []
    depth, current = 0, ""
    for c in selector:
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        if c == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += c
    if current.strip():
        terms.append(current.strip())
    return [t for t in terms if t]


def selector_matches(selector: str | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector string (`a=b`, `a==b`, `a!=b`, `a in (x,y)`,
    `a notin (z)`, `a`, `!a`, comma-separated) against a label map; an empty selector
    matches everything."""
    for term in _split_terms(selector or ""):
        match = _SET_TERM.match(term)
        if match:
            key, op, values = match.groups()
            allowed = {v.strip() for v in values.split(",") if v.strip()}
            if (labels.get(key) in allowed) != (op == "in"):
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True
