"""Deterministic tar.gz archives of a directory tree: what source-controller serves.

The same tree always gives the same bytes, so the digest of an artifact changes only
when its content does:

- entries are the tree's regular files only (no directory entries, as Flux's archives),
  in depth-first order with each directory's entries sorted by their bytes;
- every header has mtime 0, uid/gid 0, no user or group name, and mode 0644, or 0755
  when the file has any execute bit;
- the tar stream is PAX (long and non-ASCII names are stored exactly), and the gzip
  header has no file name and mtime 0.

Symbolic links are *skipped*, whether they point inside the tree or not (Flux's archives
skip them too, so nothing written for Flux relies on them), and so are sockets, FIFOs and
devices. The walk never reads outside the root: it descends through directory file
descriptors opened with O_NOFOLLOW and opens files with O_NOFOLLOW, so a symlink swapped in
while it runs cannot lead it elsewhere.

Everything is streamed: one file at a time in fixed-size chunks into the gzip stream,
which goes to any binary writer (the storage's temporary file, a hashing writer), so
a tree bigger than memory archives fine.

An ignore `Matcher` (see `_ignore`) leaves files out; an excluded directory is not even
entered unless a `!` pattern could re-include something below it. The `.sourceignore`
files themselves are read by `load_ignore_patterns`.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ._ignore import IGNORE_FILE, Matcher, Pattern, parse_patterns, source_matcher

__all__ = [
    "ArchiveError",
    "ArchiveStats",
    "FileEntry",
    "load_ignore_patterns",
    "tree_matcher",
    "walk_files",
    "write_archive",
]

FILE_MODE = 0o644
EXEC_MODE = 0o755
CHUNK = 1 << 20
#: gzip compression level: fixed, so the output depends only on the input.
COMPRESS_LEVEL = 6

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class ArchiveError(Exception):
    """The tree cannot be archived (not a directory, unreadable file, ...)."""


@dataclass(frozen=True)
class ArchiveStats:
    """What went into an archive."""

    files: int
    bytes: int  # uncompressed content bytes


@dataclass(frozen=True)
class FileEntry:
    """A regular file found by `walk_files`; `fd` is open for reading while it is yielded."""

    path: str  # relative, `/`-separated
    fd: int
    size: int
    executable: bool


def _sorted_entries(dir_fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(dir_fd) as it:
        return sorted(it, key=lambda e: os.fsencode(e.name))


def _open_root(root: str | os.PathLike[str]) -> int:
    try:
        return os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        raise ArchiveError(f"cannot archive {os.fspath(root)!r}: it does not exist") from None
    except NotADirectoryError:
        raise ArchiveError(f"cannot archive {os.fspath(root)!r}: not a directory") from None
    except OSError as err:
        raise ArchiveError(f"cannot archive {os.fspath(root)!r}: {err.strerror}") from err


def walk_files(root: str | os.PathLike[str], matcher: Matcher | None = None) -> Iterator[FileEntry]:
    """The regular files below `root` that `matcher` does not exclude, in archive order.

    Symlinks and special files are skipped. Each entry's `fd` is closed when the
    iteration moves on.
    """
    root_fd = _open_root(root)
    try:
        yield from _walk(root_fd, (), matcher)
    finally:
        os.close(root_fd)


def _walk(dir_fd: int, parts: tuple[str, ...], matcher: Matcher | None) -> Iterator[FileEntry]:
    for entry in _sorted_entries(dir_fd):
        path = (*parts, entry.name)
        rel = "/".join(path)
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # vanished while walking
        if stat.S_ISDIR(st.st_mode):
            if matcher is not None and matcher.excluded(path, True):
                if not matcher.may_reinclude_below(path):
                    continue
            try:
                child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError as err:
                raise ArchiveError(f"cannot read directory {rel!r}: {err.strerror}") from err
            try:
                yield from _walk(child, path, matcher)
            finally:
                os.close(child)
        elif stat.S_ISREG(st.st_mode):
            if matcher is not None and matcher.excluded(path, False):
                continue
            try:
                fd = os.open(entry.name, _FILE_FLAGS, dir_fd=dir_fd)
            except OSError as err:
                raise ArchiveError(f"cannot read file {rel!r}: {err.strerror}") from err
            try:
                fst = os.fstat(fd)
                if not stat.S_ISREG(fst.st_mode):  # replaced while walking
                    continue
                yield FileEntry(rel, fd, fst.st_size, bool(fst.st_mode & 0o111))
            finally:
                os.close(fd)
        # symlinks, sockets, FIFOs, devices: skipped


def _tarinfo(entry: FileEntry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.size = entry.size
    info.mode = EXEC_MODE if entry.executable else FILE_MODE
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


class _FdReader:
    """Reads exactly the bytes of an fd, for tarfile's copy loop."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, size: int = CHUNK) -> bytes:
        return os.read(self.fd, min(size, CHUNK) if size > 0 else CHUNK)


