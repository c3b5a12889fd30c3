"""Taking a plugin's binary out of what its catalog URL served: a tar.gz, tar or zip archive
(the format from the URL's extension, else from the first bytes, as flux decides) or the
binary itself. Only the one file is copied out, streamed and bounded: an archive with an
entry that would land outside it (absolute, `..`) is refused whole, links and devices are
never taken, and the bytes read through a decompressor, the entry count and the binary's
size all have limits.
"""

from __future__ import annotations

import gzip
import io
import posixpath
import re
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from typing import IO, BinaryIO, Final

__all__ = [
    "BINARY",
    "TAR",
    "TAR_GZ",
    "ZIP",
    "ArchiveError",
    "Limits",
    "copy_bounded",
    "detect_format",
    "entry_matches",
    "extract_binary",
    "safe_entry_name",
]

BINARY: Final = "binary"
ZIP: Final = "zip"
TAR_GZ: Final = "tar.gz"
TAR: Final = "tar"

_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(ValueError):
    """The archive cannot give the binary (or must not be trusted to); the message says why."""


@dataclass(frozen=True)
class Limits:
    """Bounds on unpacking one download."""

    #: the binary itself
    max_binary: int = 512 << 20
    #: everything read out of a gzip stream (a tar's other entries included)
    max_unpacked: int = 2 << 30
    #: entries looked at
    max_entries: int = 10_000


def detect_format(url: str, head: bytes) -> str:
    """The format of a download: by the URL's extension (query and fragment aside), else by
    magic bytes (zip `PK\\x03\\x04`/`\\x05\\x06`/`\\x07\\x08`, gzip `\\x1f\\x8b`, tar `ustar` at
    offset 257), else a plain binary. `head` is the first 262 bytes (or all, if fewer)."""
    path = url.split("#", 1)[0].split("?", 1)[0].lower()
    if path.endswith(".zip"):
        return ZIP
    if path.endswith((".tar.gz", ".tgz")):
        return TAR_GZ
    if path.endswith(".tar"):
        return TAR
    if head[:2] == b"PK" and head[2:3] in (b"\x03", b"\x05", b"\x07"):
        return ZIP
    if head[:2] == b"\x1f\x8b":
        return TAR_GZ
    if head[257:262] == b"ustar":
        return TAR
    return BINARY


def safe_entry_name(name: str) -> str:
    """An archive entry's path, normalised (`./a//b` -> `a/b`); ArchiveError for one that
    leaves the archive: absolute, a drive letter, or a `..` component (`\\` counts as `/`)."""
    if "\x00" in name:
        raise ArchiveError(f"archive entry {name!r} has a NUL byte: refusing the archive")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise ArchiveError(f"archive entry {name!r} is an absolute path: refusing the archive")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"archive entry {name!r} points outside the archive (..): "
                           "refusing the archive")
    return "/".join(parts)


def entry_matches(entry: str, target: str) -> bool:
    """Whether the (normalised) entry is the binary: `target` with a `/` (a platform's
    `extractPath`) must be the entry's whole path, a plain name only its last component."""
    if "/" in target:
        return entry == "/".join(p for p in target.split("/") if p not in ("", "."))
    return posixpath.basename(entry) == target


class _Bounded(io.RawIOBase):
    """A reader that fails once more than `limit` bytes have come through it."""

    def __init__(self, inner: IO[bytes], limit: int, what: str) -> None:
        self._inner, self._left, self._what = inner, limit, what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise ArchiveError(self._what)
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)


def copy_bounded(src: IO[bytes], out: BinaryIO, limit: int, name: str) -> None:
    """Copy `src` to `out`; ArchiveError once more than `limit` bytes came."""
    left = limit
    while chunk := src.read(min(_CHUNK, left + 1)):
        if len(chunk) > left:
            raise ArchiveError(f"{name} is larger than {limit >> 20} MiB: refusing it")
        out.write(chunk)
        left -= len(chunk)


def _from_tar(stream: IO[bytes], target: str, out: BinaryIO, limits: Limits) -> None:
    found = False
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            # every entry is looked at, the ones after the binary too: an archive with an
            # entry out of it is refused whole (the caller discards what was copied)
            for count, member in enumerate(tar, 1):
                if count > limits.max_entries:
                    raise ArchiveError(f"the archive has more than {limits.max_entries} entries")
                name = safe_entry_name(member.name)
                if found or not member.isreg() or not entry_matches(name, target):
                    continue
                if member.size > limits.max_binary:
                    raise ArchiveError(f"{name} is larger than {limits.max_binary >> 20} MiB: "
                                       "refusing it")
                src = tar.extractfile(member)
                assert src is not None  # a regular file
                copy_bounded(src, out, limits.max_binary, name)
                found = True
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, OSError) as err:
        raise ArchiveError(f"cannot read the archive: {err}") from None
    if not found:
        raise ArchiveError(f"binary {target!r} not found in the archive")


def _from_zip(archive: BinaryIO, target: str, out: BinaryIO, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_entries:
                raise ArchiveError(f"the archive has more than {limits.max_entries} entries")
            names = [safe_entry_name(info.filename) for info in infos]  # refuse first
            for info, name in zip(infos, names, strict=True):
                file_type = stat.S_IFMT(info.external_attr >> 16)  # set by Unix zip tools
                if info.is_dir() or (file_type and file_type != stat.S_IFREG):
                    continue  # a directory, a symbolic link, a device
                if entry_matches(name, target):
                    with zf.open(info) as src:
                        copy_bounded(src, out, limits.max_binary, name)
                    return
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError,
            EOFError) as err:
        raise ArchiveError(f"cannot read the archive: {err}") from None
    raise ArchiveError(f"binary {target!r} not found in the archive")


def extract_binary(download: BinaryIO, fmt: str, target: str, out: BinaryIO,
                   limits: Limits | None = None) -> None:
    """Copy the binary `target` out of `download` (a seekable file, at its start) into `out`.
    On ArchiveError `out` may hold part of it (or all, from a tar refused later): discard it."""
    limits = limits or Limits()
    if fmt == ZIP:
        _from_zip(download, target, out, limits)
    elif fmt == TAR_GZ:
        unpacked = _Bounded(gzip.GzipFile(fileobj=download, mode="rb"), limits.max_unpacked,
                            f"the archive unpacks to more than {limits.max_unpacked >> 20} MiB")
        _from_tar(io.BufferedReader(unpacked, _CHUNK), target, out, limits)
    elif fmt == TAR:
        _from_tar(download, target, out, limits)
    else:
        copy_bounded(download, out, limits.max_binary, "the binary")
