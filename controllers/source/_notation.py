"""Notary Project (notation) signatures of OCI artifacts: the pure half (no I/O).

Read from the Notary Project specifications v1.0 (signature envelopes, trust store and
trust policy) and from what `notation sign` (v1.x) writes:

- a signature is a manifest of artifactType `application/vnd.cncf.notary.signature`
  whose `subject` is the artifact, found through the referrers API (or the referrers tag
  `sha256-<hex>`), with one layer: the envelope, JWS (`application/jose+json`, notation's
  default) or COSE (`application/cose`);
- the envelope signs the payload `{"targetArtifact": {"mediaType", "digest", "size"}}`
  with the private key of the first certificate of the chain it carries (`x5c` in the
  JWS header, label 33 in COSE's unprotected header); the protected header names the
  algorithm (PS256/384/512 for RSA-PSS, ES256/384/512 for ECDSA), the content type
  `application/vnd.cncf.notary.payload.v1+json`, the signing scheme (`notary.x509` or
  `notary.x509.signingAuthority`), the signing time and an optional expiry;
- a trust policy (`trustpolicy.json`, version 1.0) says, per registry scope, how strict
  to be (`signatureVerification.level` strict | permissive | audit | skip, each check
  overridable with `override`), which trust stores hold the roots (`ca:<name>`,
  `signingAuthority:<name>`) and whose signatures count (`trustedIdentities`: `*` or
  `x509.subject: <DN>`, matched as a subset of the signing certificate's subject).

The checks and what each level does with a failure (enforce: the signature is refused;
log: a warning; skip: not done):

| check | strict | permissive | audit |
| --- | --- | --- | --- |
| integrity: the envelope's signature, its headers, the certificate chain | enforce | enforce | enforce |
| authenticity: the chain ends in a trusted certificate; the identity is trusted | enforce | enforce | log |
| authenticTimestamp: the chain is valid now (no timestamp countersignature read) | enforce | log | log |
| expiry: the signature's expiry is not past | enforce | log | log |
| revocation: not done (OCSP/CRL need the network) | - | - | - |

As in Flux, every certificate of the Secret is in every trust store the policy names
(the store names select nothing). Timestamp countersignatures (RFC 3161) are not read,
so a signature made with an expired certificate fails authenticTimestamp where it is
enforced even if a TSA countersigned it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID

from ._x509util import is_ca, issued_by

__all__ = [
    "ARTIFACT_TYPE",
    "COSE_MEDIA_TYPE",
    "JWS_MEDIA_TYPE",
    "Envelope",
    "NotationError",
    "Outcome",
    "TrustPolicy",
    "check_signature",
    "load_certificates",
    "match_identity",
    "parse_dn",
    "parse_envelope",
    "parse_trust_policy",
    "select_policy",
]

ARTIFACT_TYPE = "application/vnd.cncf.notary.signature"
JWS_MEDIA_TYPE = "application/jose+json"
COSE_MEDIA_TYPE = "application/cose"
PAYLOAD_CONTENT_TYPE = "application/vnd.cncf.notary.payload.v1+json"
SCHEME_X509 = "notary.x509"
SCHEME_SIGNING_AUTHORITY = "notary.x509.signingAuthority"
TRUST_POLICY_KEY = "trustpolicy.json"
MAX_ENVELOPE_SIZE = 1 << 20

_H_SCHEME = "io.cncf.notary.signingScheme"
_H_TIME = "io.cncf.notary.signingTime"
_H_EXPIRY = "io.cncf.notary.expiry"
_H_AUTH_TIME = "io.cncf.notary.authenticSigningTime"
_H_PLUGIN = "io.cncf.notary.verificationPlugin"
_H_PLUGIN_VERSION = "io.cncf.notary.verificationPluginMinVersion"
_KNOWN_CRITICAL = {_H_SCHEME, _H_TIME, _H_EXPIRY, _H_AUTH_TIME, _H_PLUGIN, _H_PLUGIN_VERSION}

LEVELS = ("strict", "permissive", "audit", "skip")
CHECKS = ("integrity", "authenticity", "authenticTimestamp", "expiry", "revocation")
ACTIONS = ("enforce", "log", "skip")
_LEVEL_ACTIONS: dict[str, dict[str, str]] = {
    "strict": dict.fromkeys(CHECKS, "enforce"),
    "permissive": {"integrity": "enforce", "authenticity": "enforce",
                   "authenticTimestamp": "log", "expiry": "log", "revocation": "log"},
    "audit": {"integrity": "enforce", "authenticity": "log", "authenticTimestamp": "log",
              "expiry": "log", "revocation": "log"},
    "skip": dict.fromkeys(CHECKS, "skip"),
}
_STORE_TYPES = ("ca", "signingAuthority", "tsa")
_MANDATORY_DN = ("C", "ST", "O")

# JWS alg / COSE alg -> (key kind, hash, curve or minimum RSA size)
_JWS_ALGS: dict[str, tuple[str, type[hashes.HashAlgorithm]]] = {
    "PS256": ("rsa", hashes.SHA256), "PS384": ("rsa", hashes.SHA384),
    "PS512": ("rsa", hashes.SHA512), "ES256": ("ec", hashes.SHA256),
    "ES384": ("ec", hashes.SHA384), "ES512": ("ec", hashes.SHA512),
}
_COSE_ALGS = {-37: "PS256", -38: "PS384", -39: "PS512", -7: "ES256", -35: "ES384",
              -36: "ES512"}
# what the Notary Project allows: RSA 2048/3072/4096 and P-256/384/521, each with its hash
_RSA_ALG = {2048: "PS256", 3072: "PS384", 4096: "PS512"}
_EC_ALG = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class NotationError(Exception):
    """A trust policy, certificate, envelope or signature that does not hold; the message
    says which and why (never secret content)."""


# --- trust policy -----------------------------------------------------------------------


@dataclass(frozen=True)
class TrustPolicy:
    """One statement of a trust policy document."""

    name: str
    registry_scopes: tuple[str, ...]
    level: str
    actions: Mapping[str, str]
    trust_stores: tuple[str, ...] = ()
    trusted_identities: tuple[str, ...] = ()


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NotationError(f"{what} must be a list of strings")
    return tuple(v.strip() for v in value)


def _wildcard_list(raw: Mapping[str, Any], key: str, where: str, hint: str
                   ) -> tuple[str, ...]:
    """A non-empty list of strings in which `*` can only stand alone."""
    values = _strings(raw.get(key), f"{where}: {key}")
    if not values:
        raise NotationError(f"{where}: {key} is empty (use {hint})")
    if "*" in values and len(values) > 1:
        raise NotationError(f"{where}: the wildcard '*' must be alone in {key}")
    return values


def _policy(raw: Any, index: int) -> TrustPolicy:
    if not isinstance(raw, Mapping):
        raise NotationError(f"trustPolicies[{index}] is not an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise NotationError(f"trustPolicies[{index}] has no name")
    where = f"trust policy statement '{name}'"
    scopes = _wildcard_list(raw, "registryScopes", where,
                            "'*' for every repository, or <registry>/<repository>")
    for scope in scopes:
        if scope != "*" and ("/" not in scope or "@" in scope or "*" in scope
                             or ":" in scope.split("/")[-1]):
            raise NotationError(f"{where}: registry scope '{scope}' is not "
                                "<registry>/<repository> (without tag or digest) or '*'")
    verification = raw.get("signatureVerification")
    if not isinstance(verification, Mapping):
        raise NotationError(f"{where}: signatureVerification is missing")
    level = verification.get("level")
    if level not in LEVELS:
        raise NotationError(f"{where}: signatureVerification.level {level!r} is not one of "
                            f"{', '.join(LEVELS)}")
    actions = dict(_LEVEL_ACTIONS[level])
    override = verification.get("override") or {}
    if not isinstance(override, Mapping):
        raise NotationError(f"{where}: signatureVerification.override must be an object")
    if override and level == "skip":
        raise NotationError(f"{where}: level 'skip' cannot have an override")
    for check, action in override.items():
        if check not in CHECKS or check == "integrity":
            raise NotationError(f"{where}: override of {check!r} is not allowed (one of "
                                f"{', '.join(CHECKS[1:])})")
        if action not in ACTIONS:
            raise NotationError(f"{where}: override action {action!r} for {check!r} is not "
                                f"one of {', '.join(ACTIONS)}")
        if check == "authenticity" and action == "skip":
            raise NotationError(f"{where}: authenticity cannot be skipped")
        actions[check] = action
    stores = _strings(raw.get("trustStores"), f"{where}: trustStores")
    if level == "skip":  # Flux ignores them on a skipping statement
        return TrustPolicy(name, scopes, level, actions)
    if not stores:
        raise NotationError(f"{where}: trustStores is empty (e.g. [\"ca:<name>\"])")
    for store in stores:
        kind, sep, store_name = store.partition(":")
        if not sep or kind not in _STORE_TYPES or not store_name:
            raise NotationError(f"{where}: trust store '{store}' is not "
                                "<ca|signingAuthority|tsa>:<name>")
    identities = _wildcard_list(raw, "trustedIdentities", where,
                                "'*' or 'x509.subject: <DN>'")
    for identity in identities:
        if identity != "*":
            _identity_dn(identity, where)
    return TrustPolicy(name, scopes, level, actions, stores, identities)


def parse_trust_policy(raw: bytes) -> list[TrustPolicy]:
    """The statements of a `trustpolicy.json` (version 1.0), checked as notation checks
    them; NotationError says what to fix."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise NotationError(f"{TRUST_POLICY_KEY} is not valid JSON: {err}") from None
    if not isinstance(doc, Mapping):
        raise NotationError(f"{TRUST_POLICY_KEY} is not a JSON object")
    if doc.get("version") != "1.0":
        raise NotationError(f"{TRUST_POLICY_KEY}: version {doc.get('version')!r} is not "
                            "supported (use \"1.0\")")
    statements = doc.get("trustPolicies")
    if not isinstance(statements, list) or not statements:
        raise NotationError(f"{TRUST_POLICY_KEY} has no trustPolicies")
    policies = [_policy(s, i) for i, s in enumerate(statements)]
    names: set[str] = set()
    scopes: dict[str, str] = {}
    for policy in policies:
        if policy.name in names:
            raise NotationError(f"{TRUST_POLICY_KEY}: statement name '{policy.name}' is "
                                "used twice")
        names.add(policy.name)
        for scope in policy.registry_scopes:
            if scope in scopes:
                raise NotationError(f"{TRUST_POLICY_KEY}: registry scope '{scope}' is in "
                                    f"both '{scopes[scope]}' and '{policy.name}'")
            scopes[scope] = policy.name
    return policies


