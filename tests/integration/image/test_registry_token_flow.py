"""The registry client's bearer-token flow over real HTTP (as Docker Hub and ghcr.io do it).

distribution, our test registry, only does htpasswd basic auth, so this test serves the
token protocol itself from a loopback HTTP server: `/v2/...` answers 401 with a Bearer
challenge naming a token endpoint; the endpoint hands out a token for basic credentials
(GET) or for an OAuth2 refresh token (POST form); tag pages follow `Link` headers. The
client under test is the real one, sockets and all.
"""

from __future__ import annotations

import asyncio
import base64
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from afflux.controllers.image_reflector._imagename import parse_image
from afflux.controllers.image_reflector._registry import AuthenticationFailed, RegistryClient
from afflux.controllers.runtime._dockerconfig import RegistryCredentials

pytestmark = pytest.mark.integration

TAGS = [f"1.{i}.0" for i in range(12)]
USER, PASSWORD, REFRESH = "robot", "s3cret", "refresh-123"


def make_app(seen: list[tuple[str, str]]) -> web.Application:
    async def token(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs))
        if request.method == "POST":
            form = parse_qs((await request.read()).decode())
            ok = form.get("grant_type") == ["refresh_token"] and form.get("refresh_token") == [
                REFRESH
            ]
            assert form.get("scope") == ["repository:org/app:pull"]
        else:
            expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            ok = request.headers.get("Authorization") == f"Basic {expected}"
            assert request.query.get("service") == "test-registry"
        if not ok:
            return web.json_response({"details": "bad credentials"}, status=401)
        return web.json_response({"access_token": "tok-42"})

    async def tags(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs))
        if request.headers.get("Authorization") != "Bearer tok-42":
            host = request.host
            challenge = (
                f'Bearer realm="http://{host}/token",service="test-registry",'
                'scope="repository:org/app:pull"'
            )
            return web.json_response(
                {"errors": [{"code": "UNAUTHORIZED"}]},
                status=401,
                headers={"WWW-Authenticate": challenge},
            )
        start = TAGS.index(request.query["last"]) + 1 if "last" in request.query else 0
        chunk = TAGS[start : start + 5]
        headers = {}
        if start + 5 < len(TAGS):
            headers["Link"] = f'</v2/org/app/tags/list?last={chunk[-1]}&n=5>; rel="next"'
        return web.json_response({"name": "org/app", "tags": chunk}, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/token", token)
    app.router.add_get("/v2/org/app/tags/list", tags)
    return app


async def scan(creds: RegistryCredentials, seen: list[tuple[str, str]]) -> list[str]:
    runner = web.AppRunner(make_app(seen))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        client = RegistryClient(parse_image(f"127.0.0.1:{port}/org/app"), creds, insecure=True)
        try:
            return await client.list_tags(page_size=5)
        finally:
            await client.close()
    finally:
        await runner.cleanup()


def test_basic_credentials_buy_a_token_that_reads_every_page() -> None:
    seen: list[tuple[str, str]] = []
    assert asyncio.run(scan(RegistryCredentials(USER, PASSWORD), seen)) == TAGS
    assert [m for m, p in seen if p.startswith("/token")] == ["GET"]
    assert sum(1 for _, p in seen if p.startswith("/v2/")) == 1 + 3  # challenge + 3 pages


def test_refresh_token_is_posted_as_a_form() -> None:
    seen: list[tuple[str, str]] = []
    assert asyncio.run(scan(RegistryCredentials(identity_token=REFRESH), seen)) == TAGS
    assert [m for m, p in seen if p.startswith("/token")] == ["POST"]


def test_refused_credentials_are_an_authentication_failure() -> None:
    with pytest.raises(AuthenticationFailed):
        asyncio.run(scan(RegistryCredentials(USER, "wrong"), []))
