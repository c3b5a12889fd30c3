"""Object health with kstatus' rules: generic rules first, then per kind, then Ready."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from afflux.controllers.runtime._kstatus import HealthStatus, compute, is_healthy

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

IN_PROGRESS = HealthStatus.IN_PROGRESS
CURRENT = HealthStatus.CURRENT
FAILED = HealthStatus.FAILED
TERMINATING = HealthStatus.TERMINATING
UNKNOWN = HealthStatus.UNKNOWN


def cond(kind: str, status: str, reason: str = "", message: str = "") -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def make(api_version: str, kind: str, spec: dict | None = None, status: dict | None = None,
         **meta: object) -> dict:
    obj: dict = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", **meta}}
    if spec is not None:
        obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def deploy(spec: dict | None = None, conditions: list | None = None, **status: int) -> dict:
    full = {"replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2,
            "observedGeneration": 1, **status}
    full["conditions"] = conditions if conditions is not None else [
        cond("Available", "True", "MinimumReplicasAvailable"),
        cond("Progressing", "True", "NewReplicaSetAvailable"),
    ]
    return make("apps/v1", "Deployment", {"replicas": 2, "progressDeadlineSeconds": 600,
                                          **(spec or {})}, full, generation=1)


def sts(spec: dict | None = None, **status: object) -> dict:
    full = {"replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
            "currentRevision": "r1", "updateRevision": "r1", **status}
    return make("apps/v1", "StatefulSet", {"replicas": 3, **(spec or {})}, full)


def ds(**status: object) -> dict:
    full = {"desiredNumberScheduled": 2, "currentNumberScheduled": 2,
            "updatedNumberScheduled": 2, "numberAvailable": 2, "numberReady": 2,
            "observedGeneration": 4, **status}
    return make("apps/v1", "DaemonSet", {}, full, generation=4)


def rs(**status: int) -> dict:
    full = {"replicas": 2, "fullyLabeledReplicas": 2, "availableReplicas": 2,
            "readyReplicas": 2, **status}
    return make("apps/v1", "ReplicaSet", {"replicas": 2}, full)


def pod(phase: str | None, conditions: list | None = None, containers: list | None = None,
        created: str = "2024-05-01T11:00:00Z") -> dict:
    status: dict = {"conditions": conditions or []}
    if phase is not None:
        status["phase"] = phase
    if containers is not None:
        status["containerStatuses"] = containers
    return make("v1", "Pod", {}, status, creationTimestamp=created)


def job(spec: dict | None = None, conditions: list | None = None, **status: object) -> dict:
    return make("batch/v1", "Job", spec or {}, {"conditions": conditions or [], **status})


def crd(*conditions: dict) -> dict:
    return make("apiextensions.k8s.io/v1", "CustomResourceDefinition", {},
                {"conditions": list(conditions)})


def custom(status: dict | None = None, **meta: object) -> dict:
    return make("example.com/v1", "Widget", {}, status, **meta)


CASES = [
    # generic
    ("not-found", None, HealthStatus.NOT_FOUND, "not found"),
    ("terminating", make("v1", "ConfigMap", deletionTimestamp="2024-05-01T11:59:00Z"),
     TERMINATING, "deletion"),
    ("generation-not-observed", custom({"observedGeneration": 1}, generation=2), IN_PROGRESS,
     "generation is 2, but latest observed generation is 1"),
    ("generation-observed-no-conditions", custom({"observedGeneration": 2}, generation=2),
     CURRENT, "current"),
    ("no-observed-generation-is-lenient", custom({}, generation=2), CURRENT, "current"),
    ("reconciling-true", custom({"conditions": [cond("Reconciling", "True", "Progressing",
                                                     "working on it")]}),
     IN_PROGRESS, "working on it"),
    ("stalled-true", custom({"conditions": [cond("Stalled", "True", "BuildFailed", "bad")]}),
     FAILED, "bad"),
    ("reconciling-false-ignored", custom({"conditions": [cond("Reconciling", "False")]}),
     CURRENT, ""),
    ("ready-true", custom({"conditions": [cond("Ready", "True", "Succeeded", "all good")]}),
     CURRENT, "all good"),
    ("ready-false", custom({"conditions": [cond("Ready", "False", "Failed", "broken")]}),
     IN_PROGRESS, "broken"),
    ("ready-unknown", custom({"conditions": [cond("Ready", "Unknown", "Progressing", "")]}),
     IN_PROGRESS, "not Ready"),
    ("stalled-beats-ready", custom({"conditions": [cond("Ready", "False"),
                                                   cond("Stalled", "True", "X", "stuck")]}),
     FAILED, "stuck"),
    ("terminating-beats-everything",
     custom({"conditions": [cond("Stalled", "True")]}, deletionTimestamp="2024-05-01T00:00:00Z"),
     TERMINATING, "deletion"),
    ("malformed-generation", custom({"observedGeneration": "one"}, generation=1), UNKNOWN,
     "observedGeneration"),
    ("malformed-conditions", custom({"conditions": "Ready"}), UNKNOWN, "conditions"),
    # always current
    ("configmap", make("v1", "ConfigMap"), CURRENT, "always ready"),
    ("secret", make("v1", "Secret"), CURRENT, "always ready"),
    ("cronjob", make("batch/v1", "CronJob"), CURRENT, "always ready"),
    # Deployment
    ("deployment-available", deploy(), CURRENT, "Deployment is available. Replicas: 2"),
    ("deployment-too-few-replicas", deploy(replicas=1), IN_PROGRESS, "Replicas: 1/2"),
    ("deployment-too-few-updated", deploy(updatedReplicas=1), IN_PROGRESS, "Updated: 1/2"),
    ("deployment-old-pods-terminating", deploy(replicas=3), IN_PROGRESS,
     "Pending termination: 1"),
    ("deployment-too-few-available", deploy(availableReplicas=1), IN_PROGRESS,
     "Available: 1/2"),
    ("deployment-too-few-ready", deploy(readyReplicas=1), IN_PROGRESS, "Ready: 1/2"),
    ("deployment-deadline-exceeded",
     deploy(conditions=[cond("Progressing", "False", "ProgressDeadlineExceeded", "too slow")],
            readyReplicas=0),
     FAILED, "deadline"),
    ("deployment-not-progressed-yet",
     deploy(conditions=[cond("Available", "True"),
                        cond("Progressing", "True", "ReplicaSetUpdated")]),
     IN_PROGRESS, "ReplicaSet not Available"),
    ("deployment-not-available",
     deploy(conditions=[cond("Progressing", "True", "NewReplicaSetAvailable")]),
     IN_PROGRESS, "Deployment not Available"),
    ("deployment-without-deadline-assumes-progress",
     deploy(spec={"progressDeadlineSeconds": None}, conditions=[cond("Available", "True")]),
     CURRENT, "available"),
    ("deployment-default-one-replica",
     make("apps/v1", "Deployment", {}, {"replicas": 1, "updatedReplicas": 1,
                                        "readyReplicas": 1, "availableReplicas": 1,
                                        "conditions": [cond("Available", "True")]}),
     CURRENT, "Replicas: 1"),
    ("deployment-generation-not-observed",
     {**deploy(), "metadata": {"name": "x", "generation": 2}}, IN_PROGRESS, "observed"),
    # StatefulSet
    ("statefulset-ready", sts(), CURRENT, "Replicas: 3"),
    ("statefulset-on-delete", sts({"updateStrategy": {"type": "OnDelete"}}, replicas=0),
     CURRENT, "OnDelete"),
    ("statefulset-too-few-replicas", sts(replicas=2), IN_PROGRESS, "Replicas: 2/3"),
    ("statefulset-too-few-ready", sts(readyReplicas=1), IN_PROGRESS, "Ready: 1/3"),
    ("statefulset-extra-pods", sts(replicas=4), IN_PROGRESS, "Pending termination: 1"),
    ("statefulset-partition-rolling",
     sts({"updateStrategy": {"rollingUpdate": {"partition": 1}}}, updatedReplicas=1),
     IN_PROGRESS, "Updated: 1/2"),
    ("statefulset-partition-done",
     sts({"updateStrategy": {"rollingUpdate": {"partition": 1}}}, updatedReplicas=2),
     CURRENT, "Partition rollout complete"),
    ("statefulset-too-few-current", sts(currentReplicas=2), IN_PROGRESS, "Current: 2/3"),
    ("statefulset-revision-mismatch", sts(updateRevision="r2"), IN_PROGRESS, "revision"),
    # DaemonSet
    ("daemonset-ready", ds(), CURRENT, "Replicas: 2"),
    ("daemonset-no-observed-generation",
     make("apps/v1", "DaemonSet", {}, {"desiredNumberScheduled": 1}, generation=1),
     IN_PROGRESS, "observedGeneration not found"),
    ("daemonset-no-desired", ds(desiredNumberScheduled=None), IN_PROGRESS,
     "desiredNumberScheduled"),
    ("daemonset-too-few-updated", ds(updatedNumberScheduled=1), IN_PROGRESS, "Updated: 1/2"),
    ("daemonset-too-few-ready", ds(numberReady=0), IN_PROGRESS, "Ready: 0/2"),
    # ReplicaSet
    ("replicaset-ready", rs(), CURRENT, "Replicas: 2"),
    ("replicaset-failure",
     {**rs(), "status": {**rs()["status"], "conditions": [cond("ReplicaFailure", "True")]}},
     IN_PROGRESS, "Replica Failure"),
    ("replicaset-too-few-available", rs(availableReplicas=1), IN_PROGRESS, "Available: 1/2"),
    # Pod
    ("pod-succeeded", pod("Succeeded"), CURRENT, "completed successfully"),
    ("pod-failed-is-done", pod("Failed"), CURRENT, "not successfully"),
    ("pod-running-ready", pod("Running", [cond("Ready", "True")]), CURRENT, "Pod is Ready"),
    ("pod-running-not-ready", pod("Running", [cond("Ready", "False")]), IN_PROGRESS,
     "not Ready"),
    ("pod-crash-looping",
     pod("Running", [cond("Ready", "False")],
         [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
          {"name": "side", "state": {"running": {}}}]),
     FAILED, "CrashLoop state: app"),
    ("pod-pending", pod("Pending"), IN_PROGRESS, "Pending"),
    ("pod-unschedulable", pod("Pending", [cond("PodScheduled", "False", "Unschedulable")]),
     FAILED, "could not be scheduled"),
    ("pod-unschedulable-just-created",
     pod("Pending", [cond("PodScheduled", "False", "Unschedulable")],
         created="2024-05-01T11:59:55Z"),
     IN_PROGRESS, "not been scheduled"),
    ("pod-no-phase", pod(None), IN_PROGRESS, "phase not available"),
    ("pod-unknown-phase", pod("Exploded"), UNKNOWN, "Exploded"),
    # Job
    ("job-complete", job(conditions=[cond("Complete", "True")], succeeded=1), CURRENT,
     "Completed. succeeded: 1/1"),
    ("job-failed", job({"completions": 3}, [cond("Failed", "True")], failed=2), FAILED,
     "failed: 2/3"),
    ("job-suspended", job(conditions=[cond("Suspended", "True")]), CURRENT, "suspended"),
    ("job-not-started", job(), IN_PROGRESS, "not started"),
    ("job-running", job(startTime="2024-05-01T11:00:00Z", active=1), CURRENT, "active: 1"),
    # PersistentVolumeClaim
    ("pvc-bound", make("v1", "PersistentVolumeClaim", {}, {"phase": "Bound"}), CURRENT,
     "Bound"),
    ("pvc-pending", make("v1", "PersistentVolumeClaim", {}, {"phase": "Pending"}),
     IN_PROGRESS, "phase: Pending"),
    ("pvc-no-status", make("v1", "PersistentVolumeClaim"), IN_PROGRESS, "phase: unknown"),
    # Service
    ("service-clusterip", make("v1", "Service", {"clusterIP": "10.0.0.1"}), CURRENT, "ready"),
    ("service-loadbalancer-no-ip", make("v1", "Service", {"type": "LoadBalancer"}),
     IN_PROGRESS, "ClusterIP not set"),
    ("service-loadbalancer-with-ip",
     make("v1", "Service", {"type": "LoadBalancer", "clusterIP": "10.0.0.2"}), CURRENT,
     "ready"),
    # CustomResourceDefinition
    ("crd-established", crd(cond("NamesAccepted", "True"), cond("Established", "True")),
     CURRENT, "established"),
    ("crd-installing", crd(cond("Established", "False", "Installing")), IN_PROGRESS,
     "Install in progress"),
    ("crd-no-conditions", crd(), IN_PROGRESS, "Install in progress"),
    ("crd-names-conflict", crd(cond("NamesAccepted", "False", "MultipleNamesNotAllowed",
                                    "names clash")), FAILED, "names clash"),
    ("crd-not-established", crd(cond("Established", "False", "Broken", "nope")), FAILED,
     "nope"),
    # PodDisruptionBudget
    ("pdb-observed", make("policy/v1", "PodDisruptionBudget", {},
                          {"observedGeneration": 1}, generation=1), CURRENT, "computed"),
    ("pdb-not-observed", make("policy/v1", "PodDisruptionBudget", {},
                              {"observedGeneration": 1}, generation=2), IN_PROGRESS, "observed"),
    # Flux kinds follow the generic rules
    ("flux-kustomization-ready",
     make("kustomize.toolkit.fluxcd.io/v1", "Kustomization", {},
          {"observedGeneration": 3, "conditions": [cond("Ready", "True", "ReconciliationSucceeded",
                                                        "Applied revision: main@sha1:abc")]},
          generation=3),
     CURRENT, "Applied revision"),
    ("flux-helmrelease-stalled",
     make("helm.toolkit.fluxcd.io/v2", "HelmRelease", {},
          {"conditions": [cond("Ready", "False", "InstallFailed", "install failed"),
                          cond("Stalled", "True", "RetriesExceeded", "retries exhausted")]}),
     FAILED, "retries exhausted"),
]


@pytest.mark.parametrize(
    ("obj", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_compute(obj: dict | None, status: HealthStatus, message: str) -> None:
    result = compute(obj, now=NOW)
    assert result.status is status, result
    assert message in result.message


def test_reasons_are_reported() -> None:
    assert compute(deploy(readyReplicas=1), now=NOW).reason == "LessReady"
    assert compute(pod("Pending", [cond("PodScheduled", "False", "Unschedulable")]),
                   now=NOW).reason == "PodUnschedulable"


@pytest.mark.parametrize(
    ("obj", "healthy"),
    [(deploy(), True), (deploy(readyReplicas=0), False), (None, False)],
    ids=["current", "in-progress", "missing"],
)
def test_is_healthy(obj: dict | None, healthy: bool) -> None:
    assert is_healthy(obj, now=NOW) is healthy


def test_status_values_are_kstatus_strings() -> None:
    assert [s.value for s in HealthStatus] == [
        "InProgress", "Current", "Failed", "Terminating", "NotFound", "Unknown"]
