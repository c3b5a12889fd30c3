"""Status readings: the Ready summary, revisions, --status-selector, and the waiting verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.cli._status import (
    Outcome,
    get_path,
    parse_status_selector,
    readiness,
    ready_message,
    ready_summary,
    reconcile_outcome,
    revision_of,
    status_selector_matches,
    success_message,
    unresolvable,
)

from .objects import cond, obj, ready

GIT_REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"


def test_get_path_walks_dicts_and_lists() -> None:
    body = {"a": {"b": [{"c": 1}]}}
    assert get_path(body, "a", "b", 0, "c") == 1
    assert get_path(body, "a", "b", 1, "c") is None
    assert get_path(body, "a", "x", "y") is None
    assert get_path(None, "a") is None


@pytest.mark.parametrize(
    ("body", "summary"),
    [
        pytest.param(ready("GitRepository", "stored artifact"), ("True", "stored artifact"),
                     id="ready"),
        pytest.param(ready("Kustomization", "build failed", "False"), ("False", "build failed"),
                     id="not-ready"),
        pytest.param(obj("GitRepository"), ("False", "waiting to be reconciled"),
                     id="never-reconciled"),
        pytest.param(ready("HelmRelease", "", "Unknown"), ("Unknown", ""), id="unknown"),
        pytest.param(obj("Alert"), ("True", "Alert is Ready"), id="status-less-alert"),
        pytest.param(obj("Provider"), ("True", "Provider is Ready"), id="status-less-provider"),
    ],
)
def test_ready_summary(body: dict[str, Any], summary: tuple[str, str]) -> None:
    assert ready_summary(body) == summary


@pytest.mark.parametrize(
    ("body", "revision"),
    [
        pytest.param(obj("GitRepository", status={"artifact": {"revision": GIT_REV}}), GIT_REV,
                     id="source-artifact"),
        pytest.param(obj("Kustomization", status={"lastAppliedRevision": GIT_REV,
                                                  "lastAttemptedRevision": "x"}),
                     GIT_REV, id="kustomization-applied"),
        pytest.param(obj("HelmRelease", status={"history": [{"chartVersion": "6.5.0"}],
                                                "lastAttemptedRevision": "6.4.0"}),
                     "6.5.0", id="helmrelease-history"),
        pytest.param(obj("HelmRelease", status={"lastAttemptedRevision": "6.4.0"}), "6.4.0",
                     id="helmrelease-attempted"),
        pytest.param(obj("ImagePolicy", status={"latestRef": {"name": "ghcr.io/a/b",
                                                              "tag": "1.2.3"}}),
                     "ghcr.io/a/b:1.2.3", id="policy-v1"),
        pytest.param(obj("ImagePolicy", status={"latestImage": "ghcr.io/a/b:1.0.0"}),
                     "ghcr.io/a/b:1.0.0", id="policy-v1beta2"),
        pytest.param(obj("GitRepository"), "", id="none-yet"),
    ],
)
def test_revision_of(body: dict[str, Any], revision: str) -> None:
    assert revision_of(body) == revision


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        pytest.param("ready=false", ("ready", "false"), id="simple"),
        pytest.param(" Ready = True ", ("Ready", "True"), id="spaces"),
    ],
)
def test_parse_status_selector(text: str, parsed: tuple[str, str]) -> None:
    assert parse_status_selector(text) == parsed


@pytest.mark.parametrize("text", ["ready", "=false", "ready=", ""], ids=str)
def test_parse_status_selector_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="<condition type>=<status>"):
        parse_status_selector(text)


@pytest.mark.parametrize(
    ("body", "selector", "matches"),
    [
        pytest.param(ready("GitRepository", status="False"), ("ready", "false"), True,
                     id="case-insensitive"),
        pytest.param(ready("GitRepository"), ("ready", "false"), False, id="other-status"),
        pytest.param(obj("GitRepository"), ("ready", "false"), False, id="no-condition"),
        pytest.param(obj("GitRepository", status={"conditions": [cond("Stalled", "True")]}),
                     ("stalled", "true"), True, id="other-condition"),
        pytest.param(obj("Alert"), ("ready", "true"), False, id="status-less-never"),
    ],
)
def test_status_selector_matches(body: dict[str, Any], selector: tuple[str, str],
                                 matches: bool) -> None:
    assert status_selector_matches(body, *selector) is matches


REQ = "2024-05-01T12:00:00.123456789Z"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        pytest.param({}, Outcome.PENDING, id="not-handled"),
        pytest.param({"lastHandledReconcileAt": "older", "conditions": [cond("Ready", "True")]},
                     Outcome.PENDING, id="older-request-handled"),
        pytest.param({"lastHandledReconcileAt": REQ, "conditions": [cond("Ready", "True")]},
                     Outcome.SUCCEEDED, id="handled-ready"),
        pytest.param({"lastHandledReconcileAt": REQ,
                      "conditions": [cond("Ready", "False", "auth failed")]},
                     Outcome.FAILED, id="handled-failed"),
        pytest.param({"lastHandledReconcileAt": REQ,
                      "conditions": [cond("Ready", "Unknown", reason="Progressing")]},
                     Outcome.PENDING, id="handled-still-progressing"),
        pytest.param({"lastHandledReconcileAt": REQ}, Outcome.PENDING, id="handled-no-ready"),
    ],
)
def test_reconcile_outcome(status: dict[str, Any], outcome: Outcome) -> None:
    assert reconcile_outcome(obj("GitRepository", status=status), REQ) is outcome


@pytest.mark.parametrize(
    ("generation", "status", "outcome"),
    [
        pytest.param(1, None, Outcome.PENDING, id="no-status"),
        pytest.param(2, {"observedGeneration": 1, "conditions": [cond("Ready", "True")]},
                     Outcome.PENDING, id="old-generation-ready"),
        pytest.param(2, {"observedGeneration": 2, "conditions": [cond("Ready", "True")]},
                     Outcome.SUCCEEDED, id="ready"),
        pytest.param(1, {"conditions": [cond("Ready", "True", observedGeneration=1)]},
                     Outcome.SUCCEEDED, id="ready-condition-generation"),
        pytest.param(1, {"observedGeneration": 1,
                         "conditions": [cond("Ready", "False"), cond("Reconciling", "True")]},
                     Outcome.PENDING, id="failing-but-retrying"),
        pytest.param(1, {"observedGeneration": 1,
                         "conditions": [cond("Ready", "False"), cond("Stalled", "True"),
                                        cond("Reconciling", "True")]},
                     Outcome.FAILED, id="stalled"),
        pytest.param(1, {"observedGeneration": 1, "conditions": [cond("Ready", "False")]},
                     Outcome.FAILED, id="failed-done-trying"),
        pytest.param(1, {"observedGeneration": 1, "conditions": [cond("Ready", "Unknown")]},
                     Outcome.PENDING, id="unknown"),
        pytest.param(2, {"observedGeneration": 1, "conditions": [
            cond("Ready", "False", "kustomize build failed", "BuildFailed", observedGeneration=2),
            cond("Reconciling", "True", reason="ProgressingWithRetry")]},
                     Outcome.FAILED, id="build-failed-at-once"),
    ],
)
def test_readiness(generation: int, status: dict[str, Any] | None, outcome: Outcome) -> None:
    assert readiness(obj("Kustomization", status=status, generation=generation)) is outcome


def test_readiness_of_status_less_kinds_is_immediate() -> None:
    assert readiness(obj("Provider")) is Outcome.SUCCEEDED


def test_ready_message_prefers_ready_then_stalled() -> None:
    both = obj("Kustomization", status={"conditions": [cond("Stalled", "True", "stalled msg"),
                                                       cond("Ready", "False", "ready msg")]})
    assert ready_message(both) == "ready msg"
    only_stalled = obj("Kustomization", status={"conditions": [cond("Stalled", "True", "s")]})
    assert ready_message(only_stalled) == "s"
    assert ready_message(obj("Kustomization")) == ""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(obj("GitRepository", status={"artifact": {"revision": GIT_REV}}),
                     f"fetched revision {GIT_REV}", id="git"),
        pytest.param(obj("HelmRepository", spec={"type": "oci"}, status={}),
                     "HelmRepository is ready", id="helm-oci-no-artifact"),
        pytest.param(obj("HelmChart", spec={"chart": "podinfo"},
                         status={"artifact": {"revision": "6.5.0"}}),
                     "pulled 'podinfo' chart with version '6.5.0'", id="chart"),
        pytest.param(obj("Kustomization", status={"lastAppliedRevision": GIT_REV}),
                     f"applied revision {GIT_REV}", id="kustomization"),
        pytest.param(obj("HelmRelease", status={"history": [{"chartVersion": "6.5.0"}]}),
                     "applied revision 6.5.0", id="helmrelease"),
        pytest.param(obj("ImageRepository", status={"lastScanResult": {"tagCount": 42}}),
                     "scan fetched 42 tags", id="image-repository"),
        pytest.param(obj("ImagePolicy", status={"latestRef": {"name": "a/b", "tag": "1"}}),
                     "selected image a/b:1", id="image-policy"),
        pytest.param(obj("ImageUpdateAutomation",
                         status={"lastPushCommit": "abcdef0123", "lastPushTime": "T"}),
                     "last push: commit abcdef0 at T", id="image-update-pushed"),
        pytest.param(obj("ImageUpdateAutomation", status={}), "repository up-to-date",
                     id="image-update-idle"),
        pytest.param(obj("Receiver", status={"webhookPath": "/hook/abc"}),
                     "webhook path /hook/abc", id="receiver"),
    ],
)
def test_success_message(body: dict[str, Any], message: str) -> None:
    assert success_message(body) == message


BUILD = cond("Ready", "False", "kustomize build failed: no such file", "BuildFailed",
             observedGeneration=2)


@pytest.mark.parametrize(("status", "revision", "message"), [
    pytest.param({"conditions": [BUILD], "lastAttemptedRevision": "main@sha1:b"}, None,
                 "kustomize build failed: no such file", id="build-failed"),
    pytest.param({"conditions": [BUILD], "lastAttemptedRevision": "main@sha1:b"},
                 "main@sha1:b", "kustomize build failed: no such file",
                 id="build-failed-at-the-revision"),
    pytest.param({"conditions": [BUILD], "lastAttemptedRevision": "main@sha1:a"},
                 "main@sha1:b", None, id="build-failed-at-an-older-revision"),
    pytest.param({"conditions": [{**BUILD, "observedGeneration": 1}]}, None, None,
                 id="build-failed-for-an-older-spec"),
    pytest.param({"conditions": [cond("Ready", "False", "x", "HealthCheckFailed",
                                      observedGeneration=2)]}, None, None,
                 id="health-check-failed-retries"),
    pytest.param({"conditions": [cond("Ready", "False", "bad url", "URLInvalid"),
                                 cond("Stalled", "True", "bad url", "URLInvalid",
                                      observedGeneration=2)]}, None, "bad url",
                 id="stalled"),
    pytest.param({"conditions": [cond("Stalled", "True", "old", "URLInvalid",
                                      observedGeneration=1)]}, None, None,
                 id="stalled-for-an-older-spec"),
    pytest.param({"conditions": [cond("Ready", "Unknown", "Reconciliation in progress",
                                      "Progressing")]}, None, None, id="in-progress"),
])
def test_unresolvable(status: dict[str, Any], revision: str | None,
                      message: str | None) -> None:
    assert unresolvable(obj("Kustomization", status=status, generation=2), revision) == message
