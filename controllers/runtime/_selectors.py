"""Kubernetes label selector strings matched against a label map (pure, no I/O): what the
`labelSelector` / `annotationSelector` of Flux's patch and ignore-rule targets mean, shared by
kustomize-controller's `spec.ignore` and helm-controller's drift ignore rules; and
`check_selector`, which refuses a selector the API server would refuse (the operators'
`--watch-label-selector`, sent to the API server with every list and watch of their kinds)."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["check_selector", "selector_matches"]

_SET_TERM = re.compile(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$")


_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_VALUE = re.compile(rf"^({_NAME})?$")
_EQUALITY = re.compile(r"^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$")


def _check_key(key: str, term: str) -> None:
    if not _KEY.match(key):
        raise ValueError(f"label selector term {term!r}: {key!r} is not a valid label key "
                         "(an optional DNS prefix and '/', then up to 63 letters, digits, "
                         "'-', '_' or '.')")


def _check_value(value: str, term: str) -> None:
    if not _VALUE.match(value):
        raise ValueError(f"label selector term {term!r}: {value!r} is not a valid label value "
                         "(up to 63 letters, digits, '-', '_' or '.', starting and ending "
                         "with a letter or digit)")


def check_selector(selector: str) -> str:
    """`selector` when it is a valid Kubernetes label selector (`a=b`, `a!=b`,
    `a in (x,y)`, `a notin (z)`, `a`, `!a`, comma-separated; empty selects everything);
    ValueError naming the bad term otherwise."""
    if selector.count("(") != selector.count(")"):
        raise ValueError(f"label selector {selector!r}: unbalanced parentheses")
    for term in _split_terms(selector):
        match = _SET_TERM.match(term)
        if match:
            key, _, values = match.groups()
            _check_key(key, term)
            for value in values.split(","):
                _check_value(value.strip(), term)
            continue
        match = _EQUALITY.match(term)
        if match:
            key, _, value = match.groups()
            _check_key(key, term)
            _check_value(value, term)
            continue
        _check_key(term[1:].strip() if term.startswith("!") else term, term)
    return selector


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
