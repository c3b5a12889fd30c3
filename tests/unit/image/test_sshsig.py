"""SSH commit signatures (SSHSIG): the blob's fields for each key type, a known answer
made by the real ssh-keygen, and the errors of keys that cannot sign."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from afflux.controllers.image_automation._sshsig import (
    SSHKeyError,
    armor,
    decode,
    load_private_key,
    public_key_blob,
    sign,
    sign_armored,
    verify,
)
from harness.sshsign import garble

PAYLOAD = (
    b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
    b"author bot <bot@afflux.invalid> 1700000000 +0000\n"
    b"committer bot <bot@afflux.invalid> 1700000000 +0000\n\nUpdate images\n"
)


def openssh(key: object, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    )


def pkcs8(key: object) -> bytes:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --- signing, per key type -----------------------------------------------------------------

KEYS: list[tuple[str, Callable[[], object], bytes | None, str, str]] = [
    # id, key maker, passphrase, SSH key type, signature algorithm
    ("ed25519", ed25519.Ed25519PrivateKey.generate, None, "ssh-ed25519", "ssh-ed25519"),
    ("ed25519-encrypted", ed25519.Ed25519PrivateKey.generate, b"s3cret", "ssh-ed25519",
     "ssh-ed25519"),
    ("ecdsa-p256", lambda: ec.generate_private_key(ec.SECP256R1()), None,
     "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256"),
    ("ecdsa-p384", lambda: ec.generate_private_key(ec.SECP384R1()), None,
     "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384"),
    ("ecdsa-p521-encrypted", lambda: ec.generate_private_key(ec.SECP521R1()), b"pw",
     "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521"),
    ("rsa-2048", lambda: rsa.generate_private_key(65537, 2048), None, "ssh-rsa",
     "rsa-sha2-512"),
]


@pytest.mark.parametrize(
    ("make", "passphrase", "key_type", "algorithm"),
    [pytest.param(*case[1:], id=case[0]) for case in KEYS],
)
def test_signature_fields_and_verification(
    make: Callable[[], object], passphrase: bytes | None, key_type: str, algorithm: str
) -> None:
    original = make()
    key = load_private_key(openssh(original, passphrase), passphrase)

    armored = sign_armored(key, PAYLOAD)
    lines = armored.splitlines()
    assert lines[0] == "-----BEGIN SSH SIGNATURE-----"
    assert lines[-1] == "-----END SSH SIGNATURE-----"
    assert all(len(line) <= 70 for line in lines[1:-1])
    assert all(len(line) == 70 for line in lines[1:-2])

    sig = decode(armored)
    assert (sig.version, sig.namespace, sig.reserved, sig.hash_algorithm) == (
        1, "git", b"", "sha512"
    )
    assert sig.signature_algorithm == algorithm
    expected_pub = original.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    assert sig.public_key == base64.b64decode(expected_pub.split()[1])
    assert sig.public_key[4 : 4 + len(key_type)] == key_type.encode()
    assert verify(armored, PAYLOAD)
    assert not verify(armored, PAYLOAD + b"tampered")


# A key made from a fixed seed and the signature the real `ssh-keygen -Y sign -n git`
# (OpenSSH 9.2) wrote for PAYLOAD with it: Ed25519 signatures are deterministic, so ours
# must be the same bytes.
SEED = bytes(range(32))
SSH_KEYGEN_SIGNATURE = """-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAgA6EHv/POEL4dcN0Y50vAmWfk1j
CbpQ1fHdyGZBJVMbgAAAADZ2l0AAAAAAAAAAZzaGE1MTIAAABTAAAAC3NzaC1lZDI1NTE5
AAAAQKDvPCzj50zCeOUNHJd0WcGo68bRLe3/ne8MYiQJbFyBEMs6L7JB8lHkYpIEmFu/rC
xv93yNFnmTj/oamaJe5QA=
-----END SSH SIGNATURE-----"""


def test_ed25519_signature_equals_the_one_ssh_keygen_makes() -> None:
    key = load_private_key(openssh(ed25519.Ed25519PrivateKey.from_private_bytes(SEED)))
    assert sign_armored(key, PAYLOAD) == SSH_KEYGEN_SIGNATURE
    assert verify(SSH_KEYGEN_SIGNATURE, PAYLOAD)


def test_armor_and_blob_agree() -> None:
    key = load_private_key(openssh(ed25519.Ed25519PrivateKey.from_private_bytes(SEED)))
    blob = sign(key, PAYLOAD)
    assert armor(blob) == SSH_KEYGEN_SIGNATURE
    assert blob.startswith(b"SSHSIG\x00\x00\x00\x01")
    assert public_key_blob(key) in blob


def test_a_password_for_a_plain_key_is_not_needed() -> None:
    plain = openssh(ed25519.Ed25519PrivateKey.generate())
    assert verify(sign_armored(load_private_key(plain, b"unused"), PAYLOAD), PAYLOAD)


# --- keys that cannot sign ------------------------------------------------------------------

def dsa_key() -> bytes:
    with warnings.catch_warnings():  # cryptography deprecates DSA: that is the point
        warnings.simplefilter("ignore")
        return openssh(dsa.generate_private_key(1024))


_ED = ed25519.Ed25519PrivateKey.generate()
_ENCRYPTED = openssh(_ED, b"right")
_PLAIN = openssh(_ED)



@pytest.mark.parametrize(
    ("identity", "password", "hint"),
    [
        pytest.param(b"not a key at all", None, "does not hold an SSH private key",
                     id="garbage"),
        pytest.param(pkcs8(_ED), None, "ssh-keygen -p", id="pkcs8-pem"),
        pytest.param(_ENCRYPTED, None, "put its passphrase in the Secret's 'password'",
                     id="encrypted-without-password"),
        pytest.param(_ENCRYPTED, b"wrong", "check the passphrase", id="wrong-password"),
        pytest.param(garble(_PLAIN, 64), None, "corrupt or truncated", id="garbled-key"),
        pytest.param(garble(_PLAIN, 48), None, "of a type afflux cannot sign with",
                     id="garbled-key-type"),
        pytest.param(_PLAIN[: len(_PLAIN) // 2] + b"\n-----END OPENSSH PRIVATE KEY-----\n", None,
                     "corrupt or truncated", id="truncated"),
        pytest.param(openssh(rsa.generate_private_key(65537, 1024)), None, "at least 2048",
                     id="rsa-1024"),
        pytest.param(dsa_key(), None, "ssh-dss", id="dsa",
                     marks=pytest.mark.filterwarnings("ignore:SSH DSA keys")),
    ],
)
def test_keys_that_cannot_sign_say_what_to_change_and_quote_nothing(
    identity: bytes, password: bytes | None, hint: str
) -> None:
    with pytest.raises(SSHKeyError) as caught:
        load_private_key(identity, password)
    message = str(caught.value)
    assert hint in message
    body = b"".join(identity.splitlines()[1:-1]) or identity
    for i in range(0, max(len(body) - 8, 1), 8):
        assert body[i : i + 8].decode("latin-1") not in message
    if password:
        assert password.decode() not in message


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("hello", id="no-armor"),
        pytest.param("-----BEGIN SSH SIGNATURE-----\n!!!\n-----END SSH SIGNATURE-----",
                     id="not-base64"),
        pytest.param(armor(b"NOTSIG" + b"\x00" * 8), id="wrong-magic"),
        pytest.param(armor(b"SSHSIG\x00\x00\x00\x01\x00\x00\x00\xff"), id="truncated"),
    ],
)
def test_decode_refuses_what_is_not_a_signature(text: str) -> None:
    with pytest.raises(ValueError):
        decode(text)
