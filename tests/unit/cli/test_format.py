"""Durations, timestamps, tables, sizes and YAML as the CLI prints them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from afflux.cli._format import (
    ago,
    column_widths,
    dump_json,
    dump_yaml,
    human_bytes,
    human_duration,
    parse_time,
    render_table,
    rfc3339_nano,
    since,
    title_bool,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(0, "0s", id="zero"),
        pytest.param(-5, "0s", id="clock-skew"),
        pytest.param(45, "45s", id="seconds"),
        pytest.param(119, "119s", id="just-under-2m"),
        pytest.param(120, "2m", id="two-minutes-even"),
        pytest.param(302, "5m2s", id="minutes-and-seconds"),
        pytest.param(600, "10m", id="ten-minutes-drops-seconds"),
        pytest.param(179 * 60 + 59, "179m", id="under-3h-in-minutes"),
        pytest.param(3 * 3600 + 20 * 60, "3h20m", id="hours-and-minutes"),
        pytest.param(5 * 3600, "5h", id="hours-even"),
        pytest.param(30 * 3600, "30h", id="under-2d-in-hours"),
        pytest.param(3 * 86400 + 4 * 3600, "3d4h", id="days-and-hours"),
        pytest.param(45 * 86400, "45d", id="days"),
        pytest.param((2 * 365 + 30) * 86400, "2y30d", id="years-and-days"),
        pytest.param(9 * 365 * 86400, "9y", id="years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2024-05-01T11:54:58Z", "5m2s ago", id="utc"),
        pytest.param("2024-05-01T13:54:58+02:00", "5m2s ago", id="offset"),
        pytest.param("2024-05-01T11:54:58.123456789Z", "5m1s ago", id="nanoseconds"),
        pytest.param(None, "unknown", id="none"),
        pytest.param("not a time", "unknown", id="garbage"),
    ],
)
def test_ago(value: str | None, expected: str) -> None:
    assert ago(value, NOW) == expected


def test_since_without_time_is_unknown() -> None:
    assert since(None, NOW) == "<unknown>"
    assert since("2024-05-01T11:59:00Z", NOW) == "60s"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC), id="z"),
        pytest.param("2024-05-01T12:00:00.5Z",
                     datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC), id="fraction"),
        pytest.param("2024-05-01T12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC), id="naive"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_time(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        pytest.param(1714564800_123456789, "2024-05-01T12:00:00.123456789Z", id="nanos"),
        pytest.param(1714564800_120000000, "2024-05-01T12:00:00.12Z", id="trailing-zeros"),
        pytest.param(1714564800_000000000, "2024-05-01T12:00:00Z", id="whole-second"),
    ],
)
def test_rfc3339_nano(ns: int, text: str) -> None:
    assert rfc3339_nano(ns) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "True"), (False, "False"), (None, "False"), ("yes", "False")],
    ids=["true", "false", "none", "non-bool"],
)
def test_title_bool(value: object, text: str) -> None:
    assert title_bool(value) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        pytest.param(None, "-", id="none"),
        pytest.param(0, "0 B", id="zero"),
        pytest.param(512, "512 B", id="bytes"),
        pytest.param(2458, "2.4 KiB", id="kib"),
        pytest.param(1024 * 1024, "1.0 MiB", id="mib"),
        pytest.param(3 * 1024**4, "3.0 TiB", id="tib"),
    ],
)
def test_human_bytes(size: int | None, text: str) -> None:
    assert human_bytes(size) == text


def test_render_table_pads_columns_and_uppercases_headers() -> None:
    text = render_table(["Name", "Ready"], [["podinfo", "True"], ["a", "False"]])
    assert text == (
        "NAME   \tREADY\n"
        "podinfo\tTrue\n"
        "a      \tFalse\n"
    )


def test_render_table_without_header_and_with_minimum_widths() -> None:
    text = render_table(None, [["a", "b", "c"]], widths=[4, 3])
    assert text == "a   \tb  \tc\n"


def test_render_table_keeps_a_row_on_one_line() -> None:
    text = render_table(["Message"], [["first line\nsecond\tline"]])
    assert text.splitlines()[1] == "first line second line"


def test_render_table_empty() -> None:
    assert render_table(None, []) == ""


def test_dump_yaml_multi_document_order_and_block_strings() -> None:
    docs = [{"kind": "A", "apiVersion": "v1", "data": {"x": "one\ntwo\n"}}, {"kind": "B"}]
    text = dump_yaml(docs)
    assert text.startswith("---\nkind: A\napiVersion: v1\n")
    assert "x: |\n    one\n    two\n" in text
    assert list(yaml.safe_load_all(text)) == docs


def test_dump_yaml_without_separator_and_json() -> None:
    assert dump_yaml([{"a": 1}], separator=False) == "a: 1\n"
    assert dump_json({"b": 1, "a": [1]}) == '{\n  "b": 1,\n  "a": [\n    1\n  ]\n}\n'


def test_column_widths_line_up_later_rows() -> None:
    head, rows = ["Name", "Ready"], [["podinfo", "True"]]
    widths = column_widths(head, rows)
    assert widths == [7, 5]
    first = render_table(head, rows).splitlines()
    later = render_table(None, [["a", "False"]], widths).splitlines()
    assert [len(c) for c in first[0].split("\t")] == [len(c) for c in later[0].split("\t")]
    assert column_widths(None, [["a", "bb", "ccc"]]) == [1, 2, 3]


def test_parse_time_fraction_with_an_offset() -> None:
    from datetime import UTC, datetime

    from afflux.cli._format import parse_time

    assert parse_time("2024-05-01T14:00:03.5+02:00") == datetime(2024, 5, 1, 12, 0, 3, 500000,
                                                                 tzinfo=UTC)
