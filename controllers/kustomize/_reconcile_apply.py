"""The apply and prune phases, and the cluster they act on.

`target_cluster` picks the cluster and identity: the Secret of `spec.kubeConfig.secretRef`
(key `value`, then `value.yaml`, unless the reference names one) for a remote cluster, or
the ConfigMap of `spec.kubeConfig.configMapRef` (provider `generic`: the remote API server
reached with a ServiceAccount token, `runtime._workload`; a ConfigMap that cannot work
stalls with a message naming the key or the feature gate), and
`spec.serviceAccountName` (or `--default-service-account`) to impersonate
`system:serviceaccount:<namespace>:<name>` there; the API server's RBAC for that account then
decides what may be applied, and a refusal is reported with the server's own words (which
object, which verb, which user).

`apply_phase` first keeps the fields `spec.ignore` names as the cluster has them on the
objects that exist (`_ignore`), then applies the built set with the server-side apply engine (`runtime._ssa`) under
the field manager `kustomize-controller`, with Flux's per-object policies: `ssa: Merge |
IfNotPresent | Ignore`, `reconcile: disabled`, `force: enabled` (or `spec.force`) to recreate on
immutable fields, and kubectl's leftovers taken over unless `Merge` (with the field
managers `--override-manager` names, as Flux: what they set that the manifest does not say
is dropped by the apply). Run every interval, the
dry-runs find objects changed by hand and put them back (drift), and say what they put
back (`_reconcile_drift.report_drift`). The new inventory is what
the apply touched; when the apply stops half-way, the inventory becomes the old one plus
what was applied, so nothing applied is ever forgotten (and nothing is pruned). Changes are
recorded as a `Progressing` event with the change set (`Kind/ns/name created`, one per line).
With `--drift-watch`, an interval reconcile the cluster cannot have drifted from skips all
of this (`_reconcile_drift`), and an object the synced watches do not hold is created with
one create-only apply, without the GET and the dry-run (`runtime._ssa`: when it exists
after all, the API server refuses that apply and the full path runs).

`prune_phase` (with `spec.prune`) deletes the objects of the previous inventory that the new
one lacks (unless the mass-deletion guard holds it: the runtime's `hold_prune`), in reverse apply order with background propagation, keeping those labelled or
annotated `prune: disabled` / `reconcile: disabled` and those that no longer carry this
Kustomization's owner labels. An object whose deletion fails (Forbidden, say) stays in the
inventory, so the next run tries again and it is never orphaned; the failure is PruneFailed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from afflux.api import Kustomization
from afflux.api._meta import (
    KUBECONFIG_REFUSED,
    KUSTOMIZE_FORCE_ANNOTATION,
    KUSTOMIZE_RECONCILE_ANNOTATION,
    KUSTOMIZE_SSA_ANNOTATION,
    PRUNE_FAILED,
    PRUNE_HELD,
    RECONCILIATION_FAILED,
)
from afflux.api._refs import ObjectRef as InventoryRef
from afflux.controllers.runtime import (
    AbsenceHint,
    Action,
    ApiError,
    ApplyError,
    ApplyOptions,
    ChangeSet,
    Cleanup,
    Cluster,
    DeleteOptions,
    FieldManager,
    GenericError,
    KubeConfigError,
    KubeConfigRefused,
    ObjectKey,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    RemoteAccess,
    StallingError,
    WaitingError,
    held_message,
    hold_prune,
    overridden_managers,
    service_account_user,
)

from ._history import record_history
from ._ignore import ignored_paths, keep_live_values
from ._inventory import inventory_entries, prune_blocker, refs_from_entries, stale_refs
from ._reconcile_build import SECRETS
from ._reconcile_drift import SKIPPED, recorded, report_drift, try_skip
from ._reconcile_state import CONTROLLER_NAME, RunState, event_metadata, report_work, run_of

__all__ = [
    "KUBECONFIG_KEYS",
    "PROGRESSING",
    "apply_options",
    "apply_phase",
    "entries_after_failure",
    "impersonated_user",
    "inventory_key",
    "kubeconfig_from_secret",
    "prune_phase",
    "target_cluster",
]

PROGRESSING = "Progressing"
#: Secret keys tried, in order, when `kubeConfig.secretRef.key` is not given.
KUBECONFIG_KEYS = ("value", "value.yaml")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def apply_options(force: bool, *, wait_interval: float, wait_timeout: float,
                  known_absent: AbsenceHint | None = None,
                  override_managers: Sequence[str] = (), concurrency: int = 4,
                  custom_stage_kinds: frozenset[tuple[str, str]] = frozenset()
                  ) -> ApplyOptions:
    """kustomize-controller's apply options (Flux's selectors, cleanup and take-over;
    `known_absent`: the drift watches' word on which objects do not exist;
    `override_managers`: `--override-manager`, field managers taken over as kubectl's are;
    `concurrency`: `--concurrent-ssa`; `custom_stage_kinds`: `--custom-apply-stage-kinds`)."""
    return ApplyOptions(
        force=force,
        force_selector={KUSTOMIZE_FORCE_ANNOTATION: "enabled"},
        exclusion_selector={KUSTOMIZE_RECONCILE_ANNOTATION: "disabled",
                            KUSTOMIZE_SSA_ANNOTATION: "Ignore"},
        if_not_present_selector={KUSTOMIZE_SSA_ANNOTATION: "IfNotPresent"},
        cleanup=Cleanup(
            annotations=(LAST_APPLIED, "kustomize.toolkit.fluxcd.io/checksum",
                         "fluxcd.io/sync-checksum"),
            labels=("fluxcd.io/sync-gc-mark",),
            field_managers=(
                FieldManager("kubectl", "Apply"),  # kubectl apply --server-side
                FieldManager("kubectl", "Update"),  # kubectl apply/edit/patch/scale/label
                FieldManager("before-first-apply", "Update"),
                FieldManager(CONTROLLER_NAME, "Update"),
                *overridden_managers(override_managers),
            ),
            exclusions={KUSTOMIZE_SSA_ANNOTATION: "Merge"},
        ),
        wait_interval=wait_interval,
        wait_timeout=wait_timeout,
        known_absent=known_absent,
        concurrency=concurrency,
        custom_stage_kinds=custom_stage_kinds,
    )


def impersonated_user(ks: Kustomization, default_service_account: str) -> str | None:
    """The user to act as: the (default) service account in the Kustomization's namespace."""
    name = ks.spec.service_account_name or default_service_account
    return service_account_user(ks.namespace, name) if name else None


