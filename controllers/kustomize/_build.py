"""Building a Kustomization: the artifact directory in, the final list of objects out.

`build(source_dir, options)` does what kustomize-controller does before it applies anything:

1. copies what the build can read (`needed_paths`: the tree of `spec.path` and of the
   kustomizations, files and link targets it reaches) from the unpacked artifact to a
   private scratch directory, so the caller's tree is never written to and a big
   repository is not copied for each of its apps; symlinks that leave the artifact are
   refused;
2. resolves `spec.path` inside it (a path that climbs out of the artifact is refused);
3. generates a `kustomization.yaml` when the path has none (`_generate`);
4. writes the spec's overlay into that kustomization file, as Flux does: `targetNamespace`
   becomes its `namespace`, `namePrefix`/`nameSuffix` replace its own, `patches` (strategic
   merge or JSON 6902, with targets) and `components` are appended, `images` replace an entry
   of the same name or are appended;
5. checks every kustomization it reaches: a reference that leaves the artifact (`../..`, an
   absolute path, a `file://` URL) is an error naming the kustomization file; a remote
   reference (a Git URL such as `https://host/org/repo//path?ref=v1`, `git@host:org/repo`,
   `github.com/org/repo`, or an HTTP(S) file URL) is fetched by kustomize when remote bases
   are allowed (kustomize-controller's `--no-remote-bases=false`, Flux's default, and the
   CLI), and an error naming the file and the flag when they are not;
6. decrypts SOPS-encrypted secretGenerator sources when given a decryptor (`_sops`);
7. runs the real `kustomize build` with `--load-restrictor LoadRestrictionsRootOnly` (a
   remote base is loaded from kustomize's own clone, under the same restriction), within the
   timeout (the whole process group is killed at the end of it, the `git` it runs for a
   remote base included), with at most `MAX_OUTPUT` bytes of output, and reads it; a failure
   carries kustomize's message and the file it failed on. kustomize and git run with a
   scratch HOME (no credentials of the operator's user), no terminal prompt, git limited to
   the http, https, ssh and git protocols (never `file` or `ext`), and of the operator's
   environment only PATH, the proxy variables and the CA-bundle variables
   (`SSL_CERT_FILE`, `GIT_SSL_CAINFO`, ...). Credentials in a URL (`https://user:token@...`)
   never reach a message: user info is stripped from every URL in them;
8. decrypts SOPS-encrypted objects (with a decryptor), or refuses an encrypted Secret (without).

`run_build` returns the objects with the remote references the build fetched
(`BuildResult.remote`): remote content can change under the same artifact and spec, so such
a build must not be cached (`_buildcache`). `build` returns only the objects.

What it leaves to the reconciler, in Flux's order: `postBuild` substitution (`_substitute`),
then `commonMetadata` and the owner labels (`_objects.set_common_metadata`,
`set_owner_labels`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from ._errors import BuildError
from ._generate import GenerateError, ensure_kustomization, find_kustomization
from ._objects import ManifestError, describe, dump_object, is_encrypted_secret, load_documents
from ._paths import inside, load_kustomization, relative
from ._tools import find_tool

if TYPE_CHECKING:
    from ._sops import SopsDecryptor

__all__ = [
    "MAX_OUTPUT",
    "NO_REMOTE_BASES_FLAG",
    "BuildError",
    "BuildOptions",
    "BuildResult",
    "RemoteReference",
    "build",
    "check_references",
    "is_remote",
    "needed_paths",
    "overlay_kustomization",
    "resolve_path",
    "run_build",
    "strip_userinfo",
]

#: The load restriction of every build: files must be in or below the kustomization's root.
LOAD_RESTRICTOR = "LoadRestrictionsRootOnly"
DEFAULT_TIMEOUT = 300.0
#: The most bytes a `kustomize build` may print (remote bases are not bounded by the artifact)
MAX_OUTPUT = 100 << 20
#: How much of kustomize's error output is read for the message
_MAX_STDERR = 64 << 10
#: kustomize-controller's flag that refuses remote bases, as a message names it
NO_REMOTE_BASES_FLAG = "--no-remote-bases=true"
#: What git may speak when kustomize fetches a remote base (never `file`, `ext`)
_GIT_PROTOCOLS = "https:http:ssh:git"
#: Variables of the operator's environment kustomize and git get (proxies, CA bundles)
_PASSED_ENV = (
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
)


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """The fields of a Kustomization spec that shape the build."""

    path: str = ""
    target_namespace: str | None = None
    name_prefix: str | None = None
    name_suffix: str | None = None
    patches: tuple[Mapping[str, Any], ...] = ()
    images: tuple[Mapping[str, Any], ...] = ()
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False
    build_metadata: tuple[str, ...] = ()

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BuildOptions:
        """From a Kustomization's `spec` as the API returns it (camelCase keys)."""
        return cls(
            path=spec.get("path") or "",
            target_namespace=spec.get("targetNamespace") or None,
            name_prefix=spec.get("namePrefix") or None,
            name_suffix=spec.get("nameSuffix") or None,
            patches=tuple(spec.get("patches") or ()),
            images=tuple(spec.get("images") or ()),
            components=tuple(spec.get("components") or ()),
            ignore_missing_components=bool(spec.get("ignoreMissingComponents")),
            build_metadata=tuple(spec.get("buildMetadata") or ()),
        )


