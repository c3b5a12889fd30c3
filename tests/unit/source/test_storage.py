"""Artifact storage: paths, URLs, atomic writes with digests, links, GC, locks."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from afflux.controllers.source._storage import (
    HashingWriter,
    Storage,
    StorageError,
    rfc3339,
)

NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def storage(tmp_path: Path, clock: Clock) -> Storage:
    return Storage(
        tmp_path / "storage", "source-controller.flux-system.svc.cluster.local.", clock=clock
    )


def test_artifact_path_and_url(storage: Storage) -> None:
    a = storage.new_artifact(
        "GitRepository", "flux-system", "podinfo", "main@sha1:abc", "abc.tar.gz"
    )
    assert a.path == "gitrepository/flux-system/podinfo/abc.tar.gz"
    assert a.url == (
        "http://source-controller.flux-system.svc.cluster.local./"
        "gitrepository/flux-system/podinfo/abc.tar.gz"
    )
    assert a.revision == "main@sha1:abc"
    assert a.last_update_time == "2023-11-14T22:13:20Z"
    assert storage.local_path(a) == storage.root / "gitrepository/flux-system/podinfo/abc.tar.gz"


BAD_NAMES = [
    ("slash-in-name", ("GitRepository", "ns", "a/b", "f.tar.gz")),
    ("dotdot-namespace", ("GitRepository", "..", "n", "f.tar.gz")),
    ("uppercase-name", ("GitRepository", "ns", "Name", "f.tar.gz")),
    ("dotdot-file", ("GitRepository", "ns", "n", "../x")),
    ("hidden-file", ("GitRepository", "ns", "n", ".tmp-x")),
    ("empty-file", ("GitRepository", "ns", "n", "")),
]


@pytest.mark.parametrize("args", [a for _, a in BAD_NAMES], ids=[i for i, _ in BAD_NAMES])
def test_invalid_names_are_refused(storage: Storage, args: tuple[str, str, str, str]) -> None:
    with pytest.raises(StorageError, match="invalid"):
        storage.new_artifact(*args[:3], "rev", args[3])


def test_local_path_refuses_escapes(storage: Storage) -> None:
    for bad in ("../etc/passwd", "/etc/passwd", "a/../../b", ""):
        with pytest.raises(StorageError):
            storage.local_path(bad)


def test_write_bytes_sets_digest_and_size(storage: Storage, clock: Clock) -> None:
    a = storage.new_artifact("HelmRepository", "default", "bitnami", "sha256:x", "index.yaml")
    clock.now += 30
    stored = storage.write_bytes(a, b"apiVersion: v1\n")
    assert stored.digest == "sha256:" + hashlib.sha256(b"apiVersion: v1\n").hexdigest()
    assert stored.size == 15
    assert stored.last_update_time == rfc3339(NOW + 30)
    assert storage.local_path(stored).read_bytes() == b"apiVersion: v1\n"
    assert storage.exists(stored) and storage.verify(stored)
    assert oct(storage.local_path(stored).stat().st_mode & 0o777) == oct(0o644)


def test_archive_is_stored_with_matching_digest(storage: Storage, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "apps").mkdir(parents=True)
    (src / "apps/a.yaml").write_text("a: 1\n")
    a = storage.new_artifact("GitRepository", "default", "repo", "main@sha1:1", "1.tar.gz")
    stored = storage.archive(a, src)
    data = storage.local_path(stored).read_bytes()
    assert stored.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    again = storage.archive(a, src)
    assert again.digest == stored.digest


def test_archive_of_missing_dir_leaves_nothing(storage: Storage, tmp_path: Path) -> None:
    a = storage.new_artifact("GitRepository", "default", "repo", "r", "1.tar.gz")
    with pytest.raises(StorageError, match="does not exist"):
        storage.archive(a, tmp_path / "missing")
    assert list(storage.local_path(a).parent.iterdir()) == []


def test_failed_write_keeps_previous_file(storage: Storage) -> None:
    a = storage.new_artifact("Bucket", "default", "b", "r", "x.tar.gz")
    storage.write_bytes(a, b"old")

    class Broken(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            raise OSError("connection reset")

    with pytest.raises(StorageError, match="connection reset"):
        storage.write_stream(a, Broken())  # type: ignore[arg-type]
    assert storage.local_path(a).read_bytes() == b"old"
    assert [p.name for p in storage.local_path(a).parent.iterdir()] == ["x.tar.gz"]


def test_symlink_latest(storage: Storage) -> None:
    first = storage.write_bytes(
        storage.new_artifact("GitRepository", "ns", "r", "1", "1.tar.gz"), b"1"
    )
    url = storage.symlink(first)
    assert url == storage.url_for("gitrepository/ns/r/latest.tar.gz")
    latest = storage.local_path(first).parent / "latest.tar.gz"
    assert latest.is_symlink() and os.readlink(latest) == "1.tar.gz"
    second = storage.write_bytes(
        storage.new_artifact("GitRepository", "ns", "r", "2", "2.tar.gz"), b"2"
    )
    storage.symlink(second)
    assert latest.read_bytes() == b"2"
    with pytest.raises(StorageError, match="not stored"):
        storage.symlink(storage.new_artifact("GitRepository", "ns", "r", "3", "3.tar.gz"))


def _store_at(storage: Storage, name: str, mtime: float) -> object:
    a = storage.write_bytes(
        storage.new_artifact("GitRepository", "ns", "r", name, name), name.encode()
    )
    os.utime(storage.local_path(a), (mtime, mtime))
    return a


GC = [
    # (id, ages in seconds of files 1..4 (4 is current), records, ttl, expected survivors)
    ("keeps-last-two", [500, 400, 300, 0], 2, 60, {"3.tar.gz", "4.tar.gz"}),
    (
        "ttl-protects-young-files",
        [50, 40, 30, 0],
        2,
        60,
        {"1.tar.gz", "2.tar.gz", "3.tar.gz", "4.tar.gz"},
    ),
    ("mixed-ages", [500, 40, 300, 0], 2, 60, {"2.tar.gz", "4.tar.gz"}),
    ("one-record", [500, 400, 300, 0], 1, 60, {"4.tar.gz"}),
    ("three-records", [500, 400, 300, 0], 3, 60, {"2.tar.gz", "3.tar.gz", "4.tar.gz"}),
]


@pytest.mark.parametrize(
    ("ages", "records", "ttl", "survivors"), [row[1:] for row in GC], ids=[row[0] for row in GC]
)
def test_garbage_collect(
    tmp_path: Path, clock: Clock, ages: list[int], records: int, ttl: float, survivors: set[str]
) -> None:
    storage = Storage(
        tmp_path / "s", "example", retention_records=records, retention_ttl=ttl, clock=clock
    )
    artifacts = [_store_at(storage, f"{i}.tar.gz", NOW - age) for i, age in enumerate(ages, 1)]
    current = artifacts[-1]
    storage.symlink(current)  # type: ignore[arg-type]
    stale_tmp = storage.local_path(current).parent / ".tmp-abandoned"  # type: ignore[arg-type]
    stale_tmp.write_bytes(b"x")
    os.utime(stale_tmp, (NOW - 1000, NOW - 1000))
    removed = storage.garbage_collect(current)  # type: ignore[arg-type]
    left = {p.name for p in storage.local_path(current).parent.iterdir()}  # type: ignore[arg-type]
    assert left == survivors | {"latest.tar.gz"}
    assert "gitrepository/ns/r/.tmp-abandoned" in removed


def test_remove_object(storage: Storage) -> None:
    a = storage.write_bytes(storage.new_artifact("OCIRepository", "ns", "o", "r", "x.tar.gz"), b"x")
    assert storage.remove_object("OCIRepository", "ns", "o")
    assert not storage.local_path(a).parent.exists()
    assert not storage.remove_object("OCIRepository", "ns", "o")


def test_remove_all_except(storage: Storage) -> None:
    old = storage.write_bytes(storage.new_artifact("Bucket", "ns", "b", "1", "1.tar.gz"), b"1")
    storage.symlink(old)
    new = storage.write_bytes(storage.new_artifact("Bucket", "ns", "b", "2", "2.tar.gz"), b"2")
    assert storage.remove_all_except(new) == ["bucket/ns/b/1.tar.gz"]
    assert [p.name for p in storage.local_path(new).parent.iterdir()] == ["2.tar.gz"]


def test_verify_detects_tampering(storage: Storage) -> None:
    a = storage.write_bytes(storage.new_artifact("Bucket", "ns", "b", "1", "1.tar.gz"), b"good")
    storage.local_path(a).write_bytes(b"evil")
    assert not storage.verify(a)


def test_lock_serialises_one_object(storage: Storage) -> None:
    inside: list[str] = []
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with storage.lock("GitRepository", "ns", "r"):
            inside.append("first")
            entered.set()
            release.wait(5)
            inside.append("first-done")

    t = threading.Thread(target=hold)
    t.start()
    assert entered.wait(5)
    other = threading.Thread(target=lambda: _take(storage, inside))
    other.start()
    other.join(0.2)
    assert other.is_alive()  # blocked by the first holder
    with storage.lock("GitRepository", "ns", "other"):  # another object is not blocked
        pass
    release.set()
    t.join(5)
    other.join(5)
    assert inside == ["first", "first-done", "second"]


def _take(storage: Storage, inside: list[str]) -> None:
    with storage.lock("GitRepository", "ns", "r"):
        inside.append("second")


def test_hashing_writer() -> None:
    out = io.BytesIO()
    w = HashingWriter(out)
    w.write(b"ab")
    w.write(b"c")
    assert (w.size, w.digest) == (3, "sha256:" + hashlib.sha256(b"abc").hexdigest())
    assert out.getvalue() == b"abc"


def _reference_digest(algorithm: str, data: bytes) -> str:
    import blake3

    h = blake3.blake3(data) if algorithm == "blake3" else hashlib.new(algorithm, data)
    return f"{algorithm}:{h.hexdigest()}"


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512", "blake3"])
def test_digest_algorithm_of_new_artifacts(tmp_path: Path, clock: Clock, algorithm: str) -> None:
    storage = Storage(tmp_path / "s", "host:9090", digest_algorithm=algorithm, clock=clock)
    stored = storage.write_bytes(storage.new_artifact("Bucket", "ns", "b", "1", "1.tar.gz"),
                                 b"content")
    assert stored.digest == _reference_digest(algorithm, b"content")
    assert storage.verify(stored)
    storage.local_path(stored).write_bytes(b"tampered")
    assert not storage.verify(stored)


def test_artifacts_of_another_algorithm_stay_valid(tmp_path: Path, clock: Clock) -> None:
    """After a restart with another --artifact-digest-algo, a stored artifact is checked
    with the algorithm its digest names (not found corrupt and rebuilt for nothing)."""
    old = Storage(tmp_path / "s", "host:9090", clock=clock)
    stored = old.write_bytes(old.new_artifact("Bucket", "ns", "b", "1", "1.tar.gz"), b"x")
    new = Storage(tmp_path / "s", "host:9090", digest_algorithm="blake3", clock=clock)
    assert new.verify(stored)
    assert new.digest_of(stored) == stored.digest
    assert new.digest_of(stored, "sha512") == _reference_digest("sha512", b"x")


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "SHA256", ""])
def test_unknown_digest_algorithm_is_refused(tmp_path: Path, algorithm: str) -> None:
    with pytest.raises(ValueError, match="sha256, sha384, sha512, blake3"):
        Storage(tmp_path / "s", "host:9090", digest_algorithm=algorithm)
