"""ImagePolicy reconcile: pick the latest tag of an ImageRepository's last scan.

Phases (`PolicyReconcile.phases`):

1. `check_policy`: `spec.policy` and `spec.filterTags` must be usable (exactly one rule,
   a valid semver range, Go regexp and order); otherwise the policy stalls with reason
   `InvalidPolicy` until the spec changes. As in Flux, the previous result
   (`status.latestRef`, `status.latestImage`) is cleared first: a policy that fails
   reports no latest image, so automations leave its markers alone.
2. `apply_policy`:
   - the ImageRepository of `spec.imageRepositoryRef` (namespace: the policy's by default)
     must exist (`DependencyNotReady`, retried) and let the policy in: another namespace
     needs `--no-cross-namespace-refs=false` and a `spec.accessFrom.namespaceSelectors`
     entry matching the labels of the policy's namespace (`AccessDenied`, retried, since
     labels can change without the policy knowing);
   - it must have been scanned (`DependencyNotReady`); its tags are read from the tag
     store this process shares with the ImageRepository reconciler (when the store lost
     them, a scan of the repository is requested and the policy waits for it);
   - the rule picks a tag (none matching: Ready=False, reason `Failure`); a pick is
     remembered per tag-store revision and rule (`LatestMemo`), so a reconcile over an
     unchanged scan does not run the rule over every tag again;
   - `spec.digestReflectionPolicy`: `Never` (default) records no digest, `IfNotPresent`
     looks it up once per tag, `Always` on every run; with `Always` the policy is also
     reconciled every `spec.interval` (10m when left out) to follow mutable tags;
   - `status.latestRef` {name (the repository's `spec.image`), tag, digest} and the v1beta2
     `status.latestImage` (`<name>:<tag>`); when the result changed, the old one moves to
     `status.observedPreviousRef` / `observedPreviousImage` and a Normal event says so.

Ready messages are Flux's: `Latest image tag for '<image>' resolved to <tag>`, or
`Latest image tag for '<image>' updated from <old> to <new>`.

The policy is re-evaluated whenever its ImageRepository's scan result changes: the
operator watches ImageRepositories and triggers the policies that refer to them
(`policies_for_repository`, wired in `handlers`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from afflux.api import ImagePolicy, ImageRepository
from afflux.api._meta import (
    ACCESS_DENIED,
    DEPENDENCY_NOT_READY,
    IMAGE_GROUP,
    SUCCEEDED,
)
from afflux.controllers.runtime import (
    GenericError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    Resource,
    WaitingError,
    parse_duration,
)

from ._policy import (
    POLICY_FAILED_REASON,
    REFLECT_ALWAYS,
    LatestMemo,
    compile_policy,
    digest_to_reuse,
    rule_key,
    should_fetch_digest,
)
from ._reconcile_registry import registry_access
from ._reconcile_repository import IMAGE_REPOSITORY
from ._registry import AuthenticationFailed, ReadOperationFailed
from ._tagstore import TagStoreError

__all__ = [
    "IMAGE_POLICY",
    "NAMESPACES",
    "PolicyReconcile",
    "compose_ready_message",
    "namespace_selected",
    "policies_for_repository",
    "policy_interval",
    "policy_reconciler",
]

IMAGE_POLICY = Resource(IMAGE_GROUP, "v1", "ImagePolicy", "imagepolicies")
NAMESPACES = Resource("", "v1", "Namespace", "namespaces", namespaced=False)

#: How often a policy is re-evaluated when nothing else triggers it.
DEFAULT_POLICY_INTERVAL = 600.0

RequestScan = Callable[[str, str], object]


# --- pure decisions -------------------------------------------------------------------------


def compose_ready_message(image: str, tag: str, previous_tag: str | None) -> str:
    """Flux's Ready message for a policy that chose `tag` of `image`."""
    if previous_tag and previous_tag != tag:
        return f"Latest image tag for '{image}' updated from {previous_tag} to {tag}"
    return f"Latest image tag for '{image}' resolved to {tag}"


