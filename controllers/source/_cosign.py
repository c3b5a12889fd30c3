"""Cosign key-based signatures of OCI artifacts: the pure half (no I/O).

What cosign (v2, `cosign sign --key`) leaves in the registry for an artifact of digest
`sha256:<hex>`: a manifest tagged `sha256-<hex>.sig` in the same repository (or, with
`--registry-referrers-mode=oci-1-1`, a manifest of artifactType
`application/vnd.dev.cosign.artifact.sig.v1+json` whose `subject` is the artifact), with
one layer per signature:

- the layer is the *simple signing* payload (media type
  `application/vnd.dev.cosign.simplesigning.v1+json`), JSON of the form
  `{"critical": {"identity": {"docker-reference": "<repo>"}, "image":
  {"docker-manifest-digest": "sha256:<hex>"}, "type": "cosign container image
  signature"}, "optional": {...}}`;
- its annotation `dev.cosignproject.cosign/signature` is the base64 signature of the
  payload's bytes, made with the private key (ECDSA P-256 by `cosign generate-key-pair`,
  SHA-256 digest; RSA PKCS#1 v1.5 and Ed25519 keys are accepted too).

A signature holds when it verifies with one of the trusted public keys *and* the payload
names the artifact's digest (a valid signature of another artifact copied over does
not). Rekor inclusion proofs and Fulcio certificates are not looked at: key-based
verification needs neither; keyless verification is `_sigstore`'s. cosign v3 writes
Sigstore bundles instead by default (`--new-bundle-format`): those are `_bundle`'s, and
when an artifact has any, its v2 signatures are not looked at (`_ociverify`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

__all__ = [
    "COSIGN_SIGNATURE_ANNOTATION",
    "COSIGN_SIG_ARTIFACT_TYPE",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "CosignError",
    "PublicKey",
    "SimpleSigning",
    "load_public_keys",
    "parse_simple_signing",
    "signature_tag",
    "verify_payload_signature",
    "verify_signature_bytes",
]

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_SIG_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIMPLE_SIGNING_TYPE = "cosign container image signature"
#: Largest payload or signature read from the registry (cosign's are a few hundred bytes).
MAX_PAYLOAD_SIZE = 64 << 10
MAX_SIGNATURE_SIZE = 16 << 10


class CosignError(Exception):
    """A key, payload or signature that cannot be used; the message says which."""


@dataclass(frozen=True)
class PublicKey:
    """A trusted public key and the Secret key it came from (for messages only)."""

    name: str
    key: Any


@dataclass(frozen=True)
class SimpleSigning:
    """What a simple signing payload claims."""

    digest: str
    docker_reference: str | None


def signature_tag(digest: str) -> str:
    """The tag cosign stores the signatures of `sha256:<hex>` under: `sha256-<hex>.sig`."""
    algorithm, _, hex_ = digest.partition(":")
    if not algorithm or not hex_:
        raise CosignError(f"invalid digest {digest!r}")
    return f"{algorithm}-{hex_}.sig"


def load_public_keys(data: Mapping[str, bytes]) -> list[PublicKey]:
    """The PEM public keys of the Secret's `*.pub` entries (other entries are ignored, as
    Flux does); CosignError names an entry that is not a usable public key."""
    keys: list[PublicKey] = []
    for name in sorted(data):
        if not name.endswith(".pub"):
            continue
        raw = data[name].strip()
        try:
            key = serialization.load_pem_public_key(raw)
        except (ValueError, UnsupportedAlgorithm):
            raise CosignError(
                f"'{name}' is not a PEM public key (expected the cosign.pub written by "
                "`cosign generate-key-pair`)") from None
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey
                          | ed25519.Ed25519PublicKey):
            raise CosignError(f"'{name}': unsupported key type {type(key).__name__} "
                              "(ECDSA, RSA and Ed25519 keys are supported)")
        keys.append(PublicKey(name, key))
    return keys


def parse_simple_signing(payload: bytes) -> SimpleSigning:
    """The digest (and docker-reference) a simple signing payload signs; CosignError for
    anything else."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise CosignError("the signed payload is not JSON") from None
    critical = doc.get("critical") if isinstance(doc, Mapping) else None
    if not isinstance(critical, Mapping):
        raise CosignError("the signed payload has no 'critical' section")
    kind = critical.get("type")
    if kind != SIMPLE_SIGNING_TYPE:
        raise CosignError(f"the signed payload is of type {kind!r}, not "
                          f"{SIMPLE_SIGNING_TYPE!r}")
    image = critical.get("image")
    digest = image.get("docker-manifest-digest") if isinstance(image, Mapping) else None
    if not isinstance(digest, str) or not digest:
        raise CosignError("the signed payload names no critical.image.docker-manifest-digest")
    identity = critical.get("identity")
    reference = identity.get("docker-reference") if isinstance(identity, Mapping) else None
    return SimpleSigning(digest, reference if isinstance(reference, str) else None)


def verify_signature_bytes(key: Any, signature: bytes, payload: bytes) -> bool:
    """Whether `signature` of `payload` verifies with the public `key` (SHA-256)."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            try:
                key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                key.verify(signature, payload,
                           padding.PSS(padding.MGF1(hashes.SHA256()), hashes.SHA256.digest_size),
                           hashes.SHA256())
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, payload)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_payload_signature(keys: list[PublicKey], signature_b64: str, payload: bytes
                             ) -> PublicKey | None:
    """The first key the base64 `signature_b64` of `payload` verifies with (None: none)."""
    if len(signature_b64) > MAX_SIGNATURE_SIZE:
        raise CosignError("the signature annotation is too large")
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CosignError("the signature annotation is not base64") from None
    for key in keys:
        if verify_signature_bytes(key.key, signature, payload):
            return key
    return None