def select_policy(policies: Sequence[TrustPolicy], repository: str) -> TrustPolicy:
    """The statement for `<registry>/<repository>`: the one naming it, else the wildcard."""
    wildcard = None
    for policy in policies:
        if repository in policy.registry_scopes:
            return policy
        if "*" in policy.registry_scopes:
            wildcard = policy
    if wildcard is None:
        raise NotationError(f"no trust policy statement applies to '{repository}': add it to "
                            "the registryScopes of a statement, or use '*'")
    return wildcard


# --- distinguished names -----------------------------------------------------------------


def parse_dn(text: str) -> list[tuple[str, str]]:
    """`C=US, ST=WA, O=Acme\\, Inc.` -> [("C", "US"), ("ST", "WA"), ("O", "Acme, Inc.")]:
    attributes separated by unescaped `,` or `+`, with `\\` escapes; NotationError when
    an attribute has no `=`."""
    pairs: list[tuple[str, str]] = []
    current: list[str] = []
    escaped = False
    parts: list[str] = []
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",+":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise NotationError(f"distinguished name {text!r} ends with a lone backslash")
    parts.append("".join(current))
    for part in parts:
        attr, sep, value = part.partition("=")
        attr = attr.strip()
        if not sep or not attr:
            raise NotationError(f"distinguished name {text!r}: {part.strip()!r} is not "
                                "<attribute>=<value>")
        value = value.strip()
        unescaped, i = [], 0
        while i < len(value):
            if value[i] == "\\" and i + 1 < len(value):
                unescaped.append(value[i + 1])
                i += 2
            else:
                unescaped.append(value[i])
                i += 1
        pairs.append((attr.upper(), "".join(unescaped)))
    return pairs


