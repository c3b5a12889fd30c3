"""Keyless cosign verification against a private Sigstore trusted root, pure parts: the
trusted_root.json, the signature layer's annotations, and each check of
`verify_keyless` (chain, identity, embedded SCT, Rekor bundle, signature, expiry).

The Sigstore here is made in-process by tests/harness/sigstore.py (CAs, a CT log that
signs SCTs, a Rekor key that signs SETs)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from afflux.controllers.source._sigstore import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    Identity,
    SigstoreError,
    check_identity,
    oidc_issuer,
    parse_trusted_root,
    read_keyless_signature,
    subject_alternative_names,
    verify_keyless,
)
from harness.sigstore import EMAIL, ISSUER, NOW, Leaf, Sigstore, b64, bundle, issue, pem

WORKFLOW = "https://git.example.test/org/app/.github/workflows/release.yaml@refs/heads/main"
PAYLOAD = json.dumps({"critical": {"identity": {"docker-reference": "r.example/app"},
                                   "image": {"docker-manifest-digest": "sha256:" + "ab" * 32},
                                   "type": "cosign container image signature"}}).encode()


def sign(key: Any, payload: bytes = PAYLOAD) -> str:
    return b64(key.sign(payload, ec.ECDSA(hashes.SHA256())))


STORE = Sigstore()
OTHER = Sigstore()
ROOT = parse_trusted_root(json.dumps(STORE.trusted_root()).encode())
GOOD = issue(STORE)
GOOD_SIG = sign(GOOD.key)


def layer(leaf: Leaf = GOOD, signature: str = GOOD_SIG, *, with_bundle: bool = True,
          **bundle_args: Any) -> dict[str, str]:
    annotations = {CERTIFICATE_ANNOTATION: pem(leaf.cert),
                   CHAIN_ANNOTATION: pem(STORE.inter) + pem(STORE.root)}
    if with_bundle:
        annotations[BUNDLE_ANNOTATION] = bundle(STORE, leaf.cert, signature, PAYLOAD,
                                                **bundle_args)
    return annotations


def verify_leaf_signature(leaf: Leaf, **layer_args: Any) -> Any:
    """Sign PAYLOAD with `leaf`'s key, log it, and verify that layer."""
    signature = sign(leaf.key)
    return verify(layer(leaf, signature, **layer_args), signature)


def verify(annotations: dict[str, str], signature: str = GOOD_SIG,
           identities: list[Identity] | None = None, root: Any = ROOT,
           payload: bytes = PAYLOAD) -> Any:
    return verify_keyless(root, identities if identities is not None else
                          [Identity(ISSUER, "^release@")], read_keyless_signature(annotations),
                          signature, payload)


# --- the trusted root ------------------------------------------------------------------


def test_a_trusted_root_is_parsed() -> None:
    assert len(ROOT.authorities) == 1
    assert ROOT.authorities[0].root == STORE.root
    assert ROOT.authorities[0].intermediates == (STORE.inter,)
    assert set(ROOT.tlogs) == {STORE.log_id(STORE.rekor_key).hex()}
    assert set(ROOT.ctlogs) == {STORE.log_id(STORE.ct_key).hex()}
    assert ROOT.rekor_url() == "https://rekor.example.test"


def _tlog(**changes: Any) -> list[dict[str, Any]]:
    entry = dict(STORE.trusted_root()["tlogs"][0])
    entry.update(changes)
    return [entry]


def _key(**changes: Any) -> dict[str, Any]:
    public = dict(STORE.trusted_root()["tlogs"][0]["publicKey"])
    public.update(changes)
    return public


BAD_ROOTS = [
    ("not-json", b"{", "is not JSON"),
    ("too-large", b" " * (1 << 20) + b"{}", "larger than"),
    ("media-type", {"mediaType": "application/json"}, "unsupported trusted root media type"),
    ("hash-algorithm", {"tlogs": _tlog(hashAlgorithm="SHA2_384")}, "tlogs[0].hashAlgorithm"),
    ("no-log-id", {"tlogs": _tlog(logId={})}, "tlogs[0].logId.keyId is missing"),
    ("key-not-base64", {"tlogs": _tlog(publicKey=_key(rawBytes="!!"))}, "is not base64"),
    ("key-not-der", {"tlogs": _tlog(publicKey=_key(rawBytes=b64(b"nope")))},
     "not a DER public key"),
    ("key-type", {"tlogs": _tlog(publicKey=_key(keyDetails="PKIX_ED25519"))},
     "is not a PKIX_ED25519 key"),
    ("unknown-key-type", {"tlogs": _tlog(publicKey=_key(keyDetails="LMS_SHA256"))},
     "unsupported key type"),
    ("no-valid-for", {"tlogs": _tlog(publicKey={**_key(), "validFor": None})},
     "validFor is missing"),
    ("no-start", {"ctlogs": _tlog(publicKey=_key(validFor={"end": "2030-01-01T00:00:00Z"}))},
     "ctlogs[0].publicKey.validFor.start is missing"),
    ("bad-time", {"tlogs": _tlog(publicKey=_key(validFor={"start": "yesterday"}))},
     "not an RFC 3339 time"),
    ("empty-chain", {"certificateAuthorities": [{"certChain": {"certificates": []}}]},
     "certificateAuthorities[0].certChain.certificates is missing or empty"),
    ("bad-cert", {"certificateAuthorities": [
        {"certChain": {"certificates": [{"rawBytes": b64(b"x")}]}}]}, "not a DER certificate"),
    ("too-many", {"tlogs": _tlog() * 33}, "'tlogs' has 33 entries"),
]