# --- paths --------------------------------------------------------------------------------------


def resolve_path(root: Path, path: str) -> Path:
    """`spec.path` inside `root` (`./apps`, `apps/`, `/apps` and `` all work); a path that
    climbs out of the root raises BuildError."""
    parts: list[str] = []
    for part in PurePosixPath(path or ".").parts:
        if part in ("/", "."):
            continue
        if part == "..":
            if not parts:
                raise BuildError(
                    f"spec.path {path!r} points outside the source artifact: "
                    "it must be a directory inside it"
                )
            parts.pop()
            continue
        parts.append(part)
    return root.joinpath(*parts)


# --- the overlay ------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HOST_PATH = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(:[0-9]+)?/")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@")


def is_remote(reference: str) -> bool:
    """Whether kustomize would fetch `reference` rather than read a local path: a URL, an
    scp-like git address (`git@host:org/repo`), a `git::` getter, `gh:`, or a path
    starting with a host name (`github.com/org/repo`, `github.com:org/repo`)."""
    ref = reference.strip()
    return bool(
        _SCHEME.match(ref)
        or ref.startswith(("git@", "git::", "gh:", "github.com:"))
        or _SCP_LIKE.match(ref)
        or _HOST_PATH.match(ref)
    )


def strip_userinfo(text: str) -> str:
    """`text` with the user info (`user:token@`) taken out of every URL in it."""
    return _USERINFO.sub(r"\1", text)


def _reads_local_files(reference: str) -> bool:
    """A `file://` URL (kustomize would clone or read it from the operator's disk)."""
    ref = reference.strip().lower()
    return ref.startswith("file:") or ref.startswith("git::file:")


