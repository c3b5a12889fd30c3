"""generic-oidc Receivers: a call authenticates with an OIDC ID token
(`Authorization: Bearer <JWT>`) issued by one of `spec.oidcProviders`.

The token's `iss` picks the issuer; its signing keys come from the issuer's discovery
document (`<issuerURL>/.well-known/openid-configuration`, whose `issuer` must be the
issuerURL) and the `jwks_uri` it names. The signature (RS256/384/512, PS256/384/512,
ES256/384/512, EdDSA), `exp`, `nbf` and the audience (`aud`, the issuer's `audience`,
`notification-controller` by default) are checked, then the issuer's CEL `variables`
(exposed as `vars`) and `validations` over `claims`; the first validation that is false
rejects the call with its message.

Pure parts (`parse_token`, `verify_signature`, `check_claims`, `check_rules`,
`usable_keys`) do no I/O; `IssuerKeys` fetches and caches the keys, as a hostile issuer
cannot make it hang or swell: every answer is read up to `MAX_DOCUMENT` bytes (a longer
one, declared or streamed, fails), undecoded (`Accept-Encoding: identity`, no gzip bomb),
within `FETCH_TIMEOUT` seconds in all, without following redirects, from a key set of at
most `MAX_KEYS` keys; a failed fetch is remembered for `FAILURE_HOLD` seconds, so calls
queued behind a slow issuer fail at once instead of each waiting out the timeout. The
system's CAs are trusted; at most one refresh per issuer every `MIN_REFRESH` seconds when a
token names an unknown key. Nothing here logs or returns a token or a claim value.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ._cel import CELError, compile_expression, evaluate, evaluate_bool
from ._sender import BodyTooLarge, read_body

__all__ = [
    "DEFAULT_AUDIENCE",
    "InvalidToken",
    "IssuerKeys",
    "Token",
    "GOOGLE_ISSUER",
    "authenticate",
    "authenticate_google",
    "check_claims",
    "check_rules",
    "compile_rules",
    "parse_token",
    "usable_keys",
    "verify_signature",
]

DEFAULT_AUDIENCE = "notification-controller"
#: clock skew allowed on exp and nbf
LEEWAY = 60.0
#: the largest token, discovery document or key set read
MAX_DOCUMENT = 256 * 1024
#: keys are refetched after this long, or sooner (at most this often) for an unknown key id
CACHE_FOR = 3600.0
MIN_REFRESH = 30.0
FETCH_TIMEOUT = 10.0
#: the most keys an issuer's key set may hold (real issuers publish a handful)
MAX_KEYS = 100
#: how long a failed fetch answers for the issuer before it is tried again
FAILURE_HOLD = 10.0
_READ_CHUNK = 64 * 1024


class InvalidToken(Exception):  # noqa: N818 - answered 401
    """The call's token does not authenticate it (the message says why, without values)."""


@dataclass(frozen=True)
class Token:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, TypeError):
        raise InvalidToken("the token is not a JWT (bad base64url)") from None


def parse_token(text: str) -> Token:
    """The JWS compact token's parts; `InvalidToken` if it is not one."""
    if len(text) > MAX_DOCUMENT:
        raise InvalidToken("the token is too large")
    parts = text.strip().split(".")
    if len(parts) != 3:
        raise InvalidToken("the token is not a JWT (three dot-separated parts)")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
    except ValueError:
        raise InvalidToken("the token is not a JWT (its header or payload is not JSON)") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("the token's header and payload must be JSON objects")
    return Token(header, claims, f"{parts[0]}.{parts[1]}".encode(), _b64(parts[2]))


_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"ES256": ("P-256", 32), "ES384": ("P-384", 48), "ES512": ("P-521", 66)}


def _int(value: Any) -> int:
    return int.from_bytes(_b64(str(value)), "big")


def _verify_with(alg: str, jwk: Mapping[str, Any], data: bytes, signature: bytes) -> None:
    """Raises InvalidSignature (or ValueError for a key that does not fit the algorithm)."""
    kty = jwk.get("kty")
    if alg[:2] in ("RS", "PS") and alg[2:] in _HASHES and kty == "RSA":
        key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        algorithm = _HASHES[alg[2:]]()
        pad = padding.PKCS1v15() if alg.startswith("RS") else padding.PSS(
            mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
        key.verify(signature, data, pad, algorithm)
    elif alg in _CURVES and kty == "EC" and jwk.get("crv") == _CURVES[alg][0]:
        curve = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}[
            _CURVES[alg][0]]()
        size = _CURVES[alg][1]
        if len(signature) != 2 * size:
            raise InvalidSignature
        der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                   int.from_bytes(signature[size:], "big"))
        public = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve)
        public.public_key().verify(der, data, ec.ECDSA(_HASHES[alg[2:]]()))
    elif alg == "EdDSA" and kty == "OKP" and jwk.get("crv") == "Ed25519":
        ed25519.Ed25519PublicKey.from_public_bytes(_b64(str(jwk["x"]))).verify(signature, data)
    else:
        raise ValueError("the key does not fit the algorithm")