@pytest.mark.parametrize(("change", "want"), [b[1:] for b in BAD_ROOTS],
                         ids=[b[0] for b in BAD_ROOTS])
def test_a_bad_trusted_root_says_what_is_wrong(change: Any, want: str) -> None:
    raw = change if isinstance(change, bytes) else \
        json.dumps(STORE.trusted_root(**change)).encode()
    with pytest.raises(SigstoreError) as err:
        parse_trusted_root(raw)
    assert want in str(err.value)


@pytest.mark.parametrize(("tlogs", "want"), [
    ([], "no transparency log entries"),
    (_tlog(baseUrl=""), "no transparency log entry with a baseUrl"),
], ids=["no-tlogs", "no-base-url"])
def test_keyless_needs_a_rekor_log_in_the_trusted_root(tlogs: Any, want: str) -> None:
    root = parse_trusted_root(json.dumps(STORE.trusted_root(tlogs=tlogs)).encode())
    with pytest.raises(SigstoreError) as err:
        verify(layer(), root=root)
    assert want in str(err.value)


# --- the signature layer ---------------------------------------------------------------


@pytest.mark.parametrize(("annotations", "want"), [
    ({}, "no certificate found"),
    ({CERTIFICATE_ANNOTATION: "junk"}, "not PEM certificates"),
    ({CERTIFICATE_ANNOTATION: pem(STORE.inter) + pem(STORE.root)}, "must hold one"),
    ({CERTIFICATE_ANNOTATION: pem(GOOD.cert), BUNDLE_ANNOTATION: "{"}, "is not JSON"),
    ({CERTIFICATE_ANNOTATION: pem(GOOD.cert), BUNDLE_ANNOTATION: '{"Payload": {}}'},
     "lacks Payload.body"),
    ({CERTIFICATE_ANNOTATION: "x" * (64 << 10 | 1)}, "at most"),
], ids=["no-certificate", "not-pem", "two-certificates", "bundle-not-json",
        "bundle-incomplete", "too-large"])
def test_bad_annotations(annotations: dict[str, str], want: str) -> None:
    with pytest.raises(SigstoreError) as err:
        read_keyless_signature(annotations)
    assert want in str(err.value)


def test_annotations_are_read() -> None:
    signature = read_keyless_signature(layer())
    assert signature.certificate == GOOD.cert
    assert signature.chain == (STORE.inter, STORE.root)
    assert signature.bundle is not None and signature.bundle.log_index == 7
    assert not signature.has_timestamp


# --- identities ------------------------------------------------------------------------


def test_issuer_and_sans_are_read_as_cosign_does() -> None:
    leaf = issue(STORE, sans=[x509.DNSName("build.example.test"), x509.RFC822Name(EMAIL),
                              x509.UniformResourceIdentifier(WORKFLOW),
                              x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7"),
                                             b"\x0c\x05alice")])
    assert oidc_issuer(leaf.cert) == ISSUER
    assert subject_alternative_names(leaf.cert) == ["build.example.test", EMAIL, WORKFLOW,
                                                    "alice"]
    assert oidc_issuer(issue(STORE, issuer=None).cert) == ""


IDENTITIES = [
    ("exact", [Identity(f"^{ISSUER}$", f"^{EMAIL}$")], None),
    ("unanchored", [Identity("oidc", "release")], None),
    ("second-matches", [Identity("other", ".*"), Identity(ISSUER, "example")], None),
    ("no-identities", [], None),
    ("wrong-subject", [Identity(ISSUER, "^alice@")], "none of the expected identities"),
    ("wrong-issuer", [Identity("^https://accounts", ".*")], "none of the expected identities"),
    ("issuer-and-subject-apart", [Identity(ISSUER, "^bob"), Identity("nobody", EMAIL)],
     "none of the expected identities"),
    ("malformed", [Identity("(", ".*")], "malformed issuer"),
]


@pytest.mark.parametrize(("identities", "want"), [i[1:] for i in IDENTITIES],
                         ids=[i[0] for i in IDENTITIES])
def test_check_identity(identities: list[Identity], want: str | None) -> None:
    if want is None:
        check_identity(GOOD.cert, identities)
        return
    with pytest.raises(SigstoreError) as err:
        check_identity(GOOD.cert, identities)
    assert want in str(err.value)


