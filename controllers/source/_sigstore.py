"""Keyless cosign signatures checked against a private Sigstore trusted root: the pure half
(no I/O); `_ociverify` reads the trusted root Secret and the signature layers and calls
`verify_keyless` for OCIRepository's `spec.verify.trustedRootSecretRef`.

Flux 2.9 (`spec.verify.trustedRootSecretRef` of an OCIRepository, with no `secretRef`)
reads the key `trusted_root.json` of the Secret, a Sigstore trusted root
(`application/vnd.dev.sigstore.trustedroot+json;version=0.1`: Fulcio certificate
authorities, Rekor transparency logs, CT logs, timestamp authorities), and verifies a
cosign v2 signature layer as the cosign library does with that root as its only trusted
material:

1. the trusted root must name a Rekor log with a `baseUrl` (`rekor_url`);
2. a proof that Rekor logged the signature is required: the layer's
   `dev.sigstore.cosign/bundle` (a signed entry timestamp, SET, by a Rekor key of the
   root, over an entry whose signature, certificate and payload hash are this layer's)
   or, without a bundle, an online look-up in Rekor. RFC 3161 timestamps
   (`dev.sigstore.cosign/rfc3161timestamp`) are not consulted;
3. the certificate (`dev.sigstore.cosign/certificate`) chains, at its notBefore, to one
   certificate authority of the root that is valid then, with the code-signing extended
   key usage; the intermediates come from the trusted root, not from the layer's
   `dev.sigstore.cosign/chain`;
4. `matchOIDCIdentity`: one entry's `issuer` regex matches the certificate's OIDC issuer
   extension (1.3.6.1.4.1.57264.1.1) and its `subject` regex matches one of its subject
   alternative names (no entries: any identity);
5. an embedded SCT signed by a CT log of the root is required;
6. the signature over the payload verifies with the certificate's key (the caller then
   checks that the payload names the artifact's digest);
7. the certificate and its issuing chain were valid at the Rekor entry's integrated time.

`verify_keyless` does 1–7 in that order, except the online Rekor look-up: a layer without
a bundle is refused with a message that says so (afflux never contacts the Rekor a trusted
root names). Every input is bounded (the trusted root and its entries, annotations,
certificate chains); messages name fields and identities, never certificate or key
contents.

cosign v3's keyless Sigstore bundles (`_bundle`) are checked by `verify_keyless_bundle`
as sigstore-go checks them for Flux's cosign (the root as the only trusted material, an
SCT, one transparency log entry, integrated timestamps):

1. exactly one `matchOIDCIdentity` entry (cosign's bundle verifier takes one; none is
   refused too: sigstore-go needs an identity), the bundle's material a certificate and
   its content a DSSE envelope with one signature;
2. each tlog entry of a Rekor log of the root: a Rekor v1 `dsse` 0.0.1 entry (its
   `kindVersion` its body's) whose inclusion promise (SET, over the same canonical JSON as
   a v2 bundle's) verifies, else the entry is skipped; whose inclusion proof (RFC 6962,
   leaf hash of the canonicalized body) verifies to a root hash that a checkpoint (a
   signed note: every signature line with the Rekor key's 4-byte hint, ECDSA over the
   note) signed by that log key names; whose logged signature and certificate are the
   bundle's and payload hash the envelope payload's; logged while the certificate was
   valid. At least one entry must count, and one with a SET gives the integrated time;
3. the chain to a CA of the root at that time, the embedded SCT, the identity;
4. the DSSE signature (over the pre-authentication encoding) with the certificate's key;
5. the in-toto statement names the artifact's digest as a subject.

Rekor v2 entries (no integrated time, they need an RFC 3161 timestamp) are refused.

Proven against the real cosign (tests/integration/source/test_oci_verify.py): the test
harness's private Sigstore (tests/harness/sigstore.py: CA, CT log and Rekor keys) signs,
the real `cosign attach signature --rekor-response` attaches the bundle, the real `cosign
verify --trusted-root` accepts it offline and refuses it with another root, CA or
identity, and the operator agrees with it on each of those; the real cosign v3 `attach
signature --bundle` attaches the harness's keyless bundles and its `verify --trusted-root`
decides as `verify_keyless_bundle` on each variant.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ._bundle import (
    Dsse,
    SigstoreBundle,
    TlogEntry,
    check_subject,
    dsse_pae,
    single_signature,
)
from ._x509util import is_ca, issued_by

__all__ = [
    "BUNDLE_ANNOTATION",
    "CERTIFICATE_ANNOTATION",
    "CHAIN_ANNOTATION",
    "RFC3161_ANNOTATION",
    "TRUSTED_ROOT_KEY",
    "TRUSTED_ROOT_MEDIA_TYPE",
    "CertificateAuthority",
    "Identity",
    "KeylessResult",
    "KeylessSignature",
    "LogKey",
    "RekorBundle",
    "SigstoreError",
    "TrustedRoot",
    "check_identity",
    "oidc_issuer",
    "parse_trusted_root",
    "read_keyless_signature",
    "subject_alternative_names",
    "verify_embedded_sct",
    "verify_keyless",
    "verify_checkpoint",
    "verify_keyless_bundle",
    "verify_leaf",
    "verify_rekor_bundle",
    "verify_set",
]

TRUSTED_ROOT_KEY = "trusted_root.json"
TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
RFC3161_ANNOTATION = "dev.sigstore.cosign/rfc3161timestamp"
OIDC_ISSUER_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")

#: Largest trusted_root.json read (the public Sigstore one is about 7 KiB; a Secret may
#: hold up to 1 MiB, so this bound is below what the API server lets through).
MAX_TRUSTED_ROOT_SIZE = 256 << 10
#: Entries of each list of the trusted root, certificates of one authority's chain.
MAX_ENTRIES = 32
MAX_CHAIN = 8
#: Largest annotation value read from a signature layer (certificate, chain, bundle).
MAX_ANNOTATION_SIZE = 64 << 10
#: Largest Rekor entry body in a bundle.
MAX_BODY_SIZE = 64 << 10

#: The key types a log of the trusted root may have (`publicKey.keyDetails`).
_KEY_TYPES: dict[str, type] = {
    "PKIX_ECDSA_P256_SHA_256": ec.EllipticCurvePublicKey,
    "PKIX_ECDSA_P384_SHA_384": ec.EllipticCurvePublicKey,
    "PKIX_ECDSA_P521_SHA_512": ec.EllipticCurvePublicKey,
    "PKIX_RSA_PKCS1V15_2048_SHA256": rsa.RSAPublicKey,
    "PKIX_RSA_PKCS1V15_3072_SHA256": rsa.RSAPublicKey,
    "PKIX_RSA_PKCS1V15_4096_SHA256": rsa.RSAPublicKey,
    "PKIX_ED25519": ed25519.Ed25519PublicKey,
}


class SigstoreError(Exception):
    """A trusted root, signature or certificate that does not verify; the message says
    what, without any certificate or key contents."""


@dataclass(frozen=True)
class Validity:
    """A `validFor` period; an open end is None."""

    start: datetime | None = None
    end: datetime | None = None

    def covers(self, when: datetime) -> bool:
        return (self.start is None or when >= self.start) and \
            (self.end is None or when <= self.end)


@dataclass(frozen=True)
class LogKey:
    """A Rekor or CT log of the trusted root: its key, keyed by the hex `logId.keyId`."""

    key_id: str
    base_url: str
    key: Any
    validity: Validity


@dataclass(frozen=True)
class CertificateAuthority:
    """A Fulcio certificate authority: the last certificate of its chain is the root."""

    uri: str
    root: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]
    validity: Validity


@dataclass(frozen=True)
class TrustedRoot:
    authorities: tuple[CertificateAuthority, ...]
    tlogs: Mapping[str, LogKey]
    ctlogs: Mapping[str, LogKey]

    def rekor_url(self) -> str:
        """The base URL of the first Rekor log that has one (Flux requires one)."""
        if not self.tlogs:
            raise SigstoreError("no transparency log entries found in the trusted root "
                                "(tlogs): keyless verification needs a Rekor log")
        for log in self.tlogs.values():
            if log.base_url:
                return log.base_url
        raise SigstoreError("no transparency log entry with a baseUrl found in the "
                            "trusted root (tlogs[].baseUrl)")


@dataclass(frozen=True)
class Identity:
    """One `matchOIDCIdentity` entry: Go regular expressions, matched unanchored."""

    issuer: str
    subject: str


@dataclass(frozen=True)
class RekorBundle:
    """A signature layer's `dev.sigstore.cosign/bundle`: a Rekor v1 entry and its SET."""

    body: str
    integrated_time: int
    log_index: int
    log_id: str
    signed_entry_timestamp: bytes


