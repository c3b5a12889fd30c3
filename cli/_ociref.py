"""Flux's OCI artifacts, as pure functions: `oci://` references, the media types, the
manifest `push artifact` writes, the tarball of a directory, and the rows of `list
artifacts`. No I/O (`_oci` talks to the registry, `_artifact` runs the commands).

An artifact is an OCI image manifest whose config is `application/vnd.cncf.flux.config.v1+json`
(an empty JSON object) and whose single layer is `application/vnd.cncf.flux.content.v1.tar+gzip`
(the files), annotated with `org.opencontainers.image.created`, `.source` and `.revision`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._errors import CLIError

__all__ = [
    "MAX_UNPACKED",
    "compare_files",
    "files_of_layer",
    "CONFIG_MEDIA_TYPE",
    "CONTENT_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "OCIRef",
    "artifact_manifest",
    "digest_of",
    "parse_annotations",
    "parse_oci_url",
    "tar_gzip",
]

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
CREATED = "org.opencontainers.image.created"
SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
#: The manifest types `pull`, `list` and `tag` accept.
MANIFEST_TYPES = (MANIFEST_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.v2+json")
REPRODUCIBLE_CREATED = "1970-01-01T00:00:00Z"

_REPO = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class OCIRef:
    """`oci://<host>/<repository>[:<tag>|@<digest>]`."""

    host: str
    repository: str
    tag: str = ""
    digest: str = ""

    @property
    def reference(self) -> str:
        """What a manifest request names: the digest, else the tag."""
        return self.digest or self.tag

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag}" if self.tag else self.name

    def with_tag(self, tag: str) -> OCIRef:
        return OCIRef(self.host, self.repository, tag, "")


def parse_oci_url(url: str, *, need_tag: bool = False, allow_tag: bool = True) -> OCIRef:
    """Parse `oci://host[:port]/repo[:tag|@sha256:...]`; CLIError with a hint otherwise."""
    example = "e.g. oci://ghcr.io/org/manifests:v1.0.0"
    if not url.startswith("oci://"):
        raise CLIError(f"{url!r} is not an OCI URL: it must start with oci://", example)
    rest = url[len("oci://"):]
    host, sep, path = rest.partition("/")
    if not host or not sep or not path:
        raise CLIError(f"{url!r} names no repository", example)
    tag = digest = ""
    if "@" in path:
        path, _, digest = path.partition("@")
        if not _DIGEST.match(digest):
            raise CLIError(f"{url!r}: {digest!r} is not a sha256 digest", example)
    else:
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            path, _, tag = path.rpartition(":")
            if not _TAG.match(tag):
                raise CLIError(f"{url!r}: {tag!r} is not a valid tag", example)
    if not _REPO.match(path):
        raise CLIError(f"{url!r}: {path!r} is not a valid repository name",
                       "repository names are lower case: letters, digits, '.', '_', '-', '/'")
    if need_tag and not (tag or digest):
        raise CLIError(f"{url!r} has no tag", example)
    if not allow_tag and (tag or digest):
        raise CLIError(f"{url!r}: give the repository without a tag", "e.g. oci://ghcr.io/"
                       "org/manifests")
    return OCIRef(host, path, tag, digest)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_annotations(values: Sequence[str]) -> dict[str, str]:
    """`-a key=value` flags -> {key: value}."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--annotations {value!r}: expected key=value")
        out[key.strip()] = val
    return out


def _info(name: str, size: int, mode: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    info.type = kind
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def tar_gzip(files: Iterable[tuple[str, bytes | None, bool]]) -> bytes:
    """A reproducible tar+gzip of (path, content, executable) entries (content None: a
    directory), in the order given: no times, owners or host details in it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, executable in files:
            if content is None:
                tar.addfile(_info(name.rstrip("/") + "/", 0, 0o755, tarfile.DIRTYPE))
            else:
                tar.addfile(_info(name, len(content), 0o755 if executable else 0o644),
                            io.BytesIO(content))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def descriptor(media_type: str, data: bytes, annotations: Mapping[str, str] | None = None
               ) -> dict[str, Any]:
    d: dict[str, Any] = {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}
    if annotations:
        d["annotations"] = dict(annotations)
    return d


def artifact_manifest(config: bytes, layer: bytes, annotations: Mapping[str, str]) -> bytes:
    """The manifest of a Flux artifact (canonical JSON bytes, what gets digested)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": descriptor(CONFIG_MEDIA_TYPE, config),
        "layers": [descriptor(CONTENT_MEDIA_TYPE, layer)],
        "annotations": dict(sorted(annotations.items())),
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def content_layer(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    """The layer to pull: the Flux content layer, else the first one."""
    layers = list(manifest.get("layers") or [])
    if not layers:
        raise CLIError("the artifact has no layers")
    for layer in layers:
        if layer.get("mediaType") == CONTENT_MEDIA_TYPE:
            return layer
    return layers[0]


def list_row(tag: str, digest: str, manifest: Mapping[str, Any], name: str) -> list[str]:
    """One `list artifacts` row: ARTIFACT, DIGEST, SOURCE, REVISION."""
    notes = manifest.get("annotations") or {}
    return [f"{name}:{tag}", digest, str(notes.get(SOURCE, "")), str(notes.get(REVISION, ""))]


#: the most a layer may unpack to when it is read into memory (`diff artifact`)
MAX_UNPACKED = 256 * 1024 * 1024


def files_of_layer(blob: bytes, limit: int = MAX_UNPACKED) -> dict[str, bytes]:
    """{path: content} of the regular files of a tar(+gzip) layer; CLIError when it is not
    one or unpacks to more than `limit` bytes (read member by member, so a bomb stops at
    the limit)."""
    out: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                total += member.size
                if total > limit:
                    raise CLIError(f"the artifact unpacks to more than {limit} bytes",
                                   "is it a Flux artifact of manifests?")
                extracted = tar.extractfile(member)
                out[member.name.removeprefix("./")] = extracted.read() if extracted else b""
    except (tarfile.TarError, OSError, EOFError) as err:
        raise CLIError(f"the artifact's layer is not a tar archive: {err}",
                       "is it a Flux artifact (a tar+gzip layer)?") from None
    return out


def compare_files(local: Mapping[str, bytes], remote: Mapping[str, bytes]) -> list[str]:
    """The differences of two file trees, sorted by path: `+ path` only local, `- path` only
    in the artifact, `~ path` different content. Empty when they are the same."""
    lines = []
    for path in sorted(set(local) | set(remote)):
        if path not in remote:
            lines.append(f"+ {path}")
        elif path not in local:
            lines.append(f"- {path}")
        elif local[path] != remote[path]:
            lines.append(f"~ {path}")
    return lines
