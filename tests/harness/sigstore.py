"""A private Sigstore made in-process for tests: a root and an intermediate CA (Fulcio's
role), a CT log key that signs precertificate SCTs as RFC 6962 says, a Rekor key that
signs signed entry timestamps (SETs) over hashedrekord entries, and the
`trusted_root.json` that names them all.

- `Sigstore()`: new keys; `.root`, `.inter` the CA certificates; `.trusted_root(**changes)`
  the trusted root document (a dict; `changes` replace top-level entries).
- `issue(store, ...)`: a short-lived Fulcio-like signing certificate (code signing, an
  OIDC issuer extension, SANs, an embedded SCT by the store's CT log unless told
  otherwise), for a new key or a given public key.
- `bundle(store, cert, signature_b64, payload)`: the `dev.sigstore.cosign/bundle`
  annotation cosign writes from a Rekor answer (the store's Rekor key signs the SET).
- `rekor_response(store, cert, signature_b64, payload)`: the same entry as the file
  `cosign attach signature --rekor-response` reads (cosign's LocalSignedPayload:
  `base64Signature`, `cert`, `rekorBundle`), so the real cosign attaches the bundle.

- `sigstore_bundle(signer, digest, cert=..., store=...)`: a Sigstore bundle v0.3 as cosign
  v3 writes (a DSSE envelope of an in-toto statement about the artifact), key-based
  (public key hint) or keyless (certificate and a Rekor v1 `dsse` entry with its SET and
  an RFC 6962 inclusion proof whose checkpoint the Rekor key signed), for the real
  `cosign attach signature --bundle`.

Pure (no I/O); used by the unit tests of controllers/source/_sigstore.py and by the
integration test that reads what the real cosign writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["ISSUER", "EMAIL", "NOW", "Leaf", "Sigstore", "b64", "bundle", "checkpoint",
           "dsse_entry", "issue", "merkle_path", "merkle_root", "pae", "pem", "rekor_response",
           "sigstore_bundle", "statement"]

NOW = datetime.now(UTC).replace(microsecond=0)
ISSUER = "https://oidc.example.test"
EMAIL = "release@example.test"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def spki(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def ca_cert(key: Any, subject: str, signer: Any = None, issuer: x509.Certificate | None = None,
            *, days: int = 365) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(name(subject))
               .issuer_name(issuer.subject if issuer else name(subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=1))
               .not_valid_after(NOW + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                            False, False), critical=True))
    return builder.sign(signer or key, hashes.SHA256())


@dataclass
class Sigstore:
    """A private Sigstore's keys: CAs, a CT log, a Rekor log."""

    root_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    inter_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    ct_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    rekor_key: Any = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def __post_init__(self) -> None:
        self.root = ca_cert(self.root_key, "sigstore root")
        self.inter = ca_cert(self.inter_key, "sigstore intermediate", self.root_key, self.root)

    def log_id(self, key: Any) -> bytes:
        return hashlib.sha256(spki(key)).digest()

    def trusted_root(self, **changes: Any) -> dict[str, Any]:
        def log(key: Any, url: str) -> dict[str, Any]:
            return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
                    "publicKey": {"rawBytes": b64(spki(key)),
                                  "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                  "validFor": {"start": "2020-01-01T00:00:00Z"}},
                    "logId": {"keyId": b64(self.log_id(key))}}
        doc = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
               "tlogs": [log(self.rekor_key, "https://rekor.example.test")],
               "certificateAuthorities": [{
                   "subject": {"organization": "test", "commonName": "fulcio"},
                   "uri": "https://fulcio.example.test",
                   "certChain": {"certificates": [
                       {"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))}
                       for c in (self.inter, self.root)]},
                   "validFor": {"start": "2020-01-01T00:00:00.123456789Z"}}],
               "ctlogs": [log(self.ct_key, "https://ctfe.example.test")],
               "timestampAuthorities": []}
        doc.update(changes)
        return doc


