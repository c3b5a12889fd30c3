"""Deterministic artifact archives: same tree, same bytes; ignore rules; no symlinks."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from afflux.controllers.runtime._tarball import safe_extract
from afflux.controllers.source._archive import (
    ArchiveError,
    load_ignore_patterns,
    walk_files,
    write_archive,
)
from afflux.controllers.source._ignore import Matcher, parse_patterns, source_matcher

TREE = {
    "README.md": b"# app\n",
    "apps/web/deploy.yaml": b"kind: Deployment\n",
    "apps/web/service.yaml": b"kind: Service\n",
    "apps/api.yaml": b"kind: ConfigMap\n",
    "scripts/run.sh": b"#!/bin/sh\necho hi\n",
    "z-last.yaml": b"z: 1\n",
    "unicode-\u00e9t\u00e9.yaml": b"a: b\n",
    ("d" * 60) + "/" + ("f" * 80) + ".yaml": b"long: name\n",
}


def make_tree(root: Path, files: dict[str, bytes], order: list[str] | None = None) -> Path:
    for name in order or list(files):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
        if name.endswith(".sh"):
            path.chmod(0o700)
    return root


def archive_bytes(root: Path, matcher: Matcher | None = None) -> bytes:
    out = io.BytesIO()
    write_archive(root, out, matcher)
    return out.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def test_same_tree_same_bytes(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", TREE)
    b = make_tree(tmp_path / "b", TREE, order=list(reversed(TREE)))
    for i, path in enumerate(sorted(b.rglob("*"))):  # different mtimes and permissions
        os.utime(path, (1_000_000 + i, 2_000_000 + i))
    (b / "apps/api.yaml").chmod(0o600)
    first, second = archive_bytes(a), archive_bytes(b)
    assert first == second
    assert hashlib.sha256(first).digest() == hashlib.sha256(archive_bytes(a)).digest()


def test_content_change_changes_bytes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "a", TREE)
    before = archive_bytes(root)
    (root / "apps/api.yaml").write_bytes(b"kind: Secret\n")
    assert archive_bytes(root) != before


def test_headers_are_normalised(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "a", TREE)
    infos = members(archive_bytes(root))
    assert all(i.isreg() for i in infos)  # files only, no directory entries
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in infos} == {(0, 0, 0, "", "")}
    modes = {i.name: i.mode for i in infos}
    assert modes["scripts/run.sh"] == 0o755
    assert modes["apps/api.yaml"] == 0o644


def test_entries_sorted_depth_first(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "a", TREE)
    names = [i.name for i in members(archive_bytes(root))]
    assert names == [
        "README.md",
        "apps/api.yaml",
        "apps/web/deploy.yaml",
        "apps/web/service.yaml",
        ("d" * 60) + "/" + ("f" * 80) + ".yaml",
        "scripts/run.sh",
        "unicode-\u00e9t\u00e9.yaml",
        "z-last.yaml",
    ]


def test_gzip_header_has_no_name_and_no_time(tmp_path: Path) -> None:
    data = archive_bytes(make_tree(tmp_path / "a", TREE))
    assert data[:2] == b"\x1f\x8b"
    flags = data[3]
    assert flags & 0x08 == 0  # FNAME
    assert data[4:8] == b"\0\0\0\0"  # MTIME
    assert gzip.decompress(data)  # and it is valid


def test_matcher_leaves_files_out(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "a", {**TREE, ".git/HEAD": b"ref", "logo.png": b"png"})
    names = {i.name for i in members(archive_bytes(root, source_matcher()))}
    assert ".git/HEAD" not in names and "logo.png" not in names
    assert "apps/api.yaml" in names
    only_web = Matcher(parse_patterns("/*\n!/apps\n/apps/*\n!/apps/web/"))
    kept = {i.name for i in members(archive_bytes(root, only_web))}
    assert kept == {"apps/web/deploy.yaml", "apps/web/service.yaml"}


def test_symlinks_are_skipped_and_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"TOP SECRET")
    root = make_tree(tmp_path / "a", {"ok.yaml": b"ok: 1\n"})
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "escape-dir").symlink_to(outside, target_is_directory=True)
    (root / "inside.yaml").symlink_to("ok.yaml")
    os.mkfifo(root / "fifo")
    data = archive_bytes(root)
    assert [i.name for i in members(data)] == ["ok.yaml"]
    assert b"TOP SECRET" not in gzip.decompress(data)


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not exist"):
        archive_bytes(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ArchiveError, match="not a directory"):
        archive_bytes(tmp_path / "file")


def test_root_symlink_is_refused(tmp_path: Path) -> None:
    real = make_tree(tmp_path / "real", {"a.yaml": b"a"})
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    with pytest.raises(ArchiveError):
        archive_bytes(tmp_path / "link")


def test_large_file_is_streamed(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    size = 64 << 20
    with open(root / "blob.bin", "wb") as f:
        f.truncate(size)  # sparse: cheap to make, still 64 MiB to read
    sink = hashlib.sha256()

    class Sink:
        def write(self, data: bytes) -> int:
            sink.update(data)
            return len(data)

        def flush(self) -> None:
            pass

    tracemalloc.start()
    try:
        stats = write_archive(root, Sink())  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.files == 1 and stats.bytes == size
    assert peak < 16 << 20, f"archiving held {peak} bytes at once"


def test_walk_files_reports_sizes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "a", TREE)
    entries = {e.path: (e.size, e.executable) for e in walk_files(root)}
    assert entries["scripts/run.sh"] == (len(TREE["scripts/run.sh"]), True)
    assert entries["README.md"] == (6, False)


def test_load_ignore_patterns_order_and_domains(tmp_path: Path) -> None:
    root = make_tree(
        tmp_path / "a",
        {
            ".sourceignore": b"*.txt\n",
            "b/.sourceignore": b"!keep.txt\n",
            "a/.sourceignore": b"# comment\n\n/local.yaml\n",
            ".git/.sourceignore": b"never-read\n",
        },
    )
    patterns = load_ignore_patterns(root)
    assert [(p.text, p.domain) for p in patterns] == [
        ("*.txt", ()),
        ("/local.yaml", ("a",)),
        ("!keep.txt", ("b",)),
    ]
    assert [p.text for p in load_ignore_patterns(root, recursive=False)] == ["*.txt"]
    matcher = source_matcher(patterns)
    assert matcher.excluded("x.txt") and not matcher.excluded("b/keep.txt")
    assert matcher.excluded("a/local.yaml") and not matcher.excluded("local.yaml")


def test_archive_round_trips_through_safe_extract(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "a", TREE)
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(archive_bytes(root))
    dest = tmp_path / "out"
    written = safe_extract(archive, dest)
    assert sorted(written) == sorted(TREE)
    for name, content in TREE.items():
        assert (dest / name).read_bytes() == content
    assert os.stat(dest / "scripts/run.sh").st_mode & 0o777 == 0o755


def test_tree_matcher_reads_sourceignore_and_spec(tmp_path: Path) -> None:
    from afflux.controllers.source._archive import tree_matcher

    root = make_tree(
        tmp_path / "a",
        {
            ".sourceignore": b"*.txt\n",
            "apps/.sourceignore": b"!keep.txt\n",
            "apps/keep.txt": b"k",
            "apps/drop.txt": b"d",
            "logo.png": b"png",
            "x.yaml": b"x",
        },
    )
    names = {i.name for i in members(archive_bytes(root, tree_matcher(root)))}
    # user patterns replace the defaults, so the png is in; .sourceignore files are kept
    assert names == {".sourceignore", "apps/.sourceignore", "apps/keep.txt", "logo.png", "x.yaml"}
    names = {i.name for i in members(archive_bytes(root, tree_matcher(root, "/x.yaml\n")))}
    assert "x.yaml" not in names
    bare = make_tree(tmp_path / "b", {"logo.png": b"png", "x.yaml": b"x"})
    assert {i.name for i in members(archive_bytes(bare, tree_matcher(bare)))} == {"x.yaml"}
