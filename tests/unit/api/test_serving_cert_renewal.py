"""`check_secret`: when the conversion webhook's Secret is kept, re-issued or remade."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest

from afflux.api._servingcert import (
    KEEP,
    NEW_AUTHORITY,
    REISSUE,
    check_secret,
    issue,
    new_authority,
)

HOSTS = ["kustomize-controller.flux-system.svc", "kustomize-controller.flux-system"]


def encrypted(pem_key: str) -> str:
    """The key, encrypted with a passphrase (loading it without one is a TypeError)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem_key.encode(), password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"pass")).decode()


def ed25519_authority() -> tuple[str, str]:
    """A self-signed CA whose key is Ed25519 (which `issue` cannot sign with SHA-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, None))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())
NOW = datetime.datetime(2030, 6, 1, tzinfo=datetime.UTC)
CA = new_authority(now=NOW)
OTHER_CA = new_authority(now=NOW)
GOOD = issue(CA, HOSTS, now=NOW)


def secret(**override: str) -> dict[str, str]:
    data = {"ca.crt": CA.cert, "ca.key": CA.key, "tls.crt": GOOD.cert, "tls.key": GOOD.key}
    data.update({k.replace("_", "."): v for k, v in override.items()})
    return {k: v for k, v in data.items() if v}


CASES: list[tuple[str, Callable[[], dict[str, str]], datetime.datetime, str, str]] = [
    ("fresh", secret, NOW, KEEP, "valid until"),
    ("empty Secret", dict, NOW, NEW_AUTHORITY, "no ca.crt or ca.key"),
    ("CA key missing", lambda: secret(ca_key=""), NOW, NEW_AUTHORITY, "no ca.key"),
    ("CA garbage", lambda: secret(ca_crt="not a pem"), NOW, NEW_AUTHORITY, "does not parse"),
    ("CA key of another CA", lambda: secret(ca_key=OTHER_CA.key), NOW, NEW_AUTHORITY,
     "not the CA's key"),
    ("CA in its last year", secret, NOW + datetime.timedelta(days=3650 - 300), NEW_AUTHORITY,
     "the CA expires"),
    ("no serving certificate", lambda: secret(tls_crt=""), NOW, REISSUE, "no serving"),
    ("serving key of another cert", lambda: secret(tls_key=issue(CA, HOSTS).key), NOW, REISSUE,
     "not the serving certificate's key"),
    ("signed by another CA", lambda: secret(**dict(zip(
        ("tls_crt", "tls_key"), issue(OTHER_CA, HOSTS, now=NOW)[1:], strict=True))),
     NOW, REISSUE, "not signed by the CA"),
    ("certificate in its last month", secret, NOW + datetime.timedelta(days=350), REISSUE,
     "expires on"),
    ("CA key encrypted", lambda: secret(ca_key=encrypted(CA.key)), NOW, NEW_AUTHORITY,
     "does not parse"),
    ("CA key Ed25519", lambda: secret(**dict(zip(("ca_crt", "ca_key"), ed25519_authority(),
                                                 strict=True))), NOW, NEW_AUTHORITY,
     "neither an EC nor an RSA key"),
    ("serving certificate garbage", lambda: secret(tls_crt="-----BEGIN CERTIFICATE-----\nAAAA"
                                                   "\n-----END CERTIFICATE-----\n"),
     NOW, REISSUE, "does not parse"),
    ("serving key garbage", lambda: secret(tls_key="not a key"), NOW, REISSUE,
     "does not parse"),
    ("serving key encrypted", lambda: secret(tls_key=encrypted(GOOD.key)), NOW, REISSUE,
     "does not parse"),
    ("certificate for another name", lambda: secret(**dict(zip(
        ("tls_crt", "tls_key"), issue(CA, ["evil.example.com"], now=NOW)[1:], strict=True))),
     NOW, REISSUE, "does not name kustomize-controller.flux-system.svc"),
    ("a host name missing", lambda: secret(**dict(zip(
        ("tls_crt", "tls_key"), issue(CA, HOSTS[:1], now=NOW)[1:], strict=True))),
     NOW, REISSUE, "does not name kustomize-controller.flux-system"),
]


@pytest.mark.parametrize(("data", "at", "action", "reason"),
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_check_secret(data: Callable[[], dict[str, str]], at: datetime.datetime, action: str,
                      reason: str) -> None:
    verdict = check_secret(data(), HOSTS, at)
    assert verdict.action == action, verdict
    assert reason in verdict.reason


def test_a_reissued_certificate_keeps_the_ca_and_never_outlives_it() -> None:
    late = NOW + datetime.timedelta(days=3650 - 100)
    again = issue(CA, HOSTS, now=late)
    assert again.ca == CA.cert
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(again.cert.encode())
    ca = x509.load_pem_x509_certificate(CA.cert.encode())
    assert cert.not_valid_after_utc == ca.not_valid_after_utc
