"""The release phase: observe the Helm release, plan, act with helm, observe again.

1. The target: the controller's own cluster, or `spec.kubeConfig.secretRef` (the Secret's
   `value`/`value.yaml` key, or the key named) loaded by the runtime's `ClusterClients`
   (which refuses what a kubeconfig from a Secret must not do), or
   `spec.kubeConfig.configMapRef` (provider `generic`: a ServiceAccount token for the
   ConfigMap's address and CA, `runtime._workload`; helm's file holds a token valid for
   `HELM_TOKEN_MIN_VALID` more seconds); as
   `spec.serviceAccountName` (or `--default-service-account`) when set, by impersonation
   (`--kube-as-user` for helm, `Impersonate-User` for our reads of the release records).
   helm gets a kubeconfig file made from that loaded connection, never the Secret's bytes.
2. The records live in the storage namespace (`spec.storageNamespace`, else the
   HelmRelease's namespace, as Flux); each helm action stages them in the release namespace
   (`_storage`), and records an interrupted action left there are moved back first.
3. A release made before under another name, namespace or storage namespace is uninstalled.
4. The failure counters start again on a new generation, chart version or values digest, or
   on a `reconcile.fluxcd.io/resetAt` request; a `forceAt` request forces one install or
   upgrade. Both are honoured when they equal `reconcile.fluxcd.io/requestedAt`, as Flux
   does, and recorded as `lastHandledResetAt`/`lastHandledForceAt`.
5. The loop: read the records (`_release`), `plan` (`_planner`), run the action, until the
   plan is NONE (Ready, from the Released/TestSuccess condition), STALL (Stalled,
   RetriesExceeded), or a failure: after a failure only a remediation runs in the same
   reconcile; then the run ends failed and the next attempt comes after a backoff. With
   the poller, an upgrade or rollback whose poll fails is first cleaned up when its
   `cleanupOnFail` is set (`clean_up`, `_cleanup`: what the action created is deleted), as
   Helm's own wait would have; its records end as Helm's failed wait leaves them (`poll`).

6. In sync: drift detection and correction (`_reconcile_drift`), then Ready.

An uninstall that a change of chart name (upgrade.chartNameChangeStrategy Reinstall) or of
release name, namespace or storage namespace causes goes through the mass-deletion guard
first (`guard_uninstall`, condition PruneHeld).

Conditions: Released (InstallSucceeded|UpgradeSucceeded, or the *Failed reason),
TestSuccess (TestSucceeded|TestFailed), Remediated (RollbackSucceeded|UninstallSucceeded or
*Failed; removed by the next successful install or upgrade). Events (Normal for a success,
Warning for a failure) carry the chart version and the values digest as Flux's `revision`
and `token` metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from afflux.api import HelmRelease
from afflux.api._helm_v2 import (
    ACTION_INSTALL,
    ACTION_ROLLBACK,
    ACTION_UNINSTALL,
    ACTION_UNINSTALL_REMEDIATION,
    ACTION_UPGRADE,
    CHART_NAME_IN_PLACE,
    GET_LAST_RELEASE_FAILED,
    INIT_FAILED,
    INSTALL_FAILED,
    INSTALL_SUCCEEDED,
    RETRIES_EXCEEDED,
    ROLLBACK_FAILED,
    ROLLBACK_SUCCEEDED,
    TEST_FAILED,
    TEST_SUCCEEDED,
    UNINSTALL_FAILED,
    UNINSTALL_SUCCEEDED,
    UNSUPPORTED_BY_ENGINE,
    UPGRADE_FAILED,
    UPGRADE_SUCCEEDED,
)
from afflux.api._meta import (
    FORCE_AT_ANNOTATION,
    INVALID_CEL_EXPRESSION,
    KUBECONFIG_REFUSED,
    PRUNE_HELD,
    RELEASED,
    REMEDIATED,
    REQUESTED_AT_ANNOTATION,
    RESET_AT_ANNOTATION,
    TEST_SUCCESS,
)
from afflux.api._refs import parse_inventory_id
from afflux.controllers.runtime import Action as ChangeAction
from afflux.controllers.runtime import (
    ApiError,
    ApplyError,
    ApplyOptions,
    DeleteOptions,
    GenericError,
    HealthExprError,
    HealthExprs,
    HealthResult,
    HealthStatus,
    KubeConfigError,
    KubeConfigRefused,
    ObjectKey,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    StallingError,
    UnknownKindError,
    WaitError,
    WaitingError,
    compile_health_exprs,
    format_duration,
    format_time,
    get_condition,
    held_message,
    hold_prune,
    service_account_user,
)

from ._args import (
    install_args,
    polls,
    rollback_args,
    test_args,
    timeout_of,
    uninstall_args,
    upgrade_args,
)
from ._cleanup import cleanup_blocker, cleanup_candidates, cleanup_message
from ._crds import SKIP, chart_crds, crd_policy, crds_to_apply
from ._engine import (
    HOOK_ANNOTATION,
    Engine,
    common_metadata_digest,
    post_render_strategy,
    post_renderers_digest,
    release_inventory,
    retry_interval,
    unsupported,
    unsupported_message,
)
from ._helm import HelmError, Target, Workspace
from ._kubeconfig import helm_kubeconfig
from ._planner import Action, Desired, Observed, Plan, desired_remediations, moved_release, plan
from ._plugin import plugin_args
from ._postrender import post_renderer_args
from ._reconcile_drift import detect_and_correct_drift, manifest_objects
from ._reconcile_source import SourceChart
from ._release import (
    RecordError,
    ReleaseInfo,
    decode_record,
    encode_record,
    latest_release,
    record_selector,
    wait_failure_description,
    wait_failure_statuses,
)
from ._state import HELMRELEASE, SECRETS, RunState, event_metadata, run_of
from ._status import (
    counters_reset,
    failure_message,
    record_snapshot,
    refresh_statuses,
    rollback_message,
    success_message,
    test_message,
    uninstall_message,
)
from ._storage import recover, staged
from ._values import config_digest, reused_values

__all__ = ["completed_jobs", "read_records", "release_phase", "target_of",
           "uninstall_release"]

MAX_STEPS = 8
POLL_INTERVAL = 1.0
_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
_KUBECONFIG_KEYS = ("value", "value.yaml")
#: seconds a remote cluster's token written for helm stays valid at least (its actions and
#: waits of one reconcile)
HELM_TOKEN_MIN_VALID = 1800.0


def completed_jobs(exprs: HealthExprs | None) -> Callable[[Mapping[str, Any]],
                                                          HealthResult | None]:
    """The poller's health reader: `healthCheckExprs` first (None when they do not cover
    the kind), then Jobs as Flux's poller reads them — ready once Complete, failed once
    Failed, in progress until then (kstatus alone counts a started Job as Current)."""
    def read(obj: Mapping[str, Any]) -> HealthResult | None:
        result = exprs(obj) if exprs is not None else None
        if result is not None or obj.get("kind") != "Job" or not str(
                obj.get("apiVersion") or "").startswith("batch/"):
            return result
        for condition in (obj.get("status") or {}).get("conditions") or ():
            if condition.get("status") != "True":
                continue
            if condition.get("type") == "Complete":
                return HealthResult(HealthStatus.CURRENT, "Job completed")
            if condition.get("type") == "Failed":
                return HealthResult(HealthStatus.FAILED, "Job failed: "
                                    f"{condition.get('message') or condition.get('reason')}",
                                    "JobFailed")
        return HealthResult(HealthStatus.IN_PROGRESS, "Job not completed", "JobInProgress")
    return read


class _Failed(Exception):
    """An action failed: reason and message for the conditions and the run's error."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


