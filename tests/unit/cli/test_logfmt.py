"""Operator log lines: parsing, filtering, formatting and merging."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from afflux.cli._logfmt import LogFilter, format_record, merge_by_time, parse_line, record_kind

LINE = ('{"ts":"2024-05-01T12:00:01.250Z","level":"info","logger":"afflux.kustomize",'
        '"msg":"applied","controller":"kustomize-controller","kind":"Kustomization",'
        '"name":"apps","namespace":"flux-system","revision":"main@sha1:abc"}')


def test_parse_line() -> None:
    record = parse_line(LINE)
    assert record is not None and record["msg"] == "applied" and record["revision"]
    assert parse_line("   ") is None
    assert parse_line("Traceback (most recent call last):", "source-controller") == {
        "msg": "Traceback (most recent call last):", "controller": "source-controller"}
    assert parse_line('{"msg": "x"}', "helm-controller") == {
        "msg": "x", "controller": "helm-controller"}
    assert parse_line("{broken", "c") == {"msg": "{broken", "controller": "c"}


REC = parse_line(LINE) or {}


@pytest.mark.parametrize(
    ("flt", "matches"),
    [
        pytest.param(LogFilter(), True, id="no-filter"),
        pytest.param(LogFilter(kind="kustomization"), True, id="kind-any-case"),
        pytest.param(LogFilter(kind="HelmRelease"), False, id="other-kind"),
        pytest.param(LogFilter(name="apps"), True, id="name"),
        pytest.param(LogFilter(name="infra"), False, id="other-name"),
        pytest.param(LogFilter(namespace="flux-system"), True, id="namespace"),
        pytest.param(LogFilter(namespace="apps"), False, id="other-namespace"),
        pytest.param(LogFilter(level="debug"), True, id="level-below"),
        pytest.param(LogFilter(level="info"), True, id="level-same"),
        pytest.param(LogFilter(level="error"), False, id="level-above"),
        pytest.param(LogFilter(since=datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)), True,
                     id="since-before"),
        pytest.param(LogFilter(since=datetime(2024, 5, 1, 12, 0, 2, tzinfo=UTC)), False,
                     id="since-after"),
    ],
)
def test_filter(flt: LogFilter, matches: bool) -> None:
    assert flt.matches(REC) is matches


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        pytest.param({"kind": "Kustomization", "controllerKind": "Kustomization"},
                     "Kustomization", id="afflux"),
        pytest.param({"controllerKind": "HelmRelease"}, "HelmRelease", id="flux"),
        pytest.param({"reconciler kind": "GitRepository"}, "GitRepository", id="older-flux"),
        pytest.param({"msg": "starting"}, "", id="no-object"),
    ],
)
def test_the_kind_filter_reads_afflux_and_flux_lines(record: dict[str, Any], kind: str) -> None:
    assert record_kind(record) == kind
    assert LogFilter(kind=kind or "GitRepository").matches(record) is bool(kind)


def test_records_about_no_object_pass_the_namespace_filter() -> None:
    record = {"msg": "starting", "level": "info", "controller": "source-controller"}
    assert LogFilter(namespace="apps").matches(record)
    assert not LogFilter(kind="GitRepository").matches(record)


@pytest.mark.parametrize(
    ("record", "text"),
    [
        pytest.param(REC, "2024-05-01T12:00:01.250Z info Kustomization/apps.flux-system - applied",
                     id="object"),
        pytest.param({"ts": "T", "level": "error", "controller": "source-controller",
                      "msg": "failed", "error": "boom"},
                     "T error source-controller - failed: boom", id="controller-error"),
        pytest.param({"msg": "plain"}, "plain", id="plain"),
        pytest.param({"ts": "T", "level": "info", "controllerKind": "HelmRelease",
                      "name": "web", "namespace": "apps", "msg": "done"},
                     "T info HelmRelease/web.apps - done", id="flux-controller-kind"),
    ],
)
def test_format_record(record: dict[str, Any], text: str) -> None:
    assert format_record(record) == text


def test_merge_by_time() -> None:
    a = [{"ts": "2024-01-01T00:00:01Z", "msg": "a1"}, {"msg": "a1-cont"},
         {"ts": "2024-01-01T00:00:03Z", "msg": "a3"}]
    b = [{"ts": "2024-01-01T00:00:02Z", "msg": "b2"}]
    assert [r["msg"] for r in merge_by_time([a, b])] == ["a1", "a1-cont", "b2", "a3"]