def verify_signature(token: Token, keys: Sequence[Mapping[str, Any]]) -> None:
    """`InvalidToken` unless one of `keys` (JWKs; the one with the token's `kid` if it names
    one) signed the token. `alg: none` and HMAC algorithms are refused."""
    alg = str(token.header.get("alg") or "")
    if alg == "none" or alg.startswith("HS") or not alg:
        raise InvalidToken(f"the token's algorithm {alg or 'none'!r} is not accepted")
    kid = token.header.get("kid")
    candidates = [k for k in keys if kid is None or k.get("kid") == kid]
    candidates = [k for k in candidates if k.get("use") in (None, "sig")
                  and k.get("alg") in (None, alg)]
    if not candidates:
        raise InvalidToken("no signing key of the issuer matches the token")
    for jwk in candidates:
        try:
            _verify_with(alg, jwk, token.signing_input, token.signature)
            return
        except (InvalidSignature, ValueError, KeyError, TypeError):
            continue
    raise InvalidToken("the token's signature does not verify")


def _number(claims: Mapping[str, Any], key: str) -> float | None:
    value = claims.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidToken(f"the token's {key} is not a number")
    return float(value)


def check_claims(claims: Mapping[str, Any], issuer: str, audience: str, now: float) -> None:
    """`InvalidToken` unless the token is from `issuer`, for `audience`, and current."""
    if claims.get("iss") != issuer:
        raise InvalidToken("the token's issuer is not the provider's")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise InvalidToken(f"the token is not issued for the audience {audience!r}")
    expires = _number(claims, "exp")
    if expires is None:
        raise InvalidToken("the token has no expiry (exp)")
    if expires + LEEWAY < now:
        raise InvalidToken("the token has expired")
    not_before = _number(claims, "nbf")
    if not_before is not None and not_before - LEEWAY > now:
        raise InvalidToken("the token is not valid yet (nbf)")


@dataclass(frozen=True)
class Rules:
    """An issuer's compiled variables (name, program) and validations (program, message)."""

    variables: tuple[tuple[str, Any], ...]
    validations: tuple[tuple[Any, str], ...]


def compile_rules(provider: Mapping[str, Any], where: str) -> Rules:
    """The issuer's CEL, compiled; `CELError` naming the field of one that does not."""
    variables = []
    for i, var in enumerate(provider.get("variables") or ()):
        try:
            variables.append((str(var.get("name")), compile_expression(
                str(var.get("expression") or ""), ("claims", "vars"))))
        except CELError as err:
            raise CELError(f"{where}.variables[{i}].expression: {err}") from None
    validations = []
    for i, rule in enumerate(provider.get("validations") or ()):
        try:
            validations.append((compile_expression(str(rule.get("expression") or ""),
                                                   ("claims", "vars")),
                                str(rule.get("message") or "validation failed")))
        except CELError as err:
            raise CELError(f"{where}.validations[{i}].expression: {err}") from None
    return Rules(tuple(variables), tuple(validations))


def check_rules(rules: Rules, claims: Mapping[str, Any]) -> None:
    """`InvalidToken` with the message of the first validation the claims fail (or of an
    expression that cannot be evaluated for them)."""
    from celpy import celtypes  # noqa: PLC0415

    values: dict[str, Any] = {}
    try:
        for name, program in rules.variables:
            values[name] = evaluate(program, {"claims": dict(claims),
                                              "vars": celtypes.MapType(values)})
        for program, message in rules.validations:
            if not evaluate_bool(program, {"claims": dict(claims),
                                           "vars": celtypes.MapType(values)}):
                raise InvalidToken(message)
    except CELError as err:
        raise InvalidToken(f"a CEL expression failed: {err}") from None


