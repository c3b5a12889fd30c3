"""Go duration strings: parsing into seconds, printing back the way Go prints them."""

from __future__ import annotations

import pytest

from afflux.api import DurationError, format_duration, is_crd_duration, parse_duration

PARSE = [
    ("1m30s", 90.0),
    ("500ms", 0.5),
    ("1h", 3600.0),
    ("2h45m", 9900.0),
    ("1.5h", 5400.0),
    ("0s", 0.0),
    ("0", 0.0),
    ("10m0s", 600.0),
    ("1h0m0s", 3600.0),
    ("90s", 90.0),
    (".5s", 0.5),
    ("1.s", 1.0),
    ("250us", 0.00025),
    ("250\u00b5s", 0.00025),
    ("3ns", 3e-9),
    ("-1m", -60.0),
    ("+2s", 2.0),
    ("1h1m1.25s", 3661.25),
]


@pytest.mark.parametrize(("text", "seconds"), PARSE, ids=[t for t, _ in PARSE])
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


BAD = [
    ("", "empty"),
    ("1", "missing unit"),
    ("10", "missing unit"),
    ("1m30", "missing unit"),
    ("abc", "expected a number"),
    ("5 minutes", "unknown unit"),
    ("1x", "unknown unit"),
    ("1d", "unknown unit"),
    (".s", "expected a number"),
    ("h", "expected a number"),
    ("-", "empty"),
]


@pytest.mark.parametrize(("text", "why"), BAD, ids=[repr(t) for t, _ in BAD])
def test_parse_rejects_with_a_clear_message(text: str, why: str) -> None:
    with pytest.raises(DurationError) as err:
        parse_duration(text)
    assert why in str(err.value)
    assert repr(text) in str(err.value)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(DurationError, match="must be a string"):
        parse_duration(60)  # type: ignore[arg-type]


FORMAT = [
    (0, "0s", "0s"),
    (90, "1m30s", "1m30s"),
    (3600, "1h0m0s", "1h"),
    (5400, "1h30m0s", "1h30m"),
    (9900, "2h45m0s", "2h45m"),
    (60, "1m0s", "1m"),
    (0.5, "500ms", "500ms"),
    (1.5, "1.5s", "1.5s"),
    (0.0000015, "1.5\u00b5s", "1.5\u00b5s"),
    (1e-9, "1ns", "1ns"),
    (3661.25, "1h1m1.25s", "1h1m1.25s"),
    (-60, "-1m0s", "-1m"),
    (86400, "24h0m0s", "24h"),
]


@pytest.mark.parametrize(("seconds", "go", "compact"), FORMAT, ids=[g for _, g, _ in FORMAT])
def test_format_like_go(seconds: float, go: str, compact: str) -> None:
    assert format_duration(seconds) == go
    assert format_duration(seconds, compact=True) == compact


@pytest.mark.parametrize("text", [t for t, _ in PARSE], ids=[t for t, _ in PARSE])
def test_format_parses_back_to_the_same_value(text: str) -> None:
    seconds = parse_duration(text)
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=1e-12)
    assert parse_duration(format_duration(seconds, compact=True)) == pytest.approx(
        seconds, abs=1e-12
    )


CRD = [
    ("1m30s", True, True),
    ("500ms", True, True),
    ("1.5h", True, False),
    ("1h", True, False),
    ("0s", True, True),
    ("0", False, False),
    ("-1m", False, False),
    ("1us", False, False),
    ("5 minutes", False, False),
]


@pytest.mark.parametrize(("text", "interval_ok", "timeout_ok"), CRD, ids=[t for t, _, _ in CRD])
def test_crd_patterns(text: str, interval_ok: bool, timeout_ok: bool) -> None:
    assert is_crd_duration(text) is interval_ok
    assert is_crd_duration(text, hours=False) is timeout_ok
