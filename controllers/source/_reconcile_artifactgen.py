"""The ArtifactGenerator reconciler: compose and split source artifacts into ExternalArtifacts.

Why here, inside source-controller, when Flux runs it in a separate source-watcher: an
ArtifactGenerator produces artifacts, and source-controller already owns the storage
directory, its locking, retention and garbage collection, and the artifact server that
consumers download from. Running it here reuses all of that (the ExternalArtifacts it
produces are served at the same address as every other source, their files live under
`externalartifact/<ns>/<name>/`), reads the input artifacts straight from the local storage
(verified against their digests; a source kept by another source-controller, e.g. in
another namespace, is downloaded from its URL instead), and needs no seventh operator.
The kinds stay independent: nothing else in source-controller knows about this one.

Phases, in order:

1. `validate`: a spec the API server accepted but that cannot work stalls with
   ValidationFailed (duplicate aliases, a copy or revision naming an unknown alias,
   duplicate artifact names); a `pathPattern` that does not parse or names an unknown
   alias stalls with BuildFailed, as Flux reports it; a source in another namespace with
   `--no-cross-namespace-refs` stalls with AccessDenied.
2. `fetch`: every source must have an artifact (else SourceFetchFailed, retried, and a
   source's new artifact triggers the generator at once); each is unpacked, digest checked,
   into a scratch directory with `safe_extract` (bounded bytes and files).
3. `build`: with `pathPattern`, the artifacts are templates, rendered once per matching
   directory of the named source (`_pathpattern`: names from the lowercased captures, one
   label per capture, at most `MAX_GENERATED_ARTIFACTS`; its terminal errors stall with
   BuildFailed). Every artifact is built into its own scratch directory from its copy
   operations (`_copyplan`: Overwrite, Merge of YAML, Extract of tarballs, also bounded);
   its revision is `latest@sha256:<content digest>`, or the `revision: @alias` source's;
   `originRevision: @alias` records that source's revision as the artifact's
   `org.opencontainers.image.revision`. Any failure (BuildFailed) publishes nothing: the
   ExternalArtifacts keep their last good artifacts.
4. `publish`: each artifact whose content changed is archived into storage, its
   ExternalArtifact applied (spec.sourceRef naming this generator, commonMetadata, an owner
   reference) and its status written (artifact, Ready). ExternalArtifacts of the previous
   inventory that this run did not generate (no longer in the spec, or their directory is
   gone from the source) are deleted with their files. The status
   records the inventory and `observedSourcesDigest`.

The annotation `source.extensions.fluxcd.io/reconcile: Disabled` suspends a generator.
Deleting it deletes its ExternalArtifacts and their files (finalizer).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from afflux.api import Artifact, ArtifactGenerator, ArtifactGeneratorError
from afflux.api._meta import (
    ACCESS_DENIED,
    READY,
    SOURCE_EXTENSIONS_GROUP,
    SOURCE_GROUP,
    SUCCEEDED,
)
from afflux.api._source_extensions_v1beta1 import (
    BUILD_FAILED,
    SOURCE_FETCH_FAILED,
    VALIDATION_FAILED,
    OutputArtifact,
)
from afflux.controllers.runtime import (
    ApiError,
    GenericError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    Reconciler,
    Resource,
    StallingError,
    UnsafeArchiveError,
    safe_extract,
)

from ._common_phases import Scratch, SourceReconcilerBase, remove_artifacts, store_artifact
from ._context import SourceContext
from ._copyplan import content_digest, is_tarball, merge_values, parse_from, parse_to, plan_copy
from ._pathpattern import ArtifactRequest, expand_artifacts, parse_path_pattern
from ._storage import StorageError

__all__ = ["ARTIFACT_GENERATOR", "EXTERNAL_ARTIFACT", "artifactgen_reconciler",
           "generators_using"]

ARTIFACT_GENERATOR = Resource(SOURCE_EXTENSIONS_GROUP, ArtifactGenerator.VERSION,
                              ArtifactGenerator.KIND, ArtifactGenerator.PLURAL)
EXTERNAL_ARTIFACT = Resource(SOURCE_GROUP, "v1", "ExternalArtifact", "externalartifacts")
EA_KIND = "ExternalArtifact"
SOURCE_RESOURCES: dict[str, Resource] = {
    "GitRepository": Resource(SOURCE_GROUP, "v1", "GitRepository", "gitrepositories"),
    "OCIRepository": Resource(SOURCE_GROUP, "v1", "OCIRepository", "ocirepositories"),
    "Bucket": Resource(SOURCE_GROUP, "v1", "Bucket", "buckets"),
    "HelmChart": Resource(SOURCE_GROUP, "v1", "HelmChart", "helmcharts"),
    "ExternalArtifact": EXTERNAL_ARTIFACT,
}
FIELD_MANAGER = "source-controller"
ORIGIN_REVISION_KEY = "org.opencontainers.image.revision"
#: Bounds of what one source, or one built artifact, may unpack to.
MAX_BYTES = 512 * 1024 * 1024
MAX_FILES = 100_000
_CHUNK = 1 << 16


def generator_uses(body: Mapping[str, Any], kind: str, namespace: str, name: str) -> bool:
    """Whether the generator `body` lists kind/namespace/name among its sources (pure)."""
    own_ns = (body.get("metadata") or {}).get("namespace") or ""
    return any(src.get("kind") == kind and src.get("name") == name
               and (src.get("namespace") or own_ns) == namespace
               for src in (body.get("spec") or {}).get("sources") or ())


def generators_using(generators: list[dict[str, Any]], kind: str, namespace: str,
                     name: str) -> list[tuple[str, str]]:
    """(namespace, name) of the generators whose sources include kind/namespace/name (pure)."""
    return [((b.get("metadata") or {}).get("namespace") or "",
             (b.get("metadata") or {}).get("name") or "")
            for b in generators if generator_uses(b, kind, namespace, name)]


def _files_of(root: Path) -> list[str]:
    """Regular files below `root`, as '/'-separated relative paths (symlinks left out)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for filename in filenames:
            path = os.path.join(dirpath, filename)
            if os.path.isfile(path) and not os.path.islink(path):
                out.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(out)


