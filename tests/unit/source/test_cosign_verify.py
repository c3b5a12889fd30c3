"""cosign verification, pure parts: the simple signing payload, keys from a Secret,
signatures over a payload, the keyless configuration of a private trusted root, and when
to verify again (keys made in-process)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from afflux.controllers.source._cosign import (
    CosignError,
    load_public_keys,
    parse_simple_signing,
    signature_tag,
    verify_payload_signature,
)
from afflux.controllers.source._ociverify import (
    VerificationFailed,
    must_verify,
    verification_config,
)
from afflux.controllers.source._sigstore import Identity
from harness.sigstore import Sigstore

DIGEST = "sha256:" + "ab" * 32


def payload(digest: str = DIGEST, kind: str = "cosign container image signature") -> bytes:
    return json.dumps({"critical": {"identity": {"docker-reference": "r.example/app"},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": kind}, "optional": None}).encode()


def pem(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(key: Any, data: bytes) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = key.sign(data)
    return base64.b64encode(raw).decode()


EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def test_signature_tag() -> None:
    assert signature_tag(DIGEST) == f"sha256-{'ab' * 32}.sig"


PAYLOADS = [
    ("valid", payload(), DIGEST),
    ("other-digest", payload("sha256:" + "cd" * 32), "sha256:" + "cd" * 32),
    ("not-json", b"{nope", "not JSON"),
    ("no-critical", b'{"optional": {}}', "no 'critical'"),
    ("wrong-type", payload(kind="something else"), "of type 'something else'"),
    ("no-digest", b'{"critical": {"type": "cosign container image signature", "image": {}}}',
     "docker-manifest-digest"),
]


@pytest.mark.parametrize(("raw", "want"), [p[1:] for p in PAYLOADS],
                         ids=[p[0] for p in PAYLOADS])
def test_parse_simple_signing(raw: bytes, want: str) -> None:
    if want.startswith("sha256:"):
        assert parse_simple_signing(raw).digest == want
    else:
        with pytest.raises(CosignError, match=want):
            parse_simple_signing(raw)


SIGNATURES = [
    ("ecdsa", EC_KEY, "ec.pub"),
    ("rsa", RSA_KEY, "rsa.pub"),
    ("ed25519", ED_KEY, "ed.pub"),
    ("untrusted-key", OTHER_KEY, None),
]


@pytest.mark.parametrize(("signer", "want"), [s[1:] for s in SIGNATURES],
                         ids=[s[0] for s in SIGNATURES])
def test_verify_payload_signature_finds_the_signing_key(signer: Any, want: str | None) -> None:
    keys = load_public_keys({"ec.pub": pem(EC_KEY), "rsa.pub": pem(RSA_KEY),
                             "ed.pub": pem(ED_KEY), "notes.txt": b"ignored"})
    assert [k.name for k in keys] == ["ec.pub", "ed.pub", "rsa.pub"]
    found = verify_payload_signature(keys, sign(signer, payload()), payload())
    assert (found.name if found else None) == want


def test_a_tampered_payload_does_not_verify() -> None:
    keys = load_public_keys({"ec.pub": pem(EC_KEY)})
    signature = sign(EC_KEY, payload())
    assert verify_payload_signature(keys, signature, payload("sha256:" + "00" * 32)) is None


@pytest.mark.parametrize(("data", "want"), [
    ({"bad.pub": b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"},
     "'bad.pub' is not a PEM public key"),
    ({"k.pub": pem(EC_KEY)}, None),
], ids=["garbage-key", "good-key"])
def test_load_public_keys(data: dict[str, bytes], want: str | None) -> None:
    if want is None:
        assert len(load_public_keys(data)) == 1
    else:
        with pytest.raises(CosignError, match=want):
            load_public_keys(data)


def test_a_signature_that_is_not_base64_is_an_error() -> None:
    with pytest.raises(CosignError, match="not base64"):
        verify_payload_signature(load_public_keys({"k.pub": pem(EC_KEY)}), "***", payload())


CONFIGS = [
    ("cosign-keyless", "cosign", None, None, "public Sigstore services"),
    ("cosign-no-pub-keys", "cosign", "keys", {"key.asc": b"x"}, "no public keys found"),
    ("cosign-keys", "cosign", "keys", {"k.pub": pem(EC_KEY)}, None),
    ("notation-no-secret", "notation", None, None, "secretRef is required"),
    ("notation-no-policy", "notation", "n", {"ca.crt": b"x"}, "'trustpolicy.json' not found"),
    ("notation-bad-policy", "notation", "n", {"trustpolicy.json": b"{"}, "not valid JSON"),
    ("unknown-provider", "sigstore", "s", {}, "unsupported verification provider"),
]


ROOT = Sigstore().trusted_root()
KEYLESS_CONFIGS = [
    ("no-trusted-root-key", {"root.json": json.dumps(ROOT).encode()}, [],
     "'trusted_root.json' not found in secret 'ns/sigstore-root'", False),
    ("not-json", {"trusted_root.json": b"{"}, [], "trusted_root.json is not JSON", False),
    ("too-large", {"trusted_root.json": b" " * (1 << 20) + b"{}"}, [], "larger than", False),
    ("no-rekor-url", {"trusted_root.json": json.dumps(
        {**ROOT, "tlogs": [{**ROOT["tlogs"][0], "baseUrl": ""}]}).encode()}, [],
     "tlogs[].baseUrl", False),
    ("bad-subject-regex", {"trusted_root.json": json.dumps(ROOT).encode()},
     [Identity(".*", "(")], "matchOIDCIdentity[0].subject is not a valid regular", True),
]


@pytest.mark.parametrize(("data", "identities", "want", "stalling"),
                         [c[1:] for c in KEYLESS_CONFIGS], ids=[c[0] for c in KEYLESS_CONFIGS])
def test_keyless_config_of_a_private_trusted_root(
        data: dict[str, bytes], identities: list[Identity], want: str, stalling: bool) -> None:
    with pytest.raises(VerificationFailed) as info:
        verification_config("cosign", None, "ns", None, trusted_root_ref="sigstore-root",
                            trusted_root_data=data, identities=identities)
    assert info.value.message.startswith(
        "failed to verify the signature using provider 'cosign keyless'")
    assert want in info.value.message
    assert info.value.stalling is stalling


def test_keyless_config_reads_the_trusted_root_and_identities() -> None:
    identity = Identity("^https://issuer$", "^me@")
    config = verification_config("cosign", None, "ns", None, trusted_root_ref="sigstore-root",
                                 trusted_root_data={"trusted_root.json":
                                                    json.dumps(ROOT).encode()},
                                 identities=[identity])
    assert config.provider == "cosign keyless" and config.secret == "ns/sigstore-root"
    assert config.trusted_root is not None and config.identities == (identity,)
    # a secretRef wins: key-based, the trusted root is not read
    keyed = verification_config("cosign", "keys", "ns", {"k.pub": pem(EC_KEY)},
                                trusted_root_ref="sigstore-root")
    assert keyed.provider == "cosign" and keyed.trusted_root is None


@pytest.mark.parametrize(("provider", "ref", "data", "want"), [c[1:] for c in CONFIGS],
                         ids=[c[0] for c in CONFIGS])
def test_verification_config(provider: str, ref: str | None, data: dict[str, bytes] | None,
                             want: str | None) -> None:
    if want is None:
        config = verification_config(provider, ref, "ns", data)
        assert config.secret == f"ns/{ref}" and config.keys
        return
    with pytest.raises(VerificationFailed) as info:
        verification_config(provider, ref, "ns", data)
    assert want in info.value.message
    assert info.value.message.startswith("failed to verify the signature using provider")


def cond(status: str, generation: int) -> dict[str, Any]:
    return {"type": "SourceVerified", "status": status, "observedGeneration": generation}


WHEN = [
    ("first-time", None, None, True),
    ("new-revision", "v1@sha256:old", cond("True", 2), True),
    ("verified-this-generation", "v1@sha256:new", cond("True", 2), False),
    ("spec-changed", "v1@sha256:new", cond("True", 1), True),
    ("last-failed", "v1@sha256:new", cond("False", 2), True),
    ("no-condition", "v1@sha256:new", None, True),
]


@pytest.mark.parametrize(("artifact", "condition", "want"), [w[1:] for w in WHEN],
                         ids=[w[0] for w in WHEN])
def test_must_verify(artifact: str | None, condition: dict[str, Any] | None,
                     want: bool) -> None:
    assert must_verify(artifact_revision=artifact, revision="v1@sha256:new",
                       condition=condition, generation=2) is want


@pytest.mark.parametrize(("provider", "ref", "data", "stalling"), [
    ("cosign", None, None, True),
    ("sigstore", "s", {}, True),
    ("cosign", "keys", {}, False),
], ids=["keyless-needs-a-spec-change", "unknown-provider-too", "a-secret-can-be-fixed"])
def test_which_failures_stall(provider: str, ref: str | None, data: dict[str, bytes] | None,
                              stalling: bool) -> None:
    with pytest.raises(VerificationFailed) as info:
        verification_config(provider, ref, "ns", data)
    assert info.value.stalling is stalling
