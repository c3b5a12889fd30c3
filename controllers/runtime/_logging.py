"""Structured logs: one JSON object per line (or a console line for people).

Every record carries `ts` (RFC 3339, UTC, milliseconds), `level`, `logger`, `msg` and
`controller`; records about an object also carry `kind`, `name`, `namespace`, the kind again
as `controllerKind` (the field Flux's controllers write, which `flux logs` shows and filters
`--kind` on) and `reconcileID` inside a reconcile; any other `extra=` field a caller passes
is added as is. kopf's own object loggers attach a `k8s_ref`; it is mapped to the same
kind/name/namespace fields so kopf's lines look like ours. An exception becomes an
`error` field with its traceback in `stacktrace`.

`configure_logging` installs the one handler on the root logger; `object_logger` gives
the adapter a reconcile logs through.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

TRACE = 5
LEVELS: dict[str, int] = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
ENCODINGS = ("json", "console")

# attributes every LogRecord has; anything else on a record came from `extra=`
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
# kopf's internals we do not want in a line
OBJECT_KEY = "object_ref"  # LogRecord owns `name`, so object fields travel in one dict
_DROPPED = frozenset({"settings", "k8s_skip", "k8s_ref", OBJECT_KEY})
_ORDER = ("ts", "level", "logger", "msg", "controller", "kind", "name", "namespace",
          "controllerKind")


def _level_name(levelno: int) -> str:
    if levelno <= TRACE:
        return "trace"
    return logging.getLevelName(levelno).lower()


def record_fields(record: logging.LogRecord, controller: str) -> dict[str, Any]:
    """The fields of one log line, in a stable order."""
    when = datetime.fromtimestamp(record.created, UTC)
    fields: dict[str, Any] = {
        "ts": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
        "level": _level_name(record.levelno),
        "logger": record.name,
        "msg": record.getMessage(),
        "controller": controller,
    }
    for attr in ("k8s_ref", OBJECT_KEY):  # kopf's, ours
        ref = getattr(record, attr, None)
        if isinstance(ref, Mapping):
            for key in ("kind", "name", "namespace"):
                if ref.get(key):
                    fields[key] = ref[key]
    for key, value in record.__dict__.items():
        if key in _STANDARD or key in _DROPPED or key.startswith("_"):
            continue
        fields[key] = value
    if isinstance(fields.get("kind"), str):
        fields.setdefault("controllerKind", fields["kind"])
    if record.exc_info and record.exc_info[0] is not None:
        fields["error"] = str(record.exc_info[1]) or record.exc_info[0].__name__
        fields["stacktrace"] = logging.Formatter().formatException(record.exc_info)
    ordered = {k: fields[k] for k in _ORDER if k in fields}
    ordered.update((k, v) for k, v in fields.items() if k not in ordered)
    return ordered


class JsonFormatter(logging.Formatter):
    def __init__(self, controller: str) -> None:
        super().__init__()
        self.controller = controller

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record, self.controller), default=str,
                          ensure_ascii=False, separators=(",", ":"))


class ConsoleFormatter(logging.Formatter):
    """`ts LEVEL logger msg key=value ...` for a terminal."""

    def __init__(self, controller: str) -> None:
        super().__init__()
        self.controller = controller

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record, self.controller)
        head = [fields.pop("ts"), fields.pop("level").upper(), fields.pop("logger"),
                fields.pop("msg")]
        fields.pop("controller", None)
        stack = fields.pop("stacktrace", None)
        line = " ".join(str(h) for h in head)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{line}\n{stack}" if stack else line


def parse_level(name: str) -> int:
    try:
        return LEVELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}; use one of {', '.join(LEVELS)}") from None


def configure_logging(
    controller: str,
    *,
    level: str = "info",
    encoding: str = "json",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route all logging (ours and kopf's) through one handler on the root logger."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown log encoding {encoding!r}; use json or console")
    logging.addLevelName(TRACE, "TRACE")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(controller) if encoding == "json"
                         else ConsoleFormatter(controller))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(parse_level(level))
    logging.captureWarnings(True)  # Python warnings become log lines too, not stray text
    # kopf is chatty: its machinery at debug level, and a "Handler ... succeeded" line per
    # watch event on kopf.objects at info level. Ours are the lines that matter.
    logging.getLogger("kopf").setLevel(max(parse_level(level), logging.INFO))
    logging.getLogger("kopf.objects").setLevel(max(parse_level(level), logging.WARNING))
    return handler


class ObjectLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose lines carry the object's kind/name/namespace (and more fields)."""

    def __init__(self, logger: logging.Logger, extra: Mapping[str, Any]) -> None:
        super().__init__(logger, dict(extra))

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return msg, kwargs


def object_extra(kind: str, name: str, namespace: str | None, **fields: Any) -> dict[str, Any]:
    """`extra=` for a plain logger call about an object."""
    return {OBJECT_KEY: {"kind": kind, "name": name, "namespace": namespace}, **fields}


def object_logger(
    logger: logging.Logger | str,
    *,
    kind: str,
    name: str,
    namespace: str | None,
    **fields: Any,
) -> ObjectLogger:
    """A logger adapter for one object; `fields` are added to every line."""
    base = logging.getLogger(logger) if isinstance(logger, str) else logger
    return ObjectLogger(base, object_extra(kind, name, namespace, **fields))
