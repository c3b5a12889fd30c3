"""`afflux build kustomization <name> --path <dir>`: print the objects the Kustomization would
apply if its source held the files in `<dir>`.

The Kustomization is read from the cluster (or from `--kustomization-file`); its spec shapes
the build exactly as kustomize-controller does it: a generated kustomization.yaml when the
directory has none, targetNamespace, namePrefix/nameSuffix, patches, images, components, then
`postBuild` substitution (inline variables over the ConfigMaps and Secrets of
`substituteFrom`, read from the cluster unless `--dry-run`), commonMetadata and the owner
labels. SOPS-encrypted data stays encrypted (the CLI holds no decryption keys). Remote bases
are fetched by kustomize, as `flux build` does (kustomize-controller's default too).

The build itself is kustomize-controller's pure build library
(`afflux.controllers.kustomize._build`, which runs the real `kustomize` binary) with its
substitution and object libraries (`_substitute`, `_objects`): the CLI imports these as
libraries so a local build is byte-for-byte what the controller builds. This is the one,
documented exception to "the CLI does not import operators": pure build libraries only,
never an operator's reconcilers, handlers or Kubernetes code.

`diff kustomization` (`_diff`) reuses `build_objects`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from afflux.api import Kustomization
from afflux.controllers.kustomize._build import BuildError, BuildOptions, build
from afflux.controllers.kustomize._objects import (
    dump_object,
    set_common_metadata,
    set_owner_labels,
)
from afflux.controllers.kustomize._substitute import (
    SubstitutionError,
    merge_variables,
    substitute_objects,
)
from afflux.controllers.kustomize._tools import ToolNotFoundError

from ._context import Context
from ._errors import CLIError
from ._kube import KubeError, KubeNotFound, ResourceType, resource_of
from ._localsources import (
    LocalSourceError,
    is_kustomization,
    kustomization_path,
    object_namespace,
    parse_local_sources,
)

__all__ = [
    "build_objects",
    "build_recursive",
    "live_kustomization",
    "load_kustomization",
    "local_sources_of",
    "nested_source",
    "register",
    "source_root",
    "with_namespace",
]

CONFIGMAPS = ResourceType("", "v1", "ConfigMap", "configmaps")
SECRETS = ResourceType("", "v1", "Secret", "secrets")


def add_build_flags(p: argparse.ArgumentParser) -> None:
    """The flags `build kustomization` and `diff kustomization` share."""
    p.add_argument("name", help="the name of the Kustomization")
    p.add_argument("--path", required=True, type=Path,
                   help="a local directory that matches the Kustomization's spec.path")
    p.add_argument("--kustomization-file", type=Path,
                   help="a local file with the Kustomization (instead of the cluster's)")
    p.add_argument("--ignore-paths", action="append", default=[],
                   help="glob patterns of files to leave out of the build")
    p.add_argument("--strict-substitute", action="store_true",
                   help="fail on a variable that is not defined (and has no default)")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="also build the Kustomizations the build contains, from the "
                        "directories of --local-sources")
    p.add_argument("--local-sources", action="append", default=[], metavar="KIND/NS/NAME=PATH",
                   help="comma-separated local directories of sources for --recursive, "
                        "e.g. GitRepository/flux-system/flux-system=./")
    p.add_argument("--in-memory-build", action="store_true",
                   help="accepted for flux compatibility: afflux always builds in a scratch "
                        "copy and never writes into --path")


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("build", parents=list(parents),
                       help="build a Kustomization locally, or an artifact's tarball")
    nouns = p.add_subparsers(dest="noun_word", metavar="<noun>")
    nouns.required = True
    k = nouns.add_parser(
        "kustomization", aliases=["ks"], parents=list(parents),
        help="print what a Kustomization would apply from a local directory",
        description="Build the manifests in --path the way the named Kustomization builds "
        "its source (overlay, substitutions, metadata) and print them.")
    add_build_flags(k)
    k.add_argument("--dry-run", action="store_true",
                   help="do not read the cluster (needs --kustomization-file; substitutions "
                        "from ConfigMaps and Secrets are skipped)")
    k.set_defaults(func=run)
    from . import _artifact  # noqa: PLC0415 - `build artifact` lives with the artifact commands

    _artifact.register_build(nouns, parents)


def load_kustomization(ctx: Context, name: str, file: Path | None) -> dict[str, Any]:
    """The Kustomization from `file` (the document named `name`) or from the cluster."""
    if file is not None:
        try:
            docs = [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict)]
        except (OSError, yaml.YAMLError) as err:
            raise CLIError(f"cannot read --kustomization-file {file}: {err}") from None
        for doc in docs:
            if doc.get("kind") == "Kustomization" and \
                    (doc.get("metadata") or {}).get("name") == name and \
                    str(doc.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/"):
                doc.setdefault("metadata", {}).setdefault("namespace", ctx.namespace)
                return doc
        raise CLIError(f"{file} holds no Kustomization named {name!r}")
    try:
        return ctx.kube.get(resource_of(Kustomization), name, ctx.namespace)
    except KubeNotFound:
        crds = ctx.kube.get_or_none(
            ResourceType("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                         "customresourcedefinitions", namespaced=False),
            f"{Kustomization.PLURAL}.{Kustomization.GROUP}")
        if crds is None:
            raise CLIError("the cluster has no Kustomization kind (the Flux CRDs are not "
                           "installed)", "install afflux first: `afflux install` or "
                           "`afflux bootstrap git ...`") from None
        raise CLIError(f"Kustomization '{ctx.namespace}/{name}' not found",
                       "check the name and -n/--namespace; `afflux get ks -A` lists them",
                       exit_code=3) from None


_DIR_KEYS = ("resources", "bases", "components")
_FILE_KEYS = ("crds", "configurations", "patchesStrategicMerge")
_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def _references(k: Mapping[str, Any]) -> list[str]:
    """The local paths a kustomization names (kustomizations, resources, patches, generator
    sources); remote ones (URLs) are left out."""
    refs: list[str] = []
    for key in (*_DIR_KEYS, *_FILE_KEYS):
        value = k.get(key) or []
        refs += [v for v in value if isinstance(v, str) and "\n" not in v] \
            if isinstance(value, list) else []
    for key in ("patches", "patchesJson6902", "replacements"):
        for item in k.get(key) or []:
            if isinstance(item, Mapping) and isinstance(item.get("path"), str):
                refs.append(item["path"])
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in k.get(key) or []:
            if isinstance(gen, Mapping):
                for src in gen.get("files") or []:
                    if isinstance(src, str):
                        refs.append(src.partition("=")[2] or src)
                for src in [*(gen.get("envs") or []), gen.get("env")]:
                    if isinstance(src, str):
                        refs.append(src)
    return [r for r in refs if "://" not in r and not r.startswith("git@")]


def source_root(path: Path) -> Path:
    """The smallest directory holding `path` and everything its kustomizations reach
    (`../base` and the like): what plays the source artifact in a local build."""
    start = path.resolve()
    root = start
    seen: set[Path] = set()
    todo = [start]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        file = next((current / n for n in _KUSTOMIZATION_FILES if (current / n).is_file()),
                    None)
        if file is None:
            continue
        try:
            content = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(content, dict):
            continue
        for ref in _references(content):
            target = Path(os.path.normpath(current / ref))
            root = Path(os.path.commonpath([root, target]))
            if target.is_dir():
                todo.append(target)
    return root


def _copy(root: Path, destination: Path, ignore: Sequence[str]) -> None:
    from ._artifact import _ignored  # noqa: PLC0415 - the same glob rules as push artifact

    def skip(directory: str, names: list[str]) -> set[str]:
        rel_dir = os.path.relpath(directory, root)
        out = {".git"} & set(names)
        for n in names:
            rel = n if rel_dir == "." else f"{rel_dir}/{n}"
            if ignore and _ignored(rel, os.path.isdir(os.path.join(directory, n)), ignore):
                out.add(n)
        return out

    shutil.copytree(root, destination, symlinks=True, ignore=skip)


def _variables_of(kind: str, body: Mapping[str, Any]) -> dict[str, str]:
    data = body.get("data") or {}
    if kind != "Secret":
        return {str(k): str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    for key, value in data.items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode("utf-8",
                                                                               "replace")
        except (binascii.Error, ValueError):
            raise CLIError(f"Secret key {key!r} is not valid base64") from None
    return out


def substitution_variables(ctx: Context | None, ks: Mapping[str, Any]) -> dict[str, str] | None:
    """postBuild variables (None: no postBuild); from the cluster unless `ctx` is None."""
    post = (ks.get("spec") or {}).get("postBuild") or {}
    inline = post.get("substitute") or {}
    refs = post.get("substituteFrom") or []
    if not inline and not refs:
        return None
    namespace = (ks.get("metadata") or {}).get("namespace") or "flux-system"
    sources: list[dict[str, str] | None] = []
    for ref in refs if ctx is not None else []:
        kind = ref.get("kind", "ConfigMap")
        rt = SECRETS if kind == "Secret" else CONFIGMAPS
        try:
            body = ctx.kube.get_or_none(rt, str(ref.get("name")), namespace)
        except KubeError as err:
            raise CLIError(f"substitute from {kind} {namespace}/{ref.get('name')}: "
                           f"{err.message}") from None
        if body is None:
            if ref.get("optional"):
                continue
            raise CLIError(f"substitute from {kind} '{namespace}/{ref.get('name')}' failed: "
                           "not found", "create it, or mark the reference optional")
        sources.append(_variables_of(kind, body))
    return merge_variables(*sources, {str(k): str(v) for k, v in inline.items()})


def build_objects(ctx: Context | None, ks: Mapping[str, Any], path: Path, *,
                  ignore: Sequence[str] = (), strict: bool = False,
                  root: Path | None = None) -> list[dict[str, Any]]:
    """The objects `ks` would apply with `path` as its spec.path (module docstring); `root`
    is the source's root (default: what `source_root` finds)."""
    if not path.is_dir():
        raise CLIError(f"--path {path} is not a directory")
    spec = dict(ks.get("spec") or {})
    meta = ks.get("metadata") or {}
    root = root.resolve() if root is not None else source_root(path)
    rel = os.path.relpath(path.resolve(), root)
    spec["path"] = "" if rel == "." else rel
    with tempfile.TemporaryDirectory(prefix="afflux-build-") as tmp:
        # the build copies only what it reads and never writes `root`: a copy first is
        # needed only to leave out the files of --ignore-paths and a checkout's .git
        src = root
        if ignore or (root / ".git").exists():
            src = Path(tmp) / "src"
            _copy(root, src, ignore)
        try:
            # remote bases are fetched, as flux build does (the CLI runs on the user's machine)
            objects = build(src, BuildOptions.from_spec(spec), remote_bases=True)
        except BuildError as err:
            raise CLIError(f"build failed: {err}", "fix the manifests (or the Kustomization's "
                           "patches) and try again") from None
        except ToolNotFoundError as err:
            raise CLIError(str(err), "run `make tools` or put kustomize on the PATH") from None
    variables = substitution_variables(ctx, ks)
    if variables is not None:
        try:
            objects = substitute_objects(objects, variables, strict=strict, force=True)
        except SubstitutionError as err:
            raise CLIError(f"post build substitution failed: {err}") from None
    common = spec.get("commonMetadata") or {}
    if common:
        objects = set_common_metadata(objects, common.get("labels"), common.get("annotations"))
    return set_owner_labels(objects, str(meta.get("name", "")),
                            str(meta.get("namespace") or "flux-system"))


