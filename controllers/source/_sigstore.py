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

Proven against the real cosign (tests/integration/source/test_oci_verify.py): the test
harness's private Sigstore (tests/harness/sigstore.py: CA, CT log and Rekor keys) signs,
the real `cosign attach signature --rekor-response` attaches the bundle, the real `cosign
verify --trusted-root` accepts it offline and refuses it with another root, CA or
identity, and the operator agrees with it on each of those.
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

from ._bundle import SigstoreBundle
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


def verify_leaf(cert: x509.Certificate, root: TrustedRoot) -> list[x509.Certificate]:
    """The chain of the signing certificate to a certificate authority of the trusted
    root, checked at the certificate's notBefore (as sigstore-go does)."""
    when = cert.not_valid_before_utc
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


def verify_keyless_bundle(root: TrustedRoot, identities: Sequence[Identity],
                          bundle: SigstoreBundle, digest: str) -> KeylessResult:
    """Keyless Sigstore bundles (cosign v3) are not verified yet: refused."""
    raise SigstoreError("keyless verification of Sigstore bundles is not supported yet")
