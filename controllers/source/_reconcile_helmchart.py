"""The HelmChart reconciler: pull or package a Helm chart from its source, publish the .tgz.

Phases, in order (each sets only its own conditions):

1. `storage` (shared `storage_phase`): old packages collected, the stored one checked,
   `ArtifactInStorage`.
2. `build`: the source (`spec.sourceRef`, same namespace) is read; a kind other than
   HelmRepository, GitRepository or Bucket stalls (UnsupportedSourceKind); a missing
   source is retried (SourceUnavailable); a source without an artifact is waited for
   (NoSourceArtifact). `status.observedSourceArtifactRevision` records the source's
   artifact revision. Then, by source:
   - HelmRepository (default type): the version is chosen from the stored index (an exact
     version, else the newest in the `spec.version` range, `*` by default; none matching
     stalls with InvalidChartReference) and the package downloaded from the URL the index
     names, with the repository's credentials (to its own host only, unless
     `passCredentials`) and TLS. With `valuesFiles` (paths inside the chart) the chart is
     repackaged with the merged values and version `<version>+<generation>`.
   - HelmRepository of type oci: the tags of `oci://<repo>/<chart>` give the versions (`_`
     read as `+`); the chart layer is pulled with the repository's registry credentials,
     TLS and `insecure` (a repository whose `spec.provider` is a cloud one fails the chart
     with AuthenticationFailed, retried: afflux has no cloud registry login). With `spec.verify` (OCI HelmRepositories only), the version's
     manifest digest is verified first, at every reconcile unless that digest was
     verified for this generation already (`_ociverify`; SourceVerified "verified
     signature of version <v>"), and the chart is pulled by that digest; a failure is
     BuildFailed/ChartVerificationError with SourceVerified False, and the last chart
     stays.
   - GitRepository / Bucket: the source artifact is downloaded from its URL, its digest
     checked, unpacked safely; `spec.chart` is the chart's directory in it; dependencies
     are built with `helm dependency build` when the chart declares any; `valuesFiles`
     (paths in the source) are merged into its values.yaml; `reconcileStrategy: Revision`
     appends `+<12 hex of the source revision>` to the version; the chart is packaged with
     the real `helm package`.
   Nothing is downloaded or built when the stored package already is what the spec and the
   source ask for (same chart, version, values files and generation). `FetchFailed`
   (ChartPullFailed | ChartPackageFailed | InvalidChartReference | AuthenticationFailed |
   SourceUnavailable | NoSourceArtifact | IllegalPath), `ArtifactOutdated` (NewChart).
3. `artifact`: the package stored as `<chart>-<version>.tgz` (revision: the version),
   `latest.tar.gz` linked; `observedChartName`, `observedValuesFiles`; Ready
   "pulled '<chart>' chart with version '<v>'" (ChartPullSucceeded) or "packaged …"
   (ChartPackageSucceeded), and an event of that reason for a new package.

A HelmChart is reconciled again whenever the artifact of its source changes. A failure
keeps the last package. Deleting the object removes its storage.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from afflux.api import Artifact, Bucket, GitRepository, HelmChart, HelmRepository
from afflux.api._meta import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    AUTHENTICATION_FAILED,
    BUILD_FAILED_CONDITION,
    CHART_PACKAGE_SUCCEEDED,
    CHART_PULL_SUCCEEDED,
    FETCH_FAILED,
    READY,
    SOURCE_GROUP,
    SOURCE_VERIFIED,
    VERIFICATION_ERROR,
)
from afflux.controllers.runtime import (
    GenericError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    ReconcileError,
    Reconciler,
    Resource,
    StallingError,
    UnsafeArchiveError,
    WaitingError,
    safe_extract,
)

from ._common_phases import (
    Scratch,
    SourceReconcilerBase,
    artifact_from_status,
    current_artifact,
    fetch_failed,
    mark_artifact_ready,
    read_secret,
    remove_artifacts,
    storage_failed,
    store_artifact,
)
from ._context import SourceContext
from ._helmchart import (
    CHART_PULL_FAILED,
    INVALID_CHART_REFERENCE,
    ChartError,
    ChartMeta,
    Helm,
    chart_path,
    check_chart_files,
    load_values_files,
    read_chart_archive,
    read_chart_dir,
    revision_metadata,
    select_version,
    with_metadata,
)
from ._helmindex import HelmIndex, HelmIndexError, parse_index, resolve_url
from ._oci import (
    HELM_CHART_CONTENT_MEDIA_TYPE,
    OCIURL,
    RegistryClient,
    RegistryError,
    chart_tag_version,
    chart_version_tag,
    parse_oci_url,
    select_layer,
)
from ._ociverify import verify_source
from ._remote import (
    basic_auth,
    registry_credentials,
    registry_provider_refusal,
    run_blocking,
    tls_material,
)
from ._storage import StorageError
from ._transport import TLSConfigError, TLSMaterial, http_session

__all__ = [
    "HELM_CHART",
    "SOURCE_KINDS",
    "chart_artifact_name",
    "charts_using",
    "helmchart_reconciler",
    "ready_for",
]


def _resource(model: Any) -> Resource:
    return Resource(SOURCE_GROUP, model.VERSION, model.KIND, model.PLURAL)


HELM_CHART = _resource(HelmChart)
SOURCE_KINDS: dict[str, Resource] = {
    HelmRepository.KIND: _resource(HelmRepository),
    GitRepository.KIND: _resource(GitRepository),
    Bucket.KIND: _resource(Bucket),
}
KIND = HelmChart.KIND
SOURCE_UNAVAILABLE = "SourceUnavailable"
NO_SOURCE_ARTIFACT = "NoSourceArtifact"
UNSUPPORTED_SOURCE_KIND = "UnsupportedSourceKind"
NEW_CHART = "NewChart"
CHART_VERIFICATION_ERROR = "ChartVerificationError"
REVISION_STRATEGY = "Revision"
PACKAGE_TIMEOUT = 300.0


# --- pure ----------------------------------------------------------------------------------


def chart_artifact_name(name: str, version: str) -> str:
    return f"{name}-{version}.tgz"


def ready_for(name: str, version: str, packaged: bool) -> tuple[str, str]:
    """Ready's reason and message (Flux's) for a chart pulled as is, or packaged."""
    if packaged:
        return CHART_PACKAGE_SUCCEEDED, f"packaged '{name}' chart with version '{version}'"
    return CHART_PULL_SUCCEEDED, f"pulled '{name}' chart with version '{version}'"


def chart_uses(body: Mapping[str, Any], kind: str, namespace: str, name: str) -> bool:
    """Whether the HelmChart `body` is in `namespace` and its sourceRef is `kind`/`name`."""
    ref = (body.get("spec") or {}).get("sourceRef") or {}
    return ((body.get("metadata") or {}).get("namespace") == namespace
            and ref.get("kind") == kind and ref.get("name") == name)


def charts_using(objects: Sequence[Mapping[str, Any]], kind: str, namespace: str,
                 name: str) -> list[str]:
    """Names of the HelmCharts in `namespace` whose sourceRef is `kind`/`name`."""
    return [str((body.get("metadata") or {}).get("name")) for body in objects
            if chart_uses(body, kind, namespace, name)]


# --- per-reconcile state ---------------------------------------------------------------------


@dataclass
class _ChartRun(Scratch):
    package: Path | None = None  # a new package to store (None: keep the stored one)
    name: str = ""
    version: str = ""
    packaged: bool = False
    values_found: list[str] | None = None
    keep: bool = False


def _values_files(spec: HelmChart) -> list[str]:
    files = list(spec.spec.values_files or [])
    if spec.spec.values_file and spec.spec.values_file not in files:
        files.insert(0, spec.spec.values_file)
    return files


class HelmChartReconciler(SourceReconcilerBase[_ChartRun]):
    """The phases of a HelmChart, bound to the operator's `SourceContext`."""

    run_type = _ChartRun

    def __init__(self, source: SourceContext) -> None:
        super().__init__(source)
        #: object uid -> (generation, manifest digest) last verified
        self._verified: dict[str, tuple[int | None, str]] = {}

    def reconciler(self) -> Reconciler[HelmChart]:
        return self.wire(
            HELM_CHART, KIND, HelmChart.from_dict,
            [self.phase_build, self.phase_artifact],
        )

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _as_error(err: ChartError) -> ReconcileError:
        if err.reason in (INVALID_CHART_REFERENCE, "IllegalPath"):
            return StallingError(err.reason, err.message)
        return GenericError(err.reason, err.message)

    @staticmethod
    def _forced(ctx: ReconcileContext[HelmChart]) -> bool:
        """Flux rebuilds when the spec changed since the last Ready or Stalled result."""
        observed = (ctx.body.get("status") or {}).get("observedGeneration")
        return observed != ctx.obj.generation

    def _stored(self, ctx: ReconcileContext[HelmChart]) -> Artifact | None:
        current = artifact_from_status(ctx.status)
        if current is None or not ctx.conditions.is_true(ARTIFACT_IN_STORAGE):
            return None
        return current

    def _can_keep(self, ctx: ReconcileContext[HelmChart], name: str, version: str) -> bool:
        """Whether the stored package already is `name` at `version` for this generation
        (an unchanged generation means unchanged values files too)."""
        current = self._stored(ctx)
        return (current is not None and not self._forced(ctx) and current.revision == version
                and ctx.status.get("observedChartName") == name)

    # --- phase: build ----------------------------------------------------------------------

    async def phase_build(self, ctx: ReconcileContext[HelmChart]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        ref = obj.spec.source_ref
        current = current_artifact(ctx)
        resource = SOURCE_KINDS.get(ref.kind)
        if resource is None:
            raise fetch_failed(ctx, StallingError(
                UNSUPPORTED_SOURCE_KIND, f"unsupported source kind '{ref.kind}': use "
                "HelmRepository, GitRepository or Bucket"))
        if obj.spec.verify is None:
            ctx.conditions.remove(SOURCE_VERIFIED)
        body = await ctx.kube.get(ObjectRef(resource, obj.namespace, ref.name))
        if body is None:
            raise fetch_failed(ctx, GenericError(
                SOURCE_UNAVAILABLE, f"failed to get source: {ref.kind} "
                f"'{obj.namespace}/{ref.name}' not found"))
        oci = ref.kind == HelmRepository.KIND and (body.get("spec") or {}).get("type") == "oci"
        if obj.spec.verify is not None and not oci:  # the schema's rule, for older servers
            raise fetch_failed(ctx, StallingError(
                VERIFICATION_ERROR, "spec.verify applies to charts of an OCI HelmRepository "
                f"only; {ref.kind} '{ref.name}' is not one: remove spec.verify"))
        try:
            if oci:
                await self._from_oci(ctx, HelmRepository.from_dict(body), run)
            else:
                artifact = artifact_from_status(body.get("status") or {})
                if artifact is None:
                    message = f"no artifact available for {ref.kind} source '{ref.name}'"
                    ctx.conditions.mark_true(FETCH_FAILED, NO_SOURCE_ARTIFACT, message)
                    raise WaitingError(NO_SOURCE_ARTIFACT, message)
                previous = ctx.status.get("observedSourceArtifactRevision")
                ctx.status["observedSourceArtifactRevision"] = artifact.revision
                if ref.kind == HelmRepository.KIND:
                    await self._from_index(ctx, HelmRepository.from_dict(body), artifact, run)
                else:
                    await self._from_tarball(ctx, artifact, previous, run)
        except ChartError as err:
            raise fetch_failed(ctx, self._as_error(err)) from None
        except RegistryError as err:
            reason = AUTHENTICATION_FAILED if err.kind == "auth" else CHART_PULL_FAILED
            raise fetch_failed(ctx, GenericError(reason, err.message)) from None
        except WaitingError:
            raise
        except ReconcileError as err:
            if err.reason == CHART_VERIFICATION_ERROR:
                raise  # BuildFailed and SourceVerified are set already
            raise fetch_failed(ctx, err) from None
        ctx.conditions.remove(FETCH_FAILED)
        ctx.conditions.remove(BUILD_FAILED_CONDITION)
        ctx.event_metadata["revision"] = run.version
        if not run.keep and (current is None or current.revision != run.version):
            ctx.conditions.mark_true(ARTIFACT_OUTDATED, NEW_CHART,
                                     f"new chart version '{run.version}'")
        return None

    # HelmRepository (default) -----------------------------------------------------------------

    async def _load_index(self, ctx: ReconcileContext[HelmChart], artifact: Artifact,
                          timeout: float) -> HelmIndex:
        """The parsed index of the repository's artifact: from the cache of parsed indexes
        (`--helm-cache-max-size`) when it holds this file at this digest, else read (from
        storage, or its URL) and parsed, and cached."""
        cache = self.source.helm_index_cache
        key = (artifact.path, artifact.digest or artifact.revision)
        obj = ctx.obj

        def event(kind: str) -> None:
            if cache.enabled and self.source.cache_event is not None:
                self.source.cache_event(kind, obj.name, obj.namespace)

        def load() -> HelmIndex:
            cached = cache.get(*key)
            if cached is not None:
                event("hit")
                return cached
            event("miss")
            try:
                limit = self.source.helm_limits.index
                if self.storage.verify(artifact):
                    index = parse_index(self.storage.local_path(artifact).read_bytes(),
                                        max_size=limit)
                else:
                    response = requests.get(artifact.url, timeout=timeout)
                    response.raise_for_status()
                    index = parse_index(response.content, max_size=limit)
            except (HelmIndexError, OSError, requests.RequestException, StorageError) as err:
                raise ChartError(CHART_PULL_FAILED,
                                 f"failed to load the repository index: {err}") from None
            if not cache.set(*key, index) and cache.enabled:
                ctx.logger.warning("the Helm index cache is full (--helm-cache-max-size="
                                   f"{cache.max_size}): the index is read from its file")
            return index

        return await asyncio.to_thread(load)

    async def _repo_tls(self, ctx: ReconcileContext[HelmChart], repo: HelmRepository
                        ) -> TLSMaterial | None:
        if repo.spec.cert_secret_ref is not None:
            return await tls_material(ctx, repo.spec.cert_secret_ref.name,
                                      "the HelmRepository's spec.certSecretRef")
        if repo.spec.secret_ref is not None:  # deprecated: TLS keys in spec.secretRef
            data = await read_secret(ctx.kube, repo.namespace, repo.spec.secret_ref.name,
                                     "the HelmRepository's spec.secretRef")
            try:
                material = TLSMaterial.from_secret(data)
            except TLSConfigError as err:
                raise GenericError(AUTHENTICATION_FAILED, str(err)) from None
            return None if material.empty else material
        return None

    async def _from_index(self, ctx: ReconcileContext[HelmChart], repo: HelmRepository,
                          artifact: Artifact, run: _ChartRun) -> None:
        obj = ctx.obj
        timeout = repo.timeout or 60.0
        index = await self._load_index(ctx, artifact, timeout)
        chart = obj.spec.chart
        entries = index.entries.get(chart)
        if not entries:
            raise ChartError(INVALID_CHART_REFERENCE,
                             f"invalid chart reference: no chart name found: chart '{chart}' "
                             f"is not in the index of HelmRepository '{repo.name}'")
        version = select_version([str(e.get("version", "")) for e in entries],
                                 obj.spec.version, chart)
        entry = index.get(chart, version)
        values_files = _values_files(obj)
        final = with_metadata(version, str(obj.generation)) if values_files else version
        run.name, run.version, run.packaged = chart, final, bool(values_files)
        if self._can_keep(ctx, chart, final):
            run.keep = True
            run.values_found = ctx.status.get("observedValuesFiles")
            return
        if not entry.urls:
            raise ChartError(CHART_PULL_FAILED, f"chart '{chart}' version '{version}' has no "
                             "download URL in the index")
        url = resolve_url(repo.spec.url, entry.urls[0])
        username, password = await basic_auth(
            ctx, repo.spec.secret_ref.name if repo.spec.secret_ref else None)
        tls = await self._repo_tls(ctx, repo)
        workdir = await asyncio.to_thread(run.workdir, "afflux-helmchart-")
        download = workdir / chart_artifact_name(chart, version)
        await run_blocking(timeout, f"downloading {url}", _download_chart, url, download,
                           repo_url=repo.spec.url, username=username, password=password,
                           pass_credentials=bool(repo.spec.pass_credentials), tls=tls,
                           timeout=timeout, max_size=self.source.helm_limits.chart,
                           on_timeout=lambda m: GenericError(CHART_PULL_FAILED, m))
        meta = await asyncio.to_thread(read_chart_archive, download)
        run.name = meta.name
        await self._finish_pulled(ctx, run, download, workdir, version, final, values_files)

    async def _finish_pulled(self, ctx: ReconcileContext[HelmChart], run: _ChartRun,
                             download: Path, workdir: Path, version: str, final: str,
                             values_files: list[str]) -> None:
        """Use a pulled package as is, or repackaged with the values files."""
        if not values_files:
            run.package, run.values_found = download, None
            return
        helm = Helm(workdir / "helm-home", timeout=PACKAGE_TIMEOUT)
        packaged, found = await asyncio.to_thread(
            helm.repackage, download, workdir, version=final, values_files=values_files,
            ignore_missing=bool(ctx.obj.spec.ignore_missing_values_files),
            max_file_size=self.source.helm_limits.chart_file)
        run.package, run.values_found = packaged, found

    # HelmRepository (oci) -------------------------------------------------------------------

    async def _from_oci(self, ctx: ReconcileContext[HelmChart], repo: HelmRepository,
                        run: _ChartRun) -> None:
        obj = ctx.obj
        chart = obj.spec.chart
        refusal = registry_provider_refusal(repo.spec.provider)
        if refusal is not None:
            raise ChartError(AUTHENTICATION_FAILED, f"HelmRepository '{repo.name}': {refusal}")
        try:
            url = parse_oci_url(repo.spec.url).child(chart)
        except RegistryError as err:
            raise ChartError(CHART_PULL_FAILED, f"invalid OCI registry URL: {err.message}"
                             ) from None
        creds = await registry_credentials(
            ctx, url.host, repo.spec.secret_ref.name if repo.spec.secret_ref else None)
        tls = await tls_material(
            ctx, repo.spec.cert_secret_ref.name if repo.spec.cert_secret_ref else None,
            "the HelmRepository's spec.certSecretRef")
        timeout = repo.timeout or 60.0
        client = RegistryClient(url.host, credentials=creds, tls=tls,
                                insecure=bool(repo.spec.insecure), timeout=timeout)
        try:
            tags = await run_blocking(timeout, f"listing the tags of {url}", client.tags,
                                      url.repository,
                                      on_timeout=lambda m: GenericError(CHART_PULL_FAILED, m))
            version = select_version([chart_tag_version(t) for t in tags], obj.spec.version,
                                     chart)
            values_files = _values_files(obj)
            final = with_metadata(version, str(obj.generation)) if values_files else version
            run.name, run.version, run.packaged = chart, final, bool(values_files)
            reference = chart_version_tag(version)
            if obj.spec.verify is not None:  # verified first; then pulled by that digest
                reference = await run_blocking(
                    timeout, f"resolving {url}:{version}", _chart_digest, client,
                    url.repository, reference,
                    on_timeout=lambda m: GenericError(CHART_PULL_FAILED, m))
                await self._verify_chart(ctx, client, url, reference, version, timeout)
            if self._can_keep(ctx, chart, final):
                run.keep = True
                run.values_found = ctx.status.get("observedValuesFiles")
                return
            workdir = await asyncio.to_thread(run.workdir, "afflux-helmchart-")
            download = workdir / chart_artifact_name(chart, version)
            await run_blocking(timeout, f"pulling {url}:{version}", _pull_oci_chart, client,
                               url.repository, reference, download,
                               self.source.helm_limits.chart,
                               on_timeout=lambda m: GenericError(CHART_PULL_FAILED, m))
        finally:
            client.close()
        meta = await asyncio.to_thread(read_chart_archive, download)
        run.name = meta.name
        await self._finish_pulled(ctx, run, download, workdir, version, final, values_files)

    async def _verify_chart(self, ctx: ReconcileContext[HelmChart], client: RegistryClient,
                            url: OCIURL, digest: str, version: str, timeout: float) -> None:
        """`spec.verify` on the chart's manifest digest, unless that digest was verified for
        this generation already (remembered in memory: a restart verifies once more).
        A failure is BuildFailed (ChartVerificationError) with SourceVerified False, as
        in Flux."""
        obj = ctx.obj
        key = obj.metadata.uid or f"{obj.namespace}/{obj.name}"
        done = (obj.generation, digest)
        if self._verified.get(key) == done and ctx.conditions.is_true(SOURCE_VERIFIED):
            return
        self._verified.pop(key, None)
        try:
            result = await verify_source(ctx, obj.spec.verify, client, url, digest,
                                         f"version {version}", timeout,
                                         reason=CHART_VERIFICATION_ERROR)
        except ReconcileError as err:
            ctx.conditions.remove(FETCH_FAILED)
            ctx.conditions.mark_true(BUILD_FAILED_CONDITION, CHART_VERIFICATION_ERROR,
                                     err.message)
            raise
        if result.verified:
            self._verified[key] = done

    # GitRepository / Bucket --------------------------------------------------------------------

    async def _from_tarball(self, ctx: ReconcileContext[HelmChart], artifact: Artifact,
                            previous_revision: str | None, run: _ChartRun) -> None:
        obj = ctx.obj
        path = chart_path(obj.spec.chart)
        values_files = _values_files(obj)
        current = self._stored(ctx)
        ready = ctx.conditions.get(READY)
        if (current is not None and not self._forced(ctx) and previous_revision == artifact.revision
                and ready is not None and ready.get("status") == "True"
                and ctx.status.get("observedChartName")):
            # the source did not move since the last good build: nothing to do
            run.keep, run.packaged = True, True
            run.name, run.version = ctx.status["observedChartName"], current.revision
            run.values_found = ctx.status.get("observedValuesFiles")
            return
        workdir = await asyncio.to_thread(run.workdir, "afflux-helmchart-")
        source_dir = workdir / "source"
        await run_blocking(PACKAGE_TIMEOUT, f"downloading the {obj.spec.source_ref.kind} "
                           "artifact", _fetch_source, artifact, source_dir,
                           on_timeout=lambda m: GenericError(CHART_PULL_FAILED, m))
        chart_dir = source_dir / path if path else source_dir
        meta: ChartMeta = await asyncio.to_thread(read_chart_dir, chart_dir)
        version = meta.version
        if obj.spec.reconcile_strategy == REVISION_STRATEGY:
            version = with_metadata(version, revision_metadata(artifact.revision))
        run.name, run.version, run.packaged = meta.name, version, True
        values: dict[str, Any] | None = None
        if values_files:
            values, found = await asyncio.to_thread(
                load_values_files, source_dir, values_files,
                bool(obj.spec.ignore_missing_values_files), self.source.helm_limits.chart_file)
            run.values_found = found
            values = values if found else None
        if (current is not None and not self._forced(ctx) and current.revision == version
                and ctx.status.get("observedChartName") == meta.name
                and (ctx.status.get("observedValuesFiles") or None) == (run.values_found or None)):
            run.keep = True  # same chart version: the stored package stands (ChartVersion)
            return
        await asyncio.to_thread(check_chart_files, chart_dir, self.source.helm_limits.chart_file)
        helm = Helm(workdir / "helm-home", timeout=PACKAGE_TIMEOUT)
        if meta.dependencies or (chart_dir / "requirements.yaml").is_file():
            await asyncio.to_thread(helm.dependency_build, chart_dir)
        run.package = await asyncio.to_thread(helm.package, chart_dir, workdir / "packaged",
                                              version=version, values=values)

    # --- phase: artifact -------------------------------------------------------------------

    async def phase_artifact(self, ctx: ReconcileContext[HelmChart]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        reason, message = ready_for(run.name, run.version, run.packaged)
        values_files = _values_files(obj)
        if run.keep:
            await asyncio.to_thread(run.cleanup)
            mark_artifact_ready(ctx, reason, message)
            return None
        assert run.package is not None
        artifact = self.storage.new_artifact(KIND, obj.namespace, obj.name, run.version,
                                             chart_artifact_name(run.name, run.version))
        try:
            artifact, url = await asyncio.to_thread(self._store, artifact, run.package)
        except (StorageError, OSError, GenericError) as err:
            raise storage_failed(ctx, f"failed to store the chart '{run.name}' version "
                                 f"'{run.version}': {err}") from None
        finally:
            await asyncio.to_thread(run.cleanup)
        previous = artifact_from_status(ctx.status)
        ctx.status["artifact"] = artifact.to_dict()
        ctx.status["url"] = url
        ctx.status["observedChartName"] = run.name
        ctx.status["observedValuesFiles"] = run.values_found if values_files else None
        mark_artifact_ready(ctx, reason, message)
        if previous is None or previous.digest != artifact.digest:
            await ctx.events.normal(reason, message, revision=run.version,
                                    digest=artifact.digest or "")
        return None

    def _store(self, artifact: Artifact, package: Path) -> tuple[Artifact, str]:
        return store_artifact(self.storage, artifact,
                              lambda a: self.storage.copy_file(a, package))

    # --- finalize and watches ----------------------------------------------------------------

    async def finalize(self, ctx: ReconcileContext[HelmChart]) -> None:
        obj = ctx.obj
        await remove_artifacts(self.storage, KIND, obj.namespace, obj.name)

    def watcher(self, kind: str) -> Any:
        """A callback for `watch_artifacts(kind)`: reconcile the charts built from it."""

        def on_change(event_type: str | None, body: Mapping[str, Any]) -> None:
            meta = body.get("metadata") or {}
            namespace, name = meta.get("namespace") or "", meta.get("name") or ""
            # every artifact change of the kind: keys only, no copy of every chart's body
            for chart_ns, chart in self.source.keys_where(
                    HELM_CHART, lambda b: chart_uses(b, kind, namespace, name)):
                self.source.trigger(HELM_CHART, chart_ns, chart)

        return on_change


# --- blocking helpers -------------------------------------------------------------------------


_CHART_FLAG = "source-controller's --helm-chart-max-size"


def _download_chart(url: str, dest: Path, *, repo_url: str, username: str | None,
                    password: str | None, pass_credentials: bool, tls: TLSMaterial | None,
                    timeout: float, max_size: int) -> None:
    """GET a chart package; basic auth only to the repository's host unless
    `pass_credentials` (requests drops it on redirects to other hosts by itself)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ChartError(CHART_PULL_FAILED, f"chart URL '{url}' is not http(s)")
    same_host = parts.netloc == urllib.parse.urlsplit(repo_url).netloc
    auth = (username, password) if username and (same_host or pass_credentials) else None
    try:
        session = http_session(tls)
    except TLSConfigError as err:
        raise GenericError(AUTHENTICATION_FAILED, str(err)) from None
    with session:
        try:
            with session.get(url, auth=auth, stream=True, timeout=timeout) as response:
                if response.status_code in (401, 403):
                    raise ChartError(CHART_PULL_FAILED, f"failed to download chart from '{url}': "
                                     f"HTTP {response.status_code}; check the credentials of "
                                     "the HelmRepository")
                if response.status_code != 200:
                    raise ChartError(CHART_PULL_FAILED, f"failed to download chart from '{url}': "
                                     f"HTTP {response.status_code}")
                size = 0
                with open(dest, "wb") as out:
                    for chunk in response.iter_content(1 << 20):
                        size += len(chunk)
                        if size > max_size:
                            raise ChartError(CHART_PULL_FAILED, f"chart at '{url}' is larger "
                                             f"than the limit of {max_size} bytes "
                                             f"({_CHART_FLAG})")
                        out.write(chunk)
        except requests.RequestException as err:
            raise ChartError(CHART_PULL_FAILED,
                             f"failed to download chart from '{url}': {err}") from None


def _chart_digest(client: RegistryClient, repository: str, tag: str) -> str:
    """The manifest digest a chart tag names now."""
    return client.head_digest(repository, tag) or client.manifest(repository, tag).digest


def _pull_oci_chart(client: RegistryClient, repository: str, tag: str, dest: Path,
                    max_size: int) -> None:
    manifest = client.manifest(repository, tag)
    try:
        layer = select_layer(manifest.data, HELM_CHART_CONTENT_MEDIA_TYPE)
    except RegistryError as err:
        raise ChartError(CHART_PULL_FAILED, f"{repository}:{tag} is not a Helm chart: "
                         f"{err.message}") from None
    size = layer.get("size")
    if isinstance(size, int) and size > max_size:
        raise ChartError(CHART_PULL_FAILED, f"chart {repository}:{tag} is {size} bytes, larger "
                         f"than the limit of {max_size} bytes ({_CHART_FLAG})")
    with open(dest, "wb") as out:
        client.fetch_blob(repository, layer, out, max_size=max_size)


def _fetch_source(artifact: Artifact, dest: Path) -> None:
    """Download a source artifact from its URL, verify its digest, unpack it safely."""
    if not artifact.url.startswith(("http://", "https://")):
        raise ChartError(CHART_PULL_FAILED, f"artifact URL '{artifact.url}' is not http(s)")
    try:
        with requests.get(artifact.url, stream=True, timeout=60) as response:
            if response.status_code != 200:
                raise ChartError(CHART_PULL_FAILED, f"failed to download the source artifact "
                                 f"'{artifact.url}': HTTP {response.status_code}")
            response.raw.decode_content = False  # the stored bytes, digest and all
            safe_extract(response.raw, dest, expected_digest=artifact.digest,
                         max_bytes=4 << 30)
    except UnsafeArchiveError as err:
        raise ChartError(CHART_PULL_FAILED, f"the source artifact is unusable: {err}") from None
    except requests.RequestException as err:
        raise ChartError(CHART_PULL_FAILED,
                         f"failed to download the source artifact: {err}") from None


# --- the factory ------------------------------------------------------------------------------


def helmchart_reconciler(source: SourceContext) -> Reconciler[HelmChart]:
    """The HelmChart reconciler (for `handlers.RECONCILER_FACTORIES`); it also watches the
    artifacts of HelmRepositories, GitRepositories and Buckets."""
    reconciler = HelmChartReconciler(source)
    for kind, resource in SOURCE_KINDS.items():
        source.watch_artifacts(resource, reconciler.watcher(kind))
    return reconciler.reconciler()
