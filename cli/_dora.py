"""Delivery metrics (DORA) of one Kustomization or HelmRelease, computed from what the
cluster and Git remember (pure, no I/O; `afflux report` gathers the inputs).

Inputs are `Outcome`s, points in time at which a run of the object succeeded, failed, or was
remediated, each with the revision it was at:

- `event_outcome(event)`: a Kubernetes Event the controllers recorded. Kustomization:
  Normal `ReconciliationSucceeded` is a success (written when a revision is first applied,
  or after a failure), a Warning with a failure reason (`BuildFailed`, `HealthCheckFailed`,
  `ArtifactFailed`, `PruneFailed`, `ReconciliationFailed`) a failure; the revision is the
  `kustomize.toolkit.fluxcd.io/revision` annotation. HelmRelease: `InstallSucceeded` /
  `UpgradeSucceeded` are successes, `InstallFailed` / `UpgradeFailed` / `TestFailed`
  failures, `RollbackSucceeded` / `UninstallSucceeded` remediations, with the
  `helm.toolkit.fluxcd.io/revision` and `.../token` annotations (the chart version and
  the values' digest: `release_revision`). An Event repeated
  (`count` > 1) gives its first and its last time.
- `history_outcomes(kind, status)`: `status.history`. A Kustomization's entries (a success
  or a failure reason, at `firstReconciled` and `lastReconciled`, revision in
  `metadata.revision`); a HelmRelease's release snapshots (`deployed`/`superseded` a
  success at `firstDeployed`, `failed` a failure at `lastDeployed`, revision the chart
  version and `configDigest`).

`figures(outcomes, commit_times, since, until)` then gives, over the window:

- deployments: revisions first applied successfully inside the window (a revision seen
  applied before the window does not count again); frequency = deployments per day;
- lead time: for each deployment whose commit time is known (`commit_times` by SHA, see
  `commit_sha`), first success minus commit time; the median and the largest;
- change failure rate: of the revisions attempted in the window (their first outcome is in
  it), the share that had a failure or a remediation;
- time to restore: from the first failure after a success to the next success, for the
  successes inside the window (the failure may have begun before it); the median, and
  when the object still fails, since when.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from afflux.api._helm_v2 import (
    INSTALL_FAILED,
    INSTALL_SUCCEEDED,
    ROLLBACK_SUCCEEDED,
    TEST_FAILED,
    UNINSTALL_SUCCEEDED,
    UPGRADE_FAILED,
    UPGRADE_SUCCEEDED,
)
from afflux.api._helm_v2 import (
    REVISION_METADATA as HELM_REVISION,
)
from afflux.api._helm_v2 import (
    TOKEN_METADATA as HELM_TOKEN,
)
from afflux.api._meta import (
    ARTIFACT_FAILED,
    BUILD_FAILED,
    HEALTH_CHECK_FAILED,
    KUSTOMIZE_REVISION_METADATA,
    PRUNE_FAILED,
    RECONCILIATION_FAILED,
    RECONCILIATION_SUCCEEDED,
)

from ._format import parse_time

__all__ = ["FAILURE", "REMEDIATION", "SUCCESS", "Figures", "Outcome", "commit_sha",
           "event_outcome", "figures", "history_outcomes", "release_revision"]

SUCCESS, FAILURE, REMEDIATION = "success", "failure", "remediation"

_KS_FAILURES = {BUILD_FAILED, HEALTH_CHECK_FAILED, ARTIFACT_FAILED, PRUNE_FAILED,
                RECONCILIATION_FAILED}
_REASONS: dict[str, dict[str, str]] = {
    "Kustomization": {RECONCILIATION_SUCCEEDED: SUCCESS,
                      **dict.fromkeys(_KS_FAILURES, FAILURE)},
    "HelmRelease": {INSTALL_SUCCEEDED: SUCCESS, UPGRADE_SUCCEEDED: SUCCESS,
                    INSTALL_FAILED: FAILURE, UPGRADE_FAILED: FAILURE, TEST_FAILED: FAILURE,
                    ROLLBACK_SUCCEEDED: REMEDIATION, UNINSTALL_SUCCEEDED: REMEDIATION},
}
_REVISION_KEYS = {"Kustomization": KUSTOMIZE_REVISION_METADATA, "HelmRelease": HELM_REVISION}
_SHA = re.compile(r"(?:@sha1:|^sha1:|^[^/@ ]+/)([0-9a-f]{40})$|\+([0-9a-f]{7,40})(?: |$)")


@dataclass(frozen=True, order=True)
class Outcome:
    """A run's result at a point in time."""

    at: datetime
    kind: str  # SUCCESS | FAILURE | REMEDIATION
    revision: str = ""
    reason: str = ""


@dataclass
class Figures:
    """One object's delivery metrics over a window (module docstring)."""

    window_days: float
    deployments: int = 0
    deployment_frequency: float = 0.0  # per day
    lead_times: list[float] = field(default_factory=list)  # seconds, one per deployment known
    lead_time_median: float | None = None
    lead_time_max: float | None = None
    changes: int = 0
    failed_changes: int = 0
    change_failure_rate: float | None = None
    failures: int = 0
    remediations: int = 0
    restores: list[float] = field(default_factory=list)  # seconds
    time_to_restore_median: float | None = None
    failing_since: datetime | None = None


