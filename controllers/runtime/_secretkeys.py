"""The well-known keys of a Secret's data, read the same way by every operator and the CLI.

Pure: each function takes a Secret's `data` (already decoded to bytes, or to text; `decode`
turns the API's base64 values into bytes) and returns what the keys say. A problem raises
`SecretKeyError`, whose message names the keys at fault and never quotes a value (the
callers put it in a status, prefixed with which Secret and which field), so a password in a
proxy address or a key that is not text cannot leak through it.

- `decode(data)`: base64 values to bytes (`SecretKeyError` naming a key that is not base64);
- `text(data, key)`: a key's value as UTF-8 text, or None when it is absent or empty;
- `tls_keys(data)`: `ca.crt`, and `tls.crt` + `tls.key` (both or neither); with `legacy`,
  the deprecated `caFile`, `certFile`, `keyFile` when the new ones are absent;
- `auth_keys(data)`: `username`, `password`, `bearerToken`, `token`;
- `proxy_keys(data)`: `address` (required, an absolute URL of one of the allowed schemes),
  `username`, `password`; `ProxyKeys.url()` is the address with the credentials put in.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

__all__ = [
    "AuthKeys",
    "ProxyKeys",
    "SecretKeyError",
    "TLSKeys",
    "auth_keys",
    "decode",
    "proxy_keys",
    "text",
    "tls_keys",
]

Data = Mapping[str, bytes | str]


class SecretKeyError(ValueError):
    """A Secret's keys cannot be used; the message names them, never their values."""


def decode(data: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    """The Secret's `data` as the API returns it (base64 values), decoded."""
    out: dict[str, bytes] = {}
    for key, value in (data or {}).items():
        try:
            out[key] = base64.b64decode(value or b"", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise SecretKeyError(f"key '{key}' is not valid base64") from None
    return out


def _raw(data: Data, key: str) -> bytes | None:
    value = data.get(key)
    if value is None or value in (b"", ""):
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


def text(data: Data, key: str) -> str | None:
    """`key`'s value as text; None when the key is absent or empty."""
    raw = _raw(data, key)
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretKeyError(f"key '{key}' is not UTF-8 text") from None


@dataclass(frozen=True)
class TLSKeys:
    """PEM bytes of a TLS Secret: a CA to trust, a client certificate and its key."""

    ca: bytes | None = field(default=None, repr=False)
    cert: bytes | None = field(default=None, repr=False)
    key: bytes | None = field(default=None, repr=False)

    @property
    def empty(self) -> bool:
        return self.ca is None and self.cert is None


def tls_keys(data: Data, *, legacy: bool = False) -> TLSKeys:
    """`ca.crt`, `tls.crt` and `tls.key` (with `legacy`: else `caFile`, `certFile`,
    `keyFile`); a certificate without its key, or a key without its certificate, is an
    error."""
    def first(new: str, old: str) -> bytes | None:
        value = _raw(data, new)
        return value if value is not None or not legacy else _raw(data, old)

    ca, cert, key = first("ca.crt", "caFile"), first("tls.crt", "certFile"), first(
        "tls.key", "keyFile")
    if (cert is None) != (key is None):
        raise SecretKeyError("'tls.crt' and 'tls.key' must both be set for a client "
                             "certificate, or neither")
    return TLSKeys(ca, cert, key)


@dataclass(frozen=True)
class AuthKeys:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


def auth_keys(data: Data) -> AuthKeys:
    """`username`, `password`, `bearerToken` and `token` (absent or empty: None). Which of
    them a caller needs, and together with what, is the caller's rule."""
    return AuthKeys(text(data, "username"), text(data, "password"),
                    text(data, "bearerToken"), text(data, "token"))


@dataclass(frozen=True)
class ProxyKeys:
    address: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def url(self) -> str:
        """The address with `username[:password]@` put in (replacing any it had)."""
        if not self.username:
            return self.address
        parts = urlsplit(self.address)
        userinfo = quote(self.username, safe="")
        if self.password:
            userinfo += ":" + quote(self.password, safe="")
        return parts._replace(netloc=f"{userinfo}@{parts.netloc.rsplit('@', 1)[-1]}").geturl()


def proxy_keys(data: Data, *, schemes: tuple[str, ...] = ("http", "https")) -> ProxyKeys:
    """The proxy of a `proxySecretRef` Secret: `address` (an absolute URL with one of
    `schemes` and a host), `username`, `password`."""
    address = (text(data, "address") or "").strip()
    if not address:
        raise SecretKeyError("the 'address' key is missing or empty")
    try:
        parts = urlsplit(address)
        host = parts.hostname
    except ValueError:
        host = None
    if not host or parts.scheme not in schemes:
        names = ", ".join(f"{s}://" for s in schemes)
        raise SecretKeyError(f"'address' must be a URL with a host and one of the schemes "
                             f"{names}")
    return ProxyKeys(address, text(data, "username"), text(data, "password"))
