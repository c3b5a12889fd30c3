"""Drift detection and correction of a release in sync (`spec.driftDetection`).

When the planner finds nothing to do and `driftDetection.mode` is `enabled` or `warn`, each
object of the latest release's manifest (what Helm applied, post-renderers included; hooks
are not part of it) is compared with the cluster by a server-side apply dry-run, through the
runtime's engine (`ResourceManager.diff`) on the target cluster, as the release's identity
(impersonated when `serviceAccountName` is set). Objects labelled or annotated
`helm.toolkit.fluxcd.io/driftDetection: disabled` are left out; `ignore` rules drop paths
from the comparison (`_drift`). Namespaced objects that name no namespace are the release
namespace's, as Helm installs them.

- `warn`: a drift sets `Drifted=True` (reason DriftDetected) and records a Warning event,
  both naming each drifted object and its changed fields; nothing is written to the objects.
- `enabled`: the drift is corrected as Flux does, without a Helm action: a missing object is
  applied whole (server-side apply, field manager `helm-controller`), a changed one gets a
  JSON patch of exactly its drifted fields (ignored paths are left alone); then a Normal
  event `DriftCorrected` says what was corrected and `Drifted` is removed. A correction that
  fails leaves `Drifted=True` and fails the run (retried with backoff).
- no drift: `Drifted` is removed.

With `--override-manager`, before the comparison the fields those field managers own on an
object are taken over as `helm-controller`'s (as Flux: a JSON patch of its managed fields),
so a field one of them added that the manifest does not have is a drift the correction
removes (`enabled`) or reports (`warn`); other managers' fields are left alone. Helm's own
install and upgrade are untouched: the flag acts only here.

Values are never put in a message (Secrets are objects of releases too): paths only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from afflux.api import HelmRelease
from afflux.api._helm_v2 import DRIFT_DETECTED
from afflux.api._meta import DRIFTED
from afflux.controllers.runtime import (
    ApiError,
    ApplyError,
    ApplyOptions,
    GenericError,
    ObjectKey,
    ReconcileContext,
    UnknownKindError,
    overridden_managers,
)

from ._drift import DISABLED_KEY, ObjectDrift, correction_patch, drift_message, object_drift
from ._release import ReleaseInfo
from ._state import RunState

__all__ = ["DRIFT_CORRECTED", "detect_and_correct_drift", "drift_mode"]

DRIFT_CORRECTED = "DriftCorrected"
_OPTIONS = ApplyOptions(exclusion_selector={DISABLED_KEY: "disabled"})


def drift_mode(hr: HelmRelease) -> str:
    dd = hr.spec.drift_detection
    return (dd.mode if dd and dd.mode else "disabled")


def _ignore_rules(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = body.get("spec") or {}
    return list((spec.get("driftDetection") or {}).get("ignore") or [])


def manifest_objects(manifest: str) -> list[dict[str, Any]]:
    """The objects of a release manifest (YAML documents; empty ones skipped)."""
    return [doc for doc in yaml.safe_load_all(manifest)
            if isinstance(doc, dict) and doc.get("kind")]


async def _drifts(ctx: ReconcileContext[HelmRelease], state: RunState,
                  release: ReleaseInfo) -> list[tuple[ObjectDrift, dict[str, Any],
                                                       dict[str, Any] | None]]:
    assert state.cluster is not None
    manager = state.cluster.manager
    rules = _ignore_rules(ctx.body)
    overridden = overridden_managers(state.services.override_managers)
    found = []
    for obj in manifest_objects(release.manifest):
        key = ObjectKey.of(obj)
        try:
            resource = await manager.resource(key)
        except UnknownKindError:
            continue  # a kind the cluster no longer serves: Helm's upgrade will say so
        except ApiError as err:
            raise GenericError(DRIFT_DETECTED, f"drift detection of {key.subject}: {err}"
                               ) from None
        if resource.namespaced and not key.namespace:
            obj.setdefault("metadata", {})["namespace"] = release.namespace
        try:
            await manager.take_over(obj, overridden)
            entry, live, dry = await manager.diff(obj, _OPTIONS, keep_managed_fields=True)
        except ApplyError as err:
            raise GenericError(DRIFT_DETECTED, f"drift detection failed: {err}") from None
        if entry.action.value == "skipped":
            continue
        drift = object_drift(entry.key.subject, live, dry, rules)
        if drift is not None:
            found.append((drift, obj, live))
    return found


async def _correct(state: RunState, drifts: Sequence[tuple[ObjectDrift, dict[str, Any],
                                                            dict[str, Any] | None]]) -> None:
    assert state.cluster is not None
    manager = state.cluster.manager
    for drift, obj, live in drifts:
        if drift.missing or live is None:
            await manager.apply(obj, _OPTIONS)
            continue
        ref = await manager.ref_of(ObjectKey.of(obj))
        try:
            await manager.kube.patch(ref, correction_patch(live, drift.patch),
                                     patch_type="json", field_manager=manager.field_manager)
        except ApiError as err:
            raise ApplyError(drift.subject, f"drift correction failed: {err}") from None


async def detect_and_correct_drift(ctx: ReconcileContext[HelmRelease], state: RunState,
                                   release: ReleaseInfo,
                                   event: Any) -> None:
    """The module docstring; `event(warning, reason, message)` records an event."""
    mode = drift_mode(ctx.obj)
    if mode not in ("enabled", "warn"):
        ctx.conditions.remove(DRIFTED)
        return
    drifts = await _drifts(ctx, state, release)
    if not drifts:
        ctx.conditions.remove(DRIFTED)
        return
    found = [d for d, _, _ in drifts]
    message = drift_message(release.ref, found, corrected=False)
    if mode == "warn":
        ctx.conditions.mark_true(DRIFTED, DRIFT_DETECTED, message)
        await event(True, DRIFT_DETECTED, message)
        return
    try:
        await _correct(state, drifts)
    except ApplyError as err:
        ctx.conditions.mark_true(DRIFTED, DRIFT_DETECTED, f"{message}\n{err}")
        await event(True, DRIFT_DETECTED, f"{message}\n{err}")
        raise GenericError(DRIFT_DETECTED, f"{message}\n{err}") from None
    ctx.conditions.remove(DRIFTED)
    await event(False, DRIFT_CORRECTED, drift_message(release.ref, found, corrected=True))
