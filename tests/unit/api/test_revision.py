"""Revision and digest strings in Flux's formats."""

from __future__ import annotations

import hashlib
import io

import pytest

from afflux.api import (
    Revision,
    digest_bytes,
    digest_stream,
    format_git_revision,
    format_oci_revision,
    parse_digest,
    parse_revision,
    revision_digest,
    same_revision,
    verify_digest,
)

SHA1 = "b5d7c9e0a1f2436587a9b0c1d2e3f4a5b6c7d8e9"
SHA256 = "4f8c2e1d0b9a8f7e6d5c4b3a29181716151413121110f0e0d0c0b0a090807060"

GIT = [
    ("main", SHA1, f"main@sha1:{SHA1}"),
    ("v1.0.0", SHA1, f"v1.0.0@sha1:{SHA1}"),
    ("refs/pull/1/head", SHA1, f"refs/pull/1/head@sha1:{SHA1}"),
    ("feature/login", SHA1, f"feature/login@sha1:{SHA1}"),
    (None, SHA1, f"sha1:{SHA1}"),
    ("", SHA1.upper(), f"sha1:{SHA1}"),
]


@pytest.mark.parametrize(("ref", "commit", "expected"), GIT, ids=[e for _, _, e in GIT])
def test_format_git_revision(ref: str | None, commit: str, expected: str) -> None:
    assert format_git_revision(ref, commit) == expected


def test_format_git_revision_sha256_repository() -> None:
    assert format_git_revision("main", SHA256, algorithm="sha256") == f"main@sha256:{SHA256}"


@pytest.mark.parametrize("commit", ["abc", SHA1 + "0", "z" * 40], ids=["short", "long", "not-hex"])
def test_format_git_revision_rejects_bad_commits(commit: str) -> None:
    with pytest.raises(ValueError, match="hex"):
        format_git_revision("main", commit)


OCI = [
    ("6.5.0", f"sha256:{SHA256}", f"6.5.0@sha256:{SHA256}"),
    ("latest", f"sha256:{SHA256}", f"latest@sha256:{SHA256}"),
    (None, f"sha256:{SHA256}", f"sha256:{SHA256}"),
]


@pytest.mark.parametrize(("tag", "digest", "expected"), OCI, ids=[e[:14] for _, _, e in OCI])
def test_format_oci_revision(tag: str | None, digest: str, expected: str) -> None:
    assert format_oci_revision(tag, digest) == expected


PARSE = [
    (f"main@sha1:{SHA1}", "main", "sha1", SHA1),
    (f"v1.0.0@sha1:{SHA1}", "v1.0.0", "sha1", SHA1),
    (f"refs/pull/1/head@sha1:{SHA1}", "refs/pull/1/head", "sha1", SHA1),
    (f"sha1:{SHA1}", None, "sha1", SHA1),
    (f"6.5.0@sha256:{SHA256}", "6.5.0", "sha256", SHA256),
    (f"sha256:{SHA256}", None, "sha256", SHA256),
    (f"main/{SHA1}", "main", "sha1", SHA1),
    (f"feature/login/{SHA1}", "feature/login", "sha1", SHA1),
    (SHA1, None, "sha1", SHA1),
    (SHA1.upper(), None, "sha1", SHA1),
    ("6.5.0", "6.5.0", None, None),
    ("1.2.3+a1b2c3d4e5f6", "1.2.3+a1b2c3d4e5f6", None, None),
    ("user@example.com", "user@example.com", None, None),
]


@pytest.mark.parametrize(("text", "ref", "algo", "hex_"), PARSE, ids=[p[0][:24] for p in PARSE])
def test_parse_revision(text: str, ref: str | None, algo: str | None, hex_: str | None) -> None:
    assert parse_revision(text) == Revision(ref, algo, hex_)


@pytest.mark.parametrize(
    "text",
    [f"main@sha1:{SHA1}", f"sha256:{SHA256}", f"6.5.0@sha256:{SHA256}", "6.5.0"],
    ids=["git", "digest", "oci", "chart-version"],
)
def test_parse_then_str_round_trips(text: str) -> None:
    assert str(parse_revision(text)) == text


