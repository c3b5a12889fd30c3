"""notation verification, pure parts: trust policy documents, registry scopes,
distinguished names and trusted identities, and JWS/COSE envelopes made here with
in-process keys and certificates (checked against the trust levels)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from afflux.controllers.source._notation import (
    NotationError,
    TrustPolicy,
    check_signature,
    match_identity,
    parse_dn,
    parse_envelope,
    parse_trust_policy,
    select_policy,
)

DIGEST = "sha256:" + "ab" * 32
NOW = datetime(2026, 6, 1, tzinfo=UTC)


# --- trust policy ---------------------------------------------------------------------------


def statement(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "p", "registryScopes": ["*"],
                            "signatureVerification": {"level": "strict"},
                            "trustStores": ["ca:acme"], "trustedIdentities": ["*"]}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def document(*statements: dict[str, Any], version: str = "1.0") -> bytes:
    return json.dumps({"version": version, "trustPolicies": list(statements)}).encode()


BAD_POLICIES = [
    ("not-json", b"{", "not valid JSON"),
    ("version", document(statement(), version="2.0"), "version '2.0'"),
    ("no-statements", document(), "no trustPolicies"),
    ("no-scopes", document(statement(registryScopes=[])), "registryScopes is empty"),
    ("wildcard-not-alone", document(statement(registryScopes=["*", "r.io/a"])),
     "wildcard '*' must be alone"),
    ("scope-with-tag", document(statement(registryScopes=["r.io/app:v1"])), "without tag"),
    ("bad-level", document(statement(signatureVerification={"level": "lenient"})),
     "'lenient' is not one of"),
    ("override-integrity", document(statement(signatureVerification={
        "level": "strict", "override": {"integrity": "log"}})), "override of 'integrity'"),
    ("skip-authenticity", document(statement(signatureVerification={
        "level": "strict", "override": {"authenticity": "skip"}})),
     "authenticity cannot be skipped"),
    ("no-trust-stores", document(statement(trustStores=[])), "trustStores is empty"),
    ("bad-store-type", document(statement(trustStores=["x509:acme"])), "is not <ca|"),
    ("no-identities", document(statement(trustedIdentities=None)), "trustedIdentities is empty"),
    ("identity-without-c-st-o", document(statement(
        trustedIdentities=["x509.subject: CN=me"])), "missing C, ST, O"),
    ("identity-prefix", document(statement(trustedIdentities=["subject: C=US"])),
     "is not '*' or"),
    ("duplicate-names", document(statement(), statement(registryScopes=["r.io/a"])),
     "'p' is used twice"),
    ("scope-in-two", document(statement(registryScopes=["r.io/a"]),
                              statement(name="q", registryScopes=["r.io/a"])),
     "'r.io/a' is in both"),
]


@pytest.mark.parametrize(("raw", "want"), [b[1:] for b in BAD_POLICIES],
                         ids=[b[0] for b in BAD_POLICIES])
def test_bad_trust_policies_say_what_to_fix(raw: bytes, want: str) -> None:
    with pytest.raises(NotationError, match=want.replace("*", r"\*").replace("|", r"\|")):
        parse_trust_policy(raw)


def test_skip_level_ignores_stores_and_identities_as_flux_does() -> None:
    [policy] = parse_trust_policy(document(statement(
        signatureVerification={"level": "skip"}, trustStores=["bogus"],
        trustedIdentities=["bogus"])))
    assert policy.level == "skip" and policy.trust_stores == () == policy.trusted_identities


def test_levels_and_overrides_set_the_actions() -> None:
    [policy] = parse_trust_policy(document(statement(signatureVerification={
        "level": "permissive", "override": {"expiry": "enforce"}})))
    assert policy.actions == {"integrity": "enforce", "authenticity": "enforce",
                              "authenticTimestamp": "log", "expiry": "enforce",
                              "revocation": "log"}


SCOPES = [
    ("exact-wins-over-wildcard", "r.io/app", "exact"),
    ("wildcard-for-the-rest", "r.io/other", "wildcard"),
    ("port-is-part-of-the-registry", "r.io:5000/app", "port"),
]


@pytest.mark.parametrize(("repository", "want"), [s[1:] for s in SCOPES],
                         ids=[s[0] for s in SCOPES])
def test_select_policy_by_registry_scope(repository: str, want: str) -> None:
    policies = parse_trust_policy(document(
        statement(name="wildcard"), statement(name="exact", registryScopes=["r.io/app"]),
        statement(name="port", registryScopes=["r.io:5000/app"])))
    assert select_policy(policies, repository).name == want


def test_no_statement_for_the_repository() -> None:
    policies = parse_trust_policy(document(statement(registryScopes=["r.io/app"])))
    with pytest.raises(NotationError, match="no trust policy statement applies to 'r.io/b'"):
        select_policy(policies, "r.io/b")


# --- distinguished names and identities -----------------------------------------------------


DNS = [
    ("simple", "C=US, ST=WA, O=Acme", [("C", "US"), ("ST", "WA"), ("O", "Acme")]),
    ("escaped-comma", r"O=Acme\, Inc., C=US", [("O", "Acme, Inc."), ("C", "US")]),
    ("multi-valued", "CN=a+OU=b", [("CN", "a"), ("OU", "b")]),
    ("lowercase-attribute", "o=Acme", [("O", "Acme")]),
]


@pytest.mark.parametrize(("text", "want"), [d[1:] for d in DNS], ids=[d[0] for d in DNS])
def test_parse_dn(text: str, want: list[tuple[str, str]]) -> None:
    assert parse_dn(text) == want


def test_parse_dn_refuses_an_attribute_without_value() -> None:
    with pytest.raises(NotationError, match="is not <attribute>=<value>"):
        parse_dn("C=US, Acme")


SUBJECT = [("CN", "signer"), ("O", "Acme"), ("L", "Seattle"), ("ST", "WA"), ("C", "US")]
IDENTITIES = [
    ("wildcard", ["*"], "*"),
    ("subset-matches", ["x509.subject: C=US, ST=WA, O=Acme"], "x509.subject: C=US, ST=WA, O=Acme"),
    ("all-attributes", ["x509.subject: C=US, ST=WA, O=Acme, L=Seattle, CN=signer"],
     "x509.subject: C=US, ST=WA, O=Acme, L=Seattle, CN=signer"),
    ("other-organisation", ["x509.subject: C=US, ST=WA, O=Other"], None),
    ("extra-attribute", ["x509.subject: C=US, ST=WA, O=Acme, OU=Ops"], None),
    ("second-one-matches", ["x509.subject: C=US, ST=WA, O=Other",
                            "x509.subject: C=US, ST=WA, O=Acme, CN=signer"],
     "x509.subject: C=US, ST=WA, O=Acme, CN=signer"),
]


@pytest.mark.parametrize(("trusted", "want"), [i[1:] for i in IDENTITIES],
                         ids=[i[0] for i in IDENTITIES])
def test_match_identity(trusted: list[str], want: str | None) -> None:
    assert match_identity(trusted, SUBJECT) == want


# --- envelopes ----------------------------------------------------------------------------


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def certificate(key: Any, cn: str, *, issuer: tuple[Any, x509.Certificate] | None = None,
                ca: bool = False, days: int = 365) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(name(cn))
               .issuer_name(issuer[1].subject if issuer else name(cn))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - timedelta(days=1))
               .not_valid_after(NOW + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=not ca, key_cert_sign=ca, crl_sign=ca,
                   content_commitment=False, key_encipherment=False, data_encipherment=False,
                   key_agreement=False, encipher_only=False, decipher_only=False), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return builder.sign(issuer[0] if issuer else key, hashes.SHA256())


RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ROOT_KEY = ec.generate_private_key(ec.SECP384R1())
ROOT = certificate(ROOT_KEY, "root", ca=True)
LEAF_UNDER_ROOT = certificate(EC_KEY, "leaf", issuer=(ROOT_KEY, ROOT))
SELF_SIGNED = certificate(RSA_KEY, "signer")


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def target(digest: str = DIGEST) -> bytes:
    return json.dumps({"targetArtifact": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
        "size": 100}}).encode()


def raw_signature(key: Any, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def jws(key: Any, chain: list[x509.Certificate], payload: bytes | None = None, *,
        signing_time: datetime = NOW, expiry: datetime | None = None,
        alg: str | None = None, crit: list[str] | None = None) -> bytes:
    header: dict[str, Any] = {
        "alg": alg or ("PS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"),
        "crit": crit or ["io.cncf.notary.signingScheme"],
        "cty": "application/vnd.cncf.notary.payload.v1+json",
        "io.cncf.notary.signingScheme": "notary.x509",
        "io.cncf.notary.signingTime": signing_time.isoformat()}
    if expiry is not None:
        header["io.cncf.notary.expiry"] = expiry.isoformat()
    protected, body = b64url(json.dumps(header).encode()), b64url(payload or target())
    signature = raw_signature(key, f"{protected}.{body}".encode())
    return json.dumps({"protected": protected, "payload": body, "signature": b64url(signature),
                       "header": {"x5c": [base64.b64encode(der(c)).decode() for c in chain]}}
                      ).encode()


def cose(key: Any, chain: list[x509.Certificate]) -> bytes:
    protected = cbor2.dumps({1: -37, 2: ["io.cncf.notary.signingScheme"],
                             3: "application/vnd.cncf.notary.payload.v1+json",
                             "io.cncf.notary.signingScheme": "notary.x509",
                             "io.cncf.notary.signingTime": cbor2.CBORTag(1, int(NOW.timestamp()))})
    payload = target()
    signature = raw_signature(key, cbor2.dumps(["Signature1", protected, b"", payload]))
    ders = [der(c) for c in chain]
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {33: ders}, payload, signature]))


def policy(level: str = "strict", identities: tuple[str, ...] = ("*",), **override: str
           ) -> TrustPolicy:
    [found] = parse_trust_policy(document(statement(
        signatureVerification={"level": level, **({"override": override} if override else {})},
        trustedIdentities=list(identities))))
    return found


def check(raw: bytes, *, media_type: str = "application/jose+json",
          trusted: list[x509.Certificate] | None = None, level: str = "strict",
          identities: tuple[str, ...] = ("*",), now: datetime = NOW, **override: str) -> Any:
    return check_signature(parse_envelope(media_type, raw),
                           policy=policy(level, identities, **override),
                           trusted=[SELF_SIGNED, ROOT] if trusted is None else trusted,
                           digest=DIGEST, now=now)


def test_jws_by_a_self_signed_trusted_certificate() -> None:
    outcome = check(jws(RSA_KEY, [SELF_SIGNED]))
    assert outcome.authentic and outcome.identity == "*" and outcome.warnings == ()


def test_jws_ecdsa_chain_to_a_trusted_root_and_identity() -> None:
    outcome = check(jws(EC_KEY, [LEAF_UNDER_ROOT, ROOT]), trusted=[ROOT],
                    identities=("x509.subject: C=US, ST=WA, O=Acme, CN=leaf",))
    assert outcome.authentic and outcome.identity.endswith("CN=leaf")


def test_cose_envelope() -> None:
    assert check(cose(RSA_KEY, [SELF_SIGNED]), media_type="application/cose").authentic


def tampered() -> bytes:
    doc = json.loads(jws(RSA_KEY, [SELF_SIGNED]))
    doc["payload"] = b64url(target("sha256:" + "cd" * 32))
    return json.dumps(doc).encode()


FAILURES = [
    ("other-artifact", lambda: jws(RSA_KEY, [SELF_SIGNED], target("sha256:" + "00" * 32)), {},
     "the signature is for sha256:0000"),
    ("tampered-payload", tampered, {}, "does not verify with the signing certificate's key"),
    ("untrusted-certificate", lambda: jws(RSA_KEY, [SELF_SIGNED]), {"trusted": [ROOT]},
     "does not end in a certificate of the verification secret"),
    ("untrusted-identity", lambda: jws(RSA_KEY, [SELF_SIGNED]),
     {"identities": ("x509.subject: C=US, ST=WA, O=Other",)}, "not among the trustedIdentities"),
    ("broken-chain", lambda: jws(EC_KEY, [LEAF_UNDER_ROOT, SELF_SIGNED]), {},
     "is not issued by the next one"),
    ("no-root", lambda: jws(EC_KEY, [LEAF_UNDER_ROOT]), {"trusted": [LEAF_UNDER_ROOT]},
     "not a self-signed root"),
    ("alg-does-not-fit-key", lambda: jws(RSA_KEY, [SELF_SIGNED], alg="PS384"), {},
     "does not fit an RSA 2048-bit key"),
    ("unknown-critical-header", lambda: jws(RSA_KEY, [SELF_SIGNED],
                                            crit=["io.cncf.notary.signingScheme", "x-new"]),
     {}, "unknown critical headers: x-new"),
    ("expired-signature-strict", lambda: jws(RSA_KEY, [SELF_SIGNED],
                                             expiry=NOW - timedelta(hours=1)), {},
     "the signature expired"),
    ("expired-certificate-strict", lambda: jws(RSA_KEY, [SELF_SIGNED]),
     {"now": NOW + timedelta(days=400)}, "no trusted timestamp"),
    ("signed-outside-validity", lambda: jws(RSA_KEY, [SELF_SIGNED],
                                            signing_time=NOW - timedelta(days=30)), {},
     "at the signing time"),
]


@pytest.mark.parametrize(("make", "kwargs", "want"), [f[1:] for f in FAILURES],
                         ids=[f[0] for f in FAILURES])
def test_signatures_that_fail(make: Any, kwargs: dict[str, Any], want: str) -> None:
    with pytest.raises(NotationError, match=want):
        check(make(), **kwargs)


LOGGED = [
    ("audit-logs-untrusted-certificate", {"level": "audit", "trusted": [ROOT]}, False,
     ["authenticity"]),
    ("permissive-logs-expiry", {"level": "permissive", "now": NOW + timedelta(days=400)}, True,
     ["authenticTimestamp", "expiry"]),
    ("override-skips-expiry", {"expiry": "skip", "authenticTimestamp": "skip",
                               "now": NOW + timedelta(days=400)}, True, []),
]


@pytest.mark.parametrize(("kwargs", "authentic", "warnings"), [g[1:] for g in LOGGED],
                         ids=[g[0] for g in LOGGED])
def test_levels_that_only_log(kwargs: dict[str, Any], authentic: bool,
                              warnings: list[str]) -> None:
    outcome = check(jws(RSA_KEY, [SELF_SIGNED], expiry=NOW + timedelta(days=2)), **kwargs)
    assert outcome.authentic is authentic
    assert [w.split(":")[0] for w in outcome.warnings] == warnings


def test_unsupported_envelope_type() -> None:
    with pytest.raises(NotationError, match="unsupported signature envelope type"):
        parse_envelope("application/pgp-signature", b"x")
