"""`afflux trace <kind> <name>` (or `<kind>/<name>`, or `<name> --kind K --api-version V`):
from any object in the cluster to the Flux object that applied it and that one's source,
with revisions and ready status, as `flux trace` shows them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ._context import Context
from ._errors import EXIT_FAILURE, CLIError, NotFoundError
from ._kinds import noun_for_kind
from ._kube import KubeError, KubeNotFound, ResourceType, resource_of
from ._tracefmt import (
    Section,
    flux_owner,
    helm_release_of,
    helmchart_ref,
    manages_release,
    render_report,
    section_for,
    source_ref,
)

__all__ = ["owner_of", "register", "run", "trace_sections"]

_MAX_DEPTH = 8


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "trace", parents=list(parents),
        help="show which Flux object applied an object, and from which source and revision",
        description="Trace an object to the Kustomization or HelmRelease that applied it and "
                    "to its source.",
    )
    p.add_argument("targets", nargs="+", metavar="TARGET",
                   help="<kind> <name>..., <kind>/<name>..., or <name> with --kind")
    p.add_argument("--kind", help="the object's kind, e.g. Deployment")
    p.add_argument("--api-version", help="the object's API version, e.g. apps/v1")
    p.set_defaults(func=run)


def _targets(ctx: Context, args: argparse.Namespace) -> list[tuple[ResourceType, str]]:
    kube = ctx.kube
    if args.kind or args.api_version:
        if not args.kind:
            raise CLIError("--api-version needs --kind")
        rt = kube.resource_for(args.api_version, args.kind) if args.api_version \
            else kube.find_resource(args.kind)
        return [(rt, name) for name in args.targets]
    first = args.targets[0]
    if "/" in first:
        out = []
        for target in args.targets:
            kind, _, name = target.partition("/")
            if not kind or not name:
                raise CLIError(f"{target!r}: expected <kind>/<name>")
            out.append((kube.find_resource(kind), name))
        return out
    if len(args.targets) < 2:
        raise CLIError("give the object as <kind> <name>, <kind>/<name>, or <name> --kind <kind>",
                       "e.g. `afflux trace deployment podinfo -n apps`")
    rt = kube.find_resource(first)
    return [(rt, name) for name in args.targets[1:]]


def _get(ctx: Context, kind: str, name: str, ns: str) -> dict[str, Any]:
    try:
        rt = resource_of(noun_for_kind(kind).kind)
    except KeyError:
        raise CLIError(f"unknown Flux kind {kind!r}") from None
    try:
        return ctx.kube.get(rt, name, ns)
    except KubeNotFound:
        raise NotFoundError(f"{kind} '{ns}/{name}' not found",
                            "it may have been deleted; `afflux get all -A` lists what exists") \
            from None


def owner_of(ctx: Context, obj: dict[str, Any], depth: int = 0) -> tuple[str, str, str] | None:
    """(kind, name, namespace) of the Kustomization or HelmRelease that manages `obj`: by its
    labels (`flux_owner`); for an object of a Helm release (Helm's release annotations),
    the HelmRelease whose release it is; else, as flux, the owner of its ownerReferences
    that is managed (a Pod -> its ReplicaSet -> its Deployment)."""
    owner = flux_owner(obj)
    if owner is not None:
        return owner
    release = helm_release_of(obj)
    if release is not None:
        try:
            hrs = ctx.kube.list(resource_of(noun_for_kind("HelmRelease").kind))
        except KubeError:
            hrs = []
        for hr in sorted(hrs, key=lambda h: h["metadata"].get("namespace", "") != release[1]):
            if manages_release(hr, *release):
                return "HelmRelease", hr["metadata"]["name"], hr["metadata"]["namespace"]
    if depth >= _MAX_DEPTH:
        return None
    ns = (obj.get("metadata") or {}).get("namespace")
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        try:
            rt = ctx.kube.resource_for(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
            parent = ctx.kube.get(rt, str(ref.get("name", "")), ns if rt.namespaced else None)
        except KubeError:
            continue
        found = owner_of(ctx, parent, depth + 1)
        if found is not None:
            return found
    return None


def trace_sections(ctx: Context, obj: dict[str, Any],
                   owner: tuple[str, str, str] | None = None) -> list[Section]:
    """The object's block, then each Flux object up the chain (a HelmRelease applied by a
    Kustomization shows both) with its chart and source."""
    sections = [section_for(obj, top=True, managed=True if owner else None)]
    current = obj
    for step in range(_MAX_DEPTH):
        owner = owner if step == 0 and owner else owner_of(ctx, current)
        if owner is None:
            break
        kind, name, ns = owner
        applier = _get(ctx, kind, name, ns)
        sections.append(section_for(applier))
        if kind == "HelmRelease":
            chart = helmchart_ref(applier)
            if chart:
                try:
                    sections.append(section_for(_get(ctx, "HelmChart", chart[1], chart[0])))
                except NotFoundError:
                    pass
        src = source_ref(applier)
        if src is not None:
            try:
                sections.append(section_for(_get(ctx, *src)))
            except (NotFoundError, CLIError) as err:
                sections.append([(src[0], src[1]), ("Namespace", src[2]),
                                 ("Status", err.message)])
        if kind != "HelmRelease":
            break
        current = applier  # who applied the HelmRelease?
    return sections


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    reports, failed = [], False
    for rt, name in _targets(ctx, args):
        ns = ctx.namespace if rt.namespaced else None
        try:
            obj = ctx.kube.get(rt, name, ns)
        except KubeNotFound:
            where = f" in {ns} namespace" if ns else ""
            raise NotFoundError(f"{rt.kind} '{name}' not found{where}",
                                "check the name and -n/--namespace") from None
        except KubeError:
            raise
        owner = owner_of(ctx, obj)
        if owner is None:
            ctx.printer.failure(f"{rt.kind}/{name} is not managed by Flux (it has no "
                                "kustomize.toolkit.fluxcd.io or helm.toolkit.fluxcd.io labels, "
                                "is in no HelmRelease's release, and neither are its owners)")
            failed = True
            continue
        reports.append(render_report(trace_sections(ctx, obj, owner)))
    ctx.printer.result("---\n".join(reports), end="")
    return EXIT_FAILURE if failed else 0
