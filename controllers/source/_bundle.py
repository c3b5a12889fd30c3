"""Sigstore bundles (cosign v3's signatures of OCI artifacts): the pure half (no I/O).

What cosign v3 (`cosign sign`, its default `--new-bundle-format`) leaves in the registry
for an artifact of digest `sha256:<hex>`: an OCI 1.1 referrer of the artifact (found
through the referrers API, or on a registry without it through the referrers tag
`sha256-<hex>`), a manifest of artifactType `application/vnd.dev.sigstore.bundle.v0.3+json`
with one layer, a Sigstore bundle v0.3 (JSON, protobuf-specs' `Bundle`):

- `verificationMaterial`: `publicKey` (a hint only: key-based signing) or `certificate`
  (`rawBytes`, DER: keyless signing), `tlogEntries` (Rekor entries; each with an
  inclusion proof, and with an inclusion promise, the SET, from Rekor v1), and
  `timestampVerificationData`;
- the content: a `dsseEnvelope` whose payload (`payloadType`
  `application/vnd.in-toto+json`) is an in-toto statement with the artifact as its
  subject (`{"name": ..., "digest": {"sha256": "<hex>"}}`) and the predicate type
  `https://sigstore.dev/cosign/sign/v1`; its one signature is over the DSSE
  pre-authentication encoding (PAE) of payload type and payload.

Flux's source-controller (fluxcd/source-controller#1961, Flux 2.8) verifies such an
artifact as the cosign library does: every referrer of the artifact whose single layer is
of a Sigstore bundle media type is read, a bundle that cannot be read or parsed, or older
than v0.3, is skipped; when at least one bundle is left, only the bundles are verified
(the cosign v2 `.sig` signatures are then not looked at); otherwise the v2 signatures
are. A bundle holds when (key-based, `spec.verify.secretRef`) its material is a public
key, not a certificate, its content is a DSSE envelope with exactly one signature that
verifies with one of the keys, and its statement names the artifact's digest as a
subject. The statement's predicate type is not checked (as in Flux), and the
transparency log is not consulted for key-based verification (Flux ignores it too).

`parse_bundle` reads a bundle's JSON (bounded: size, entries, subjects) and checks what
sigstore-go's bundle validation checks (media type and version, one kind of verification
material, no certificate chain in v0.3, an inclusion proof in each tlog entry, one kind of
content); `verify_with_keys` is the key-based check. Keyless bundles are
`_sigstore`'s (`verify_keyless_bundle`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from ._cosign import PublicKey, verify_signature_bytes

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "BUNDLE_MEDIA_TYPE_PREFIX",
    "COSIGN_SIGN_PREDICATE_TYPE",
    "INTOTO_PAYLOAD_TYPE",
    "MAX_BUNDLE_SIZE",
    "BundleError",
    "Dsse",
    "InclusionProof",
    "SigstoreBundle",
    "TlogEntry",
    "bundle_version",
    "dsse_pae",
    "parse_bundle",
    "statement_digests",
    "verify_with_keys",
]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
COSIGN_SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1"
#: Largest bundle read from the registry (cosign's are a few KiB: a certificate, a Rekor
#: entry and its inclusion proof).
MAX_BUNDLE_SIZE = 256 << 10
#: sigstore-go's limits: tlog entries of a bundle, subjects of a statement, digests of one.
MAX_TLOG_ENTRIES = 32
MAX_SUBJECTS = 1024
MAX_SUBJECT_DIGESTS = 32
MAX_PROOF_HASHES = 64


class BundleError(Exception):
    """A bundle that cannot be used or does not verify; the message says why, without
    certificate or key contents."""


@dataclass(frozen=True)
class InclusionProof:
    log_index: int
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str


@dataclass(frozen=True)
class TlogEntry:
    """A `verificationMaterial.tlogEntries[]` entry (a Rekor v1 or v2 log entry)."""

    log_index: int
    log_id: str  # hex of logId.keyId
    kind: str
    version: str
    integrated_time: int
    signed_entry_timestamp: bytes | None
    inclusion_proof: InclusionProof | None
    body: bytes  # canonicalizedBody, decoded


@dataclass(frozen=True)
class Dsse:
    payload: bytes
    payload_type: str
    signatures: tuple[bytes, ...]


@dataclass(frozen=True)
class SigstoreBundle:
    media_type: str
    version: str
    public_key_hint: str | None
    certificate: x509.Certificate | None
    tlog_entries: tuple[TlogEntry, ...]
    dsse: Dsse | None
    message_signature: bytes | None


def _b64(value: Any, what: str) -> bytes:
    """protojson's bytes: standard or URL-safe base64, padded or not."""
    if not isinstance(value, str):
        raise BundleError(f"{what} is missing")
    try:
        text = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{what} is not base64") from None


