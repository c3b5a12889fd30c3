"""A local OpenID Connect issuer for generic-oidc Receiver tests: an HTTPS server on loopback
(certificate from the test CA) serving `/.well-known/openid-configuration` and its JWKS
(`/keys`), and `sign(claims)` making ID tokens (RS256 or ES256) with its keys, signed with
`cryptography`. A `Signer` alone (no server) signs for the unit tests, or with a key the
issuer does not publish (a bad signature).

    with OIDCIssuer(test_ca) as issuer:
        token = issuer.sign({"sub": "ci", "aud": "notification-controller"})
"""

from __future__ import annotations

import base64
import http.server
import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from afflux.cli.devenv import TestCA

from .sink import Serving

__all__ = ["OIDCIssuer", "Signer", "b64url"]


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

        pair = ca.issue_server("oidc-issuer")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(pair.cert), str(pair.key))
        super().__init__(Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)

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
