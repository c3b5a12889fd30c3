"""The operators' JSON log lines (`ts`, `level`, `logger`, `msg`, `controller`, `kind`,
`name`, `namespace`, ...) as `afflux logs` reads, filters and prints them. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._format import parse_time

__all__ = ["LEVELS", "LogFilter", "format_record", "merge_by_time", "parse_line",
           "parse_since_time", "record_kind"]

#: level names by severity (the operators write trace, debug, info, warning, error)
LEVELS: dict[str, int] = {"trace": 5, "debug": 10, "info": 20, "warning": 30, "warn": 30,
                          "error": 40, "critical": 50}


def parse_line(line: str, controller: str = "") -> dict[str, Any] | None:
    """A log record from one line: the JSON object, or for a non-JSON line a record with
    just `msg` (and `controller`); None for a blank line."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if controller and not record.get("controller"):
                record["controller"] = controller
            return record
    return {"msg": text, "controller": controller}


def record_kind(record: Mapping[str, Any]) -> str:
    """The kind of the object a line is about: afflux's `kind`, or what Flux's controllers
    write (`controllerKind`; `reconciler kind` in older ones), as flux logs reads it."""
    for key in ("kind", "controllerKind", "reconciler kind"):
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


@dataclass(frozen=True)
class LogFilter:
    """Which records to show. `level` is a minimum (`info` hides debug and trace);
    `namespace` None means every namespace; records about no object always pass the
    kind/name/namespace filters unless a kind or name is asked for."""

    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    level: str | None = None
    since: datetime | None = None

    def matches(self, record: Mapping[str, Any]) -> bool:
        if self.kind and record_kind(record).lower() != self.kind.lower():
            return False
        if self.name and record.get("name") != self.name:
            return False
        if self.namespace and record.get("namespace") not in (None, "", self.namespace):
            return False
        if self.level:
            wanted = LEVELS.get(self.level.lower(), 0)
            have = LEVELS.get(str(record.get("level", "")).lower(), LEVELS["info"])
            if have < wanted:
                return False
        if self.since:
            when = parse_time(str(record.get("ts", "")))
            if when is not None and when < self.since:
                return False
        return True


def format_record(record: Mapping[str, Any]) -> str:
    """`<ts> <level> <Kind>/<name>.<namespace> - <msg>` (the controller's name in place of
    the object for lines about no object), with `error` appended when present."""
    ts = str(record.get("ts", ""))
    level = str(record.get("level", ""))
    kind = record_kind(record)
    if kind and record.get("name"):
        subject = f"{kind}/{record['name']}"
        if record.get("namespace"):
            subject += f".{record['namespace']}"
    else:
        subject = str(record.get("controller") or record.get("logger") or "")
    line = " ".join(p for p in (ts, level, subject) if p)
    line = f"{line} - {record.get('msg', '')}" if line else str(record.get("msg", ""))
    if record.get("error"):
        line += f": {record['error']}"
    return line


def merge_by_time(streams: Iterable[Iterable[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    """The records of several controllers in one list, by timestamp (stable: records without
    one keep their place relative to their own controller's)."""
    tagged: list[tuple[str, int, int, Mapping[str, Any]]] = []
    for s, stream in enumerate(streams):
        last = ""
        for record in stream:
            ts = str(record.get("ts") or last)
            last = ts
            tagged.append((ts, s, len(tagged), record))
    tagged.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in tagged]


_RFC3339_ZONE = re.compile(r"(Z|z|[+-]\d\d:\d\d)$")


def parse_since_time(text: str) -> datetime:
    """`--since-time`: an RFC 3339 time with a zone (`2024-05-01T12:00:00Z`, an offset, or
    fractional seconds); ValueError with flux's message otherwise."""
    when = parse_time(text)
    if when is None or not _RFC3339_ZONE.search(text.strip()) or "T" not in text.upper():
        raise ValueError(f"{text} is not a valid (RFC3339) time")
    return when
