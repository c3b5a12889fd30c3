"""Events of Flux objects: which count, when they were seen, their rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from afflux.cli._eventfmt import (
    event_headers,
    event_rows,
    event_time,
    is_flux_event,
    sort_events,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def _event(name: str, kind: str = "Kustomization", api: str = "kustomize.toolkit.fluxcd.io/v1",
           **fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "flux-system"},
        "involvedObject": {"kind": kind, "name": "apps", "namespace": "flux-system",
                           "apiVersion": api},
        "type": "Normal", "reason": "ReconciliationSucceeded", "message": f"{name}\n",
        **fields,
    }


@pytest.mark.parametrize(
    ("event", "flux"),
    [
        pytest.param(_event("a"), True, id="kustomization"),
        pytest.param(_event("a", "GitRepository", "source.toolkit.fluxcd.io/v1"), True,
                     id="git"),
        pytest.param(_event("a", "Deployment", "apps/v1"), False, id="deployment"),
        pytest.param(_event("a", "Kustomization", "kustomize.config.k8s.io/v1beta1"), False,
                     id="same-kind-other-group"),
        pytest.param(_event("a", "HelmRelease", ""), True, id="no-api-version"),
    ],
)
def test_is_flux_event(event: dict[str, Any], flux: bool) -> None:
    assert is_flux_event(event) is flux


@pytest.mark.parametrize(
    ("fields", "when"),
    [
        pytest.param({"lastTimestamp": "2024-05-01T11:59:00Z",
                      "firstTimestamp": "2024-05-01T11:00:00Z"},
                     datetime(2024, 5, 1, 11, 59, tzinfo=UTC), id="last"),
        pytest.param({"eventTime": "2024-05-01T11:58:00.000000Z"},
                     datetime(2024, 5, 1, 11, 58, tzinfo=UTC), id="event-time"),
        pytest.param({"series": {"lastObservedTime": "2024-05-01T11:57:00.000000Z"},
                      "eventTime": "2024-05-01T11:00:00.000000Z"},
                     datetime(2024, 5, 1, 11, 57, tzinfo=UTC), id="series"),
        pytest.param({}, None, id="none"),
    ],
)
def test_event_time(fields: dict[str, Any], when: datetime | None) -> None:
    assert event_time(_event("a", **fields)) == when


def test_rows_oldest_first() -> None:
    events = [
        _event("new", lastTimestamp="2024-05-01T11:59:30Z", type="Warning", reason="Failed"),
        _event("old", lastTimestamp="2024-05-01T10:00:00Z"),
        _event("timeless"),
    ]
    assert [e["metadata"]["name"] for e in sort_events(events)] == ["timeless", "old", "new"]
    assert event_rows(events, NOW) == [
        ["<unknown>", "Normal", "ReconciliationSucceeded", "Kustomization/apps", "timeless"],
        ["120m", "Normal", "ReconciliationSucceeded", "Kustomization/apps", "old"],
        ["30s", "Warning", "Failed", "Kustomization/apps", "new"],
    ]


def test_rows_and_headers_with_namespace() -> None:
    row = event_rows([_event("a", lastTimestamp="2024-05-01T11:59:00Z")], NOW, True)[0]
    assert row[:2] == ["flux-system", "60s"]
    assert event_headers(True) == ["Namespace", "Last seen", "Type", "Reason", "Object",
                                   "Message"]
    assert event_headers(False)[0] == "Last seen"