async def read_records(kube: Any, namespace: str, name: str,
                       algorithm: str = "sha256") -> list[ReleaseInfo]:
    """Every record of release `name` in `namespace`, digested with `algorithm`
    (`--snapshot-digest-algo`)."""
    try:
        secrets = await kube.list(SECRETS, namespace, label_selector=record_selector(name))
    except ApiError as err:
        raise GenericError(GET_LAST_RELEASE_FAILED,
                           f"could not read the records of release {namespace}/{name}: {err}"
                           ) from None
    records = []
    for secret in secrets:
        try:
            release, raw = decode_record(secret)
        except RecordError as err:
            raise GenericError(GET_LAST_RELEASE_FAILED,
                               f"release record '{namespace}/{secret['metadata']['name']}': "
                               f"{err}") from None
        records.append(ReleaseInfo.from_record(release, raw, algorithm))
    return records


async def target_of(ctx: ReconcileContext[HelmRelease], state: RunState) -> Target:
    """The cluster and identity helm acts on (module docstring, 1); sets `state.cluster`."""
    hr = ctx.obj
    account = hr.spec.service_account_name or ctx.options.default_service_account
    user = service_account_user(hr.namespace, account) if account else None
    clusters = state.services.clusters
    if hr.spec.kube_config is not None and hr.spec.kube_config.config_map_ref is not None:
        remote = await clusters.remote_or_fail(
            hr.namespace, hr.spec.kube_config.config_map_ref.name, INIT_FAILED)
        state.cluster = clusters.get(user=user, remote=remote)
        # helm gets a file with a token valid for longer than its actions take
        try:
            token = await asyncio.to_thread(remote.token, HELM_TOKEN_MIN_VALID)
        except ApiError as err:
            raise GenericError(INIT_FAILED, f"could not get a token of {remote.subject}: "
                               f"{err}") from None
        configuration = state.cluster.kube.api_client.configuration
        configuration.api_key["authorization"] = f"Bearer {token}"
        return Target(hr.release_namespace, kubeconfig_data=helm_kubeconfig(configuration),
                      as_user=user, storage=hr.storage_namespace)
    ref = hr.spec.kube_config.secret_ref if hr.spec.kube_config else None
    if ref is None:
        state.cluster = clusters.get(user=user)
        return Target(hr.release_namespace, kubeconfig=state.services.kubeconfig,
                      as_user=user, storage=hr.storage_namespace)
    where = f"Secret '{hr.namespace}/{ref.name}'"
    try:
        secret = await ctx.kube.get(ObjectRef(SECRETS, hr.namespace, ref.name))
    except ApiError as err:
        raise GenericError(INIT_FAILED, f"could not read the kubeconfig {where}: {err}"
                           ) from None
    data = (secret or {}).get("data") or {}
    keys = (ref.key,) if ref.key else _KUBECONFIG_KEYS
    raw = next((data[k] for k in keys if k in data), None)
    if secret is None or raw is None:
        raise GenericError(INIT_FAILED, f"no kubeconfig in {where} (key "
                           f"{' or '.join(repr(k) for k in keys)})")
    import base64  # noqa: PLC0415

    try:
        cluster = clusters.get(user=user, kubeconfig=base64.b64decode(raw))
        helm_config = helm_kubeconfig(cluster.kube.api_client.configuration)
    except KubeConfigRefused as err:
        raise StallingError(KUBECONFIG_REFUSED, f"the kubeconfig in {where}: {err}") from None
    except (KubeConfigError, ValueError) as err:
        raise StallingError(INIT_FAILED, f"the kubeconfig in {where} cannot be used: {err}"
                            ) from None
    state.cluster = cluster
    return Target(hr.release_namespace, kubeconfig_data=helm_config, as_user=user,
                  storage=hr.storage_namespace)


