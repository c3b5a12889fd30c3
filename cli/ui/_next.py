"""What the next reconcile of a Kustomization or HelmRelease would change, for its object
page, computed on demand with the user's own client and the library behind `afflux preview`
and `afflux diff` (not a second implementation):

- Kustomization: its source's current artifact (`status.artifact`: the URL, checked against
  the digest, unpacked within bounds by kustomize-controller's own `ArtifactCache`), built
  and server-side dry-run by `_preview.Previewer.preview` (the controller's build library,
  the real kustomize, a dry-run apply as `kustomize-controller` of every object, the
  inventory's objects a prune would delete, and whether the mass-deletion guard would hold
  that prune);
- HelmRelease: `_previewhr.preview_release` with its current chart artifact (as `afflux
  diff helmrelease`, rendered by the Helm engine helm-controller runs: Helm 4 unless its
  Deployment has `--feature-gates=UseHelm3Defaults=true`): the objects an upgrade would
  create, change and remove.

A result is cached per user, object, source artifact (revision and digest) and object
generation, for `ttl` seconds at most (a hand edit of a live object changes neither: the
page has a Recompute button); at most `concurrency` run at once, each bounded by `timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
from pathlib import Path
from typing import Any

from afflux.api import HelmRelease, Kustomization
from afflux.controllers.kustomize._artifacts import ArtifactCache
from afflux.controllers.kustomize._reconcile_source import download
from afflux.controllers.runtime import GenericError, Guard

from .._context import Context
from .._errors import CLIError
from .._kinds import noun_for_kind
from .._kube import Kube, resource_of
from .._output import Printer
from .._preview import Previewer
from .._previewfmt import ObjectPreview
from .._previewhr import preview_release

__all__ = ["KINDS", "NextReconcile", "preview_json"]

#: The kinds whose next reconcile can be previewed.
KINDS = (Kustomization.KIND, HelmRelease.KIND)


def preview_json(p: ObjectPreview) -> dict[str, Any]:
    """The page's form of a preview: created, changed (with the diff), pruned."""
    return {"created": p.created,
            "changed": [{"object": k, "diff": v} for k, v in sorted(p.changed.items())],
            "pruned": [] if p.held else p.pruned, "held": p.held, "heldPrune": p.pruned
            if p.held else [], "error": p.error, "skipped": p.skipped, "changes": p.changes()}


def _context(kube: Kube, timeout: float) -> Context:
    return Context(argparse.Namespace(verbose=0, timeout=timeout), Printer(verbose=0), kube)


class NextReconcile:
    """The previews of one UI server (module docstring)."""

    def __init__(self, *, timeout: float = 60.0, ttl: float = 300.0, keep: int = 64,
                 concurrency: int = 2, artifacts: ArtifactCache | None = None) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.keep = keep
        self.artifacts = artifacts or ArtifactCache(keep=4)
        self._results: collections.OrderedDict[tuple[str, ...], dict[str, Any]] = \
            collections.OrderedDict()
        self._running: dict[tuple[str, ...], asyncio.Future[dict[str, Any]]] = {}
        self._slots = asyncio.Semaphore(concurrency)

    async def compute(self, user: str, kube: Kube, kind: str, namespace: str, name: str,
                      refresh: bool = False) -> dict[str, Any]:
        if kind not in KINDS:
            raise CLIError(f"no preview for a {kind}: only for {' and '.join(KINDS)}")
        noun = noun_for_kind(kind)
        obj = await asyncio.to_thread(kube.get, resource_of(noun.kind), name, namespace)
        generation = str((obj.get("metadata") or {}).get("generation", ""))
        if kind == Kustomization.KIND:
            source, artifact = await asyncio.to_thread(self._artifact, kube, obj, namespace)
            revision = str(artifact.get("revision", ""))
            key = (user, kind, namespace, name, generation, revision,
                   str(artifact.get("digest", "")))
        else:
            status = obj.get("status") or {}
            revision = str(status.get("lastAttemptedRevision", ""))
            key = (user, kind, namespace, name, generation, revision,
                   str(status.get("helmChart", "")))
        cached = self._results.get(key)
        if cached is not None and not refresh and time.time() - cached["at"] < self.ttl:
            self._results.move_to_end(key)
            return {**cached, "cached": True}
        running = self._running.get(key)
        if running is None:
            work = self._kustomization(kube, obj, source, artifact) \
                if kind == Kustomization.KIND else self._release(kube, obj)
            running = asyncio.ensure_future(self._bounded(work))
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        preview = await asyncio.shield(running)
        result = {**preview, "revision": revision, "generation": generation,
                  "at": time.time()}
        self._results[key] = result
        self._results.move_to_end(key)
        while len(self._results) > self.keep:
            self._results.popitem(last=False)
        return {**result, "cached": False}

    async def _bounded(self, work: Any) -> dict[str, Any]:
        async with self._slots:
            try:
                return await asyncio.wait_for(work, self.timeout)
            except TimeoutError:
                raise CLIError(f"the preview took longer than {self.timeout:.0f}s: try "
                               "again later") from None

    @staticmethod
    def _artifact(kube: Kube, ks: dict[str, Any], namespace: str
                  ) -> tuple[tuple[str, str], dict[str, Any]]:
        ref = (ks.get("spec") or {}).get("sourceRef") or {}
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        source_ns = str(ref.get("namespace") or namespace)
        try:
            noun = noun_for_kind(kind)
        except KeyError:
            raise CLIError(f"the source kind {kind!r} is not one afflux knows") from None
        source = kube.get(resource_of(noun.kind), name, source_ns)
        artifact = (source.get("status") or {}).get("artifact") or {}
        if not artifact.get("url"):
            raise CLIError(f"{kind} {source_ns}/{name} has no artifact yet")
        return (source_ns, name), artifact

    async def _kustomization(self, kube: Kube, ks: dict[str, Any], source: tuple[str, str],
                             artifact: dict[str, Any]) -> dict[str, Any]:
        try:
            checkout = await self.artifacts.checkout(
                str(artifact["url"]), artifact.get("digest"), download, self.timeout)
        except GenericError as err:
            raise CLIError(str(err.message)) from None
        revision = str(artifact.get("revision", ""))
        previewer = Previewer(_context(kube, self.timeout), checkout.path, source, revision,
                              Guard())
        task = asyncio.ensure_future(asyncio.to_thread(previewer.preview, ks, False))
        # the lease outlives a timed-out wait: it ends when the build does
        task.add_done_callback(lambda _: checkout.release())
        return preview_json(await asyncio.shield(task))

    async def _release(self, kube: Kube, hr: dict[str, Any]) -> dict[str, Any]:
        def run() -> ObjectPreview:
            with tempfile.TemporaryDirectory(prefix="afflux-ui-hr-") as tmp:
                return preview_release(_context(kube, self.timeout), hr, hr, Path(tmp),
                                       ("", ""))

        return preview_json(await asyncio.to_thread(run))
