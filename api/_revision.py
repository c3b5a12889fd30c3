"""Revision and digest strings, in the exact formats Flux writes and reads.

* Git: `<branch>@sha1:<hex>`, `<tag>@sha1:<hex>`, `refs/pull/1/head@sha1:<hex>`, or a bare
  `sha1:<hex>` when only a commit was asked for. Readers also accept the formats older Flux
  releases wrote: `main/<hex>` and a bare `<hex>`.
* OCI: `<tag>@sha256:<hex>` (the manifest digest), or a bare `sha256:<hex>`.
* HelmRepository and Bucket: `sha256:<hex>`; HelmChart: the chart version (no digest at all).
* Digests of files: `<algorithm>:<hex>`; source-controller writes artifact digests with the
  algorithm of its `--artifact-digest-algo` (`ARTIFACT_DIGEST_ALGORITHMS`: sha256, the
  default, sha384, sha512 or blake3), so a reader takes the algorithm from the prefix
  (`new_hash`, `verify_digest`).

Pure functions over strings and bytes; `digest_stream` reads from a file object it is given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import BinaryIO, Protocol

import blake3

__all__ = [
    "ARTIFACT_DIGEST_ALGORITHMS",
    "Hash",
    "Revision",
    "digest_bytes",
    "digest_stream",
    "format_git_revision",
    "format_oci_revision",
    "new_hash",
    "parse_digest",
    "parse_revision",
    "revision_digest",
    "same_revision",
    "verify_digest",
]

#: Digest algorithms we can compute, with the hex length of each.
_ALGORITHMS: dict[str, int] = {"sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128,
                               "blake3": 64}
_DIGEST = re.compile(r"^(?P<algo>sha1|sha256|sha384|sha512|blake3):(?P<hex>[0-9a-f]+)$")
#: the algorithms of Flux's `--artifact-digest-algo` and `--snapshot-digest-algo`, the
#: default first
ARTIFACT_DIGEST_ALGORITHMS: tuple[str, ...] = ("sha256", "sha384", "sha512", "blake3")


class Hash(Protocol):
    """What `new_hash` returns: hashlib's interface."""

    def update(self, data: bytes, /) -> object: ...

    def hexdigest(self) -> str: ...


def new_hash(algorithm: str) -> Hash:
    """A fresh hash object of one of the digest algorithms (`blake3` too); ValueError for
    any other."""
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}: expected one of "
                         + ", ".join(_ALGORITHMS))
    if algorithm == "blake3":
        return blake3.blake3()
    return hashlib.new(algorithm)
_HEX = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


@dataclasses.dataclass(frozen=True)
class Revision:
    """A parsed revision: the named part (branch, tag, ref, chart version) and the digest.

    `ref` is None for a bare digest; `algorithm`/`hex` are None for a revision that carries
    no digest (a HelmChart version, say).
    """

    ref: str | None
    algorithm: str | None
    hex: str | None

    @property
    def digest(self) -> str | None:
        """`<algorithm>:<hex>`, or None."""
        if self.algorithm is None or self.hex is None:
            return None
        return f"{self.algorithm}:{self.hex}"

    def __str__(self) -> str:
        if self.digest is None:
            return self.ref or ""
        if self.ref is None:
            return self.digest
        return f"{self.ref}@{self.digest}"


def _check_hex(algorithm: str, hex_: str, what: str) -> str:
    hex_ = hex_.lower()
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"{what}: unsupported digest algorithm {algorithm!r}")
    if not re.fullmatch(r"[0-9a-f]+", hex_) or len(hex_) != _ALGORITHMS[algorithm]:
        raise ValueError(
            f"{what}: {algorithm} needs {_ALGORITHMS[algorithm]} hex characters, got {hex_!r}"
        )
    return hex_


def format_git_revision(ref: str | None, commit: str, *, algorithm: str = "sha1") -> str:
    """`main` + `<hex>` -> `main@sha1:<hex>`; without a ref -> `sha1:<hex>`.

    `ref` is what the user asked for, as Flux reports it: the branch or tag name, or the full
    reference name for `ref.name` (`refs/pull/1/head`). SHA-256 repositories pass
    ``algorithm="sha256"``.
    """
    hex_ = _check_hex(algorithm, commit, "git commit")
    if not ref:
        return f"{algorithm}:{hex_}"
    return f"{ref}@{algorithm}:{hex_}"


