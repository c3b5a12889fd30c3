"""dockerconfigjson Secrets -> registry credentials."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from afflux.controllers.runtime._dockerconfig import (
    DockerConfigError,
    RegistryCredentials,
    credentials_for,
    normalize_registry_key,
    parse_docker_config,
    parse_docker_config_secret,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret_data(auths: dict[str, Any], key: str = ".dockerconfigjson") -> dict[str, str]:
    doc: Any = auths if key == ".dockercfg" else {"auths": auths}
    return {key: b64(json.dumps(doc))}


LOOKUPS = [
    # (id, auths, host, expected (username, password) or None)
    ("auth-field", {"ghcr.io": {"auth": b64("bot:s3cret")}}, "ghcr.io", ("bot", "s3cret")),
    (
        "username-password-fields",
        {"ghcr.io": {"username": "u", "password": "p"}},
        "ghcr.io",
        ("u", "p"),
    ),
    ("password-with-colon", {"ghcr.io": {"auth": b64("u:p:q")}}, "ghcr.io", ("u", "p:q")),
    ("host-with-port", {"127.0.0.1:5000": {"auth": b64("a:b")}}, "127.0.0.1:5000", ("a", "b")),
    ("port-must-match", {"127.0.0.1:5000": {"auth": b64("a:b")}}, "127.0.0.1:5001", None),
    ("https-url-key", {"https://ghcr.io": {"auth": b64("a:b")}}, "ghcr.io", ("a", "b")),
    (
        "url-key-with-path",
        {"https://reg.example.com/v2/": {"auth": b64("a:b")}},
        "reg.example.com",
        ("a", "b"),
    ),
    ("case-insensitive-host", {"GHCR.IO": {"auth": b64("a:b")}}, "ghcr.io", ("a", "b")),
    (
        "docker-hub-legacy-key",
        {"https://index.docker.io/v1/": {"auth": b64("a:b")}},
        "docker.io",
        ("a", "b"),
    ),
    (
        "docker-hub-legacy-key-api-host",
        {"https://index.docker.io/v1/": {"auth": b64("a:b")}},
        "registry-1.docker.io",
        ("a", "b"),
    ),
    ("docker-hub-short-key", {"docker.io": {"auth": b64("a:b")}}, "index.docker.io", ("a", "b")),
    ("other-host", {"ghcr.io": {"auth": b64("a:b")}}, "quay.io", None),
    ("no-subdomain-match", {"example.com": {"auth": b64("a:b")}}, "reg.example.com", None),
]


@pytest.mark.parametrize(
    ("auths", "host", "expected"), [c[1:] for c in LOOKUPS], ids=[c[0] for c in LOOKUPS]
)
def test_credentials_for_host(
    auths: dict[str, Any], host: str, expected: tuple[str, str] | None
) -> None:
    config = parse_docker_config_secret(secret_data(auths))
    creds = credentials_for(config, host)
    if expected is None:
        assert creds is None
    else:
        assert creds is not None
        assert (creds.username, creds.password) == expected


def test_legacy_dockercfg_key() -> None:
    config = parse_docker_config_secret(
        secret_data({"ghcr.io": {"auth": b64("a:b")}}, ".dockercfg")
    )
    assert config.for_host("ghcr.io") == RegistryCredentials("a", "b")


def test_decoded_values_and_tokens() -> None:
    raw = json.dumps({"auths": {"r.io": {"identitytoken": "refresh", "registrytoken": "bearer"}}})
    config = parse_docker_config_secret({".dockerconfigjson": raw}, base64_values=False)
    creds = config.for_host("r.io")
    assert creds is not None
    assert (creds.identity_token, creds.registry_token, creds.anonymous) == (
        "refresh",
        "bearer",
        False,
    )


def test_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(RegistryCredentials("bot", "s3cret"))


BROKEN = [
    ("no-known-key", {"config.json": b64("{}")}, "neither '.dockerconfigjson' nor '.dockercfg'"),
    ("not-base64", {".dockerconfigjson": "%%%"}, "is not base64"),
    ("not-json", {".dockerconfigjson": b64("{nope")}, "not valid JSON"),
    (
        "auths-not-object",
        {".dockerconfigjson": b64('{"auths": []}')},
        "'auths' in the Docker config is not an object",
    ),
    ("auth-not-base64", secret_data({"r.io": {"auth": "%%%"}}), "'auth' is not base64"),
    ("auth-without-colon", secret_data({"r.io": {"auth": b64("justuser")}}), "no ':' found"),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_secrets_say_what_is_wrong(data: dict[str, str], message: str) -> None:
    with pytest.raises(DockerConfigError) as info:
        parse_docker_config_secret(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("docker.io", "index.docker.io"),
        ("http://Reg.Example:5000/path", "reg.example:5000"),
        ("ghcr.io", "ghcr.io"),
    ],
    ids=["hub-legacy", "hub-short", "url-with-port-and-path", "bare-host"],
)
def test_normalize_registry_key(key: str, expected: str) -> None:
    assert normalize_registry_key(key) == expected


def test_parse_docker_config_without_auths_is_empty() -> None:
    assert parse_docker_config('{"credsStore": "desktop"}').auths == {}