@dataclass(frozen=True)
class KeylessSignature:
    """What a cosign v2 signature layer carries for keyless verification."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    bundle: RekorBundle | None
    has_timestamp: bool


@dataclass(frozen=True)
class KeylessResult:
    """A signature that verified: who signed it, and when Rekor logged it."""

    issuer: str
    subjects: tuple[str, ...]
    integrated_time: datetime

    def describe(self) -> str:
        return f"keyless identity '{', '.join(self.subjects)}' issued by '{self.issuer}'"


# --- the trusted root ------------------------------------------------------------------


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise SigstoreError(f"{what} is missing")
    try:  # protojson accepts both alphabets, with or without padding
        text = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SigstoreError(f"{what} is not base64") from None


def _time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SigstoreError(f"{what} is not an RFC 3339 time")
    try:
        # protojson writes 0, 3, 6 or 9 fractional digits; Python reads up to 6
        text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise SigstoreError(f"{what} is not an RFC 3339 time: {value[:40]!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _validity(value: Any, what: str) -> Validity:
    if value is None:
        return Validity()
    if not isinstance(value, Mapping):
        raise SigstoreError(f"{what} is not an object")
    return Validity(_time(value.get("start"), f"{what}.start"),
                    _time(value.get("end"), f"{what}.end"))


def _list(doc: Mapping[str, Any], name: str) -> list[Any]:
    value = doc.get(name) or []
    if not isinstance(value, list):
        raise SigstoreError(f"'{name}' is not a list")
    if len(value) > MAX_ENTRIES:
        raise SigstoreError(f"'{name}' has {len(value)} entries (at most {MAX_ENTRIES})")
    return value


def _logs(doc: Mapping[str, Any], name: str) -> dict[str, LogKey]:
    logs: dict[str, LogKey] = {}
    for number, entry in enumerate(_list(doc, name)):
        where = f"{name}[{number}]"
        if not isinstance(entry, Mapping):
            raise SigstoreError(f"{where} is not an object")
        if entry.get("hashAlgorithm") != "SHA2_256":
            raise SigstoreError(f"{where}.hashAlgorithm: unsupported "
                                f"{str(entry.get('hashAlgorithm'))[:40]!r} (SHA2_256)")
        log_id = entry.get("logId")
        key_id = _b64(log_id.get("keyId") if isinstance(log_id, Mapping) else None,
                      f"{where}.logId.keyId")
        public = entry.get("publicKey")
        if not isinstance(public, Mapping):
            raise SigstoreError(f"{where}.publicKey is missing")
        details = public.get("keyDetails")
        if details not in _KEY_TYPES:
            raise SigstoreError(f"{where}.publicKey.keyDetails: unsupported key type "
                                f"{str(details)[:40]!r}")
        raw = _b64(public.get("rawBytes"), f"{where}.publicKey.rawBytes")
        try:
            key = serialization.load_der_public_key(raw)
        except (ValueError, UnsupportedAlgorithm):
            raise SigstoreError(f"{where}.publicKey.rawBytes is not a DER public key"
                                ) from None
        if not isinstance(key, _KEY_TYPES[details]):
            raise SigstoreError(f"{where}.publicKey is not a {details} key")
        if public.get("validFor") is None:
            raise SigstoreError(f"{where}.publicKey.validFor is missing")
        validity = _validity(public.get("validFor"), f"{where}.publicKey.validFor")
        if validity.start is None:
            raise SigstoreError(f"{where}.publicKey.validFor.start is missing")
        base_url = entry.get("baseUrl") or ""
        logs[key_id.hex()] = LogKey(key_id.hex(), str(base_url), key, validity)
    return logs


def _authorities(doc: Mapping[str, Any]) -> tuple[CertificateAuthority, ...]:
    found = []
    for number, entry in enumerate(_list(doc, "certificateAuthorities")):
        where = f"certificateAuthorities[{number}]"
        chain = entry.get("certChain") if isinstance(entry, Mapping) else None
        certs = chain.get("certificates") if isinstance(chain, Mapping) else None
        if not isinstance(certs, list) or not certs:
            raise SigstoreError(f"{where}.certChain.certificates is missing or empty")
        if len(certs) > MAX_CHAIN:
            raise SigstoreError(f"{where}.certChain has {len(certs)} certificates (at most "
                                f"{MAX_CHAIN})")
        parsed = []
        for index, cert in enumerate(certs):
            what = f"{where}.certChain.certificates[{index}].rawBytes"
            raw = _b64(cert.get("rawBytes") if isinstance(cert, Mapping) else None, what)
            try:
                parsed.append(x509.load_der_x509_certificate(raw))
            except ValueError:
                raise SigstoreError(f"{what} is not a DER certificate") from None
        found.append(CertificateAuthority(str(entry.get("uri") or ""), parsed[-1],
                                          tuple(parsed[:-1]),
                                          _validity(entry.get("validFor"),
                                                    f"{where}.validFor")))
    return tuple(found)


def parse_trusted_root(raw: bytes) -> TrustedRoot:
    """The trusted root of a `trusted_root.json`; SigstoreError names what is wrong."""
    if len(raw) > MAX_TRUSTED_ROOT_SIZE:
        raise SigstoreError(f"{TRUSTED_ROOT_KEY} is larger than {MAX_TRUSTED_ROOT_SIZE} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise SigstoreError(f"{TRUSTED_ROOT_KEY} is not JSON") from None
    if not isinstance(doc, Mapping):
        raise SigstoreError(f"{TRUSTED_ROOT_KEY} is not a JSON object")
    media_type = doc.get("mediaType")
    if media_type != TRUSTED_ROOT_MEDIA_TYPE:
        raise SigstoreError(f"unsupported trusted root media type {str(media_type)[:80]!r} "
                            f"(mediaType must be {TRUSTED_ROOT_MEDIA_TYPE!r})")
    return TrustedRoot(_authorities(doc), _logs(doc, "tlogs"), _logs(doc, "ctlogs"))


# --- the signature layer ---------------------------------------------------------------


def _annotation(annotations: Mapping[str, Any], name: str) -> str | None:
    value = annotations.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_ANNOTATION_SIZE:
        raise SigstoreError(f"the annotation {name} is not a string of at most "
                            f"{MAX_ANNOTATION_SIZE} bytes")
    return value


def _pem_certificates(text: str, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise SigstoreError(f"{what} is not PEM certificates") from None
    if len(certs) > MAX_CHAIN:
        raise SigstoreError(f"{what} has more than {MAX_CHAIN} certificates")
    return certs


def _bundle(text: str) -> RekorBundle:
    try:
        doc = json.loads(text)
    except ValueError:
        raise SigstoreError(f"the annotation {BUNDLE_ANNOTATION} is not JSON") from None
    payload = doc.get("Payload") if isinstance(doc, Mapping) else None
    if not isinstance(payload, Mapping):
        raise SigstoreError(f"the annotation {BUNDLE_ANNOTATION} has no Payload")
    body, log_id = payload.get("body"), payload.get("logID")
    integrated, index = payload.get("integratedTime"), payload.get("logIndex")
    if not isinstance(body, str) or not isinstance(log_id, str) or \
            type(integrated) is not int or type(index) is not int:
        raise SigstoreError(f"the annotation {BUNDLE_ANNOTATION} lacks Payload.body, "
                            "integratedTime, logIndex or logID")
    return RekorBundle(body, integrated, index, log_id.lower(),
                       _b64(doc.get("SignedEntryTimestamp"),
                            f"{BUNDLE_ANNOTATION} SignedEntryTimestamp"))


def read_keyless_signature(annotations: Mapping[str, Any]) -> KeylessSignature:
    """The certificate, chain, Rekor bundle and timestamp presence of a cosign v2
    signature layer's annotations; SigstoreError when there is no certificate."""
    cert_text = _annotation(annotations, CERTIFICATE_ANNOTATION)
    if cert_text is None:
        raise SigstoreError(f"no certificate found on the signature ({CERTIFICATE_ANNOTATION})")
    certs = _pem_certificates(cert_text, f"the annotation {CERTIFICATE_ANNOTATION}")
    if len(certs) != 1:
        raise SigstoreError(f"the annotation {CERTIFICATE_ANNOTATION} must hold one "
                            "certificate")
    chain_text = _annotation(annotations, CHAIN_ANNOTATION)
    chain = _pem_certificates(chain_text, f"the annotation {CHAIN_ANNOTATION}") \
        if chain_text else []
    bundle_text = _annotation(annotations, BUNDLE_ANNOTATION)
    return KeylessSignature(certs[0], tuple(chain),
                            _bundle(bundle_text) if bundle_text else None,
                            _annotation(annotations, RFC3161_ANNOTATION) is not None)


