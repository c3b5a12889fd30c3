"""The Bucket reconciler (`generic` S3 provider): list a bucket, download what changed, pack it.

Phases, in order (each sets only its own conditions):

1. `storage` (shared `storage_phase`): old artifacts collected, the stored artifact
   checked, `ArtifactInStorage`.
2. `fetch`: `spec.provider` (generic; aws with static keys), `spec.endpoint` (+
   `insecure`), the Secret's `accesskey`/`secretkey`, `certSecretRef`, `proxySecretRef`.
   The bucket must exist (HEAD). The root `.sourceignore` is read, every object under
   `spec.prefix` listed (ListObjectsV2, all pages); keys ending in `/`, the
   `.sourceignore` itself and what the ignore rules exclude (defaults, the root
   `.sourceignore`, then `spec.ignore`) are left out. The revision is `sha256:` over the
   sorted `"<key> <etag>"` lines (`_s3.etag_revision`). When it is the stored
   artifact's revision, nothing is downloaded. Otherwise the objects are downloaded into a
   working tree; objects whose ETag did not change since the last artifact this process
   built are taken from that artifact instead of the bucket. `FetchFailed`
   (BucketOperationFailed | AuthenticationFailed), `ArtifactOutdated` (NewRevision).
3. `artifact`: the tree archived as `<revision hex>.tar.gz`, `latest.tar.gz` linked;
   `status.artifact`, `status.url`, `observedIgnore`; Ready "stored artifact for revision
   '…'"; the `NewArtifact` event "stored artifact with N fetched files from '<bucket>'
   bucket".

A failure keeps the last artifact. Blocking work runs in worker threads bounded by
`spec.timeout`; deleting the object removes its storage.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from afflux.api import Artifact, Bucket
from afflux.api._meta import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    AUTHENTICATION_FAILED,
    BUCKET_OPERATION_FAILED,
    FETCH_FAILED,
    NEW_ARTIFACT,
    NEW_REVISION,
    SOURCE_GROUP,
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
    UnsafeArchiveError,
    safe_extract,
)

from ._common_phases import (
    Scratch,
    SourceReconcilerBase,
    artifact_from_status,
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
from ._ignore import IGNORE_FILE, Matcher, bucket_matcher, split_path
from ._remote import proxy_address, run_blocking, tls_material
from ._s3 import S3Client, S3Error, etag_revision, parse_endpoint
from ._storage import Storage, StorageError
from ._transport import TLSMaterial

__all__ = [
    "BUCKET",
    "Plan",
    "bucket_reconciler",
    "build_index",
    "check_key",
    "plan_download",
]

BUCKET = Resource(SOURCE_GROUP, Bucket.VERSION, Bucket.KIND, Bucket.PLURAL)
KIND = Bucket.KIND
DOWNLOAD_WORKERS = 4
MAX_OBJECT_SIZE = 1 << 30
SUPPORTED_PROVIDERS = ("generic", "aws")


# --- pure decisions -----------------------------------------------------------------------


def check_key(key: str) -> str:
    """The object key as a safe relative path, or ValueError (absolute, `..`, empty parts
    other than a trailing `/`)."""
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"object key {key!r} cannot be stored as a file")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"object key {key!r} cannot be stored as a file")
    return key


def build_index(objects: Mapping[str, str], matcher: Matcher) -> dict[str, str]:
    """key -> etag of the objects that go into the artifact (see the module docstring)."""
    index: dict[str, str] = {}
    for key, etag in objects.items():
        if key.endswith("/") or key == IGNORE_FILE:
            continue
        if matcher.excluded(split_path(key), False):
            continue
        index[key] = etag
    return index


@dataclass(frozen=True)
class Plan:
    """What to do with a previous tree to get the new one."""

    download: tuple[str, ...]
    remove: tuple[str, ...]
    reuse: tuple[str, ...]


def plan_download(previous: Mapping[str, str] | None, current: Mapping[str, str]) -> Plan:
    """Which keys to download, which files of the previous tree to delete, which to keep."""
    if previous is None:
        return Plan(tuple(sorted(current)), (), ())
    download = sorted(k for k, e in current.items() if previous.get(k) != e)
    remove = sorted(k for k in previous if k not in current or previous[k] != current[k])
    reuse = sorted(k for k, e in current.items() if previous.get(k) == e)
    return Plan(tuple(download), tuple(remove), tuple(reuse))


# --- per-reconcile state ---------------------------------------------------------------------


@dataclass
class _BucketRun(Scratch):
    index: dict[str, str] = field(default_factory=dict)
    revision: str | None = None
    tree: Path | None = None
    build: bool = False


@dataclass(frozen=True)
class _Built:
    """The last artifact this process built for an object, with the index behind it."""

    digest: str
    index: dict[str, str]


def _fail(err: S3Error, what: str) -> GenericError:
    return GenericError(BUCKET_OPERATION_FAILED, f"{what}: {err.message}")


class BucketReconciler(SourceReconcilerBase[_BucketRun]):
    """The phases of a Bucket, bound to the operator's `SourceContext`."""

    run_type = _BucketRun

    def __init__(self, source: SourceContext) -> None:
        super().__init__(source)
        self._built: dict[tuple[str, str], _Built] = {}
        self._built_lock = threading.Lock()

    def reconciler(self) -> Reconciler[Bucket]:
        return self.wire(
            BUCKET, KIND, Bucket.from_dict,
            [self.phase_fetch, self.phase_artifact],
        )

    # --- phase: fetch ------------------------------------------------------------------

    async def _client(self, ctx: ReconcileContext[Bucket]) -> S3Client:
        obj = ctx.obj
        spec = obj.spec
        provider = spec.provider or "generic"
        if provider not in SUPPORTED_PROVIDERS or (provider == "aws" and not spec.secret_ref):
            raise StallingError(
                BUCKET_OPERATION_FAILED,
                f"spec.provider '{provider}' is not supported by afflux: use 'generic' (or "
                "'aws' with static keys in spec.secretRef)")
        if spec.sts is not None:
            raise StallingError(BUCKET_OPERATION_FAILED,
                                "spec.sts is not supported by afflux: use static keys")
        try:
            parse_endpoint(spec.endpoint, bool(spec.insecure))
        except S3Error as err:
            raise StallingError(BUCKET_OPERATION_FAILED, err.message) from None
        access_key = secret_key = None
        if spec.secret_ref is not None:
            data = await read_secret(ctx.kube, obj.namespace, spec.secret_ref.name,
                                     "spec.secretRef")
            access, secret = data.get("accesskey"), data.get("secretkey")
            if not access or not secret:
                raise GenericError(
                    AUTHENTICATION_FAILED,
                    f"invalid '{obj.namespace}/{spec.secret_ref.name}' secret data: required "
                    "fields 'accesskey' and 'secretkey'")
            access_key, secret_key = access.decode().strip(), secret.decode().strip()
        tls: TLSMaterial | None = await tls_material(
            ctx, spec.cert_secret_ref.name if spec.cert_secret_ref else None)
        proxy = await proxy_address(
            ctx, spec.proxy_secret_ref.name if spec.proxy_secret_ref else None)
        return S3Client(spec.endpoint, access_key=access_key, secret_key=secret_key,
                        region=spec.region, insecure=bool(spec.insecure), tls=tls,
                        timeout=self._timeout(obj), proxy=proxy)

    @staticmethod
    def _timeout(obj: Bucket) -> float:
        timeout = obj.timeout or Bucket.DEFAULT_TIMEOUT or 60.0
        return timeout if timeout > 0 else 60.0

    async def phase_fetch(self, ctx: ReconcileContext[Bucket]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        current = current_artifact(ctx)
        try:
            client = await self._client(ctx)
        except ReconcileError as err:
            raise fetch_failed(ctx, err) from None
        timeout = self._timeout(obj)
        bucket, prefix = obj.spec.bucket_name, obj.spec.prefix or None
        try:
            index = await run_blocking(
                timeout, f"listing bucket '{bucket}'", _list_index, client, bucket, prefix,
                obj.spec.ignore, on_timeout=lambda m: GenericError(BUCKET_OPERATION_FAILED, m))
            revision = etag_revision(index)
            ctx.event_metadata["revision"] = revision
            run.index, run.revision = index, revision
            stored = current is not None and ctx.conditions.is_true(ARTIFACT_IN_STORAGE)
            if (stored and current is not None and current.revision == revision
                    and ctx.status.get("observedIgnore") == obj.spec.ignore):
                ctx.conditions.remove(FETCH_FAILED)
                ctx.conditions.remove(ARTIFACT_OUTDATED)
                client.close()
                return None
            if current is None or current.revision != revision:
                ctx.conditions.mark_true(ARTIFACT_OUTDATED, NEW_REVISION,
                                         f"new upstream revision '{revision}'")
            workdir = await asyncio.to_thread(run.workdir, "afflux-bucket-")
            previous = self._previous(obj, current)
            run.tree = await run_blocking(
                timeout, f"downloading bucket '{bucket}'", self._download, client, bucket,
                index, workdir, current, previous,
                on_timeout=lambda m: GenericError(BUCKET_OPERATION_FAILED, m))
        except ReconcileError as err:
            raise fetch_failed(ctx, err) from None
        finally:
            client.close()
        run.build = True
        ctx.conditions.remove(FETCH_FAILED)
        return None

    def _previous(self, obj: Bucket, current: Artifact | None) -> dict[str, str] | None:
        """The index of the stored artifact, when this process built it."""
        if current is None or not current.digest:
            return None
        with self._built_lock:
            built = self._built.get((obj.namespace, obj.name))
        if built is None or built.digest != current.digest:
            return None
        return built.index

    def _download(self, client: S3Client, bucket: str, index: dict[str, str], workdir: Path,
                  current: Artifact | None, previous: dict[str, str] | None) -> Path:
        tree = workdir / "tree"
        plan = plan_download(None, index)
        if previous is not None and current is not None:
            try:
                with self.storage.lock_artifact(current):
                    safe_extract(self.storage.local_path(current), tree,
                                 expected_digest=current.digest)
                plan = plan_download(previous, index)
                for key in plan.remove:
                    path = tree / check_key(key)
                    if path.is_file():
                        path.unlink()
            except (OSError, StorageError, UnsafeArchiveError, ValueError):
                shutil.rmtree(tree, ignore_errors=True)
                plan = plan_download(None, index)
        tree.mkdir(parents=True, exist_ok=True)
        keys = list(plan.download)
        for key in keys:
            try:
                check_key(key)
            except ValueError as err:
                raise GenericError(BUCKET_OPERATION_FAILED, str(err)) from None
        _fetch_all(client, bucket, keys, tree)
        return tree

    # --- phase: artifact -----------------------------------------------------------------

    async def phase_artifact(self, ctx: ReconcileContext[Bucket]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        if not run.build:
            confirm_stored(ctx)
            return None
        assert run.tree is not None and run.revision is not None
        revision = run.revision
        artifact = self.storage.new_artifact(KIND, obj.namespace, obj.name, revision,
                                             f"{revision.split(':', 1)[1]}.tar.gz")
        try:
            artifact, url = await asyncio.to_thread(_store, self.storage, artifact, run.tree)
        except (StorageError, OSError, GenericError) as err:
            raise storage_failed(
                ctx, f"failed to store the artifact for revision '{revision}': {err}") from None
        finally:
            await asyncio.to_thread(run.cleanup)
        with self._built_lock:
            self._built[(obj.namespace, obj.name)] = _Built(artifact.digest or "", run.index)
        previous = artifact_from_status(ctx.status)
        ctx.status["artifact"] = artifact.to_dict()
        ctx.status["url"] = url
        ctx.status["observedIgnore"] = obj.spec.ignore
        mark_artifact_ready(ctx, SUCCEEDED, stored_message(revision))
        if previous is None or previous.digest != artifact.digest:
            await ctx.events.normal(
                NEW_ARTIFACT, f"stored artifact with {len(run.index)} fetched files from "
                f"'{obj.spec.bucket_name}' bucket", revision=revision,
                digest=artifact.digest or "")
        return None

    # --- finalize --------------------------------------------------------------------------

    async def finalize(self, ctx: ReconcileContext[Bucket]) -> None:
        obj = ctx.obj
        with self._built_lock:
            self._built.pop((obj.namespace, obj.name), None)
        await remove_artifacts(self.storage, KIND, obj.namespace, obj.name)


# --- blocking helpers -------------------------------------------------------------------------


def _list_index(client: S3Client, bucket: str, prefix: str | None, ignore: str | None
                ) -> dict[str, str]:
    """The filtered key -> etag index of the bucket (see the module docstring)."""
    try:
        exists = client.bucket_exists(bucket)
    except S3Error as err:
        raise _fail(err, f"failed to confirm existence of '{bucket}' bucket") from None
    if not exists:
        raise GenericError(BUCKET_OPERATION_FAILED, f"bucket '{bucket}' not found")
    sourceignore = _read_sourceignore(client, bucket)
    matcher = bucket_matcher(sourceignore, ignore)
    try:
        objects = {o.key: o.etag for o in client.iter_objects(bucket, prefix)}
    except S3Error as err:
        raise _fail(err, f"failed to list objects from bucket '{bucket}'") from None
    return build_index(objects, matcher)


def _read_sourceignore(client: S3Client, bucket: str) -> str | None:
    out = io.BytesIO()
    try:
        client.get_object(bucket, IGNORE_FILE, out, max_size=1 << 20)
    except S3Error as err:
        if err.kind == "not_found":
            return None
        raise _fail(err, f"failed to get '{IGNORE_FILE}' file") from None
    return out.getvalue().decode("utf-8", errors="replace")


def _fetch_all(client: S3Client, bucket: str, keys: list[str], tree: Path) -> None:
    """Download `keys` into `tree` with a few parallel workers."""
    if not keys:
        return

    def fetch(key: str) -> None:
        target = tree / key
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            raise GenericError(BUCKET_OPERATION_FAILED,
                               f"object key '{key}' is below another object's key") from None
        if target.is_dir():
            raise GenericError(BUCKET_OPERATION_FAILED,
                               f"object key '{key}' is also a prefix of other keys")
        tmp = target.with_name(f".{target.name}.part")
        try:
            with open(tmp, "wb") as out:
                client.get_object(bucket, key, out, max_size=MAX_OBJECT_SIZE)
            os.replace(tmp, target)
        except S3Error as err:
            raise _fail(err, f"failed to get '{key}' object") from None
        except OSError as err:
            raise GenericError(BUCKET_OPERATION_FAILED,
                               f"cannot write object '{key}': {err.strerror or err}") from None
        finally:
            if tmp.exists():
                tmp.unlink()

    with concurrent.futures.ThreadPoolExecutor(DOWNLOAD_WORKERS,
                                               thread_name_prefix="bucket") as pool:
        futures = [pool.submit(fetch, key) for key in keys]
        for future in concurrent.futures.as_completed(futures):
            future.result()


def _store(storage: Storage, artifact: Artifact, tree: Path) -> tuple[Artifact, str]:
    return store_artifact(storage, artifact, lambda a: storage.archive(a, tree, None))


def bucket_reconciler(source: SourceContext) -> Reconciler[Bucket]:
    """The Bucket reconciler (for `handlers.RECONCILER_FACTORIES`)."""
    return BucketReconciler(source).reconciler()
