"""ImageRepository reconcile: scan the registry for tags, keep them in the tag store.

Phases (`RepositoryReconcile.phases`):

1. `check_spec`: `spec.image` is parsed into its canonical name (`status.canonicalImageName`)
   and `spec.exclusionList` compiled; either being invalid stalls the object (reasons
   `ImageURLInvalid`, `ReadOperationFailed`) until the spec changes. So does a cloud
   `spec.provider` (aws, azure, gcp): afflux has no workload identity, only the `generic`
   provider (secretRef, serviceAccountName's image pull secrets, or anonymous).
2. `scan`: when a scan is due (`scan_due`), list the tags with the credentials, CA, proxy
   and timeout of the spec (`_reconcile_registry`), drop the excluded ones, write them to
   the tag store and report `status.lastScanResult` {revision, tagCount, scanTime,
   latestTags} and `status.observedExclusionList`; Ready says `successful scan: found N
   tags`. A failed scan (`AuthenticationFailed`, `ReadOperationFailed`) leaves the stored
   tags and `lastScanResult` of the last good scan in place, so policies keep working.

A scan is due when the spec changed (generation), a reconcile was requested, nothing was
scanned yet, the last attempt failed, the store lost the tags (another volume, a restart without persistence), the
image or exclusion list changed, or the interval elapsed since `scanTime`; otherwise the
object is requeued for when the interval ends. So a restarted controller does not rescan
every repository at once, as in Flux.

Deleting an ImageRepository deletes its tags from the store (finalizer).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from afflux.api import ImageRepository
from afflux.api._meta import AUTHENTICATION_FAILED, IMAGE_GROUP, READ_OPERATION_FAILED, SUCCEEDED
from afflux.controllers.runtime import (
    GenericError,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    Resource,
    StallingError,
)

from ._imagename import parse_image
from ._reconcile_registry import registry_access
from ._registry import AuthenticationFailed, compile_exclusion_list, scan_tags
from ._tagstore import TagStore, TagStoreError, scan_result

__all__ = [
    "IMAGE_REPOSITORY",
    "RepositoryReconcile",
    "ScanDecision",
    "repository_reconciler",
    "scan_change_key",
    "scan_due",
    "scan_message",
]

IMAGE_REPOSITORY = Resource(IMAGE_GROUP, "v1", "ImageRepository", "imagerepositories")


def scan_message(tag_count: int) -> str:
    """The Ready message of a scanned repository (Flux's wording)."""
    return f"successful scan: found {tag_count} tags"


@dataclass(frozen=True)
class ScanDecision:
    """Whether to scan now, why, and (when not) how long until a scan is due."""

    scan: bool
    why: str
    wait: float | None = None


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def scan_due(
    *,
    generation: int | None,
    observed_generation: int | None,
    requested_at: str | None,
    last_handled: str | None,
    last_ready: bool,
    last_scan: Mapping[str, Any] | None,
    tags_stored: bool,
    canonical: str,
    observed_canonical: str | None,
    exclusion_list: Sequence[str],
    observed_exclusion_list: Sequence[str] | None,
    interval: float,
    now: datetime,
    tolerance: float = 0.0,
) -> ScanDecision:
    """Pure: should the ImageRepository be scanned now? `tolerance` (a fraction of the
    interval) lets a run that the scheduler's jitter brought forward scan anyway."""
    if generation is not None and generation != observed_generation:
        return ScanDecision(True, "new generation")
    if requested_at and requested_at != last_handled:
        return ScanDecision(True, "reconcile requested")
    if not last_scan:
        return ScanDecision(True, "never scanned")
    if not last_ready:
        return ScanDecision(True, "last attempt failed")
    if not tags_stored:
        return ScanDecision(True, "tags missing from the store")
    if canonical != observed_canonical:
        return ScanDecision(True, "image changed")
    if list(exclusion_list) != list(observed_exclusion_list or []):
        return ScanDecision(True, "exclusion list changed")
    scanned = _parse_time(last_scan.get("scanTime"))
    if scanned is None:
        return ScanDecision(True, "scan time unknown")
    elapsed = (now - scanned).total_seconds()
    if elapsed < 0 or elapsed >= interval * (1.0 - tolerance):
        return ScanDecision(True, "interval elapsed")
    return ScanDecision(False, "scanned recently", interval - elapsed)


def scan_change_key(body: Mapping[str, Any]) -> str:
    """What an ImagePolicy depends on in an ImageRepository's status: the scan result and
    the image it was made for (a watch key; a change re-evaluates the policies)."""
    status = body.get("status") or {}
    return json.dumps(
        [status.get("canonicalImageName"), status.get("lastScanResult")], sort_keys=True
    )


class RepositoryReconcile:
    """The phases of ImageRepository, bound to the operator's tag store."""

    def __init__(self, store: TagStore) -> None:
        self.store = store

    @property
    def phases(self) -> list[Any]:
        return [self.check_spec, self.scan]

    async def check_spec(self, ctx: ReconcileContext[ImageRepository]) -> PhaseResult | None:
        repo = ctx.obj
        image = parse_image(repo.spec.image)
        compile_exclusion_list(repo.exclusion_list)
        ctx.status["canonicalImageName"] = image.canonical
        provider = repo.spec.provider or "generic"
        if provider != "generic":
            raise StallingError(
                AUTHENTICATION_FAILED,
                f"spec.provider '{provider}' is not supported: afflux authenticates with the "
                "generic provider only; set spec.provider: generic with spec.secretRef (a "
                "dockerconfigjson Secret) or spec.serviceAccountName",
            )
        return None

    async def scan(self, ctx: ReconcileContext[ImageRepository]) -> PhaseResult | None:
        repo = ctx.obj
        status = repo.status
        canonical = parse_image(repo.spec.image).canonical
        exclusion = repo.exclusion_list
        last_scan = status.last_scan_result.to_dict() if status.last_scan_result else None
        stored = await asyncio.to_thread(self._stored, repo.namespace, repo.name, canonical)
        decision = scan_due(
            generation=repo.metadata.generation,
            observed_generation=status.observed_generation,
            requested_at=repo.requested_at,
            last_handled=status.last_handled_reconcile_at,
            last_ready=status.ready,
            last_scan=last_scan,
            tags_stored=stored,
            canonical=canonical,
            observed_canonical=status.canonical_image_name,
            exclusion_list=exclusion,
            observed_exclusion_list=status.observed_exclusion_list,
            interval=repo.interval or 600.0,
            now=ctx.now(),
            tolerance=ctx.options.interval_jitter_percentage / 100.0,
        )
        if not decision.scan and last_scan is not None:
            ctx.logger.debug("scan skipped: %s", decision.why)
            ctx.set_ready(SUCCEEDED, scan_message(int(last_scan.get("tagCount") or 0)))
            return PhaseResult(requeue_after=decision.wait)

        access = await registry_access(ctx, repo)
        try:
            outcome = await scan_tags(
                access.image,
                credentials=access.credentials,
                tls=access.tls,
                insecure=access.insecure,
                timeout=access.timeout,
                proxy=access.proxy,
                exclusion_list=exclusion,
            )
        except AuthenticationFailed as err:
            raise AuthenticationFailed(access.explain(err.message)) from err
        try:
            revision = await asyncio.to_thread(
                self.store.set_tags, repo.namespace, repo.name, canonical, outcome.tags
            )
        except TagStoreError as err:
            raise GenericError(READ_OPERATION_FAILED, f"failed to store the tags: {err}") from err
        result = scan_result(outcome.tags, revision=revision, scan_time=ctx.now())
        ctx.status["lastScanResult"] = result
        ctx.status["observedExclusionList"] = list(exclusion)
        message = scan_message(len(outcome.tags))
        ctx.set_ready(SUCCEEDED, message)
        ctx.logger.info(
            "scanned %s: %d tags (%d excluded)",
            canonical,
            len(outcome.tags),
            outcome.excluded,
            extra={"trigger": decision.why},
        )
        if last_scan is None or last_scan.get("revision") != revision:
            await ctx.events.normal(SUCCEEDED, message)
        return None

    def _stored(self, namespace: str, name: str, canonical: str) -> bool:
        try:
            return self.store.tags(namespace, name, canonical) is not None
        except TagStoreError:
            return False  # unreadable: the next scan rewrites it

    async def forget(self, ctx: ReconcileContext[ImageRepository]) -> None:
        """Finalize: drop the tags of a deleted ImageRepository from the store."""
        try:
            await asyncio.to_thread(self.store.delete, ctx.obj.namespace, ctx.obj.name)
        except TagStoreError as err:
            raise GenericError(READ_OPERATION_FAILED, str(err)) from err


def repository_reconciler(store: TagStore) -> Reconciler[ImageRepository]:
    """The ImageRepository reconciler over `store`."""
    phases = RepositoryReconcile(store)
    return Reconciler(
        IMAGE_REPOSITORY,
        phases.phases,
        finalize=phases.forget,
        parse=ImageRepository.from_dict,
        failure_reason=READ_OPERATION_FAILED,
    )
