"""The OCIRepository reconciler: resolve a tag, range or digest, pull one layer, publish it.

Phases, in order (each sets only its own conditions):

1. `storage` (shared, `_common_phases.storage_phase`): old artifacts collected, the stored
   artifact checked, `ArtifactInStorage`.
2. `fetch`: the spec is checked (`spec.url`, `spec.ref`, provider); credentials
   (`secretRef` dockerconfigjson or `serviceAccountName`'s image pull secrets),
   `certSecretRef`, `proxySecretRef`; the reference is resolved (digest > semver > tag >
   `latest`) to a manifest digest with a HEAD request. When the revision
   (`<tag>@sha256:<manifest digest>`), `spec.ignore` and `spec.layerSelector` are what the
   stored artifact was built from, nothing is pulled. With `spec.verify`, the digest's
   cosign or notation signature is verified first (`_ociverify`), unless that revision
   was verified already for this generation: `SourceVerified` True, or False with
   VerificationError and nothing pulled (the last good artifact stays). Otherwise the manifest is fetched
   and the selected layer downloaded (digest and size checked) and, for `extract`,
   unpacked safely. `FetchFailed` (AuthenticationFailed | OCIArtifactPullFailed |
   OCIArtifactLayerOperationFailed | URLInvalid), `ArtifactOutdated` (NewRevision).
3. `artifact`: the unpacked tree archived (`.sourceignore` files and `spec.ignore`, as
   for Git) or, for `copy`, the layer stored as it is, as `<manifest digest hex>.tar.gz`;
   `latest.tar.gz` linked; `status.artifact` (metadata = the manifest's annotations),
   `status.url`, `observedIgnore`, `observedLayerSelector`; Ready "stored artifact for
   revision '…'"; the `NewArtifact` event; `StorageOperationFailed`.

A failure keeps the stored artifact and `status.artifact` as they were. Blocking work runs
in worker threads bounded by `spec.timeout`; deleting the object removes its storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afflux.api import Artifact, OCIRepository
from afflux.api._meta import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    AUTHENTICATION_FAILED,
    FETCH_FAILED,
    INVALID_URL,
    NEW_ARTIFACT,
    NEW_REVISION,
    OCI_LAYER_OPERATION_FAILED,
    OCI_PULL_FAILED,
    SOURCE_GROUP,
    SOURCE_VERIFIED,
    SUCCEEDED,
)
from afflux.api._semver import SemverError, parse_constraint
from afflux.controllers.runtime import (
    GenericError,
    PhaseResult,
    ReconcileContext,
    ReconcileError,
    Reconciler,
    Resource,
    StallingError,
    UnsafeArchiveError,
    safe_extract,
)

from ._archive import tree_matcher
from ._common_phases import (
    Scratch,
    SourceReconcilerBase,
    artifact_from_status,
    confirm_stored,
    current_artifact,
    fetch_failed,
    mark_artifact_ready,
    remove_artifacts,
    storage_failed,
    store_artifact,
    stored_message,
)
from ._context import SourceContext
from ._oci import (
    OCIURL,
    Manifest,
    RegistryClient,
    RegistryError,
    ResolvedRef,
    parse_oci_url,
    resolve_ref,
    select_layer,
    tar_stream,
)
from ._ociverify import must_verify, verify_source
from ._remote import proxy_address, registry_credentials, run_blocking, tls_material
from ._storage import StorageError

__all__ = [
    "OCI_REPOSITORY",
    "PullDecision",
    "check_ref",
    "layer_selector",
    "must_pull",
    "oci_reconciler",
    "secret_names",
]

OCI_REPOSITORY = Resource(SOURCE_GROUP, OCIRepository.VERSION, OCIRepository.KIND,
                          OCIRepository.PLURAL)
KIND = OCIRepository.KIND
EXTRACT, COPY = "extract", "copy"
#: The largest layer pulled (Flux has no such limit; this keeps a bad tag from filling
#: the disk).
MAX_LAYER_SIZE = 1 << 30
#: Bounds of an extracted layer (a small layer can be a decompression bomb).
MAX_UNPACKED_BYTES = 1 << 30
MAX_UNPACKED_FILES = 100_000
GZIP_MAGIC = b"\x1f\x8b"


# --- pure decisions -----------------------------------------------------------------------


def check_ref(ref: Mapping[str, Any] | None) -> None:
    """Raise StallingError for a `spec.ref` no registry answer can make work."""
    ref = ref or {}
    try:
        if ref.get("digest"):
            resolve_ref({"digest": ref["digest"]})
        elif ref.get("semver"):
            parse_constraint(str(ref["semver"]))
            if ref.get("semverFilter"):
                re.compile(str(ref["semverFilter"]))
        elif ref.get("tag"):
            resolve_ref({"tag": ref["tag"]})
    except (RegistryError, SemverError, re.error, ValueError) as err:
        raise StallingError(OCI_PULL_FAILED, f"invalid spec.ref: {err}") from None


def layer_selector(spec: Mapping[str, Any]) -> dict[str, str]:
    """`spec.layerSelector` with the default operation filled in (what `observed…` holds)."""
    raw = spec.get("layerSelector") or {}
    selector = {"operation": raw.get("operation") or EXTRACT}
    if raw.get("mediaType"):
        selector["mediaType"] = raw["mediaType"]
    return selector


def _observed_selector(status: Mapping[str, Any]) -> dict[str, str] | None:
    raw = status.get("observedLayerSelector")
    if raw is None:
        return None
    return layer_selector({"layerSelector": raw})


@dataclass(frozen=True)
class PullDecision:
    pull: bool
    why: str


def must_pull(
    *,
    artifact: Artifact | None,
    stored: bool,
    revision: str,
    status: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> PullDecision:
    """Whether the layer must be pulled to have the right artifact. Pure."""
    if artifact is None:
        return PullDecision(True, "no artifact yet")
    if not stored:
        return PullDecision(True, "the artifact is missing from storage")
    if artifact.revision != revision:
        return PullDecision(True, f"new revision '{revision}'")
    if status.get("observedIgnore") != spec.get("ignore"):
        return PullDecision(True, "spec.ignore changed")
    if _observed_selector(status) != layer_selector(spec):
        return PullDecision(True, "spec.layerSelector changed")
    return PullDecision(False, f"artifact up-to-date with remote revision: '{revision}'")


def secret_names(body: Mapping[str, Any]) -> list[str]:
    """The Secrets an OCIRepository body uses (registry credentials, TLS, proxy, the
    verification keys and the keyless trusted root): a change to one reconciles it. Pure."""
    spec = body.get("spec") or {}
    refs = [spec.get(key) for key in ("secretRef", "certSecretRef", "proxySecretRef")]
    verify = spec.get("verify") or {}
    refs += [verify.get("secretRef"), verify.get("trustedRootSecretRef")]
    return [r["name"] for r in refs if isinstance(r, Mapping) and r.get("name")]


# --- per-reconcile state ---------------------------------------------------------------------


@dataclass
class _OCIRun(Scratch):
    revision: str | None = None
    digest: str | None = None
    manifest: Manifest | None = None
    blob: Path | None = None
    content: Path | None = None
    operation: str = EXTRACT
    build: bool = False


@dataclass(frozen=True)
class _Pulled:
    revision: str
    digest: str
    manifest: Manifest | None = None


def _pull_failed(err: RegistryError) -> GenericError:
    reason = AUTHENTICATION_FAILED if err.kind == "auth" else OCI_PULL_FAILED
    return GenericError(reason, err.message)


class OCIRepositoryReconciler(SourceReconcilerBase[_OCIRun]):
    """The phases of an OCIRepository, bound to the operator's `SourceContext`."""

    run_type = _OCIRun

    def reconciler(self) -> Reconciler[OCIRepository]:
        return self.wire(
            OCI_REPOSITORY, KIND, OCIRepository.from_dict,
            [self.phase_fetch, self.phase_artifact],
        )

    @staticmethod
    def _timeout(obj: OCIRepository) -> float:
        timeout = obj.timeout or OCIRepository.DEFAULT_TIMEOUT or 60.0
        return timeout if timeout > 0 else 60.0

    # --- phase: fetch ------------------------------------------------------------------

    async def phase_fetch(self, ctx: ReconcileContext[OCIRepository]) -> PhaseResult | None:
        obj = ctx.obj
        spec = obj.to_dict()["spec"]
        run = self.runs(ctx)
        current = current_artifact(ctx)
        try:
            url = parse_oci_url(obj.spec.url)
        except RegistryError as err:
            raise fetch_failed(ctx, StallingError(INVALID_URL, err.message)) from None
        provider = obj.spec.provider or "generic"
        if provider != "generic":
            raise fetch_failed(ctx, StallingError(
                OCI_PULL_FAILED, f"spec.provider '{provider}' is not supported by afflux: use "
                "'generic' with spec.secretRef or spec.serviceAccountName"))
        try:
            check_ref(spec.get("ref"))
        except StallingError as err:
            raise fetch_failed(ctx, err) from None
        if obj.spec.verify is None:
            ctx.conditions.remove(SOURCE_VERIFIED)

        try:
            creds = await registry_credentials(
                ctx, url.host, obj.spec.secret_ref.name if obj.spec.secret_ref else None,
                obj.spec.service_account_name)
            tls = await tls_material(
                ctx, obj.spec.cert_secret_ref.name if obj.spec.cert_secret_ref else None)
            proxy = await proxy_address(
                ctx, obj.spec.proxy_secret_ref.name if obj.spec.proxy_secret_ref else None)
        except ReconcileError as err:
            raise fetch_failed(ctx, err) from None

        timeout = self._timeout(obj)
        client = RegistryClient(url.host, credentials=creds, tls=tls,
                                insecure=bool(obj.spec.insecure), timeout=timeout, proxy=proxy)
        try:
            resolved: _Pulled = await run_blocking(
                timeout, f"resolving {url}", _resolve, client, url, spec.get("ref"),
                on_timeout=lambda m: GenericError(OCI_PULL_FAILED, m))
            ctx.event_metadata["revision"] = resolved.revision
            decision = must_pull(
                artifact=current, stored=current is not None and ctx.conditions.is_true(
                    ARTIFACT_IN_STORAGE),
                revision=resolved.revision, status=ctx.status, spec=spec)
            ctx.conditions.remove(FETCH_FAILED)
            run.revision, run.digest = resolved.revision, resolved.digest
            if decision.pull and (current is None or current.revision != resolved.revision):
                ctx.conditions.mark_true(ARTIFACT_OUTDATED, NEW_REVISION,
                                         f"new revision '{resolved.revision}' for '{url}'")
            if obj.spec.verify is not None and must_verify(
                    artifact_revision=current.revision if current else None,
                    revision=resolved.revision, condition=ctx.conditions.get(SOURCE_VERIFIED),
                    generation=obj.generation):
                # before anything is pulled: an unverified artifact is never stored
                await verify_source(ctx, obj.spec.verify, client, url, resolved.digest,
                                    f"revision {resolved.revision}", timeout)
            if not decision.pull:
                ctx.logger.info("no pull: %s", decision.why)
                ctx.conditions.remove(ARTIFACT_OUTDATED)
                return None
            ctx.logger.info("pulling: %s", decision.why)
            selector = layer_selector(spec)
            run.operation = selector["operation"]
            workdir = await asyncio.to_thread(run.workdir, "afflux-ocirepository-")
            await run_blocking(timeout, f"pulling {url}", _pull, client, url, resolved, selector,
                               workdir, run,
                               on_timeout=lambda m: GenericError(OCI_PULL_FAILED, m))
        except RegistryError as err:
            raise fetch_failed(ctx, _pull_failed(err)) from None
        except ReconcileError as err:
            raise fetch_failed(ctx, err) from None
        finally:
            client.close()
        run.build = True
        ctx.conditions.remove(FETCH_FAILED)
        return None

    # --- phase: artifact -----------------------------------------------------------------

    async def phase_artifact(self, ctx: ReconcileContext[OCIRepository]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        if not run.build:
            confirm_stored(ctx)
            await asyncio.to_thread(run.cleanup)
            return None
        assert run.revision is not None and run.digest is not None and run.manifest is not None
        revision = run.revision
        hex_ = run.digest.split(":", 1)[1]
        artifact = self.storage.new_artifact(
            KIND, obj.namespace, obj.name, revision, f"{hex_}.tar.gz",
            metadata=run.manifest.annotations or None)
        spec = obj.to_dict()["spec"]
        try:
            artifact, url = await asyncio.to_thread(self._store, artifact, run, spec.get("ignore"))
        except (StorageError, OSError) as err:
            raise storage_failed(
                ctx, f"failed to store the artifact for revision '{revision}': {err}") from None
        finally:
            await asyncio.to_thread(run.cleanup)

        previous = artifact_from_status(ctx.status)
        ctx.status["artifact"] = artifact.to_dict()
        ctx.status["url"] = url
        ctx.status["observedIgnore"] = spec.get("ignore")
        ctx.status["observedLayerSelector"] = layer_selector(spec)
        mark_artifact_ready(ctx, SUCCEEDED, stored_message(revision))
        if previous is None or previous.digest != artifact.digest:
            await ctx.events.normal(
                NEW_ARTIFACT, f"stored artifact with revision '{revision}' from '{obj.spec.url}'",
                revision=revision, digest=artifact.digest or "")
        return None

    def _store(self, artifact: Artifact, run: _OCIRun, ignore: str | None
               ) -> tuple[Artifact, str]:
        def write(artifact: Artifact) -> Artifact:
            if run.operation == COPY:
                assert run.blob is not None
                return self.storage.copy_file(artifact, run.blob)
            assert run.content is not None
            return self.storage.archive(artifact, run.content, tree_matcher(run.content, ignore))

        return store_artifact(self.storage, artifact, write)

    # --- finalize --------------------------------------------------------------------------

    async def finalize(self, ctx: ReconcileContext[OCIRepository]) -> None:
        obj = ctx.obj
        if await remove_artifacts(self.storage, KIND, obj.namespace, obj.name):
            ctx.logger.info("removed the stored artifacts")


# --- blocking helpers -------------------------------------------------------------------------


def _resolve(client: RegistryClient, url: OCIURL, ref: Mapping[str, Any] | None) -> _Pulled:
    """The revision and manifest digest the ref names now (a HEAD, or a GET if the
    registry does not report digests)."""
    resolved: ResolvedRef = resolve_ref(ref, lambda: client.tags(url.repository))
    digest = client.head_digest(url.repository, resolved.reference)
    manifest = None
    if digest is None:
        manifest = client.manifest(url.repository, resolved.reference)
        digest = manifest.digest
    if resolved.digest and digest != resolved.digest:
        raise RegistryError("invalid", f"{url}@{resolved.digest}: the registry answered {digest}")
    return _Pulled(resolved.revision(digest), digest, manifest)


def _pull(client: RegistryClient, url: OCIURL, resolved: _Pulled, selector: Mapping[str, str],
          workdir: Path, run: _OCIRun) -> None:
    """Fetch the manifest and the selected layer into `workdir`; unpack it for extract."""
    manifest = resolved.manifest or client.manifest(url.repository, resolved.digest)
    if manifest.digest != resolved.digest:  # the tag moved between HEAD and GET
        raise RegistryError("invalid", f"{url}: manifest changed while pulling; retrying")
    try:
        layer = select_layer(manifest.data, selector.get("mediaType"))
    except RegistryError as err:
        raise GenericError(OCI_LAYER_OPERATION_FAILED, f"{url}: {err.message}") from None
    blob = workdir / "layer.blob"
    with open(blob, "wb") as out:
        client.fetch_blob(url.repository, layer, out, max_size=MAX_LAYER_SIZE)
    run.manifest = manifest
    run.blob = blob
    if selector.get("operation") == COPY:
        return
    with open(blob, "rb") as f:
        magic = f.read(2)
    if magic != GZIP_MAGIC:
        raise GenericError(
            OCI_LAYER_OPERATION_FAILED,
            f"failed to extract layer {layer.get('digest')} ({layer.get('mediaType')}) of "
            f"{url}: it is not a tar+gzip archive; select another layer with "
            "spec.layerSelector.mediaType or use operation 'copy'")
    content = workdir / "content"
    try:
        with tar_stream(blob) as stream:
            safe_extract(stream, content, max_bytes=MAX_UNPACKED_BYTES,
                         max_files=MAX_UNPACKED_FILES)
    except (UnsafeArchiveError, OSError, EOFError) as err:
        raise GenericError(
            OCI_LAYER_OPERATION_FAILED,
            f"failed to extract layer {layer.get('digest')} of {url}: {err}") from None
    with contextlib.suppress(OSError):
        blob.unlink()
    run.blob = None
    run.content = content


# --- the factory ------------------------------------------------------------------------------


def oci_reconciler(source: SourceContext) -> Reconciler[OCIRepository]:
    """The OCIRepository reconciler (for `handlers.RECONCILER_FACTORIES`); a change to a
    Secret it uses reconciles it."""
    source.watch_secrets(OCI_REPOSITORY, secret_names)
    return OCIRepositoryReconciler(source).reconciler()
