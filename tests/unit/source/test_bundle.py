"""Sigstore bundles (cosign v3's signatures), pure parts: parsing with sigstore-go's
validation rules and bounds, the key-based check (`_bundle.verify_with_keys`) and the
keyless one against a private trusted root (`_sigstore.verify_keyless_bundle`: the Rekor
entry's SET, inclusion proof and checkpoint, chain, SCT, identity, DSSE signature,
subject).

The bundles are made in-process by tests/harness/sigstore.py (`sigstore_bundle`), as
cosign v3 writes them; the integration tests show the real cosign v3 agrees."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from afflux.controllers.source._bundle import (
    BUNDLE_MEDIA_TYPE,
    MAX_BUNDLE_SIZE,
    BundleError,
    bundle_version,
    dsse_pae,
    parse_bundle,
    verify_with_keys,
)
from afflux.controllers.source._cosign import (
    COSIGN_SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    PublicKey,
    signature_tag,
)
from afflux.controllers.source._oci import OCIURL, RegistryError
from afflux.controllers.source._ociverify import (
    VerificationFailed,
    verification_config,
    verify_artifact,
)
from afflux.controllers.source._sigstore import (
    Identity,
    SigstoreError,
    _merkle_inclusion,
    parse_trusted_root,
    verify_keyless_bundle,
)
from harness.sigstore import (
    EMAIL,
    ISSUER,
    NOW,
    Sigstore,
    b64,
    issue,
    merkle_path,
    merkle_root,
    pae,
    sigstore_bundle,
    statement,
)

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
KEY = ec.generate_private_key(ec.SECP256R1())
STRANGER = ec.generate_private_key(ec.SECP256R1())
KEYS = [PublicKey("stranger.pub", STRANGER.public_key()), PublicKey("good.pub", KEY.public_key())]

STORE = Sigstore()
ROOT = parse_trusted_root(json.dumps(STORE.trusted_root()).encode())
LEAF = issue(STORE)
IDENTITY = [Identity(f"^{ISSUER}$", f"^{EMAIL}$")]


def raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def keyed(**changes: Any) -> dict[str, Any]:
    return sigstore_bundle(KEY, DIGEST, **changes)


def keyless(**changes: Any) -> dict[str, Any]:
    return sigstore_bundle(changes.pop("signer", LEAF.key), DIGEST,
                           cert=changes.pop("cert", LEAF.cert), store=STORE, **changes)


def edit(doc: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


def test_the_dsse_pae_is_dsse_v1s() -> None:
    assert dsse_pae("t/x", b"hello") == b"DSSEv1 3 t/x 5 hello" == pae("t/x", b"hello")


@pytest.mark.parametrize(("media_type", "version"), [
    ("application/vnd.dev.sigstore.bundle.v0.3+json", "v0.3"),
    ("application/vnd.dev.sigstore.bundle+json;version=0.3", "v0.3"),
    ("application/vnd.dev.sigstore.bundle.v0.3.1+json", "v0.3.1"),
    ("application/vnd.dev.sigstore.bundle+json;version=0.1", "v0.1"),
])
def test_bundle_versions(media_type: str, version: str) -> None:
    assert bundle_version(media_type) == version


def _tlog(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["verificationMaterial"]["tlogEntries"][0]


PARSE_ERRORS: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{not json", "the bundle is not JSON"),
    ("a list", b"[]", "not a JSON object"),
    ("too large", b" " * MAX_BUNDLE_SIZE + b"{}", f"larger than {MAX_BUNDLE_SIZE} bytes"),
    ("no media type", raw(edit(keyed(), lambda d: d.pop("mediaType"))), "no mediaType"),
    ("another media type", raw(edit(keyed(), lambda d: d.update(mediaType="text/plain"))),
     "unsupported bundle media type"),
    ("v0.1", raw(edit(keyed(), lambda d: d.update(
        mediaType="application/vnd.dev.sigstore.bundle+json;version=0.1"))),
     "bundle version too old"),
    ("v0.4", raw(edit(keyed(), lambda d: d.update(
        mediaType="application/vnd.dev.sigstore.bundle.v0.4+json"))), "not yet supported"),
    ("no material", raw(edit(keyed(), lambda d: d.pop("verificationMaterial"))),
     "verificationMaterial is missing"),
    ("two kinds of material", raw(edit(keyed(), lambda d: d["verificationMaterial"].update(
        certificate={"rawBytes": "AA=="}))), "must hold one of"),
    ("a chain in v0.3", raw(edit(keyed(), lambda d: d.update(verificationMaterial={
        "x509CertificateChain": {"certificates": []}}))), "cannot be X.509 certificate chain"),
    ("a certificate that is not DER", raw(edit(keyed(), lambda d: d.update(
        verificationMaterial={"certificate": {"rawBytes": "AAAA"}}))), "not a DER certificate"),
    ("no content", raw(edit(keyed(), lambda d: d.pop("dsseEnvelope"))),
     "either a message signature or dsse envelope"),
    ("both contents", raw(edit(keyed(), lambda d: d.update(
        messageSignature={"signature": "AA=="}))), "either a message signature or dsse"),
    ("payload not base64", raw(edit(keyed(), lambda d: d["dsseEnvelope"].update(
        payload="%%%"))), "dsseEnvelope.payload is not base64"),
    ("no payload type", raw(edit(keyed(), lambda d: d["dsseEnvelope"].pop("payloadType"))),
     "payloadType is missing"),
    ("a tlog entry without an inclusion proof", raw(edit(keyless(), lambda d: _tlog(d).pop(
        "inclusionProof"))), "inclusion proof missing in bundle"),
    ("too many tlog entries", raw(edit(keyless(), lambda d: d["verificationMaterial"].update(
        tlogEntries=[_tlog(d)] * 33))), "too many tlog entries: 33 > 32"),
    ("a log index that is not a number", raw(edit(keyless(), lambda d: _tlog(d).update(
        logIndex="x"))), "logIndex is not an integer"),
]


@pytest.mark.parametrize(("case", "data", "message"), PARSE_ERRORS,
                         ids=[c[0] for c in PARSE_ERRORS])
def test_unusable_bundles_are_refused_with_a_reason(case: str, data: bytes, message: str
                                                    ) -> None:
    with pytest.raises(BundleError, match=message):
        parse_bundle(data)


def test_a_keyless_bundle_parses_into_its_parts() -> None:
    bundle = parse_bundle(raw(keyless()))
    assert bundle.version == "v0.3" and bundle.certificate == LEAF.cert
    assert bundle.public_key_hint is None and bundle.message_signature is None
    (entry,) = bundle.tlog_entries
    assert entry.kind == "dsse" and entry.version == "0.0.1" and entry.log_index == 1003
    assert entry.log_id == STORE.log_id(STORE.rekor_key).hex()
    assert entry.integrated_time == int(NOW.timestamp())
    assert entry.inclusion_proof is not None and entry.inclusion_proof.tree_size == 5
    assert bundle.dsse is not None and json.loads(bundle.dsse.payload)["subject"][0][
        "digest"] == {"sha256": "ab" * 32}


# --- key-based -------------------------------------------------------------------------


KEY_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("signed by the trusted key", keyed(), None),
    ("signed by another key", sigstore_bundle(STRANGER, DIGEST), None),
    ("signed by no key of the secret", sigstore_bundle(
        ec.generate_private_key(ec.SECP256R1()), DIGEST), "not made by any of the keys"),
    ("a statement about another artifact", sigstore_bundle(KEY, OTHER_DIGEST),
     "provided artifact digest does not match any digest in statement"),
    ("a certificate (keyless)", keyless(), "expected key signature, not certificate"),
    ("a message signature", edit(keyed(), lambda d: (d.pop("dsseEnvelope"), d.update(
        messageSignature={"signature": b64(b"sig")}))), "does not contain a DSSE envelope"),
    ("two signatures", edit(keyed(), lambda d: d["dsseEnvelope"]["signatures"].append(
        d["dsseEnvelope"]["signatures"][0])), "has 2 signatures"),
    ("another payload type", edit(keyed(), lambda d: d["dsseEnvelope"].update(
        payloadType="text/plain")), "not made by any of the keys"),
    ("a payload changed after signing", edit(keyed(), lambda d: d["dsseEnvelope"].update(
        payload=b64(statement(DIGEST, "other/name")))), "not made by any of the keys"),
    ("a statement that is not JSON", sigstore_bundle(KEY, DIGEST, payload=b"not json"),
     "unable to extract statement"),
    ("a statement with no subjects", sigstore_bundle(KEY, DIGEST, payload=b'{"x": 1}'),
     "no subject list"),
]


@pytest.mark.parametrize(("case", "doc", "message"), KEY_CASES, ids=[c[0] for c in KEY_CASES])
def test_a_bundle_verifies_with_one_of_the_keys_as_flux(case: str, doc: dict[str, Any],
                                                        message: str | None) -> None:
    bundle = parse_bundle(raw(doc))
    if message is None:
        assert verify_with_keys(bundle, KEYS, DIGEST).name in ("good.pub", "stranger.pub")
        return
    with pytest.raises(BundleError, match=message):
        verify_with_keys(bundle, KEYS, DIGEST)


def test_the_key_that_verified_is_named() -> None:
    assert verify_with_keys(parse_bundle(raw(keyed())), KEYS, DIGEST).name == "good.pub"


# --- keyless ---------------------------------------------------------------------------


KEYLESS_CASES: list[tuple[str, dict[str, Any], list[Identity], str | None]] = [
    ("verified", keyless(), IDENTITY, None),
    ("no identity", keyless(), [], "without providing at least one identity"),
    ("two identities", keyless(), IDENTITY * 2, "multiple identities are not supported"),
    ("another identity", keyless(), [Identity(ISSUER, "^someone@")],
     "none of the expected identities"),
    ("a public key", keyed(), IDENTITY, "signed with a key, not a certificate"),
    ("no tlog entry", sigstore_bundle(LEAF.key, DIGEST, cert=LEAF.cert), IDENTITY,
     "not enough verified log entries"),
    ("another Rekor key", keyless(rekor_key=Sigstore().rekor_key), IDENTITY,
     "no tlog entry of the bundle is from a Rekor log of the trusted root"),
    ("a SET that does not verify", edit(keyless(), lambda d: _tlog(d).update(
        integratedTime=str(int(NOW.timestamp()) + 1))), IDENTITY,
     "inclusion promise \\(SET\\) does not verify"),
    ("no inclusion promise", keyless(promise=False), IDENTITY,
     "threshold not met for verified log entry integrated timestamps"),
    ("a checkpoint by another key", keyless(checkpoint_key=Sigstore().rekor_key), IDENTITY,
     "signature on checkpoint did not verify"),
    ("a wrong audit path", edit(keyless(), lambda d: _tlog(d)["inclusionProof"].update(
        logIndex="2")), IDENTITY, "inclusion proof does not verify"),
    ("a proof of another root", edit(keyless(), lambda d: _tlog(d)["inclusionProof"].update(
        rootHash=b64(b"\0" * 32))), IDENTITY, "proof root hash does not match"),
    ("a tree of one", keyless(tree=1, index=0), IDENTITY, None),
    ("the last of an odd tree", keyless(tree=7, index=6), IDENTITY, None),
    ("a certificate of another CA", keyless(cert=issue(Sigstore(), public_key=LEAF.key
                                                       .public_key()).cert), IDENTITY,
     "does not chain to a certificate authority"),
    ("no SCT", keyless(cert=issue(STORE, public_key=LEAF.key.public_key(), sct_key=None)
                       .cert), IDENTITY, "embedded SCT"),
    ("logged after the certificate expired", keyless(integrated=NOW + timedelta(hours=1)),
     IDENTITY, "integrated time outside certificate validity"),
    ("a statement about another artifact", sigstore_bundle(
        LEAF.key, OTHER_DIGEST, cert=LEAF.cert, store=STORE), IDENTITY,
     "provided artifact digest does not match"),
    ("signed by another key than the certificate's", keyless(
        signer=ec.generate_private_key(ec.SECP256R1())), IDENTITY,
     "does not verify with the certificate's key"),
    ("a logged signature that is not the envelope's", edit(keyless(), lambda d: d[
        "dsseEnvelope"]["signatures"][0].update(sig=b64(b"x" * 70))), IDENTITY,
     "transparency log signature does not match"),
]


@pytest.mark.parametrize(("case", "doc", "identities", "message"), KEYLESS_CASES,
                         ids=[c[0] for c in KEYLESS_CASES])
def test_a_keyless_bundle_is_checked_against_the_trusted_root(
        case: str, doc: dict[str, Any], identities: list[Identity], message: str | None
        ) -> None:
    bundle = parse_bundle(raw(doc))
    if message is None:
        result = verify_keyless_bundle(ROOT, identities, bundle, DIGEST)
        assert result.issuer == ISSUER and result.subjects == (EMAIL,)
        assert result.integrated_time == NOW
        return
    with pytest.raises((SigstoreError, BundleError), match=message):
        verify_keyless_bundle(ROOT, identities, bundle, DIGEST)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 13])
def test_merkle_inclusion_of_every_leaf(size: int) -> None:
    leaves = [bytes([n]) * 32 for n in range(size)]
    root = merkle_root(leaves)
    for index in range(size):
        path = merkle_path(index, leaves)
        assert _merkle_inclusion(index, size, leaves[index], path, root)
        assert not _merkle_inclusion(index, size, b"\xff" * 32, path, root)
        if path:  # any hash of the path changed: refused
            assert not _merkle_inclusion(index, size, leaves[index],
                                         [b"\xff" * 32, *path[1:]], root)
        assert not _merkle_inclusion(index, size, leaves[index], [*path, root], root)
    assert not _merkle_inclusion(size, size, leaves[0], [], root)


# --- which signatures are looked at (an in-memory registry) -----------------------------


def _v2_signature(signer: Any, digest: str = DIGEST) -> tuple[dict[str, Any], bytes]:
    """A cosign v2 simple signing layer and its payload, signed by `signer`."""
    body = json.dumps({"critical": {"identity": {"docker-reference": "r.example/app"},
                                    "image": {"docker-manifest-digest": digest},
                                    "type": "cosign container image signature"}}).encode()
    signature = b64(signer.sign(body, ec.ECDSA(hashes.SHA256())))
    return {"mediaType": SIMPLE_SIGNING_MEDIA_TYPE, "digest": _digest(body),
            "size": len(body), "annotations": {COSIGN_SIGNATURE_ANNOTATION: signature}}, body


def _digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class FakeRegistry:
    """What `_ociverify` asks of a RegistryClient, in memory: manifests by tag or digest,
    blobs, and the referrers of DIGEST (or an error listing them)."""

    def __init__(self) -> None:
        self.manifests: dict[str, dict[str, Any]] = {}
        self.blobs: dict[str, bytes] = {}
        self.referrer_list: list[dict[str, Any]] = []
        self.referrers_fail = False

    def blob(self, raw: bytes) -> str:
        self.blobs[_digest(raw)] = raw
        return _digest(raw)

    def add_v2(self, signer: Any) -> None:
        layer, body = _v2_signature(signer)
        self.blob(body)
        self.manifests[signature_tag(DIGEST)] = {"layers": [layer]}

    def add_referrer(self, layer_type: str, raw: bytes,
                     artifact_type: str = BUNDLE_MEDIA_TYPE) -> None:
        manifest = {"artifactType": artifact_type, "subject": {"digest": DIGEST}, "layers": [
            {"mediaType": layer_type, "digest": self.blob(raw), "size": len(raw)}]}
        digest = _digest(json.dumps(manifest).encode())
        self.manifests[digest] = manifest
        self.referrer_list.append({"digest": digest, "artifactType": artifact_type})

    def add_bundle(self, doc: dict[str, Any] | bytes) -> None:
        self.add_referrer(BUNDLE_MEDIA_TYPE, doc if isinstance(doc, bytes) else raw(doc))

    def referrers(self, repository: str, digest: str, *, max_size: int) -> list[Any]:
        if self.referrers_fail:
            raise RegistryError("transport", "the registry answered 500")
        return list(self.referrer_list)

    def any_manifest(self, repository: str, reference: str, *, max_size: int) -> Any:
        if reference not in self.manifests:
            raise RegistryError("not_found", f"{reference} not found")
        return SimpleNamespace(data=self.manifests[reference])

    def blob_bytes(self, repository: str, descriptor: Any, max_size: int) -> bytes:
        if descriptor["size"] > max_size:
            raise RegistryError("invalid", f"blob {descriptor['digest']} is larger than "
                                f"{max_size} bytes")
        return self.blobs[descriptor["digest"]]


TRUSTED = KEY
UNTRUSTED = ec.generate_private_key(ec.SECP256R1())
SECRET_KEYS = {"trusted.pub": KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)}

ORDER_CASES: list[tuple[str, Callable[[FakeRegistry], None], list[str]]] = [
    ("a bundle by the trusted key", lambda r: r.add_bundle(sigstore_bundle(TRUSTED, DIGEST)),
     ["verified", "Sigstore bundle"]),
    ("a v2 signature by the trusted key", lambda r: r.add_v2(TRUSTED), ["verified"]),
    ("a v2 signature by another key beside a bundle by the trusted key",
     lambda r: (r.add_v2(UNTRUSTED), r.add_bundle(sigstore_bundle(TRUSTED, DIGEST))),
     ["verified", "Sigstore bundle"]),
    ("a v2 signature by the trusted key beside a bundle by another key",
     lambda r: (r.add_v2(TRUSTED), r.add_bundle(sigstore_bundle(UNTRUSTED, DIGEST))),
     ["bundle 1: not made by any of the keys", "'.sig' signatures are not looked at"]),
    ("a malformed bundle beside a v2 signature by the trusted key",
     lambda r: (r.add_v2(TRUSTED), r.add_bundle(b"{not json")), ["verified"]),
    ("only a malformed bundle", lambda r: r.add_bundle(b"{not json"),
     ["no cosign signature found", "skipped: the bundle is not JSON"]),
    ("only an oversized bundle", lambda r: r.add_bundle(b" " * (MAX_BUNDLE_SIZE + 1)),
     ["no cosign signature found", f"larger than {MAX_BUNDLE_SIZE} bytes"]),
    ("a bundle referrer with another layer type",
     lambda r: r.add_referrer("application/json", raw(sigstore_bundle(TRUSTED, DIGEST))),
     ["no cosign signature found", "expected exactly one layer of a bundle media type"]),
    ("a notation signature and a v2 signature by the trusted key",
     lambda r: (r.add_v2(TRUSTED), r.add_referrer(
         "application/jose+json", b"{}", "application/vnd.cncf.notary.signature")),
     ["verified"]),
    ("referrers that cannot be listed, a v2 signature by the trusted key",
     lambda r: (r.add_v2(TRUSTED), setattr(r, "referrers_fail", True)), ["verified"]),
    ("referrers that cannot be listed and no v2 signature",
     lambda r: setattr(r, "referrers_fail", True),
     ["no cosign signature found", "the OCI referrers could not be listed"]),
]


@pytest.mark.parametrize(("case", "setup", "words"), ORDER_CASES,
                         ids=[c[0] for c in ORDER_CASES])
def test_bundles_first_then_v2_signatures_as_flux(
        case: str, setup: Callable[[FakeRegistry], None], words: list[str]) -> None:
    registry = FakeRegistry()
    setup(registry)
    config = verification_config("cosign", "keys", "ns", SECRET_KEYS)
    url = OCIURL("r.example", "app")
    if words[0] == "verified":
        result = verify_artifact(registry, url, DIGEST, config)  # type: ignore[arg-type]
        assert result.verified and "trusted.pub" in result.detail
        assert ("Sigstore bundle" in result.detail) is ("Sigstore bundle" in words)
        return
    with pytest.raises(VerificationFailed) as failed:
        verify_artifact(registry, url, DIGEST, config)  # type: ignore[arg-type]
    for word in words:
        assert word in failed.value.message, failed.value.message
