"""The afflux image (the Dockerfile's content), built here without Docker.

How: a Debian base made by `debootstrap`, the Python dependencies installed by pip into a
directory, the Go tools from the tool cache, and this checkout's package; each becomes one
layer, assembled by `_imagespec` and pushed by `_images.push`.

Why this way, and not buildah or umoci: buildah needs a storage driver and a registry
config of its own and umoci only edits an existing OCI layout; both would still need the
base root filesystem from debootstrap and a push step. A layer is a tar, an image a
config and a manifest: `_imagespec` makes them deterministic (the same content gives the
same digest, so a rebuild without changes pushes nothing), testable without I/O, and with
no tool beyond debootstrap to install. The Dockerfile stays the recipe for users with
Docker; this builds the same thing:

    layer 1  Debian bookworm minbase + python3, git, gnupg, openssh-client, ca-certificates
             (cached: ~/.cache/afflux/images/base-<key>.tar.gz, first build 3-6 minutes)
    layer 2  the Python dependencies (pip --target /opt/afflux/site-packages), kustomize,
             helm, helm4 and sops in /usr/local/bin, the afflux user (uid 65532), /data
             (cached by the dependency list and the tool versions)
    layer 3  the afflux package itself (/opt/afflux/app) and the `afflux` command

The root filesystem is owned by root and the operators run as a non-root user with a
read-only root filesystem (their Deployments mount /tmp and /data).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from . import _imagespec as spec
from ._tools import cache_dir, pinned_versions, tool_path

SUITE = "bookworm"
MIRROR = os.environ.get("AFFLUX_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("python3", "python-is-python3", "git", "gnupg", "openssh-client", "ca-certificates")
#: helm4 is the helm operator's default engine, helm its Helm 3 one (UseHelm3Defaults=true)
TOOLS = ("kustomize", "helm", "helm4", "sops")
USER_ID = 65532
REPO = Path(__file__).resolve().parents[2]
IMAGE_NAME = "afflux/afflux"


class ImageBuildError(RuntimeError):
    """A step of the image build failed; the message names it and shows its output."""


def _run(args: list[str], what: str, **kw) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr)[-3000:]
        raise ImageBuildError(f"{what} failed ({' '.join(args[:3])} ...):\n{out}")


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def images_cache() -> Path:
    path = cache_dir() / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


#: What never goes into a layer: virtual filesystems and caches of the base.
EXCLUDE = ("dev/", "proc/", "sys/", "run/", "tmp/", "var/cache/apt/", "var/lib/apt/lists/", "var/log/")


def excluded(rel: str) -> bool:
    """Whether a path of the root filesystem (relative, no leading /) stays out of a layer:
    what is below one of EXCLUDE (the directories themselves stay, empty)."""
    return any(rel.startswith(x) for x in EXCLUDE)


def _tar_tree(root: Path, out: Path, prefix: str = "") -> None:
    """A deterministic tar of the tree at `root` (mtime 0, sorted; owners as on disk)."""

    def walk(d: Path):
        for entry in sorted(os.scandir(d), key=lambda e: e.name):
            yield entry
            if entry.is_dir(follow_symlinks=False):
                yield from walk(Path(entry.path))

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in walk(root):
            rel = os.path.relpath(entry.path, root)
            name = f"{prefix}{rel}"
            if excluded(rel):
                continue
            info = tar.gettarinfo(entry.path, arcname=name)
            info.mtime = 0
            info.uname = info.gname = ""
            if info.isfile():
                with open(entry.path, "rb") as f:
                    tar.addfile(info, f)
            elif info.isdir() or info.issym() or info.islnk():
                tar.addfile(info)


def _layer_from_file(tar_path: Path) -> spec.Layer:
    """The gzip layer of a tar file, cached next to it (`.gz` and its diff id)."""
    gz = tar_path.with_suffix(".tar.gz")
    ids = tar_path.with_suffix(".diffid")
    if not (gz.exists() and ids.exists()):
        data = tar_path.read_bytes()
        gz.write_bytes(spec.gzip_layer(data))
        ids.write_text(spec.digest(data))
    return spec.Layer(blob=gz.read_bytes(), diff_id=ids.read_text().strip())


def base_layer(log=print) -> spec.Layer:
    """Layer 1: debootstrap's Debian with the packages the operators run (cached)."""
    key = _key(SUITE, PACKAGES, "minbase")
    tar_path = images_cache() / f"base-{key}.tar"
    if not tar_path.exists():
        if not shutil.which("debootstrap"):
            raise ImageBuildError("debootstrap not found: install the Debian package (make deps)")
        log(f"[image] debootstrap {SUITE} (first build: a few minutes; cached in {tar_path})")
        with tempfile.TemporaryDirectory(dir=images_cache()) as tmp:
            rootfs = Path(tmp) / "rootfs"
            _run(
                ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(rootfs), MIRROR],
                "debootstrap",
                timeout=1800,
            )
            part = tar_path.with_suffix(".part")
            _tar_tree(rootfs, part)
            part.rename(tar_path)
    return _layer_from_file(tar_path)