class _Run:
    """One release phase run: the loop and its actions (module docstring)."""

    def __init__(self, ctx: ReconcileContext[HelmRelease], state: RunState, target: Target,
                 source: SourceChart) -> None:
        self.ctx = ctx
        self.hr = ctx.obj
        self.state = state
        self.target = target
        self.source = source
        self.status = ctx.status
        self.history: list[dict[str, Any]] = list(ctx.status.get("history") or [])
        self.records: list[ReleaseInfo] = []
        self.meta = event_metadata(state)
        self.crds: list[dict[str, Any]] | None = None  # the chart's, once fetched
        self.rendered = False  # an install or upgrade of this run went through
        #: the status the previous run left (the watch's, or the one `refresh` read)
        self.prev: Mapping[str, Any] = ctx.body.get("status") or {}
        self.exprs: HealthExprs | None = None  # spec.healthCheckExprs, compiled

    # --- bookkeeping -------------------------------------------------------------------

    def _count(self, key: str) -> int:
        return int(self.status.get(key) or 0)

    def _bump(self, key: str) -> None:
        self.status[key] = self._count(key) + 1

    def _chart(self) -> str:
        assert self.state.chart is not None
        return f"{self.state.chart.name}@{self.state.chart.version}"

    async def observe(self) -> ReleaseInfo | None:
        self.records = await read_records(self.state.cluster.kube if self.state.cluster
                                          else self.ctx.kube, self.target.storage_namespace,
                                          self.hr.release_name,
                                          getattr(self.ctx.options.extra, "snapshot_digest_algo",
                                                  "sha256"))
        self.history = refresh_statuses(self.history, self.records)
        return latest_release(self.records)

    async def snapshot_latest(self, action: str | None = None) -> ReleaseInfo | None:
        """Re-read the records after an action and put the latest first in the history
        (`action` made it: history[].action; None keeps the snapshot's), and the release's
        inventory in the status."""
        latest = await self.observe()
        if latest is not None:
            self.history = record_snapshot(self.history, latest, self.hr.max_history,
                                           oci_digest=self.state.oci_digest, action=action)
        elif self.history and self.history[0].get("name") == self.hr.release_name:
            # the records went with the uninstall: it happened now (helm's info.deleted)
            self.history[0] = {**self.history[0], "status": "uninstalled",
                               "deleted": self.history[0].get("deleted")
                               or format_time(self.ctx.now()),
                               **({"action": action} if action else {})}
        self.status["history"] = self.history
        await self.update_inventory(latest)
        return latest

    async def update_inventory(self, latest: ReleaseInfo | None) -> None:
        """`status.inventory` of the release (`_engine.release_inventory`); none once it is
        uninstalled. The chart's CRDs are those of the chart last installed or upgraded to
        (kept from the inventory otherwise)."""
        if latest is None or latest.absent:
            self.status.pop("inventory", None)
            return
        objects = await self.scoped_objects(latest)
        if objects is None:
            return
        crds = self.crds
        if crds is None:
            kept = [parse_inventory_id(e["id"], e.get("v", "")) for e in
                    (self.status.get("inventory") or {}).get("entries") or ()]
            crds = [{"apiVersion": r.api_version, "kind": r.kind, "metadata": {"name": r.name}}
                    for r in kept if (r.group, r.kind) == _CRD]
        self.status["inventory"] = {"entries": release_inventory(
            objects, latest.namespace, lambda v, k: False, crds)}

    async def attempt(self, ws: Workspace, args: list[str], timeout: float) -> str | None:
        """Run helm (the records staged in the release namespace, `_storage`); its error
        message, or None when it succeeded."""
        target = self.target
        async with staged(self.kube, self.hr.release_name, target.storage_namespace,
                          target.namespace):
            try:
                await self.state.services.helm.run(ws, target, args, timeout=timeout)
            except HelmError as err:
                return str(err)
        return None

    @property
    def engine(self) -> Engine:
        return self.state.services.helm.engine

    @property
    def kube(self) -> Any:
        """The client of the target cluster (as the release's identity)."""
        return self.state.cluster.kube if self.state.cluster else self.ctx.kube

    async def action(self, args: list[str], timeout: float) -> str | None:
        """`attempt` in a workspace of its own."""
        async with self.state.services.helm.workspace(self.target) as ws:
            return await self.attempt(ws, args, timeout)

    async def event(self, warning: bool, reason: str, message: str) -> None:
        record = self.ctx.events.warning if warning else self.ctx.events.normal
        await record(reason, message, **self.meta)

    # --- actions -----------------------------------------------------------------------

    async def install_or_upgrade(self, verb: str) -> None:
        hr = self.hr
        self.status["lastAttemptedReleaseAction"] = verb
        async with self.state.services.helm.workspace(self.target) as ws:
            chart_dir = await self.source.fetch(ws.root / "chart")
            values = ws.write_values(self.state.values)
            try:
                post = post_renderer_args(hr, ws)
            except HelmError as err:
                raise GenericError(INIT_FAILED, str(err)) from None
            engine = self.engine
            if engine is Engine.HELM4:
                post = plugin_args(ws, post, post_render_strategy(
                    self.ctx.body.get("spec") or {}, engine))
            if verb == ACTION_INSTALL:
                args, timeout = install_args(hr, str(chart_dir), str(values), post, engine)
            else:
                current = latest_release(self.records)
                args, timeout = upgrade_args(hr, str(chart_dir), str(values), post, engine,
                                             current.apply_method if current else "")
            self.crds = chart_crds(chart_dir)
            action = hr.spec.install if verb == ACTION_INSTALL else hr.spec.upgrade
            started = time.monotonic()
            before = {r.version: r.status for r in self.records}
            since = await self.action_start(action if verb == ACTION_UPGRADE else None, engine)
            error = await self.apply_crds(chart_dir, verb)
            if error is None:
                error = await self.attempt(ws, args, timeout)
            if error is None and polls(hr, action, engine):
                error = await self.poll(action, timeout, verb, before)
                if error is not None and verb == ACTION_UPGRADE:  # an install has no cleanup
                    error = await self.clean_up(action, since, verb, error)
            self.status["lastAttemptedReleaseActionDuration"] = format_duration(
                round(time.monotonic() - started, 3))
        latest = await self.snapshot_latest(verb)
        if error is not None or latest is None:
            self._bump("failures")
            self._bump("installFailures" if verb == ACTION_INSTALL else "upgradeFailures")
            reason = INSTALL_FAILED if verb == ACTION_INSTALL else UPGRADE_FAILED
            message = failure_message(verb, self.target.namespace, hr.release_name,
                                      self._chart(), error or "no release record was written")
            self.ctx.conditions.mark_false(RELEASED, reason, message)
            await self.event(True, reason, message)
            raise _Failed(reason, message)
        self.rendered = True
        reason = INSTALL_SUCCEEDED if verb == ACTION_INSTALL else UPGRADE_SUCCEEDED
        message = success_message(verb, latest)
        self.ctx.conditions.mark_true(RELEASED, reason, message)
        self.ctx.conditions.remove(REMEDIATED)
        self.ctx.conditions.remove(TEST_SUCCESS)
        await self.event(False, reason, message)

    async def apply_crds(self, chart_dir: Any, verb: str) -> str | None:
        """The chart's CRDs by `install/upgrade.crds` (`_crds`); an error message or None."""
        policy = crd_policy(self.hr, verb)
        crds = chart_crds(chart_dir) if policy != SKIP else []
        if not crds or self.state.cluster is None:
            return None
        manager = self.state.cluster.manager
        existing = set()
        for crd in crds:
            if await manager.get(ObjectKey.of(crd)) is not None:
                existing.add(str(crd["metadata"]["name"]))
        todo = crds_to_apply(policy, verb, crds, existing)
        if not todo:
            return None
        try:
            await manager.apply_all_staged(todo, ApplyOptions())
        except ApplyError as err:
            return f"CRDs ({policy}): {err}"
        return None

    async def test(self) -> None:
        error = await self.action(*test_args(self.hr))
        latest = await self.snapshot_latest()
        assert latest is not None
        if self.history and "testHooks" not in self.history[0]:
            self.history[0]["testHooks"] = {}  # tested, though no test ran (none, or filtered)
        if error is None:
            message = test_message(latest)
            self.ctx.conditions.mark_true(TEST_SUCCESS, TEST_SUCCEEDED, message)
            await self.event(False, TEST_SUCCEEDED, message)
            return
        message = test_message(latest, error)
        self.ctx.conditions.mark_false(TEST_SUCCESS, TEST_FAILED, message)
        await self.event(True, TEST_FAILED, message)
        remediations = desired_remediations(self.hr)
        install = self.status.get("lastAttemptedReleaseAction") == ACTION_INSTALL
        remediation = remediations[0] if install else remediations[1]
        if remediation.ignore_test_failures:
            return
        self._bump("failures")
        self._bump("installFailures" if install else "upgradeFailures")
        raise _Failed(TEST_FAILED, message)

    async def rollback(self, current: ReleaseInfo, version: int) -> None:
        engine = self.engine
        to = next((r for r in self.records if r.version == version), None)
        rb = self.hr.spec.rollback
        if engine is Engine.HELM4 and rb and rb.recreate:
            self.ctx.logger.warning("spec.rollback.recreate has no effect with Helm 4")
        before = {r.version: r.status for r in self.records}
        since = await self.action_start(rb, engine)
        error = await self.action(*rollback_args(self.hr, version, engine,
                                                 to.apply_method if to else ""))
        if error is None and polls(self.hr, rb, engine):
            error = await self.poll(rb, timeout_of(self.hr, rb), ACTION_ROLLBACK, before)
            if error is not None:
                error = await self.clean_up(rb, since, ACTION_ROLLBACK, error)
        if error is None:
            latest = await self.snapshot_latest(ACTION_ROLLBACK)
            assert latest is not None
        if error is not None:
            self._bump("failures")
            message = rollback_message(current, error)
            self.ctx.conditions.mark_false(REMEDIATED, ROLLBACK_FAILED, message)
            await self.event(True, ROLLBACK_FAILED, message)
            raise _Failed(ROLLBACK_FAILED, message)
        message = rollback_message(latest)
        self.ctx.conditions.mark_true(REMEDIATED, ROLLBACK_SUCCEEDED, message)
        await self.event(False, ROLLBACK_SUCCEEDED, message)

    async def uninstall(self, current: ReleaseInfo, remediation: bool) -> None:
        error = await self.action(*uninstall_args(
            self.hr, keep_history=None if remediation else False, engine=self.engine))
        if error is not None:
            self._bump("failures")
            message = uninstall_message(current, error)
            if remediation:
                self.ctx.conditions.mark_false(REMEDIATED, UNINSTALL_FAILED, message)
            await self.event(True, UNINSTALL_FAILED, message)
            raise _Failed(UNINSTALL_FAILED, message)
        await self.snapshot_latest(ACTION_UNINSTALL_REMEDIATION if remediation
                                   else ACTION_UNINSTALL)
        message = uninstall_message(current)
        if remediation:
            self.ctx.conditions.mark_true(REMEDIATED, UNINSTALL_SUCCEEDED, message)
        await self.event(False, UNINSTALL_SUCCEEDED, message)

    async def unlock(self, current: ReleaseInfo) -> None:
        """Mark a release stuck in pending-* as failed (helm refuses to act on it)."""
        await self.mark_failed(current, f"Release unlocked from stale '{current.status}' "
                               "state")
        await self.snapshot_latest()

    async def mark_failed(self, current: ReleaseInfo, description: str) -> None:
        """Rewrite the release's record as failed, with `description` (Helm's own words
        for a release it gave up on)."""
        await self.set_status(current.name, current.version, "failed", description)

    async def set_status(self, name: str, version: int, status: str,
                         description: str | None = None) -> None:
        """Rewrite record `version` of release `name` with `status` (and `description`),
        as Helm's storage updates a record: the `status` label, and `modifiedAt` (Unix
        seconds)."""
        kube = self.state.cluster.kube if self.state.cluster else self.ctx.kube
        ref = ObjectRef(SECRETS, self.target.storage_namespace,
                        f"sh.helm.release.v1.{name}.v{version}")
        try:
            secret = await kube.get(ref)
            if secret is None:
                return
            release, _ = decode_record(secret)
            info = release.setdefault("info", {})
            info["status"] = status
            if description is not None:
                info["description"] = description
            secret = {**secret, "data": {**secret["data"], "release": encode_record(release)}}
            secret["metadata"] = {**secret["metadata"], "labels": {
                **(secret["metadata"].get("labels") or {}), "status": status,
                "modifiedAt": str(int(self.ctx.now().timestamp()))}}
            await kube.replace(ref, secret)
        except (ApiError, RecordError) as err:
            raise GenericError(GET_LAST_RELEASE_FAILED,
                               f"could not mark release {self.target.storage_namespace}/"
                               f"{name}.v{version} {status}: {err}") from None

    async def scoped_objects(self, release: ReleaseInfo) -> list[dict[str, Any]] | None:
        """The objects of the release's manifest, namespaced ones without a namespace in the
        release's (None when discovery could not say)."""
        objects = manifest_objects(release.manifest)
        manager = self.state.cluster.manager if self.state.cluster else None
        scopes: dict[tuple[str, str], bool] = {}
        for obj in objects:
            meta = obj.get("metadata")
            if not isinstance(meta, dict):
                meta = obj["metadata"] = {}
            if meta.get("namespace") or manager is None:
                continue
            key = (str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
            if key not in scopes:
                try:
                    scopes[key] = (await manager.resource(ObjectKey.of(obj))).namespaced
                except UnknownKindError:
                    scopes[key] = False
                except ApiError as err:
                    self.ctx.logger.warning("the objects of %s: %s", release.ref, err)
                    return None
            if scopes[key]:
                meta["namespace"] = release.namespace
        return objects

    async def poll(self, action: Any, timeout: float, verb: str,
                   before: Mapping[int, str]) -> str | None:
        """`waitStrategy: poller`: helm ran the `verb` action without --wait; poll every
        object of the new release until kstatus (or `healthCheckExprs`) says Current, Jobs
        too unless `disableWaitForJobs`. When they are not within the action's timeout, or
        as soon as one of them is Failed (Flux's poller fails fast on the release's
        objects: a Job failed, a `healthCheckExprs` `failed` expression true), the records
        end as Helm 4's own wait leaves them (`_release.wait_failure_statuses`): the new
        release failed, the ones helm superseded (`before`: the statuses before the action)
        as they were; and the error is returned."""
        latest = await self.observe()
        if latest is None or self.state.cluster is None:
            return None
        objects = await self.scoped_objects(latest)
        if objects is None:
            return "could not read the kinds of the release's objects to wait for them"
        jobs = not (action and action.disable_wait_for_jobs)
        keys = [ObjectKey.of(o) for o in objects if jobs or o.get("kind") != "Job"]
        try:
            await self.state.cluster.manager.wait_for(keys, interval=POLL_INTERVAL,
                                                      timeout=timeout, fail_fast=True,
                                                      reader=completed_jobs(self.exprs))
        except WaitError as err:
            error = f"resources not ready (waitStrategy poller): {err}"
            restore = wait_failure_statuses(before, self.records, latest.version)
            for version, status in sorted(restore.items()):
                await self.set_status(latest.name, version, status)
            await self.mark_failed(latest, wait_failure_description(verb, latest.name, error))
            return error
        return None

    async def action_start(self, action: Any, engine: Engine) -> datetime.datetime:
        """When an action starts, for `clean_up`. With `cleanupOnFail` under the poller: the
        next whole second, waited for (under a second), so that every object that existed
        before the action carries an earlier `creationTimestamp` (whole seconds) than any
        object the action creates; an install that finished in the same second as the
        upgrade began must not count as created by it. Otherwise: now."""
        now = self.ctx.now()
        if not (action and action.cleanup_on_fail and polls(self.hr, action, engine)):
            return now
        start = now.replace(microsecond=0) + datetime.timedelta(seconds=1)
        await asyncio.sleep((start - now).total_seconds())
        return start

    async def clean_up(self, action: Any, since: datetime.datetime, verb: str,
                       error: str) -> str:
        """`cleanupOnFail` after the poll failed an upgrade or rollback that started `since`
        (`_cleanup`): the objects the failed action created are deleted, and the failure's
        message `error` says which (or why not all)."""
        latest = latest_release(self.records)  # the failed release, as `poll` read it
        if not (action and action.cleanup_on_fail) or latest is None or (
                self.state.cluster is None):
            return error
        objects = await self.scoped_objects(latest)
        if objects is None:
            return f"{error}; " + cleanup_message(
                verb, [], "could not read the kinds of the release's objects")
        candidates = cleanup_candidates(objects)
        failed = ""
        try:
            changes = await self.state.cluster.manager.delete_all(
                candidates, DeleteOptions(blocker=cleanup_blocker(since)))
        except ApplyError as err:
            changes, failed = err.change_set, str(err)
        done = {e.key: e.action for e in changes}  # deleted in reverse order: told in order
        deleted = [k.subject for k in candidates if done.get(k) is ChangeAction.DELETED]
        self.ctx.logger.info("cleanupOnFail after the failed %s of %s: deleted %s", verb,
                             latest.ref, ", ".join(deleted) or "nothing")
        said = cleanup_message(verb, deleted, failed)
        return f"{error}; {said}" if said else error

    # --- the loop ----------------------------------------------------------------------

    def desired(self, force: bool) -> Desired:
        install, upgrade = desired_remediations(self.hr)
        assert self.state.chart is not None
        test = self.hr.spec.test
        spec = self.ctx.body.get("spec") or {}
        upg = self.hr.spec.upgrade
        latest = latest_release(self.records)
        reused = (config_digest(reused_values(self.state.values, latest.config)),) if (
            upg and upg.preserve_values and latest is not None) else ()
        return Desired(self.state.chart.name, self.state.chart.version,
                       self.state.config_digest, test_enabled=bool(test and test.enable),
                       install=install, upgrade=upgrade, force=force,
                       chart_in_place=bool(upg and upg.chart_name_change_strategy
                                           == CHART_NAME_IN_PLACE),
                       render_changed=self.render_changed,
                       retry_install=retry_interval(spec, ACTION_INSTALL) is not None,
                       retry_upgrade=retry_interval(spec, ACTION_UPGRADE) is not None,
                       also_in_sync=reused)

    @property
    def render_changed(self) -> str:
        """Why the release must be rendered again although chart and values are the same:
        at a new generation, post-renderers or commonMetadata that differ from the ones the
        current release was made with (their observed digests)."""
        prev = self.prev
        if self.rendered or prev.get("observedGeneration") == self.ctx.generation:
            return ""
        spec = self.ctx.body.get("spec") or {}
        if post_renderers_digest(spec) != prev.get("observedPostRenderersDigest"):
            return "the post-renderers changed"
        if common_metadata_digest(spec) != prev.get("observedCommonMetadataDigest"):
            return "the common metadata changed"
        return ""

    def observed(self, current: ReleaseInfo | None) -> Observed:
        return Observed(current, self.history, self._count("installFailures"),
                        self._count("upgradeFailures"),
                        self.status.get("lastAttemptedReleaseAction"))

    async def act(self, step: Plan, current: ReleaseInfo | None) -> None:
        if step.action is Action.INSTALL:
            await self.install_or_upgrade(ACTION_INSTALL)
        elif step.action is Action.UPGRADE:
            await self.install_or_upgrade(ACTION_UPGRADE)
        elif step.action is Action.TEST:
            await self.test()
        elif step.action is Action.ROLLBACK:
            assert current is not None and step.rollback_to is not None
            await self.rollback(current, step.rollback_to)
        elif step.action is Action.UNINSTALL:
            assert current is not None
            if not step.remediation:  # the chart's name changed (Reinstall)
                await guard_uninstall(self.ctx, self.state, current, step.message)
            await self.uninstall(current, step.remediation)
        elif step.action is Action.UNLOCK:
            assert current is not None
            await self.unlock(current)

    async def loop(self, force: bool,
                   refresh: Callable[[], Awaitable[bool | None]] | None = None) -> None:
        failure: _Failed | None = None
        released_by_us = False  # an install or upgrade of this run (not a remediation's)
        for _ in range(MAX_STEPS):
            current = await self.observe()
            step = plan(self.desired(force), self.observed(current))
            self.ctx.logger.debug("plan: %s (%s)", step.action.value, step.message)
            released = self.ctx.conditions.get(RELEASED) or {}
            if (step.action is Action.NONE and failure is None
                    and (released.get("status") == "True" or refresh is None)):
                assert current is not None
                if "inventory" not in self.status:  # a release made before inventories
                    await self.update_inventory(current)
                await detect_and_correct_drift(self.ctx, self.state, current, self.event)
                self._ready()
                return
            if refresh is not None and failure is None:
                fresh_force, refresh = await refresh(), None
                if fresh_force is not None:
                    force = fresh_force
                    continue
            if step.action is Action.STALL:
                detail = f": {failure.message}" if failure else self._released_failure()
                raise StallingError(RETRIES_EXCEEDED, f"{step.message}{detail}")
            if failure is not None and not step.remediation:
                retry = retry_interval(self.ctx.body.get("spec") or {},
                                       self.status.get("lastAttemptedReleaseAction"))
                if retry is not None:  # RetryOnFailure: no remediation, the same again later
                    raise WaitingError(failure.reason, f"{failure.message} (retrying after "
                                       f"{format_duration(retry, compact=True)})", retry)
                raise GenericError(failure.reason, failure.message)
            if step.action in (Action.INSTALL, Action.UPGRADE):
                if released_by_us:  # it went through, yet the release still differs
                    raise GenericError(UPGRADE_FAILED, "the release differs from the wanted "
                                       f"chart or values right after an upgrade: {step.message}")
                released_by_us = failure is None
                force = False
            try:
                await self.act(step, current)
            except _Failed as err:
                if failure is not None:  # the remediation failed too
                    raise GenericError(err.reason, f"{err.message} (after: {failure.message})"
                                       ) from None
                failure = err
                continue
            if step.remediation:
                assert failure is not None or step.state.value == "failed"
                remediated = self.ctx.conditions.get(REMEDIATED) or {}
                cause = failure.message if failure else self._released_failure().lstrip(": ")
                raise GenericError(str(remediated.get("reason") or failure.reason),
                                   f"{remediated.get('message')} (remediating: {cause})")
        raise GenericError(failure.reason if failure else INIT_FAILED,
                           failure.message if failure else
                           f"the release did not settle after {MAX_STEPS} actions")

    def _released_failure(self) -> str:
        released = self.ctx.conditions.get(RELEASED) or {}
        tested = self.ctx.conditions.get(TEST_SUCCESS) or {}
        for cond in (tested, released):
            if cond.get("status") == "False":
                return f": {cond.get('message')}"
        return ""

    def _ready(self) -> None:
        spec = self.ctx.body.get("spec") or {}
        for key, digest in (("observedPostRenderersDigest", post_renderers_digest(spec)),
                            ("observedCommonMetadataDigest", common_metadata_digest(spec))):
            if digest is None:
                self.status.pop(key, None)
            else:
                self.status[key] = digest
        tested = self.ctx.conditions.get(TEST_SUCCESS)
        released = self.ctx.conditions.get(RELEASED)
        test_enabled = bool(self.hr.spec.test and self.hr.spec.test.enable)
        for cond in ((tested if test_enabled else None), released):
            if cond and cond.get("status") == "True":
                self.ctx.set_ready(str(cond["reason"]), str(cond["message"]))
                return
        latest = latest_release(self.records)
        if latest is not None:
            self.ctx.set_ready(UPGRADE_SUCCEEDED, success_message("upgrade", latest))


def _requested(annotations: Mapping[str, str], key: str, handled: Any) -> str | None:
    """The forceAt/resetAt value to honour now, or None."""
    value = annotations.get(key)
    if not value or value == handled:
        return None
    requested = annotations.get(REQUESTED_AT_ANNOTATION)
    return value if requested is None or requested == value else None


async def guard_uninstall(ctx: ReconcileContext[HelmRelease], state: RunState,
                          release: ReleaseInfo, why: str) -> None:
    """The mass-deletion guard (the runtime's `hold_prune`) before an uninstall that a
    change of chart name or release name causes: every object of the release would be
    deleted. Held: PruneHeld=True, a Warning event, and the run waits (WaitingError) until
    `afflux.toolkit.fluxcd.io/allow-prune` names the revision (the chart version, as
    `status.lastAttemptedRevision` says) or the guard is off for this HelmRelease."""
    hr = ctx.obj
    objects = [o for o in manifest_objects(release.manifest)
               if HOOK_ANNOTATION not in ((o.get("metadata") or {}).get("annotations") or {})]
    revision = state.chart.version if state.chart else ""
    if not hold_prune(state.services.prune_guard, inventory=len(objects), stale=len(objects),
                      revision=revision, annotations=hr.annotations):
        return
    message = f"{why}: " + held_message(
        (str(o.get("kind")) for o in objects), len(objects), revision, hr.name,
        held=f"uninstall of release {release.ref}", kind="HelmRelease", short="hr")
    ctx.conditions.mark_true(PRUNE_HELD, PRUNE_HELD, message)
    await ctx.events.warning(PRUNE_HELD, message)
    raise WaitingError(PRUNE_HELD, message, hr.interval)


async def uninstall_release(ctx: ReconcileContext[HelmRelease], state: RunState,
                            target: Target, name: str, *,
                            guard: str | None = None) -> ReleaseInfo | None:
    """Uninstall release `name` of the target's namespace if it has records in the target's
    storage namespace (finalizer, moved releases; `guard`: why, and the mass-deletion guard
    applies). Returns the release that was uninstalled."""
    kube = state.cluster.kube if state.cluster else ctx.kube
    storage = target.storage_namespace
    await recover(kube, name, storage, target.namespace)
    current = latest_release(await read_records(kube, storage, name))
    if current is None or current.absent:
        return None
    if guard is not None:
        await guard_uninstall(ctx, state, current, guard)
    args, timeout = uninstall_args(ctx.obj, name, engine=state.services.helm.engine)
    async with (state.services.helm.workspace(target) as ws,
                staged(kube, name, storage, target.namespace)):
        try:
            await state.services.helm.run(ws, target, args, timeout=timeout)
        except HelmError as err:
            if "not found" in str(err):
                return None
            raise GenericError(UNINSTALL_FAILED, uninstall_message(current, str(err))
                               ) from None
    await ctx.events.normal(UNINSTALL_SUCCEEDED, uninstall_message(current))
    return current


_COUNTERS = ("failures", "installFailures", "upgradeFailures")


def _begin_attempt(ctx: ReconcileContext[HelmRelease], state: RunState,
                   prev: Mapping[str, Any]) -> str | None:
    """The counters, lastAttempted* and lastHandledResetAt of this attempt, from the status
    `prev` that the previous run left (module docstring, 4); the forceAt to honour."""
    annotations = ctx.obj.annotations
    assert state.chart is not None
    reset_at = _requested(annotations, RESET_AT_ANNOTATION, prev.get("lastHandledResetAt"))
    force_at = _requested(annotations, FORCE_AT_ANNOTATION, prev.get("lastHandledForceAt"))
    for key in (*_COUNTERS, "lastAttemptedReleaseAction"):
        if prev.get(key):
            ctx.status[key] = prev[key]
        else:
            ctx.status.pop(key, None)
    if counters_reset(prev, generation=ctx.generation, revision=state.chart.version,
                      config_digest=state.config_digest, reset_requested=reset_at is not None):
        for key in _COUNTERS:
            ctx.status.pop(key, None)
    if reset_at is not None:
        ctx.status["lastHandledResetAt"] = reset_at
    ctx.status["lastAttemptedGeneration"] = ctx.generation
    return force_at


async def _recover(kube: Any, name: str, storage: str, namespace: str) -> bool:
    try:
        return await recover(kube, name, storage, namespace)
    except ApiError as err:
        raise GenericError(GET_LAST_RELEASE_FAILED, f"could not move the records of release "
                           f"{namespace}/{name} to '{storage}': {err}") from None


async def release_phase(ctx: ReconcileContext[HelmRelease]) -> PhaseResult | None:
    state = run_of(ctx)
    hr = ctx.obj
    found = unsupported(ctx.body.get("spec") or {}, state.services.helm.engine)
    if found:
        raise StallingError(UNSUPPORTED_BY_ENGINE, unsupported_message(found))
    assert state.chart is not None and state.source is not None
    ctx.event_metadata = event_metadata(state)
    target = await target_of(ctx, state)
    state.target = target
    storage = target.storage_namespace
    kube = state.cluster.kube if state.cluster else ctx.kube
    # records left in the release namespace by an interrupted action, or kept there by an
    # afflux that did not honour storageNamespace yet, are moved to the storage namespace
    moved = await _recover(kube, hr.release_name, storage, target.namespace)
    old = moved_release(ctx.status.get("history") or [],
                        storage if moved else ctx.status.get("storageNamespace"),
                        hr.release_name, hr.release_namespace, storage)
    ctx.conditions.remove(PRUNE_HELD)
    if old is not None:
        name, namespace, old_storage = old
        await uninstall_release(ctx, state, dataclasses.replace(
            target, namespace=namespace, storage=old_storage), name,
            guard=f"the release moved from {old_storage}:{namespace}/{name} to "
            f"{storage}:{hr.release_namespace}/{hr.release_name}")
        ctx.status["history"] = []
    ctx.status["storageNamespace"] = storage

    force_at = _begin_attempt(ctx, state, ctx.body.get("status") or {})
    run = _Run(ctx, state, target, state.source)
    if hr.spec.health_check_exprs:
        try:
            run.exprs = compile_health_exprs(hr.spec.health_check_exprs)
        except HealthExprError as err:
            raise StallingError(INVALID_CEL_EXPRESSION, str(err)) from None

    async def refresh() -> bool | None:
        """Before the first action (or before saying Ready without a Released condition):
        the HelmRelease read again. The body this run started from comes from the watch,
        which may not have delivered the status the previous run wrote (its counters,
        history, conditions): deciding on it would repeat an action that already failed, or
        drop the Released condition. None when it was current; else the run starts again
        from the status read now (and the forceAt to honour)."""
        nonlocal force_at
        try:
            fresh = await ctx.kube.get(ObjectRef(HELMRELEASE, hr.namespace, hr.name))
        except ApiError:
            return None
        prev = (fresh or {}).get("status") or {}
        if fresh is None or prev == (ctx.body.get("status") or {}):
            return None
        ctx.logger.debug("the HelmRelease's status was stale; deciding on the current one")
        for type_ in (RELEASED, TEST_SUCCESS, REMEDIATED):
            cond = get_condition(prev.get("conditions") or [], type_)
            if cond is None:
                ctx.conditions.remove(type_)
            else:
                ctx.conditions.set(type_, str(cond.get("status")), str(cond.get("reason")),
                                   str(cond.get("message")))
        force_at = _begin_attempt(ctx, state, prev)
        run.prev = prev
        if old is None:
            run.history = list(prev.get("history") or [])
        return force_at is not None

    try:
        await run.loop(force_at is not None, refresh)
    finally:
        ctx.status["history"] = run.history
        if force_at is not None:
            ctx.status["lastHandledForceAt"] = force_at
        for key in _COUNTERS:
            if not ctx.status.get(key):
                with contextlib.suppress(KeyError):
                    del ctx.status[key]
    return None
