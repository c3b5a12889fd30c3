"""Taking a plugin's binary out of a download: format detection, entry names that leave the
archive (refused), which entry is the binary, and the bounds on what is unpacked. Archives are
built in memory."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest

from afflux.cli._pluginarchive import (
    BINARY,
    TAR,
    TAR_GZ,
    ZIP,
    ArchiveError,
    Limits,
    detect_format,
    entry_matches,
    extract_binary,
    safe_entry_name,
)

TAR_HEAD = b"\0" * 257 + b"ustar"


@pytest.mark.parametrize(("url", "head", "expected"), [
    pytest.param("https://x/a.zip", b"", ZIP, id="zip-extension"),
    pytest.param("https://x/a.TGZ", b"", TAR_GZ, id="tgz-any-case"),
    pytest.param("https://x/a.tar.gz?sig=1#f", b"", TAR_GZ, id="query-and-fragment-ignored"),
    pytest.param("https://x/a.tar", b"PK\x03\x04", TAR, id="extension-before-magic"),
    pytest.param("https://x/download", b"PK\x03\x04rest", ZIP, id="zip-magic"),
    pytest.param("https://x/download", b"PK\x05\x06", ZIP, id="empty-zip-magic"),
    pytest.param("https://x/download", b"\x1f\x8b\x08", TAR_GZ, id="gzip-magic"),
    pytest.param("https://x/download", TAR_HEAD, TAR, id="tar-magic"),
    pytest.param("https://x/download", b"\x7fELF\x02", BINARY, id="elf"),
    pytest.param("https://x/download", b"#!/bin/sh", BINARY, id="script"),
    pytest.param("https://x/download", b"", BINARY, id="empty"),
])
def test_detect_format(url: str, head: bytes, expected: str) -> None:
    assert detect_format(url, head) == expected


@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("flux-x", "flux-x", id="plain"),
    pytest.param("./bin//flux-x", "bin/flux-x", id="dot-and-double-slash"),
    pytest.param("a/./b/", "a/b", id="trailing-slash"),
    pytest.param("..flux-x", "..flux-x", id="dots-in-a-name"),
])
def test_safe_entry_name(name: str, expected: str) -> None:
    assert safe_entry_name(name) == expected


@pytest.mark.parametrize(("name", "message"), [
    pytest.param("../flux-x", "points outside the archive", id="parent"),
    pytest.param("bin/../../flux-x", "points outside the archive", id="nested-parent"),
    pytest.param("..\\flux-x", "points outside the archive", id="backslash-parent"),
    pytest.param("/usr/bin/flux-x", "is an absolute path", id="absolute"),
    pytest.param("C:/flux-x", "is an absolute path", id="drive-letter"),
    pytest.param("flux-x\0", "NUL byte", id="nul"),
])
def test_safe_entry_name_refuses(name: str, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        safe_entry_name(name)


@pytest.mark.parametrize(("entry", "target", "expected"), [
    pytest.param("flux-x", "flux-x", True, id="root"),
    pytest.param("dist/flux-x", "flux-x", True, id="plain-name-matches-any-folder"),
    pytest.param("dist/flux-xy", "flux-x", False, id="other-name"),
    pytest.param("bin/flux-x", "bin/flux-x", True, id="extract-path"),
    pytest.param("other/bin/flux-x", "bin/flux-x", False, id="extract-path-is-whole-path"),
    pytest.param("bin/flux-x", "./bin/flux-x", True, id="extract-path-dot"),
])
def test_entry_matches(entry: str, target: str, expected: bool) -> None:
    assert entry_matches(entry, target) is expected


def _tar(entries: list[tarfile.TarInfo | tuple[str, bytes]], compress: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w") as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
            else:
                info = tarfile.TarInfo(entry[0])
                info.size = len(entry[1])
                tar.addfile(info, io.BytesIO(entry[1]))
    return buf.getvalue()


def _zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _extract(data: bytes, fmt: str, target: str = "flux-x", limits: Limits | None = None
             ) -> bytes:
    out = io.BytesIO()
    extract_binary(io.BytesIO(data), fmt, target, out, limits)
    return out.getvalue()


def _symlink(name: str, to: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, to
    return info


@pytest.mark.parametrize(("data", "fmt", "target"), [
    pytest.param(_tar([("README", b"r"), ("flux-x", b"BIN")]), TAR_GZ, "flux-x", id="tar-gz"),
    pytest.param(_tar([("d/flux-x", b"BIN")], compress=False), TAR, "flux-x", id="tar-nested"),
    pytest.param(_tar([_symlink("flux-x", "/etc/passwd"), ("x/flux-x", b"BIN")]), TAR_GZ,
                 "flux-x", id="tar-link-skipped"),
    pytest.param(_zip([("bin/flux-x", b"BIN", 0o100755)]), ZIP, "bin/flux-x",
                 id="zip-extract-path"),
    pytest.param(_zip([("flux-x", b"/etc/passwd", stat.S_IFLNK | 0o777),
                       ("dist/flux-x", b"BIN", 0)]), ZIP, "flux-x", id="zip-link-skipped"),
    pytest.param(b"BIN", BINARY, "flux-x", id="binary"),
])
def test_extract_binary(data: bytes, fmt: str, target: str) -> None:
    assert _extract(data, fmt, target) == b"BIN"


@pytest.mark.parametrize(("data", "fmt", "message"), [
    pytest.param(_tar([("flux-x", b"BIN"), ("../evil", b"x")]), TAR_GZ,
                 "'../evil' points outside", id="tar-traversal-after-the-binary-still-no"),
    pytest.param(_zip([("flux-x", b"BIN", 0), ("/abs", b"x", 0)]), ZIP, "'/abs' is an absolute",
                 id="zip-absolute-anywhere"),
    pytest.param(_tar([("README", b"r")]), TAR_GZ, "binary 'flux-x' not found", id="tar-missing"),
    pytest.param(_zip([("flux-x", b"", stat.S_IFDIR | 0o755)]), ZIP,
                 "binary 'flux-x' not found", id="zip-directory-is-no-binary"),
    pytest.param(b"\x1f\x8bnot gzip", TAR_GZ, "cannot read the archive", id="bad-gzip"),
    pytest.param(b"PK\x03\x04junk", ZIP, "cannot read the archive", id="bad-zip"),
])
def test_extract_binary_refuses(data: bytes, fmt: str, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        _extract(data, fmt)


def test_tar_traversal_before_the_binary_is_refused_not_skipped() -> None:
    data = _tar([("../flux-x", b"EVIL"), ("flux-x", b"BIN")])
    with pytest.raises(ArchiveError, match="points outside"):
        _extract(data, TAR_GZ)


@pytest.mark.parametrize(("data", "fmt", "limits", "message"), [
    pytest.param(_tar([("flux-x", b"B" * 2048)]), TAR_GZ, Limits(max_binary=1024),
                 "larger than", id="tar-binary-size"),
    pytest.param(_zip([("flux-x", b"B" * 2048, 0)]), ZIP, Limits(max_binary=1024),
                 "larger than", id="zip-binary-size"),
    pytest.param(b"B" * 2048, BINARY, Limits(max_binary=1024), "larger than", id="bare-binary"),
    pytest.param(_tar([("pad", b"\0" * 100_000), ("flux-x", b"BIN")]), TAR_GZ,
                 Limits(max_unpacked=50_000), "unpacks to more than", id="gzip-bomb"),
    pytest.param(_tar([(f"f{i}", b"") for i in range(5)] + [("flux-x", b"BIN")]), TAR_GZ,
                 Limits(max_entries=3), "more than 3 entries", id="tar-entries"),
    pytest.param(_zip([(f"f{i}", b"", 0) for i in range(5)]), ZIP, Limits(max_entries=3),
                 "more than 3 entries", id="zip-entries"),
])
def test_extraction_is_bounded(data: bytes, fmt: str, limits: Limits, message: str) -> None:
    with pytest.raises(ArchiveError, match=message):
        _extract(data, fmt, limits=limits)