def _identity_dn(identity: str, where: str) -> list[tuple[str, str]]:
    prefix, sep, dn = identity.partition(":")
    if not sep or prefix.strip() != "x509.subject":
        raise NotationError(f"{where}: trusted identity {identity!r} is not '*' or "
                            "'x509.subject: <DN>'")
    pairs = parse_dn(dn.strip())
    present = {attr for attr, _ in pairs}
    missing = [a for a in _MANDATORY_DN if a not in present]
    if missing:
        raise NotationError(f"{where}: trusted identity {identity!r} must name at least "
                            f"C, ST and O (missing {', '.join(missing)})")
    return pairs


def _subject_pairs(name: x509.Name) -> list[tuple[str, str]]:
    pairs = []
    for attribute in name:
        label = attribute.rfc4514_attribute_name
        value = attribute.value
        pairs.append((label.upper(), value if isinstance(value, str) else value.hex()))
    return pairs


def match_identity(trusted: Sequence[str], subject: Sequence[tuple[str, str]]) -> str | None:
    """The trusted identity (`*` or `x509.subject: ...`) the subject's attributes satisfy:
    every attribute of the identity's DN is among them (a subset, as notation matches)."""
    have = {(attr.upper(), value) for attr, value in subject}
    for identity in trusted:
        if identity == "*":
            return identity
        wanted = _identity_dn(identity, "trusted identity")
        if all((attr, value) in have for attr, value in wanted):
            return identity
    return None


