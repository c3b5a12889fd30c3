"""Safe unpacking of artifact tarballs (controllers/runtime/_tarball.py)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from afflux.controllers.runtime._tarball import UnsafeArchiveError, safe_extract


def tar_of(*members: tuple[str, str, bytes | str], gz: bool = True) -> io.BytesIO:
    """Build a tar from (type, name, data-or-linkname) tuples; type: file, dir, sym, hard, fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                assert isinstance(data, bytes)
                info.size = len(data)
                info.mode = 0o4755 if name.endswith(".sh") else 0o600
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "sym": tarfile.SYMTYPE,
                "hard": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
                "dev": tarfile.CHRTYPE,
            }[kind]
            if kind in ("sym", "hard"):
                assert isinstance(data, str)
                info.linkname = data
            tar.addfile(info)
    buf.seek(0)
    return buf


OK = [
    (
        "plain-files",
        [("file", "a.yaml", b"a"), ("file", "d/b.yaml", b"b")],
        {"a.yaml": b"a", "d/b.yaml": b"b"},
    ),
    ("dot-slash-prefix", [("file", "./a.yaml", b"a")], {"a.yaml": b"a"}),
    ("dir-entries", [("dir", "d", b""), ("file", "d/x", b"x")], {"d/x": b"x"}),
    (
        "inner-symlink",
        [("file", "a.yaml", b"a"), ("sym", "link.yaml", "a.yaml")],
        {"a.yaml": b"a", "link.yaml": b"a"},
    ),
    (
        "hardlink-copied",
        [("file", "a.yaml", b"a"), ("hard", "b.yaml", "a.yaml")],
        {"a.yaml": b"a", "b.yaml": b"a"},
    ),
    ("later-member-wins", [("file", "a", b"1"), ("file", "a", b"2")], {"a": b"2"}),
]


@pytest.mark.parametrize(("members", "want"), [row[1:] for row in OK], ids=[row[0] for row in OK])
def test_extracts(tmp_path: Path, members: list, want: dict[str, bytes]) -> None:
    safe_extract(tar_of(*members), tmp_path / "out")
    for name, content in want.items():
        assert (tmp_path / "out" / name).read_bytes() == content


UNSAFE = [
    ("absolute-path", [("file", "/etc/evil", b"x")], "absolute path"),
    ("dot-dot", [("file", "../evil", b"x")], "outside the archive"),
    ("dot-dot-inner", [("file", "a/../../evil", b"x")], "outside the archive"),
    ("symlink-absolute", [("sym", "l", "/etc/passwd")], "symbolic link"),
    ("symlink-up", [("sym", "l", "../../etc")], "symbolic link"),
    (
        "write-through-symlink",
        [("sym", "l", "."), ("sym", "m", "l/.."), ("file", "m/evil", b"x")],
        "outside",
    ),
    ("hardlink-outside", [("hard", "h", "/etc/passwd")], "hard link"),
    ("hardlink-unknown", [("hard", "h", "missing")], "hard link"),
    ("fifo", [("fifo", "p", b"")], "special file"),
    ("device", [("dev", "d", b"")], "special file"),
    (
        "overwrite-symlink",
        [("file", "a", b"a"), ("sym", "l", "a"), ("file", "l", b"x")],
        "symbolic link",
    ),
]


@pytest.mark.parametrize(
    ("members", "message"), [row[1:] for row in UNSAFE], ids=[row[0] for row in UNSAFE]
)
def test_refuses(tmp_path: Path, members: list, message: str) -> None:
    (tmp_path / "etc").mkdir()
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(tar_of(*members), dest)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "a" / "b" / "evil").exists()
    assert not (tmp_path / "a" / "evil").exists()


def test_modes_are_normalised(tmp_path: Path) -> None:
    safe_extract(tar_of(("file", "run.sh", b"#!"), ("file", "a.yaml", b"a")), tmp_path)
    assert (tmp_path / "run.sh").stat().st_mode & 0o7777 == 0o755  # no setuid
    assert (tmp_path / "a.yaml").stat().st_mode & 0o7777 == 0o644


def test_plain_tar_is_accepted(tmp_path: Path) -> None:
    assert safe_extract(tar_of(("file", "a", b"a"), gz=False), tmp_path) == ["a"]


def test_size_limit(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchiveError, match="larger than the limit of 10 bytes"):
        safe_extract(
            tar_of(("file", "a", b"x" * 6), ("file", "b", b"y" * 6)), tmp_path, max_bytes=10
        )


def test_member_limit(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchiveError, match="more than 1 members"):
        safe_extract(tar_of(("file", "a", b""), ("file", "b", b"")), tmp_path, max_files=1)


