"""generic-oidc and gcr Receivers' token checks: the signature against the issuer's keys,
the issuer, audience and times, the CEL variables and validations over the claims, gcr's
email and its Pub/Sub payload."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from typing import Any

import pytest

from afflux.controllers.notification import _oidc
from afflux.controllers.notification._cel import CELError
from afflux.controllers.notification._oidc import (
    GOOGLE_ISSUER,
    InvalidToken,
    IssuerKeys,
    authenticate_google,
    check_claims,
    check_rules,
    compile_rules,
    parse_token,
    usable_keys,
    verify_signature,
)
from afflux.controllers.notification._receivers import Unauthorized, gcr_payload
from harness.oidc import Signer, b64url

ISSUER = "https://issuer.test"
RSA = Signer("rsa-1")
EC = Signer("ec-1", "ES256")
KEYS = [RSA.jwk, EC.jwk]
NOW = time.time()


def claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISSUER, "aud": "notification-controller", "sub": "ci",
            "exp": int(NOW) + 300, **extra}


@pytest.mark.parametrize("signer", [RSA, EC], ids=["RS256", "ES256"])
def test_signature_verifies(signer: Signer) -> None:
    verify_signature(parse_token(signer.sign(claims())), KEYS)


def _tampered() -> str:
    head, _, sig = RSA.sign(claims()).split(".")
    return f"{head}.{b64url(json.dumps(claims(sub='admin')).encode())}.{sig}"


@pytest.mark.parametrize(("token", "why"), [
    (Signer("rsa-1").sign(claims()), "signature does not verify"),  # same kid, other key
    (Signer("other").sign(claims()), "no signing key"),
    (_tampered(), "signature does not verify"),
    (RSA.sign(claims(), {"alg": "none"}), "'none' is not accepted"),
    (RSA.sign(claims(), {"alg": "HS256"}), "'HS256' is not accepted"),
], ids=["wrong-key", "unknown-kid", "tampered-claims", "alg-none", "hmac"])
def test_bad_signatures_are_refused(token: str, why: str) -> None:
    with pytest.raises(InvalidToken, match=why):
        verify_signature(parse_token(token), KEYS)


@pytest.mark.parametrize(("text", "why"), [
    ("abc", "three dot-separated parts"),
    (f"{b64url(b'{}')}.{b64url(b'not json')}.c", "not JSON"),
    ("x" * 300_000, "too large"),
], ids=["one-part", "not-json", "huge"])
def test_not_a_token(text: str, why: str) -> None:
    with pytest.raises(InvalidToken, match=why):
        parse_token(text)


@pytest.mark.parametrize(("values", "audience", "why"), [
    (claims(), "notification-controller", None),
    (claims(aud=["x", "notification-controller"]), "notification-controller", None),
    (claims(), "other", "not issued for the audience 'other'"),
    (claims(iss="https://evil.test"), "notification-controller", "issuer is not"),
    (claims(exp=int(NOW) - 120), "notification-controller", "expired"),
    ({k: v for k, v in claims().items() if k != "exp"}, "notification-controller", "no expiry"),
    (claims(exp="soon"), "notification-controller", "exp is not a number"),
    (claims(nbf=int(NOW) + 600), "notification-controller", "not valid yet"),
    (claims(exp=int(NOW) - 30), "notification-controller", None),  # within the leeway
], ids=["ok", "aud-list", "wrong-audience", "wrong-issuer", "expired", "no-exp", "exp-string",
        "not-yet", "leeway"])
def test_claims(values: dict[str, Any], audience: str, why: str | None) -> None:
    if why is None:
        check_claims(values, ISSUER, audience, NOW)
    else:
        with pytest.raises(InvalidToken, match=why):
            check_claims(values, ISSUER, audience, NOW)


PROVIDER = {
    "issuerURL": ISSUER,
    "variables": [{"name": "owner", "expression": "claims.repository_owner"},
                  {"name": "allowed", "expression": "[vars.owner + '/a', vars.owner + '/b']"}],
    "validations": [{"expression": "vars.owner == 'acme'", "message": "wrong org"},
                    {"expression": "claims.repository in vars.allowed",
                     "message": "repo not in allowlist"}],
}


@pytest.mark.parametrize(("values", "why"), [
    ({"repository_owner": "acme", "repository": "acme/a"}, None),
    ({"repository_owner": "evil", "repository": "evil/a"}, "wrong org"),
    ({"repository_owner": "acme", "repository": "acme/c"}, "repo not in allowlist"),
    ({"repository": "acme/a"}, "a CEL expression failed"),
], ids=["allowed", "wrong-org", "not-listed", "claim-missing"])
def test_rules(values: dict[str, Any], why: str | None) -> None:
    rules = compile_rules(PROVIDER, "spec.oidcProviders[0]")
    if why is None:
        check_rules(rules, values)
    else:
        with pytest.raises(InvalidToken, match=why):
            check_rules(rules, values)


@pytest.mark.parametrize(("provider", "field"), [
    ({"validations": [{"expression": "claims.(", "message": "m"}]}, "validations[0]"),
    ({"variables": [{"name": "v", "expression": "req.x"}], "validations": []}, "variables[0]"),
], ids=["parse-error", "undeclared-req"])
def test_rules_that_do_not_compile_name_their_field(provider: dict[str, Any],
                                                    field: str) -> None:
    with pytest.raises(CELError, match=re.escape(f"spec.oidcProviders[0].{field}")):
        compile_rules(provider, "spec.oidcProviders[0]")


# --- gcr: Google's ID tokens -------------------------------------------------------------------


class KnownKeys(IssuerKeys):
    """The issuer's keys without fetching them (the fetch is covered by the integration
    tests against a local issuer)."""

    async def _fetch(self, issuer: str) -> list[dict[str, Any]]:
        assert issuer == GOOGLE_ISSUER
        return KEYS


def google(**extra: Any) -> dict[str, Any]:
    return {"iss": "accounts.google.com", "aud": "https://hooks.test/hook/abc",
            "email": "pusher@p.iam.gserviceaccount.com", "email_verified": True,
            "exp": int(NOW) + 300, **extra}


@pytest.mark.parametrize(("values", "why"), [
    (google(), None),
    (google(iss=GOOGLE_ISSUER), None),
    (google(email="other@p.iam.gserviceaccount.com"), "email"),
    (google(email_verified=False), "email"),
    (google(aud="https://elsewhere.test"), "audience"),
    (google(iss="https://issuer.test"), "not issued by accounts.google.com"),
], ids=["ok", "ok-with-scheme", "other-email", "unverified-email", "other-audience",
        "other-issuer"])
def test_google_tokens(values: dict[str, Any], why: str | None) -> None:
    async def run() -> dict[str, Any]:
        return await authenticate_google(f"Bearer {RSA.sign(values)}",
                                         "pusher@p.iam.gserviceaccount.com",
                                         "https://hooks.test/hook/abc", KnownKeys(), NOW)
    if why is None:
        assert asyncio.run(run())["email"] == values["email"]
    else:
        with pytest.raises(InvalidToken, match=why):
            asyncio.run(run())


@pytest.mark.parametrize(("body", "event"), [
    (json.dumps({"message": {"data": base64.b64encode(b'{"action": "INSERT", "tag": "t"}')
                             .decode()}}).encode(), {"action": "INSERT", "tag": "t"}),
    (b'{"message": {"data": "not base64!"}}', None),
    (b'{"message": {}}', None),
    (b"[]", None),
], ids=["push", "bad-base64", "no-data", "not-an-object"])
def test_gcr_payload(body: bytes, event: dict[str, Any] | None) -> None:
    if event is not None:
        assert gcr_payload(body) == event
    else:
        with pytest.raises(Unauthorized):
            gcr_payload(body)


@pytest.mark.parametrize(("jwks", "count", "why"), [
    ({"keys": KEYS}, 2, None),
    ({"keys": [*KEYS, "not-a-key", 3]}, 2, None),
    ({"keys": [EC.jwk] * _oidc.MAX_KEYS}, _oidc.MAX_KEYS, None),
    ({"keys": [EC.jwk] * (_oidc.MAX_KEYS + 1)}, 0, f"more than {_oidc.MAX_KEYS}"),
    ({"keys": [EC.jwk] * 5000}, 0, "5000 keys"),
    ({"keys": {"a": 1}}, 0, "no keys"),
    ([], 0, "no keys"),
], ids=["two", "non-objects-dropped", "at-the-limit", "one-too-many", "thousands",
        "keys-not-a-list", "not-an-object"])
def test_usable_keys(jwks: Any, count: int, why: str | None) -> None:
    if why is None:
        assert len(usable_keys(jwks)) == count
    else:
        with pytest.raises(InvalidToken, match=why):
            usable_keys(jwks)


class FailingIssuer(IssuerKeys):
    """Whose fetch fails (counted), on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(clock=lambda: self.now)
        self.fetches = 0

    async def _fetch(self, issuer: str) -> list[dict[str, Any]]:
        self.fetches += 1
        raise InvalidToken("the issuer's keys could not be fetched: TimeoutError")


def test_a_failed_fetch_is_held_then_tried_again() -> None:
    keys = FailingIssuer()

    async def attempt() -> str:
        with pytest.raises(InvalidToken) as err:
            await keys.keys(ISSUER)
        return str(err.value)
    assert asyncio.run(attempt()).endswith("TimeoutError")
    for _ in range(3):  # within the hold: the same answer, no new fetch
        assert asyncio.run(attempt()).endswith("TimeoutError")
    assert keys.fetches == 1
    keys.now += _oidc.FAILURE_HOLD
    asyncio.run(attempt())
    assert keys.fetches == 2
