"""Go durations, interval jitter and retry backoff: the arithmetic of scheduling, pure.

Flux specs carry Go duration strings (`1m30s`, `500ms`, `1.5h`); `parse_duration` reads
them into seconds and `format_duration` writes seconds back the way Go prints them (both
are `afflux.api`'s, re-exported here for the runtime's callers).

Jitter follows Flux's `--interval-jitter-percentage`: an interval of `i` becomes a value
drawn uniformly from `[i - i*p/100, i + i*p/100]`, so objects created together spread out.

Backoff after a generic failure doubles from `base` with every consecutive failure and is
capped by `cap`. The caller caps it also at the object's interval, so a failing object is
retried at least as often as a healthy one is reconciled (a deliberate difference from
controller-runtime, whose rate limiter may wait up to the cap whatever the interval).
"""

from __future__ import annotations

import random

from afflux.api import _duration as _api_duration

# One reading of Go durations for all of afflux: the api's (it also checks the CRDs').
parse_duration = _api_duration.parse_duration
format_duration = _api_duration.format_duration


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
