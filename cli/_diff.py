"""`afflux diff kustomization <name> --path <dir>`: what applying the local files would change.

It builds `<dir>` as the Kustomization would (`_buildks.build_objects`), then for each object
asks the API server for a server-side dry-run apply (field manager kustomize-controller,
force, as the controller applies) and compares the result with the live object, both
without the fields the server manages (`_difffmt.normalize`). It prints, on stdout:

    ► Deployment/podinfo/podinfo drifted
    --- live Deployment/podinfo/podinfo
    +++ merged Deployment/podinfo/podinfo
    @@ ... @@
    ► ConfigMap/podinfo/new created
    ► Service/podinfo/old deleted        (with spec.prune: in the inventory, not in the build)

With `--recursive`, each Kustomization of the build that already exists in the cluster is
diffed too, from the directory `--local-sources` gives for its source (as `build
--recursive`): when it would change, `📁 Kustomization/<ns>/<name> changed` and its own
lines follow; one with `spec.kubeConfig` (a remote cluster) is skipped with a warning line.
With `--kustomization-file`, the cluster's copy still gives the inventory (what a prune
would delete); a Kustomization the cluster lacks is an error unless `--ignore-not-found`.
`--progress-bar` (default true) shows the steps on stderr; `--progress-bar=false` leaves
them out.

Secret values are masked. Objects marked `kustomize.toolkit.fluxcd.io/reconcile: disabled`
are skipped, and ones marked `.../prune: disabled` are never listed as deleted. Exit status,
as flux's: 0 no difference, 1 differences, >1 the diff itself failed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _difffmt as fmt
from ._buildks import (
    add_build_flags,
    build_objects,
    live_kustomization,
    load_kustomization,
    local_sources_of,
    nested_source,
    with_namespace,
)
from ._context import Context
from ._errors import EXIT_DIFF, EXIT_OK, CLIError
from ._kube import Kube, KubeError, KubeNotFound, ResourceType
from ._localsources import is_kustomization

__all__ = [
    "DiffOptions",
    "ObjectChange",
    "compare_object",
    "diff_kustomization",
    "register",
    "run",
    "stale_objects",
]

FIELD_MANAGER = "kustomize-controller"
#: Exit status of a diff that could not be made (flux: "> 1").
EXIT_DIFF_FAILED = 2


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("diff", parents=list(parents),
                       help="show what applying local files would change in the cluster")
    nouns = p.add_subparsers(dest="noun_word", metavar="<noun>")
    nouns.required = True
    k = nouns.add_parser(
        "kustomization", aliases=["ks"], parents=list(parents),
        help="diff a Kustomization's local files against the cluster",
        description="Build --path as the named Kustomization would, dry-run it on the server "
        "and print what would change. Exit status: 0 no differences, 1 differences, >1 the "
        "diff failed.")
    add_build_flags(k)
    k.add_argument("--ignore-not-found", action="store_true",
                   help="diff the Kustomization of --kustomization-file even when the cluster "
                        "has none (everything shows as created)")
    k.add_argument("--progress-bar", action="store_true", default=True,
                   help="show progress on stderr (default true; --progress-bar=false: quiet)")
    k.set_defaults(func=run)
    from . import _diffhr  # noqa: PLC0415 - the command module imports this one

    _diffhr.register(nouns, parents)
    from . import _artifact  # noqa: PLC0415 - `diff artifact` lives with the artifact commands

    _artifact.register_diff(nouns, parents)


CREATED, CHANGED = "created", "changed"


@dataclass(frozen=True)
class ObjectChange:
    """What applying one object would do: `created` or `changed` (with the diff)."""

    action: str
    label: str
    diff: str = ""


def _resource(kube: Kube, obj: Mapping[str, Any]) -> ResourceType | None:
    try:
        return kube.resource_for(str(obj.get("apiVersion")), str(obj.get("kind")))
    except KubeNotFound:
        return None


def compare_object(kube: Kube, obj: dict[str, Any], default_namespace: str,
                   field_manager: str = FIELD_MANAGER, *, validate_new: bool = False
                   ) -> ObjectChange | None:
    """What the controller's apply of `obj` would change in the cluster (None: nothing):
    a server-side dry-run apply compared with the live object, Secret values masked.
    Objects the controller leaves alone (`reconcile: disabled`, `ssa: Ignore`, and
    `ssa: IfNotPresent` once they exist) change nothing. With `validate_new`, a new object
    is dry-run too, so the API server checks it. KubeError when a dry-run is refused."""
    if fmt.reconcile_disabled(obj) or fmt.ssa_policy(obj) == "ignore":
        return None
    rt = _resource(kube, obj)
    meta = obj.setdefault("metadata", {})
    if rt is not None and rt.namespaced and not meta.get("namespace"):
        meta["namespace"] = default_namespace
    if rt is not None and not rt.namespaced:
        meta.pop("namespace", None)
    label = fmt.object_label(obj)
    if rt is None:  # a kind the cluster does not have yet (its CRD comes with the build)
        return ObjectChange(CREATED, label)
    live = kube.get_or_none(rt, str(meta.get("name")), meta.get("namespace"))
    if live is None:
        if validate_new:
            kube.apply(rt, obj, field_manager=field_manager, force=True, dry_run=True)
        return ObjectChange(CREATED, label)
    if fmt.ssa_policy(obj) == "ifnotpresent":
        return None
    merged = kube.apply(rt, obj, field_manager=field_manager, force=True, dry_run=True)
    before, after = fmt.mask_secrets(fmt.normalize(live), fmt.normalize(merged))
    if before == after:
        return None
    return ObjectChange(CHANGED, label, fmt.unified_diff(before, after, label))


def stale_objects(kube: Kube, ks: Mapping[str, Any], built: list[dict[str, Any]]) -> list[str]:
    """`Kind/ns/name` of what a prune would delete (with `spec.prune`): the inventory's
    objects the build lacks that are still there, unless marked `prune: disabled`."""
    if not (ks.get("spec") or {}).get("prune"):
        return []
    wanted = {fmt.object_id(o) for o in built}
    out = []
    for ident, ns, name, api_version, kind in fmt.inventory_ids(ks):
        if ident in wanted:
            continue
        try:
            rt = kube.resource_for(api_version, kind)
        except KubeNotFound:
            continue
        live = kube.get_or_none(rt, name, ns or None)
        if live is None or fmt.prune_disabled(live):
            continue
        out.append(fmt.object_label({"kind": kind, "metadata": {"namespace": ns, "name": name}}))
    return out


class Differ:
    """Compares objects and prints what would change; a `buffered` one (a nested
    Kustomization's) keeps its lines in `lines` for its parent to print."""

    def __init__(self, ctx: Context, field_manager: str = FIELD_MANAGER, *,
                 buffered: bool = False) -> None:
        self.ctx = ctx
        self.field_manager = field_manager
        self.buffered = buffered
        self.lines: list[str] = []
        self.created: list[str] = []
        self.drifted: list[str] = []
        self.deleted: list[str] = []
        self.failed: list[str] = []

    def write(self, text: str) -> None:
        if self.buffered:
            self.lines.append(text)
        else:
            self.ctx.printer.result(text, end="")

    def show(self, line: str, diff: str = "") -> None:
        self.write(f"► {line}\n")
        if diff:
            self.write(diff)

    def compare(self, obj: dict[str, Any], default_namespace: str) -> ObjectChange | None:
        """Compare one object (and print it); the change, None for none (a failed dry-run is
        recorded in `failed` and printed)."""
        try:
            change = compare_object(self.ctx.kube, obj, default_namespace, self.field_manager)
        except KubeError as err:
            label = fmt.object_label(obj)
            self.failed.append(f"{label}: {err.message}")
            self.ctx.printer.failure(f"{label} dry-run failed: {err.message}")
            return None
        if change is None:
            return None
        (self.created if change.action == CREATED else self.drifted).append(change.label)
        self.show(f"{change.label} {'created' if change.action == CREATED else 'drifted'}",
                  change.diff)
        return change

    def changed(self) -> bool:
        return bool(self.created or self.drifted or self.deleted)

    def finish(self, fix: str) -> int:
        """The exit status (flux's): a failed dry-run fails the diff (>1, `fix` as the
        hint), a change is 1 and says so, nothing is 0."""
        if self.failed:
            raise CLIError(f"the dry-run of {len(self.failed)} object(s) failed: "
                           f"{self.failed[0]}", fix, exit_code=EXIT_DIFF_FAILED)
        if self.changed():
            self.ctx.printer.warning(f"{fmt.summary(self.created, self.drifted, self.deleted)}"
                                     ": identified at least one change, exiting with a "
                                     "non-zero status")
            return EXIT_DIFF
        self.ctx.printer.success("no changes")
        return EXIT_OK

    def prune(self, ks: dict[str, Any], built: list[dict[str, Any]]) -> None:
        for label in stale_objects(self.ctx.kube, ks, built):
            self.deleted.append(label)
            self.show(f"{label} deleted")


@dataclass(frozen=True)
class DiffOptions:
    """The build flags a diff and its nested diffs share."""

    ignore: Sequence[str] = ()
    strict: bool = False
    recursive: bool = False
    sources: Mapping[str, Path] = field(default_factory=dict)
    progress: bool = True


def diff_kustomization(differ: Differ, ks: dict[str, Any], path: Path, opts: DiffOptions, *,
                       root: Path | None = None, chain: tuple[str, ...] = ()) -> None:
    """Build `ks` from `path`, compare each object, list what a prune would delete, and with
    `opts.recursive` diff the nested Kustomizations that exist in the cluster (module
    docstring)."""
    ctx = differ.ctx
    meta = ks.get("metadata") or {}
    me = f"{meta.get('namespace')}/{meta.get('name')}"
    if opts.progress:
        ctx.printer.action(f"building Kustomization {me} from {path}")
    objects = build_objects(ctx, ks, path, ignore=opts.ignore, strict=opts.strict, root=root)
    default_ns = (ks.get("spec") or {}).get("targetNamespace") or "default"
    for obj in objects:
        failures = len(differ.failed)
        change = differ.compare(obj, default_ns)
        if len(differ.failed) > failures:
            continue
        if not opts.recursive or not is_kustomization(obj) or \
                (change is not None and change.action == CREATED):
            continue
        built = with_namespace(obj, default_ns)
        namespace, name = built["metadata"]["namespace"], str(built["metadata"].get("name"))
        if f"{namespace}/{name}" in (me, *chain):
            continue
        label = fmt.object_label(built)
        if (built.get("spec") or {}).get("kubeConfig"):
            differ.write(f"⚠️ {label} skipped: diff not supported for remote clusters\n")
            continue
        child = live_kustomization(ctx, namespace, name)
        if child is None:  # reconcile: disabled, or gone since the dry-run
            continue
        child_root, child_dir = nested_source(built, opts.sources)
        sub = Differ(ctx, differ.field_manager, buffered=True)
        diff_kustomization(sub, child, child_dir, opts, root=child_root, chain=(*chain, me))
        differ.failed += sub.failed
        if sub.changed():
            differ.created += sub.created
            differ.drifted += sub.drifted
            differ.deleted += sub.deleted
            differ.write(f"📁 {label} changed\n")
            for text in sub.lines:
                differ.write(text)
    if not differ.failed:
        differ.prune(ks, objects)


def load_for_diff(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    """The Kustomization to diff: the cluster's, or --kustomization-file's with the
    cluster's status (its inventory); without a cluster copy only with --ignore-not-found."""
    if args.ignore_not_found and args.kustomization_file is None:
        raise CLIError("--ignore-not-found needs --kustomization-file (the Kustomization to "
                       "diff when the cluster has none)")
    ks = load_kustomization(ctx, args.name, args.kustomization_file)
    if args.kustomization_file is None:
        return ks
    namespace = str(ks["metadata"].get("namespace") or ctx.namespace)
    live = live_kustomization(ctx, namespace, args.name)
    if live is None:
        if args.ignore_not_found:
            return ks
        raise CLIError(f"Kustomization '{namespace}/{args.name}' not found",
                       "to diff a Kustomization the cluster does not have yet, add "
                       "--ignore-not-found", exit_code=3)
    if live.get("status"):
        ks["status"] = live["status"]
    return ks


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    try:
        opts = DiffOptions(ignore=tuple(args.ignore_paths), strict=args.strict_substitute,
                           recursive=args.recursive, sources=local_sources_of(args),
                           progress=args.progress_bar)
        ks = load_for_diff(ctx, args)
        differ = Differ(ctx)
        diff_kustomization(differ, ks, args.path, opts)
    except CLIError as err:
        if err.exit_code == 1:
            err.exit_code = EXIT_DIFF_FAILED
        raise
    return differ.finish("fix the manifests so the API server accepts them")
