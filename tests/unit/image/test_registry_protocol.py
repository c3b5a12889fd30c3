"""The registry client's protocol logic against an in-memory registry (no network):
bearer token flow, pagination over Link headers, digests, and error mapping."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from afflux.controllers.image_reflector._imagename import parse_image
from afflux.controllers.image_reflector._registry import (
    MANIFEST_MEDIA_TYPES,
    AuthenticationFailed,
    ReadOperationFailed,
    RegistryClient,
)
from afflux.controllers.runtime._dockerconfig import RegistryCredentials

TAGS = [f"t{i:02d}" for i in range(23)]
REALM = "https://auth.example.test/token"
MANIFEST = b'{"schemaVersion":2}'


@dataclass
class FakeRegistry:
    """A registry with bearer auth (Docker Hub style) and tag pages of `page` tags."""

    page: int = 5
    user: str = "bot"
    password: str = "pw"
    refresh_token: str = "refresh-me"
    send_digest_header: bool = True
    calls: list[tuple[str, str, dict[str, str], bytes | None]] = field(default_factory=list)

    def handle(
        self, method: str, url: str, headers: Mapping[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        self.calls.append((method, url, dict(headers), data))
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if url.startswith(REALM):
            return self.token(method, headers, query, data)
        if headers.get("Authorization") != "Bearer good-token":
            challenge = f'Bearer realm="{REALM}",service="registry.example.test",scope="repository:org/app:pull"'
            return (
                401,
                {"WWW-Authenticate": challenge},
                b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
            )
        if parts.path == "/v2/org/app/tags/list":
            n = int(query.get("n", len(TAGS)))
            start = TAGS.index(query["last"]) + 1 if "last" in query else 0
            chunk = TAGS[start : start + min(n, self.page)]
            out_headers = {}
            if start + len(chunk) < len(TAGS):
                out_headers["Link"] = f'</v2/org/app/tags/list?last={chunk[-1]}&n={n}>; rel="next"'
            return 200, out_headers, json.dumps({"name": "org/app", "tags": chunk}).encode()
        if parts.path == "/v2/org/app/manifests/t01":
            digest = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
            out = {"Docker-Content-Digest": digest} if self.send_digest_header else {}
            return 200, out, b"" if method == "HEAD" else MANIFEST
        return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'

    def token(
        self, method: str, headers: Mapping[str, str], query: dict[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        if method == "POST":
            form = {k: v[0] for k, v in parse_qs((data or b"").decode()).items()}
            ok = (
                form.get("grant_type") == "refresh_token"
                and form.get("refresh_token") == self.refresh_token
            )
        else:
            basic = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            ok = headers.get("Authorization") == f"Basic {basic}"
            ok = (
                ok
                and query.get("scope") == "repository:org/app:pull"
                and query.get("service") == "registry.example.test"
            )
        if not ok:
            return 401, {}, b'{"details":"incorrect username or password"}'
        return 200, {}, json.dumps({"access_token": "good-token"}).encode()


class FakeClient(RegistryClient):
    fake: FakeRegistry

    async def _request(self, method, url, headers=None, data=None):  # type: ignore[override]
        return self.fake.handle(method, url, headers or {}, data)


def client(fake: FakeRegistry, creds: RegistryCredentials | None) -> FakeClient:
    c = FakeClient(parse_image("registry.example.test/org/app"), creds)
    c.fake = fake
    return c


def test_bearer_flow_then_all_pages() -> None:
    fake = FakeRegistry(page=5)
    tags = asyncio.run(client(fake, RegistryCredentials("bot", "pw")).list_tags(page_size=100))
    assert tags == TAGS
    token_calls = [c for c in fake.calls if c[1].startswith(REALM)]
    assert len(token_calls) == 1  # the token is reused for the following pages
    pages = [
        c
        for c in fake.calls
        if "/tags/list" in c[1] and c[2].get("Authorization") == "Bearer good-token"
    ]
    assert len(pages) == 5  # 23 tags, 5 per page
    assert pages[1][1] == "https://registry.example.test/v2/org/app/tags/list?last=t04&n=100"


def test_identity_token_is_exchanged_as_a_refresh_token() -> None:
    fake = FakeRegistry(page=50)
    tags = asyncio.run(client(fake, RegistryCredentials(identity_token="refresh-me")).list_tags())
    assert tags == TAGS
    assert any(c[0] == "POST" and c[1] == REALM for c in fake.calls)


def test_registry_token_is_sent_as_is() -> None:
    fake = FakeRegistry(page=50)
    tags = asyncio.run(client(fake, RegistryCredentials(registry_token="good-token")).list_tags())
    assert tags == TAGS
    assert not any(c[1].startswith(REALM) for c in fake.calls)


def test_token_endpoint_refusal_is_an_authentication_failure() -> None:
    with pytest.raises(
        AuthenticationFailed, match="rejected the credentials of spec.secretRef .*HTTP 401"
    ):
        asyncio.run(client(FakeRegistry(), RegistryCredentials("bot", "wrong")).list_tags())


def test_anonymous_token_that_the_registry_refuses() -> None:
    with pytest.raises(AuthenticationFailed, match="requires authentication"):
        asyncio.run(client(FakeRegistry(), None).list_tags())


@pytest.mark.parametrize("with_header", [True, False], ids=["digest-header", "digest-from-body"])
def test_digest_lookup(with_header: bool) -> None:
    fake = FakeRegistry(send_digest_header=with_header)
    digest = asyncio.run(client(fake, RegistryCredentials("bot", "pw")).digest("t01"))
    assert digest == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
    head = next(c for c in fake.calls if c[0] == "HEAD" and "Authorization" in c[2])
    assert head[2]["Accept"] == ", ".join(MANIFEST_MEDIA_TYPES)


def test_unknown_tag_is_a_read_failure_with_the_registry_error() -> None:
    with pytest.raises(ReadOperationFailed, match="MANIFEST_UNKNOWN: manifest unknown"):
        asyncio.run(client(FakeRegistry(), RegistryCredentials("bot", "pw")).digest("nope"))
