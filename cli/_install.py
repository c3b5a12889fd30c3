"""`afflux install` and `afflux uninstall`.

install: the CRDs, RBAC and the operators' Deployments from afflux's `config/default`
(`--components` to choose operators; `--with-ui` adds the web UI of `config/ui`; `--shards N` adds N shards of source-, kustomize-
and helm-controller, see `_shards`). `--export` prints the manifests; otherwise they are
applied server-side (field manager `afflux`), CRDs first.

uninstall: deletes what install made (Deployments, Services, RBAC), then the CRDs (which
deletes every Flux object: their finalizers are removed first so nothing hangs), then the
namespace unless `--keep-namespace`. Asks first on a terminal unless `--silent`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from afflux.api import KINDS, meta
from afflux.api._legacy import follow_live_conversion, point_conversion

from ._context import Context
from ._errors import EXIT_CANCELLED, CLIError
from ._format import dump_yaml
from ._installopts import (
    add_install_flags,
    bootstrapped,
    check_version,
    customize,
    options_from_args,
    other_manager,
    pull_secret,
    split_registry_creds,
)
from ._kinds import AVAILABLE_CONTROLLERS, COMPONENTS_HELP, CONTROLLERS, DEFAULT_COMPONENTS
from ._kube import CRDS, KubeError, KubeNotFound, ResourceType, resource_of
from ._manifests import (
    DEFAULT_REGISTRY,
    build_install_docs,
    build_ui_docs,
    find_config_dir,
    install_order,
    operator_image,
    retarget_namespace,
    select_components,
    set_operator_image,
)
from ._prompt import confirm, is_interactive
from ._shards import SHARDS_HELP, shard_docs, shards_arg
from ._version import version as afflux_version

__all__ = ["register", "run_install", "run_uninstall"]

FIELD_MANAGER = "afflux"


def _components(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [n for n in names if n not in AVAILABLE_CONTROLLERS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown component(s) {', '.join(unknown)}; choose from "
            f"{', '.join(AVAILABLE_CONTROLLERS)}")
    return names


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("install", parents=list(parents),
                       help="install afflux's CRDs and operators (or print them with --export)",
                       description="Install the afflux operators and CRDs.")
    p.add_argument("--export", action="store_true", help="print the manifests, apply nothing")
    p.add_argument("--dry-run", action="store_true",
                   help="apply with a server-side dry run (the API server checks, nothing "
                        "changes)")
    p.add_argument("--components", type=_components, default=list(DEFAULT_COMPONENTS),
                   help=COMPONENTS_HELP)
    p.add_argument("--components-extra", type=_components, default=[],
                   help="more operators to install, comma-separated")
    p.add_argument("--shards", type=shards_arg, default=0, metavar="N", help=SHARDS_HELP)
    p.add_argument("--with-ui", action="store_true",
                   help="also install the web UI (config/ui: `afflux ui --in-cluster`, acting "
                        "with each caller's own token; docs/ui.md)")
    p.add_argument("--manifests", type=Path, help="afflux's config/ directory (default: the "
                   "one beside the installed package)")
    p.add_argument("--registry", default=DEFAULT_REGISTRY,
                   help="container registry the operators' image is pulled from: "
                        f"<registry>/afflux:v<version> (default {DEFAULT_REGISTRY})")
    add_install_flags(p)
    p.set_defaults(func=run_install)

    u = sub.add_parser("uninstall", parents=list(parents),
                       help="remove afflux's operators, CRDs and objects from the cluster",
                       description="Remove afflux (and every Flux object) from the cluster.")
    u.add_argument("--keep-namespace", action="store_true", help="leave the namespace")
    u.add_argument("-s", "--silent", action="store_true", help="do not ask for confirmation")
    u.add_argument("--dry-run", action="store_true",
                   help="only show what would be deleted (server-side dry run)")
    u.add_argument("--manifests", type=Path, help="afflux's config/ directory")
    u.set_defaults(func=run_uninstall)


def install_docs(args: argparse.Namespace, namespace: str) -> list[dict[str, Any]]:
    """The install manifests of `args.components` (+ extras, + the UI with `--with-ui`);
    uninstall has no such flags and gets every component's and the UI's."""
    config = find_config_dir(args.manifests)
    components = list(dict.fromkeys([*getattr(args, "components", CONTROLLERS),
                                     *getattr(args, "components_extra", [])]))
    docs = select_components(build_install_docs(config), components)
    if getattr(args, "with_ui", True):
        docs += build_ui_docs(config)
    docs = shard_docs(docs, getattr(args, "shards", 0))
    registry = getattr(args, "registry", None) or DEFAULT_REGISTRY
    version = check_version(getattr(args, "toolkit_version", ""), afflux_version())
    docs = set_operator_image(docs, operator_image(registry, version))
    if namespace != "flux-system":
        docs = retarget_namespace(docs, namespace)
    docs = customize(docs, namespace, options_from_args(args, components))
    return [dict(d) for d in install_order(docs)]


def _rt(ctx: Context, doc: Mapping[str, Any]) -> ResourceType:
    return ctx.kube.resource_for(str(doc["apiVersion"]), str(doc["kind"]))


def _label(doc: Mapping[str, Any]) -> str:
    m = doc.get("metadata") or {}
    return "/".join(p for p in (str(doc.get("kind")), m.get("namespace"), m.get("name")) if p)


def image_pull_secret(args: argparse.Namespace, namespace: str) -> dict[str, Any] | None:
    """The Secret `--registry-creds` asks for (None without it); CLIError when malformed."""
    if not args.registry_creds:
        return None
    user, password = split_registry_creds(args.registry_creds, args.image_pull_secret)
    return pull_secret(args.image_pull_secret, namespace,
                       args.registry or DEFAULT_REGISTRY, user, password)


def confirm_override(ctx: Context, force: bool, *, refuse_bootstrapped: bool,
                     what: str = "install") -> None:
    """Flux's checks of an existing install (the labels of the GitRepository CRD): `install`
    refuses a bootstrapped cluster (bootstrap upgrades it); an install another tool manages
    (such as Helm) is overridden only when confirmed or with --force."""
    try:
        crd = ctx.kube.get_or_none(CRDS, "gitrepositories.source.toolkit.fluxcd.io")
    except KubeError as err:
        raise CLIError(f"cluster info unavailable: {err.message}") from None
    labels = ((crd or {}).get("metadata") or {}).get("labels") or {}
    version = labels.get("app.kubernetes.io/version", "")
    if refuse_bootstrapped and bootstrapped(labels):
        raise CLIError(f"this cluster has already been bootstrapped with {version or 'afflux'}",
                       "run `afflux bootstrap git` to upgrade it")
    manager = other_manager(labels)
    if manager is None or force:
        return
    ctx.printer.warning(f"afflux {version} has been installed on this cluster with {manager}")
    if not is_interactive() or not confirm(
            f"Are you sure you want to override the {manager} installation?"):
        raise CLIError(f"{what} cancelled", f"pass --force to override the {manager} "
                       "installation", exit_code=EXIT_CANCELLED)


def run_install(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    docs = install_docs(args, ctx.namespace)
    secret = image_pull_secret(args, ctx.namespace)
    if args.export:
        ctx.printer.result(dump_yaml(docs), end="")
        return 0
    printer = ctx.printer
    suffix = " (dry run)" if args.dry_run else ""
    confirm_override(ctx, args.force, refuse_bootstrapped=not args.dry_run)
    printer.action(f"installing components in {ctx.namespace} namespace{suffix}")
    for doc in _conversion_targets(ctx, docs) + ([secret] if secret else []):
        try:
            ctx.kube.apply(_rt(ctx, doc), doc, field_manager=FIELD_MANAGER,
                           dry_run=args.dry_run)
        except KubeError as err:
            raise CLIError(f"applying {_label(doc)} failed: {err.message}",
                           "is your user allowed to create CRDs and cluster roles?") from None
        printer.success(f"{_label(doc)} applied{suffix}")
    printer.success(f"install finished{suffix}")
    if not args.dry_run:
        printer.action("`afflux check` shows when the operators are ready")
    return 0


def _conversion_targets(ctx: Context, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The CRDs' conversion webhooks at the operators' Services in the install namespace,
    or, where the cluster's CRD already names a URL (a local setup), at that URL."""
    out = []
    for doc in point_conversion(docs, namespace=ctx.namespace):
        if doc.get("kind") == "CustomResourceDefinition" and "conversion" in doc.get("spec", {}):
            live = ctx.kube.get_or_none(CRDS, str(doc["metadata"]["name"]))
            doc = follow_live_conversion(doc, live)
        out.append(doc)
    return out


