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
    last_seen,
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


def test_parse_types_and_matching() -> None:
    from afflux.cli._eventfmt import parse_types, type_matches

    assert parse_types(["warning", "Normal,Warning"]) == ("warning", "Normal", "Warning")
    with pytest.raises(ValueError, match="type 'Error' not supported. Supported types are "
                                         "Normal, Warning"):
        parse_types(["Error"])
    assert type_matches({"type": "Warning"}, ("warning",))
    assert not type_matches({"type": "Normal"}, ("Warning",))
    assert type_matches({"type": "Normal"}, ())


def _flux(kind: str, spec: dict[str, Any], name: str = "web", ns: str = "apps") -> dict:
    return {"kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


def test_related_objects_as_flux_events_for() -> None:
    from afflux.cli._eventfmt import related_objects

    hr = _flux("HelmRelease", {"chart": {"spec": {"chart": "podinfo", "sourceRef": {
        "kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}})
    assert related_objects(hr) == [("HelmRepository", "charts", "flux-system"),
                                   ("HelmChart", "apps-web", "flux-system")]
    by_ref = _flux("HelmRelease", {"chartRef": {"kind": "OCIRepository", "name": "oci"}})
    assert related_objects(by_ref) == [("OCIRepository", "oci", "apps")]
    ks = _flux("Kustomization", {"sourceRef": {"kind": "GitRepository", "name": "repo"}})
    assert related_objects(ks) == [("GitRepository", "repo", "apps")]
    alert = _flux("Alert", {"providerRef": {"name": "slack"}})
    assert related_objects(alert) == [("Provider", "slack", "apps")]
    policy = _flux("ImagePolicy", {"imageRepositoryRef": {"name": "img", "namespace": "x"}})
    assert related_objects(policy) == [("ImageRepository", "img", "x")]
    chart = _flux("HelmChart", {"sourceRef": {"kind": "HelmRepository", "name": "charts"}})
    assert related_objects(chart) == [("HelmRepository", "charts", "apps")]
    assert related_objects(_flux("GitRepository", {})) == []


def test_involved_key() -> None:
    from afflux.cli._eventfmt import involved_key

    assert involved_key(_event("e1")) == ("Kustomization", "apps", "flux-system")


def test_alerts_of_provider_are_those_that_send_through_it() -> None:
    from afflux.cli._eventfmt import alerts_of_provider

    provider = {"metadata": {"name": "slack", "namespace": "ops"}}
    def alert(name: str, namespace: str, provider: str) -> dict:
        return {"metadata": {"name": name, "namespace": namespace},
                "spec": {"providerRef": {"name": provider}}}

    alerts = [alert("a1", "ops", "slack"), alert("a2", "ops", "teams"), alert("a3", "dev", "slack")]
    assert alerts_of_provider(provider, alerts) == [("Alert", "a1", "ops")]


@pytest.mark.parametrize(
    ("event", "shown"),
    [
        pytest.param({"lastTimestamp": "2024-05-01T11:59:00Z", "count": 1,
                      "firstTimestamp": "2024-05-01T11:59:00Z"}, "60s", id="once"),
        pytest.param({"lastTimestamp": "2024-05-01T11:58:00Z", "count": 2,
                      "firstTimestamp": "2024-05-01T11:50:00Z"}, "2m (x2 over 10m)",
                     id="twice"),
        pytest.param({"eventTime": "2024-05-01T11:50:00Z", "series": {
            "count": 3, "lastObservedTime": "2024-05-01T11:59:30Z"}}, "30s (x3 over 10m)",
                     id="series"),
        pytest.param({"lastTimestamp": "2024-05-01T11:58:00Z", "count": 4}, "2m",
                     id="count-without-first"),
    ],
)
def test_last_seen_counts_repeats_as_flux(event: dict[str, Any], shown: str) -> None:
    assert last_seen(event, NOW) == shown