def test_not_a_tarball(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchiveError, match="not a valid tar archive"):
        safe_extract(io.BytesIO(b"this is not a tarball at all" * 40), tmp_path)


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512", "blake3"])
def test_expected_digest_matches(tmp_path: Path, algorithm: str) -> None:
    from afflux.api import digest_bytes
    from afflux.controllers.runtime._tarball import DigestMismatchError

    for gz in (True, False):
        data = tar_of(("file", "a.yaml", b"a" * 5000), gz=gz).getvalue()
        digest = digest_bytes(data, algorithm)
        out = tmp_path / f"ok-{gz}"
        assert safe_extract(io.BytesIO(data), out, expected_digest=digest) == ["a.yaml"]
        wrong = digest_bytes(data + b"x", algorithm)
        with pytest.raises(DigestMismatchError, match=f"expected {algorithm}:"):
            safe_extract(io.BytesIO(data), tmp_path / f"bad-{gz}", expected_digest=wrong)


def test_expected_digest_mismatch(tmp_path: Path) -> None:
    from afflux.controllers.runtime._tarball import DigestMismatchError

    data = tar_of(("file", "a.yaml", b"a")).getvalue()
    with pytest.raises(DigestMismatchError, match="expected sha256:0000"):
        safe_extract(io.BytesIO(data), tmp_path / "out", expected_digest="sha256:" + "0" * 64)


def test_trailing_bytes_count_for_the_digest(tmp_path: Path) -> None:
    import hashlib

    from afflux.controllers.runtime._tarball import DigestMismatchError

    data = tar_of(("file", "a.yaml", b"a"), gz=False).getvalue()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with pytest.raises(DigestMismatchError):
        safe_extract(io.BytesIO(data + b"\0" * 10240), tmp_path / "out", expected_digest=digest)


@pytest.mark.parametrize("digest", ["md5:abc", "sha1:" + "0" * 40, "sha256:abc", "plain"],
                         ids=["md5", "sha1", "short-hex", "no-algorithm"])
def test_unsupported_digest(tmp_path: Path, digest: str) -> None:
    with pytest.raises(ValueError, match="digest"):
        safe_extract(tar_of(("file", "a", b"a")), tmp_path, expected_digest=digest)


def _gzip_with_extra_field(payload: bytes) -> bytes:
    """gzip as `helm package` writes it: the FEXTRA flag and an extra field in the header."""
    import struct
    import zlib

    extra = b"sh" + struct.pack("<H", 4) + b"helm"
    header = b"\x1f\x8b\x08\x04" + struct.pack("<I", 0) + b"\x00\xff"
    header += struct.pack("<H", len(extra)) + extra
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(payload) + deflate.flush()
    trailer = struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    return header + body + trailer


def test_gzip_header_with_an_extra_field_is_accepted(tmp_path: Path) -> None:
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        info = tarfile.TarInfo("chart/Chart.yaml")
        data = b"name: demo\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    archive = _gzip_with_extra_field(plain.getvalue())
    assert safe_extract(io.BytesIO(archive), tmp_path / "out") == ["chart/Chart.yaml"]
    assert (tmp_path / "out" / "chart" / "Chart.yaml").read_bytes() == b"name: demo\n"


@pytest.mark.parametrize("count", [
    pytest.param(1, id="one-member"),
    pytest.param(2, id="two-members"),
    pytest.param(500, id="500-members"),
])
def test_members_are_read_one_at_a_time_and_not_kept(count: int) -> None:
    """tarfile keeps every member it read until the archive closes (0.7 KiB each: 85 MiB
    for an artifact of 120,000 files); the extraction drops each once handled."""
    from afflux.controllers.runtime._tarball import _members

    archive = tar_of(*[("file", f"d/f-{i:04d}.yaml", b"x") for i in range(count)])
    held: list[int] = []
    names: list[str] = []
    with tarfile.open(fileobj=archive, mode="r|gz") as tar:
        for member in _members(tar):
            held.append(len(tar.members))
            names.append(member.name)
    assert names == [f"d/f-{i:04d}.yaml" for i in range(count)]
    assert max(held) == 0  # nothing of the archive's members kept behind the one in hand


def test_hard_links_still_resolve_with_members_dropped(tmp_path: Path) -> None:
    archive = tar_of(("file", "a.yaml", b"a"), *[("file", f"f{i}", b"x") for i in range(50)],
                     ("hard", "b.yaml", "a.yaml"))
    safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "b.yaml").read_bytes() == b"a"