def _directories_of(root: Path, depth: int) -> Iterator[str]:
    """Directories below `root` down to `depth` segments, as '/'-separated relative paths,
    depth first with names sorted (symlinks left out); lazily."""
    def walk(directory: Path, prefix: str, level: int) -> Iterator[str]:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                rel = prefix + entry.name
                yield rel
                if level < depth:
                    yield from walk(Path(entry.path), rel + "/", level + 1)

    return walk(root, "", 1)


@dataclass
class _Built:
    spec: OutputArtifact
    directory: Path
    revision: str
    digest: str
    metadata: dict[str, str] | None
    labels: Mapping[str, str]


@dataclass
class _Run(Scratch):
    revisions: dict[str, str] = field(default_factory=dict)  # alias -> source revision
    trees: dict[str, Path] = field(default_factory=dict)  # alias -> unpacked artifact
    built: list[_Built] = field(default_factory=list)


class ArtifactGeneratorReconciler(SourceReconcilerBase[_Run]):
    """The phases of an ArtifactGenerator, bound to the operator's `SourceContext`."""

    run_type = _Run

    def reconciler(self) -> Reconciler[ArtifactGenerator]:
        return Reconciler(
            ARTIFACT_GENERATOR,
            [self.runs.guard(p) for p in (self.phase_validate, self.phase_fetch,
                                          self.phase_build, self.phase_publish)],
            finalize=self.finalize,
            parse=ArtifactGenerator.from_dict,
            default_interval=ArtifactGenerator.DEFAULT_INTERVAL or 600.0,
            is_suspended=lambda body: ArtifactGenerator.from_dict(body).reconcile_disabled,
        )

    def on_source_change(self, kind: str):  # noqa: ANN201 - a watch callback
        def callback(event_type: str | None, body: Mapping[str, Any]) -> None:
            meta = body.get("metadata") or {}
            namespace, name = meta.get("namespace") or "", meta.get("name") or ""
            # every artifact change of the kind: keys only, no copy of every generator's body
            for gen_ns, gen in self.source.keys_where(
                    ARTIFACT_GENERATOR, lambda b: generator_uses(b, kind, namespace, name)):
                self.source.trigger(ARTIFACT_GENERATOR, gen_ns, gen)

        return callback

    # --- phase: validate ------------------------------------------------------------

    async def phase_validate(self, ctx: ReconcileContext[ArtifactGenerator]
                             ) -> PhaseResult | None:
        spec = ctx.obj.spec
        try:
            aliases = [s.alias for s in spec.sources]
            dupes = sorted({a for a in aliases if aliases.count(a) > 1})
            if dupes:
                raise ArtifactGeneratorError(VALIDATION_FAILED,
                                             f"duplicate source aliases: {', '.join(dupes)}")
            names = [a.name for a in spec.artifacts]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ArtifactGeneratorError(VALIDATION_FAILED,
                                             f"duplicate artifact names: {', '.join(dupes)}")
            for art in spec.artifacts:
                refs = [parse_from(op.from_)[0] for op in art.copy]
                refs += [r[1:] for r in (art.revision, art.origin_revision) if r]
                for op in art.copy:
                    parse_to(op.to)
                unknown = sorted(set(refs) - set(aliases))
                if unknown:
                    raise ArtifactGeneratorError(
                        VALIDATION_FAILED, f"artifact '{art.name}' names unknown source "
                        f"alias(es) {', '.join('@' + u for u in unknown)}")
            if spec.path_pattern:
                try:
                    pattern = parse_path_pattern(spec.path_pattern)
                except ArtifactGeneratorError as err:
                    raise _expand_failed(err) from None
                if pattern.alias not in aliases:
                    raise _expand_failed(ArtifactGeneratorError(
                        BUILD_FAILED, f"pathPattern '{spec.path_pattern}' names the unknown "
                        f"source alias @{pattern.alias}"))
        except ArtifactGeneratorError as err:
            raise StallingError(err.reason, err.message) from None
        if ctx.options.no_cross_namespace_refs:
            for src in spec.sources:
                if src.namespace and src.namespace != ctx.obj.namespace:
                    raise StallingError(ACCESS_DENIED, f"cannot access {src.kind}/"
                                        f"{src.namespace}/{src.name}: cross-namespace "
                                        "references are disabled on this controller")
        return None

    # --- phase: fetch ---------------------------------------------------------------

    async def phase_fetch(self, ctx: ReconcileContext[ArtifactGenerator]) -> PhaseResult | None:
        run = self.runs(ctx)
        obj = ctx.obj
        for src in obj.spec.sources:
            namespace = src.namespace or obj.namespace
            subject = f"{src.kind}/{namespace}/{src.name}"
            try:
                body = await ctx.kube.get(ObjectRef(SOURCE_RESOURCES[src.kind], namespace,
                                                    src.name))
            except ApiError as err:
                raise GenericError(SOURCE_FETCH_FAILED, f"could not read {subject}: {err}"
                                   ) from None
            artifact = ((body or {}).get("status") or {}).get("artifact") or {}
            if body is None or not artifact.get("revision") or not artifact.get("url"):
                what = "not found" if body is None else "not ready, it has no artifact"
                raise GenericError(SOURCE_FETCH_FAILED, f"source {subject} is {what}")
            tree = run.workdir("afflux-ag-src-")
            try:
                await asyncio.to_thread(self._unpack, artifact, tree)
            except (OSError, UnsafeArchiveError, ValueError) as err:
                raise GenericError(SOURCE_FETCH_FAILED, f"artifact of {subject} (revision "
                                   f"'{artifact['revision']}') cannot be used: {err}") from None
            run.trees[src.alias] = tree
            run.revisions[src.alias] = str(artifact["revision"])
        return None

    def _unpack(self, artifact: Mapping[str, Any], into: Path) -> None:
        """Unpack a source artifact, from local storage when it is there, else from its URL;
        its digest is verified either way (blocking)."""
        digest = artifact.get("digest")
        try:
            local = self.storage.local_path(str(artifact.get("path") or ""))
        except StorageError:
            local = None
        if local is not None and local.is_file():
            safe_extract(local, into, max_bytes=MAX_BYTES, max_files=MAX_FILES,
                         expected_digest=digest)
            return
        with tempfile.TemporaryFile() as tmp:
            with urllib.request.urlopen(str(artifact["url"]), timeout=60) as resp:  # noqa: S310
                total = 0
                while chunk := resp.read(_CHUNK):
                    total += len(chunk)
                    if total > MAX_BYTES:
                        raise ValueError(f"the artifact is larger than {MAX_BYTES} bytes")
                    tmp.write(chunk)
            tmp.seek(0)
            safe_extract(tmp, into, max_bytes=MAX_BYTES, max_files=MAX_FILES,
                         expected_digest=digest)

    # --- phase: build ---------------------------------------------------------------

    async def phase_build(self, ctx: ReconcileContext[ArtifactGenerator]) -> PhaseResult | None:
        run = self.runs(ctx)
        for request in await self._requests(run, ctx.obj):
            spec = request.artifact
            directory = run.workdir("afflux-ag-out-")
            try:
                digest = await asyncio.to_thread(self._build, run, spec, directory)
            except ArtifactGeneratorError as err:
                raise GenericError(err.reason, f"artifact '{spec.name}': {err.message}"
                                   ) from None
            except (OSError, UnsafeArchiveError) as err:
                raise GenericError(BUILD_FAILED, f"artifact '{spec.name}': {err}") from None
            revision = (run.revisions[spec.revision[1:]] if spec.revision
                        else f"latest@{digest}")
            metadata = ({ORIGIN_REVISION_KEY: run.revisions[spec.origin_revision[1:]]}
                        if spec.origin_revision else None)
            run.built.append(_Built(spec, directory, revision, digest, metadata,
                                    request.labels))
        return None

    @staticmethod
    async def _requests(run: _Run, obj: ArtifactGenerator) -> list[ArtifactRequest]:
        """The artifacts to build: `spec.artifacts`, or with `pathPattern` those templates
        rendered for each matching directory (a terminal error stalls, as in Flux)."""
        spec = obj.spec
        if not spec.path_pattern:
            return [ArtifactRequest(art) for art in spec.artifacts]
        try:
            pattern = parse_path_pattern(spec.path_pattern)
            return await asyncio.to_thread(
                lambda: expand_artifacts(pattern, spec.artifacts, _directories_of(
                    run.trees[pattern.alias], pattern.depth)))
        except ArtifactGeneratorError as err:
            raise _expand_failed(err) from None

    @staticmethod
    def _build(run: _Run, spec: OutputArtifact, out: Path) -> str:
        """Run the copy operations of one artifact into `out`; its content digest."""
        files_cache: dict[str, list[str]] = {}
        for op in spec.copy:
            alias, pattern = parse_from(op.from_)
            to = parse_to(op.to)
            root = run.trees[alias]
            files = files_cache.setdefault(alias, _files_of(root))
            steps = plan_copy(files, alias, pattern, to, op.exclude or ())
            strategy = op.strategy or "Overwrite"
            if strategy == "Extract":
                single = len(steps) == 1 and steps[0].src == pattern
                tarballs = [s for s in steps if is_tarball(s.src)]
                if single and not tarballs:
                    raise ArtifactGeneratorError(BUILD_FAILED, f"'{op.from_}' is not a .tar.gz "
                                                 "or .tgz file (strategy Extract)")
                target = out / to.rstrip("/") if to.rstrip("/") else out
                for step in tarballs:
                    safe_extract(root / step.src, target, max_bytes=MAX_BYTES,
                                 max_files=MAX_FILES)
                continue
            for step in steps:
                dst = out / step.dst
                dst.parent.mkdir(parents=True, exist_ok=True)
                if strategy == "Merge" and dst.is_file():
                    _merge_file(root / step.src, dst, op.from_)
                else:
                    if dst.is_dir():
                        raise ArtifactGeneratorError(BUILD_FAILED, f"cannot copy '{step.src}' "
                                                     f"over the directory '{step.dst}'")
                    shutil.copyfile(root / step.src, dst)
        files = _files_of(out)
        if len(files) > MAX_FILES:
            raise ArtifactGeneratorError(BUILD_FAILED, f"more than {MAX_FILES} files")
        return content_digest((f, _sha256_file(out / f)) for f in files)

    # --- phase: publish ---------------------------------------------------------------

    async def phase_publish(self, ctx: ReconcileContext[ArtifactGenerator]
                            ) -> PhaseResult | None:
        run = self.runs(ctx)
        obj = ctx.obj
        inventory = []
        changed = []
        for built in run.built:
            stored, was_new = await self._publish_one(ctx, built)
            inventory.append({"name": built.spec.name, "namespace": obj.namespace,
                              "digest": stored.digest or "",
                              "filename": stored.path.rsplit("/", 1)[1]})
            if was_new:
                changed.append(built)
        keep = {a.spec.name for a in run.built}
        for old in (ctx.status.get("inventory") or []):
            if old.get("name") not in keep:
                await self._delete_artifact(ctx, old.get("namespace") or obj.namespace,
                                            str(old.get("name")))
        ctx.status["inventory"] = inventory
        joined = "\n".join(f"{a}={r}" for a, r in sorted(run.revisions.items()))
        ctx.status["observedSourcesDigest"] = (
            "sha256:" + hashlib.sha256(joined.encode()).hexdigest())
        for built in changed:
            await ctx.events.normal("NewArtifact", f"generated ExternalArtifact "
                                    f"'{built.spec.name}' for revision '{built.revision}'",
                                    revision=built.revision)
        ctx.set_ready(SUCCEEDED, f"reconciliation succeeded, generated {len(inventory)} "
                      "artifact(s)")
        await asyncio.to_thread(run.cleanup)
        return None

    async def _publish_one(self, ctx: ReconcileContext[ArtifactGenerator],
                           built: _Built) -> tuple[Artifact, bool]:
        obj = ctx.obj
        name = built.spec.name
        ref = ObjectRef(EXTERNAL_ARTIFACT, obj.namespace, name)
        try:
            existing = await ctx.kube.get(ref)
        except ApiError as err:
            raise GenericError(SOURCE_FETCH_FAILED, f"could not read ExternalArtifact "
                               f"'{name}': {err}") from None
        owner = ((existing or {}).get("spec") or {}).get("sourceRef") or {}
        if existing is not None and owner and (owner.get("kind") != ArtifactGenerator.KIND
                                               or owner.get("name") != obj.name):
            raise StallingError(VALIDATION_FAILED, f"ExternalArtifact '{name}' is produced by "
                                f"{owner.get('kind')}/{owner.get('name')}, not by this "
                                "generator")
        current = ((existing or {}).get("status") or {}).get("artifact") or {}
        filename = built.digest.split(":", 1)[1] + ".tar.gz"
        artifact = self.storage.new_artifact(EA_KIND, obj.namespace, name, built.revision,
                                             filename, built.metadata)
        reuse = (current.get("path") == artifact.path and current.get("revision")
                 == built.revision and current.get("metadata") == built.metadata
                 and self.storage.local_path(artifact.path).is_file())
        if reuse:
            stored = Artifact.from_dict(current)
        else:
            try:
                stored, _ = await asyncio.to_thread(
                    store_artifact, self.storage, artifact,
                    lambda a: self.storage.archive(a, built.directory))
            except (StorageError, OSError) as err:
                raise GenericError(BUILD_FAILED, f"failed to store artifact '{name}': {err}"
                                   ) from None
        meta = obj.spec.common_metadata
        body: dict[str, Any] = {
            "apiVersion": EXTERNAL_ARTIFACT.api_version, "kind": EA_KIND,
            "metadata": {
                "name": name, "namespace": obj.namespace,
                "labels": {**((meta.labels if meta else None) or {}), **built.labels},
                "annotations": dict((meta.annotations if meta else None) or {}),
                "ownerReferences": [{
                    "apiVersion": ARTIFACT_GENERATOR.api_version,
                    "kind": ArtifactGenerator.KIND, "name": obj.name,
                    "uid": obj.metadata.uid or "", "controller": True,
                    "blockOwnerDeletion": False}] if obj.metadata.uid else [],
            },
            "spec": {"sourceRef": {"apiVersion": ARTIFACT_GENERATOR.api_version,
                                   "kind": ArtifactGenerator.KIND, "name": obj.name,
                                   "namespace": obj.namespace}},
        }
        now = ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        message = f"stored artifact for revision '{built.revision}'"
        ready = next((c for c in ((existing or {}).get("status") or {}).get("conditions") or ()
                      if c.get("type") == READY), None)
        since = (ready or {}).get("lastTransitionTime") if (ready or {}).get(
            "status") == "True" else None
        status = {"artifact": stored.to_dict(), "conditions": [{
            "type": READY, "status": "True", "reason": SUCCEEDED, "message": message,
            "lastTransitionTime": since or now}]}
        try:
            applied = await ctx.kube.patch(ref, body, patch_type="apply",
                                           field_manager=FIELD_MANAGER, force=True)
            generation = (applied.get("metadata") or {}).get("generation", 1)
            status["observedGeneration"] = generation
            status["conditions"][0]["observedGeneration"] = generation
            await ctx.kube.patch(ref, {"status": status}, patch_type="merge",
                                 subresource="status", field_manager=FIELD_MANAGER)
        except ApiError as err:
            raise GenericError(BUILD_FAILED, f"could not write ExternalArtifact '{name}': "
                               f"{err}") from None
        return stored, not reuse

    async def _delete_artifact(self, ctx: ReconcileContext[ArtifactGenerator], namespace: str,
                               name: str) -> None:
        try:
            await ctx.kube.delete(ObjectRef(EXTERNAL_ARTIFACT, namespace, name))
        except ApiError as err:
            raise GenericError(BUILD_FAILED, f"could not delete ExternalArtifact '{name}': "
                               f"{err}") from None
        await remove_artifacts(self.storage, EA_KIND, namespace, name, strict=False)

    # --- finalize ---------------------------------------------------------------------

    async def finalize(self, ctx: ReconcileContext[ArtifactGenerator]) -> None:
        obj = ctx.obj
        for entry in (ctx.status.get("inventory") or []):
            await self._delete_artifact(ctx, entry.get("namespace") or obj.namespace,
                                        str(entry.get("name")))


def _expand_failed(err: ArtifactGeneratorError) -> StallingError:
    """A terminal pathPattern error, worded as Flux words it."""
    return StallingError(err.reason, f"failed to expand path pattern: {err.message}")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _merge_file(src: Path, dst: Path, where: str) -> None:
    try:
        base = yaml.safe_load(dst.read_text(encoding="utf-8"))
        overlay = yaml.safe_load(src.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ArtifactGeneratorError(BUILD_FAILED, f"cannot merge '{where}': not YAML ({err})"
                                     ) from None
    merged = merge_values(base if base is not None else {}, overlay)
    dst.write_text(yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")


def artifactgen_reconciler(source: SourceContext) -> Reconciler[ArtifactGenerator]:
    """The ArtifactGenerator reconciler (for `handlers.RECONCILER_FACTORIES`); a new
    artifact of any source kind triggers the generators that read it."""
    reconciler = ArtifactGeneratorReconciler(source)
    for kind, resource in SOURCE_RESOURCES.items():
        source.watch_artifacts(resource, reconciler.on_source_change(kind))
    return reconciler.reconciler()

