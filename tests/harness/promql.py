"""The queries of config/monitoring/: read from the Grafana dashboards and the alert rules,
and the series selectors inside a PromQL expression (pure functions, no I/O but reading
the files).

`selectors(expr)` is a small scanner, not a PromQL parser: it drops string literals,
range and subquery brackets and the label lists of `by`/`without`/`on`/`ignoring`/
`group_left`/`group_right`, then takes every name not called as a function and not a
keyword, with the `{...}` matcher list that follows it. It is enough for the queries we
write, and a test of its own (tests/unit/test_promql_selectors.py) pins what it finds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right",
                      "bool", "offset", "and", "or", "unless", "inf", "nan", "atan2"})
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_RANGE = re.compile(r"\[[^\]]*\]")
_MATCHERS = re.compile(r"""\{(?:[^}"']|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*\}""")
_OFFSET = re.compile(r"\boffset\s+-?\w+")
_TOKEN = re.compile(r"\{#\d+\}|[a-zA-Z_:][a-zA-Z0-9_:]*|\d[\w.]*|.", re.S)


@dataclass(frozen=True)
class Query:
    """One expression and where it comes from (`dashboards/cluster.json: panel "..."`)."""

    origin: str
    expr: str


def selectors(expr: str) -> list[str]:
    """The vector selectors of `expr` (`name{matchers}` as written), in order."""
    # keep the matchers' strings (they are part of a selector) but not other strings:
    # protect `{...}` first, then blank strings elsewhere
    protected: list[str] = []

    def protect(m: re.Match[str]) -> str:
        protected.append(m.group(0))
        return f"{{#{len(protected) - 1}}}"

    text = _MATCHERS.sub(protect, expr)
    text = _STRING.sub('""', text)
    text = _RANGE.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    tokens = [t for t in _TOKEN.findall(text) if not t.isspace()]
    found: list[str] = []
    for i, token in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token.startswith("{#"):
            prev = tokens[i - 1] if i else ""
            if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", prev) or prev in KEYWORDS:
                found.append(protected[int(token[2:-1])])  # a selector with no name
            continue
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", token) or token.lower() in KEYWORDS:
            continue
        if nxt == "(":
            continue  # a function or aggregation
        matchers = protected[int(nxt[2:-1])] if nxt.startswith("{#") else ""
        found.append(token + matchers)
    return found


def substitute(expr: str, variables: Mapping[str, str]) -> str:
    """`expr` with Grafana's `$var` / `${var}` replaced (longest names first)."""
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", variables[name]).replace("$" + name,
                                                                       variables[name])
    return expr


def dashboard_queries(path: Path) -> Iterator[Query]:
    """Every panel target's `expr`, and every query variable's `label_values` metric."""
    board = json.loads(path.read_text())

    def walk(panels: list[dict[str, Any]]) -> Iterator[Query]:
        for panel in panels:
            yield from walk(panel.get("panels") or [])
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    yield Query(f'{path.name}: panel "{panel.get("title")}"', target["expr"])

    yield from walk(board.get("panels") or [])
    for var in (board.get("templating") or {}).get("list") or []:
        query = var.get("query")
        text = query.get("query") if isinstance(query, Mapping) else query
        m = re.fullmatch(r"\s*label_values\((.+),\s*([a-zA-Z_]\w*)\s*\)\s*", text or "")
        if var.get("type") == "query" and m:
            yield Query(f'{path.name}: variable "{var["name"]}"', m.group(1))


def dashboard_variables(path: Path) -> list[str]:
    board = json.loads(path.read_text())
    return [v["name"] for v in (board.get("templating") or {}).get("list") or []]


def rule_queries(path: Path) -> Iterator[tuple[Query, dict[str, Any]]]:
    """Every rule's expression, with the rule."""
    doc = yaml.safe_load(path.read_text())
    for group in doc.get("groups") or []:
        for rule in group.get("rules") or []:
            name = rule.get("alert") or rule.get("record")
            yield Query(f"{path.name}: rule {name}", rule["expr"]), rule