def _int(value: Any, what: str, *, required: bool = True) -> int:
    """protojson's int64: a JSON number or a decimal string."""
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BundleError(f"{what} is missing or not an integer")
    try:
        number = int(value)
    except ValueError:
        raise BundleError(f"{what} is not an integer") from None
    if number < 0:
        raise BundleError(f"{what} is negative")
    return number


def _object(value: Any, what: str, *, required: bool = True) -> Mapping[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise BundleError(f"{what} is missing or not an object")
    return value


def bundle_version(media_type: Any) -> str:
    """The version (`v0.3`) a bundle media type names; BundleError for another type."""
    if not isinstance(media_type, str):
        raise BundleError("the bundle has no mediaType")
    legacy = f"{BUNDLE_MEDIA_TYPE_PREFIX}+json;version="
    if media_type.startswith(legacy):
        version = "v" + media_type[len(legacy):]
    elif media_type.startswith(BUNDLE_MEDIA_TYPE_PREFIX + ".v") and media_type.endswith("+json"):
        version = media_type[len(BUNDLE_MEDIA_TYPE_PREFIX) + 1:-len("+json")]
    else:
        raise BundleError(f"unsupported bundle media type {media_type[:80]!r}")
    parts = version[1:].split(".")
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise BundleError(f"invalid bundle version {version[:40]!r}")
    return version


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version[1:].split("."))


def _proof(doc: Mapping[str, Any], where: str) -> InclusionProof:
    hashes = doc.get("hashes") or []
    if not isinstance(hashes, list) or len(hashes) > MAX_PROOF_HASHES:
        raise BundleError(f"{where}.hashes is not a list of at most {MAX_PROOF_HASHES}")
    checkpoint = _object(doc.get("checkpoint"), f"{where}.checkpoint", required=False)
    envelope = checkpoint.get("envelope") or ""
    if not isinstance(envelope, str) or len(envelope) > 8 << 10:
        raise BundleError(f"{where}.checkpoint.envelope is not a string of at most 8 KiB")
    return InclusionProof(
        _int(doc.get("logIndex"), f"{where}.logIndex", required=False),
        _b64(doc.get("rootHash"), f"{where}.rootHash"),
        _int(doc.get("treeSize"), f"{where}.treeSize"),
        tuple(_b64(h, f"{where}.hashes[{n}]") for n, h in enumerate(hashes)), envelope)


def _tlog_entry(doc: Any, where: str) -> TlogEntry:
    doc = _object(doc, where)
    kind_version = _object(doc.get("kindVersion"), f"{where}.kindVersion")
    log_id = _object(doc.get("logId"), f"{where}.logId")
    promise = _object(doc.get("inclusionPromise"), f"{where}.inclusionPromise", required=False)
    proof = doc.get("inclusionProof")
    return TlogEntry(
        _int(doc.get("logIndex"), f"{where}.logIndex", required=False),
        _b64(log_id.get("keyId"), f"{where}.logId.keyId").hex(),
        str(kind_version.get("kind") or ""), str(kind_version.get("version") or ""),
        _int(doc.get("integratedTime"), f"{where}.integratedTime", required=False),
        _b64(promise["signedEntryTimestamp"], f"{where}.inclusionPromise.signedEntryTimestamp")
        if promise else None,
        _proof(_object(proof, f"{where}.inclusionProof"), f"{where}.inclusionProof")
        if proof is not None else None,
        _b64(doc.get("canonicalizedBody"), f"{where}.canonicalizedBody"))


