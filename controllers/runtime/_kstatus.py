"""The health of a Kubernetes object, computed from the object alone, with kstatus' rules.

Flux decides whether applied objects are healthy with kstatus (kubernetes-sigs/cli-utils); the
health checks of kustomize-controller and helm-controller use this module to reach the same
verdicts. `compute(obj)` returns one of:

- `InProgress`: the object has not reached its desired state yet;
- `Current`: it has (or it is a kind that has no progress to make, like a ConfigMap);
- `Failed`: it will not get there without a change (stalled, crash looping, deadline passed);
- `Terminating`: it is being deleted;
- `NotFound`: there is no object (`compute(None)`);
- `Unknown`: the object's status cannot be read (a malformed field, an unknown Pod phase).

The rules, in order:

1. `metadata.deletionTimestamp` set: Terminating.
2. `metadata.generation` differs from `status.observedGeneration` (when both are there):
   InProgress, the controller has not seen the latest spec.
3. A `Reconciling` condition that is True: InProgress; a `Stalled` condition that is True:
   Failed (the conventions Flux's own kinds follow).
4. Kind-specific rules for built-in kinds: Deployment, StatefulSet, DaemonSet, ReplicaSet, Pod,
   Job, PersistentVolumeClaim, Service, CustomResourceDefinition, PodDisruptionBudget; Secret,
   ConfigMap and CronJob are always Current.
5. Any other object: its `Ready` condition decides when it has one (True: Current, otherwise
   InProgress); without one, it is Current.

Pure: the only outside input is the time (`now`), used to give an unschedulable Pod a few
seconds before calling it Failed.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "SCHEDULE_WINDOW",
    "HealthResult",
    "HealthStatus",
    "compute",
    "generic_status",
    "is_healthy",
]

#: How long a Pod may wait to be scheduled before "Unschedulable" makes it Failed.
SCHEDULE_WINDOW = timedelta(seconds=15)


class HealthStatus(enum.StrEnum):
    """kstatus' statuses, spelled as kstatus spells them."""

    IN_PROGRESS = "InProgress"
    CURRENT = "Current"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclasses.dataclass(frozen=True)
class HealthResult:
    """A status, a message for people, and a short CamelCase reason (may be empty)."""

    status: HealthStatus
    message: str
    reason: str = ""


class _Malformed(ValueError):
    """A status field of the wrong type: the verdict is Unknown."""


def _current(message: str) -> HealthResult:
    return HealthResult(HealthStatus.CURRENT, message)


def _in_progress(reason: str, message: str) -> HealthResult:
    return HealthResult(HealthStatus.IN_PROGRESS, message, reason)


def _failed(reason: str, message: str) -> HealthResult:
    return HealthResult(HealthStatus.FAILED, message, reason)


# --- reading fields -------------------------------------------------------------------------------


