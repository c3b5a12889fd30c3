"""Building blocks every source kind's reconciler can share.

- `read_secret(kube, namespace, name, field)`: a Secret's data, base64-decoded; a missing
  Secret is a retried `GenericError` whose message names the Secret and the spec field.
- `storage_phase(source, kind)`: the first phase of a source kind. It collects old
  artifacts (keeping the current one and the retention records), checks that the artifact
  `status.artifact` names is still in storage (if not, it is dropped from the status so the
  next phases rebuild it), refreshes its URL and the legacy `status.url` to the current
  advertised address, and sets `ArtifactInStorage`.
- `publish_artifact(storage, artifact)`: after writing a new artifact, point
  `latest.tar.gz` (or another link name) at it and collect old files; returns the
  legacy URL. `store_artifact` writes an artifact under its lock and publishes it.
- `current_artifact`, `fetch_failed`, `storage_failed`, `confirm_stored`,
  `mark_artifact_ready`: the status and condition steps the kinds' fetch and artifact
  phases have in common; `remove_artifacts`: a finalizer's removal of the object's storage.
- `Scratch`: per-reconcile state shared by one kind's phases (working directories, what
  an earlier phase found), kept beside the `ReconcileContext` and cleaned up with it.
- `SourceReconcilerBase`: what each kind's reconciler class shares: the operator's
  `SourceContext` and storage, its `ScratchStore`, and the `Reconciler` wiring
  (`storage_phase` first, then the kind's phases, each guarded by the scratch store).

Blocking storage work runs in worker threads (`asyncio.to_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import weakref
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from afflux.api import Artifact
from afflux.api._meta import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    AUTHENTICATION_FAILED,
    FETCH_FAILED,
    STORAGE_OPERATION_FAILED,
    SUCCEEDED,
)
from afflux.controllers.runtime import (
    GenericError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    ReconcileError,
    Reconciler,
    Resource,
    SecretKeyError,
    decode_secret,
)

from ._context import SECRETS, SourceContext
from ._storage import Storage, StorageError

__all__ = [
    "SECRETS",
    "Scratch",
    "ScratchStore",
    "SourceReconcilerBase",
    "artifact_from_status",
    "confirm_stored",
    "current_artifact",
    "fetch_failed",
    "mark_artifact_ready",
    "publish_artifact",
    "read_secret",
    "remove_artifacts",
    "storage_failed",
    "storage_phase",
    "store_artifact",
    "stored_message",
]

LATEST_LINK = "latest.tar.gz"

Phase = Callable[[ReconcileContext[Any]], Awaitable[PhaseResult | None]]


def stored_message(revision: str) -> str:
    """Flux's Ready / ArtifactInStorage message for a stored artifact."""
    return f"stored artifact for revision '{revision}'"


async def read_secret(
    kube: Any,
    namespace: str,
    name: str,
    field: str = "spec.secretRef",
    reason: str = AUTHENTICATION_FAILED,
) -> dict[str, bytes]:
    """The decoded data of a Secret; GenericError(`reason`) naming it when it is missing."""
    body = await kube.get(ObjectRef(SECRETS, namespace, name))
    if body is None:
        raise GenericError(
            reason,
            f"secret '{namespace}/{name}' referenced by {field} not found: create it, or "
            f"correct {field}.name",
        )
    try:
        data = decode_secret(body.get("data"))
    except SecretKeyError as err:
        raise GenericError(reason, f"secret '{namespace}/{name}': {err}") from None
    for key, value in (body.get("stringData") or {}).items():  # never stored, but harmless
        data.setdefault(key, str(value).encode())
    return data


def artifact_from_status(status: Mapping[str, Any]) -> Artifact | None:
    raw = status.get("artifact")
    if not raw:
        return None
    try:
        return Artifact.from_dict(raw)
    except (TypeError, ValueError, KeyError):
        return None


def _check_and_collect(storage: Storage, artifact: Artifact) -> tuple[bool, str | None]:
    """(stored?, error of the garbage collection) for the current artifact (blocking: the
    object's storage lock is taken here, in the worker thread, never on the event loop)."""
    try:
        path = storage.local_path(artifact)
    except StorageError:
        return False, None
    with storage.lock_artifact(artifact):
        return _check_and_collect_locked(storage, artifact, path)


