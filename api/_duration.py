"""Go duration strings (`1m30s`, `500ms`, `1.5h`), as Flux specs carry them.

Flux's fields are Go `metav1.Duration` values, so their text form is whatever Go's
`time.ParseDuration` accepts and `time.Duration.String()` prints. These functions parse that
syntax into seconds and print seconds back in it, byte for byte the way Go does (so a manifest
we export looks like one `flux create --export` wrote). Pure functions, no I/O.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ._model import DURATION_PATTERN, TIMEOUT_PATTERN

__all__ = [
    "DurationError",
    "format_duration",
    "is_crd_duration",
    "parse_duration",
    "parse_duration_ns",
]

_UNITS_NS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_NS = (1 << 63) - 1
_COMPONENT = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")
_CRD_DURATION = re.compile(DURATION_PATTERN)
_CRD_TIMEOUT = re.compile(TIMEOUT_PATTERN)


class DurationError(ValueError):
    """A string that is not a Go duration; the message says what is wrong and shows an example."""


def parse_duration_ns(text: str) -> int:
    """Parse a Go duration string into whole nanoseconds (Go's `time.ParseDuration`)."""
    if not isinstance(text, str):
        raise DurationError(f"duration must be a string like '1m30s', got {type(text).__name__}")
    orig = text
    sign = 1
    if text[:1] in ("-", "+"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise DurationError(f"invalid duration {orig!r}: empty; use e.g. '30s', '5m' or '1h30m'")
    total = Decimal(0)
    pos = 0
    while pos < len(text):
        m = _COMPONENT.match(text, pos)
        assert m is not None  # the pattern matches the empty string
        number, unit = m.group(1), m.group(2)
        if number in ("", "."):
            raise DurationError(
                f"invalid duration {orig!r}: expected a number at {text[pos:]!r}; "
                "use e.g. '30s', '5m' or '1h30m'"
            )
        if not unit:
            raise DurationError(
                f"invalid duration {orig!r}: missing unit after {number!r}; "
                "units are ns, us, ms, s, m, h (e.g. '90s' or '1m30s')"
            )
        if unit not in _UNITS_NS:
            raise DurationError(
                f"invalid duration {orig!r}: unknown unit {unit!r}; "
                "units are ns, us, ms, s, m, h (e.g. '90s' or '1m30s')"
            )
        try:
            total += Decimal(number if not number.endswith(".") else number + "0") * _UNITS_NS[unit]
        except InvalidOperation as exc:  # pragma: no cover - the regex only lets digits through
            raise DurationError(f"invalid duration {orig!r}") from exc
        if total > _MAX_NS:
            raise DurationError(f"invalid duration {orig!r}: longer than Go's maximum (~292 years)")
        pos = m.end()
    return sign * int(total)


def parse_duration(text: str) -> float:
    """Parse a Go duration string into seconds: `'1m30s'` -> 90.0, `'500ms'` -> 0.5."""
    return parse_duration_ns(text) / 1_000_000_000


def _fraction(value: int, scale: int) -> str:
    """`value/scale` as a decimal without trailing zeros (Go's fmtFrac + fmtInt)."""
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def format_duration(seconds: float | int, *, compact: bool = False) -> str:
    """Seconds as a Go duration string.

    By default the result is exactly Go's `Duration.String()`: `90` -> `'1m30s'`,
    `3600` -> `'1h0m0s'`, `0.5` -> `'500ms'`, `0` -> `'0s'`. With ``compact=True`` zero
    components are left out (`3600` -> `'1h'`, `5400` -> `'1h30m'`), which Go parses
    to the same value and reads better in messages.
    """
    ns = round(Decimal(str(seconds)) * 1_000_000_000)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 1_000)}\u00b5s"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    secs = _fraction(rest, 1_000_000_000)
    if compact:
        parts = []
        if hours:
            parts.append(f"{hours}h")
        if minutes:
            parts.append(f"{minutes}m")
        if rest:
            parts.append(f"{secs}s")
        return sign + "".join(parts)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def is_crd_duration(text: str, *, hours: bool = True) -> bool:
    """Whether Flux's CRD pattern for durations accepts `text` (stricter than Go: no sign,
    no `ns`/`us`, no bare `0`). ``hours=False`` is the timeout variant without `h`."""
    return bool((_CRD_DURATION if hours else _CRD_TIMEOUT).match(text))