def namespace_selected(selectors: Sequence[Mapping[str, Any]], labels: Mapping[str, str]) -> bool:
    """Whether a namespace with `labels` is selected by any of `accessFrom.namespaceSelectors`
    (an empty `matchLabels` selects every namespace)."""
    for selector in selectors:
        wanted = selector.get("matchLabels") or {}
        if all(labels.get(key) == value for key, value in wanted.items()):
            return True
    return False


def repository_key(policy: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the ImageRepository a policy body refers to."""
    meta = policy.get("metadata") or {}
    ref = (policy.get("spec") or {}).get("imageRepositoryRef") or {}
    if not ref.get("name"):
        return None
    return (ref.get("namespace") or meta.get("namespace") or "", ref["name"])


def policies_for_repository(
    namespace: str, name: str, policies: Iterable[Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """(namespace, name) of every policy body that refers to ImageRepository
    `namespace/name`."""
    found = []
    for policy in policies:
        if repository_key(policy) == (namespace, name):
            meta = policy.get("metadata") or {}
            found.append((meta.get("namespace") or "", meta.get("name") or ""))
    return found


def policy_interval(body: Mapping[str, Any]) -> float:
    """How often an ImagePolicy is reconciled besides its triggers: `spec.interval` when
    it reflects digests `Always` (the digest of a tag can move), else every 10 minutes."""
    spec = body.get("spec") or {}
    if spec.get("digestReflectionPolicy") == REFLECT_ALWAYS:
        try:
            seconds = parse_duration(str(spec.get("interval") or ""))
        except ValueError:
            seconds = 0.0
        return seconds if seconds > 0 else ImagePolicy.DEFAULT_DIGEST_INTERVAL
    return DEFAULT_POLICY_INTERVAL


# --- the reconcile ----------------------------------------------------------------------------


def _ref_dict(ref: Any) -> dict[str, str] | None:
    if ref is None:
        return None
    data = {k: v for k, v in ref.to_dict().items() if v}
    return data or None


class PolicyReconcile:
    """The phases of ImagePolicy, bound to the tag store and a way to ask for a scan."""

    def __init__(self, store: Any, request_scan: RequestScan | None = None) -> None:
        self.store = store
        self.request_scan = request_scan
        self.memo = LatestMemo()

    @property
    def phases(self) -> list[Any]:
        return [self.check_policy, self.apply_policy]

    async def check_policy(self, ctx: ReconcileContext[ImagePolicy]) -> PhaseResult | None:
        for key in ("latestRef", "latestImage"):
            ctx.status.pop(key, None)
        compile_policy(ctx.obj.spec.policy, ctx.obj.spec.filter_tags)
        return None

    async def apply_policy(self, ctx: ReconcileContext[ImagePolicy]) -> PhaseResult | None:
        policy = ctx.obj
        repo = await self._repository(ctx)
        scanned = repo.status.last_scan_result
        canonical = repo.status.canonical_image_name
        if scanned is None or not canonical:
            raise WaitingError(
                DEPENDENCY_NOT_READY,
                f"referenced ImageRepository '{repo.key}' has not been scanned yet",
            )
        try:
            tags = await asyncio.to_thread(self.store.tags, repo.namespace, repo.name, canonical)
        except TagStoreError as err:
            tags = None
            ctx.logger.warning("%s", err)
        if tags is None:
            if self.request_scan is not None:
                self.request_scan(repo.namespace, repo.name)
            raise WaitingError(
                DEPENDENCY_NOT_READY,
                f"the tags of ImageRepository '{repo.key}' are not in this controller's "
                "storage yet; a scan was requested",
            )
        selector = compile_policy(policy.spec.policy, policy.spec.filter_tags)
        tag = self.memo.latest(tags, rule_key(ctx.body.get("spec") or {}), selector.latest)

        name = repo.spec.image
        previous = policy.status.latest_ref
        latest: dict[str, str] = {"name": name, "tag": tag}
        reflection = policy.spec.digest_reflection_policy
        digest = digest_to_reuse(reflection, previous, name, tag)
        if digest is None and should_fetch_digest(reflection, previous, name, tag):
            digest = await self._digest(ctx, repo, tag)
        if digest:
            latest["digest"] = digest
        ctx.status["latestRef"] = latest
        ctx.status["latestImage"] = f"{name}:{tag}"

        old = _ref_dict(previous)
        if old is not None and old != latest:
            ctx.status["observedPreviousRef"] = old
            ctx.status["observedPreviousImage"] = policy.status.latest_image or (
                f"{old.get('name', '')}:{old.get('tag', '')}"
            )
        # the previous tag only when this reconcile changed it: observedPreviousRef stays in
        # the status afterwards, and a later reconcile of the same tag just resolved it
        changed_from = old.get("tag") if old is not None and old != latest else None
        message = compose_ready_message(name, tag, changed_from)
        ctx.set_ready(SUCCEEDED, message)
        if old != latest:
            await ctx.events.normal(SUCCEEDED, message)
        return None

    async def _repository(self, ctx: ReconcileContext[ImagePolicy]) -> ImageRepository:
        policy = ctx.obj
        ref = policy.spec.image_repository_ref
        namespace = ref.namespace or policy.namespace
        where = f"ImageRepository '{namespace}/{ref.name}'"
        if namespace != policy.namespace and ctx.options.no_cross_namespace_refs:
            raise GenericError(
                ACCESS_DENIED,
                f"failed to get the referred ImageRepository: cannot access {where}, "
                "cross-namespace references have been blocked (--no-cross-namespace-refs)",
            )
        body = await ctx.kube.get(ObjectRef(IMAGE_REPOSITORY, namespace, ref.name))
        if body is None:
            raise WaitingError(
                DEPENDENCY_NOT_READY,
                f"failed to get the referred ImageRepository: {where} does not exist",
            )
        repo = ImageRepository.from_dict(body)
        if namespace != policy.namespace:
            await self._check_access(ctx, repo, where)
        return repo

    async def _check_access(
        self, ctx: ReconcileContext[ImagePolicy], repo: ImageRepository, where: str
    ) -> None:
        own = ctx.obj.namespace
        access = repo.spec.access_from
        selectors = [s.to_dict() for s in access.namespace_selectors] if access else []
        if not selectors:
            raise GenericError(
                ACCESS_DENIED,
                f"access denied: {where} does not allow references from namespace '{own}': "
                "its spec.accessFrom.namespaceSelectors must select this namespace",
            )
        body = await ctx.kube.get(ObjectRef(NAMESPACES, None, own))
        labels = ((body or {}).get("metadata") or {}).get("labels") or {}
        if not namespace_selected(selectors, labels):
            raise GenericError(
                ACCESS_DENIED,
                f"access denied: namespace '{own}' is not selected by "
                f"spec.accessFrom.namespaceSelectors of {where}",
            )

    async def _digest(
        self, ctx: ReconcileContext[ImagePolicy], repo: ImageRepository, tag: str
    ) -> str:
        access = await registry_access(ctx, repo)
        what = f"{repo.spec.image}:{tag}"
        try:
            async with access.client() as client:
                return await client.digest(tag)
        except AuthenticationFailed as err:
            raise AuthenticationFailed(
                access.explain(f"failed fetching digest of {what}: {err.message}")
            ) from err
        except ReadOperationFailed as err:
            raise ReadOperationFailed(f"failed fetching digest of {what}: {err.message}") from err


def policy_reconciler(
    store: Any, request_scan: RequestScan | None = None
) -> Reconciler[ImagePolicy]:
    """The ImagePolicy reconciler over the tag `store`."""
    phases = PolicyReconcile(store, request_scan)
    return Reconciler(
        IMAGE_POLICY,
        phases.phases,
        parse=ImagePolicy.from_dict,
        failure_reason=POLICY_FAILED_REASON,
        interval_of=policy_interval,
    )
