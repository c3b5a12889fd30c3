"""Flux events from core/v1 Events and from Flux's event JSON (pure functions)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from afflux.controllers.notification._event import (
    InvalidEvent,
    clean_metadata,
    from_core_event,
    from_json,
    revision_of,
)

KS = "kustomize.toolkit.fluxcd.io/v1"


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"kustomize.toolkit.fluxcd.io/revision": "r"}, {"kustomize.toolkit.fluxcd.io/revision": "r"}),
    ({"kustomize.toolkit.fluxcd.io/checksum": "c", "kustomize.toolkit.fluxcd.io/digest": "d"}, {}),
    ({"event.toolkit.fluxcd.io/team": "t"}, {"event.toolkit.fluxcd.io/team": "t"}),
    ({"source.toolkit.fluxcd.io/revision": "r", "plain": "p"}, {}),
    (None, {}),
], ids=["own-group-kept", "checksum-digest-dropped", "event-group-kept", "others-dropped", "none"])
def test_clean_metadata(metadata: dict[str, str] | None, expected: dict[str, str]) -> None:
    assert clean_metadata(KS, metadata) == expected


def core_event(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "webapp.1", "namespace": "apps", "annotations": {
            "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"}},
        "involvedObject": {"apiVersion": KS, "kind": "Kustomization", "name": "webapp",
                           "namespace": "apps", "uid": "u1", "resourceVersion": "7"},
        "reason": "ReconciliationSucceeded", "message": "done", "type": "Normal",
        "source": {"component": "kustomize-controller"}, "reportingComponent":
        "kustomize-controller", "reportingInstance": "pod-1",
        "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:05:00Z",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(("event_type", "severity"), [
    ("Normal", "info"), ("Warning", "error"), ("Trace", "trace")])
def test_from_core_event_severity(event_type: str, severity: str) -> None:
    assert from_core_event(core_event(type=event_type))["severity"] == severity


def test_from_core_event_shape() -> None:
    assert from_core_event(core_event()) == {
        "involvedObject": {"apiVersion": KS, "kind": "Kustomization", "name": "webapp",
                           "namespace": "apps", "uid": "u1", "resourceVersion": "7"},
        "severity": "info", "timestamp": "2024-01-01T00:05:00Z", "message": "done",
        "reason": "ReconciliationSucceeded",
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"},
        "reportingController": "kustomize-controller", "reportingInstance": "pod-1",
    }


def test_revision_of() -> None:
    assert revision_of(from_core_event(core_event())) == "main@sha1:abc"
    assert revision_of({"involvedObject": {}, "metadata": {}}) == ""


GOOD = {"involvedObject": {"apiVersion": KS, "kind": "Kustomization", "name": "w",
                           "namespace": "a"}, "severity": "error", "message": "boom",
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": "r",
                     "kustomize.toolkit.fluxcd.io/checksum": "c"}}


def test_from_json_cleans_metadata() -> None:
    event = from_json(json.dumps(GOOD).encode())
    assert event["metadata"] == {"kustomize.toolkit.fluxcd.io/revision": "r"}


BAD = [
    ("not-json", b"{", "not JSON"),
    ("not-object", b"[]", "not a JSON object"),
    ("no-involved", json.dumps({**GOOD, "involvedObject": None}).encode(), "involvedObject"),
    ("no-name", json.dumps({**GOOD, "involvedObject": {"kind": "K", "namespace": "n"}}).encode(),
     "involvedObject.name"),
    ("bad-severity", json.dumps({**GOOD, "severity": "fatal"}).encode(), "severity"),
    ("no-message", json.dumps({**GOOD, "message": ""}).encode(), "message"),
    ("huge-message", json.dumps({**GOOD, "message": "x" * 39_001}).encode(), "longer"),
    ("metadata-list", json.dumps({**GOOD, "metadata": []}).encode(), "metadata"),
]


@pytest.mark.parametrize(("data", "match"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_from_json_rejects(data: bytes, match: str) -> None:
    with pytest.raises(InvalidEvent, match=match):
        from_json(data)
