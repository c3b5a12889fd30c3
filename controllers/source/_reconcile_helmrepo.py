"""The HelmRepository reconciler: keep a Helm repository's index as an artifact.

`type: default` (an HTTP(S) chart repository), phases in order:

1. `storage` (shared `storage_phase`, with `index.yaml` as the legacy link): old indexes
   collected, the stored one checked, `ArtifactInStorage`.
2. `fetch`: `spec.url` must be http(s) (else Stalled, URLInvalid); `secretRef`
   (`username`/`password`; TLS keys there are still read when there is no
   `certSecretRef`, as Flux does for the deprecated use), `certSecretRef`; the index is
   downloaded (`_helmindex.fetch_index`, credentials only to the repository's host unless
   `passCredentials`), parsed and normalised; its digest is the revision. `FetchFailed`
   (AuthenticationFailed | IndexationFailed), `ArtifactOutdated` (NewRevision).
3. `artifact`: when the revision differs from the stored artifact's, the normalised index
   is stored as `index-<hex>.yaml` (its file digest is the revision), `index.yaml`
   linked to it (`status.url`); Ready "stored artifact for revision 'sha256:…'"; the
   `NewArtifact` event "fetched index of size … from '…'".

`type: oci` is a static object (Flux: a data container for HelmCharts): nothing is
fetched and nothing stored; the URL must be `oci://`; Ready=True "Helm repository is
ready". Its `spec.provider` (the registry login of the HelmCharts that use it) must be
`generic`: aws, azure and gcp need a cloud workload identity afflux does not have, so
the object stalls (AuthenticationFailed) saying to use a Secret with a registry token
(`spec.provider` is read for type oci only, as Flux). A failure keeps the last good
index. Deleting the object removes its storage.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass

from afflux.api import Artifact, HelmRepository
from afflux.api._meta import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    AUTHENTICATION_FAILED,
    FETCH_FAILED,
    INDEXATION_FAILED,
    INVALID_URL,
    NEW_ARTIFACT,
    NEW_REVISION,
    SOURCE_GROUP,
    STORAGE_OPERATION_FAILED,
    SUCCEEDED,
)
from afflux.controllers.runtime import (
    GenericError,
    PhaseResult,
    ReconcileContext,
    ReconcileError,
    Reconciler,
    Resource,
    StallingError,
)

from ._common_phases import (
    Scratch,
    SourceReconcilerBase,
    confirm_stored,
    current_artifact,
    fetch_failed,
    mark_artifact_ready,
    read_secret,
    remove_artifacts,
    storage_failed,
    store_artifact,
    stored_message,
)
from ._context import SourceContext
from ._helmindex import HelmIndex, fetch_index, parse_index
from ._remote import basic_auth, registry_provider_refusal, run_blocking
from ._storage import StorageError
from ._transport import TLSConfigError, TLSMaterial

__all__ = [
    "HELM_REPOSITORY",
    "OCI_READY_MESSAGE",
    "check_url",
    "helmrepo_reconciler",
    "human_size",
]

HELM_REPOSITORY = Resource(SOURCE_GROUP, HelmRepository.VERSION, HelmRepository.KIND,
                           HelmRepository.PLURAL)
KIND = HelmRepository.KIND
INDEX_LINK = "index.yaml"
OCI_READY_MESSAGE = "Helm repository is ready"
#: conditions an OCI HelmRepository never has (left over from an earlier type: default)
_DEFAULT_ONLY = (ARTIFACT_IN_STORAGE, ARTIFACT_OUTDATED, FETCH_FAILED, STORAGE_OPERATION_FAILED)


# --- pure ----------------------------------------------------------------------------------


def check_url(url: str, repo_type: str) -> None:
    """Raise StallingError(URLInvalid) for a URL that cannot work for the type."""
    parts = urllib.parse.urlsplit(url or "")
    if repo_type == "oci":
        if parts.scheme != "oci" or not parts.netloc:
            raise StallingError(INVALID_URL, f"invalid Helm repository URL '{url}': a "
                                "repository of type 'oci' needs an oci:// URL")
        return
    if parts.scheme not in ("http", "https"):
        hint = " (set spec.type to 'oci' for an OCI registry)" if parts.scheme == "oci" else ""
        raise StallingError(INVALID_URL, f"invalid Helm repository URL '{url}': scheme "
                            f"'{parts.scheme}' is not supported, use http:// or https://{hint}")
    if not parts.hostname:
        raise StallingError(INVALID_URL, f"invalid Helm repository URL '{url}': no host")


def human_size(size: float) -> str:
    """Decimal units with four significant digits, as Flux prints sizes (`30.88kB`)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    value = float(size)
    i = 0
    while value >= 1000 and i < len(units) - 1:
        value /= 1000
        i += 1
    return f"{value:.4g}{units[i]}"


# --- per-reconcile state ---------------------------------------------------------------------


@dataclass
class _IndexRun(Scratch):
    index: HelmIndex | None = None
    size: int = 0
    build: bool = False
    static: bool = False