def sct_extension(tbs: bytes, issuer_key: Any, ct_key: Any, when: datetime) -> bytes:
    """The DER of an SCT list extension value holding one SCT by `ct_key` (RFC 6962)."""
    millis = int((when - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
    signed = (struct.pack(">BBQH", 0, 0, millis, 1) +
              hashlib.sha256(spki(issuer_key)).digest() + len(tbs).to_bytes(3, "big") + tbs +
              b"\x00\x00")
    signature = ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    sct = (b"\x00" + hashlib.sha256(spki(ct_key)).digest() + struct.pack(">Q", millis) +
           b"\x00\x00" + b"\x04\x03" + len(signature).to_bytes(2, "big") + signature)
    sct_list = len(sct).to_bytes(2, "big") + sct
    inner = len(sct_list).to_bytes(2, "big") + sct_list
    return b"\x04" + _der_length(len(inner)) + inner  # OCTET STRING


def _der_length(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else bytes([0x82]) + n.to_bytes(2, "big")


@dataclass
class Leaf:
    """A signing certificate and its private key (None when issued for a given key)."""

    key: Any
    cert: x509.Certificate


def issue(store: Sigstore, *, issuer: str | None = ISSUER, sans: list[x509.GeneralName] | None
          = None, sct_key: Any = "ct", code_signing: bool = True, minutes: int = 10,
          ca_key: Any = None, ca_cert: x509.Certificate | None = None,
          public_key: Any = None, critical_issuer: bool = False) -> Leaf:
    """A short-lived Fulcio-like signing certificate for a new key (or `public_key`), with
    an embedded SCT by `sct_key` (the store's CT log by default; None: no SCT)."""
    key = None if public_key is not None else ec.generate_private_key(ec.SECP256R1())
    signer, parent = ca_key or store.inter_key, ca_cert or store.inter
    usage = ExtendedKeyUsageOID.CODE_SIGNING if code_signing else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(parent.subject)
               .public_key(public_key if key is None else key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(minutes=1))
               .not_valid_after(NOW + timedelta(minutes=minutes))
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectAlternativeName(
                   sans if sans is not None else [x509.RFC822Name(EMAIL)]), critical=True))
    if issuer is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"),
                                       issuer.encode()), critical=critical_issuer)
    if sct_key is not None:
        precert = builder.sign(signer, hashes.SHA256())
        ct = store.ct_key if sct_key == "ct" else sct_key
        builder = builder.add_extension(x509.UnrecognizedExtension(
            x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"),
            sct_extension(precert.tbs_certificate_bytes, signer, ct, NOW)), critical=False)
    return Leaf(key, builder.sign(signer, hashes.SHA256()))


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _rekor_bundle(store: Sigstore, cert: x509.Certificate, signature: str, payload: bytes,
                  rekor_key: Any, integrated: datetime) -> dict[str, Any]:
    body = b64(json.dumps({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256",
                          "value": hashlib.sha256(payload).hexdigest()}},
        "signature": {"content": signature,
                      "publicKey": {"content": b64(pem(cert).encode())}}}}).encode())
    key = rekor_key or store.rekor_key
    payload_doc = {"body": body, "integratedTime": int(integrated.timestamp()),
                   "logIndex": 7, "logID": store.log_id(key).hex()}
    canonical = json.dumps(payload_doc, sort_keys=True, separators=(",", ":")).encode()
    return {"SignedEntryTimestamp": b64(key.sign(canonical, ec.ECDSA(hashes.SHA256()))),
            "Payload": payload_doc}


def bundle(store: Sigstore, cert: x509.Certificate, signature: str, payload: bytes, *,
           rekor_key: Any = None, integrated: datetime = NOW) -> str:
    """A cosign bundle annotation: a hashedrekord entry and its SET."""
    return json.dumps(_rekor_bundle(store, cert, signature, payload, rekor_key, integrated))


def rekor_response(store: Sigstore, cert: x509.Certificate, signature: str, payload: bytes,
                   *, rekor_key: Any = None, integrated: datetime = NOW) -> str:
    """What `cosign attach signature --rekor-response <file>` reads: the signature, its
    certificate and the Rekor bundle of its hashedrekord entry (SET by `rekor_key`, the
    store's Rekor key by default)."""
    return json.dumps({"base64Signature": signature, "cert": b64(pem(cert).encode()),
                       "rekorBundle": _rekor_bundle(store, cert, signature, payload,
                                                    rekor_key, integrated)})


# --- Sigstore bundles (cosign v3) -------------------------------------------------------

INTOTO = "application/vnd.in-toto+json"
BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"