def local_sources_of(args: argparse.Namespace) -> dict[str, Path]:
    """--local-sources parsed; a CLIError with the expected form when one is malformed."""
    try:
        return parse_local_sources(args.local_sources)
    except LocalSourceError as err:
        raise CLIError(str(err)) from None


def with_namespace(obj: Mapping[str, Any], default_namespace: str) -> dict[str, Any]:
    """A copy of a built object with its namespace filled in (`default_namespace` when the
    build left it out, where the controller would apply it)."""
    out = dict(obj)
    out["metadata"] = {**(obj.get("metadata") or {}),
                       "namespace": object_namespace(obj, default_namespace)}
    return out


def live_kustomization(ctx: Context, namespace: str, name: str) -> dict[str, Any] | None:
    """The cluster's Kustomization `namespace/name` (None: there is none)."""
    try:
        return ctx.kube.get_or_none(resource_of(Kustomization), name, namespace)
    except KubeError as err:
        raise CLIError(f"cannot read Kustomization {namespace}/{name}: {err.message}") \
            from None


def nested_source(ks: Mapping[str, Any], sources: Mapping[str, Path]) -> tuple[Path, Path]:
    """(source root, directory) of a Kustomization found in a build (`_localsources`), as a
    CLIError with the flag to add when --local-sources lacks its source."""
    try:
        root, directory = kustomization_path(ks, sources)
    except LocalSourceError as err:
        raise CLIError(str(err), "map each source of the nested Kustomizations to a local "
                       "directory with --local-sources Kind/namespace/name=path") from None
    if not directory.is_dir():
        meta = ks.get("metadata") or {}
        raise CLIError(f"{directory} (the spec.path of Kustomization "
                       f"{meta.get('namespace')}/{meta.get('name')} in its local source) "
                       "is not a directory", "check the directory given in --local-sources")
    return root, directory


