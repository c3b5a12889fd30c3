"""`ArtifactCache`: one download and one unpack per artifact digest, leases, eviction and
the errors (a fake download function, real tarballs in memory)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

from afflux.controllers.kustomize._artifacts import ArtifactCache, Checkout
from afflux.controllers.runtime import GenericError
from harness.archives import targz


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Server:
    """Serves tarballs by URL and counts the downloads."""

    def __init__(self, **blobs: bytes) -> None:
        self.blobs = {f"http://storage.invalid/{k}.tar.gz": v for k, v in blobs.items()}
        self.fetched: list[str] = []

    async def fetch(self, url: str, into: Any, timeout: float) -> None:
        self.fetched.append(url)
        await asyncio.sleep(0)  # let concurrent checkouts interleave
        if url not in self.blobs:
            raise OSError(f"GET {url} answered 404 Not Found")
        into.write(self.blobs[url])


A = targz({"apps/a/cm.yaml": b"a: 1\n"})
B = targz({"apps/b/cm.yaml": b"b: 1\n"})
URL_A, URL_B = "http://storage.invalid/a.tar.gz", "http://storage.invalid/b.tar.gz"


def test_one_download_for_many_checkouts_of_a_digest(tmp_path: Path) -> None:
    server = Server(a=A)
    cache = ArtifactCache(tmp_path)

    async def main() -> list[Checkout]:
        return list(await asyncio.gather(*(cache.checkout(URL_A, digest(A), server.fetch, 5)
                                           for _ in range(5))))

    checkouts = asyncio.run(main())
    assert server.fetched == [URL_A]
    assert {c.path for c in checkouts} == {checkouts[0].path}
    assert (checkouts[0].path / "apps/a/cm.yaml").read_bytes() == b"a: 1\n"
    for c in checkouts:
        c.release()
    again = asyncio.run(cache.checkout(URL_A, digest(A), server.fetch, 5))
    assert server.fetched == [URL_A] and again.path == checkouts[0].path


def test_least_recently_used_idle_entries_are_evicted(tmp_path: Path) -> None:
    server = Server(a=A, b=B)
    cache = ArtifactCache(tmp_path, keep=1)
    first = asyncio.run(cache.checkout(URL_A, digest(A), server.fetch, 5))
    second = asyncio.run(cache.checkout(URL_B, digest(B), server.fetch, 5))
    assert first.path.is_dir() and second.path.is_dir()  # both held
    first.release()
    assert not first.path.exists() and cache.cached() == [digest(B).replace(":", "-")]
    second.release()
    assert second.path.is_dir()  # the one idle entry kept
    asyncio.run(cache.checkout(URL_A, digest(A), server.fetch, 5)).release()
    assert server.fetched == [URL_A, URL_B, URL_A]
    assert not second.path.exists()


def test_artifact_without_a_digest_is_private_and_removed_on_release(tmp_path: Path) -> None:
    server = Server(a=A)
    cache = ArtifactCache(tmp_path)
    one = asyncio.run(cache.checkout(URL_A, None, server.fetch, 5))
    two = asyncio.run(cache.checkout(URL_A, None, server.fetch, 5))
    assert one.path != two.path and len(server.fetched) == 2
    one.release()
    assert not one.path.exists() and two.path.is_dir()
    assert cache.cached() == []


ERRORS = {
    "digest-mismatch": (Server(a=b"tampered"), URL_A, digest(A),
                        "failed to verify artifact: computed digest sha256:"),
    "download-fails": (Server(), URL_A, digest(A),
                       f"failed to download artifact from {URL_A}: GET {URL_A} answered 404"),
    "link-out-of-the-artifact": (
        Server(a=targz({}, links={"apps/passwd": "/etc/passwd"})), URL_A,
        digest(targz({}, links={"apps/passwd": "/etc/passwd"})),
        "cannot unpack the artifact: "),
}


@pytest.mark.parametrize(("server", "url", "want", "message"), ERRORS.values(),
                         ids=ERRORS.keys())
def test_errors_are_artifact_failed_and_leave_nothing(
        tmp_path: Path, server: Server, url: str, want: str, message: str) -> None:
    cache = ArtifactCache(tmp_path)
    with pytest.raises(GenericError) as caught:
        asyncio.run(cache.checkout(url, want, server.fetch, 5))
    assert caught.value.reason == "ArtifactFailed"
    assert caught.value.message.startswith(message)
    assert cache.cached() == []
    assert list(cache.root.iterdir()) == []


BOMB = targz({"apps/zeros.yaml": b"\0" * 200_000})  # 200 kB of content, a few hundred bytes packed
MANY = targz({f"apps/{i}.yaml": b"a: 1\n" for i in range(5)})
BIG = b"x" * 5000

LIMITS = {
    "unpacked-content-over-the-limit": (BOMB, 100_000, 100, "cannot unpack the artifact: archive "
                                        "content is larger than the limit of 100000 bytes"),
    "too-many-files": (MANY, 100_000, 3, "cannot unpack the artifact: archive has more than 3"),
    "download-over-the-limit": (BIG, 4096, 100, "the artifact is larger than the limit of 4096 "
                                "bytes (--artifact-max-size)"),
}


@pytest.mark.parametrize(("blob", "max_bytes", "max_files", "message"), LIMITS.values(),
                         ids=LIMITS.keys())
def test_bounds_refuse_with_artifact_failed(tmp_path: Path, blob: bytes, max_bytes: int,
                                            max_files: int, message: str) -> None:
    cache = ArtifactCache(tmp_path, max_bytes=max_bytes, max_files=max_files)
    with pytest.raises(GenericError) as caught:
        asyncio.run(cache.checkout(URL_A, digest(blob), Server(a=blob).fetch, 5))
    assert caught.value.reason == "ArtifactFailed"
    assert caught.value.message.startswith(message), caught.value.message
    assert list(cache.root.iterdir()) == []


def test_within_the_bounds_unpacks(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path, max_bytes=200_000, max_files=5)
    lease = asyncio.run(cache.checkout(URL_A, digest(BOMB), Server(a=BOMB).fetch, 5))
    assert (lease.path / "apps" / "zeros.yaml").stat().st_size == 200_000


def test_leftovers_of_dead_processes_are_removed_live_ones_kept(tmp_path: Path) -> None:
    import fcntl
    import os
    import time

    from afflux.controllers.kustomize._artifacts import remove_leftovers

    def cache_dir(name: str, *, owner: bool) -> Path:
        path = tmp_path / f"afflux-artifacts-{name}"
        (path / "sha256-abc").mkdir(parents=True)
        if owner:
            (path / ".owner").touch()
        return path

    dead = cache_dir("dead", owner=True)  # nobody holds its lock: its process was killed
    live = cache_dir("live", owner=True)
    fd = os.open(live / ".owner", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    old = cache_dir("old-version", owner=False)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    young = cache_dir("being-created", owner=False)
    other = tmp_path / "someone-else"
    other.mkdir()
    try:
        assert sorted(remove_leftovers(tmp_path)) == sorted([dead, old])
        assert live.exists() and young.exists() and other.exists()
    finally:
        os.close(fd)
    assert remove_leftovers(tmp_path) == [live]  # its process is gone now


def test_a_cache_holds_its_own_lock_so_others_keep_it(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from afflux.controllers.kustomize._artifacts import remove_leftovers

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cache = ArtifactCache()
    root = cache.root
    assert root.parent == tmp_path and (root / ".owner").exists()
    assert remove_leftovers(tmp_path) == [] and root.exists()


@pytest.mark.parametrize("algorithm", ["sha384", "sha512", "blake3"])
def test_digests_of_every_artifact_algorithm_are_verified_and_cached(
        tmp_path: Path, algorithm: str) -> None:
    """source-controller's --artifact-digest-algo: the algorithm is the digest's prefix."""
    from afflux.api import digest_bytes

    server = Server(a=A)
    cache = ArtifactCache(tmp_path)
    good = digest_bytes(A, algorithm)
    first = asyncio.run(cache.checkout(URL_A, good, server.fetch, 5))
    assert (first.path / "apps/a/cm.yaml").read_bytes() == b"a: 1\n"
    first.release()
    assert cache.holds(good)
    asyncio.run(cache.checkout(URL_A, good, server.fetch, 5)).release()
    assert server.fetched == [URL_A]
    wrong = digest_bytes(A + b"x", algorithm)
    with pytest.raises(GenericError) as caught:
        asyncio.run(cache.checkout(URL_A, wrong, server.fetch, 5))
    assert caught.value.reason == "ArtifactFailed" and wrong in str(caught.value)
