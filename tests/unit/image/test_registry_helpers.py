"""Registry protocol details that need no network: challenges, pagination links,
exclusion lists, TLS material from a Secret."""

from __future__ import annotations

import base64

import pytest

from afflux.controllers.image_reflector._registry import (
    AuthenticationFailed,
    ExclusionListInvalid,
    TLSConfig,
    exclude_tags,
    parse_link_next,
    parse_www_authenticate,
    tls_from_secret,
)
from afflux.controllers.runtime._errors import GenericError, StallingError

CHALLENGES = [
    (
        "docker-hub-bearer",
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
        (
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/alpine:pull",
            },
        ),
    ),
    (
        "comma-inside-quoted-scope",
        'Bearer realm="https://a/t",scope="repository:x:pull,push"',
        ("bearer", {"realm": "https://a/t", "scope": "repository:x:pull,push"}),
    ),
    ("basic-realm", 'Basic realm="afflux-registry"', ("basic", {"realm": "afflux-registry"})),
    (
        "spaces-after-commas",
        'Bearer realm="r", service="s"',
        ("bearer", {"realm": "r", "service": "s"}),
    ),
    ("unquoted-values", "Bearer realm=r,service=s", ("bearer", {"realm": "r", "service": "s"})),
    ("escaped-quote", 'Basic realm="a \\"b\\""', ("basic", {"realm": 'a "b"'})),
]


@pytest.mark.parametrize(
    ("header", "expected"), [c[1:] for c in CHALLENGES], ids=[c[0] for c in CHALLENGES]
)
def test_parse_www_authenticate(header: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_www_authenticate(header) == expected


LINKS = [
    (
        "distribution",
        '</v2/app/tags/list?last=t9&n=10>; rel="next"',
        "/v2/app/tags/list?last=t9&n=10",
    ),
    (
        "absolute",
        '<https://r.io/v2/a/tags/list?n=5&last=x>; rel="next"',
        "https://r.io/v2/a/tags/list?n=5&last=x",
    ),
    ("other-rel-first", '</prev>; rel="prev", </next>; rel="next"', "/next"),
    ("unquoted-rel", "</n>; rel=next", "/n"),
    ("no-next", '</prev>; rel="prev"', None),
    ("absent", None, None),
]


@pytest.mark.parametrize(("header", "expected"), [c[1:] for c in LINKS], ids=[c[0] for c in LINKS])
def test_parse_link_next(header: str | None, expected: str | None) -> None:
    assert parse_link_next(header) == expected


EXCLUSIONS = [
    (
        "default-drops-signatures",
        ["^.*\\.sig$"],
        ["1.0.0", "sha256-abc.sig", "sig"],
        ["1.0.0", "sig"],
    ),
    (
        "flux-doc-example",
        ["^.*\\.sig$", "1.0.2", "1.1.1|1.0.0"],
        ["1.0.0", "1.0.1", "1.0.2", "1.1.1", "2.0.0"],
        ["1.0.1", "2.0.0"],
    ),
    ("search-not-anchored", ["rc"], ["1.0.0-rc.1", "1.0.0"], ["1.0.0"]),
    ("empty-list-keeps-all", [], ["a", "b"], ["a", "b"]),
]


@pytest.mark.parametrize(
    ("patterns", "tags", "kept"), [c[1:] for c in EXCLUSIONS], ids=[c[0] for c in EXCLUSIONS]
)
def test_exclude_tags(patterns: list[str], tags: list[str], kept: list[str]) -> None:
    assert exclude_tags(tags, patterns) == kept


def test_invalid_exclusion_pattern_stalls_and_names_it() -> None:
    with pytest.raises(ExclusionListInvalid) as info:
        exclude_tags(["a"], ["^ok$", "(broken"])
    assert isinstance(info.value, StallingError)
    assert "spec.exclusionList[1]" in info.value.message


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_tls_from_secret_reads_pem_values() -> None:
    tls = tls_from_secret({"ca.crt": b64(b"CA"), "tls.crt": b64(b"CRT"), "tls.key": b64(b"KEY")})
    assert tls == TLSConfig(b"CA", b"CRT", b"KEY")
    assert "KEY" not in repr(tls)


def test_tls_from_secret_deprecated_keys_and_decoded_values() -> None:
    assert tls_from_secret({"caFile": "CA"}, base64_values=False) == TLSConfig(b"CA")


@pytest.mark.parametrize(
    "data",
    [{"tls.crt": b64(b"CRT")}, {"tls.key": b64(b"KEY")}],
    ids=["cert-without-key", "key-without-cert"],
)
def test_client_certificate_needs_both_halves(data: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed, match="'tls.crt' and 'tls.key' must both be set") as info:
        tls_from_secret(data)
    assert isinstance(info.value, GenericError)


def test_unusable_ca_is_an_authentication_failure() -> None:
    with pytest.raises(AuthenticationFailed, match="'ca.crt' must be a PEM CA certificate"):
        TLSConfig(
            ca_pem=b"-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n"
        ).ssl_context()