def test_a_mismatch_names_what_the_certificate_has() -> None:
    with pytest.raises(SigstoreError) as err:
        check_identity(GOOD.cert, [Identity(ISSUER, "^alice@")])
    assert f"got subjects [{EMAIL}] with issuer {ISSUER}" in str(err.value)


# --- verify_keyless --------------------------------------------------------------------


def test_a_keyless_signature_verifies() -> None:
    result = verify(layer())
    assert result.issuer == ISSUER and result.subjects == (EMAIL,)
    assert result.integrated_time == NOW
    assert EMAIL in result.describe() and ISSUER in result.describe()


def test_a_certificate_straight_from_the_root_verifies() -> None:
    leaf = issue(STORE, ca_key=STORE.root_key, ca_cert=STORE.root)
    verify_leaf_signature(leaf)


STRANGER = issue(OTHER)
NO_SCT = issue(STORE, sct_key=None)
FOREIGN_SCT = issue(STORE, sct_key=OTHER.ct_key)
NOT_CODE_SIGNING = issue(STORE, code_signing=False)
CRITICAL_UNKNOWN = issue(STORE, critical_issuer=True)
SHORT = issue(STORE, minutes=2)
MALLORY_SIG = sign(ec.generate_private_key(ec.SECP256R1()))

FAILURES = [
    ("another-ca", lambda: verify_leaf_signature(STRANGER),
     "does not chain to a certificate authority of the trusted root"),
    ("wrong-identity", lambda: verify(layer(), identities=[Identity(ISSUER, "^alice@")]),
     "none of the expected identities"),
    ("no-sct", lambda: verify_leaf_signature(NO_SCT), "embedded SCT"),
    ("sct-of-another-log", lambda: verify_leaf_signature(FOREIGN_SCT),
     "unable to meet threshold of 1"),
    ("not-code-signing", lambda: verify_leaf_signature(NOT_CODE_SIGNING),
     "does not allow code signing"),
    (
        "unhandled-critical-extension",
        lambda: verify_leaf_signature(CRITICAL_UNKNOWN),
        "unhandled critical extensions (1.3.6.1.4.1.57264.1.1)",
    ),
    ("no-bundle", lambda: verify(layer(with_bundle=False)), "has no Rekor bundle"),
    ("bundle-by-another-rekor", lambda: verify(layer(rekor_key=OTHER.rekor_key)),
     "rekor log public key not found"),
    ("bundle-of-another-payload", lambda: verify(layer(), payload=PAYLOAD + b" "),
     "the Rekor bundle's hash is not the payload's"),
    ("bundle-of-another-signature",
     lambda: verify({**layer(), BUNDLE_ANNOTATION: bundle(STORE, GOOD.cert, sign(GOOD.key),
                                                          PAYLOAD)}),
     "not this signature"),
    ("bundle-of-another-certificate",
     lambda: verify({**layer(), BUNDLE_ANNOTATION: bundle(STORE, NO_SCT.cert, GOOD_SIG,
                                                          PAYLOAD)}),
     "certificate in the Rekor bundle is not the signature's"),
    ("signature-by-another-key",
     lambda: verify(layer(GOOD, MALLORY_SIG), MALLORY_SIG),
     "does not verify with the certificate's key"),
    ("logged-after-expiry",
     lambda: verify_leaf_signature(SHORT, integrated=NOW + timedelta(minutes=5)),
     "certificate expired before the time Rekor logged the signature"),
    ("ca-not-valid-then", lambda: verify(layer(), root=parse_trusted_root(json.dumps(
        STORE.trusted_root(certificateAuthorities=[
            {**STORE.trusted_root()["certificateAuthorities"][0],
             "validFor": {"start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"}}])
    ).encode())), "does not chain"),
    ("rekor-key-not-valid-then", lambda: verify(layer(), root=parse_trusted_root(json.dumps(
        STORE.trusted_root(tlogs=_tlog(publicKey=_key(validFor={
            "start": "2020-01-01T00:00:00Z", "end": "2021-01-01T00:00:00Z"})))).encode())),
     "not valid at the bundle's integrated time"),
]


@pytest.mark.parametrize(("run", "want"), [f[1:] for f in FAILURES],
                         ids=[f[0] for f in FAILURES])
def test_a_keyless_signature_that_does_not_hold_is_refused(run: Any, want: str) -> None:
    with pytest.raises(SigstoreError) as err:
        run()
    assert want in str(err.value)


def test_a_forged_set_is_refused() -> None:
    annotations = layer()
    doc = json.loads(annotations[BUNDLE_ANNOTATION])
    doc["Payload"]["logIndex"] = 8  # the SET covered index 7
    with pytest.raises(SigstoreError, match="signed entry timestamp"):
        verify({**annotations, BUNDLE_ANNOTATION: json.dumps(doc)})


def test_no_certificate_contents_in_messages() -> None:
    leaf_pem = pem(STRANGER.cert)
    body = leaf_pem.splitlines()[1]
    with pytest.raises(SigstoreError) as err:
        verify_leaf_signature(STRANGER)
    assert body not in str(err.value)