def _dsse(doc: Any) -> Dsse:
    doc = _object(doc, "dsseEnvelope")
    signatures = doc.get("signatures")
    if not isinstance(signatures, list) or len(signatures) > MAX_TLOG_ENTRIES:
        raise BundleError("dsseEnvelope.signatures is not a list")
    payload_type = doc.get("payloadType")
    if not isinstance(payload_type, str):
        raise BundleError("dsseEnvelope.payloadType is missing")
    return Dsse(_b64(doc.get("payload"), "dsseEnvelope.payload"), payload_type,
                tuple(_b64(_object(s, f"dsseEnvelope.signatures[{n}]").get("sig"),
                           f"dsseEnvelope.signatures[{n}].sig")
                      for n, s in enumerate(signatures)))


def parse_bundle(raw: bytes) -> SigstoreBundle:
    """A Sigstore bundle (v0.3, as cosign reads them from a registry); BundleError says
    what makes it unusable (cosign then skips it)."""
    if len(raw) > MAX_BUNDLE_SIZE:
        raise BundleError(f"the bundle is larger than {MAX_BUNDLE_SIZE} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BundleError("the bundle is not JSON") from None
    if not isinstance(doc, Mapping):
        raise BundleError("the bundle is not a JSON object")
    media_type = doc.get("mediaType")
    version = bundle_version(media_type)
    if _version_key(version) < (0, 3):
        raise BundleError(f"bundle version too old ({version}; cosign reads v0.3 bundles "
                          "from registries)")
    if _version_key(version) >= (0, 4):
        raise BundleError(f"bundle version {version} is not yet supported")
    material = _object(doc.get("verificationMaterial"), "verificationMaterial")
    kinds = [k for k in ("publicKey", "certificate", "x509CertificateChain")
             if material.get(k) is not None]
    if len(kinds) != 1:
        raise BundleError("verificationMaterial must hold one of publicKey, certificate and "
                          "x509CertificateChain")
    if kinds[0] == "x509CertificateChain":
        raise BundleError("verification material cannot be X.509 certificate chain (for "
                          "bundle v0.3)")
    hint = certificate = None
    if kinds[0] == "publicKey":
        hint = str(_object(material["publicKey"], "verificationMaterial.publicKey")
                   .get("hint") or "")
    else:
        raw_cert = _b64(_object(material["certificate"], "verificationMaterial.certificate")
                        .get("rawBytes"), "verificationMaterial.certificate.rawBytes")
        try:
            certificate = x509.load_der_x509_certificate(raw_cert)
        except ValueError:
            raise BundleError("verificationMaterial.certificate.rawBytes is not a DER "
                              "certificate") from None
    entries = material.get("tlogEntries") or []
    if not isinstance(entries, list):
        raise BundleError("verificationMaterial.tlogEntries is not a list")
    if len(entries) > MAX_TLOG_ENTRIES:
        raise BundleError(f"too many tlog entries: {len(entries)} > {MAX_TLOG_ENTRIES}")
    tlog = tuple(_tlog_entry(e, f"verificationMaterial.tlogEntries[{n}]")
                 for n, e in enumerate(entries))
    if tlog and not any(e.inclusion_proof for e in tlog):
        raise BundleError("inclusion proof missing in bundle (required for bundle v0.2)")
    has_dsse, has_message = doc.get("dsseEnvelope") is not None, \
        doc.get("messageSignature") is not None
    if has_dsse == has_message:
        raise BundleError("bundle content must be either a message signature or dsse "
                          "envelope")
    message = None
    if has_message:
        message = _b64(_object(doc["messageSignature"], "messageSignature").get("signature"),
                       "messageSignature.signature")
    return SigstoreBundle(str(media_type), version, hint, certificate, tlog,
                          _dsse(doc["dsseEnvelope"]) if has_dsse else None, message)


def dsse_pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1's pre-authentication encoding: what the envelope's signature signs."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement_digests(dsse: Dsse) -> dict[str, list[str]]:
    """The subject digests of the envelope's in-toto statement, by algorithm (hex, lower
    case); BundleError when it is not one."""
    if dsse.payload_type != INTOTO_PAYLOAD_TYPE:
        raise BundleError(f"unable to extract statement from envelope: payload type "
                          f"{dsse.payload_type[:80]!r} is not {INTOTO_PAYLOAD_TYPE!r}")
    try:
        statement = json.loads(dsse.payload)
    except (ValueError, UnicodeDecodeError):
        raise BundleError("unable to extract statement from envelope: not JSON") from None
    subjects = statement.get("subject") if isinstance(statement, Mapping) else None
    if not isinstance(subjects, list):
        raise BundleError("unable to extract statement from envelope: no subject list")
    if len(subjects) > MAX_SUBJECTS:
        raise BundleError(f"too many subjects: {len(subjects)} > {MAX_SUBJECTS}")
    found: dict[str, list[str]] = {}
    for subject in subjects:
        digests = subject.get("digest") if isinstance(subject, Mapping) else None
        if not isinstance(digests, Mapping):
            continue
        if len(digests) > MAX_SUBJECT_DIGESTS:
            raise BundleError(f"too many digests: {len(digests)} > {MAX_SUBJECT_DIGESTS}")
        for algorithm, value in digests.items():
            if not isinstance(value, str):
                raise BundleError("a subject digest of the statement is not a string")
            try:
                bytes.fromhex(value)
            except ValueError:
                raise BundleError("could not verify artifact: unable to decode subject "
                                  "digest") from None
            found.setdefault(str(algorithm), []).append(value.lower())
    return found


def check_subject(dsse: Dsse, digest: str) -> None:
    """BundleError unless the statement names `digest` (`sha256:<hex>`) as a subject."""
    algorithm, _, hex_ = digest.partition(":")
    digests = statement_digests(dsse)
    if hex_.lower() not in digests.get(algorithm, []):
        named = ", ".join(f"{a}:{d}" for a, ds in digests.items() for d in ds[:3]) or "none"
        raise BundleError(f"provided artifact digest does not match any digest in statement "
                          f"(it names {named[:300]})")


def single_signature(bundle: SigstoreBundle) -> Dsse:
    """The bundle's DSSE envelope, once it is one with exactly one signature (cosign
    reads only DSSE bundles of an image)."""
    if bundle.dsse is None:
        raise BundleError("bundle does not contain a DSSE envelope (a message signature "
                          "bundle is not cosign's signature of an image)")
    if len(bundle.dsse.signatures) != 1:
        raise BundleError(f"the DSSE envelope has {len(bundle.dsse.signatures)} signatures "
                          "(a Sigstore bundle holds exactly one)")
    return bundle.dsse


def verify_with_keys(bundle: SigstoreBundle, keys: Sequence[PublicKey], digest: str
                     ) -> PublicKey:
    """The key that signed the bundle's envelope of a statement about `digest` (as Flux
    verifies a bundle with a public key: no transparency log); BundleError otherwise."""
    if bundle.certificate is not None:
        raise BundleError("expected key signature, not certificate (the bundle was signed "
                          "keyless: verify it with spec.verify.trustedRootSecretRef)")
    dsse = single_signature(bundle)
    pae = dsse_pae(dsse.payload_type, dsse.payload)
    key = next((k for k in keys if verify_signature_bytes(k.key, dsse.signatures[0], pae)),
               None)
    if key is None:
        raise BundleError("not made by any of the keys")
    check_subject(dsse, digest)
    return key
