"""Image name canonicalisation (`spec.image` -> `status.canonicalImageName`)."""

from __future__ import annotations

import pytest

from afflux.api._meta import IMAGE_URL_INVALID
from afflux.controllers.image_reflector._imagename import ImageURLInvalid, parse_image
from afflux.controllers.runtime._errors import StallingError

CANONICAL = [
    ("alpine", "index.docker.io", "library/alpine", "https://registry-1.docker.io"),
    (
        "stefanprodan/podinfo",
        "index.docker.io",
        "stefanprodan/podinfo",
        "https://registry-1.docker.io",
    ),
    ("docker.io/alpine", "index.docker.io", "library/alpine", "https://registry-1.docker.io"),
    (
        "docker.io/library/alpine",
        "index.docker.io",
        "library/alpine",
        "https://registry-1.docker.io",
    ),
    ("index.docker.io/org/app", "index.docker.io", "org/app", "https://registry-1.docker.io"),
    ("registry-1.docker.io/org/app", "index.docker.io", "org/app", "https://registry-1.docker.io"),
    ("ghcr.io/org/app", "ghcr.io", "org/app", "https://ghcr.io"),
    ("ghcr.io/app", "ghcr.io", "app", "https://ghcr.io"),
    ("GHCR.io/org/app", "ghcr.io", "org/app", "https://ghcr.io"),
    ("localhost:5000/app", "localhost:5000", "app", "https://localhost:5000"),
    ("localhost/app", "localhost", "app", "https://localhost"),
    ("127.0.0.1:5000/x", "127.0.0.1:5000", "x", "https://127.0.0.1:5000"),
    ("[::1]:5000/x/y", "[::1]:5000", "x/y", "https://[::1]:5000"),
    ("reg.example.com/a/b/c", "reg.example.com", "a/b/c", "https://reg.example.com"),
    ("example.com/a.b_c__d-e--f", "example.com", "a.b_c__d-e--f", "https://example.com"),
    ("  ghcr.io/org/app  ", "ghcr.io", "org/app", "https://ghcr.io"),
]


@pytest.mark.parametrize(
    ("image", "registry", "repository", "api"), CANONICAL, ids=[c[0].strip() for c in CANONICAL]
)
def test_canonical_names(image: str, registry: str, repository: str, api: str) -> None:
    name = parse_image(image)
    assert (name.registry, name.repository) == (registry, repository)
    assert name.canonical == f"{registry}/{repository}"
    assert name.api_base() == api
    assert name.api_base(insecure=True) == api.replace("https://", "http://")


INVALID = [
    ("scheme", "https://ghcr.io/org/app", "remove 'https://'"),
    ("oci-scheme", "oci://ghcr.io/org/app", "remove 'oci://'"),
    ("tag", "ghcr.io/org/app:1.0", "should not include a tag; remove ':1.0'"),
    ("tag-on-hub-name", "alpine:3.19", "remove ':3.19'"),
    ("tag-with-port", "localhost:5000/app:latest", "remove ':latest'"),
    ("digest", "alpine@sha256:" + "a" * 64, "should not include a digest"),
    ("uppercase-path", "ghcr.io/Org/app", "must be lowercase"),
    ("empty", "", "spec.image is empty"),
    ("registry-only", "ghcr.io/", "no repository"),
    ("double-slash", "ghcr.io/org//app", "empty path component"),
    ("bad-char", "ghcr.io/org/app!", "not a valid repository path component"),
    ("bad-separator", "ghcr.io/org/-app", "not a valid repository path component"),
    ("bad-port", "localhost:99999/app", "not a valid port"),
    ("bad-host", "bad_host.io/app", "not a valid host name"),
    ("whitespace", "ghcr.io/org app", "whitespace"),
]


@pytest.mark.parametrize(
    ("image", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_images_are_stalling_errors(image: str, expected: str) -> None:
    with pytest.raises(ImageURLInvalid) as info:
        parse_image(image)
    assert expected in info.value.message
    assert isinstance(info.value, StallingError)
    assert info.value.reason == IMAGE_URL_INVALID


def test_with_tag_uses_the_canonical_name() -> None:
    assert parse_image("alpine").with_tag("3.19") == "index.docker.io/library/alpine:3.19"