def write_archive(
    root: str | os.PathLike[str],
    out: BinaryIO,
    matcher: Matcher | None = None,
    *,
    on_file: Callable[[str], None] | None = None,
) -> ArchiveStats:
    """Write the deterministic tar.gz of `root` (minus what `matcher` excludes) to `out`.

    `out` is any binary writer; it is not closed. `on_file` is called with each file's
    relative path as it is added. Raises ArchiveError for an unreadable tree.
    """
    files = 0
    total = 0
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=COMPRESS_LEVEL)
    try:
        with tarfile.open(
            fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=CHUNK
        ) as tar:
            for entry in walk_files(root, matcher):
                try:
                    tar.addfile(_tarinfo(entry), _FdReader(entry.fd))  # type: ignore[arg-type]
                except OSError as err:
                    raise ArchiveError(f"cannot archive file {entry.path!r}: {err}") from err
                files += 1
                total += entry.size
                if on_file is not None:
                    on_file(entry.path)
    finally:
        gz.close()
    return ArchiveStats(files=files, bytes=total)


def load_ignore_patterns(root: str | os.PathLike[str], *, recursive: bool = True) -> list[Pattern]:
    """The patterns of the `.sourceignore` files below `root`, in Flux's order.

    `recursive` (Git, OCI): the root's file first, then each subdirectory's, depth-first
    in name order (`.git` is not entered); each file's patterns are scoped to its
    directory. Otherwise (Bucket) only the root's file. Symlinked files and directories
    are not followed.
    """
    root_fd = _open_root(root)
    try:
        return _load_patterns(root_fd, (), recursive)
    finally:
        os.close(root_fd)


def _read_ignore_file(dir_fd: int) -> str | None:
    try:
        fd = os.open(IGNORE_FILE, _FILE_FLAGS, dir_fd=dir_fd)
    except (FileNotFoundError, OSError):
        return None  # absent, a symlink, or unreadable
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read().decode("utf-8", errors="replace")
    finally:
        os.close(fd)


def _load_patterns(dir_fd: int, parts: tuple[str, ...], recursive: bool) -> list[Pattern]:
    patterns: list[Pattern] = []
    text = _read_ignore_file(dir_fd)
    if text is not None:
        patterns.extend(parse_patterns(text, parts))
    if not recursive:
        return patterns
    for entry in _sorted_entries(dir_fd):
        if entry.name == ".git" or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            child = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError:
            continue
        try:
            patterns.extend(_load_patterns(child, (*parts, entry.name), recursive))
        finally:
            os.close(child)
    return patterns


def archive_to_file(
    root: str | os.PathLike[str], dest: str | os.PathLike[str], matcher: Matcher | None = None
) -> ArchiveStats:
    """Convenience: `write_archive` into the file `dest` (created or truncated)."""
    with open(Path(dest), "wb") as out:
        return write_archive(root, out, matcher)


def tree_matcher(root: str | os.PathLike[str], spec_ignore: str | None = None) -> Matcher:
    """The matcher for a GitRepository or OCIRepository tree: every `.sourceignore` below
    `root`, then `spec.ignore` (see `_ignore.source_matcher` for how defaults apply)."""
    patterns = load_ignore_patterns(root, recursive=True)
    if spec_ignore:
        patterns += parse_patterns(spec_ignore)
    return source_matcher(patterns)
