"""Go durations, jitter and backoff."""

from __future__ import annotations

import random

import pytest

from afflux.controllers.runtime import backoff, format_duration, jittered, parse_duration

PARSE = {
    "seconds": ("30s", 30.0),
    "minutes-seconds": ("1m30s", 90.0),
    "hours": ("2h", 7200.0),
    "fraction": ("1.5h", 5400.0),
    "millis": ("500ms", 0.5),
    "micros": ("250us", 0.00025),
    "micro-sign": ("3µs", 0.000003),
    "nanos": ("10ns", 1e-8),
    "zero": ("0", 0.0),
    "zero-unit": ("0s", 0.0),
    "negative": ("-1m", -60.0),
    "combined": ("1h2m3s4ms", 3723.004),
    "leading-dot": (".5s", 0.5),
}


@pytest.mark.parametrize(("text", "seconds"), PARSE.values(), ids=PARSE.keys())
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "1d", "m", "1m 30s", "abc", "1.2.3s", "-"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


FORMAT = {
    "zero": (0, "0s"),
    "seconds": (30, "30s"),
    "minutes": (90, "1m30s"),
    "hours": (3723, "1h2m3s"),
    "exact-hour": (3600, "1h0m0s"),
    "fractional": (1.5, "1.5s"),
    "millis": (0.5, "500ms"),
    "micros": (0.0000015, "1.5µs"),
}


@pytest.mark.parametrize(("seconds", "text"), FORMAT.values(), ids=FORMAT.keys())
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["1m30s", "2h", "500ms", "1h0m5s"])
def test_format_parse_round_trip(text: str) -> None:
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_jitter_stays_within_bounds_and_varies() -> None:
    rng = random.Random(42)
    values = [jittered(100.0, 10, rng) for _ in range(500)]
    assert all(90.0 <= v <= 110.0 for v in values)
    assert max(values) - min(values) > 10  # it does spread


@pytest.mark.parametrize(("interval", "percent"), [(100.0, 0), (0.0, 10)],
                         ids=["no-jitter", "zero-interval"])
def test_jitter_degenerate(interval: float, percent: float) -> None:
    assert jittered(interval, percent) == interval


BACKOFF = {
    "none": (0, 0.0),
    "first": (1, 1.0),
    "second": (2, 2.0),
    "fifth": (5, 16.0),
    "capped": (10, 60.0),
    "huge-streak": (10_000, 60.0),
}


@pytest.mark.parametrize(("failures", "delay"), BACKOFF.values(), ids=BACKOFF.keys())
def test_backoff(failures: int, delay: float) -> None:
    assert backoff(failures, base=1.0, cap=60.0) == delay
