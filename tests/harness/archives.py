"""Tarballs made in memory for tests: regular files and symbolic links, gzip-compressed."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Mapping

__all__ = ["targz"]


def targz(files: Mapping[str, bytes | str], *, links: Mapping[str, str] | None = None) -> bytes:
    """A .tar.gz of `files` (name -> content, in the given order) and `links`
    (name -> link target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return out.getvalue()