class HelmRepositoryReconciler(SourceReconcilerBase[_IndexRun]):
    """The phases of a HelmRepository, bound to the operator's `SourceContext`."""

    run_type = _IndexRun

    def reconciler(self) -> Reconciler[HelmRepository]:
        return self.wire(
            HELM_REPOSITORY, KIND, HelmRepository.from_dict,
            [self.phase_fetch, self.phase_artifact],
            link_name=INDEX_LINK, default_interval=HelmRepository.DEFAULT_INTERVAL or 60.0,
        )

    # --- phase: fetch ------------------------------------------------------------------

    async def phase_fetch(self, ctx: ReconcileContext[HelmRepository]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        repo_type = obj.spec.type or "default"
        try:
            check_url(obj.spec.url, repo_type)
        except StallingError as err:
            fetch_failed(ctx, err)
            raise
        if repo_type == "oci":
            refusal = registry_provider_refusal(obj.spec.provider)
            if refusal is not None:
                raise fetch_failed(ctx, StallingError(AUTHENTICATION_FAILED, refusal))
            await self._become_static(ctx)
            run.static = True
            return PhaseResult(stop=True)
        current = current_artifact(ctx)
        try:
            data, index = await self._fetch(ctx)
        except ReconcileError as err:
            fetch_failed(ctx, err)
            raise
        ctx.conditions.remove(FETCH_FAILED)
        revision = index.digest_for(self.storage.digest_algorithm)
        ctx.event_metadata["revision"] = revision
        run.index, run.size = index, len(data)
        stored = current is not None and ctx.conditions.is_true(ARTIFACT_IN_STORAGE)
        if stored and current is not None and current.revision == revision:
            ctx.conditions.remove(ARTIFACT_OUTDATED)
            return None
        run.build = True
        if current is None or current.revision != revision:
            ctx.conditions.mark_true(ARTIFACT_OUTDATED, NEW_REVISION,
                                     f"new index revision '{revision}'")
        return None

    async def _fetch(self, ctx: ReconcileContext[HelmRepository]) -> tuple[bytes, HelmIndex]:
        obj = ctx.obj
        spec = obj.spec
        secret_name = spec.secret_ref.name if spec.secret_ref else None
        username, password = await basic_auth(ctx, secret_name)
        tls = TLSMaterial()
        try:
            if spec.cert_secret_ref is not None:
                data = await read_secret(ctx.kube, obj.namespace, spec.cert_secret_ref.name,
                                         "spec.certSecretRef")
                tls = TLSMaterial.from_secret(data)
            elif secret_name:  # deprecated: TLS material in spec.secretRef
                data = await read_secret(ctx.kube, obj.namespace, secret_name, "spec.secretRef")
                tls = TLSMaterial.from_secret(data)
                if not tls.empty:
                    ctx.logger.warning("TLS data in spec.secretRef is deprecated: use "
                                       "spec.certSecretRef")
        except TLSConfigError as err:
            raise GenericError(AUTHENTICATION_FAILED, str(err)) from None
        timeout = obj.timeout or HelmRepository.DEFAULT_TIMEOUT or 60.0
        raw = await run_blocking(
            timeout, f"fetching the index of {spec.url}", fetch_index, spec.url,
            username=username, password=password, ca_cert=tls.ca, cert=tls.cert, key=tls.key,
            pass_credentials=bool(spec.pass_credentials), timeout=timeout,
            max_size=self.source.helm_limits.index,
            on_timeout=lambda m: GenericError(INDEXATION_FAILED, m))
        index = await asyncio.to_thread(parse_index, raw, max_size=self.source.helm_limits.index)
        return raw, index

    async def _become_static(self, ctx: ReconcileContext[HelmRepository]) -> None:
        """An OCI repository: no artifact, no fetch conditions, no stored files."""
        obj = ctx.obj
        for type_ in _DEFAULT_ONLY:
            ctx.conditions.remove(type_)
        ctx.status.pop("artifact", None)
        ctx.status.pop("url", None)
        await remove_artifacts(self.storage, KIND, obj.namespace, obj.name, strict=False)
        ctx.set_ready(SUCCEEDED, OCI_READY_MESSAGE)

    # --- phase: artifact -----------------------------------------------------------------

    async def phase_artifact(self, ctx: ReconcileContext[HelmRepository]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        if not run.build:
            confirm_stored(ctx)
            return None
        assert run.index is not None
        index = run.index
        revision = index.digest_for(self.storage.digest_algorithm)
        artifact = self.storage.new_artifact(KIND, obj.namespace, obj.name, revision,
                                             f"index-{revision.split(':', 1)[1]}.yaml")
        try:
            artifact, url = await asyncio.to_thread(self._store, artifact, index.to_bytes())
        except (StorageError, OSError, GenericError) as err:
            raise storage_failed(
                ctx, f"failed to store the index for revision '{revision}': {err}") from None
        ctx.status["artifact"] = artifact.to_dict()
        ctx.status["url"] = url
        mark_artifact_ready(ctx, SUCCEEDED, stored_message(revision))
        await ctx.events.normal(
            NEW_ARTIFACT, f"fetched index of size {human_size(run.size)} from '{obj.spec.url}'",
            revision=revision, digest=artifact.digest or "")
        return None

    def _store(self, artifact: Artifact, data: bytes) -> tuple[Artifact, str]:
        return store_artifact(self.storage, artifact,
                              lambda a: self.storage.write_bytes(a, data), INDEX_LINK)

    # --- finalize --------------------------------------------------------------------------

    async def finalize(self, ctx: ReconcileContext[HelmRepository]) -> None:
        obj = ctx.obj
        await remove_artifacts(self.storage, KIND, obj.namespace, obj.name)


def helmrepo_reconciler(source: SourceContext) -> Reconciler[HelmRepository]:
    """The HelmRepository reconciler (for `handlers.RECONCILER_FACTORIES`)."""
    return HelmRepositoryReconciler(source).reconciler()
