"""SSH signatures for Git commits: OpenSSH's SSHSIG format, with no I/O.

This is what `git commit -S` writes into a commit's `gpgsig` header when
`gpg.format=ssh`, and what `git verify-commit` (through `ssh-keygen -Y verify`) checks:

    -----BEGIN SSH SIGNATURE-----
    base64 (lines of 70) of
      "SSHSIG" uint32(1) string(public key) string(namespace) string(reserved)
      string(hash algorithm) string(signature)
    -----END SSH SIGNATURE-----

The signature is made over `"SSHSIG" string(namespace) string(reserved) string(hash
algorithm) string(H(message))`, with namespace `git`, an empty reserved field and
`sha512`, by the key's own algorithm: `ssh-ed25519`; `ecdsa-sha2-nistp256/384/521`
(SHA-256/384/512 as each curve prescribes, the signature an SSH string of the mpints r
and s); `rsa-sha2-512` for RSA keys of at least 2048 bits. (`string` is a uint32 length
then the bytes; `mpint` a minimal two's-complement big-endian integer.)

`load_private_key` reads the `identity` of an ImageUpdateAutomation's signing Secret: an
OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`, the only format Flux takes),
encrypted or not (the passphrase is the Secret's `password`). Its `SSHKeyError`s say what
to change and never quote the Secret's content. `sign_armored` signs, `decode` and
`verify` read a signature back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

__all__ = [
    "GIT_NAMESPACE",
    "HASH_ALGORITHM",
    "MIN_RSA_BITS",
    "SSHKeyError",
    "SSHPrivateKey",
    "SSHSignature",
    "armor",
    "decode",
    "load_private_key",
    "public_key_blob",
    "sign",
    "sign_armored",
    "verify",
]

#: The namespace git signs commits in.
GIT_NAMESPACE = "git"
#: The hash of the message inside the signature (what ssh-keygen uses by default).
HASH_ALGORITHM = "sha512"
#: The smallest RSA key Flux accepts for signing.
MIN_RSA_BITS = 2048

MAGIC = b"SSHSIG"
VERSION = 1
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
LINE = 70
OPENSSH_HEADER = b"-----BEGIN OPENSSH PRIVATE KEY-----"

SSHPrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: curve name -> (SSH key type, hash of the signature)
_CURVES: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "secp256r1": ("ecdsa-sha2-nistp256", hashes.SHA256()),
    "secp384r1": ("ecdsa-sha2-nistp384", hashes.SHA384()),
    "secp521r1": ("ecdsa-sha2-nistp521", hashes.SHA512()),
}
_MESSAGE_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


class SSHKeyError(ValueError):
    """The SSH signing key cannot be used; the message says what to change."""


@dataclass(frozen=True)
class SSHSignature:
    """The fields of a decoded SSHSIG blob."""

    version: int
    public_key: bytes  # the SSH wire encoding of the signer's public key
    namespace: str
    reserved: bytes
    hash_algorithm: str
    signature_algorithm: str
    signature: bytes  # the algorithm's own signature bytes (ECDSA: mpint r, mpint s)


# --- the SSH wire encoding ------------------------------------------------------------------


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(value: int) -> bytes:
    if value == 0:
        return _string(b"")
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)
    return _string(raw)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("truncated SSH signature")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.take(4))[0])

    def string(self) -> bytes:
        return self.take(self.uint32())

    def mpint(self) -> int:
        return int.from_bytes(self.string(), "big", signed=True)

    def done(self) -> bool:
        return self.pos == len(self.data)


# --- keys -----------------------------------------------------------------------------------


def load_private_key(identity: bytes, password: bytes | None = None) -> SSHPrivateKey:
    """The private key of an OpenSSH `identity`, decrypted with `password` when it is
    encrypted (a password given for a key that is not encrypted is not needed, and not
    used). Raises SSHKeyError saying what to change."""
    text = identity.strip()
    if not text.startswith(OPENSSH_HEADER):
        if text.startswith(b"-----BEGIN "):
            raise SSHKeyError(
                "'identity' holds a private key in another format than OpenSSH's: convert "
                "it with `ssh-keygen -p -f <key file>` (the key must begin with "
                "-----BEGIN OPENSSH PRIVATE KEY-----)"
            )
        raise SSHKeyError(
            "'identity' does not hold an SSH private key: put an OpenSSH private key "
            "(-----BEGIN OPENSSH PRIVATE KEY-----) in it"
        )
    try:
        key = _load(text, password or None)
    except TypeError as err:
        if "not encrypted" in str(err):  # a password for a plain key: not needed
            key = _load(text, None)
        elif "password" in str(err).lower():
            raise SSHKeyError(
                "the SSH key in 'identity' is encrypted: put its passphrase in the "
                "Secret's 'password' key"
            ) from None
        else:
            raise SSHKeyError("the SSH key in 'identity' could not be read") from None
    return _check_type(key)


def _load(text: bytes, password: bytes | None) -> object:
    try:
        return serialization.load_ssh_private_key(text, password)
    except UnsupportedAlgorithm:
        raise SSHKeyError(
            "the SSH key in 'identity' is of a type afflux cannot sign with: use an "
            "ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa (2048 bits or more) key"
        ) from None
    except ValueError as err:
        if password is not None and "checksum" in str(err):
            raise SSHKeyError(
                "could not decrypt the SSH key in 'identity' with the Secret's 'password': "
                "check the passphrase"
            ) from None
        raise SSHKeyError(
            "the SSH key in 'identity' could not be read: it is corrupt or truncated; "
            "put the whole OpenSSH private key file in it"
        ) from None


def _check_type(key: object) -> SSHPrivateKey:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _CURVES:
            raise SSHKeyError(
                f"the ECDSA key in 'identity' uses curve {key.curve.name}: use nistp256, "
                "nistp384 or nistp521"
            )
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise SSHKeyError(
                f"the RSA key in 'identity' has {key.key_size} bits: use one of at least "
                f"{MIN_RSA_BITS} bits (or an ssh-ed25519 key)"
            )
        return key
    kind = "DSA (ssh-dss)" if isinstance(key, dsa.DSAPrivateKey) else "this type"
    raise SSHKeyError(
        f"SSH keys of {kind} cannot sign commits: use an ssh-ed25519, "
        "ecdsa-sha2-nistp256/384/521 or ssh-rsa (2048 bits or more) key"
    )


def public_key_blob(key: SSHPrivateKey) -> bytes:
    """The SSH wire encoding of the key's public half (what `.pub` files hold in base64)."""
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return base64.b64decode(line.split()[1])


