"""Images for the real node, built without Docker and without a pull from the internet.

- `pause_image()`: the sandbox image, the static `pause` binary `hack/tools.sh node`
  compiles from Kubernetes' own build/pause/linux/pause.c.
- `podinfo_image()`: the demo's and the tests' real workload, podinfo built with
  `go build` from its Go module (`hack/tools.sh podinfo`), laid out as its own image is
  (`/home/app/podinfo`, run as `./podinfo`), with its client `podcli` beside it.
- `afflux_image()` (in `_afflux_image`): the operators, the Dockerfile's content.

An image is assembled by `_imagespec` (pure) from layers made here, then either written
as an OCI archive (`write_archive`, what `ctr images import` reads: that is how the node
gets its pause image before any registry exists) or pushed to a registry over the
distribution HTTP API (`push`, basic auth and the dev CA; blobs the registry has are
skipped).
"""

from __future__ import annotations

import base64
import io
import json
import ssl
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from . import _imagespec as spec
from ._tools import pinned_versions, tool_path

PAUSE_NAME = "afflux.local/pause"


def pause_image() -> spec.Image:
    binary = tool_path("pause").read_bytes()
    layer = spec.Layer.from_tar(spec.layer_tar([spec.file("pause", binary, 0o755)]))
    return spec.assemble(
        spec.ImageSpec(entrypoint=["/pause"], user="65535:65535"), [layer]
    )


def pause_tag() -> str:
    return pinned_versions().get("PAUSE_VERSION", "3.10.1")


def podinfo_image() -> spec.Image:
    entries = [
        spec.directory("home/app", uid=100, gid=101),
        spec.file("home/app/podinfo", tool_path("podinfo").read_bytes(), 0o755),
        spec.file("home/app/podcli", tool_path("podcli").read_bytes(), 0o755),
        spec.directory("tmp", mode=0o1777),
        spec.file("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\napp:x:100:101::/home/app:/sbin/nologin\n"),
        spec.file("etc/group", b"root:x:0:\napp:x:101:\n"),
    ]
    layer = spec.Layer.from_tar(spec.layer_tar(entries))
    return spec.assemble(
        spec.ImageSpec(
            cmd=["./podinfo"],
            workdir="/home/app",
            user="100:101",
            exposed_ports=["9898/tcp"],
            labels={"org.opencontainers.image.title": "podinfo"},
        ),
        [layer],
    )


def write_archive(image: spec.Image, name: str, path: Path) -> Path:
    """Write `image` named `name` as an OCI archive (a tar of an OCI layout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for member, data in sorted(spec.oci_layout(image, name).items()):
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return path


class PushError(RuntimeError):
    """A registry refused a blob or the manifest; the message has its answer."""


def push(
    image: spec.Image,
    ref: str,
    *,
    ca_file: Path | None = None,
    username: str = "",
    password: str = "",
) -> str:
    """Push `image` to `ref` (`host:port/repo:tag`) over HTTPS; returns the manifest digest."""
    host, repo, tag = spec.split_reference(ref)
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    headers = {}
    if username:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    base = f"https://{host}/v2/{repo}"

    def call(method: str, url: str, data: bytes | None = None, extra: dict | None = None):
        req = urllib.request.Request(url, data=data, method=method, headers={**headers, **(extra or {})})
        try:
            return urllib.request.urlopen(req, timeout=300, context=context)
        except urllib.error.HTTPError as err:
            if method == "HEAD" and err.code == 404:
                return None
            body = err.read().decode(errors="replace")[:500]
            raise PushError(f"{method} {url.split('?')[0]}: {err.code} {body}") from None

    for dgst, blob in image.blobs().items():
        if call("HEAD", f"{base}/blobs/{dgst}") is not None:
            continue
        resp = call("POST", f"{base}/blobs/uploads/", b"")
        location = urllib.parse.urljoin(f"https://{host}/", resp.headers["Location"])
        sep = "&" if "?" in location else "?"
        call(
            "PUT",
            f"{location}{sep}digest={urllib.parse.quote(dgst)}",
            blob,
            {"Content-Type": "application/octet-stream"},
        )
    call("PUT", f"{base}/manifests/{tag}", image.manifest, {"Content-Type": spec.MANIFEST})
    return image.digest


def manifest_of(ref: str, *, ca_file: Path | None = None, username: str = "", password: str = "") -> dict:
    """The manifest `ref` names in its registry (to check a push)."""
    host, repo, tag = spec.split_reference(ref)
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    req = urllib.request.Request(f"https://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": spec.MANIFEST})
    if username:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(req, timeout=30, context=context) as resp:
        return json.loads(resp.read())
