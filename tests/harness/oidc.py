"""A local OpenID Connect issuer for generic-oidc Receiver tests: an HTTPS server on loopback
(certificate from the test CA) serving `/.well-known/openid-configuration` and its JWKS
(`/keys`), and `sign(claims)` making ID tokens (RS256 or ES256) with its keys, signed with
`cryptography`. A `Signer` alone (no server) signs for the unit tests, or with a key the
issuer does not publish (a bad signature).

    with OIDCIssuer(test_ca) as issuer:
        token = issuer.sign({"sub": "ci", "aud": "notification-controller"})

`HostileIssuer` serves issuers that misbehave, one per path (`issuer_url(mode)`): each one's
answers would authenticate a token if the client had no bound (a 50 MiB discovery document,
declared or chunked; one sent a byte at a time; a redirect to another host; a key set of
thousands of keys that includes the signing key), so a client without the bound lets the
call through instead of refusing it.
"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from afflux.cli.devenv import TestCA

from .sink import Serving

__all__ = ["HOSTILE_MODES", "HostileIssuer", "OIDCIssuer", "Signer", "b64url"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int, size: int | None = None) -> str:
    length = size or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(length, "big"))


@dataclass
class Signer:
    """One signing key: `jwk` is its public half, `sign` makes a compact JWS."""

    kid: str
    alg: str = "RS256"

    def __post_init__(self) -> None:
        if self.alg == "RS256":
            self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            numbers = self._rsa.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                        "n": _uint(numbers.n), "e": _uint(numbers.e)}
        elif self.alg == "ES256":
            self._ec = ec.generate_private_key(ec.SECP256R1())
            point = self._ec.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256",
                        "crv": "P-256", "x": _uint(point.x, 32), "y": _uint(point.y, 32)}
        else:
            raise ValueError(self.alg)

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        head = {"alg": self.alg, "typ": "JWT", "kid": self.kid, **(header or {})}
        data = (b64url(json.dumps(head).encode()) + "." +
                b64url(json.dumps(claims).encode())).encode()
        if self.alg == "RS256":
            signature = self._rsa.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self._ec.sign(data, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return data.decode() + "." + b64url(signature)


def _tls_socket(server: Serving, ca: TestCA, name: str) -> None:
    pair = ca.issue_server(name)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(pair.cert), str(pair.key))
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)


class OIDCIssuer(Serving):
    """An issuer at `https://127.0.0.1:<port>` with an RS256 and an ES256 key."""

    def __init__(self, ca: TestCA) -> None:
        self.signers = {"RS256": Signer("rsa-1"), "ES256": Signer("ec-1", "ES256")}
        self.requests: list[str] = []
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                issuer.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys",
                                 "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                                 "response_types_supported": ["id_token"],
                                 "subject_types_supported": ["public"]}
                elif self.path == "/keys":
                    body = {"keys": [s.jwk for s in issuer.signers.values()]}
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        super().__init__(Handler)
        _tls_socket(self, ca, "oidc-issuer")

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def claims(self, audience: str = "notification-controller", ttl: float = 300,
               **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.url, "aud": audience, "sub": "ci", "iat": now,
                "exp": now + int(ttl), **extra}

    def sign(self, claims: dict[str, Any], alg: str = "RS256") -> str:
        return self.signers[alg].sign(claims)


#: the ways `HostileIssuer` misbehaves (each its own issuer URL)
HOSTILE_MODES = ("huge", "huge-chunked", "slow", "redirect", "many-keys")
HUGE = 50 * 1024 * 1024
MANY_KEYS = 2000


class HostileIssuer(Serving):
    """Issuers at `https://127.0.0.1:<port>/<mode>` (see the module docstring); `sign`
    makes a token (ES256, kid `ec-1`) that each one's key set would verify; `sent[mode]`
    counts the body bytes it managed to send, `requests` the paths asked for."""

    def __init__(self, ca: TestCA) -> None:
        self.signer = Signer("ec-1", "ES256")
        self.sent: dict[str, int] = dict.fromkeys(HOSTILE_MODES, 0)
        self.requests: list[str] = []
        self.stop = threading.Event()
        hostile = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _head(self, status: int, length: int | None, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if length is None:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(length))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()

            def _write(self, mode: str, data: bytes) -> None:
                self.wfile.write(data)
                self.wfile.flush()
                hostile.sent[mode] += len(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                hostile.requests.append(self.path)
                mode, _, rest = self.path.lstrip("/").partition("/")
                discovery = hostile.discovery(mode)
                try:
                    if rest == "keys":
                        self._keys(mode)
                    elif rest != ".well-known/openid-configuration" or mode not in HOSTILE_MODES:
                        self._head(404, 0)
                    elif mode == "huge":
                        self._huge(mode, discovery, chunked=False)
                    elif mode == "huge-chunked":
                        self._huge(mode, discovery, chunked=True)
                    elif mode == "slow":
                        self._head(200, len(discovery))
                        for i in range(len(discovery)):  # a byte every 0.2 s: over a minute
                            if hostile.stop.wait(0.2):
                                return
                            self._write(mode, discovery[i:i + 1])
                    elif mode == "redirect" and self.headers.get("Host", "").startswith(
                            "127.0.0.1"):
                        self._head(302, 0, Location=f"https://localhost:{hostile.port}"
                                                    f"{self.path}")
                    else:
                        self._head(200, len(discovery))
                        self._write(mode, discovery)
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                    pass  # the client gave up: what it should do

            def _huge(self, mode: str, discovery: bytes, *, chunked: bool) -> None:
                # a valid document whose last member pads it to HUGE bytes
                head, tail = discovery[:-1] + b', "padding": "', b'"}'
                pad = HUGE - len(head) - len(tail)
                self._head(200, None if chunked else HUGE)
                block = b"x" * 65536
                parts = [head, *([block] * (pad // len(block))), block[:pad % len(block)], tail]
                for part in parts:
                    if hostile.stop.is_set():
                        return
                    data = (b"%x\r\n%s\r\n" % (len(part), part)) if chunked else part
                    self._write(mode, data)
                if chunked:
                    self._write(mode, b"0\r\n\r\n")

            def _keys(self, mode: str) -> None:
                keys = [hostile.signer.jwk]
                if mode == "many-keys":  # Ed25519 keys are short: thousands fit in 256 KiB
                    keys = [{"kty": "OKP", "crv": "Ed25519", "kid": f"k{i}",
                             "x": b64url(i.to_bytes(32, "big"))} for i in range(MANY_KEYS)]
                    keys.append(hostile.signer.jwk)
                data = json.dumps({"keys": keys}).encode()
                self._head(200, len(data))
                self._write(mode, data)

            def log_message(self, *_: Any) -> None:
                pass

        super().__init__(Handler)
        _tls_socket(self, ca, "oidc-hostile")

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        super().__exit__(*exc)

    def issuer_url(self, mode: str) -> str:
        return f"https://127.0.0.1:{self.port}/{mode}"

    def discovery(self, mode: str) -> bytes:
        return json.dumps({"issuer": self.issuer_url(mode),
                           "jwks_uri": f"{self.issuer_url(mode)}/keys"}).encode()

    def sign(self, mode: str, audience: str = "notification-controller") -> str:
        now = int(time.time())
        return self.signer.sign({"iss": self.issuer_url(mode), "aud": audience, "sub": "ci",
                                 "iat": now, "exp": now + 300})
