"""JSON (and console) log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from afflux.controllers.runtime import configure_logging, object_logger


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    yield out
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_line_has_the_fields_in_order(stream: io.StringIO) -> None:
    configure_logging("source-controller", level="info", stream=stream)
    log = object_logger("afflux.source", kind="GitRepository", name="podinfo",
                        namespace="flux-system", reconcileID="abc")
    log.info("stored artifact %s", "main@sha1:1", extra={"revision": "main@sha1:1"})
    (line,) = _lines(stream)
    assert list(line)[:8] == ["ts", "level", "logger", "msg", "controller", "kind", "name",
                              "namespace"]
    assert line["level"] == "info"
    assert line["logger"] == "afflux.source"
    assert line["msg"] == "stored artifact main@sha1:1"
    assert line["controller"] == "source-controller"
    assert (line["kind"], line["name"], line["namespace"]) == (
        "GitRepository", "podinfo", "flux-system")
    assert line["reconcileID"] == "abc" and line["revision"] == "main@sha1:1"
    assert str(line["ts"]).endswith("Z") and "T" in str(line["ts"])


def test_a_line_about_an_object_reads_as_flux_logs_reads_it(stream: io.StringIO) -> None:
    """`flux logs` decodes each line into ts, level, msg, error, logger and the kind from
    `reconciler kind` or `controllerKind` (what Flux's controllers write), name, namespace; it
    filters `--kind` on that kind and, without -A, on the namespace."""
    configure_logging("kustomize-controller", level="info", stream=stream)
    object_logger("afflux.kustomize", kind="Kustomization", name="apps",
                  namespace="flux-system").info("applied")
    logging.getLogger("afflux.kustomize").info("no object")
    about, other = _lines(stream)
    assert (about["controllerKind"], about["name"], about["namespace"]) == (
        "Kustomization", "apps", "flux-system")
    assert all(isinstance(about[k], str) for k in ("ts", "level", "msg", "logger"))
    assert "controllerKind" not in other and "kind" not in other


def test_one_object_per_line_with_error_and_stacktrace(stream: io.StringIO) -> None:
    configure_logging("c", level="info", stream=stream)
    try:
        raise ValueError("multi\nline")
    except ValueError:
        logging.getLogger("x").exception("failed")
    assert len(stream.getvalue().splitlines()) == 1
    (line,) = _lines(stream)
    assert line["level"] == "error" and line["error"] == "multi\nline"
    assert "ValueError" in str(line["stacktrace"])


def test_level_filters(stream: io.StringIO) -> None:
    configure_logging("c", level="error", stream=stream)
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").error("shown")
    assert [line["msg"] for line in _lines(stream)] == ["shown"]


def test_kopf_object_reference_is_mapped(stream: io.StringIO) -> None:
    configure_logging("c", level="info", stream=stream)
    logging.getLogger("tests.kopf_like").info("hello", extra={
        "k8s_ref": {"kind": "Widget", "name": "w", "namespace": "ns"}, "settings": object()})
    (line,) = _lines(stream)
    assert (line["kind"], line["name"], line["namespace"]) == ("Widget", "w", "ns")
    assert "settings" not in line and "k8s_ref" not in line


def test_console_encoding(stream: io.StringIO) -> None:
    configure_logging("c", level="debug", encoding="console", stream=stream)
    object_logger("a", kind="K", name="n", namespace="ns").warning("careful")
    text = stream.getvalue()
    assert " WARNING a careful " in text and "name=n" in text


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError):
        configure_logging("c", level="loud")
    with pytest.raises(ValueError):
        configure_logging("c", encoding="xml")