def _strip_finalizers(ctx: Context, dry_run: bool) -> None:
    for kind in KINDS:
        rt = resource_of(kind)
        try:
            objs = ctx.kube.list(rt)
        except KubeNotFound:
            continue
        for obj in objs:
            m = obj["metadata"]
            if meta.FINALIZER in (m.get("finalizers") or []) and not dry_run:
                ctx.kube.merge_patch(rt, m["name"], m.get("namespace"),
                                     {"metadata": {"finalizers": None}})
                ctx.printer.success(f"{kind.KIND}/{m.get('namespace')}/{m['name']} finalizers "
                                    "removed")


def run_uninstall(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    printer = ctx.printer
    if not args.silent and not args.dry_run and not confirm(
            "Are you sure you want to delete afflux and its custom resource definitions?"):
        raise CLIError("uninstall cancelled", exit_code=EXIT_CANCELLED)
    docs = install_docs(args, ctx.namespace)
    suffix = " (dry run)" if args.dry_run else ""
    printer.action(f"deleting components in {ctx.namespace} namespace{suffix}")
    for doc in reversed(docs):
        if doc["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        _delete(ctx, doc, args.dry_run)
    printer.action(f"deleting toolkit.fluxcd.io finalizers in all namespaces{suffix}")
    _strip_finalizers(ctx, args.dry_run)
    printer.action(f"deleting toolkit.fluxcd.io custom resource definitions{suffix}")
    for doc in docs:
        if doc["kind"] == "CustomResourceDefinition":
            _delete(ctx, doc, args.dry_run, rt=CRDS)
    if not args.keep_namespace:
        for doc in docs:
            if doc["kind"] == "Namespace":
                _delete(ctx, doc, args.dry_run)
    printer.success(f"uninstall finished{suffix}")
    return 0


def _delete(ctx: Context, doc: Mapping[str, Any], dry_run: bool,
            rt: ResourceType | None = None) -> None:
    m = doc.get("metadata") or {}
    try:
        ctx.kube.delete(rt or _rt(ctx, doc), str(m["name"]), m.get("namespace"),
                        dry_run=dry_run)
    except KubeNotFound:
        return
    except KubeError as err:
        ctx.printer.failure(f"{_label(doc)}: {err.message}")
        return
    ctx.printer.success(f"{_label(doc)} deleted")
