"""The source phases: find the Kustomization's source and its artifact, then download it.

`source_phase` reads the object `spec.sourceRef` names (GitRepository, OCIRepository,
Bucket or ExternalArtifact; its namespace defaults to the Kustomization's) with the controller's own client.
A reference to another namespace is refused when the operator runs with
`--no-cross-namespace-refs` (Stalled, AccessDenied). A source that does not exist, or has
no artifact yet, is not an error to retry with backoff: Ready=False with ArtifactFailed and
a new attempt after `retryInterval` (or at once, when the source's artifact changes).
It records the artifact's revision as `status.lastAttemptedRevision`, and its origin
revision (`org.opencontainers.image.revision` in the artifact metadata) for later, and puts
both in the run's event metadata, so a failure event of a later phase names the revision it
failed at (as Flux's do; `afflux report` counts failed changes by it).

`artifact_phase` takes a lease on the artifact unpacked (`_artifacts.ArtifactCache`, shared by
every Kustomization of the controller): on a cache miss it downloads `status.artifact.url`,
retrying a transient failure up to `--http-retry` times with backoff (`_artifacts`),
refuses bytes whose digest differs from `status.artifact.digest` (ArtifactFailed, retried),
so nothing unverified is ever unpacked, and unpacks it safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from afflux.api import Kustomization
from afflux.api._meta import ACCESS_DENIED, ARTIFACT_FAILED
from afflux.controllers.runtime import (
    ApiError,
    GenericError,
    HTTPStatusError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    StallingError,
    WaitingError,
)

from ._reconcile_state import SOURCE_KINDS, event_metadata, report_work, run_of

__all__ = [
    "ORIGIN_REVISION_KEY",
    "artifact_phase",
    "artifact_revision",
    "download",
    "references_source",
    "source_key",
    "source_phase",
]

#: The artifact metadata key that carries the origin revision (OCI artifacts).
ORIGIN_REVISION_KEY = "org.opencontainers.image.revision"
_CHUNK = 1 << 16


def source_key(ks: Kustomization) -> tuple[str, str, str]:
    """(kind, namespace, name) of the source a Kustomization builds."""
    ref = ks.spec.source_ref
    return ref.kind, ref.namespace or ks.namespace, ref.name


def references_source(body: Mapping[str, Any], kind: str, namespace: str, name: str) -> bool:
    """Whether the Kustomization `body` builds the source kind/namespace/name (pure; used to
    trigger Kustomizations when a source's artifact changes)."""
    meta = body.get("metadata") or {}
    ref = (body.get("spec") or {}).get("sourceRef") or {}
    return (ref.get("kind") == kind and ref.get("name") == name
            and (ref.get("namespace") or meta.get("namespace")) == namespace)


def artifact_revision(body: Mapping[str, Any]) -> str | None:
    """`status.artifact.revision` of a source body (None without an artifact)."""
    artifact = (body.get("status") or {}).get("artifact") or {}
    revision = artifact.get("revision")
    return str(revision) if revision else None


def _subject(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


async def source_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    ks = ctx.obj
    kind, namespace, name = source_key(ks)
    subject = _subject(kind, namespace, name)
    if ctx.options.no_cross_namespace_refs and namespace != ks.namespace:
        raise StallingError(
            ACCESS_DENIED,
            f"cannot access {subject}: cross-namespace references are disabled on this "
            f"controller; use a source in namespace '{ks.namespace}'")
    resource = SOURCE_KINDS.get(kind)
    if resource is None:
        raise StallingError(ARTIFACT_FAILED, f"source kind '{kind}' is not supported; use "
                            f"one of {', '.join(sorted(SOURCE_KINDS))}")
    retry = ks.retry_interval
    try:
        source = await ctx.kube.get(ObjectRef(resource, namespace, name))
    except ApiError as err:
        raise GenericError(ARTIFACT_FAILED, f"could not read Source '{subject}': {err}") from None
    if source is None:
        raise WaitingError(ARTIFACT_FAILED, f"Source '{subject}' not found", retry)
    artifact = (source.get("status") or {}).get("artifact") or {}
    if not artifact.get("url") or not artifact.get("revision"):
        raise WaitingError(ARTIFACT_FAILED,
                           f"Source '{subject}' is not ready, artifact not found", retry)
    state.source = source
    state.artifact = artifact
    state.revision = str(artifact["revision"])
    state.origin_revision = (artifact.get("metadata") or {}).get(ORIGIN_REVISION_KEY)
    ctx.status["lastAttemptedRevision"] = state.revision
    # a failure later in this run is recorded with the revision it failed at (as Flux does)
    ctx.event_metadata.update(event_metadata(state))
    return None


async def download(url: str, into: Any, timeout: float) -> None:
    """GET `url` into the binary file `into` (aiohttp; HTTP errors raise)."""
    import aiohttp  # noqa: PLC0415 - only the controller process downloads

    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session, \
            session.get(url) as response:
        if response.status != 200:
            raise HTTPStatusError(url, response.status, response.reason or "")
        async for chunk in response.content.iter_chunked(_CHUNK):
            into.write(chunk)


async def artifact_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    state = run_of(ctx)
    assert state.artifact is not None
    state.close()
    if not state.services.artifacts.holds(state.artifact.get("digest")):
        await report_work(ctx)  # a download and an unpack follow
    state.checkout = await state.services.artifacts.checkout(
        str(state.artifact["url"]), state.artifact.get("digest"),
        state.services.fetch or download, state.services.settings.http_timeout)
    return None