def _target(target: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not target:
        return None
    keys = ("group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector")
    selected = {k: target[k] for k in keys if target.get(k)}
    return selected or None


def overlay_kustomization(
    kustomization: Mapping[str, Any],
    options: BuildOptions,
    *,
    component_exists: Callable[[str], bool] = lambda _: True,
) -> dict[str, Any]:
    """The kustomization with the spec's overlay written into it (module docstring, step 4).

    Components must be local relative paths; with `ignore_missing_components`, those for which
    `component_exists` is false are left out."""
    out = dict(kustomization)
    if options.target_namespace:
        out["namespace"] = options.target_namespace
    if options.name_prefix:
        out["namePrefix"] = options.name_prefix
    if options.name_suffix:
        out["nameSuffix"] = options.name_suffix
    if options.patches:
        patches = list(out.get("patches") or [])
        for patch in options.patches:
            entry: dict[str, Any] = {"patch": patch.get("patch", "")}
            target = _target(patch.get("target"))
            if target:
                entry["target"] = target
            patches.append(entry)
        out["patches"] = patches
    if options.components:
        components = list(out.get("components") or [])
        for component in options.components:
            if is_remote(component) or component.startswith("/"):
                raise BuildError(f"component path {component!r} must be local and relative")
            if options.ignore_missing_components and not component_exists(component):
                continue
            components.append(component)
        out["components"] = components
    if options.images:
        images = [dict(i) for i in out.get("images") or []]
        for image in options.images:
            entry = {
                k: image[k] for k in ("name", "newName", "newTag", "digest") if image.get(k)
            }
            names = [i.get("name") for i in images]
            if entry.get("name") in names:
                images[names.index(entry.get("name"))] = entry
            else:
                images.append(entry)
        out["images"] = images
    if options.build_metadata:
        # kustomize's own `buildMetadata` (originAnnotations: config.kubernetes.io/origin;
        # transformerAnnotations: alpha.config.kubernetes.io/transformations), kept unique
        wanted = [*(out.get("buildMetadata") or []), *options.build_metadata]
        out["buildMetadata"] = list(dict.fromkeys(wanted))
    return out


# --- checking what a kustomization refers to ------------------------------------------------------


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _file_references(k: Mapping[str, Any]) -> list[str]:
    """Paths of files (not kustomizations) a kustomization reads."""
    refs: list[str] = []
    for key in ("crds", "configurations"):
        refs += _strings(k.get(key))
    for patch in k.get("patches") or []:
        if isinstance(patch, Mapping):
            refs += _strings(patch.get("path"))
    for patch in k.get("patchesJson6902") or []:
        if isinstance(patch, Mapping):
            refs += _strings(patch.get("path"))
    refs += [p for p in _strings(k.get("patchesStrategicMerge")) if "\n" not in p]
    for replacement in k.get("replacements") or []:
        if isinstance(replacement, Mapping):
            refs += _strings(replacement.get("path"))
    openapi = k.get("openapi")
    if isinstance(openapi, Mapping):
        refs += _strings(openapi.get("path"))
    for key in ("configMapGenerator", "secretGenerator"):
        for generator in k.get(key) or []:
            if not isinstance(generator, Mapping):
                continue
            for source in _strings(generator.get("files")):
                refs.append(source.partition("=")[2] or source)
            refs += _strings(generator.get("envs")) + _strings(generator.get("env"))
    return refs


def _kustomization_references(k: Mapping[str, Any]) -> list[str]:
    """Paths that may name other kustomizations (or files) to build."""
    refs: list[str] = []
    for key in ("resources", "bases", "components", "transformers", "generators", "validators"):
        refs += [r for r in _strings(k.get(key)) if "\n" not in r]
    return refs


@dataclasses.dataclass(frozen=True)
class RemoteReference:
    """A reference kustomize fetches: the kustomization file that has it (relative to the
    artifact root) and the reference, user info stripped."""

    file: str
    reference: str


def check_references(root: Path, directory: Path, *,
                     remote_bases: bool = False) -> tuple[RemoteReference, ...]:
    """Walk the kustomizations reachable from `directory`: refuse references that leave
    `root` (`file://` URLs included) and, unless `remote_bases`, remote references, naming
    the kustomization file that has them; return the remote references (in walk order)."""
    seen: set[str] = set()
    remote: list[RemoteReference] = []

    def visit(current: Path) -> None:
        file = find_kustomization(current)
        if file is None or str(file) in seen:
            return
        seen.add(str(file))
        shown = relative(root, file)
        content = load_kustomization(root, file)
        nested = _kustomization_references(content)
        for ref in nested + _file_references(content):
            target = Path(os.path.normpath(current / ref))
            if is_remote(ref) and not target.exists():
                safe = strip_userinfo(ref)
                if _reads_local_files(ref):
                    raise BuildError(
                        f"{shown}: reference {safe!r} points outside the source artifact: "
                        "file URLs are not allowed, refer to a file in the artifact",
                        file=shown,
                    )
                if not remote_bases:
                    raise BuildError(
                        f"{shown}: remote reference {safe!r} is not allowed: "
                        f"kustomize-controller runs with {NO_REMOTE_BASES_FLAG}, so "
                        "kustomizations can only refer to files in the source artifact",
                        file=shown,
                    )
                remote.append(RemoteReference(shown, safe))
                continue
            if ref.startswith("/") or not inside(root, target):
                raise BuildError(
                    f"{shown}: reference {strip_userinfo(ref)!r} points outside the source "
                    "artifact",
                    file=shown,
                )
        for ref in nested:
            target = Path(os.path.normpath(current / ref))
            if target.is_dir():
                visit(target)

    visit(directory)
    return tuple(remote)


# --- running kustomize --------------------------------------------------------------------------

_RECURSED = re.compile(r"recursed (?:accumulation|merging) of path '([^']+)'")
_FROM = re.compile(r"accumulating resources from '([^']+)'")
_IN_FILE = re.compile(r"in File: ([^\s']+)")
_ABSOLUTE = re.compile(r"'(/[^']+)'")


def _failed_file(stderr: str, root: Path, directory: Path) -> str:
    """The file kustomize failed on, relative to `root`, read from its error message; the
    kustomization file of `directory` when the message names none."""
    base = directory
    recursed = _RECURSED.findall(stderr)
    if recursed:
        base = Path(recursed[-1])
    named = _IN_FILE.findall(stderr) or _FROM.findall(stderr)
    candidates = [base / named[-1]] if named else []
    candidates += [Path(p) for p in reversed(_ABSOLUTE.findall(stderr))]
    for candidate in candidates:
        candidate = Path(os.path.normpath(candidate))
        if candidate.is_file() and inside(root, candidate):
            return relative(root, candidate)
    file = find_kustomization(directory)
    return relative(root, file) if file else relative(root, directory)


def _clean(stderr: str, root: Path) -> str:
    """kustomize's message with the scratch directory taken out of its paths and the user
    info out of its URLs."""
    text = strip_userinfo(stderr).replace(f"{root}{os.sep}", "").replace(str(root), ".")
    text = text.replace(f"{root.parent}{os.sep}", "")  # kustomize's clones of remote bases
    lines = [line.removeprefix("Error: ") for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines)


def _environment(scratch: Path) -> dict[str, str]:
    """What kustomize (and the git it runs for a remote base) gets (module docstring, 7)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "XDG_CONFIG_HOME": str(scratch),
        "TMPDIR": str(scratch),  # kustomize's clones of remote bases go with the scratch
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": _GIT_PROTOCOLS,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
    }
    env.update({k: os.environ[k] for k in _PASSED_ENV if os.environ.get(k)})
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill kustomize and whatever it started (git): its whole process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _too_much(shown: str, limit: int) -> BuildError:
    return BuildError(f"kustomize build of {shown!r} printed more than {limit} bytes: the "
                      "build (with its remote bases) is too big")


def _run_kustomize(binary: str, root: Path, directory: Path, scratch: Path, timeout: float,
                   max_output: int = MAX_OUTPUT) -> str:
    """kustomize's output; at `timeout` its process group is killed (a timer, so a build
    that ends sooner waits for nothing); more than `max_output` bytes are refused
    (kustomize prints a build at its end)."""
    command = [binary, "build", "--load-restrictor", LOAD_RESTRICTOR, str(directory)]
    shown = relative(root, directory)
    with open(scratch / ".stdout", "w+b") as out, open(scratch / ".stderr", "w+b") as err:
        proc = subprocess.Popen(command, cwd=scratch, env=_environment(scratch),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_group(proc)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
            if proc.returncode is None:  # interrupted: leave nothing running
                _kill_group(proc)
                proc.wait()
        if expired.is_set() and proc.returncode != 0:
            raise BuildError(f"kustomize build of {shown!r} timed out after {timeout:g}s")
        if os.fstat(out.fileno()).st_size > max_output:
            raise _too_much(shown, max_output)
        err.seek(0)
        stderr = err.read(_MAX_STDERR).decode("utf-8", "replace")
        if proc.returncode != 0:
            file = _failed_file(stderr, root, directory)
            message = _clean(stderr, root) or f"kustomize exited with code {proc.returncode}"
            raise BuildError(
                f"kustomize build failed for {shown!r} at {file}: {message}",
                file=file,
                stderr=strip_userinfo(stderr),
            )
        out.seek(0)
        return out.read().decode("utf-8", "replace")


# --- the build ----------------------------------------------------------------------------------


def _outside_link(root: Path, link: Path) -> BuildError:
    shown = relative(root, link)
    return BuildError(f"symbolic link {shown!r} points outside the source artifact", file=shown)


def needed_paths(root: Path, directory: Path, components: Iterable[str] = ()) -> list[Path]:
    """The parts of the artifact at `root` that building `directory` can read, as the
    smallest list of files and directories to copy.

    With LoadRestrictionsRootOnly a kustomization reads only files in or below its own
    directory, and other kustomizations it names as resources or components: so the whole
    tree of `directory` (and of the `components` the spec adds), then, transitively, whatever
    a kustomization file in a copied tree refers to, and the targets of symbolic links in
    it. A link that leaves `root` is refused (BuildError). `root` must have no symbolic
    link in its own path (pass it through `os.path.realpath`). Paths that do not exist, or that
    leave `root`, are left for the build to report."""
    needed: set[Path] = set()
    queue = [directory, *(Path(os.path.normpath(directory / c)) for c in components)]
    while queue:
        path = queue.pop()
        if path in needed or not os.path.lexists(path):
            continue
        if path.is_symlink():
            if not inside(root, path):
                raise _outside_link(root, path)
            needed.add(path)
            queue.append(Path(os.path.realpath(path)))
            continue
        if not inside(root, path):
            continue
        needed.add(path)
        if not path.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            here = Path(dirpath)
            for name in dirnames + filenames:
                entry = here / name
                if entry.is_symlink():
                    if not inside(root, entry):
                        raise _outside_link(root, entry)
                    queue.append(Path(os.path.realpath(entry)))
            file = find_kustomization(here)
            if file is None:
                continue
            try:
                content = load_kustomization(root, file)
            except BuildError:
                continue  # the build itself reports it, naming the file
            for ref in _kustomization_references(content) + _file_references(content):
                if not is_remote(ref) and not ref.startswith("/"):
                    queue.append(Path(os.path.normpath(here / ref)))
    ordered = sorted(needed, key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for path in ordered:
        if not any(path.is_relative_to(k) and not k.is_symlink() for k in kept):
            kept.append(path)
    return sorted(kept)


def _copy_needed(source: Path, destination: Path, directory: Path,
                 components: Iterable[str]) -> None:
    """Copy what a build of `directory` reads (`needed_paths`) from `source` to
    `destination`, keeping the layout and the symbolic links."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in needed_paths(source, directory, components):
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            if not os.path.lexists(target):
                os.symlink(os.readlink(path), target)
        elif path.is_dir():
            shutil.copytree(path, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target)


