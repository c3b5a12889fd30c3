"""OCI image assembly as pure functions: layers from file entries, the image config, the
manifest, and the OCI layout of an archive `ctr images import` reads (no I/O; `_images`
writes and pushes what these return).

Layers are deterministic: entries sorted, mtime 0, uid/gid as given, gzip without a
timestamp, so the same content always has the same digest (and a registry or containerd
that has it already skips it).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
#: The annotation containerd's importer names an image by.
CONTAINERD_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class Entry:
    """One file, directory or symlink of a layer."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    kind: str = "file"  # file | dir | symlink
    target: str = ""
    uid: int = 0
    gid: int = 0


def file(path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path.lstrip("/"), data, mode, "file", uid=uid, gid=gid)


def directory(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path.strip("/"), mode=mode, kind="dir", uid=uid, gid=gid)


def symlink(path: str, target: str) -> Entry:
    return Entry(path.lstrip("/"), mode=0o777, kind="symlink", target=target)


def parents(entries: Iterable[Entry]) -> list[Entry]:
    """`entries` with a directory entry for every parent they lack (mode 0755)."""
    entries = list(entries)
    have = {e.path for e in entries}
    extra = []
    for e in entries:
        parts = e.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in have:
                have.add(d)
                extra.append(directory(d))
    return extra + entries


def layer_tar(entries: Iterable[Entry]) -> bytes:
    """An uncompressed, deterministic tar of `entries` (parents first, then by path)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in sorted(parents(entries), key=lambda e: e.path):
            info = tarfile.TarInfo(e.path)
            info.mode, info.uid, info.gid, info.mtime = e.mode, e.uid, e.gid, 0
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
                tar.addfile(info)
            else:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
    return raw.getvalue()


def gzip_layer(tar: bytes) -> bytes:
    return gzip.compress(tar, compresslevel=6, mtime=0)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes, annotations: Mapping[str, str] | None = None) -> dict:
    desc: dict = {"mediaType": media_type, "digest": digest(data), "size": len(data)}
    if annotations:
        desc["annotations"] = dict(annotations)
    return desc


@dataclass
class Layer:
    """A layer as a registry stores it (gzip) and as its config names it (diff id)."""

    blob: bytes
    diff_id: str

    @classmethod
    def from_tar(cls, tar: bytes) -> Layer:
        return cls(blob=gzip_layer(tar), diff_id=digest(tar))


@dataclass
class ImageSpec:
    """What an image runs: its process and its metadata."""

    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    exposed_ports: Sequence[str] = ()


def image_config(spec: ImageSpec, diff_ids: Sequence[str], arch: str = "amd64") -> bytes:
    """The image config blob (canonical JSON: sorted keys, no spaces)."""
    cfg: dict = {"Env": [f"{k}={v}" for k, v in spec.env.items()]}
    if spec.entrypoint:
        cfg["Entrypoint"] = list(spec.entrypoint)
    if spec.cmd:
        cfg["Cmd"] = list(spec.cmd)
    if spec.user:
        cfg["User"] = spec.user
    if spec.workdir:
        cfg["WorkingDir"] = spec.workdir
    if spec.labels:
        cfg["Labels"] = dict(spec.labels)
    if spec.exposed_ports:
        cfg["ExposedPorts"] = {p: {} for p in spec.exposed_ports}
    doc = {
        "architecture": arch,
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "created": "1970-01-01T00:00:00Z",
    }
    return canonical(doc)


def canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Image:
    """An assembled image: its blobs by digest and its manifest."""

    config: bytes
    layers: list[Layer]
    manifest: bytes

    @property
    def digest(self) -> str:
        return digest(self.manifest)

    def blobs(self) -> dict[str, bytes]:
        out = {digest(self.config): self.config}
        for layer in self.layers:
            out[digest(layer.blob)] = layer.blob
        return out


def assemble(spec: ImageSpec, layers: Sequence[Layer], arch: str = "amd64") -> Image:
    """The image of `layers` (bottom first) running `spec`."""
    config = image_config(spec, [layer.diff_id for layer in layers], arch)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": descriptor(CONFIG, config),
        "layers": [descriptor(LAYER, layer.blob) for layer in layers],
    }
    return Image(config=config, layers=list(layers), manifest=canonical(manifest))


def oci_layout(image: Image, name: str) -> dict[str, bytes]:
    """The files of an OCI image layout holding `image` named `name` (`repo:tag`): what
    `ctr images import` reads from a tar of them."""
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            descriptor(MANIFEST, image.manifest, {CONTAINERD_NAME: name, REF_NAME: tag})
        ],
    }
    files = {
        "oci-layout": canonical({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical(index),
    }
    for dgst, blob in {**image.blobs(), image.digest: image.manifest}.items():
        files["blobs/sha256/" + dgst.split(":", 1)[1]] = blob
    return files


def split_reference(ref: str) -> tuple[str, str, str]:
    """`host[:port]/repo/path:tag` -> (host, repository, tag); tag defaults to latest."""
    host, _, rest = ref.partition("/")
    if not rest or ("." not in host and ":" not in host and host != "localhost"):
        raise ValueError(f"{ref!r} names no registry host")
    repo, tag = rest, "latest"
    if ":" in rest.rsplit("/", 1)[-1]:
        repo, tag = rest.rsplit(":", 1)
    return host, repo, tag