# --- certificates ---------------------------------------------------------------------------


def load_certificates(data: Mapping[str, bytes]) -> list[x509.Certificate]:
    """The certificates of the Secret's `*.crt` and `*.pem` entries (PEM, possibly several
    in one entry, or DER); NotationError names an entry that holds none."""
    certs: list[x509.Certificate] = []
    for name in sorted(data):
        if not name.endswith((".crt", ".pem")):
            continue
        raw = data[name]
        try:
            if b"-----BEGIN" in raw:
                found = x509.load_pem_x509_certificates(raw)
            else:
                found = [x509.load_der_x509_certificate(raw)]
        except ValueError:
            raise NotationError(f"'{name}' is not a PEM or DER X.509 certificate") from None
        certs.extend(found)
    return certs


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _label(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def validate_chain(chain: Sequence[x509.Certificate]) -> None:
    """The chain `[leaf, intermediates..., root]` as the signature carries it: each
    certificate issued by the next, the last one self-signed, CAs above the leaf, a
    leaf fit for code signing. NotationError otherwise (validity dates are checked
    separately)."""
    if not chain:
        raise NotationError("the signature carries no certificate chain")
    leaf = chain[0]
    usage = _key_usage(leaf)
    if usage is not None and not usage.digital_signature:
        raise NotationError(f"the signing certificate '{_label(leaf)}' lacks the "
                            "digitalSignature key usage")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
            raise NotationError(f"the signing certificate '{_label(leaf)}' is not for code "
                                "signing (extended key usage)")
    except x509.ExtensionNotFound:
        pass
    for child, parent in zip(chain, chain[1:], strict=False):
        if child.issuer != parent.subject or not issued_by(child, parent):
            raise NotationError(f"certificate '{_label(child)}' is not issued by the next one "
                                f"in the chain, '{_label(parent)}'")
        if not is_ca(parent):
            raise NotationError(f"certificate '{_label(parent)}' issues another but is not a CA")
        parent_usage = _key_usage(parent)
        if parent_usage is not None and not parent_usage.key_cert_sign:
            raise NotationError(f"certificate '{_label(parent)}' lacks the keyCertSign key "
                                "usage")
    root = chain[-1]
    if root.issuer != root.subject or not issued_by(root, root):
        raise NotationError(f"the chain ends in '{_label(root)}', which is not a self-signed "
                            "root certificate")


def _valid_at(chain: Sequence[x509.Certificate], when: datetime) -> str | None:
    for cert in chain:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            return (f"certificate '{_label(cert)}' is not valid at {when.isoformat()} (valid "
                    f"{cert.not_valid_before_utc.isoformat()} to "
                    f"{cert.not_valid_after_utc.isoformat()})")
    return None


# --- envelopes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """A parsed signature envelope (JWS or COSE) and what its protected header says."""

    format: str
    payload: bytes
    signing_input: bytes
    signature: bytes
    algorithm: str
    certificates: list[x509.Certificate] = field(repr=False)
    signing_scheme: str
    signing_time: datetime | None
    expiry: datetime | None = None
    critical: tuple[str, ...] = ()
    content_type: str = ""
    extra_critical: tuple[str, ...] = ()


def _b64url(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise NotationError(f"the JWS {what} is missing")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise NotationError(f"the JWS {what} is not base64url") from None


def _time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise NotationError(f"{what} {value!r} is not an RFC 3339 time") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise NotationError(f"{what} is not a time")


def _certs(ders: Any) -> list[x509.Certificate]:
    if isinstance(ders, bytes):  # COSE: a chain of one may be a bare bstr
        ders = [ders]
    if not isinstance(ders, list | tuple) or not ders:
        raise NotationError("the signature carries no certificate chain")
    try:
        return [x509.load_der_x509_certificate(d) for d in ders]
    except (ValueError, TypeError):
        raise NotationError("a certificate in the signature's chain cannot be read") from None


def _parse_jws(raw: bytes) -> Envelope:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise NotationError("the JWS envelope is not JSON") from None
    if not isinstance(doc, Mapping):
        raise NotationError("the JWS envelope is not a JSON object")
    protected_b64, payload_b64 = doc.get("protected"), doc.get("payload")
    protected_raw = _b64url(protected_b64, "protected header")
    payload = _b64url(payload_b64, "payload")
    signature = _b64url(doc.get("signature"), "signature")
    try:
        protected = json.loads(protected_raw)
    except (ValueError, UnicodeDecodeError):
        raise NotationError("the JWS protected header is not JSON") from None
    if not isinstance(protected, Mapping):
        raise NotationError("the JWS protected header is not a JSON object")
    header = doc.get("header") or {}
    if not isinstance(header, Mapping):
        raise NotationError("the JWS unprotected header is not a JSON object")
    x5c = header.get("x5c")
    try:
        ders = [base64.b64decode(c, validate=True) for c in x5c] if isinstance(x5c, list) else None
    except (binascii.Error, ValueError, TypeError):
        raise NotationError("the JWS x5c chain is not base64") from None
    critical = protected.get("crit") or []
    return Envelope(
        format="jws", payload=payload,
        signing_input=f"{protected_b64}.{payload_b64}".encode("ascii"),
        signature=signature, algorithm=str(protected.get("alg") or ""),
        certificates=_certs(ders), signing_scheme=str(protected.get(_H_SCHEME) or ""),
        signing_time=_time(protected.get(_H_TIME) or protected.get(_H_AUTH_TIME),
                           "the signing time"),
        expiry=_time(protected.get(_H_EXPIRY), "the expiry"),
        critical=tuple(str(c) for c in critical) if isinstance(critical, list) else ("?",),
        content_type=str(protected.get("cty") or ""),
    )


def _parse_cose(raw: bytes) -> Envelope:
    import cbor2  # only COSE needs it

    try:
        doc = cbor2.loads(raw)
    except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError):
        raise NotationError("the COSE envelope is not CBOR") from None
    if isinstance(doc, cbor2.CBORTag):
        if doc.tag != 18:
            raise NotationError(f"the COSE envelope has tag {doc.tag}, not COSE_Sign1 (18)")
        doc = doc.value
    if not isinstance(doc, list | tuple) or len(doc) != 4:
        raise NotationError("the COSE envelope is not a COSE_Sign1 structure")
    protected_raw, unprotected, payload, signature = doc
    if not isinstance(protected_raw, bytes) or not isinstance(payload, bytes) \
            or not isinstance(signature, bytes) or not isinstance(unprotected, Mapping):
        raise NotationError("the COSE_Sign1 structure is malformed")
    try:
        protected = cbor2.loads(protected_raw) if protected_raw else {}
    except (cbor2.CBORDecodeError, ValueError, TypeError, EOFError):
        raise NotationError("the COSE protected header is not CBOR") from None
    if not isinstance(protected, Mapping):
        raise NotationError("the COSE protected header is not a map")
    alg = protected.get(1)
    critical = list(protected.get(2) or [])
    return Envelope(
        format="cose", payload=payload,
        signing_input=cbor2.dumps(["Signature1", protected_raw, b"", payload]),
        signature=signature, algorithm=_COSE_ALGS.get(alg, str(alg)) if isinstance(alg, int)
        else str(alg),
        certificates=_certs(unprotected.get(33)),
        signing_scheme=str(protected.get(_H_SCHEME) or ""),
        signing_time=_time(protected.get(_H_TIME) or protected.get(_H_AUTH_TIME),
                           "the signing time"),
        expiry=_time(protected.get(_H_EXPIRY), "the expiry"),
        critical=tuple(str(c) for c in critical) if isinstance(critical, list) else ("?",),
        content_type=str(protected.get(3) or ""),
    )


def parse_envelope(media_type: str, raw: bytes) -> Envelope:
    """A JWS or COSE envelope by its layer's media type; NotationError for others."""
    if len(raw) > MAX_ENVELOPE_SIZE:
        raise NotationError(f"the signature envelope is larger than {MAX_ENVELOPE_SIZE} bytes")
    if media_type == JWS_MEDIA_TYPE:
        return _parse_jws(raw)
    if media_type == COSE_MEDIA_TYPE:
        return _parse_cose(raw)
    raise NotationError(f"unsupported signature envelope type {media_type!r} (JWS "
                        f"{JWS_MEDIA_TYPE} and COSE {COSE_MEDIA_TYPE} are supported)")


def _check_integrity(envelope: Envelope) -> None:
    if envelope.content_type != PAYLOAD_CONTENT_TYPE:
        raise NotationError(f"the payload content type is {envelope.content_type!r}, not "
                            f"{PAYLOAD_CONTENT_TYPE!r}")
    if envelope.signing_scheme not in (SCHEME_X509, SCHEME_SIGNING_AUTHORITY):
        raise NotationError(f"unsupported signing scheme {envelope.signing_scheme!r}")
    if envelope.signing_time is None:
        raise NotationError("the signature has no signing time")
    unknown = [c for c in envelope.critical if c not in _KNOWN_CRITICAL
               and not (envelope.format == "cose" and c in ("1", "2", "3"))]
    if unknown:
        raise NotationError(f"the signature has unknown critical headers: {', '.join(unknown)}")
    if any(c in (_H_PLUGIN, _H_PLUGIN_VERSION) for c in envelope.critical):
        raise NotationError("the signature requires a verification plugin, which afflux does "
                            "not run")
    if envelope.algorithm not in _JWS_ALGS:
        raise NotationError(f"unsupported signature algorithm {envelope.algorithm!r}")
    kind, hash_type = _JWS_ALGS[envelope.algorithm]
    key = envelope.certificates[0].public_key()
    if isinstance(key, rsa.RSAPublicKey):
        expected = _RSA_ALG.get(key.key_size)
        if kind != "rsa" or expected != envelope.algorithm:
            raise NotationError(f"algorithm {envelope.algorithm} does not fit an RSA "
                                f"{key.key_size}-bit key (expected {expected or 'none'})")
        try:
            key.verify(envelope.signature, envelope.signing_input,
                       padding.PSS(padding.MGF1(hash_type()), hash_type.digest_size),
                       hash_type())
        except InvalidSignature:
            raise NotationError("the signature does not verify with the signing "
                                "certificate's key (tampered or wrong key)") from None
    elif isinstance(key, ec.EllipticCurvePublicKey):
        expected = _EC_ALG.get(key.curve.name)
        if kind != "ec" or expected != envelope.algorithm:
            raise NotationError(f"algorithm {envelope.algorithm} does not fit an ECDSA "
                                f"{key.curve.name} key (expected {expected or 'none'})")
        half = len(envelope.signature) // 2
        if half == 0 or len(envelope.signature) % 2:
            raise NotationError("the ECDSA signature is malformed")
        der = utils.encode_dss_signature(int.from_bytes(envelope.signature[:half], "big"),
                                         int.from_bytes(envelope.signature[half:], "big"))
        try:
            key.verify(der, envelope.signing_input, ec.ECDSA(hash_type()))
        except InvalidSignature:
            raise NotationError("the signature does not verify with the signing "
                                "certificate's key (tampered or wrong key)") from None
    else:
        raise NotationError(f"unsupported key type {type(key).__name__} in the signing "
                            "certificate")
    validate_chain(envelope.certificates)
    problem = _valid_at(envelope.certificates, envelope.signing_time)
    if problem:
        raise NotationError(f"at the signing time: {problem}")


def target_descriptor(envelope: Envelope) -> dict[str, Any]:
    """The signed `targetArtifact` descriptor of the payload."""
    try:
        doc = json.loads(envelope.payload)
    except (ValueError, UnicodeDecodeError):
        raise NotationError("the signed payload is not JSON") from None
    target = doc.get("targetArtifact") if isinstance(doc, Mapping) else None
    if not isinstance(target, Mapping) or not isinstance(target.get("digest"), str):
        raise NotationError("the signed payload names no targetArtifact digest")
    return dict(target)


@dataclass(frozen=True)
class Outcome:
    """A signature that passed every enforced check. `authentic`: authenticity held (or
    was enforced); False under `audit` when only logged. `warnings`: logged failures."""

    identity: str
    authentic: bool
    warnings: tuple[str, ...] = ()


def check_signature(envelope: Envelope, *, policy: TrustPolicy,
                    trusted: Sequence[x509.Certificate], digest: str,
                    now: datetime | None = None) -> Outcome:
    """Verify one envelope for the artifact `digest` under `policy`; NotationError for an
    enforced check that fails (its message says which)."""
    now = now or datetime.now(UTC)
    actions = policy.actions
    warnings: list[str] = []

    def failed(check: str, message: str) -> None:
        if actions.get(check) == "enforce":
            raise NotationError(message)
        if actions.get(check) == "log":
            warnings.append(f"{check}: {message}")

    _check_integrity(envelope)
    target = target_descriptor(envelope)
    if target["digest"] != digest:
        raise NotationError(f"the signature is for {target['digest']}, not {digest}")

    authentic = True
    leaf = envelope.certificates[0]
    identity = "-"
    if actions.get("authenticity") != "skip":
        chain_der = {c.fingerprint(hashes.SHA256()) for c in envelope.certificates}
        if not any(t.fingerprint(hashes.SHA256()) in chain_der for t in trusted):
            authentic = False
            failed("authenticity", "the certificate chain does not end in a certificate of "
                   f"the verification secret (signed by '{_label(leaf)}')")
        else:
            matched = match_identity(policy.trusted_identities, _subject_pairs(leaf.subject))
            if matched is None:
                authentic = False
                failed("authenticity", f"the signing identity '{_label(leaf)}' is not among "
                       f"the trustedIdentities of trust policy '{policy.name}'")
            else:
                identity = matched
    if actions.get("authenticTimestamp") != "skip":
        problem = _valid_at(envelope.certificates, now)
        if problem:
            failed("authenticTimestamp", f"no trusted timestamp, and now: {problem}")
    if actions.get("expiry") != "skip" and envelope.expiry is not None and envelope.expiry < now:
        failed("expiry", f"the signature expired at {envelope.expiry.isoformat()}")
    return Outcome(identity, authentic, tuple(warnings))