def _write_overlay(root: Path, directory: Path, options: BuildOptions) -> None:
    try:
        file, _ = ensure_kustomization(directory)
    except GenerateError as err:
        shown = relative(root, directory / err.file)
        raise BuildError(
            f"cannot generate a kustomization for {relative(root, directory)!r}: "
            f"{shown}: {err.detail}",
            file=shown,
        ) from None
    content = load_kustomization(root, file)
    overlaid = overlay_kustomization(
        content,
        options,
        component_exists=lambda c: (directory / c).exists(),
    )
    if overlaid != content:
        file.write_text(dump_object(overlaid))


def _check_objects(objects: Sequence[Mapping[str, Any]]) -> None:
    for obj in objects:
        meta = obj.get("metadata")
        if not obj.get("apiVersion") or not obj.get("kind") or not isinstance(meta, Mapping) \
                or not meta.get("name"):
            raise BuildError(
                f"kustomize built an object without apiVersion, kind or metadata.name: "
                f"{describe(obj)}"
            )


def _refuse_encrypted(objects: Iterable[Mapping[str, Any]]) -> None:
    for obj in objects:
        if is_encrypted_secret(obj):
            raise BuildError(
                f"{describe(obj)} is SOPS-encrypted: set spec.decryption (provider sops and a "
                "secretRef with the keys) to decrypt it"
            )


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """The objects of a build, and the remote references kustomize fetched for it."""

    objects: list[dict[str, Any]]
    remote: tuple[RemoteReference, ...] = ()