def format_oci_revision(tag: str | None, digest: str) -> str:
    """`6.5.0` + `sha256:<hex>` -> `6.5.0@sha256:<hex>`; without a tag, the digest alone."""
    algorithm, hex_ = parse_digest(digest)
    if not tag:
        return f"{algorithm}:{hex_}"
    return f"{tag}@{algorithm}:{hex_}"


def parse_revision(revision: str) -> Revision:
    """Split any revision string Flux writes (or once wrote) into ref and digest.

    `main@sha1:ab..` -> (`main`, sha1, ab..); `sha256:cd..` -> (None, sha256, cd..);
    legacy `main/ab..` -> (`main`, sha1, ab..); legacy bare `ab..` (40 hex) -> (None, sha1, ab..);
    `6.5.0` (a chart version) -> (`6.5.0`, None, None).
    """
    if not isinstance(revision, str) or not revision:
        raise ValueError(f"revision must be a non-empty string, got {revision!r}")
    if "@" in revision:
        ref, _, digest = revision.rpartition("@")
        m = _DIGEST.match(digest)
        if m:
            hex_ = _check_hex(m["algo"], m["hex"], f"revision {revision!r}")
            return Revision(ref or None, m["algo"], hex_)
    m = _DIGEST.match(revision)
    if m:
        return Revision(None, m["algo"], _check_hex(m["algo"], m["hex"], f"revision {revision!r}"))
    lowered = revision.lower()
    if _HEX.match(lowered):
        return Revision(None, "sha1" if len(lowered) == 40 else "sha256", lowered)
    if "/" in revision:
        ref, _, tail = revision.rpartition("/")
        if _HEX.match(tail.lower()) and ref:
            hex_ = tail.lower()
            return Revision(ref, "sha1" if len(hex_) == 40 else "sha256", hex_)
    return Revision(revision, None, None)


def revision_digest(revision: str) -> str | None:
    """The `<algorithm>:<hex>` part of a revision, or None when it carries none."""
    return parse_revision(revision).digest


def same_revision(a: str | None, b: str | None) -> bool:
    """Whether two revision strings name the same content.

    Two revisions with digests are the same when the digests are (the ref names may differ,
    or one may be in a legacy format: `main/<hex>` equals `main@sha1:<hex>` equals
    `sha1:<hex>`). Revisions without digests (chart versions) compare as strings.
    """
    if not a or not b:
        return False
    ra, rb = parse_revision(a), parse_revision(b)
    if ra.digest is not None and rb.digest is not None:
        return ra.digest == rb.digest
    if ra.digest is None and rb.digest is None:
        return a == b
    return False


# --- digests ---------------------------------------------------------------------------------


def parse_digest(digest: str) -> tuple[str, str]:
    """`sha256:<hex>` -> (`sha256`, `<hex>`), checking the algorithm and the hex length."""
    if not isinstance(digest, str) or ":" not in digest:
        raise ValueError(f"digest must look like 'sha256:<hex>', got {digest!r}")
    algorithm, _, hex_ = digest.partition(":")
    return algorithm, _check_hex(algorithm, hex_, f"digest {digest!r}")


def digest_bytes(data: bytes, algorithm: str = "sha256") -> str:
    """The `<algorithm>:<hex>` digest of some bytes."""
    h = new_hash(algorithm)
    h.update(data)
    return f"{algorithm}:{h.hexdigest()}"


def digest_stream(stream: BinaryIO, algorithm: str = "sha256", chunk_size: int = 1 << 20) -> str:
    """The `<algorithm>:<hex>` digest of everything left in a binary stream."""
    h = new_hash(algorithm)
    while chunk := stream.read(chunk_size):
        h.update(chunk)
    return f"{algorithm}:{h.hexdigest()}"


def verify_digest(expected: str, data: bytes | BinaryIO) -> bool:
    """Whether bytes (or a stream's remaining bytes) have the `expected` digest."""
    algorithm, hex_ = parse_digest(expected)
    actual = (
        digest_bytes(data, algorithm)
        if isinstance(data, bytes | bytearray | memoryview)
        else digest_stream(data, algorithm)
    )
    return actual == f"{algorithm}:{hex_}"