def test_parse_legacy_formats_normalise_to_the_current_one() -> None:
    assert str(parse_revision(f"main/{SHA1}")) == f"main@sha1:{SHA1}"
    assert str(parse_revision(SHA1)) == f"sha1:{SHA1}"


@pytest.mark.parametrize("text", ["", f"main@sha1:{SHA1[:-1]}"], ids=["empty", "short-hex"])
def test_parse_revision_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_revision(text)


SAME = [
    (f"main@sha1:{SHA1}", f"main@sha1:{SHA1}", True),
    (f"main@sha1:{SHA1}", f"main/{SHA1}", True),
    (f"main@sha1:{SHA1}", f"sha1:{SHA1}", True),
    (f"main@sha1:{SHA1}", SHA1, True),
    (f"main@sha1:{SHA1}", f"v1.0.0@sha1:{SHA1}", True),
    (f"main@sha1:{SHA1}", f"main@sha1:{'0' * 40}", False),
    (f"sha1:{SHA1}", f"sha256:{SHA256}", False),
    ("6.5.0", "6.5.0", True),
    ("6.5.0", "6.5.1", False),
    ("6.5.0", f"6.5.0@sha256:{SHA256}", False),
    ("", "", False),
    (None, f"sha1:{SHA1}", False),
]


@pytest.mark.parametrize(("a", "b", "same"), SAME, ids=[f"{a!s:.16}~{b!s:.16}" for a, b, _ in SAME])
def test_same_revision(a: str | None, b: str | None, same: bool) -> None:
    assert same_revision(a, b) is same
    assert same_revision(b, a) is same


def test_revision_digest() -> None:
    assert revision_digest(f"main@sha1:{SHA1}") == f"sha1:{SHA1}"
    assert revision_digest("6.5.0") is None


DATA = b"afflux artifact bytes\n"
DATA_SHA256 = hashlib.sha256(DATA).hexdigest()


def test_digest_bytes_and_stream_agree() -> None:
    assert digest_bytes(DATA) == f"sha256:{DATA_SHA256}"
    assert digest_stream(io.BytesIO(DATA), chunk_size=4) == f"sha256:{DATA_SHA256}"


def test_digest_of_empty_input_is_the_well_known_value() -> None:
    empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert digest_bytes(b"") == empty
    assert digest_stream(io.BytesIO(b"")) == empty


#: the BLAKE3 test vector of the empty input (the BLAKE3 specification's)
BLAKE3_EMPTY = "blake3:af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"

VERIFY = [
    (f"sha256:{DATA_SHA256}", DATA, True),
    (f"sha256:{DATA_SHA256}", DATA + b"x", False),
    (f"sha256:{DATA_SHA256.upper()}", DATA, True),
    (f"sha512:{hashlib.sha512(DATA).hexdigest()}", DATA, True),
    (f"sha384:{hashlib.sha384(DATA).hexdigest()}", DATA, True),
    (f"sha384:{hashlib.sha384(DATA).hexdigest()}", DATA + b"x", False),
    (BLAKE3_EMPTY, b"", True),
    (BLAKE3_EMPTY, b"x", False),
]


def test_blake3_of_empty_input_is_the_well_known_value() -> None:
    assert digest_bytes(b"", "blake3") == BLAKE3_EMPTY
    assert digest_stream(io.BytesIO(b""), "blake3") == BLAKE3_EMPTY
    assert digest_bytes(DATA, "blake3") == digest_stream(io.BytesIO(DATA), "blake3", 4)


@pytest.mark.parametrize(
    ("digest", "data", "ok"), VERIFY,
    ids=["match", "tampered", "upper-hex", "sha512", "sha384", "sha384-tampered", "blake3",
         "blake3-tampered"]
)
def test_verify_digest(digest: str, data: bytes, ok: bool) -> None:
    assert verify_digest(digest, data) is ok
    assert verify_digest(digest, io.BytesIO(data)) is ok


@pytest.mark.parametrize(
    "digest",
    ["sha256", "md5:" + "0" * 32, "sha256:" + "0" * 63, "sha256:" + "g" * 64],
    ids=["no-colon", "unsupported-algorithm", "short", "not-hex"],
)
def test_parse_digest_rejects(digest: str) -> None:
    with pytest.raises(ValueError):
        parse_digest(digest)
