"""Delivery metrics from outcomes: deployments, lead time, change failure rate, time to
restore (`afflux.cli._dora`), and reading outcomes from Events and status histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from afflux.cli._dora import (
    FAILURE,
    REMEDIATION,
    SUCCESS,
    Outcome,
    commit_sha,
    event_outcome,
    figures,
    history_outcomes,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(days=7)
A, B, C = "a" * 40, "b" * 40, "c" * 40


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ok(hours: float, sha: str) -> Outcome:
    return Outcome(at(hours), SUCCESS, f"main@sha1:{sha}")


def bad(hours: float, sha: str = "") -> Outcome:
    return Outcome(at(hours), FAILURE, f"main@sha1:{sha}" if sha else "")


@pytest.mark.parametrize(("outcomes", "commits", "want"), [
    pytest.param([], {}, {"deployments": 0, "deployment_frequency": 0.0, "changes": 0,
                          "change_failure_rate": None, "lead_time_median": None,
                          "time_to_restore_median": None, "failing_since": None},
                 id="nothing-happened"),
    pytest.param([ok(1, A), ok(2, A), ok(30, B)], {A: at(0.5), B: at(26)},
                 {"deployments": 2, "deployment_frequency": round(2 / 7, 6),
                  "lead_times": [1800.0, 4 * 3600.0], "lead_time_median": 8100.0,
                  "lead_time_max": 14400.0, "changes": 2, "failed_changes": 0,
                  "change_failure_rate": 0.0},
                 id="two-revisions-repeats-count-once"),
    pytest.param([ok(-5, A), ok(1, A), ok(2, B)], {A: at(-6)},
                 {"deployments": 1, "lead_times": [], "changes": 1},
                 id="applied-before-the-window-is-no-deployment-in-it"),
    pytest.param([ok(1, A), bad(2, B), bad(3, B), ok(5, C)], {},
                 {"deployments": 2, "changes": 3, "failed_changes": 1,
                  "change_failure_rate": round(1 / 3, 6), "failures": 2,
                  "restores": [3 * 3600.0], "time_to_restore_median": 10800.0},
                 id="a-failed-change-restored-by-the-next"),
    pytest.param([ok(1, A), Outcome(at(2), REMEDIATION, "1.0.1", "RollbackSucceeded"),
                  Outcome(at(2.5), SUCCESS, "1.0.2")], {},
                 {"deployments": 2, "changes": 3, "failed_changes": 1, "remediations": 1,
                  "failures": 0, "restores": [1800.0]},
                 id="a-rollback-is-a-failed-change"),
    pytest.param([ok(1, A), bad(4, B)], {},
                 {"failing_since": at(4), "restores": [], "time_to_restore_median": None},
                 id="still-failing"),
    pytest.param([bad(-2), ok(1, A)], {},
                 {"failures": 0, "restores": [3 * 3600.0]},
                 id="failure-began-before-the-window"),
    pytest.param([ok(1, A)], {A: at(2)}, {"lead_times": [0.0]},
                 id="clock-skew-is-no-negative-lead-time"),
    pytest.param([ok(1, A), ok(24 * 8, B)], {}, {"deployments": 1},
                 id="after-the-window-is-left-out"),
])
def test_figures(outcomes: list[Outcome], commits: dict[str, datetime],
                 want: dict[str, Any]) -> None:
    got = figures(outcomes, commits, SINCE, UNTIL)
    assert {k: getattr(got, k) for k in want} == want


@pytest.mark.parametrize(("revision", "sha"), [
    pytest.param(f"main@sha1:{A}", A, id="branch"),
    pytest.param(f"v1.0.0@sha1:{B}", B, id="tag"),
    pytest.param(f"sha1:{C}", C, id="commit"),
    pytest.param(f"main/{A}", A, id="old-format"),
    pytest.param("1.2.3+0123456789ab", "0123456789ab", id="helmchart-revision-strategy"),
    pytest.param("1.2.3", "", id="chart-version"),
    pytest.param("1.2.3+0123456789ab sha256:" + "e" * 64, "0123456789ab",
                 id="helmrelease-revision-with-values-digest"),
    pytest.param("latest@sha256:" + "d" * 64, "", id="oci"),
    pytest.param("", "", id="empty"),
])
def test_commit_sha(revision: str, sha: str) -> None:
    assert commit_sha(revision) == sha


def event(kind: str, reason: str, type_: str = "Normal", count: int = 1,
          revision: str = "", token: str = "") -> dict[str, Any]:
    group = "kustomize" if kind == "Kustomization" else "helm"
    notes = {f"{group}.toolkit.fluxcd.io/revision": revision} if revision else {}
    if token:
        notes[f"{group}.toolkit.fluxcd.io/token"] = token
    return {"involvedObject": {"kind": kind}, "reason": reason, "type": type_,
            "count": count, "metadata": {"annotations": notes},
            "firstTimestamp": "2026-11-01T01:00:00Z", "lastTimestamp": "2026-11-01T03:00:00Z"}


@pytest.mark.parametrize(("body", "want"), [
    pytest.param(event("Kustomization", "ReconciliationSucceeded", revision="main@sha1:x"),
                 [Outcome(at(1), SUCCESS, "main@sha1:x", "ReconciliationSucceeded")],
                 id="ks-applied"),
    pytest.param(event("Kustomization", "HealthCheckFailed", "Warning", 3, "r"),
                 [Outcome(at(1), FAILURE, "r", "HealthCheckFailed"),
                  Outcome(at(3), FAILURE, "r", "HealthCheckFailed")],
                 id="ks-repeated-failure-first-and-last"),
    pytest.param(event("Kustomization", "Progressing"), [], id="ks-progress-is-no-outcome"),
    pytest.param(event("Kustomization", "DependencyNotReady", "Warning"), [],
                 id="ks-waiting-is-no-failure"),
    pytest.param(event("HelmRelease", "UpgradeFailed", "Warning", revision="1.0.1"),
                 [Outcome(at(1), FAILURE, "1.0.1", "UpgradeFailed")], id="hr-upgrade-failed"),
    pytest.param(event("HelmRelease", "UpgradeSucceeded", revision="1.0.1", token="sha256:d"),
                 [Outcome(at(1), SUCCESS, "1.0.1 sha256:d", "UpgradeSucceeded")],
                 id="hr-upgrade-revision-and-values-digest"),
    pytest.param(event("HelmRelease", "RollbackSucceeded", revision="1.0.1"),
                 [Outcome(at(1), REMEDIATION, "1.0.1", "RollbackSucceeded")],
                 id="hr-rollback"),
    pytest.param(event("GitRepository", "NewArtifact"), [], id="other-kinds"),
])
def test_event_outcome(body: dict[str, Any], want: list[Outcome]) -> None:
    assert event_outcome(body) == want


def test_history_outcomes_of_both_kinds() -> None:
    ks = {"history": [
        {"firstReconciled": "2026-11-01T02:00:00Z", "lastReconciled": "2026-11-01T02:00:00Z",
         "lastReconciledStatus": "HealthCheckFailed", "metadata": {"revision": "r2"}},
        {"firstReconciled": "2026-11-01T01:00:00Z", "lastReconciled": "2026-11-01T03:00:00Z",
         "lastReconciledStatus": "ReconciliationSucceeded", "metadata": {"revision": "r1"}}]}
    assert sorted(set(history_outcomes("Kustomization", ks))) == [
        Outcome(at(1), SUCCESS, "r1", "ReconciliationSucceeded"),
        Outcome(at(2), FAILURE, "r2", "HealthCheckFailed"),
        Outcome(at(3), SUCCESS, "r1", "ReconciliationSucceeded")]
    hr = {"history": [
        {"status": "failed", "chartVersion": "1.0.1", "firstDeployed": "2026-11-01T01:00:00Z",
         "lastDeployed": "2026-11-01T02:00:00Z"},
        {"status": "superseded", "chartVersion": "1.0.0", "configDigest": "sha256:d",
         "firstDeployed": "2026-11-01T01:00:00Z", "lastDeployed": "2026-11-01T01:00:00Z"},
        {"status": "pending-upgrade", "chartVersion": "1.0.2"}]}
    assert history_outcomes("HelmRelease", hr) == [
        Outcome(at(2), FAILURE, "1.0.1", "failed"),
        Outcome(at(1), SUCCESS, "1.0.0 sha256:d", "superseded")]