def usable_keys(jwks: Any) -> list[dict[str, Any]]:
    """The keys (JSON objects) of a key set document; `InvalidToken` if it has none or more
    than `MAX_KEYS` entries."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise InvalidToken("the issuer's key set has no keys")
    if len(keys) > MAX_KEYS:
        raise InvalidToken(f"the issuer's key set has {len(keys)} keys, more than {MAX_KEYS}")
    return [k for k in keys if isinstance(k, dict)]


class IssuerKeys:
    """The signing keys of each issuer, fetched through discovery and cached."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._clock = clock
        self._ssl = ssl_context
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._failed: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def _get_json(self, session: aiohttp.ClientSession, url: str, what: str) -> Any:
        async with session.get(url, allow_redirects=False,
                               headers={"Accept-Encoding": "identity"}) as response:
            if response.status != 200:
                raise InvalidToken(f"the issuer's {what} answered {response.status}")
            try:
                data = await read_body(response, MAX_DOCUMENT, _READ_CHUNK)
            except BodyTooLarge:
                raise InvalidToken(f"the issuer's {what} is larger than {MAX_DOCUMENT} bytes"
                                   ) from None
        try:
            return json.loads(data)
        except ValueError:
            raise InvalidToken(f"the issuer's {what} is not JSON") from None

    async def _fetch(self, issuer: str) -> list[dict[str, Any]]:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
        connector = aiohttp.TCPConnector(ssl=self._ssl)
        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                             auto_decompress=False) as session:
                url = issuer.rstrip("/") + "/.well-known/openid-configuration"
                discovery = await self._get_json(session, url, "discovery document")
                if not isinstance(discovery, dict) or discovery.get("issuer") != issuer:
                    raise InvalidToken("the issuer's discovery document names another issuer")
                jwks_uri = str(discovery.get("jwks_uri") or "")
                if not jwks_uri.startswith(("https://", "http://")):
                    raise InvalidToken("the issuer's discovery document has no jwks_uri")
                jwks = await self._get_json(session, jwks_uri, "key set")
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise InvalidToken(f"the issuer's keys could not be fetched: "
                               f"{type(err).__name__}") from None
        return usable_keys(jwks)

    async def keys(self, issuer: str, kid: str | None = None) -> list[dict[str, Any]]:
        """The issuer's keys; refetched when stale, or when none has `kid` (rate-limited)."""
        lock = self._locks.setdefault(issuer, asyncio.Lock())
        async with lock:
            now = self._clock()
            cached = self._cache.get(issuer)
            if cached is not None:
                fetched, keys = cached
                known = kid is None or any(k.get("kid") == kid for k in keys)
                if now - fetched < CACHE_FOR and (known or now - fetched < MIN_REFRESH):
                    return keys
            failed = self._failed.get(issuer)
            if failed is not None and self._clock() - failed[0] < FAILURE_HOLD:
                raise InvalidToken(failed[1])
            try:
                keys = await self._fetch(issuer)
            except InvalidToken as err:
                self._failed[issuer] = (self._clock(), str(err))
                raise
            self._failed.pop(issuer, None)
            self._cache[issuer] = (now, keys)
            return keys


#: Google's issuer, whose ID tokens authenticate Pub/Sub pushes to gcr Receivers
GOOGLE_ISSUER = "https://accounts.google.com"
_GOOGLE_ISSUERS = ("accounts.google.com", GOOGLE_ISSUER)


async def authenticate_google(authorization: str, email: str, audience: str,
                              keys: IssuerKeys, now: float,
                              issuer_url: str = GOOGLE_ISSUER) -> dict[str, Any]:
    """A gcr Receiver's call: a Google ID token (`Authorization: Bearer`) signed by one of
    the issuer's keys, for `audience`, issued by `accounts.google.com` (with or without the
    scheme), whose `email` is the Secret's and verified. `issuer_url` is where the keys are
    found (Google's; another only for a local stand-in of it)."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken("the Authorization header must be 'Bearer <ID token>'")
    token = parse_token(value.strip())
    issuer = token.claims.get("iss")
    if issuer not in (*_GOOGLE_ISSUERS, issuer_url):
        raise InvalidToken("the token is not issued by accounts.google.com")
    verify_signature(token, await keys.keys(issuer_url, token.header.get("kid")))
    check_claims(token.claims, str(issuer), audience, now)
    if token.claims.get("email") != email or token.claims.get("email_verified") is not True:
        raise InvalidToken("the token's email is not the Secret's 'email', or not verified")
    return dict(token.claims)


async def authenticate(issuers: Sequence[Mapping[str, Any]], authorization: str,
                       keys: IssuerKeys, now: float) -> dict[str, Any]:
    """The verified claims of the call's bearer token; `InvalidToken` otherwise."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise InvalidToken("the Authorization header must be 'Bearer <ID token>'")
    token = parse_token(value.strip())
    issuer_url = token.claims.get("iss")
    chosen = [(i, p) for i, p in enumerate(issuers) if p.get("issuerURL") == issuer_url]
    if not chosen:
        raise InvalidToken("the token's issuer is not one of spec.oidcProviders")
    index, provider = chosen[0]
    signing_keys = await keys.keys(str(issuer_url), token.header.get("kid"))
    verify_signature(token, signing_keys)
    check_claims(token.claims, str(issuer_url),
                 str(provider.get("audience") or DEFAULT_AUDIENCE), now)
    try:
        rules = compile_rules(provider, f"spec.oidcProviders[{index}]")
    except CELError as err:
        raise InvalidToken(str(err)) from None
    check_rules(rules, token.claims)
    return dict(token.claims)