def kubeconfig_from_secret(secret: Mapping[str, Any], key: str | None, where: str) -> bytes:
    """The kubeconfig bytes in a Secret body (`key`, else `value`, else `value.yaml`)."""
    data = secret.get("data") or {}
    keys = (key,) if key else KUBECONFIG_KEYS
    for name in keys:
        if name in data:
            try:
                return base64.b64decode(str(data[name]), validate=True)
            except (binascii.Error, ValueError):
                raise GenericError(RECONCILIATION_FAILED,
                                   f"KubeConfig Secret '{where}' key '{name}' is not valid "
                                   "base64") from None
    wanted = " or ".join(f"'{k}'" for k in keys)
    raise GenericError(RECONCILIATION_FAILED,
                       f"KubeConfig Secret '{where}' has no key {wanted}")


async def target_cluster(ctx: ReconcileContext[Kustomization], state: RunState) -> Cluster:
    """The cluster and identity this Kustomization is applied with (cached for the run)."""
    if state.cluster is not None:
        return state.cluster
    ks = ctx.obj
    kubeconfig: bytes | None = None
    remote: RemoteAccess | None = None
    where = ""
    if ks.spec.kube_config is not None and ks.spec.kube_config.config_map_ref is not None:
        remote = await state.services.clusters.remote_or_fail(
            ks.namespace, ks.spec.kube_config.config_map_ref.name, RECONCILIATION_FAILED)
    if ks.spec.kube_config is not None and ks.spec.kube_config.secret_ref is not None:
        ref = ks.spec.kube_config.secret_ref
        where = f"{ks.namespace}/{ref.name}"
        try:
            secret = await ctx.kube.get(ObjectRef(SECRETS, ks.namespace, ref.name))
        except ApiError as err:
            raise GenericError(RECONCILIATION_FAILED,
                               f"could not get KubeConfig Secret '{where}': {err}") from None
        if secret is None:
            raise GenericError(RECONCILIATION_FAILED,
                               f"could not get KubeConfig Secret '{where}': not found")
        kubeconfig = kubeconfig_from_secret(secret, ref.key, where)
    user = impersonated_user(ks, ctx.options.default_service_account)
    try:
        state.cluster = state.services.clusters.get(user=user, kubeconfig=kubeconfig,
                                                    remote=remote)
    except KubeConfigRefused as err:
        raise StallingError(KUBECONFIG_REFUSED, f"KubeConfig Secret '{where}': {err}") from None
    except KubeConfigError as err:
        raise GenericError(RECONCILIATION_FAILED, f"KubeConfig Secret of "
                           f"'{ks.namespace}/{ks.name}': {err}") from None
    return state.cluster


def inventory_key(ref: InventoryRef) -> ObjectKey:
    """The engine's key of an inventory entry."""
    return ObjectKey(ref.api_version, ref.kind, ref.namespace, ref.name)


def _inventory_refs(keys: Iterable[ObjectKey]) -> list[InventoryRef]:
    refs = []
    for key in keys:
        group, _, version = key.api_version.rpartition("/")
        refs.append(InventoryRef(key.namespace, key.name, group, key.kind, version))
    return refs


def entries_after_failure(old: Iterable[Mapping[str, str]], applied: ChangeSet
                          ) -> list[dict[str, str]]:
    """The inventory after an apply that stopped half-way: the old entries plus what was
    applied (or found in place) before the failure."""
    refs = {r.id: r for r in refs_from_entries(old)}
    for ref in _inventory_refs(applied.keys()):
        refs[ref.id] = ref
    return inventory_entries(refs.values())