def _check_and_collect_locked(storage: Storage, artifact: Artifact, path: Path
                              ) -> tuple[bool, str | None]:
    stored = storage.exists(artifact) and (
        artifact.size is None or path.stat().st_size == artifact.size)
    if not stored:
        return False, None
    try:
        storage.garbage_collect(artifact)
    except (OSError, StorageError) as err:
        return True, f"garbage collection of old artifacts failed: {err}"
    return True, None


def storage_phase(source: SourceContext, kind: str, link_name: str = LATEST_LINK) -> Phase:
    """The phase described in the module docstring, for the kind `kind`."""
    storage = source.storage

    async def check_storage(ctx: ReconcileContext[Any]) -> PhaseResult | None:
        artifact = artifact_from_status(ctx.status)
        if artifact is None:
            ctx.conditions.remove(ARTIFACT_IN_STORAGE)
            ctx.status.pop("url", None)
            return None
        stored, gc_error = await asyncio.to_thread(_check_and_collect, storage, artifact)
        if not stored:
            ctx.logger.info("%s artifact %s is gone from storage; it will be rebuilt",
                            kind, artifact.path)
            ctx.status.pop("artifact", None)
            ctx.status.pop("url", None)
            ctx.conditions.remove(ARTIFACT_IN_STORAGE)
            return None
        if gc_error is not None:
            ctx.logger.warning("%s", gc_error)
        url = storage.url_for(artifact.path)
        if artifact.url != url:
            ctx.status["artifact"] = dict(ctx.status["artifact"], url=url)
        ctx.status["url"] = storage.url_for(artifact.path.rsplit("/", 1)[0] + "/" + link_name)
        ctx.conditions.mark_true(ARTIFACT_IN_STORAGE, SUCCEEDED,
                                 stored_message(artifact.revision))
        return None

    return check_storage


def publish_artifact(storage: Storage, artifact: Artifact, link_name: str = LATEST_LINK) -> str:
    """Link `link_name` to the freshly written artifact and collect old files (blocking);
    returns the link's URL (the legacy `status.url`). Raises GenericError
    (StorageOperationFailed) if the link cannot be made."""
    try:
        url = storage.symlink(artifact, link_name)
    except StorageError as err:
        raise GenericError(STORAGE_OPERATION_FAILED, str(err)) from err
    with contextlib.suppress(OSError, StorageError):
        storage.garbage_collect(artifact)
    return url


def store_artifact(storage: Storage, artifact: Artifact, write: Callable[[Artifact], Artifact],
                   link_name: str = LATEST_LINK) -> tuple[Artifact, str]:
    """Under the artifact's lock, `write(artifact)` (archive, copy, bytes: returns the
    stored artifact) and `publish_artifact` it (blocking); (stored artifact, legacy URL)."""
    with storage.lock_artifact(artifact):
        stored = write(artifact)
        url = publish_artifact(storage, stored, link_name)
    return stored, url


def _remove_object(storage: Storage, kind: str, namespace: str, name: str) -> bool:
    with storage.lock(kind, namespace, name):
        return storage.remove_object(kind, namespace, name)


async def remove_artifacts(storage: Storage, kind: str, namespace: str, name: str,
                           *, strict: bool = True) -> bool:
    """Remove the object's storage directory (in a worker thread); whether there was one.
    With `strict`, a failure is a GenericError (StorageOperationFailed)."""
    if not strict:
        return await asyncio.to_thread(_remove_object, storage, kind, namespace, name)
    try:
        return await asyncio.to_thread(_remove_object, storage, kind, namespace, name)
    except (OSError, StorageError) as err:
        raise GenericError(STORAGE_OPERATION_FAILED,
                           f"failed to remove the stored artifacts: {err}") from err


# --- status and conditions shared by the kinds' phases -------------------------------------


def current_artifact(ctx: ReconcileContext[Any]) -> Artifact | None:
    """`status.artifact`; its revision goes into the events' metadata until a newer one is
    known."""
    current = artifact_from_status(ctx.status)
    if current is not None:
        ctx.event_metadata["revision"] = current.revision
    return current


def fetch_failed(ctx: ReconcileContext[Any], err: ReconcileError) -> ReconcileError:
    """Mark FetchFailed with `err`'s reason and message; return `err` (to be raised)."""
    ctx.conditions.mark_true(FETCH_FAILED, err.reason, err.message)
    return err


