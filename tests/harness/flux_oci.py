"""Flux-style OCI artifacts pushed to a real registry with oras-py, the way `flux push
artifact` makes them: one tar+gzip content layer, a config blob, and the origin annotations."""

from __future__ import annotations

import gzip
import io
import tarfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import oras.provider

from afflux.cli.devenv import Registry

__all__ = ["FLUX_CONFIG", "FLUX_CONTENT", "push_flux_artifact"]

FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"


def _targz(files: Mapping[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, content in sorted(files.items()):
            data = content.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def push_flux_artifact(registry: Registry, workdir: Path, repository: str, tag: str,
                       files: Mapping[str, str], revision: str) -> str:
    """Push `files` as a Flux artifact to a plain-HTTP, auth-less `registry`; returns the
    manifest digest."""
    run = workdir / uuid.uuid4().hex
    run.mkdir(parents=True)
    content = run / "content.tar.gz"
    content.write_bytes(_targz(files))
    config = run / "config.json"
    config.write_text("{}")
    client = oras.provider.Registry(hostname=registry.host, insecure=True, tls_verify=False)
    response = client.push(
        target=f"{registry.host}/{repository}:{tag}",
        files=[f"{content}:{FLUX_CONTENT}"],
        manifest_config=f"{config}:{FLUX_CONFIG}",
        manifest_annotations={"org.opencontainers.image.revision": revision,
                              "org.opencontainers.image.source": "https://git.invalid/app"},
        disable_path_validation=True, quiet=True)
    assert response.status_code == 201, response.text
    return str(response.headers["Docker-Content-Digest"])
