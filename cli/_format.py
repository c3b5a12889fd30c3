"""Pure text formatting for the CLI: durations ("5m2s", "3h20m", "5m2s ago"), timestamps
(RFC 3339 in, RFC3339Nano out), tables (flux's layout: upper-case headers, padded columns),
sizes ("2.4 KiB") and YAML / JSON documents. No I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

__all__ = [
    "ago",
    "column_widths",
    "dump_json",
    "dump_yaml",
    "human_bytes",
    "human_duration",
    "parse_time",
    "render_table",
    "rfc3339_nano",
    "title_bool",
]


def human_duration(seconds: float) -> str:
    """A duration the way kubectl's AGE column shows it: precise when short, coarse when long.

    <2m: `45s`; <10m: `5m2s`; <3h: `42m`; <8h: `3h20m`; <2d: `30h`; <8d: `3d4h`; <2y: `45d`;
    <8y: `2y30d`; else `9y`. Negative durations (clock skew) show as `0s`.
    """
    s = int(seconds)
    if s < 0:
        s = 0
    minutes, hours, days = s // 60, s // 3600, s // 86400
    years = days // 365
    if s < 120:
        return f"{s}s"
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if years < 2:
        return f"{days}d"
    if years < 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp (`2024-05-01T12:00:00Z`, with or without fraction or offset) as
    an aware datetime; None for None, empty or unreadable text."""
    if not text:
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Python accepts at most 6 fraction digits; Kubernetes may send 9 (RFC3339Nano)
    if "." in value:
        head, _, rest = value.partition(".")
        digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]  # the leading digits
        zone = rest[len(digits):]
        value = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def ago(then: str | datetime | None, now: datetime) -> str:
    """`5m2s ago` for a timestamp before `now`; `unknown` when there is none."""
    when = parse_time(then) if isinstance(then, str) or then is None else then
    if when is None:
        return "unknown"
    return f"{human_duration((now - when).total_seconds())} ago"


def since(then: str | datetime | None, now: datetime) -> str:
    """Like `ago` without the suffix (an AGE / LAST SEEN cell); `<unknown>` without a time."""
    when = parse_time(then) if isinstance(then, str) or then is None else then
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def rfc3339_nano(epoch_ns: int) -> str:
    """Go's `time.RFC3339Nano` of a UTC instant: `2024-05-01T12:00:00.123456789Z`, trailing
    zeros of the fraction (and a bare dot) dropped."""
    secs, frac = divmod(epoch_ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def title_bool(value: Any) -> str:
    """`True` / `False` as flux prints booleans (None is False)."""
    return "True" if value is True else "False"


def human_bytes(size: int | None) -> str:
    """A size in IEC units with one decimal: `512 B`, `2.4 KiB`, `1.0 MiB`; `-` for None."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def render_table(
    headers: Sequence[str] | None, rows: Iterable[Sequence[str]], widths: Sequence[int] = ()
) -> str:
    """A table as flux prints it: upper-case headers, every column left-aligned and padded to
    its widest cell, columns separated by a tab, no trailing blanks. `headers` None leaves the
    header line out (`--no-header`, and the rows of `--watch` after the first). `widths` are
    minimum column widths (so streamed rows can line up with an earlier header)."""
    lines: list[list[str]] = []
    if headers is not None:
        lines.append([h.upper() for h in headers])
    lines.extend([_cell(c) for c in row] for row in rows)
    if not lines:
        return ""
    ncols = max(len(line) for line in lines)
    col_widths = [0] * ncols
    for line in lines:
        for i, cell in enumerate(line):
            col_widths[i] = max(col_widths[i], len(cell))
    for i, w in enumerate(widths[:ncols]):
        col_widths[i] = max(col_widths[i], w)
    out = []
    for line in lines:
        cells = [cell.ljust(col_widths[i]) for i, cell in enumerate(line)]
        out.append("\t".join(cells).rstrip())
    return "\n".join(out) + "\n"


def column_widths(headers: Sequence[str] | None, rows: Iterable[Sequence[str]]) -> list[int]:
    """The widths `render_table` gives the columns of `headers` and `rows` (to pass as
    `widths` when more rows are printed later, so they line up)."""
    widths: list[int] = [len(h) for h in headers or ()]
    for row in rows:
        for i, cell in enumerate(row):
            if i < len(widths):
                widths[i] = max(widths[i], len(_cell(cell)))
            else:
                widths.append(len(_cell(cell)))
    return widths


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # one line per row: a multi-line message would break the table
    return " ".join(text.split()) if ("\n" in text or "\t" in text) else text


class _Dumper(yaml.SafeDumper):
    """YAML with block style, long lines unbroken and multi-line strings as `|` blocks."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(docs: Iterable[Mapping[str, Any]], *, separator: bool = True) -> str:
    """Documents as multi-doc YAML, each starting with `---` (as `flux export` writes them);
    key order is kept as given."""
    parts = []
    for doc in docs:
        text = yaml.dump(
            dict(doc), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 16,
            allow_unicode=True,
        )
        parts.append(("---\n" if separator else "") + text)
    return "".join(parts)


def dump_json(value: Any) -> str:
    """Indented JSON, key order kept, with a final newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
