"""The GitRepository reconciler: fetch a Git ref, pack it, publish it as an artifact.

Phases, in order (each sets only its own conditions):

1. `storage` (shared, `_common_phases.storage_phase`): old artifacts collected; the stored
   artifact checked, its URL refreshed; `ArtifactInStorage`.
2. `source`: credentials (`spec.secretRef`, `spec.proxySecretRef`), the included
   repositories' current artifacts, then the remote revision *without cloning*
   (`_git.remote_revision`). `must_clone` (pure) decides whether anything that goes
   into the artifact changed; if nothing did, no clone happens and the later phases only
   confirm the current artifact. Otherwise the ref is checked out (shallow where the ref
   allows, sparse, with submodules as the spec says) into a temporary directory.
   `FetchFailed` (AuthenticationFailed | GitOperationFailed), `ArtifactOutdated`.
3. `verify`: `spec.verify` (OpenPGP, `_verify`) on the checkout; `SourceVerified`.
4. `include`: the included repositories' artifacts, digest-checked, unpacked at their
   `toPath`; `IncludeUnavailable`.
5. `artifact`: the deterministic tar.gz of the checkout (`.sourceignore`, defaults,
   `spec.ignore`) stored as `<commit>.tar.gz`, `latest.tar.gz` linked to it, old files
   collected; `status.artifact`, `includedArtifacts`, the `observed*` fields; Ready's
   message, the `NewArtifact` event; `StorageOperationFailed`.

A failure anywhere leaves `status.artifact` and the stored file as they were ("nothing
lost"). Blocking work (git, archiving, storage) runs in worker threads, bounded by
`spec.timeout`. Deleting a GitRepository removes its storage directory (finalizer).

A change of a GitRepository's artifact triggers a reconcile of every GitRepository in
its namespace that includes it (`watch_artifacts`; the includers come from an index each
reconcile updates, `_includers`, not from a scan of every object); a change of a Secret one uses
(`secretRef`, `verify.secretRef`, `proxySecretRef`) triggers its reconcile
(`watch_secrets`), so fixing a Secret also recovers a stalled object.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afflux.api import Artifact, GitRepository, GitRepositoryInclude
from afflux.api._meta import (
    ARTIFACT_IN_STORAGE,
    ARTIFACT_OUTDATED,
    AUTHENTICATION_FAILED,
    FAILED,
    FETCH_FAILED,
    GIT_OPERATION_FAILED,
    INCLUDE_UNAVAILABLE,
    NEW_ARTIFACT,
    NEW_REVISION,
    SOURCE_GROUP,
    SOURCE_VERIFIED,
    SUCCEEDED,
    VERIFICATION_ERROR,
)
from afflux.controllers.runtime import (
    GenericError,
    GitCredentials,
    GitError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    ReconcileError,
    Reconciler,
    Resource,
    SecretKeyError,
    StallingError,
    UnsafeArchiveError,
    WaitingError,
    proxy_keys,
    safe_extract,
)

from ._archive import tree_matcher
from ._common_phases import (
    Scratch,
    SourceReconcilerBase,
    artifact_from_status,
    confirm_stored,
    current_artifact,
    mark_artifact_ready,
    read_secret,
    remove_artifacts,
    storage_failed,
    store_artifact,
    stored_message,
)
from ._context import SourceContext
from ._git import CheckoutResult, GitRef, RemoteRevision, checkout, remote_revision
from ._includers import IncludersIndex
from ._storage import StorageError
from ._transport import PROXY_SCHEMES
from ._verify import normalize_mode, verify_revision

__all__ = [
    "GIT_REPOSITORY",
    "CloneDecision",
    "ContentConfig",
    "IncludeSource",
    "commit_subject",
    "desired_config",
    "git_reconciler",
    "must_clone",
    "observed_config",
    "proxy_url",
    "secret_names",
]

GIT_REPOSITORY = Resource(SOURCE_GROUP, GitRepository.VERSION, GitRepository.KIND,
                          GitRepository.PLURAL)
KIND = GitRepository.KIND
#: Extra seconds the event loop waits for a worker thread beyond spec.timeout.
THREAD_GRACE = 5.0
UNSUPPORTED_PROVIDERS = ("azure", "github", "aws")
INCLUDE_NOT_FOUND = "NotFound"
INCLUDE_NO_ARTIFACT = "NoArtifact"
INCLUDE_COPY_FAILED = "CopyFailed"


# --- pure decisions -----------------------------------------------------------------------


@dataclass(frozen=True)
class ContentConfig:
    """Everything besides the commit that shapes a GitRepository's artifact."""

    ignore: str | None = None
    recurse_submodules: bool = False
    sparse_checkout: tuple[str, ...] = ()
    include: str = "[]"  # canonical JSON of spec.include
    included: tuple[tuple[str | None, str | None], ...] = ()  # (revision, digest) per include