def build_recursive(ctx: Context | None, ks: Mapping[str, Any], path: Path,
                    sources: Mapping[str, Path], *, ignore: Sequence[str] = (),
                    strict: bool = False, root: Path | None = None,
                    chain: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """`build_objects`, then, depth first, the objects of each Kustomization the build
    contains, built from its source's directory in `sources` joined with its spec.path
    (`_localsources`) with the spec of the cluster's copy when there is one, as flux (always
    the built one with `ctx` None: --dry-run). A Kustomization already being built further
    up (itself, or a cycle) is not descended into again."""
    meta = ks.get("metadata") or {}
    me = f"{meta.get('namespace')}/{meta.get('name')}"
    objects = build_objects(ctx, ks, path, ignore=ignore, strict=strict, root=root)
    nested: list[dict[str, Any]] = []
    default_ns = (ks.get("spec") or {}).get("targetNamespace") or "default"
    for obj in objects:
        if not is_kustomization(obj):
            continue
        built = with_namespace(obj, default_ns)
        namespace, name = built["metadata"]["namespace"], str(built["metadata"].get("name"))
        if f"{namespace}/{name}" in (me, *chain):
            continue
        child_root, child_dir = nested_source(built, sources)
        child = (live_kustomization(ctx, namespace, name) if ctx is not None else None) \
            or built
        nested += build_recursive(ctx, child, child_dir, sources, ignore=ignore,
                                  strict=strict, root=child_root, chain=(*chain, me))
    return objects + nested


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    if args.dry_run and args.kustomization_file is None:
        raise CLIError("--dry-run needs --kustomization-file (the cluster is not read)")
    sources = local_sources_of(args)
    ks = load_kustomization(ctx, args.name, args.kustomization_file)
    reader = None if args.dry_run else ctx
    if args.recursive:
        objects = build_recursive(reader, ks, args.path, sources, ignore=args.ignore_paths,
                                  strict=args.strict_substitute)
    else:
        objects = build_objects(reader, ks, args.path, ignore=args.ignore_paths,
                                strict=args.strict_substitute)
    ctx.printer.result("".join("---\n" + dump_object(obj) for obj in objects), end="")
    return 0
