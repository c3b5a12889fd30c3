"""HTTP(S) transport for the source reconcilers that talk to servers with `requests`.

OCI registries, Helm chart downloads and S3 endpoints all take the same TLS material
from a `certSecretRef` (FLUX-API §0): `ca.crt` to trust a private CA (in addition to
nothing else: a custom CA replaces the system roots, as Go's `tls.Config.RootCAs` does),
and `tls.crt` + `tls.key` (both or neither) for a client certificate.

- `TLSMaterial.from_secret(data)` reads those keys from a Secret's (decoded) data;
- `ssl_context(material)` builds the `ssl.SSLContext` (the client key is written to a
  private temporary file only for the moment `load_cert_chain` reads it);
- `http_session(material)` is a `requests.Session` whose HTTPS connections use that
  context, and that ignores the environment's netrc and CA bundle variables, so nothing
  but the object's own spec decides how the server is trusted.

Errors: `TLSConfigError` (a reconciler reports it as an authentication failure: the
Secret's TLS material is unusable).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from afflux.controllers.runtime import SecretKeyError, tls_keys

__all__ = [
    "CA_KEY",
    "CERT_KEY",
    "KEY_KEY",
    "PROXY_SCHEMES",
    "TLSConfigError",
    "TLSMaterial",
    "http_session",
    "ssl_context",
]

#: the schemes a `proxySecretRef`'s address may have
PROXY_SCHEMES = ("http", "https", "socks5")
CA_KEY = "ca.crt"
CERT_KEY = "tls.crt"
KEY_KEY = "tls.key"
USER_AGENT = "afflux-source-controller"


class TLSConfigError(ValueError):
    """The TLS material cannot be used; the message names the Secret key at fault."""


@dataclass(frozen=True)
class TLSMaterial:
    """PEM bytes from a `certSecretRef` (any of them may be missing)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None

    @classmethod
    def from_secret(cls, data: Mapping[str, bytes]) -> TLSMaterial:
        """From a Secret's decoded data; `tls.crt` and `tls.key` must come together."""
        try:
            keys = tls_keys(data)
        except SecretKeyError as err:
            raise TLSConfigError(str(err)) from None
        return cls(ca=keys.ca, cert=keys.cert, key=keys.key)

    @property
    def empty(self) -> bool:
        return self.ca is None and self.cert is None

    def __repr__(self) -> str:  # never print a private key
        return f"TLSMaterial(ca={self.ca is not None}, client_cert={self.cert is not None})"


def ssl_context(material: TLSMaterial | None = None, *, verify: bool = True) -> ssl.SSLContext:
    """A client context: the material's CA (else the system roots), its client certificate.

    `verify=False` turns off certificate and host name checks (only for explicit
    "insecure skip verify" options; afflux's specs never default to it).
    """
    material = material or TLSMaterial()
    try:
        if material.ca:
            context = ssl.create_default_context(cadata=material.ca.decode("utf-8"))
        else:
            context = ssl.create_default_context()
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
        raise TLSConfigError(f"invalid '{CA_KEY}': not a PEM certificate ({err})") from err
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if material.cert is not None and material.key is not None:
        with tempfile.TemporaryDirectory(prefix="afx-tls-") as tmp:
            cert_path, key_path = os.path.join(tmp, CERT_KEY), os.path.join(tmp, KEY_KEY)
            with open(cert_path, "wb") as f:
                f.write(material.cert)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(material.key)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as err:
                raise TLSConfigError(
                    f"invalid client certificate ('{CERT_KEY}'/'{KEY_KEY}'): {err}"
                ) from err
    return context


class _ContextAdapter(HTTPAdapter):
    """An adapter whose HTTPS pools use one given SSLContext."""

    def __init__(self, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["ssl_context"] = self._context
        return super().proxy_manager_for(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # the context decides; keep requests from loading its own CA bundle into it
        if url.lower().startswith("https"):
            conn.cert_reqs = "CERT_REQUIRED" if self._context.verify_mode else "CERT_NONE"
            conn.ca_certs = None
            conn.ca_cert_dir = None


class _Session(requests.Session):
    """No netrc and no REQUESTS_CA_BUNDLE (`trust_env` off), but the proxy variables
    (`HTTPS_PROXY`, `NO_PROXY`, ...) still apply, per request URL, unless the session has
    proxies of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.headers["User-Agent"] = USER_AGENT

    def request(self, method: str | bytes, url: str | bytes, *args: Any,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        if kwargs.get("proxies") is None and not self.proxies:
            target = url.decode() if isinstance(url, bytes) else url
            kwargs["proxies"] = requests.utils.get_environ_proxies(target)
        return super().request(method, url, *args, **kwargs)


def http_session(
    material: TLSMaterial | None = None, *, verify: bool = True, proxy: str | None = None
) -> requests.Session:
    """A session trusting exactly what `material` says (see the module docstring);
    `proxy` (a `proxySecretRef` address) replaces the environment's proxies."""
    session = _Session()
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    session.mount("https://", _ContextAdapter(ssl_context(material, verify=verify)))
    return session