def _old_entries(ctx: ReconcileContext[Kustomization]) -> list[Mapping[str, str]]:
    status = ctx.body.get("status") or {}
    return list((status.get("inventory") or {}).get("entries") or [])


async def with_ignored_fields(cluster: Cluster, objects: list[dict[str, Any]],
                              rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`spec.ignore`: each existing object a rule selects, with the ignored fields as the
    cluster has them (`_ignore`), so they are neither corrected nor reported as drift."""
    out = []
    for obj in objects:
        paths = ignored_paths(rules, obj)
        if paths:
            key = ObjectKey.of(obj)
            try:
                live = await cluster.manager.get(key)
            except ApiError as err:
                raise GenericError(RECONCILIATION_FAILED,
                                   f"{key.subject} get failed: {err}") from None
            if live is not None:
                obj = keep_live_values(obj, live, paths)
        out.append(obj)
    return out


async def apply_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    ks = ctx.obj
    seq = try_skip(ctx, state)  # the drift watches say nothing moved: no dry-runs
    if seq == SKIPPED:
        return None
    await report_work(ctx)
    cluster = await target_cluster(ctx, state)
    if ks.spec.ignore:
        state.objects = await with_ignored_fields(
            cluster, state.objects, [r.to_dict() for r in ks.spec.ignore])
    settings = state.services.settings
    drift = state.services.drift
    # the watches see this cluster only: no hint for a remote one (kubeConfig)
    hint = drift.known_absent if drift is not None and ks.spec.kube_config is None else None
    options = apply_options(bool(ks.spec.force), wait_interval=settings.health_poll_interval,
                            wait_timeout=min(settings.stage_wait_timeout, ks.timeout or 60.0),
                            known_absent=hint, override_managers=settings.override_managers,
                            concurrency=settings.concurrent_ssa,
                            custom_stage_kinds=settings.custom_stage_kinds)
    try:
        change_set = await cluster.manager.apply_all_staged(state.objects, options)
    except ApplyError as err:
        ctx.status["inventory"] = {"entries": entries_after_failure(_old_entries(ctx),
                                                                    err.change_set)}
        record_history(ctx, state, RECONCILIATION_FAILED)
        changed = err.change_set.changed()
        if changed:
            await ctx.events.record("Normal", PROGRESSING, str(changed), event_metadata(state))
        raise GenericError(RECONCILIATION_FAILED, str(err)) from None
    state.change_set = change_set
    state.entries = inventory_entries(_inventory_refs(change_set.keys()))
    ctx.status["inventory"] = {"entries": state.entries}
    recorded(ctx, state, seq)
    changed = change_set.changed()
    if changed:
        await ctx.events.record("Normal", PROGRESSING, str(changed), event_metadata(state))
    await report_drift(ctx, state)
    return None


async def prune_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    ks = ctx.obj
    if not ks.spec.prune:
        return None
    old = _old_entries(ctx)
    stale = stale_refs(refs_from_entries(old), refs_from_entries(state.entries))
    if not stale:
        ctx.conditions.remove(PRUNE_HELD)
        return None
    if hold_prune(state.services.settings.prune_guard, inventory=len(old), stale=len(stale),
                  revision=state.revision, annotations=ctx.obj.annotations):
        # Nothing is deleted and nothing is forgotten: the stale objects stay in the
        # inventory until the revision is allowed (or Git brings them back).
        state.entries = inventory_entries([*refs_from_entries(state.entries), *stale])
        ctx.status["inventory"] = {"entries": state.entries}
        message = held_message((r.kind for r in stale), len(old), state.revision, ks.name)
        ctx.conditions.mark_true(PRUNE_HELD, PRUNE_HELD, message)
        await ctx.events.record("Warning", PRUNE_HELD, message, event_metadata(state))
        raise WaitingError(PRUNE_HELD, message, ks.interval)
    ctx.conditions.remove(PRUNE_HELD)
    cluster = await target_cluster(ctx, state)
    options = DeleteOptions(blocker=lambda live: prune_blocker(live, ks.name, ks.namespace))
    try:
        pruned = await cluster.manager.delete_all([inventory_key(r) for r in stale], options)
    except ApplyError as err:
        # Unlike Flux, an object that could not be deleted stays in the inventory: the next
        # run tries again, and it is never forgotten (orphaned) while it still exists.
        failed = set(err.failed)
        kept = [r for r in stale if inventory_key(r) in failed]
        state.entries = inventory_entries([*refs_from_entries(state.entries), *kept])
        ctx.status["inventory"] = {"entries": state.entries}
        deleted = err.change_set.with_action(Action.DELETED)
        if deleted:
            await ctx.events.record("Normal", PROGRESSING, str(deleted), event_metadata(state))
        raise GenericError(PRUNE_FAILED, f"pruning failed: {err}; {len(kept)} object(s) "
                           "stay in the inventory until they can be deleted") from None
    state.pruned = pruned
    deleted = pruned.with_action(Action.DELETED)
    if deleted:
        await ctx.events.record("Normal", PROGRESSING, str(deleted), event_metadata(state))
    return None
