"""`afflux preview --ref <branch|tag|sha>` (or `--path DIR`): what a Git ref would do to the
cluster, before it is merged.

The ref's content: the CLI fetches the GitRepository's own `spec.url` with the credentials
of its `spec.secretRef`, as source-controller does (`_gitsource`), because `afflux` runs
with the user's kubeconfig rights (which may read that Secret) and a preview must see the
repository the cluster follows, not whatever clone the user has. `--path DIR` takes a local
checkout (the repository's root) instead, for users who may not read the Secret or want to
preview uncommitted work; then no Git server is reached at all.

Then, for every Kustomization of the cluster whose source is that GitRepository (suspended
ones are listed, not rendered), and every Kustomization those render (a parent that adds a
Kustomization, or changes one's spec, at the ref: the child is rendered with the spec as
the ref has it), it:

1. builds the Kustomization's `spec.path` of the ref's tree, as the artifact would hold it
   (source-controller's archive walk and ignore rules: `.sourceignore`, `spec.ignore`),
   with kustomize-controller's own build library (`_buildks.build_objects`: the generated
   kustomization.yaml, the overlay fields, the real kustomize binary, postBuild
   substitution with substituteFrom read from the cluster, commonMetadata, owner labels);
2. server-side dry-runs each object against the live cluster as the controller's field
   manager (`_diff.compare_object`), new ones too, so the API server validates them;
3. compares the build with the Kustomization's inventory for what `spec.prune` would delete
   (`_diff.stale_objects`), and asks the mass-deletion guard (`_pruneguard.hold_prune`, with
   `--prune-guard-ratio`/`--prune-guard-min` as the operator's flags) whether it would hold.

Then the HelmReleases whose chart is in that repository, and those the Kustomizations'
builds create or change, are rendered as helm-controller would upgrade them (`_previewhr`).

It prints one report (`_previewfmt`: text, JSON, or Markdown for a pull-request comment)
on stdout. Exit status: 0 nothing would change, 1 something would (or the guard would hold
a prune, which leaves the Kustomization PruneHeld), `EXIT_PREVIEW_FAILED`
(7) a build or dry-run failed (the report still shows the rest); a missing object or an
unreachable cluster keep their own codes (3, 5).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pygit2

from afflux.api import HelmRelease, Kustomization
from afflux.controllers.kustomize._build import BuildError, resolve_path
from afflux.controllers.runtime import Guard, held_message, hold_prune

from . import _difffmt as fmt
from . import _gitsource as gitsource
from ._buildks import build_objects
from ._context import Context
from ._diff import CHANGED, compare_object, stale_objects
from ._errors import EXIT_DIFF, EXIT_OK, EXIT_PREVIEW_FAILED, CLIError
from ._kube import KubeError, KubeNotFound, resource_of
from ._previewfmt import OUTPUTS, ObjectPreview, Preview, changes, failed, held, render
from ._previewhr import preview_release, uses_chart_source

__all__ = ["register", "run"]

Key = tuple[str, str]


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "preview", parents=list(parents),
        help="show what a Git ref would change in the cluster",
        description="Render every Kustomization of a GitRepository as it would be at --ref "
        "(or from a local checkout with --path), dry-run it on the server and print what "
        "would be created, changed and pruned. Exit status: 0 no changes, 1 changes, "
        f"{EXIT_PREVIEW_FAILED} a build or dry-run failed.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--ref", help="a branch, tag or commit SHA of the GitRepository's URL")
    what.add_argument("--path", type=Path,
                      help="a local checkout (the repository's root) to preview instead")
    p.add_argument("--source", default="flux-system",
                   help="the GitRepository (in -n/--namespace) whose Kustomizations to "
                        "preview (default: flux-system)")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="text",
                   help="text, json, or markdown (for a pull-request comment)")
    p.add_argument("--prune-guard-ratio", type=float, default=Guard.ratio,
                   help="the kustomize-controller's --prune-guard-ratio (default 0.5)")
    p.add_argument("--prune-guard-min", type=int, default=Guard.minimum,
                   help="the kustomize-controller's --prune-guard-min (default 10)")
    p.set_defaults(func=run)


def _key(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def uses_source(ks: Mapping[str, Any], source: Key) -> bool:
    """Whether the Kustomization body `ks` builds the GitRepository `source`."""
    ref = (ks.get("spec") or {}).get("sourceRef") or {}
    namespace = ref.get("namespace") or _key(ks)[0]
    return ref.get("kind") == "GitRepository" and (namespace, ref.get("name")) == source


class Previewer:
    """Renders and dry-runs the Kustomizations of one source's tree (module docstring)."""

    def __init__(self, ctx: Context, tree: Path, source: Key, revision: str,
                 guard: Guard) -> None:
        self.ctx = ctx
        self.tree = tree
        self.source = source
        self.revision = revision
        self.guard = guard
        #: Kustomization bodies as the ref's builds render them
        self.rendered: dict[Key, dict[str, Any]] = {}
        #: HelmRelease bodies the ref's builds create or change
        self.rendered_releases: dict[Key, dict[str, Any]] = {}

    @staticmethod
    def effective(rendered: Mapping[str, Any] | None, live: Mapping[str, Any] | None
                  ) -> dict[str, Any] | None:
        """The object as it would be at the ref: the rendered spec (when a parent renders
        it) over the live object's metadata and status (a Kustomization's inventory)."""
        if rendered is None:
            return dict(live) if live is not None else None
        body = dict(live or {})
        old, new = body.get("metadata") or {}, rendered.get("metadata") or {}
        body["metadata"] = {**old, **new}
        for key in ("labels", "annotations"):  # others' (kubectl's) stay, as with SSA
            merged = {**(old.get(key) or {}), **(new.get(key) or {})}
            if merged:
                body["metadata"][key] = merged
        body["spec"] = rendered.get("spec") or {}
        return body

    def preview(self, ks: Mapping[str, Any], new: bool) -> ObjectPreview:
        namespace, name = _key(ks)
        spec = ks.get("spec") or {}
        out = ObjectPreview(namespace, name, str(spec.get("path") or "./"), new=new)
        if spec.get("suspend"):
            out.skipped = "suspended (the controller would not apply it)"
            return out
        try:
            directory = resolve_path(self.tree, str(spec.get("path") or ""))
            if not directory.is_dir():
                raise CLIError(f"path {spec.get('path')!r} is not a directory at this ref")
            built = build_objects(self.ctx, ks, directory, root=self.tree)
            default_ns = spec.get("targetNamespace") or "default"
            new_namespaces = {(o.get("metadata") or {}).get("name") for o in built
                              if o.get("kind") == "Namespace" and o.get("apiVersion") == "v1"}
            for obj in built:
                self._compare(out, obj, default_ns, new_namespaces)
            out.pruned = stale_objects(self.ctx.kube, ks, built)
        except (CLIError, BuildError) as err:
            out.error = err.message if isinstance(err, CLIError) else f"build failed: {err}"
            return out
        inventory = len(fmt.inventory_ids(ks))
        annotations = (ks.get("metadata") or {}).get("annotations") or {}
        if out.pruned and hold_prune(self.guard, inventory=inventory, stale=len(out.pruned),
                                     revision=self.revision, annotations=annotations):
            out.held = held_message([label.split("/")[0] for label in out.pruned], inventory,
                                    self.revision or "(a local checkout)", name)
        return out

    def _compare(self, out: ObjectPreview, obj: dict[str, Any], default_ns: str,
                 new_namespaces: set[Any]) -> None:
        try:
            change = compare_object(self.ctx.kube, obj, default_ns, validate_new=True)
        except KubeError as err:
            ns = (obj.get("metadata") or {}).get("namespace")
            if err.status == 404 and ns in new_namespaces:  # its namespace comes with it
                out.created.append(fmt.object_label(obj))
            else:
                raise CLIError(f"{fmt.object_label(obj)} dry-run failed: {err.message}") \
                    from None
        else:
            if change is not None and change.action == CHANGED:
                out.changed[change.label] = change.diff
            elif change is not None:
                out.created.append(change.label)
        if obj.get("kind") == Kustomization.KIND and \
                str(obj.get("apiVersion", "")).startswith(f"{Kustomization.GROUP}/"):
            self.rendered[_key(obj)] = obj
        label = fmt.object_label(obj)
        if obj.get("kind") == HelmRelease.KIND and \
                str(obj.get("apiVersion", "")).startswith(f"{HelmRelease.GROUP}/") and \
                (label in out.changed or label in out.created):
            self.rendered_releases[_key(obj)] = obj

    def run(self, live: dict[Key, dict[str, Any]]) -> list[ObjectPreview]:
        """Every Kustomization of the source, and those the builds render, until the
        rendered specs stop changing (a bound stops a parent that renders itself)."""
        done: dict[Key, tuple[str, ObjectPreview]] = {}
        order: list[Key] = []
        for _ in range(len(live) + 8):
            progressed = False
            keys = sorted({k for k, body in live.items() if uses_source(body, self.source)}
                          | set(self.rendered))
            for key in keys:
                body = self.effective(self.rendered.get(key), live.get(key))
                if body is None or not uses_source(body, self.source):
                    done.pop(key, None)
                    continue
                fingerprint = json.dumps(body.get("spec"), sort_keys=True, default=str)
                if key in done and done[key][0] == fingerprint:
                    continue
                done[key] = (fingerprint, self.preview(body, new=key not in live))
                if key not in order:
                    order.append(key)
                progressed = True
            if not progressed:
                break
        results = [done[k][1] for k in order if k in done]
        pruned = {label for p in results if not p.held for label in p.pruned}
        for p in results:
            if f"{Kustomization.KIND}/{p.namespace}/{p.name}" in pruned:
                p.created, p.changed, p.pruned, p.held, p.error = [], {}, [], "", ""
                p.skipped = ("a parent prunes it at this ref (what it applied follows its "
                             "deletionPolicy)")
        return results

    def run_releases(self, live: dict[Key, dict[str, Any]]) -> list[ObjectPreview]:
        """The HelmReleases whose chart is the source's, and those the builds change."""
        keys = sorted({k for k, body in live.items() if uses_chart_source(body, self.source)}
                      | set(self.rendered_releases))
        out = []
        for key in keys:
            body = self.effective(self.rendered_releases.get(key), live.get(key))
            assert body is not None
            out.append(preview_release(self.ctx, body, live.get(key), self.tree, self.source))
        return out


