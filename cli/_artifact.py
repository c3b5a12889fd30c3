"""`afflux push artifact`, `pull artifact`, `list artifacts`, `tag artifact`: Flux's OCI
artifacts (a directory as a tar+gzip layer, see `_ociref`) in any OCI registry.

    afflux push artifact oci://<host>/<repo>:<tag> --path=<dir> --source=<url> --revision=<rev>
    afflux pull artifact oci://<host>/<repo>:<tag> -o <dir>
    afflux list artifacts oci://<host>/<repo>
    afflux tag artifact oci://<host>/<repo>:<tag> --tag <new> [--tag <another>]

Every one takes `--creds user:password`, `--ca-file` (a private CA) and `--insecure-registry`
(plain HTTP). The registry is spoken to directly (`_oci`), no Docker needed.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import os
import re
import tarfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from afflux.api._semver import SemverError, parse_constraint

from . import _ociref as oci
from ._context import Context
from ._errors import CLIError
from ._format import dump_json, dump_yaml, render_table
from ._oci import RegistryClient, parse_creds

__all__ = ["collect_files", "register"]

DEFAULT_IGNORE = (".git/",)


#: `--provider` values; afflux logs in to none of the cloud registries (as its operators,
#: which refuse those spec.provider values)
PROVIDERS = ("generic", "aws", "azure", "gcp")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provider", choices=PROVIDERS, default="generic",
                   help="who authenticates: generic (--creds); aws, azure and gcp are "
                        "refused, afflux has no cloud login (default generic)")
    p.add_argument("--creds", help="registry credentials: <username>[:<password>]")
    p.add_argument("--ca-file", type=Path, help="CA certificate of a registry with a "
                   "private CA")
    p.add_argument("--insecure-registry", action="store_true",
                   help="talk to the registry over plain HTTP")


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    push = sub.add_parser("push", parents=list(parents), help="push an OCI artifact")
    nouns = push.add_subparsers(dest="noun_word", metavar="<noun>")
    nouns.required = True
    p = nouns.add_parser("artifact", parents=list(parents),
                         help="push a directory (or file) as an OCI artifact",
                         description="Pack the files at --path as a Flux OCI artifact and push "
                         "it to oci://<host>/<repository>:<tag>.")
    p.add_argument("url", help="oci://<host>/<repository>:<tag>")
    p.add_argument("-f", "--path", required=True, help="the directory or file to push")
    p.add_argument("--source", required=True,
                   help="where the files come from, e.g. a Git URL (annotation "
                        "org.opencontainers.image.source)")
    p.add_argument("--revision", required=True,
                   help="their revision, e.g. main@sha1:<hex> (annotation "
                        "org.opencontainers.image.revision)")
    p.add_argument("-a", "--annotations", action="append", default=[], metavar="KEY=VALUE",
                   help="more manifest annotations")
    p.add_argument("--ignore-paths", action="append", default=[],
                   help="glob patterns of paths to leave out (.git/ always is)")
    p.add_argument("--resolve-symlinks", action="store_true",
                   help="pack what symbolic links point to, as copies (default: leave links "
                        "out)")
    p.add_argument("--reproducible", action="store_true",
                   help=f"set the created time to {oci.REPRODUCIBLE_CREATED}, so the same "
                        "files give the same digest")
    p.add_argument("--debug", action="store_true",
                   help="show each request to the registry (method, URL, status)")
    p.add_argument("-o", "--output", choices=("json", "yaml"),
                   help="also print the pushed artifact's reference and digest")
    _common(p)
    p.set_defaults(func=run_push)

    pull = sub.add_parser("pull", parents=list(parents), help="pull an OCI artifact")
    nouns = pull.add_subparsers(dest="noun_word", metavar="<noun>")
    nouns.required = True
    p = nouns.add_parser("artifact", parents=list(parents),
                         help="pull an OCI artifact and extract its content",
                         description="Pull a Flux OCI artifact and extract its files.")
    p.add_argument("url", help="oci://<host>/<repository>:<tag> (or @sha256:<digest>)")
    p.add_argument("-o", "--output", required=True, type=Path,
                   help="the directory to extract the files into")
    _common(p)
    p.set_defaults(func=run_pull)

    lst = sub.add_parser("list", parents=list(parents), help="list OCI artifacts")
    nouns = lst.add_subparsers(dest="noun_word", metavar="<noun>")
    nouns.required = True
    p = nouns.add_parser("artifacts", aliases=["artifact"], parents=list(parents),
                         help="list the artifacts (tags) of a repository",
                         description="List the tags of an OCI repository with their digest, "
                         "source and revision.")
    p.add_argument("url", help="oci://<host>/<repository>")
    p.add_argument("--filter-regex", help="only tags matching this regular expression")
    p.add_argument("--filter-semver", help="only tags that are semver versions in this range, "
                   "e.g. '>=1.0.0 <2.0.0'")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    _common(p)
    p.set_defaults(func=run_list)

    tag = sub.add_parser("tag", parents=list(parents), help="tag an OCI artifact")
    nouns = tag.add_subparsers(dest="noun_word", metavar="<noun>")
    nouns.required = True
    p = nouns.add_parser("artifact", parents=list(parents),
                         help="give an OCI artifact more tags",
                         description="Add tags to an artifact (the manifest is copied, no "
                         "blob moves).")
    p.add_argument("url", help="oci://<host>/<repository>:<tag>")
    p.add_argument("--tag", action="append", required=True, dest="tags",
                   help="the new tag (repeat for several)")
    _common(p)
    p.set_defaults(func=run_tag)


def _debug_to(ctx: Context) -> Callable[[str], None]:
    def debug(message: str) -> None:
        ctx.printer.err.write(f"  · {message}\n")
        ctx.printer.err.flush()
    return debug


def _client(args: argparse.Namespace, ref: oci.OCIRef, ctx: Context) -> RegistryClient:
    if args.provider != "generic":
        raise CLIError(f"--provider {args.provider} is not supported by afflux: it has no "
                       f"{args.provider} login",
                       "use --provider generic with --creds <username>:<password> (e.g. a "
                       "token from the cloud's own CLI)")
    if args.ca_file is not None and not args.ca_file.is_file():
        raise CLIError(f"--ca-file {args.ca_file} does not exist")
    debug = _debug_to(ctx) if getattr(args, "debug", False) else None
    return RegistryClient(ref.host, creds=parse_creds(args.creds), ca_file=args.ca_file,
                          insecure=args.insecure_registry, debug=debug)


def _ignored(rel: str, is_dir: bool, patterns: Sequence[str]) -> bool:
    name = rel + "/" if is_dir else rel
    for pattern in patterns:
        pat = pattern.strip()
        if not pat:
            continue
        if pat.endswith("/") and not is_dir:
            continue
        base = pat.rstrip("/").lstrip("/")
        if fnmatch.fnmatch(rel, base) or fnmatch.fnmatch(os.path.basename(rel), base) or \
                fnmatch.fnmatch(name, pat.lstrip("/")):
            return True
    return False


def collect_files(path: Path, ignore: Sequence[str] = (), *, resolve_symlinks: bool = False
                  ) -> list[tuple[str, bytes | None, bool]]:
    """(relative path, content or None for a directory, executable) of what to pack, sorted;
    a single file is packed under its own name. Symbolic links are left out, unless
    `resolve_symlinks`: then a link to a file is packed as a copy of the file and one to a
    directory as a copy of its tree (a link back into a directory it is in is not followed
    again)."""
    if path.is_file():
        return [(path.name, path.read_bytes(), os.access(path, os.X_OK))]
    if not path.is_dir():
        raise CLIError(f"--path {path} does not exist")
    patterns = [*DEFAULT_IGNORE, *ignore]
    out: list[tuple[str, bytes | None, bool]] = []
    for root, dirs, files in os.walk(path, followlinks=resolve_symlinks):
        rel_root = os.path.relpath(root, path)
        rel_root = "" if rel_root == "." else rel_root
        here = os.path.realpath(root)
        dirs.sort()
        keep = []
        for d in dirs:
            rel = f"{rel_root}/{d}" if rel_root else d
            full = os.path.join(root, d)
            if _ignored(rel, True, patterns):
                continue
            if os.path.islink(full):
                target = os.path.realpath(full)
                if not resolve_symlinks or here == target or \
                        here.startswith(target.rstrip(os.sep) + os.sep):
                    continue  # left out, or a cycle
            keep.append(d)
            out.append((rel, None, True))
        dirs[:] = keep
        for f in sorted(files):
            rel = f"{rel_root}/{f}" if rel_root else f
            full = Path(root) / f
            if _ignored(rel, False, patterns) or not full.is_file() or \
                    (full.is_symlink() and not resolve_symlinks):
                continue
            out.append((rel, full.read_bytes(), os.access(full, os.X_OK)))
    return sorted(out, key=lambda e: e[0])


def run_push(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    ref = oci.parse_oci_url(args.url, need_tag=True)
    if ref.digest:
        raise CLIError("push needs a tag, not a digest", "e.g. oci://ghcr.io/org/app:v1.0.0")
    annotations = {
        oci.CREATED: oci.REPRODUCIBLE_CREATED if args.reproducible else
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        oci.SOURCE: args.source,
        oci.REVISION: args.revision,
        **oci.parse_annotations(args.annotations),
    }
    files = collect_files(Path(args.path), args.ignore_paths,
                          resolve_symlinks=args.resolve_symlinks)
    layer = oci.tar_gzip(files)
    config = b"{}"
    manifest = oci.artifact_manifest(config, layer, annotations)
    client = _client(args, ref, ctx)
    ctx.printer.action(f"pushing artifact to {ref}")
    client.push_blob(ref.repository, config)
    client.push_blob(ref.repository, layer)
    digest = client.put_manifest(ref.repository, ref.tag, manifest)
    ctx.printer.success(f"artifact successfully pushed to {ref.name}@{digest}")
    if args.output:
        info = {"repository": ref.name, "tag": ref.tag, "digest": digest,
                "url": f"oci://{ref.name}:{ref.tag}"}
        ctx.printer.result(dump_json(info) if args.output == "json" else
                           dump_yaml([info], separator=False), end="")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    ref = oci.parse_oci_url(args.url, need_tag=True)
    client = _client(args, ref, ctx)
    ctx.printer.action(f"pulling artifact from {ref}")
    manifest, digest, _, _ = client.manifest_json(ref.repository, ref.reference)
    notes = manifest.get("annotations") or {}
    if notes.get(oci.SOURCE) or notes.get(oci.REVISION):
        ctx.printer.success(f"source {notes.get(oci.SOURCE, '')}")
        ctx.printer.success(f"revision {notes.get(oci.REVISION, '')}")
    layer = oci.content_layer(manifest)
    blob = client.get_blob(ref.repository, str(layer["digest"]))
    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            tar.extractall(out, filter="data")
    except (tarfile.TarError, OSError) as err:
        raise CLIError(f"cannot extract {ref}@{digest}: {err}",
                       "is it a Flux artifact (a tar+gzip layer)?") from None
    ctx.printer.success(f"artifact content extracted to {out}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    ref = oci.parse_oci_url(args.url, allow_tag=False)
    client = _client(args, ref, ctx)
    tags = client.tags(ref.repository)
    if args.filter_regex:
        try:
            pattern = re.compile(args.filter_regex)
        except re.error as err:
            raise CLIError(f"--filter-regex: {err}") from None
        tags = [t for t in tags if pattern.search(t)]
    if args.filter_semver:
        try:
            constraint = parse_constraint(args.filter_semver)
        except SemverError as err:
            raise CLIError(f"--filter-semver: {err}", "e.g. --filter-semver '>=1.0.0'") \
                from None
        tags = [t for t in tags if constraint.matches(t)]
    rows = []
    for tag in sorted(tags):
        manifest, digest, _, _ = client.manifest_json(ref.repository, tag)
        rows.append(oci.list_row(tag, digest, manifest, ref.name))
    if args.output == "table":
        ctx.printer.result(render_table(["ARTIFACT", "DIGEST", "SOURCE", "REVISION"], rows),
                           end="")
        return 0
    items = [{"url": f"oci://{r[0]}", "digest": r[1], "source": r[2], "revision": r[3],
              "tag": r[0].rsplit(":", 1)[1]} for r in rows]
    ctx.printer.result(dump_json(items) if args.output == "json" else
                       dump_yaml([{"artifacts": items}], separator=False), end="")
    return 0


def run_tag(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    ref = oci.parse_oci_url(args.url, need_tag=True)
    client = _client(args, ref, ctx)
    ctx.printer.action(f"tagging artifact {ref}")
    body, media, digest = client.get_manifest(ref.repository, ref.reference)
    for tag in args.tags:
        new = oci.parse_oci_url(f"oci://{ref.name}:{tag}", need_tag=True)
        client.put_manifest(ref.repository, new.tag, body, media)
        ctx.printer.success(f"artifact tagged as {new.name}:{new.tag} ({digest})")
    return 0


# --- build artifact, diff artifact (registered under `build` and `diff`) ----------------------


def register_build(nouns: argparse._SubParsersAction,
                   parents: Sequence[argparse.ArgumentParser]) -> None:
    p = nouns.add_parser("artifact", parents=list(parents),
                         help="write the tar+gzip `push artifact` would push, to a file",
                         description="Pack a directory (or one file) into the tar+gzip "
                         "layer `push artifact` pushes, and write it to --output.")
    p.add_argument("-p", "--path", required=True,
                   help="the directory or file to pack ('-': a YAML file read from stdin)")
    p.add_argument("-o", "--output", type=Path, default=Path("artifact.tgz"),
                   help="the file to write (default artifact.tgz)")
    p.add_argument("--ignore-paths", action="append", default=[],
                   help="paths to leave out, in .gitignore format (repeat; .git/ always)")
    p.add_argument("--resolve-symlinks", action="store_true",
                   help="pack the targets of symbolic links instead of leaving them out")
    p.set_defaults(func=run_build)


def register_diff(nouns: argparse._SubParsersAction,
                  parents: Sequence[argparse.ArgumentParser]) -> None:
    p = nouns.add_parser("artifact", parents=list(parents),
                         help="compare a local directory with an OCI artifact",
                         description="Compare the files of --path (packed as `push "
                         "artifact` packs them) with those of the artifact. Exit status: 0 "
                         "the same, 1 different (or the comparison failed), as flux.")
    p.add_argument("url", help="oci://<host>/<repository>:<tag> (or @sha256:<digest>)")
    p.add_argument("--path", required=True, help="the local directory or file")
    p.add_argument("--ignore-paths", action="append", default=[],
                   help="paths to leave out, in .gitignore format (repeat; .git/ always)")
    _common(p)
    p.set_defaults(func=run_diff)


def _local_path(text: str) -> Path:
    if text == "-":
        import sys  # noqa: PLC0415
        import tempfile  # noqa: PLC0415

        data = sys.stdin.read().rstrip("\r\n")
        handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)  # noqa: SIM115
        with handle:
            handle.write(data)
        return Path(handle.name)
    path = Path(text)
    if not path.exists():
        raise CLIError(f"invalid path '{text}', must point to an existing directory or file")
    return path


def run_build(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    path = _local_path(args.path)
    try:
        ctx.printer.action(f"building artifact from {args.path}")
        files = collect_files(path, args.ignore_paths, resolve_symlinks=args.resolve_symlinks)
        out: Path = args.output
        try:
            out.write_bytes(oci.tar_gzip(files))
        except OSError as err:
            raise CLIError(f"cannot write {out}: {err.strerror or err}",
                           "check --output") from None
    finally:
        if args.path == "-":
            path.unlink(missing_ok=True)
    ctx.printer.success(f"artifact created at {out}")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    ref = oci.parse_oci_url(args.url, need_tag=True)
    local = {rel: content for rel, content, _ in collect_files(
        _local_path(args.path), args.ignore_paths) if content is not None}
    client = _client(args, ref, ctx)
    manifest, digest, _, _ = client.manifest_json(ref.repository, ref.reference)
    layer = oci.content_layer(manifest)
    remote = oci.files_of_layer(client.get_blob(ref.repository, str(layer["digest"])))
    changes = oci.compare_files(local, remote)
    if changes:
        ctx.printer.result("\n".join(changes))
        raise CLIError(f"the remote artifact contents differs from the local one "
                       f"({len(changes)} file(s); + local only, - artifact only, ~ changed)",
                       f"`afflux push artifact {args.url} --path {args.path} ...` pushes "
                       "the local files")
    ctx.printer.success(f"no changes detected ({ref.name}@{digest})")
    return 0