def _field(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _int(obj: Mapping[str, Any], path: str, default: int) -> int:
    """An integer field; missing or not an integer gives `default` (as kstatus reads them)."""
    value = _field(obj, path)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(obj: Mapping[str, Any], path: str, default: str) -> str:
    value = _field(obj, path)
    return value if isinstance(value, str) else default


def _strict_int(obj: Mapping[str, Any], path: str) -> int | None:
    """An integer field that must be an integer when present."""
    value = _field(obj, path)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{path} is not an integer: {value!r}")
    return value


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    conditions = _field(obj, "status.conditions")
    if conditions is None:
        return []
    if not isinstance(conditions, list) or not all(isinstance(c, Mapping) for c in conditions):
        raise _Malformed("status.conditions is not a list of conditions")
    return conditions


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in _conditions(obj):
        if condition.get("type") == kind:
            return condition
    return None


def _is(condition: Mapping[str, Any] | None, status: str) -> bool:
    return condition is not None and condition.get("status") == status


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- generic rules --------------------------------------------------------------------------------


def _generic(obj: Mapping[str, Any]) -> HealthResult | None:
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return HealthResult(HealthStatus.TERMINATING, "Resource scheduled for deletion")
    generation = _strict_int(obj, "metadata.generation")
    observed = _strict_int(obj, "status.observedGeneration")
    if generation is not None and observed is not None and generation != observed:
        kind = obj.get("kind", "Resource")
        return _in_progress(
            "LatestGenerationNotObserved",
            f"{kind} generation is {generation}, but latest observed generation is {observed}",
        )
    for condition in _conditions(obj):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Reconciling":
            return _in_progress(condition.get("reason", ""), condition.get("message", ""))
        if condition.get("type") == "Stalled":
            return _failed(condition.get("reason", ""), condition.get("message", ""))
    return None


# --- kind-specific rules ------------------------------------------------------------------------


def _always_current(_: Mapping[str, Any], __: datetime) -> HealthResult:
    return _current("Resource is always ready")


def _deployment(obj: Mapping[str, Any], _: datetime) -> HealthResult:
    # Without progressDeadlineSeconds the controller never reports progress: assume it.
    progressing = _field(obj, "spec.progressDeadlineSeconds") is None
    available = False
    for condition in _conditions(obj):
        if condition.get("type") == "Progressing":
            if condition.get("reason") == "ProgressDeadlineExceeded":
                return _failed("ProgressDeadlineExceeded", "Progress deadline exceeded")
            if _is(condition, "True") and condition.get("reason") == "NewReplicaSetAvailable":
                progressing = True
        elif condition.get("type") == "Available" and _is(condition, "True"):
            available = True
    wanted = _int(obj, "spec.replicas", 1)
    replicas = _int(obj, "status.replicas", 0)
    updated = _int(obj, "status.updatedReplicas", 0)
    ready = _int(obj, "status.readyReplicas", 0)
    available_replicas = _int(obj, "status.availableReplicas", 0)
    if wanted > replicas:
        return _in_progress("LessReplicas", f"Replicas: {replicas}/{wanted}")
    if wanted > updated:
        return _in_progress("LessUpdated", f"Updated: {updated}/{wanted}")
    if replicas > wanted:
        return _in_progress("ExtraPods", f"Pending termination: {replicas - wanted}")
    if updated > available_replicas:
        return _in_progress("LessAvailable", f"Available: {available_replicas}/{updated}")
    if wanted > ready:
        return _in_progress("LessReady", f"Ready: {ready}/{wanted}")
    if not progressing:
        return _in_progress("ReplicaSetNotAvailable", "ReplicaSet not Available")
    if not available:
        return _in_progress("DeploymentNotAvailable", "Deployment not Available")
    return _current(f"Deployment is available. Replicas: {replicas}")


def _statefulset(obj: Mapping[str, Any], _: datetime) -> HealthResult:
    if _str(obj, "spec.updateStrategy.type", "") == "OnDelete":
        return _current("StatefulSet is using the OnDelete update strategy")
    wanted = _int(obj, "spec.replicas", 1)
    ready = _int(obj, "status.readyReplicas", 0)
    current = _int(obj, "status.currentReplicas", 0)
    updated = _int(obj, "status.updatedReplicas", 0)
    replicas = _int(obj, "status.replicas", 0)
    partition = _int(obj, "spec.updateStrategy.rollingUpdate.partition", -1)
    if wanted > replicas:
        return _in_progress("LessReplicas", f"Replicas: {replicas}/{wanted}")
    if wanted > ready:
        return _in_progress("LessReady", f"Ready: {ready}/{wanted}")
    if replicas > wanted:
        return _in_progress("ExtraPods", f"Pending termination: {replicas - wanted}")
    if partition != -1:
        if updated < wanted - partition:
            return _in_progress("PartitionRollout", f"Updated: {updated}/{wanted - partition}")
        return _current(f"Partition rollout complete. Updated: {updated}")
    if wanted > current:
        return _in_progress("LessCurrent", f"Current: {current}/{wanted}")
    if _str(obj, "status.currentRevision", "") != _str(obj, "status.updateRevision", ""):
        return _in_progress("RevisionMismatch", "Waiting for updated revision to match current")
    return _current(f"All replicas scheduled as expected. Replicas: {replicas}")


def _daemonset(obj: Mapping[str, Any], _: datetime) -> HealthResult:
    # The DaemonSet controller always sets both once it has seen the object.
    kind = obj.get("kind", "DaemonSet")
    if _field(obj, "metadata.generation") is None:
        return _in_progress("NoGeneration", f"{kind} metadata.generation not found")
    if _field(obj, "status.observedGeneration") is None:
        return _in_progress("NoObservedGeneration", f"{kind} status.observedGeneration not found")
    desired = _int(obj, "status.desiredNumberScheduled", -1)
    if desired == -1:
        return _in_progress("NoDesiredNumber", "Missing .status.desiredNumberScheduled")
    for reason, path, label in (
        ("LessCurrent", "status.currentNumberScheduled", "Current"),
        ("LessUpdated", "status.updatedNumberScheduled", "Updated"),
        ("LessAvailable", "status.numberAvailable", "Available"),
        ("LessReady", "status.numberReady", "Ready"),
    ):
        have = _int(obj, path, 0)
        if desired > have:
            return _in_progress(reason, f"{label}: {have}/{desired}")
    return _current(f"All replicas scheduled as expected. Replicas: {desired}")


def _replicaset(obj: Mapping[str, Any], _: datetime) -> HealthResult:
    if _is(_condition(obj, "ReplicaFailure"), "True"):
        return _in_progress("ReplicaFailure", "Replica Failure condition. Check Pods")
    wanted = _int(obj, "spec.replicas", 1)
    replicas = _int(obj, "status.replicas", 0)
    for reason, path, label in (
        ("LessLabelled", "status.fullyLabeledReplicas", "Labelled"),
        ("LessAvailable", "status.availableReplicas", "Available"),
        ("LessReady", "status.readyReplicas", "Ready"),
    ):
        have = _int(obj, path, 0)
        if wanted > have:
            return _in_progress(reason, f"{label}: {have}/{wanted}")
    if replicas > wanted:
        return _in_progress("ExtraPods", f"Pending termination: {replicas - wanted}")
    return _current(f"ReplicaSet is available. Replicas: {replicas}")


def _crash_looping(obj: Mapping[str, Any]) -> list[str]:
    names = []
    for status in _field(obj, "status.containerStatuses") or []:
        if not isinstance(status, Mapping):
            continue
        if _field(status, "state.waiting.reason") == "CrashLoopBackOff":
            names.append(str(status.get("name", "")))
    return names


def _pod(obj: Mapping[str, Any], now: datetime) -> HealthResult:
    phase = _str(obj, "status.phase", "")
    if phase == "Succeeded":
        return _current("Pod has completed successfully")
    if phase == "Failed":
        return _current("Pod has completed, but not successfully")
    if phase == "Running":
        if _is(_condition(obj, "Ready"), "True"):
            return _current("Pod is Ready")
        looping = _crash_looping(obj)
        if looping:
            return _failed(
                "ContainerCrashLooping", f"Containers in CrashLoop state: {','.join(looping)}"
            )
        return _in_progress("PodRunningNotReady", "Pod is running but is not Ready")
    if phase == "Pending":
        scheduled = _condition(obj, "PodScheduled")
        if _is(scheduled, "False") and scheduled.get("reason") == "Unschedulable":
            created = _parse_time(_field(obj, "metadata.creationTimestamp"))
            if created is not None and now - SCHEDULE_WINDOW < created:
                return _in_progress("PodNotScheduled", "Pod has not been scheduled")
            return _failed("PodUnschedulable", "Pod could not be scheduled")
        return _in_progress("PodPending", "Pod is in the Pending phase")
    if phase == "":
        return _in_progress("PodNotObserved", "Pod phase not available")
    raise _Malformed(f"unknown Pod phase {phase!r}")


def _job(obj: Mapping[str, Any], _: datetime) -> HealthResult:
    parallelism = _int(obj, "spec.parallelism", 1)
    completions = _int(obj, "spec.completions", parallelism)
    succeeded = _int(obj, "status.succeeded", 0)
    active = _int(obj, "status.active", 0)
    failed = _int(obj, "status.failed", 0)
    for condition in _conditions(obj):
        if not _is(condition, "True"):
            continue
        kind = condition.get("type")
        if kind == "Complete":
            return _current(f"Job Completed. succeeded: {succeeded}/{completions}")
        if kind == "Failed":
            return _failed("JobFailed", f"Job Failed. failed: {failed}/{completions}")
        if kind == "Suspended":
            return _current("Job is suspended")
    if not _str(obj, "status.startTime", ""):
        return _in_progress("JobNotStarted", "Job not started")
    return _current(f"Job in progress. success: {succeeded}, active: {active}, failed: {failed}")


def _pvc(obj: Mapping[str, Any], _: datetime) -> HealthResult:
    phase = _str(obj, "status.phase", "unknown")
    if phase != "Bound":
        return _in_progress("NotBound", f"PVC is not Bound. phase: {phase}")
    return _current("PVC is Bound")


def _service(obj: Mapping[str, Any], _: datetime) -> HealthResult:
    # kstatus waits for the cluster IP of a LoadBalancer Service, not for an ingress address:
    # a cluster without a load-balancer controller would otherwise never be healthy.
    if _str(obj, "spec.type", "ClusterIP") == "LoadBalancer" and not _str(
        obj, "spec.clusterIP", ""
    ):
        return _in_progress("NoIPAssigned", "ClusterIP not set. Service type: LoadBalancer")
    return _current("Service is ready")


def _crd(obj: Mapping[str, Any], _: datetime) -> HealthResult:
    for condition in _conditions(obj):
        kind = condition.get("type")
        if kind == "NamesAccepted" and _is(condition, "False"):
            return _failed(condition.get("reason", ""), condition.get("message", ""))
        if kind == "Established":
            if _is(condition, "False") and condition.get("reason") != "Installing":
                return _failed(condition.get("reason", ""), condition.get("message", ""))
            if _is(condition, "True"):
                return _current("CRD is established")
    return _in_progress("Installing", "Install in progress")


def _pdb(_: Mapping[str, Any], __: datetime) -> HealthResult:
    # Reaching here means the disruption controller observed the latest generation.
    return _current("AllowedDisruptions has been computed.")


_Rule = Callable[[Mapping[str, Any], datetime], HealthResult]

#: "<group>/<kind>" ("<kind>" for the core group) -> rule.
_RULES: dict[str, _Rule] = {
    "Service": _service,
    "Pod": _pod,
    "Secret": _always_current,
    "ConfigMap": _always_current,
    "PersistentVolumeClaim": _pvc,
    "apps/StatefulSet": _statefulset,
    "apps/DaemonSet": _daemonset,
    "extensions/DaemonSet": _daemonset,
    "apps/Deployment": _deployment,
    "extensions/Deployment": _deployment,
    "apps/ReplicaSet": _replicaset,
    "extensions/ReplicaSet": _replicaset,
    "policy/PodDisruptionBudget": _pdb,
    "batch/CronJob": _always_current,
    "batch/Job": _job,
    "apiextensions.k8s.io/CustomResourceDefinition": _crd,
}


def _rule_for(obj: Mapping[str, Any]) -> _Rule | None:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    kind = str(obj.get("kind", ""))
    return _RULES.get(f"{group}/{kind}" if group else kind)


def _ready_condition(obj: Mapping[str, Any]) -> HealthResult:
    ready = _condition(obj, "Ready")
    if ready is None:
        return _current("Resource is current")
    message = ready.get("message") or ""
    if _is(ready, "True"):
        return _current(message or "Resource is Ready")
    return _in_progress(ready.get("reason") or "NotReady", message or "Resource is not Ready")


def compute(obj: Mapping[str, Any] | None, *, now: datetime | None = None) -> HealthResult:
    """The health of `obj` as it is in the cluster (None: it does not exist). See the module
    docstring for the rules."""
    if obj is None:
        return HealthResult(HealthStatus.NOT_FOUND, "Resource not found")
    try:
        result = _generic(obj)
        if result is not None:
            return result
        rule = _rule_for(obj)
        if rule is not None:
            return rule(obj, now or datetime.now(UTC))
        return _ready_condition(obj)
    except _Malformed as err:
        return HealthResult(HealthStatus.UNKNOWN, str(err))


def generic_status(obj: Mapping[str, Any]) -> HealthResult | None:
    """kstatus' rules for any kind (being deleted; observedGeneration behind; Reconciling or
    Stalled True), or None when they say nothing and the kind's own rules decide."""
    try:
        return _generic(obj)
    except _Malformed as err:
        return HealthResult(HealthStatus.UNKNOWN, str(err))


def is_healthy(obj: Mapping[str, Any] | None, *, now: datetime | None = None) -> bool:
    """True when `compute(obj)` is Current."""
    return compute(obj, now=now).status is HealthStatus.CURRENT