def statement(digest: str, name: str = "registry.example.test/app") -> bytes:
    """The in-toto statement cosign v3 signs for an image of `digest` (`sha256:<hex>`)."""
    algorithm, _, hex_ = digest.partition(":")
    return json.dumps({"_type": "https://in-toto.io/Statement/v1",
                       "subject": [{"name": name, "digest": {algorithm: hex_}}],
                       "predicateType": "https://sigstore.dev/cosign/sign/v1",
                       "predicate": {}}).encode()


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962's Merkle tree hash of the leaf hashes `leaves`."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def merkle_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962's audit path of leaf `index`."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return merkle_path(index, leaves[:k]) + [merkle_root(leaves[k:])]
    return merkle_path(index - k, leaves[k:]) + [merkle_root(leaves[:k])]


def checkpoint(key: Any, size: int, root: bytes, origin: str = "rekor.example.test") -> str:
    """A signed note of the tree head, as Rekor v1 writes it (4-byte key hint + ECDSA)."""
    note = f"{origin} - 2605736670972794746\n{size}\n{b64(root)}\n"
    hint = hashlib.sha256(spki(key)).digest()[:4]
    signature = key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
    return f"{note}\n\u2014 {origin} {b64(hint + signature)}\n"


def dsse_entry(store: Sigstore, cert: x509.Certificate, signature: bytes, payload: bytes,
               envelope: dict[str, Any], *, rekor_key: Any = None,
               integrated: datetime = NOW, promise: bool = True, proof: bool = True,
               checkpoint_key: Any = None, tree: int = 5, index: int = 3
               ) -> dict[str, Any]:
    """A Rekor v1 `dsse` 0.0.1 tlog entry of the envelope, as a bundle holds it: its
    inclusion promise (SET by `rekor_key`, the store's by default) and an inclusion proof
    in a tree of `tree` entries whose checkpoint `checkpoint_key` signed."""
    key = rekor_key or store.rekor_key
    body = json.dumps({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": hashlib.sha256(
            json.dumps(envelope).encode()).hexdigest()},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
        "signatures": [{"signature": b64(signature),
                        "verifier": b64(pem(cert).encode())}]}},
        separators=(",", ":")).encode()
    log_index = 1000 + index
    entry: dict[str, Any] = {
        "logIndex": str(log_index), "logId": {"keyId": b64(store.log_id(key))},
        "kindVersion": {"kind": "dsse", "version": "0.0.1"},
        "integratedTime": str(int(integrated.timestamp())),
        "canonicalizedBody": b64(body)}
    if promise:
        signed = json.dumps({"body": b64(body), "integratedTime": int(integrated.timestamp()),
                             "logID": store.log_id(key).hex(), "logIndex": log_index},
                            sort_keys=True, separators=(",", ":")).encode()
        entry["inclusionPromise"] = {
            "signedEntryTimestamp": b64(key.sign(signed, ec.ECDSA(hashes.SHA256())))}
    if proof:
        leaves = [_leaf_hash(b"other entry %d" % n) for n in range(tree)]
        leaves[index] = _leaf_hash(body)
        root = merkle_root(leaves)
        entry["inclusionProof"] = {
            "logIndex": str(index), "rootHash": b64(root), "treeSize": str(tree),
            "hashes": [b64(h) for h in merkle_path(index, leaves)],
            "checkpoint": {"envelope": checkpoint(checkpoint_key or key, tree, root)}}
    return entry


def sigstore_bundle(signer: Any, digest: str, *, cert: x509.Certificate | None = None,
                    store: Sigstore | None = None, payload: bytes | None = None,
                    hint: str = "key-hint", **entry: Any) -> dict[str, Any]:
    """A Sigstore bundle v0.3 as cosign v3 writes for an image of `digest`: a DSSE
    envelope of its statement signed by `signer` (a private key); the public key `hint`
    as material, or with `cert` the certificate and (with `store`) a Rekor v1 entry of
    it (`dsse_entry`'s options in `entry`)."""
    payload = statement(digest) if payload is None else payload
    signature = signer.sign(pae(INTOTO, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {"payload": b64(payload), "payloadType": INTOTO,
                "signatures": [{"sig": b64(signature)}]}
    material: dict[str, Any] = {"publicKey": {"hint": hint}}
    if cert is not None:
        material = {"certificate": {"rawBytes": b64(cert.public_bytes(
            serialization.Encoding.DER))}, "tlogEntries": []}
        if store is not None:
            material["tlogEntries"] = [dsse_entry(store, cert, signature, payload, envelope,
                                                  **entry)]
    return {"mediaType": BUNDLE_V03, "verificationMaterial": material,
            "dsseEnvelope": envelope}
