"""The nats Provider's pure parts: NKey seeds, .creds files, the CONNECT options per
credential kind (Flux's order: creds, nkey, username/password) and the publish request."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from afflux.controllers.notification._nats import (
    NatsAuth,
    NatsError,
    connect_options,
    parse_creds,
    parse_seed,
)
from afflux.controllers.notification._providers import (
    ConfigError,
    ProviderConfig,
    build_request,
)
from harness.nats import user_seed

from .test_providers import EVENT

SEED = user_seed()
CREDS = f"""-----BEGIN NATS USER JWT-----
eyJ0eXAiOiJKV1QifQ.e30.sig
------END NATS USER JWT------

************************* IMPORTANT *************************

-----BEGIN USER NKEY SEED-----
{SEED}
------END USER NKEY SEED------
"""


def test_seed_signs_and_names_its_public_key() -> None:
    key, public = parse_seed(SEED)
    assert public.startswith("U") and len(public) == 56
    raw = base64.b32decode(public + "=" * (-len(public) % 8))
    verifier = ed25519.Ed25519PublicKey.from_public_bytes(raw[1:33])
    verifier.verify(key.sign(b"nonce"), b"nonce")


@pytest.mark.parametrize(("seed", "why"), [
    (SEED[:-2] + ("AA" if SEED[-2:] != "AA" else "BB"), "checksum"),
    ("not base32!", "not base32"),
    (SEED[:10], "malformed"),
], ids=["bad-checksum", "not-base32", "short"])
def test_bad_seeds(seed: str, why: str) -> None:
    with pytest.raises(NatsError, match=why):
        parse_seed(seed)


def test_creds_file() -> None:
    assert parse_creds(CREDS) == ("eyJ0eXAiOiJKV1QifQ.e30.sig", SEED)
    with pytest.raises(NatsError, match="a .creds file"):
        parse_creds("just text")


@pytest.mark.parametrize(("auth", "keys"), [
    (NatsAuth("flux", "pw"), {"user", "pass"}),
    (NatsAuth(nkey_seed=SEED), {"nkey", "sig"}),
    (NatsAuth(nkey_seed=SEED, jwt="j.w.t"), {"jwt", "sig"}),
    (NatsAuth(), set()),
], ids=["password", "nkey", "creds", "none"])
def test_connect_options(auth: NatsAuth, keys: set[str]) -> None:
    options = connect_options(auth, "n0nce")
    credentials = set(options) & {"user", "pass", "nkey", "sig", "jwt"}
    assert credentials == keys
    assert options["verbose"] is False


def test_publish_request_prefers_creds_then_nkey() -> None:
    config = ProviderConfig("nats", "nats://127.0.0.1:4222", channel="flux.events",
                            username="u", password="p", creds=CREDS, nkey="ignored")
    out = build_request(config, EVENT)
    assert out.method == "PUB" and out.nats is not None
    assert out.nats.subject == "flux.events"
    assert out.nats.auth == NatsAuth(jwt="eyJ0eXAiOiJKV1QifQ.e30.sig", nkey_seed=SEED)
    assert json.loads(out.body or b"")["message"] == EVENT["message"]
    assert CREDS in out.secrets


@pytest.mark.parametrize("channel", ["", "has space"], ids=["none", "space"])
def test_publish_needs_a_subject(channel: str) -> None:
    with pytest.raises(ConfigError, match="subject in spec.channel"):
        build_request(ProviderConfig("nats", "nats://n.test", channel=channel), EVENT)