# --- checks -------------------------------------------------------------------------------


def _verify_signature(key: Any, signature: bytes, data: bytes,
                      algorithm: hashes.HashAlgorithm) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _allows_code_signing(cert: x509.Certificate) -> bool:
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return True  # no restriction
    return ExtendedKeyUsageOID.CODE_SIGNING in usages or \
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages


def _valid_at(cert: x509.Certificate, when: datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def _chain_to(leaf: x509.Certificate, authority: CertificateAuthority, when: datetime
              ) -> list[x509.Certificate] | None:
    """The chain leaf → ... → the authority's root, every certificate valid at `when`,
    issuers marked as CAs, and code signing allowed all the way; None if there is none."""
    chain = [leaf]
    current = leaf
    for _ in range(len(authority.intermediates) + 1):
        for issuer in (*authority.intermediates, authority.root):
            if issuer in chain or not issued_by(current, issuer):
                continue
            if not (is_ca(issuer) and _valid_at(issuer, when) and
                    _allows_code_signing(issuer)):
                continue
            chain.append(issuer)
            if issuer == authority.root:
                return chain
            current = issuer
            break
        else:
            return None
    return None


def verify_leaf(cert: x509.Certificate, root: TrustedRoot, when: datetime | None = None
                ) -> list[x509.Certificate]:
    """The chain of the signing certificate to a certificate authority of the trusted
    root, checked at `when`: the certificate's notBefore (cosign's v2 signatures), or the
    integrated time of its Rekor entry (sigstore-go, for bundles)."""
    when = cert.not_valid_before_utc if when is None else when
    if not _allows_code_signing(cert):
        raise SigstoreError("the signing certificate does not allow code signing "
                            "(extended key usage)")
    if not _valid_at(cert, when):
        raise SigstoreError("the signing certificate is not valid")
    unknown = [ext.oid.dotted_string for ext in cert.extensions
               if ext.critical and isinstance(ext.value, x509.UnrecognizedExtension)]
    if unknown:  # Go's verifier refuses them too
        raise SigstoreError("the signing certificate has unhandled critical extensions "
                            f"({', '.join(unknown[:4])})")
    for authority in root.authorities:
        if not authority.validity.covers(when):
            continue
        chain = _chain_to(cert, authority, when)
        if chain is not None:
            return chain
    raise SigstoreError("the signing certificate does not chain to a certificate authority "
                        "of the trusted root (certificateAuthorities) valid when it was "
                        "issued")


def oidc_issuer(cert: x509.Certificate) -> str:
    """The OIDC issuer extension (1.3.6.1.4.1.57264.1.1, its raw value, as cosign reads
    it); empty when absent."""
    try:
        ext = cert.extensions.get_extension_for_oid(OIDC_ISSUER_OID).value
    except x509.ExtensionNotFound:
        return ""
    raw = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
    return raw.decode("utf-8", "replace")


def _der_utf8(raw: bytes) -> str | None:
    """The string of a DER UTF8String (tag 12), as Fulcio writes otherName SANs."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    length, offset = raw[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, offset = int.from_bytes(raw[2:2 + count], "big"), 2 + count
    return raw[offset:offset + length].decode("utf-8", "replace")


def subject_alternative_names(cert: x509.Certificate) -> list[str]:
    """The certificate's SANs in cosign's order: DNS names, emails, IPs, URIs, then
    otherName UTF8 strings (Fulcio's usernames)."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    names += sans.get_values_for_type(x509.DNSName)
    names += sans.get_values_for_type(x509.RFC822Name)
    names += [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    names += sans.get_values_for_type(x509.UniformResourceIdentifier)
    for other in sans.get_values_for_type(x509.OtherName):
        text = _der_utf8(other.value)
        if text is not None:
            names.append(text)
    return names


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as err:
        raise SigstoreError(f"malformed {what} in matchOIDCIdentity: {pattern[:200]!r}: "
                            f"{err}") from None


def check_identity(cert: x509.Certificate, identities: Sequence[Identity]) -> None:
    """SigstoreError unless one identity matches (issuer regex on the OIDC issuer,
    subject regex on any SAN); no identities accept any."""
    if not identities:
        return
    issuer = oidc_issuer(cert)
    sans = subject_alternative_names(cert)
    for identity in identities:
        issuer_ok = not identity.issuer or \
            _compile(identity.issuer, "issuer").search(issuer) is not None
        subject = _compile(identity.subject, "subject") if identity.subject else None
        subject_ok = subject is None or any(subject.search(san) for san in sans)
        if issuer_ok and subject_ok:
            return
    raise SigstoreError("none of the expected identities matched what was in the "
                        f"certificate, got subjects [{', '.join(sans)}] with issuer "
                        f"{issuer}: correct spec.verify.matchOIDCIdentity (issuer and "
                        "subject regular expressions) or sign with an expected identity")


_SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _sct_signed_data(sct: Any, leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """RFC 6962 §3.2: what a CT log signs for a precertificate entry."""
    issuer_key = issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    tbs = leaf.tbs_precertificate_bytes
    stamp = sct.timestamp.replace(tzinfo=UTC) if sct.timestamp.tzinfo is None else sct.timestamp
    millis = (stamp - _EPOCH) // timedelta(milliseconds=1)
    extensions = sct.extension_bytes
    return (struct.pack(">BBQH", 0, 0, millis, 1) + hashlib.sha256(issuer_key).digest() +
            len(tbs).to_bytes(3, "big") + tbs + len(extensions).to_bytes(2, "big") +
            extensions)


def verify_embedded_sct(chain: Sequence[x509.Certificate], root: TrustedRoot) -> None:
    """SigstoreError unless the leaf `chain[0]` embeds an SCT that a CT log of the
    trusted root, valid at the SCT's time, signed for it (issuer `chain[1]`)."""
    leaf = chain[0]
    try:
        scts = leaf.extensions.get_extension_for_oid(_SCT_OID).value
    except x509.ExtensionNotFound:
        raise SigstoreError("the certificate does not include the required embedded SCT "
                            "(certificate transparency)") from None
    if len(chain) < 2 or not isinstance(scts, x509.PrecertificateSignedCertificateTimestamps):
        raise SigstoreError("the certificate's embedded SCT cannot be checked")
    for sct in list(scts)[:MAX_ENTRIES]:
        log = root.ctlogs.get(sct.log_id.hex())
        if log is None:
            continue
        stamp = sct.timestamp.replace(tzinfo=UTC) if sct.timestamp.tzinfo is None \
            else sct.timestamp
        if not log.validity.covers(stamp):
            continue
        algorithm = sct.signature_hash_algorithm
        if _verify_signature(log.key, sct.signature, _sct_signed_data(sct, leaf, chain[1]),
                             algorithm if algorithm is not None else hashes.SHA256()):
            return
    raise SigstoreError("only able to verify 0 SCT entries; unable to meet threshold of 1 "
                        "(no embedded SCT is signed by a CT log of the trusted root, "
                        "ctlogs)")


def _hashedrekord(body: str) -> Mapping[str, Any]:
    if len(body) > MAX_BODY_SIZE:
        raise SigstoreError("the Rekor entry in the bundle is too large")
    try:
        doc = json.loads(base64.b64decode(body, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise SigstoreError("the Rekor entry in the bundle is not base64 JSON") from None
    spec = doc.get("spec") if isinstance(doc, Mapping) else None
    if not isinstance(spec, Mapping) or doc.get("kind") != "hashedrekord":
        raise SigstoreError("the Rekor entry in the bundle is not a hashedrekord")
    return spec


def _get(doc: Any, *path: str) -> Any:
    for name in path:
        doc = doc.get(name) if isinstance(doc, Mapping) else None
    return doc


def verify_rekor_bundle(bundle: RekorBundle, root: TrustedRoot, certificate: x509.Certificate,
                        signature_b64: str, payload: bytes) -> datetime:
    """The integrated time of a Rekor bundle whose entry is this signature (same
    signature, certificate and payload hash) and whose SET a Rekor log of the trusted
    root, valid at that time, signed; SigstoreError otherwise."""
    spec = _hashedrekord(bundle.body)
    try:
        signed = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SigstoreError("the signature annotation is not base64") from None
    if _b64(_get(spec, "signature", "content"), "the bundle's signature") != signed:
        raise SigstoreError("the signature in the Rekor bundle is not this signature")
    logged_key = _b64(_get(spec, "signature", "publicKey", "content"),
                      "the bundle's public key")
    try:
        logged = x509.load_pem_x509_certificate(logged_key)
    except ValueError:
        raise SigstoreError("the Rekor bundle does not hold a certificate") from None
    if logged != certificate:
        raise SigstoreError("the certificate in the Rekor bundle is not the signature's")
    if _get(spec, "data", "hash", "algorithm") != "sha256":
        raise SigstoreError("the Rekor bundle's hash algorithm is not sha256")
    if _get(spec, "data", "hash", "value") != hashlib.sha256(payload).hexdigest():
        raise SigstoreError("the Rekor bundle's hash is not the payload's")
    return verify_set(bundle, root)


def verify_set(bundle: RekorBundle, root: TrustedRoot) -> datetime:
    """The integrated time of `bundle` once its signed entry timestamp verifies with the
    Rekor log of the trusted root it names, valid at that time (SigstoreError if not)."""
    log = root.tlogs.get(bundle.log_id)
    if log is None:
        raise SigstoreError("rekor log public key not found for the bundle (its logID is "
                            "not among the trusted root's tlogs)")
    when = datetime.fromtimestamp(bundle.integrated_time, UTC)
    if not log.validity.covers(when):
        raise SigstoreError("the rekor log public key is not valid at the bundle's "
                            "integrated time")
    canonical = json.dumps({"body": bundle.body, "integratedTime": bundle.integrated_time,
                            "logID": bundle.log_id, "logIndex": bundle.log_index},
                           sort_keys=True, separators=(",", ":")).encode()
    if not isinstance(log.key, ec.EllipticCurvePublicKey) or not _verify_signature(
            log.key, bundle.signed_entry_timestamp, canonical, hashes.SHA256()):
        raise SigstoreError("unable to verify the bundle's signed entry timestamp (SET) "
                            "with the Rekor key of the trusted root")
    return when


def _check_expiry(chain: Sequence[x509.Certificate], when: datetime) -> None:
    for number, cert in enumerate(chain):
        what = "certificate" if number == 0 else "issuing CA certificate"
        if cert.not_valid_after_utc < when:
            raise SigstoreError(f"{what} expired before the time Rekor logged the signature "
                                f"({cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ} is before "
                                f"{when:%Y-%m-%dT%H:%M:%SZ})")
        if cert.not_valid_before_utc > when:
            raise SigstoreError(f"{what} was issued after the time Rekor logged the "
                                "signature")


def verify_keyless(root: TrustedRoot, identities: Sequence[Identity],
                   signature: KeylessSignature, signature_b64: str, payload: bytes
                   ) -> KeylessResult:
    """Verify one keyless signature layer against the trusted root, in cosign's order
    (see the module docstring); SigstoreError says which check failed. The caller checks
    that the payload names the artifact's digest."""
    root.rekor_url()
    if signature.bundle is None:
        raise SigstoreError(f"the signature has no Rekor bundle ({BUNDLE_ANNOTATION}) and "
                            "the online Rekor look-up is not supported by afflux: sign "
                            "with the transparency log upload on (cosign's default), so "
                            "that the bundle is attached")
    logged_at = verify_rekor_bundle(signature.bundle, root, signature.certificate,
                                    signature_b64, payload)
    chain = verify_leaf(signature.certificate, root)
    check_identity(signature.certificate, identities)
    verify_embedded_sct(chain, root)
    try:
        raw = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SigstoreError("the signature annotation is not base64") from None
    if not _verify_signature(signature.certificate.public_key(), raw, payload,
                             hashes.SHA256()):
        raise SigstoreError("the signature does not verify with the certificate's key")
    _check_expiry(chain, logged_at)
    return KeylessResult(oidc_issuer(signature.certificate),
                         tuple(subject_alternative_names(signature.certificate)), logged_at)


def _merkle_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes],
                      root: bytes) -> bool:
    """RFC 9162 2.1.3.2: whether `path` proves the leaf hash `leaf` at `index` of a tree
    of `size` entries whose root is `root`."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_checkpoint(envelope: str, log: LogKey) -> bytes:
    """The root hash of a Rekor v1 checkpoint (a signed note) once every signature line
    names `log`'s key (its 4-byte hint) and verifies over the note; SigstoreError
    otherwise."""
    note, sep, signatures = envelope.partition("\n\n")
    lines = note.split("\n")
    if not sep or len(lines) < 3:
        raise SigstoreError("the inclusion proof's checkpoint is not a signed note")
    try:
        int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error):
        raise SigstoreError("the inclusion proof's checkpoint is not a signed note") from None
    spki = log.key.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.SubjectPublicKeyInfo)
    hint = hashlib.sha256(spki).digest()[:4]
    lines = [line for line in signatures.split("\n") if line]
    if not lines:
        raise SigstoreError("the inclusion proof's checkpoint is not signed")
    for line in lines[:MAX_ENTRIES]:
        try:
            raw = base64.b64decode(line.rsplit(" ", 1)[-1], validate=True)
        except (binascii.Error, ValueError):
            raise SigstoreError("the inclusion proof's checkpoint signature is not base64"
                                ) from None
        if not line.startswith("\u2014 ") or raw[:4] != hint or not _verify_signature(
                log.key, raw[4:], (note + "\n").encode(), hashes.SHA256()):
            raise SigstoreError("signature on checkpoint did not verify (with the Rekor key "
                                "of the trusted root)")
    return root


def _dsse_entry_body(body: bytes) -> Mapping[str, Any]:
    if len(body) > MAX_BODY_SIZE:
        raise SigstoreError("the tlog entry's body is too large")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SigstoreError("the tlog entry's canonicalizedBody is not JSON") from None
    spec = doc.get("spec") if isinstance(doc, Mapping) else None
    if not isinstance(spec, Mapping):
        raise SigstoreError("the tlog entry's canonicalizedBody has no spec")
    return doc


def _check_tlog_entry(entry: TlogEntry, log: LogKey, root: TrustedRoot, dsse: Dsse,
                      certificate: x509.Certificate) -> bool | None:
    """None when the entry's inclusion promise (SET) does not verify (sigstore-go then
    skips the entry); else whether it has one (its integrated time is then trusted).
    SigstoreError when its inclusion proof or its body is wrong."""
    doc = _dsse_entry_body(entry.body)
    if doc.get("kind") != entry.kind or doc.get("apiVersion") != entry.version:
        raise SigstoreError("the tlog entry's kindVersion is not its body's")
    if (entry.kind, entry.version) != ("dsse", "0.0.1"):
        raise SigstoreError(f"unsupported tlog entry {entry.kind[:20]} {entry.version[:20]} "
                            "(cosign v3 logs a dsse 0.0.1 entry)")
    if entry.signed_entry_timestamp is None and entry.integrated_time == 0:
        raise SigstoreError("a Rekor v2 entry needs a signed timestamp (RFC 3161), which "
                            "afflux does not verify")
    if entry.signed_entry_timestamp is not None:
        try:
            verify_set(RekorBundle(base64.b64encode(entry.body).decode(),
                                   entry.integrated_time, entry.log_index, entry.log_id,
                                   entry.signed_entry_timestamp), root)
        except SigstoreError:
            return None
    if entry.inclusion_proof is not None:
        proof = entry.inclusion_proof
        if verify_checkpoint(proof.checkpoint, log) != proof.root_hash:
            raise SigstoreError("proof root hash does not match signed tree head")
        leaf = hashlib.sha256(b"\x00" + entry.body).digest()
        if not _merkle_inclusion(proof.log_index, proof.tree_size, leaf, proof.hashes,
                                 proof.root_hash):
            raise SigstoreError("the tlog entry's inclusion proof does not verify")
    spec = doc["spec"]
    signatures = spec.get("signatures")
    first = signatures[0] if isinstance(signatures, list) and signatures else None
    signed = _b64(first.get("signature") if isinstance(first, Mapping) else None,
                  "the tlog entry's signature")
    if signed != dsse.signatures[0]:
        raise SigstoreError("transparency log signature does not match")
    verifier = _b64(first.get("verifier"), "the tlog entry's verifier")
    try:
        logged = x509.load_pem_x509_certificate(verifier)
    except ValueError:
        raise SigstoreError("transparency log certificate does not match") from None
    if logged != certificate:
        raise SigstoreError("transparency log certificate does not match")
    if _get(spec, "payloadHash", "algorithm") != "sha256" or \
            _get(spec, "payloadHash", "value") != hashlib.sha256(dsse.payload).hexdigest():
        raise SigstoreError("transparency log dsse entry payload hash does not match the "
                            "envelope's payload")
    if entry.integrated_time and not _valid_at(
            certificate, datetime.fromtimestamp(entry.integrated_time, UTC)):
        raise SigstoreError("integrated time outside certificate validity")
    return entry.signed_entry_timestamp is not None


def verify_keyless_bundle(root: TrustedRoot, identities: Sequence[Identity],
                          bundle: SigstoreBundle, digest: str) -> KeylessResult:
    """Verify a keyless Sigstore bundle (cosign v3) of the artifact `digest` against the
    trusted root as Flux does (sigstore-go with the root as its only trusted material, one
    identity, an SCT, a transparency log entry and its integrated time); SigstoreError or
    BundleError says which check failed. See the module docstring."""
    root.rekor_url()
    if len(identities) != 1:
        raise SigstoreError(("can't verify identities without providing at least one "
                             "identity" if not identities else
                             "unsupported: multiple identities are not supported at this "
                             "time") + " (a Sigstore bundle is verified against exactly one "
                            "spec.verify.matchOIDCIdentity entry, as in Flux)")
    certificate = bundle.certificate
    if certificate is None:
        raise SigstoreError("the bundle is signed with a key, not a certificate: verify it "
                            "with spec.verify.secretRef holding the public key")
    dsse = single_signature(bundle)
    entries = bundle.tlog_entries
    if len({(e.log_id, e.log_index) for e in entries}) < len(entries):
        raise SigstoreError("duplicate tlog entries found")
    verified: set[str] = set()
    times: list[datetime] = []
    skipped = 0
    for entry in entries:
        log = root.tlogs.get(entry.log_id)
        if log is None:
            continue
        promised = _check_tlog_entry(entry, log, root, dsse, certificate)
        if promised is None:
            skipped += 1
            continue
        if promised:
            times.append(datetime.fromtimestamp(entry.integrated_time, UTC))
        verified.add(entry.log_id)
    if not verified:
        why = (f"{skipped} entry's inclusion promise (SET) does not verify with the Rekor "
               "key of the trusted root" if skipped else
               "no tlog entry of the bundle is from a Rekor log of the trusted root, tlogs")
        raise SigstoreError(f"not enough verified log entries from transparency log: 0 < 1 "
                            f"({why})")
    if not times:
        raise SigstoreError("threshold not met for verified log entry integrated timestamps: "
                            "0 < 1 (no inclusion promise by a Rekor key of the trusted root)")
    chain: list[x509.Certificate] = []
    for when in times[:1]:
        chain = verify_leaf(certificate, root, when)
    verify_embedded_sct(chain, root)
    check_identity(certificate, identities)
    if not _verify_signature(certificate.public_key(), dsse.signatures[0],
                             dsse_pae(dsse.payload_type, dsse.payload), hashes.SHA256()):
        raise SigstoreError("failed to verify signature: the DSSE envelope does not verify "
                            "with the certificate's key")
    check_subject(dsse, digest)
    return KeylessResult(oidc_issuer(certificate),
                         tuple(subject_alternative_names(certificate)), times[0])