def storage_failed(ctx: ReconcileContext[Any], message: str) -> GenericError:
    """Mark StorageOperationFailed with `message`; the GenericError to raise."""
    ctx.conditions.mark_true(STORAGE_OPERATION_FAILED, STORAGE_OPERATION_FAILED, message)
    return GenericError(STORAGE_OPERATION_FAILED, message)


def confirm_stored(ctx: ReconcileContext[Any]) -> None:
    """Nothing new was built: Ready for the stored artifact (which must be there)."""
    current = artifact_from_status(ctx.status)
    assert current is not None
    ctx.conditions.remove(STORAGE_OPERATION_FAILED)
    ctx.set_ready(SUCCEEDED, stored_message(current.revision))


def mark_artifact_ready(ctx: ReconcileContext[Any], reason: str, message: str) -> None:
    """The artifact is stored and current: StorageOperationFailed and ArtifactOutdated
    removed, ArtifactInStorage and Ready true with `reason` and `message`."""
    ctx.conditions.remove(STORAGE_OPERATION_FAILED)
    ctx.conditions.remove(ARTIFACT_OUTDATED)
    ctx.conditions.mark_true(ARTIFACT_IN_STORAGE, reason, message)
    ctx.set_ready(reason, message)


# --- per-reconcile scratch state ------------------------------------------------------------

S = TypeVar("S", bound="Scratch")


class Scratch:
    """State one reconcile's phases share; `workdir()` is a temporary directory removed by
    `cleanup()` (called by the last phase, by a failing phase, and at the latest when the
    reconcile's context is garbage-collected)."""

    def __init__(self) -> None:
        self._dirs: list[str] = []

    def __post_init__(self) -> None:
        """A dataclass subclass's generated `__init__` calls this: set up the scratch."""
        Scratch.__init__(self)

    def workdir(self, prefix: str = "afflux-source-") -> Path:
        path = tempfile.mkdtemp(prefix=prefix)
        self._dirs.append(path)
        return Path(path)

    def cleanup(self) -> None:
        while self._dirs:
            shutil.rmtree(self._dirs.pop(), ignore_errors=True)


class ScratchStore(Generic[S]):
    """One `Scratch` (of type `factory()`) per `ReconcileContext`, held weakly."""

    def __init__(self, factory: Callable[[], S]) -> None:
        self._factory = factory
        self._items: weakref.WeakKeyDictionary[ReconcileContext[Any], S] = (
            weakref.WeakKeyDictionary())

    def __call__(self, ctx: ReconcileContext[Any]) -> S:
        scratch = self._items.get(ctx)
        if scratch is None:
            scratch = self._items[ctx] = self._factory()
            weakref.finalize(ctx, scratch.cleanup)
        return scratch

    def guard(self, phase: Phase) -> Phase:
        """`phase`, cleaning the scratch up when it raises (later phases will not run)."""

        async def guarded(ctx: ReconcileContext[Any]) -> PhaseResult | None:
            try:
                return await phase(ctx)
            except BaseException:
                scratch = self._items.get(ctx)
                if scratch is not None:
                    await asyncio.to_thread(scratch.cleanup)
                raise

        guarded.__name__ = getattr(phase, "__name__", "phase")
        guarded.__qualname__ = getattr(phase, "__qualname__", guarded.__name__)
        return guarded


class SourceReconcilerBase(Generic[S]):
    """The shared part of a source kind's reconciler: `source` (the operator's
    `SourceContext`), `storage`, `runs` (one `Scratch` of type `run_type` per reconcile)
    and `wire`, which builds its `Reconciler`. Subclasses define `finalize` and phases."""

    run_type: Callable[[], S]
    finalize: Callable[[ReconcileContext[Any]], Awaitable[None]]  # each kind's own

    def __init__(self, source: SourceContext) -> None:
        self.source = source
        self.storage = source.storage
        self.runs: ScratchStore[S] = ScratchStore(self.run_type)

    def wire(self, resource: Resource, kind: str, parse: Callable[[Mapping[str, Any]], Any],
             phases: list[Phase], *, link_name: str = LATEST_LINK,
             default_interval: float = 60.0) -> Reconciler[Any]:
        """`storage_phase` for `kind`, then `phases`, each cleaning the run's scratch up
        when it raises."""
        return Reconciler(
            resource,
            [storage_phase(self.source, kind, link_name), *map(self.runs.guard, phases)],
            finalize=self.finalize,
            parse=parse,
            default_interval=default_interval,
        )