def _local_revision(path: Path) -> str:
    """`sha1:<HEAD>` of a local checkout ('' when it is no Git working tree)."""
    try:
        repo = pygit2.Repository(str(path))
        return "" if repo.head_is_unborn else f"sha1:{repo.head.target}"
    except (pygit2.GitError, KeyError):
        return ""


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    source: Key = (ctx.namespace, args.source)
    try:
        return _run(ctx, args, source)
    except CLIError as err:
        if err.exit_code == 1:
            err.exit_code = EXIT_PREVIEW_FAILED
        raise


def _run(ctx: Context, args: argparse.Namespace, source: Key) -> int:
    repo_body = ctx.kube.get_or_none(gitsource.GITREPOSITORIES, source[1], source[0])
    if repo_body is None:
        raise CLIError(f"GitRepository '{source[0]}/{source[1]}' not found",
                       "name the source with --source and -n/--namespace", exit_code=3)
    live = {_key(ks): ks for ks in ctx.kube.list(resource_of(Kustomization))}
    try:
        releases = {_key(hr): hr for hr in ctx.kube.list(resource_of(HelmRelease))}
    except KubeNotFound:  # no HelmRelease kind in this cluster
        releases = {}
    guard = Guard(args.prune_guard_ratio, args.prune_guard_min)
    with tempfile.TemporaryDirectory(prefix="afflux-preview-") as tmp:
        if args.path is not None:
            if not args.path.is_dir():
                raise CLIError(f"--path {args.path} is not a directory")
            checkout, ref, revision = args.path.resolve(), str(args.path), \
                _local_revision(args.path)
        else:
            auth = gitsource.source_auth(ctx, repo_body)
            ctx.printer.action(f"fetching {auth.url}")
            fetched = gitsource.fetch(auth, Path(tmp) / "repo.git")
            resolved = gitsource.resolve(fetched, args.ref)
            checkout, ref, revision = Path(tmp) / "checkout", args.ref, resolved.revision
            gitsource.checkout(fetched, resolved.sha, checkout)
        tree = Path(tmp) / "artifact"
        gitsource.artifact_tree(checkout, (repo_body.get("spec") or {}).get("ignore"), tree)
        ctx.printer.action(f"rendering the Kustomizations of GitRepository "
                           f"{source[0]}/{source[1]} at {revision or ref}")
        previewer = Previewer(ctx, tree, source, revision, guard)
        preview = Preview(f"{source[0]}/{source[1]}", ref, revision, previewer.run(live))
        preview.helm_releases = previewer.run_releases(releases)
    ctx.printer.result(render(preview, args.output), end="")
    if failed(preview):
        ctx.printer.failure("the build or dry-run of at least one Kustomization failed")
        return EXIT_PREVIEW_FAILED
    if changes(preview) or held(preview):  # a held prune leaves a Kustomization PruneHeld
        ctx.printer.warning(f"{changes(preview)} change(s), {held(preview)} held prune(s): "
                            "exiting with a non-zero status")
        return EXIT_DIFF
    ctx.printer.success("no changes")
    return EXIT_OK
