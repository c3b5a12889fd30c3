"""cleanupOnFail under the poller: the objects of the failed release, which of them the
failed upgrade or rollback created (and are deleted), and what the failure message says."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from afflux.controllers.helm._cleanup import (
    cleanup_blocker,
    cleanup_candidates,
    cleanup_message,
)
from afflux.controllers.runtime import ObjectKey

STARTED = datetime.datetime(2026, 12, 2, 3, 0, 0, 600000, tzinfo=datetime.UTC)


def _obj(kind: str, name: str, namespace: str = "apps", api_version: str = "v1",
         **meta: Any) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, **({"namespace": namespace} if namespace else {}),
                         **meta}}


CM_A = _obj("ConfigMap", "a")
DEPLOY = _obj("Deployment", "web", api_version="apps/v1")
JOB = _obj("Job", "web-job", api_version="batch/v1")
HOOK = _obj("Job", "web-pre-upgrade", api_version="batch/v1",
            annotations={"helm.sh/hook": "pre-upgrade"})


@pytest.mark.parametrize(("objects", "expected"), [
    pytest.param([CM_A, DEPLOY, JOB], [CM_A, DEPLOY, JOB], id="manifest-order"),
    pytest.param([CM_A, _obj("ConfigMap", "a", namespace="other")],
                 [CM_A, _obj("ConfigMap", "a", namespace="other")], id="namespaces-apart"),
    pytest.param([DEPLOY, _obj("Deployment", "web", api_version="apps/v1beta2")],
                 [DEPLOY, _obj("Deployment", "web", api_version="apps/v1beta2")],
                 id="api-versions-apart-as-helm-compares"),
    pytest.param([_obj("ClusterRole", "r", namespace="",
                       api_version="rbac.authorization.k8s.io/v1")],
                 [_obj("ClusterRole", "r", namespace="",
                       api_version="rbac.authorization.k8s.io/v1")], id="cluster-scoped"),
    pytest.param([CM_A, HOOK], [CM_A], id="hooks-left-out"),
    pytest.param([DEPLOY, DEPLOY], [DEPLOY], id="each-once"),
    pytest.param([{"kind": "ConfigMap"}, {}], [], id="nameless-documents-left-out"),
])
def test_cleanup_candidates(objects: list[dict[str, Any]],
                            expected: list[dict[str, Any]]) -> None:
    assert cleanup_candidates(objects) == [ObjectKey.of(o) for o in expected]


@pytest.mark.parametrize(("meta", "reason"), [
    pytest.param({"creationTimestamp": "2026-12-02T03:00:05Z"}, None, id="created-after"),
    pytest.param({"creationTimestamp": "2026-12-02T03:00:00Z"}, None,
                 id="created-in-the-second-it-started"),
    pytest.param({"creationTimestamp": "2026-12-02T02:59:59Z"},
                 "it existed before the action", id="existed-before-taken-over-or-updated"),
    pytest.param({"creationTimestamp": "2026-12-02T03:00:05Z",
                  "annotations": {"helm.sh/resource-policy": "keep"}},
                 "helm.sh/resource-policy: keep", id="keep-policy"),
    pytest.param({"creationTimestamp": "2026-12-02T03:00:05Z",
                  "annotations": {"helm.sh/resource-policy": "delete"}}, None,
                 id="other-policy-deleted"),
    pytest.param({}, "its creation time is unknown", id="no-creation-time-left"),
    pytest.param({"creationTimestamp": "yesterday"}, "its creation time is unknown",
                 id="unreadable-creation-time-left"),
])
def test_cleanup_blocker(meta: dict[str, Any], reason: str | None) -> None:
    assert cleanup_blocker(STARTED)({"metadata": meta}) == reason


def test_cleanup_blocker_compares_instants_across_time_zones() -> None:
    started = STARTED.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    blocker = cleanup_blocker(started)
    assert blocker({"metadata": {"creationTimestamp": "2026-12-02T03:00:01Z"}}) is None
    assert blocker({"metadata": {"creationTimestamp": "2026-12-02T02:00:01Z"}}) is not None


@pytest.mark.parametrize(("deleted", "error", "message"), [
    pytest.param([], "", "", id="nothing"),
    pytest.param(["Deployment/apps/web", "Job/apps/web-job"], "",
                 "cleanupOnFail deleted what the failed upgrade created: Deployment/apps/web, "
                 "Job/apps/web-job", id="deleted"),
    pytest.param([], "Job/apps/web-job delete failed (forbidden)",
                 "an error occurred while cleaning up resources (cleanupOnFail): "
                 "Job/apps/web-job delete failed (forbidden)", id="failed"),
    pytest.param([f"ConfigMap/apps/c{i}" for i in range(12)], "",
                 "cleanupOnFail deleted what the failed upgrade created: " + ", ".join(
                     f"ConfigMap/apps/c{i}" for i in range(10)) + " and 2 more",
                 id="at-most-ten-named"),
])
def test_cleanup_message(deleted: list[str], error: str, message: str) -> None:
    assert cleanup_message("upgrade", deleted, error) == message
