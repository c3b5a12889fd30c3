"""A CA and serving certificates for the conversion webhooks, made and checked in memory.

Pure computation (fresh keys, no files, no network). Two uses:

- `self_signed(hosts)`: a CA and a certificate it signed, for installers and tests that
  hand out one certificate (the dev environment, the test harness);
- in-cluster, the operator that owns a converted kind keeps its webhook's CA and serving
  certificate in a Secret (`afflux.controllers.runtime._convcert`): `check_secret` says
  whether what the Secret holds is still good for the Service's host names, or whether the
  serving certificate must be re-issued by the same CA (`issue`; the CRDs' caBundle stays)
  or a new CA made (`new_authority`; the caBundle changes).

Lifetimes: the CA ten years, renewed one year before its end; a serving certificate one
year, re-issued 30 days before its end, or at once when a host name is missing.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "CA_DAYS",
    "CERT_DAYS",
    "KEEP",
    "NEW_AUTHORITY",
    "REISSUE",
    "Authority",
    "ServingCert",
    "Verdict",
    "check_secret",
    "issue",
    "new_authority",
    "self_signed",
]

CA_DAYS = 3650
CERT_DAYS = 365
CA_RENEW_BEFORE = datetime.timedelta(days=365)
CERT_RENEW_BEFORE = datetime.timedelta(days=30)

KEEP = "keep"
REISSUE = "reissue"
NEW_AUTHORITY = "new-authority"

#: The keys of the Secret that keeps a webhook's certificates.
SECRET_KEYS = ("ca.crt", "ca.key", "tls.crt", "tls.key")


class ServingCert(NamedTuple):
    """PEM texts: the CA (for a caBundle), the server certificate and its key."""

    ca: str
    cert: str
    key: str


class Authority(NamedTuple):
    """PEM texts of a CA certificate and its key."""

    cert: str
    key: str


class Verdict(NamedTuple):
    """What to do with a Secret's certificates: KEEP, REISSUE or NEW_AUTHORITY, and why."""

    action: str
    reason: str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _pem_key(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _pem_cert(cert: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def new_authority(*, days: int = CA_DAYS, common_name: str = "afflux conversion webhook",
                  now: datetime.datetime | None = None) -> Authority:
    """A fresh self-signed CA valid for `days`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = now or _now()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Authority(cert=_pem_cert(cert), key=_pem_key(key))


def issue(authority: Authority, hosts: Sequence[str], *, days: int = CERT_DAYS,
          common_name: str = "afflux conversion webhook",
          now: datetime.datetime | None = None) -> ServingCert:
    """A serving certificate for `hosts` (DNS names or IPs) signed by `authority`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or _now()
    ca = x509.load_pem_x509_certificate(authority.cert.encode())
    ca_key: Any = serialization.load_pem_private_key(authority.key.encode(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    not_after = min(now + datetime.timedelta(days=days), ca.not_valid_after_utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    return ServingCert(ca=authority.cert, cert=_pem_cert(cert), key=_pem_key(key))


def self_signed(hosts: Sequence[str], *, days: int = CA_DAYS,
                common_name: str = "afflux conversion webhook") -> ServingCert:
    """A fresh CA and a serving certificate it signed for `hosts` (DNS names or IPs)."""
    authority = new_authority(days=days, common_name=common_name)
    return issue(authority, hosts, days=days, common_name=common_name)


def _same_key(cert: Any, key: Any) -> bool:
    from cryptography.hazmat.primitives import serialization

    fmt = (serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt))


def check_secret(data: Mapping[str, str], hosts: Sequence[str],
                 now: datetime.datetime | None = None) -> Verdict:
    """Whether the PEM texts in `data` (the Secret's ca.crt, ca.key, tls.crt, tls.key) still
    serve `hosts` at `now`, and if not, the least that must be made again. Whatever the
    Secret holds (garbage, an encrypted or unknown key, a key of another certificate) gives
    a verdict, never an exception; the reason never quotes the Secret."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    _UNUSABLE = (ValueError, TypeError, UnsupportedAlgorithm)  # noqa: N806 - a constant
    now = now or _now()
    missing = [k for k in ("ca.crt", "ca.key") if not data.get(k)]
    if missing:
        return Verdict(NEW_AUTHORITY, f"no {' or '.join(missing)} yet")
    try:
        ca = x509.load_pem_x509_certificate(data["ca.crt"].encode())
        ca_key: Any = serialization.load_pem_private_key(data["ca.key"].encode(), password=None)
    except _UNUSABLE:  # garbage, an encrypted key (TypeError), an unknown algorithm
        return Verdict(NEW_AUTHORITY, "the CA does not parse")
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return Verdict(NEW_AUTHORITY, "ca.key is neither an EC nor an RSA key")
    if not _same_key(ca, ca_key):
        return Verdict(NEW_AUTHORITY, "ca.key is not the CA's key")
    if ca.not_valid_after_utc - now < CA_RENEW_BEFORE:
        return Verdict(NEW_AUTHORITY, f"the CA expires on {ca.not_valid_after_utc:%Y-%m-%d}")
    if not data.get("tls.crt") or not data.get("tls.key"):
        return Verdict(REISSUE, "no serving certificate yet")
    try:
        cert = x509.load_pem_x509_certificate(data["tls.crt"].encode())
        key: Any = serialization.load_pem_private_key(data["tls.key"].encode(), password=None)
    except _UNUSABLE:
        return Verdict(REISSUE, "the serving certificate does not parse")
    if not _same_key(cert, key):
        return Verdict(REISSUE, "tls.key is not the serving certificate's key")
    try:
        cert.verify_directly_issued_by(ca)
    except (*_UNUSABLE, InvalidSignature):
        return Verdict(REISSUE, "the serving certificate is not signed by the CA")
    if cert.not_valid_after_utc - now < CERT_RENEW_BEFORE:
        return Verdict(REISSUE, "the serving certificate expires on "
                                f"{cert.not_valid_after_utc:%Y-%m-%d}")
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = {*sans.get_values_for_type(x509.DNSName),
                 *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))}
    except x509.ExtensionNotFound:
        names = set()
    absent = [h for h in hosts if h not in names]
    if absent:
        return Verdict(REISSUE, f"the serving certificate does not name {', '.join(absent)}")
    return Verdict(KEEP, f"valid until {cert.not_valid_after_utc:%Y-%m-%d}")
