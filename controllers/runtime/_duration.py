"""Go durations, interval jitter and retry backoff: the arithmetic of scheduling, pure.

Flux specs carry Go duration strings (`1m30s`, `500ms`, `1.5h`); `parse_duration` reads
them into seconds and `format_duration` writes seconds back the way Go prints them.

Jitter follows Flux's `--interval-jitter-percentage`: an interval of `i` becomes a value
drawn uniformly from `[i - i*p/100, i + i*p/100]`, so objects created together spread out.

Backoff after a generic failure doubles from `base` with every consecutive failure and is
capped by `cap`. The caller caps it also at the object's interval, so a failing object is
retried at least as often as a healthy one is reconciled (a deliberate difference from
controller-runtime, whose rate limiter may wait up to the cap whatever the interval).
"""

from __future__ import annotations

import random
import re

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string. Raises ValueError for anything Go would reject."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be a string, got {type(text).__name__}")
    s = text.strip()
    sign = 1.0
    if s and s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    pos = 0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """Go's `time.Duration.String()` for a number of seconds (`90` -> `1m30s`)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    nanos = round(abs(seconds) * 1e9)
    if nanos < 1_000:
        return f"{sign}{nanos}ns"
    if nanos < 1_000_000:
        return f"{sign}{_trim(nanos / 1e3)}µs"
    if nanos < 1_000_000_000:
        return f"{sign}{_trim(nanos / 1e6)}ms"
    hours, rest = divmod(nanos, 3_600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    secs = _trim(rest / 1e9)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def jittered(interval: float, percent: float, rng: random.Random | None = None) -> float:
    """`interval` moved by a uniform random amount of at most `percent`% either way."""
    if interval <= 0 or percent <= 0:
        return max(interval, 0.0)
    spread = interval * min(percent, 100.0) / 100.0
    draw = (rng or random).uniform(-spread, spread)
    return max(interval + draw, 0.0)


def backoff(failures: int, *, base: float, cap: float) -> float:
    """Delay after the `failures`-th consecutive failure: base, 2*base, 4*base, ... <= cap."""
    if failures <= 0:
        return 0.0
    # 2**60 is far beyond any cap; avoid overflowing floats on long failure streaks.
    return min(cap, base * float(2 ** min(failures - 1, 60)))
