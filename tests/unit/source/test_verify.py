"""Signature verification: modes, gpg status parsing, signed payload extraction (no gpg run)."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest
from pygit2.enums import ObjectType

from afflux.controllers.source._verify import (
    MODE_HEAD,
    MODE_TAG,
    MODE_TAG_AND_HEAD,
    VerificationModeError,
    _parse_status,
    commit_signature,
    normalize_mode,
    tag_signature,
)

MODES = [
    ("default", None, MODE_HEAD),
    ("empty", "", MODE_HEAD),
    ("legacy-lowercase", "head", MODE_HEAD),
    ("head", "HEAD", MODE_HEAD),
    ("tag", "Tag", MODE_TAG),
    ("tag-and-head", "TagAndHEAD", MODE_TAG_AND_HEAD),
]


@pytest.mark.parametrize(("mode", "want"), [m[1:] for m in MODES], ids=[m[0] for m in MODES])
def test_normalize_mode(mode: str | None, want: str) -> None:
    assert normalize_mode(mode) == want


def test_invalid_mode_stalls() -> None:
    with pytest.raises(VerificationModeError) as info:
        normalize_mode("tag")
    assert info.value.reason == "InvalidVerificationMode"


FPR = "0123456789ABCDEF0123456789ABCDEF01234567"
PRIMARY = "FEDCBA9876543210FEDCBA9876543210FEDCBA98"
STATUS = [
    (
        "good-subkey-reports-primary",
        f"[GNUPG:] GOODSIG 89ABCDEF01234567 A <a@x>\n[GNUPG:] VALIDSIG {FPR} 2024-01-01 1704067200 0 4 0 22 10 00 {PRIMARY}\n",
        True,
        "FEDCBA98",
    ),
    (
        "good-no-primary-field",
        f"[GNUPG:] GOODSIG X A\n[GNUPG:] VALIDSIG {FPR} 2024-01-01 1 0\n",
        True,
        "01234567",
    ),
    ("goodsig-without-validsig", "[GNUPG:] GOODSIG X A\n", False, "does not verify"),
    ("bad", "[GNUPG:] BADSIG 89ABCDEF01234567 A <a@x>\n", False, "is BAD"),
    (
        "unknown-key",
        "[GNUPG:] ERRSIG 89ABCDEF01234567 22 10 00 1704067200 9 -\n",
        False,
        "not in the verification secret",
    ),
    (
        "expired-key",
        "[GNUPG:] EXPKEYSIG 89ABCDEF01234567 A\n[GNUPG:] VALIDSIG x\n",
        False,
        "expired key",
    ),
    ("revoked-key", "[GNUPG:] REVKEYSIG 89ABCDEF01234567 A\n", False, "revoked key"),
    ("empty", "", False, "does not verify"),
]


@pytest.mark.parametrize(
    ("status", "good", "fragment"), [s[1:] for s in STATUS], ids=[s[0] for s in STATUS]
)
def test_parse_status(status: str, good: bool, fragment: str) -> None:
    result = _parse_status(status)
    assert result.good is good
    if good:
        assert result.key_id is not None and result.key_id.endswith(fragment)
        assert len(result.key_id) == 16
    else:
        assert fragment in result.problem


SIG = b"-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQ\n-----END PGP SIGNATURE-----\n"


def test_tag_signature_split(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    blob = repo.create_blob(b"x")
    body = f"object {blob}\ntype blob\ntag t\ntagger a <a@x> 1 +0000\n\nmsg\n".encode()
    signed = repo.odb.write(ObjectType.TAG, body + SIG)
    unsigned = repo.odb.write(ObjectType.TAG, body)
    assert tag_signature(repo, str(signed)) == (SIG, body)
    assert tag_signature(repo, str(unsigned)) == (None, body)


def test_commit_signature_unsigned(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    sig = pygit2.Signature("a", "a@x", 1, 0)
    tree = repo.TreeBuilder().write()
    oid = repo.create_commit(None, sig, sig, "m", tree, [])
    signature, payload = commit_signature(repo, str(oid))
    assert signature is None and b"\n\nm" in payload
    text = repo.create_commit_string(sig, sig, "m2", tree, [])
    signed = repo.create_commit_with_signature(text, SIG.decode())
    assert commit_signature(repo, str(signed)) == (SIG, text.encode())