def run_build(
    source_dir: str | os.PathLike[str],
    options: BuildOptions = BuildOptions(),
    *,
    kustomize: str | os.PathLike[str] | None = None,
    decryptor: SopsDecryptor | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    remote_bases: bool = False,
) -> BuildResult:
    """Build `options.path` of the unpacked artifact at `source_dir` (module docstring).

    `kustomize` is the binary to run (found on $PATH or in the tool cache when not given);
    `remote_bases` lets kustomize fetch remote references (else they are refused).
    Raises BuildError (reason BuildFailed) with a message that names the file at fault."""
    source = Path(os.path.realpath(source_dir))
    if not source.is_dir():
        raise BuildError(f"source directory {str(source)!r} does not exist")
    binary = find_tool("kustomize", kustomize)
    with tempfile.TemporaryDirectory(prefix="afflux-build-") as scratch_name:
        scratch = Path(scratch_name)
        root = scratch / "src"
        if not resolve_path(source, options.path).is_dir():
            raise BuildError(
                f"kustomization path not found: {options.path!r} is not a directory in the "
                "source artifact"
            )
        _copy_needed(source, root, resolve_path(source, options.path), options.components)
        directory = resolve_path(root, options.path)
        _write_overlay(root, directory, options)
        remote = check_references(root, directory, remote_bases=remote_bases)
        if decryptor is not None:
            decryptor.decrypt_sources(root, directory)
        output = _run_kustomize(binary, root, directory, scratch, timeout)
    try:
        objects = load_documents(output, source="the kustomize build output")
    except ManifestError as err:
        raise BuildError(str(err)) from None
    _check_objects(objects)
    if decryptor is not None:
        return BuildResult(decryptor.decrypt_objects(objects), remote)
    _refuse_encrypted(objects)
    return BuildResult(objects, remote)


def build(source_dir: str | os.PathLike[str], options: BuildOptions = BuildOptions(),
          **kwargs: Any) -> list[dict[str, Any]]:
    """The objects of `run_build` (same arguments: kustomize, decryptor, timeout,
    remote_bases)."""
    return run_build(source_dir, options, **kwargs).objects