# --- signing --------------------------------------------------------------------------------


def _signed_data(message: bytes, namespace: str, hash_algorithm: str) -> bytes:
    digest = _MESSAGE_HASHES[hash_algorithm](message).digest()
    return (
        MAGIC
        + _string(namespace.encode())
        + _string(b"")
        + _string(hash_algorithm.encode())
        + _string(digest)
    )


def _raw_signature(key: SSHPrivateKey, data: bytes) -> tuple[str, bytes]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ssh-ed25519", key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        name, digest = _CURVES[key.curve.name]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        return name, _mpint(r) + _mpint(s)
    return "rsa-sha2-512", key.sign(data, padding.PKCS1v15(), hashes.SHA512())


def sign(key: SSHPrivateKey, message: bytes, namespace: str = GIT_NAMESPACE) -> bytes:
    """The SSHSIG blob of `message` signed by `key` in `namespace` (sha512)."""
    algorithm, raw = _raw_signature(key, _signed_data(message, namespace, HASH_ALGORITHM))
    return (
        MAGIC
        + struct.pack(">I", VERSION)
        + _string(public_key_blob(key))
        + _string(namespace.encode())
        + _string(b"")
        + _string(HASH_ALGORITHM.encode())
        + _string(_string(algorithm.encode()) + _string(raw))
    )


def armor(blob: bytes) -> str:
    """The blob between SSH SIGNATURE armor lines, in base64 lines of 70 characters
    (no newline after the end line)."""
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i : i + LINE] for i in range(0, len(text), LINE)]
    return "\n".join([BEGIN, *lines, END])


def sign_armored(key: SSHPrivateKey, message: bytes, namespace: str = GIT_NAMESPACE) -> str:
    """`armor(sign(...))`: the text of a commit's `gpgsig` header."""
    return armor(sign(key, message, namespace))


# --- reading back ---------------------------------------------------------------------------


def decode(armored: str) -> SSHSignature:
    """The fields of an armored SSH signature. Raises ValueError when it is not one."""
    lines = [ln.strip() for ln in armored.strip().splitlines()]
    if len(lines) < 3 or lines[0] != BEGIN or lines[-1] != END:
        raise ValueError("not an armored SSH signature")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except binascii.Error as err:
        raise ValueError("the SSH signature is not valid base64") from err
    reader = _Reader(blob)
    if reader.take(len(MAGIC)) != MAGIC:
        raise ValueError("the SSH signature does not start with SSHSIG")
    version = reader.uint32()
    public_key = reader.string()
    namespace = reader.string().decode()
    reserved = reader.string()
    hash_algorithm = reader.string().decode()
    inner = _Reader(reader.string())
    if not reader.done():
        raise ValueError("trailing data after the SSH signature")
    algorithm = inner.string().decode()
    raw = inner.string()
    return SSHSignature(
        version, public_key, namespace, reserved, hash_algorithm, algorithm, raw
    )


def _public_key(blob: bytes) -> object:
    key_type = _Reader(blob).string().decode()
    line = key_type.encode() + b" " + base64.b64encode(blob)
    return serialization.load_ssh_public_key(line)


def verify(armored: str, message: bytes) -> bool:
    """Whether `armored` is a valid signature of `message` by the public key it carries
    (which key that is, and whether to trust it, is the caller's business)."""
    sig = decode(armored)
    if sig.hash_algorithm not in _MESSAGE_HASHES:
        return False
    data = _signed_data(message, sig.namespace, sig.hash_algorithm)
    key = _public_key(sig.public_key)
    try:
        if isinstance(key, ed25519.Ed25519PublicKey) and sig.signature_algorithm == "ssh-ed25519":
            key.verify(sig.signature, data)
            return True
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _CURVES:
            name, digest = _CURVES[key.curve.name]
            if sig.signature_algorithm != name:
                return False
            inner = _Reader(sig.signature)
            der = encode_dss_signature(inner.mpint(), inner.mpint())
            key.verify(der, data, ec.ECDSA(digest))
            return True
        if isinstance(key, rsa.RSAPublicKey) and sig.signature_algorithm == "rsa-sha2-512":
            key.verify(sig.signature, data, padding.PKCS1v15(), hashes.SHA512())
            return True
    except InvalidSignature:
        return False
    return False