def _canonical_include(include: Sequence[Mapping[str, Any]] | None) -> str:
    return json.dumps(list(include or []), sort_keys=True, separators=(",", ":"))


def observed_config(status: Mapping[str, Any]) -> ContentConfig:
    """What the current artifact was built with (the status's `observed*` fields)."""
    included = tuple(
        (a.get("revision"), a.get("digest")) for a in status.get("includedArtifacts") or []
    )
    return ContentConfig(
        ignore=status.get("observedIgnore"),
        recurse_submodules=bool(status.get("observedRecurseSubmodules")),
        sparse_checkout=tuple(status.get("observedSparseCheckout") or ()),
        include=_canonical_include(status.get("observedInclude")),
        included=included,
    )


def desired_config(
    spec: Mapping[str, Any], included: Sequence[Artifact | None] = ()
) -> ContentConfig:
    """What an artifact built now would be built with (`spec` is the raw spec dict;
    `included` the current artifact of each include, None where there is none)."""
    return ContentConfig(
        ignore=spec.get("ignore"),
        recurse_submodules=bool(spec.get("recurseSubmodules")),
        sparse_checkout=tuple(spec.get("sparseCheckout") or ()),
        include=_canonical_include(spec.get("include")),
        included=tuple((a.revision, a.digest) if a else (None, None) for a in included),
    )


@dataclass(frozen=True)
class CloneDecision:
    clone: bool
    why: str


def must_clone(
    *,
    artifact_revision: str | None,
    artifact_stored: bool,
    remote_revision: str,
    observed: ContentConfig,
    desired: ContentConfig,
    verify_mode: str | None = None,
    verified_mode: str | None = None,
    source_verified: bool = False,
) -> CloneDecision:
    """Whether the remote must be fetched to produce the right artifact. Pure.

    No clone is needed when the stored artifact is at the remote's revision and was built
    with the same content configuration (ignore rules, submodules, sparse directories,
    includes and their artifacts) and, when the spec asks for verification, was verified
    in the same mode.
    """
    if artifact_revision is None:
        return CloneDecision(True, "no artifact yet")
    if not artifact_stored:
        return CloneDecision(True, "the artifact is missing from storage")
    if artifact_revision != remote_revision:
        return CloneDecision(True, f"new revision '{remote_revision}'")
    for name in ("ignore", "recurse_submodules", "sparse_checkout", "include", "included"):
        if getattr(observed, name) != getattr(desired, name):
            label = {"included": "included artifacts", "recurse_submodules":
                     "recurseSubmodules", "sparse_checkout": "sparseCheckout"}.get(name, name)
            return CloneDecision(True, f"{label} changed")
    if verify_mode is not None and (verified_mode != verify_mode or not source_verified):
        return CloneDecision(True, "the revision is not verified in the requested mode")
    return CloneDecision(False, f"artifact up-to-date with remote revision '{remote_revision}'")


