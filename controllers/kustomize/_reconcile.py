"""The Kustomization reconciler: its phases, in order, and what they share during one run.

    begin -> source -> dependencies -> progress -> artifact -> decryption -> build
          -> substitute -> apply -> prune -> health -> finish

| phase          | module               | does                                              | fails with |
| -------------- | -------------------- | ------------------------------------------------- | ---------- |
| source         | `_reconcile_source`  | finds the sourceRef and its artifact (ACL checked), sets lastAttemptedRevision | ArtifactFailed (waiting), AccessDenied (stalled) |
| dependencies   | `_reconcile_deps`    | every dependsOn Kustomization Ready at its generation (and at our revision when it builds the same source) | DependencyNotReady (waiting) |
| progress       | `_reconcile_health`  | the run's one progress patch, when no health wait will follow: Ready=Unknown "Reconciliation in progress", Reconciling "Fetching manifests for revision ... with a timeout of ...", written before the run's first real work (download, build, apply: `report_work`), so never by a no-change run | - |
| artifact       | `_reconcile_source`  | downloads the artifact, verifies its digest        | ArtifactFailed |
| decryption     | `_reconcile_build`   | reads the SOPS keys of `spec.decryption`            | DecryptionFailed |
| build          | `_reconcile_build`   | unpacks and builds (decrypting inside); nothing is applied from a failed build | BuildFailed |
| substitute     | `_reconcile_build`   | postBuild variables, then commonMetadata and the owner labels | BuildFailed |
| apply          | `_reconcile_apply`   | server-side apply in stages to the target cluster (impersonated or remote); the inventory keeps what was applied even when the apply stops half-way | ReconciliationFailed |
| prune          | `_reconcile_apply`   | deletes what left the inventory (`prune: true`)     | PruneFailed |
| health         | `_reconcile_health`  | healthChecks / wait within the timeout; the Healthy condition; before waiting, the run's progress patch (Reconciling "Running health checks for revision ... with a timeout of ...", Healthy and Ready Unknown, the new inventory) | HealthCheckFailed |
| finish         | `_reconcile_status`  | lastAppliedRevision, history, Ready message, events | - |

Each phase has the runtime's one signature, `async def phase(ctx) -> PhaseResult | None`;
what one phase hands to the next lives in the run's `RunState` (`_reconcile_state`), which
the first phase, `begin`, attaches to the context together with the controller's `Services`.
Deletion (`finalize`, `_reconcile_finalize`) prunes according to `deletionPolicy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from afflux.api import Kustomization
from afflux.api._meta import RECONCILIATION_FAILED, RECONCILIATION_SUCCEEDED
from afflux.controllers.runtime import ReconcileContext, Reconciler

from ._reconcile_apply import apply_phase, prune_phase
from ._reconcile_build import build_phase, decryption_phase, substitute_phase
from ._reconcile_deps import dependencies_phase
from ._reconcile_finalize import finalize
from ._reconcile_health import health_phase, progress_phase
from ._reconcile_source import artifact_phase, source_phase
from ._reconcile_state import KUSTOMIZATION, Services, begin
from ._reconcile_status import finish_phase

__all__ = ["kustomization_reconciler"]


def _retry_interval(body: Mapping[str, Any]) -> float | None:
    try:
        return Kustomization.from_dict(body).retry_interval
    except (TypeError, ValueError):
        return None


def kustomization_reconciler(services: Services) -> Reconciler[Kustomization]:
    """The Reconciler of Kustomizations, its phases bound to `services`."""
    start = begin(services)

    async def finalize_with_services(ctx: ReconcileContext[Kustomization]) -> None:
        await start(ctx)
        await finalize(ctx)

    return Reconciler(
        KUSTOMIZATION,
        [start, source_phase, dependencies_phase, progress_phase, artifact_phase,
         decryption_phase, build_phase, substitute_phase, apply_phase, prune_phase,
         health_phase, finish_phase],
        finalize=finalize_with_services,
        parse=Kustomization.from_dict,
        ready_reason=RECONCILIATION_SUCCEEDED,
        ready_message="reconciliation succeeded",
        failure_reason=RECONCILIATION_FAILED,
        retry_interval_of=_retry_interval,
        report_new_generation=False,  # progress_phase and health_phase report, as Flux's
    )
