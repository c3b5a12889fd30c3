"""Which Alerts take an event, what they add to it, and the rate limit (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.notification._alerts import (
    InvalidRegex,
    RateLimiter,
    compile_patterns,
    matches_alert,
    notification_for,
)
from afflux.controllers.notification._event import rate_limit_key


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                           "kind": "Kustomization", "name": "webapp", "namespace": "apps"},
        "severity": "info", "timestamp": "2024-05-01T10:00:00Z",
        "message": "Reconciliation finished", "reason": "ReconciliationSucceeded",
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:" + "a" * 40},
        "reportingController": "kustomize-controller",
    }
    base.update(overrides)
    return base


def alert(namespace: str = "apps", created: str = "2024-05-01T09:00:00Z",
          **spec: Any) -> dict[str, Any]:
    spec.setdefault("eventSources", [{"kind": "Kustomization", "name": "*"}])
    spec.setdefault("providerRef", {"name": "p"})
    return {"metadata": {"name": "a", "namespace": namespace, "creationTimestamp": created},
            "spec": spec}


WEBAPP = {"kind": "Kustomization", "name": "webapp"}
MATCHES = [
    ("wildcard-same-namespace", alert(), {}, None, True),
    ("by-name", alert(eventSources=[WEBAPP]), {}, None, True),
    ("other-name", alert(eventSources=[{"kind": "Kustomization", "name": "db"}]), {}, None, False),
    ("other-kind", alert(eventSources=[{"kind": "GitRepository", "name": "*"}]), {}, None, False),
    ("other-namespace", alert(namespace="ops"), {}, None, False),
    ("explicit-namespace", alert(namespace="ops", eventSources=[{**WEBAPP, "namespace": "apps"}]),
     {}, None, True),
    ("all-namespaces", alert(namespace="ops", eventSources=[
        {"kind": "Kustomization", "name": "*", "namespace": "*"}]), {}, None, True),
    ("labels-match", alert(eventSources=[{"kind": "Kustomization", "name": "*",
                                          "matchLabels": {"team": "web"}}]),
     {}, {"team": "web", "x": "y"}, True),
    ("labels-differ", alert(eventSources=[{"kind": "Kustomization", "name": "*",
                                           "matchLabels": {"team": "web"}}]),
     {}, {"team": "db"}, False),
    ("labels-unknown", alert(eventSources=[{"kind": "Kustomization", "name": "*",
                                            "matchLabels": {"team": "web"}}]), {}, None, False),
    ("suspended", alert(suspend=True), {}, None, False),
    ("error-alert-info-event", alert(eventSeverity="error"), {}, None, False),
    ("error-alert-error-event", alert(eventSeverity="error"), {"severity": "error"}, None, True),
    ("info-alert-error-event", alert(eventSeverity="info"), {"severity": "error"}, None, True),
    ("trace-never", alert(), {"severity": "trace"}, None, False),
    ("inclusion-hit", alert(inclusionList=["finished$"]), {}, None, True),
    ("inclusion-miss", alert(inclusionList=["^failed"]), {}, None, False),
    ("exclusion-hit", alert(exclusionList=["Reconciliation"]), {}, None, False),
    ("exclusion-wins", alert(inclusionList=["finished"], exclusionList=["Recon.*"]), {}, None,
     False),
    ("invalid-regex-takes-nothing", alert(exclusionList=["(oops"]), {}, None, False),
    ("older-than-alert", alert(created="2024-05-01T11:00:00Z"), {}, None, False),
]


@pytest.mark.parametrize(("alert_body", "overrides", "labels", "expected"),
                         [m[1:] for m in MATCHES], ids=[m[0] for m in MATCHES])
def test_matches_alert(alert_body: dict[str, Any], overrides: dict[str, Any],
                       labels: dict[str, str] | None, expected: bool) -> None:
    assert matches_alert(event(**overrides), alert_body, labels) is expected


def test_cross_namespace_refused_when_disabled() -> None:
    body = alert(namespace="ops", eventSources=[{**WEBAPP, "namespace": "apps"}])
    assert matches_alert(event(), body, cross_namespace=True)
    assert not matches_alert(event(), body, cross_namespace=False)


def test_invalid_regex_names_the_entry() -> None:
    with pytest.raises(InvalidRegex, match=r"spec.exclusionList\[1\] '\[a-' is not a valid"):
        compile_patterns("exclusionList", ["ok", "[a-"])


REVISION = "main@sha1:" + "a" * 40


@pytest.mark.parametrize(("metadata", "spec", "sent"), [
    ({"kustomize.toolkit.fluxcd.io/revision": REVISION},
     {"summary": "prod eu-1", "eventMetadata": {"env": "prod"}},
     {"revision": REVISION, "env": "prod", "summary": "prod eu-1"}),
    # the object's annotations < the Alert's eventMetadata < summary < the operator's keys
    ({"event.toolkit.fluxcd.io/env": "from-object", "event.toolkit.fluxcd.io/team": "a",
      "kustomize.toolkit.fluxcd.io/revision": REVISION},
     {"eventMetadata": {"env": "from-alert", "revision": "overridden?", "summary": "x"},
      "summary": "from-summary"},
     {"env": "from-alert", "team": "a", "summary": "from-summary", "revision": REVISION}),
    ({"other.io/key": "dropped"}, {}, {}),
], ids=["adds", "precedence", "unprefixed-dropped"])
def test_notification_metadata_is_combined_as_flux(metadata: dict[str, str],
                                                   spec: dict[str, Any],
                                                   sent: dict[str, str]) -> None:
    original = {**event(), "metadata": metadata}
    assert notification_for(original, alert(**spec))["metadata"] == sent
    assert original["metadata"] == metadata  # the event itself is left alone


KEYS = [
    ("same", {}, True),
    ("other-message", {"message": "other"}, False),
    ("other-revision", {"metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:b"}},
     False),
    ("other-reason-same-message", {"reason": "Progressing"}, True),
    ("other-object", {"involvedObject": {**event()["involvedObject"], "name": "db"}}, False),
]


@pytest.mark.parametrize(("overrides", "same"), [k[1:] for k in KEYS], ids=[k[0] for k in KEYS])
def test_rate_limit_key(overrides: dict[str, Any], same: bool) -> None:
    assert (rate_limit_key(event()) == rate_limit_key(event(**overrides))) is same


def test_rate_limiter_lets_a_key_through_once_per_interval() -> None:
    now = [0.0]
    limiter = RateLimiter(300.0, clock=lambda: now[0])
    assert limiter.allow("k")
    assert not limiter.allow("k")
    assert limiter.allow("other")
    now[0] = 299.0
    assert not limiter.allow("k")
    now[0] = 300.5
    assert limiter.allow("k")


def test_rate_limiter_zero_interval_lets_everything_through() -> None:
    limiter = RateLimiter(0.0)
    assert limiter.allow("k") and limiter.allow("k")