def commit_subject(message: str) -> str:
    """The first line of a commit message (Flux's NewArtifact event names it)."""
    lines = (message or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def proxy_url(data: Mapping[str, bytes]) -> str:
    """The proxy URL from a `proxySecretRef` Secret (`address`, `username`, `password`)."""
    try:
        return proxy_keys(data, schemes=PROXY_SCHEMES).url()
    except SecretKeyError as err:
        raise StallingError(AUTHENTICATION_FAILED, f"invalid proxy secret: {err}") from None


def secret_names(body: Mapping[str, Any]) -> list[str]:
    """The Secrets a GitRepository body uses (auth, verification keys, proxy). Pure."""
    spec = body.get("spec") or {}
    refs = [spec.get("secretRef"), (spec.get("verify") or {}).get("secretRef"),
            spec.get("proxySecretRef")]
    return [r["name"] for r in refs if isinstance(r, Mapping) and r.get("name")]


def _clean_relpath(value: str, what: str) -> str:
    """A relative path inside the artifact (no `..`, not absolute); `` for the root."""
    parts = [p for p in value.replace("\\", "/").split("/") if p not in ("", ".")]
    if value.startswith("/") or ".." in parts:
        raise StallingError(GIT_OPERATION_FAILED,
                            f"{what} {value!r} must be a relative path inside the artifact")
    return "/".join(parts)


# --- per-reconcile state ---------------------------------------------------------------------


@dataclass
class IncludeSource:
    """One `spec.include` entry and what its repository offers right now."""

    include: GitRepositoryInclude
    artifact: Artifact | None
    problem: tuple[str, str] | None = None  # (reason, message) when unavailable

    @property
    def name(self) -> str:
        return self.include.repository.name


@dataclass
class _GitRun(Scratch):
    remote: RemoteRevision | None = None
    build: bool = False
    checkout: CheckoutResult | None = None
    repo_dir: Path | None = None
    includes: list[IncludeSource] = field(default_factory=list)
    verified_mode: str | None = None


# --- the reconciler ---------------------------------------------------------------------------


class GitRepositoryReconciler(SourceReconcilerBase[_GitRun]):
    """The phases of a GitRepository, bound to the operator's `SourceContext`."""

    run_type = _GitRun

    def __init__(self, source: SourceContext) -> None:
        super().__init__(source)
        #: who includes whom, as of each object's latest reconcile (see `_includers`)
        self.includers = IncludersIndex()

    def reconciler(self) -> Reconciler[GitRepository]:
        return self.wire(
            GIT_REPOSITORY, KIND, GitRepository.from_dict,
            [self.phase_source, self.phase_verify, self.phase_include, self.phase_artifact],
        )

    # --- helpers -----------------------------------------------------------------------

    @staticmethod
    def _timeout(obj: GitRepository) -> float:
        return obj.timeout if obj.timeout > 0 else GitRepository.DEFAULT_TIMEOUT

    async def _in_thread(self, obj: GitRepository, what: str, func: Any, *args: Any,
                         **kwargs: Any) -> Any:
        timeout = self._timeout(obj)
        try:
            return await asyncio.wait_for(asyncio.to_thread(func, *args, **kwargs),
                                          timeout + THREAD_GRACE)
        except TimeoutError:
            raise GitError(f"{what} did not finish within spec.timeout ({obj.spec.timeout})"
                           ) from None

    async def _credentials(self, ctx: ReconcileContext[GitRepository]) -> GitCredentials | None:
        obj = ctx.obj
        ref = obj.spec.secret_ref
        if ref is None:
            return None
        data = await read_secret(ctx.kube, obj.namespace, ref.name, "spec.secretRef")
        return GitCredentials.from_secret(data)

    async def _proxy(self, ctx: ReconcileContext[GitRepository]) -> str | None:
        ref = ctx.obj.spec.proxy_secret_ref
        if ref is None:
            return None
        data = await read_secret(ctx.kube, ctx.obj.namespace, ref.name, "spec.proxySecretRef")
        return proxy_url(data)

    async def _include_sources(self, ctx: ReconcileContext[GitRepository]) -> list[IncludeSource]:
        # recorded before the artifacts are read: any later change of one triggers this object
        self.includers.record(ctx.obj.namespace, ctx.obj.name,
                              [inc.repository.name for inc in ctx.obj.spec.include or []])
        result = []
        for inc in ctx.obj.spec.include or []:
            name = inc.repository.name
            body = await ctx.kube.get(ObjectRef(GIT_REPOSITORY, ctx.obj.namespace, name))
            if body is None:
                result.append(IncludeSource(inc, None, (
                    INCLUDE_NOT_FOUND,
                    f"included GitRepository '{ctx.obj.namespace}/{name}' not found: create "
                    "it, or correct spec.include[].repository.name")))
                continue
            artifact = artifact_from_status(body.get("status") or {})
            if artifact is None:
                result.append(IncludeSource(inc, None, (
                    INCLUDE_NO_ARTIFACT,
                    f"no artifact available for included GitRepository "
                    f"'{ctx.obj.namespace}/{name}' yet")))
                continue
            result.append(IncludeSource(inc, artifact))
        return result

    # --- phase: source -----------------------------------------------------------------

    async def phase_source(self, ctx: ReconcileContext[GitRepository]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        spec = obj.spec
        current = current_artifact(ctx)
        if (spec.provider or "generic") in UNSUPPORTED_PROVIDERS:
            raise self._fetch_failed(ctx, StallingError(
                GIT_OPERATION_FAILED,
                f"spec.provider '{spec.provider}' is not supported by afflux: use 'generic' "
                "with credentials in spec.secretRef"))
        try:
            credentials = await self._credentials(ctx)
            proxy = await self._proxy(ctx)
        except ReconcileError as err:
            raise self._fetch_failed(ctx, err) from None
        if proxy is not None and not spec.url.startswith("https://"):
            raise self._fetch_failed(ctx, StallingError(
                GIT_OPERATION_FAILED,
                "spec.proxySecretRef works with https:// URLs only: the Git library "
                "(libgit2) connects to http:// and ssh:// remotes directly; use an https:// "
                "URL or remove the proxy"))
        if credentials is not None:
            try:
                credentials.validate(spec.url)
            except GitError as err:  # the Secret's content cannot work: fix it first
                raise self._fetch_failed(ctx, StallingError(err.reason, err.message)) from None

        run.includes = await self._include_sources(ctx)
        ref = GitRef.from_spec(spec.ref.to_dict() if spec.ref else None)
        timeout = self._timeout(obj)
        try:
            remote = await self._in_thread(obj, "resolving the remote revision",
                                           remote_revision, spec.url, ref, credentials,
                                           timeout=timeout, proxy=proxy)
        except ReconcileError as err:
            raise self._fetch_failed(ctx, err) from None
        run.remote = remote
        ctx.event_metadata["revision"] = remote.revision

        verify_mode = normalize_mode(spec.verify.mode) if spec.verify else None
        decision = must_clone(
            artifact_revision=current.revision if current else None,
            artifact_stored=current is not None and ctx.conditions.is_true(ARTIFACT_IN_STORAGE),
            remote_revision=remote.revision,
            observed=observed_config(ctx.status),
            desired=desired_config(obj.to_dict()["spec"], [i.artifact for i in run.includes]),
            verify_mode=verify_mode,
            verified_mode=ctx.status.get("sourceVerificationMode"),
            source_verified=ctx.conditions.is_true(SOURCE_VERIFIED),
        )
        ctx.conditions.remove(FETCH_FAILED)
        if not decision.clone:
            ctx.logger.info("no clone: %s", decision.why)
            ctx.conditions.remove(ARTIFACT_OUTDATED)
            return None
        if current is None or current.revision != remote.revision:
            ctx.conditions.mark_true(ARTIFACT_OUTDATED, NEW_REVISION,
                                     f"new upstream revision '{remote.revision}'")
        if any(inc.problem for inc in run.includes):
            return None  # nothing to build before the includes are there: see phase_include

        ctx.logger.info("fetching: %s", decision.why)
        workdir = await asyncio.to_thread(run.workdir, "afflux-gitrepository-")
        repo_dir = workdir / "repo"
        try:
            result: CheckoutResult = await self._in_thread(
                obj, "the checkout", checkout, spec.url, ref, repo_dir, credentials,
                timeout=timeout, sparse_dirs=spec.sparse_checkout or None,
                recurse_submodules=bool(spec.recurse_submodules), proxy=proxy,
                depth=1, resolved=remote)
        except ReconcileError as err:
            raise self._fetch_failed(ctx, err) from None
        if spec.recurse_submodules:
            await asyncio.to_thread(_drop_gitlink_files, repo_dir)
        run.build = True
        run.checkout = result
        run.repo_dir = repo_dir
        run.remote = RemoteRevision(result.revision, result.commit, result.ref_name,
                                    remote.display)
        ctx.event_metadata["revision"] = result.revision
        ctx.conditions.remove(FETCH_FAILED)
        return None

    @staticmethod
    def _fetch_failed(ctx: ReconcileContext[GitRepository], err: ReconcileError
                      ) -> ReconcileError:
        """Mark FetchFailed for `err` (AuthenticationFailed or GitOperationFailed); return it."""
        reason = (AUTHENTICATION_FAILED if err.reason == AUTHENTICATION_FAILED
                  else GIT_OPERATION_FAILED)
        ctx.conditions.mark_true(FETCH_FAILED, reason, err.message)
        return err

    # --- phase: verify -------------------------------------------------------------------

    async def phase_verify(self, ctx: ReconcileContext[GitRepository]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        verify = obj.spec.verify
        if verify is None:
            ctx.conditions.remove(SOURCE_VERIFIED)
            ctx.status.pop("sourceVerificationMode", None)
            return None
        if not run.build:
            return None  # the stored artifact was verified in this mode (must_clone)
        assert run.checkout is not None and run.repo_dir is not None
        mode = normalize_mode(verify.mode)
        try:
            keys = await read_secret(ctx.kube, obj.namespace, verify.secret_ref.name,
                                     "spec.verify.secretRef", VERIFICATION_ERROR)
            if not keys:
                raise GenericError(
                    VERIFICATION_ERROR,
                    f"secret '{obj.namespace}/{verify.secret_ref.name}' "
                    "(spec.verify.secretRef) holds no public keys")
            checkout_result = run.checkout
            tag_label = None
            if checkout_result.tag_object and run.remote and run.remote.display:
                tag_label = f"{run.remote.display}@{checkout_result.tag_object}"
            message = await self._in_thread(
                obj, "signature verification", verify_revision, run.repo_dir,
                commit=checkout_result.commit, mode=mode, keys=keys,
                tag_object=checkout_result.tag_object, tag_label=tag_label)
        except ReconcileError as err:
            ctx.conditions.mark_false(SOURCE_VERIFIED, FAILED, err.message)
            raise
        ctx.conditions.mark_true(SOURCE_VERIFIED, SUCCEEDED, message)
        run.verified_mode = mode
        return None

    # --- phase: include ------------------------------------------------------------------

    async def phase_include(self, ctx: ReconcileContext[GitRepository]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        for inc in run.includes:
            if inc.problem is not None:
                reason, message = inc.problem
                ctx.conditions.mark_true(INCLUDE_UNAVAILABLE, reason, message)
                raise WaitingError(reason, message)
        if not run.build:
            ctx.conditions.remove(INCLUDE_UNAVAILABLE)
            return None
        assert run.repo_dir is not None
        for inc in run.includes:
            assert inc.artifact is not None
            from_path = _clean_relpath(inc.include.from_path or "", "spec.include[].fromPath")
            to_path = _clean_relpath(inc.include.to_path or inc.name, "spec.include[].toPath")
            if not to_path:
                raise StallingError(GIT_OPERATION_FAILED,
                                    "spec.include[].toPath must not be the artifact's root")
            try:
                scratch = await asyncio.to_thread(run.workdir, "afflux-include-")
                await self._in_thread(obj, f"copying include '{inc.name}'", _copy_include,
                                      self.source, inc.artifact, scratch, from_path,
                                      run.repo_dir, to_path, self._timeout(obj))
            except (OSError, StorageError, UnsafeArchiveError, ValueError) as err:
                message = (f"failed to copy include '{inc.name}' (from '{from_path or '.'}' "
                           f"to '{to_path}'): {err}")
                ctx.conditions.mark_true(INCLUDE_UNAVAILABLE, INCLUDE_COPY_FAILED, message)
                raise GenericError(INCLUDE_COPY_FAILED, message) from None
        ctx.conditions.remove(INCLUDE_UNAVAILABLE)
        return None

    # --- phase: artifact -----------------------------------------------------------------

    async def phase_artifact(self, ctx: ReconcileContext[GitRepository]) -> PhaseResult | None:
        obj = ctx.obj
        run = self.runs(ctx)
        if not run.build:
            confirm_stored(ctx)
            return None
        assert run.checkout is not None and run.repo_dir is not None
        revision = run.checkout.revision
        artifact = self.storage.new_artifact(KIND, obj.namespace, obj.name, revision,
                                             f"{run.checkout.commit}.tar.gz")
        try:
            artifact, url = await self._in_thread(obj, "archiving", self._store, artifact,
                                                  run.repo_dir, obj.spec.ignore)
        except (StorageError, OSError) as err:
            raise storage_failed(
                ctx, f"failed to store the artifact for revision '{revision}': {err}") from None
        finally:
            await asyncio.to_thread(run.cleanup)

        previous = artifact_from_status(ctx.status)
        spec = obj.to_dict()["spec"]
        ctx.status["artifact"] = artifact.to_dict()
        ctx.status["url"] = url
        ctx.status["includedArtifacts"] = (
            [i.artifact.to_dict() for i in run.includes if i.artifact] or None)
        ctx.status["observedIgnore"] = spec.get("ignore")
        ctx.status["observedRecurseSubmodules"] = spec.get("recurseSubmodules") or None
        ctx.status["observedInclude"] = spec.get("include") or None
        ctx.status["observedSparseCheckout"] = spec.get("sparseCheckout") or None
        ctx.status["sourceVerificationMode"] = run.verified_mode
        mark_artifact_ready(ctx, SUCCEEDED, stored_message(revision))
        if previous is None or previous.digest != artifact.digest:
            subject = commit_subject(run.checkout.message)
            await ctx.events.normal(
                NEW_ARTIFACT, f"stored artifact for commit '{subject}'",
                revision=revision, digest=artifact.digest or "")
        return None

    def _store(self, artifact: Artifact, repo_dir: Path, ignore: str | None
               ) -> tuple[Artifact, str]:
        matcher = tree_matcher(repo_dir, ignore)
        return store_artifact(self.storage, artifact,
                              lambda a: self.storage.archive(a, repo_dir, matcher))

    # --- finalize --------------------------------------------------------------------------

    async def finalize(self, ctx: ReconcileContext[GitRepository]) -> None:
        obj = ctx.obj
        self.includers.forget(obj.namespace, obj.name)
        if await remove_artifacts(self.storage, KIND, obj.namespace, obj.name):
            ctx.logger.info("removed the stored artifacts")

    # --- watches ---------------------------------------------------------------------------

    def on_artifact_change(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Another GitRepository's artifact moved: reconcile those that include it (from
        the index: this runs for every artifact change, so it must not scan every object)."""
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        for includer in self.includers.includers(namespace, name):
            self.source.trigger(GIT_REPOSITORY, namespace, includer)


# --- blocking helpers -------------------------------------------------------------------------


def _drop_gitlink_files(repo_dir: Path) -> None:
    """Remove the `.git` files (`gitdir: ...`) submodule checkouts leave: they point into
    the controller's temporary directory and mean nothing in an artifact."""
    for dirpath, dirnames, filenames in os.walk(repo_dir):
        if ".git" in dirnames:
            dirnames.remove(".git")
        if ".git" in filenames and Path(dirpath) != repo_dir:
            path = Path(dirpath) / ".git"
            if path.is_file() and not path.is_symlink():
                path.unlink()


def _open_artifact(source: SourceContext, artifact: Artifact, timeout: float) -> Any:
    """A binary stream of an artifact: the local file if it is in this storage, else
    a download from its URL."""
    try:
        if source.storage.exists(artifact):
            return open(source.storage.local_path(artifact), "rb")  # noqa: SIM115
    except StorageError:
        pass
    return urllib.request.urlopen(artifact.url, timeout=timeout)  # noqa: S310 - http(s) only


def _ensure_no_symlinks(root: Path, rel: str) -> Path:
    """`root/rel`, refusing a path that goes through a symlink (it could lead outside)."""
    current = root
    for part in rel.split("/"):
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise ValueError(f"'{rel}' goes through a symbolic link in the repository")
    return current


def _copy_include(source: SourceContext, artifact: Artifact, scratch: Path, from_path: str,
                  repo_dir: Path, to_path: str, timeout: float) -> None:
    """Unpack `artifact` (digest-checked) into `scratch`, then move its `from_path` to
    `repo_dir/to_path`, replacing what was there."""
    if not artifact.url.startswith(("http://", "https://")):
        raise ValueError(f"artifact URL {artifact.url!r} is not http(s)")
    with _open_artifact(source, artifact, timeout) as stream:
        safe_extract(stream, scratch, expected_digest=artifact.digest)
    origin = _ensure_no_symlinks(scratch, from_path) if from_path else scratch
    if not origin.is_dir():
        raise ValueError(f"fromPath '{from_path}' is not a directory in the included artifact")
    target = _ensure_no_symlinks(repo_dir, to_path)
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(origin), str(target))


# --- the factory ------------------------------------------------------------------------------


def git_reconciler(source: SourceContext) -> Reconciler[GitRepository]:
    """The GitRepository reconciler (for `handlers.RECONCILER_FACTORIES`)."""
    reconciler = GitRepositoryReconciler(source)
    source.watch_artifacts(GIT_REPOSITORY, reconciler.on_artifact_change)
    source.watch_secrets(GIT_REPOSITORY, secret_names)
    return reconciler.reconciler()
