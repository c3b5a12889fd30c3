"""The well-known keys of a Secret's data (`runtime._secretkeys`): decoding, TLS, auth and
proxy keys, and errors that name keys but never quote a value."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from afflux.controllers.runtime import (
    AuthKeys,
    ProxyKeys,
    SecretKeyError,
    TLSKeys,
    auth_keys,
    decode_secret,
    proxy_keys,
    secret_text,
    tls_keys,
)

SECRET = "s3cr3t-value"


def b64(value: str | bytes) -> str:
    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()


@pytest.mark.parametrize(("data", "expected", "error"), [
    ({"a": b64("x"), "b": ""}, {"a": b"x", "b": b""}, None),
    ({}, {}, None),
    (None, {}, None),
    ({"password": f"{SECRET}%%"}, None, "key 'password' is not valid base64"),
], ids=["values", "empty", "none", "not-base64"])
def test_decode(data: Any, expected: dict[str, bytes] | None, error: str | None) -> None:
    if error is None:
        assert decode_secret(data) == expected
    else:
        with pytest.raises(SecretKeyError, match=error) as err:
            decode_secret(data)
        assert SECRET not in str(err.value)


@pytest.mark.parametrize(("data", "key", "expected"), [
    ({"k": b"v"}, "k", "v"),
    ({"k": "v"}, "k", "v"),
    ({"k": b""}, "k", None),
    ({}, "k", None),
], ids=["bytes", "str", "empty", "absent"])
def test_text(data: dict[str, Any], key: str, expected: str | None) -> None:
    assert secret_text(data, key) == expected


def test_text_that_is_not_utf8_is_named_not_quoted() -> None:
    with pytest.raises(SecretKeyError, match="key 'k' is not UTF-8 text"):
        secret_text({"k": b"\xff\xfe" + SECRET.encode()}, "k")


@pytest.mark.parametrize(("data", "legacy", "expected"), [
    ({"ca.crt": b"CA"}, False, TLSKeys(b"CA")),
    ({"ca.crt": "CA", "tls.crt": "C", "tls.key": "K"}, False, TLSKeys(b"CA", b"C", b"K")),
    ({"tls.crt": b"C", "tls.key": b"K"}, False, TLSKeys(None, b"C", b"K")),
    ({}, False, TLSKeys()),
    ({"caFile": b"CA", "certFile": b"C", "keyFile": b"K"}, True, TLSKeys(b"CA", b"C", b"K")),
    ({"caFile": b"CA"}, False, TLSKeys()),
    ({"ca.crt": b"new", "caFile": b"old"}, True, TLSKeys(b"new")),
    ({"ca.crt": b"", "caFile": b"old"}, True, TLSKeys(b"old")),
], ids=["ca-only", "all-three-as-text", "client-cert-only", "nothing", "legacy-keys",
        "legacy-keys-not-read-by-default", "new-key-wins", "empty-new-key-falls-back"])
def test_tls_keys(data: dict[str, Any], legacy: bool, expected: TLSKeys) -> None:
    assert tls_keys(data, legacy=legacy) == expected


@pytest.mark.parametrize("data", [
    {"tls.crt": b"C"}, {"tls.key": SECRET.encode()}, {"certFile": b"C", "tls.key": b"K"},
], ids=["cert-without-key", "key-without-cert", "legacy-cert-new-key"])
def test_a_client_certificate_needs_both_halves(data: dict[str, bytes]) -> None:
    with pytest.raises(SecretKeyError, match="'tls.crt' and 'tls.key' must both be set") as err:
        tls_keys(data, legacy="certFile" not in data)
    assert SECRET not in str(err.value)


def test_tls_keys_never_show_in_their_repr() -> None:
    assert SECRET not in repr(tls_keys({"tls.crt": b"C", "tls.key": SECRET.encode()}))


@pytest.mark.parametrize(("data", "expected"), [
    ({"username": b"u", "password": b"p"}, AuthKeys("u", "p")),
    ({"bearerToken": b"b"}, AuthKeys(bearer_token="b")),
    ({"token": b"t", "username": b""}, AuthKeys(token="t")),
    ({"ca.crt": b"CA"}, AuthKeys()),
], ids=["basic", "bearer", "token-and-empty-username", "none"])
def test_auth_keys(data: dict[str, bytes], expected: AuthKeys) -> None:
    assert auth_keys(data) == expected


@pytest.mark.parametrize(("data", "schemes", "url"), [
    ({"address": b"http://proxy:3128"}, ("http", "https"), "http://proxy:3128"),
    ({"address": b" http://proxy:3128\n", "username": b"u", "password": b"p@ss"},
     ("http", "https"), "http://u:p%40ss@proxy:3128"),
    ({"address": b"https://old:x@proxy", "username": b"u"}, ("http", "https"),
     "https://u@proxy"),
    ({"address": b"http://[::1]:3128", "username": b"u", "password": b"p"},
     ("http", "https"), "http://u:p@[::1]:3128"),
    ({"address": b"socks5://proxy:1080"}, ("http", "https", "socks5"), "socks5://proxy:1080"),
], ids=["address-only", "with-credentials", "replaces-userinfo", "ipv6", "socks5-allowed"])
def test_proxy_url(data: dict[str, bytes], schemes: tuple[str, ...], url: str) -> None:
    assert proxy_keys(data, schemes=schemes).url() == url


@pytest.mark.parametrize(("data", "error"), [
    ({}, "'address' key is missing"),
    ({"address": b"  "}, "'address' key is missing"),
    ({"address": f"proxy-{SECRET}:3128".encode()}, "must be a URL with a host"),
    ({"address": f"socks5://u:{SECRET}@proxy:1080".encode()}, "http://, https://"),
    ({"address": f"http://u:{SECRET}@[::1".encode()}, "must be a URL with a host"),
], ids=["missing", "blank", "no-scheme", "scheme-not-allowed", "unparsable"])
def test_a_bad_proxy_address_is_named_not_quoted(data: dict[str, bytes], error: str) -> None:
    with pytest.raises(SecretKeyError, match=error) as err:
        proxy_keys(data)
    assert SECRET not in str(err.value)


def test_proxy_keys_repr_hides_the_password() -> None:
    keys = proxy_keys({"address": b"http://p", "username": b"u", "password": SECRET.encode()})
    assert keys == ProxyKeys("http://p", "u", SECRET)
    assert SECRET not in repr(keys)