def commit_sha(revision: str) -> str:
    """The commit SHA in a revision (`main@sha1:<40 hex>`, `sha1:<hex>`, the old
    `main/<hex>`, or a chart version `1.2.3+<hex>` of a Git-sourced HelmChart), or ''."""
    m = _SHA.search(revision or "")
    return (m.group(1) or m.group(2)) if m else ""


def release_revision(chart_version: str, config_digest: str) -> str:
    """What a HelmRelease change is: the chart version and the values' digest
    (`1.2.3 sha256:...`), so an upgrade that changes only values is a change too."""
    return f"{chart_version} {config_digest}" if config_digest else chart_version


def event_outcome(event: Mapping[str, Any]) -> list[Outcome]:
    """The outcomes an Event stands for (none for the other events)."""
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind", ""))
    reason = str(event.get("reason", ""))
    what = _REASONS.get(kind, {}).get(reason)
    if what is None:
        return []
    if what == SUCCESS and event.get("type") == "Warning":
        return []
    notes = (event.get("metadata") or {}).get("annotations") or {}
    revision = str(notes.get(_REVISION_KEYS[kind], ""))
    if kind == "HelmRelease":
        revision = release_revision(revision, str(notes.get(HELM_TOKEN, "")))
    first = parse_time(event.get("firstTimestamp") or event.get("eventTime"))
    last = parse_time(event.get("lastTimestamp") or event.get("eventTime")) or first
    times = {t for t in (first, last if int(event.get("count") or 1) > 1 else None) if t}
    return [Outcome(t, what, revision, reason) for t in sorted(times)]


def history_outcomes(kind: str, status: Mapping[str, Any]) -> list[Outcome]:
    """The outcomes `status.history` remembers (module docstring)."""
    out: list[Outcome] = []
    for entry in status.get("history") or ():
        if kind == "Kustomization":
            reason = str(entry.get("lastReconciledStatus", ""))
            what = SUCCESS if reason == RECONCILIATION_SUCCEEDED else FAILURE
            revision = str((entry.get("metadata") or {}).get("revision", ""))
            stamps = (entry.get("firstReconciled"), entry.get("lastReconciled"))
        else:
            state = str(entry.get("status", ""))
            if state in ("deployed", "superseded"):
                what, stamps = SUCCESS, (entry.get("firstDeployed"),)
            elif state == "failed":
                what, stamps = FAILURE, (entry.get("lastDeployed"),)
            else:
                continue
            reason = state
            revision = release_revision(str(entry.get("chartVersion", "")),
                                        str(entry.get("configDigest", "")))
        for stamp in stamps:
            when = parse_time(stamp)
            if when is not None:
                out.append(Outcome(when, what, revision, reason))
    return out


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def figures(outcomes: Iterable[Outcome], commit_times: Mapping[str, datetime],
            since: datetime, until: datetime) -> Figures:
    """The delivery metrics of one object over [since, until] (module docstring)."""
    timeline = sorted(set(outcomes))
    days = max((until - since).total_seconds(), 1.0) / 86400
    fig = Figures(window_days=round(days, 6))
    first_success: dict[str, datetime] = {}
    first_seen: dict[str, datetime] = {}
    troubled: set[str] = set()
    healthy, failing_since = True, None
    for o in timeline:
        if o.at > until:
            break
        if o.revision:
            first_seen.setdefault(o.revision, o.at)
        inside = o.at >= since
        if o.kind == SUCCESS:
            if o.revision:
                first_success.setdefault(o.revision, o.at)
            if not healthy and failing_since is not None and inside:
                fig.restores.append((o.at - failing_since).total_seconds())
            healthy, failing_since = True, None
            continue
        if inside:
            fig.failures += o.kind == FAILURE
            fig.remediations += o.kind == REMEDIATION
            if o.revision:
                troubled.add(o.revision)
        if healthy:
            healthy, failing_since = False, o.at
    deployed = [r for r, at in first_success.items() if since <= at <= until]
    fig.deployments = len(deployed)
    fig.deployment_frequency = round(fig.deployments / days, 6)
    for revision in deployed:
        committed = commit_times.get(commit_sha(revision))
        if committed is not None:
            fig.lead_times.append(max((first_success[revision] - committed).total_seconds(),
                                      0.0))
    fig.lead_time_median = _median(fig.lead_times)
    fig.lead_time_max = max(fig.lead_times) if fig.lead_times else None
    attempted = {r for r, at in first_seen.items() if since <= at <= until}
    fig.changes = len(attempted)
    fig.failed_changes = len(attempted & troubled)
    fig.change_failure_rate = (round(fig.failed_changes / fig.changes, 6)
                               if fig.changes else None)
    fig.time_to_restore_median = _median(fig.restores)
    fig.failing_since = failing_since if not healthy else None
    return fig