def _dependencies() -> list[str]:
    import tomllib

    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])


def deps_layer(log=print) -> spec.Layer:
    """Layer 2: the Python dependencies, the Go tools, the afflux user and /data (cached)."""
    versions = pinned_versions()
    deps = _dependencies()
    key = _key(deps, [versions.get(f"{t.upper()}_VERSION") for t in TOOLS], USER_ID, sys.version_info[:2])
    tar_path = images_cache() / f"deps-{key}.tar"
    if not tar_path.exists():
        log("[image] pip install of the dependencies into the image")
        with tempfile.TemporaryDirectory(dir=images_cache()) as tmp:
            stage = Path(tmp) / "stage"
            site = stage / "opt" / "afflux" / "site-packages"
            _run(
                [sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--target", str(site), *deps],
                "pip install of the dependencies",
                timeout=1800,
            )
            bindir = stage / "usr" / "local" / "bin"
            bindir.mkdir(parents=True)
            for tool in TOOLS:
                shutil.copy(tool_path(tool), bindir / tool)
                (bindir / tool).chmod(0o755)
            (stage / "data").mkdir()
            os.chown(stage / "data", USER_ID, USER_ID)
            for d in [p for p in stage.rglob("*")]:
                if d != stage / "data":
                    os.lchown(d, 0, 0)
            part = tar_path.with_suffix(".part")
            _tar_tree(stage, part)
            with tarfile.open(part, "a") as tar:
                _add(tar, "etc/passwd", _base_file("etc/passwd") + f"afflux:x:{USER_ID}:{USER_ID}::/data:/usr/sbin/nologin\n".encode())
                _add(tar, "etc/group", _base_file("etc/group") + f"afflux:x:{USER_ID}:\n".encode())
            part.rename(tar_path)
    return _layer_from_file(tar_path)


def _base_file(name: str) -> bytes:
    key = _key(SUITE, PACKAGES, "minbase")
    with tarfile.open(images_cache() / f"base-{key}.tar") as tar:
        member = tar.extractfile(name)
        assert member is not None
        return member.read()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


AFFLUX_COMMAND = b"""#!/usr/bin/python3
import sys
from afflux.cli import main
sys.exit(main())
"""


def app_layer(log=print) -> spec.Layer:
    """Layer 3: this checkout's afflux package (not cached: it is the part that changes)."""
    with tempfile.TemporaryDirectory(dir=images_cache()) as tmp:
        stage = Path(tmp) / "stage"
        app = stage / "opt" / "afflux" / "app"
        log("[image] pip install of this checkout (no dependencies)")
        _run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--no-deps", "--target", str(app), str(REPO)],
            "pip install of afflux",
            timeout=600,
            cwd=tmp,
        )
        shutil.rmtree(app / "bin", ignore_errors=True)
        bindir = stage / "usr" / "local" / "bin"
        bindir.mkdir(parents=True)
        (bindir / "afflux").write_bytes(AFFLUX_COMMAND)
        (bindir / "afflux").chmod(0o755)
        for p in [stage, *stage.rglob("*")]:
            os.lchown(p, 0, 0)
        tar_path = Path(tmp) / "app.tar"
        _tar_tree(stage, tar_path)
        return spec.Layer.from_tar(tar_path.read_bytes())


def afflux_image(log=print) -> spec.Image:
    """The afflux image of this checkout."""
    layers = [base_layer(log), deps_layer(log), app_layer(log)]
    return spec.assemble(
        spec.ImageSpec(
            cmd=["afflux", "version"],
            env={
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "PYTHONPATH": "/opt/afflux/app:/opt/afflux/site-packages",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
            },
            user=str(USER_ID),
            workdir="/data",
            labels={"org.opencontainers.image.title": "afflux"},
        ),
        layers,
    )


def shell_image(log=print) -> spec.Image:
    """Debian's base of the afflux image alone (a shell and coreutils, no afflux), running
    as an unprivileged user: the demo chart's `hello` and `hello-check` on a real node. Its
    one layer is the afflux image's first, so a node that runs the operators has it."""
    return spec.assemble(
        spec.ImageSpec(
            cmd=["sleep", "infinity"],
            env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
            user=f"{USER_ID}:{USER_ID}",
            labels={"org.opencontainers.image.title": "afflux shell"},
        ),
        [base_layer(log)],
    )


def version() -> str:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
