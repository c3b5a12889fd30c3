"""The in-cluster UI's checks, as data: the bearer token of a request, the same-origin and
CSRF check of a request that changes something, and the sessions (one per token, checked
with a SelfSubjectReview, bounded, ended when idle)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from afflux.cli._kube import KubeError
from afflux.cli.ui._auth import (
    AuthError,
    bearer_token,
    check_same_origin,
    csrf_token,
    identity_key,
    proxy_identity,
    session_key,
)
from afflux.cli.ui._sessions import Sessions as _Sessions

CSRF = csrf_token(b"k" * 32, "sha256:abc")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"Authorization": "Bearer abc.def-ghi"}, "abc.def-ghi", id="bearer"),
        pytest.param({"Authorization": "bearer  tok=="}, "tok==", id="case-and-spaces"),
        pytest.param({}, 401, id="none"),
        pytest.param({"Authorization": "Basic dXNlcjpwdw=="}, 401, id="basic-is-not-bearer"),
        pytest.param({"Authorization": "Bearer a b"}, 401, id="two-words"),
        pytest.param({"Authorization": "Bearer "}, 401, id="empty-token"),
    ],
)
def test_bearer_token(headers: dict[str, str], expected: Any) -> None:
    if isinstance(expected, int):
        with pytest.raises(AuthError) as err:
            bearer_token(headers)
        assert err.value.status == expected
    else:
        assert bearer_token(headers) == expected


def test_session_key_names_a_token_without_holding_it() -> None:
    key = session_key("secret-token")
    assert key.startswith("sha256:") and "secret-token" not in key
    assert key == session_key("secret-token") != session_key("other-token")


SECRET = "proxy-shared-secret-0123"
VIA = {"X-Afflux-Proxy-Secret": SECRET}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({**VIA, "X-Forwarded-User": "alice"}, ("alice", ()), id="user"),
        pytest.param({**VIA, "X-Forwarded-User": "alice", "X-Forwarded-Groups": "b, a,,b"},
                     ("alice", ("a", "b")), id="groups-sorted-once"),
        pytest.param({"X-Forwarded-User": "alice"}, 401, id="not-through-the-proxy"),
        pytest.param({"X-Afflux-Proxy-Secret": SECRET[:-1], "X-Forwarded-User": "alice"}, 401,
                     id="wrong-secret"),
        pytest.param(VIA, 401, id="no-user"),
        pytest.param({**VIA, "X-Forwarded-User": "system:admin"}, 403, id="system-user"),
        pytest.param({**VIA, "X-Forwarded-User": "alice",
                      "X-Forwarded-Groups": "system:masters"}, 403, id="system-group"),
    ],
)
def test_proxy_identity(headers: dict[str, str], expected: Any) -> None:
    if isinstance(expected, int):
        with pytest.raises(AuthError) as err:
            proxy_identity(headers, SECRET)
        assert err.value.status == expected
    else:
        assert proxy_identity(headers, SECRET) == expected


def test_identity_key_tells_groups_apart() -> None:
    assert identity_key("alice", ()) != identity_key("alice", ("team",))
    assert identity_key("a", ("b",)) != identity_key("a,b", ())
    assert identity_key("alice", ("team",)) == identity_key("alice", ("team",))


GOOD = {"Origin": "https://ui.example", "X-CSRF-Token": CSRF, "Sec-Fetch-Site": "same-origin"}


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        pytest.param(GOOD, None, id="same-origin-with-token"),
        pytest.param({"Referer": "https://ui.example/#/", "X-CSRF-Token": CSRF}, None,
                     id="referer-when-no-origin"),
        pytest.param({**GOOD, "X-CSRF-Token": ""}, "CSRF token", id="no-token"),
        pytest.param({**GOOD, "X-CSRF-Token": CSRF[:-1] + "0"}, "CSRF token",
                     id="wrong-token"),
        pytest.param({"X-CSRF-Token": CSRF}, "Origin header", id="no-origin"),
        pytest.param({**GOOD, "Origin": "https://evil.example"}, "cross-origin",
                     id="other-origin"),
        pytest.param({**GOOD, "Origin": "null"}, "Origin header", id="opaque-origin"),
        pytest.param({**GOOD, "Sec-Fetch-Site": "cross-site"}, "cross-site",
                     id="browser-says-cross-site"),
    ],
)
def test_check_same_origin(headers: dict[str, str], error: str | None) -> None:
    if error is None:
        check_same_origin(headers, "ui.example", CSRF)
        return
    with pytest.raises(AuthError) as err:
        check_same_origin(headers, "ui.example", CSRF)
    assert err.value.status == 403 and error in err.value.message


class Sessions(_Sessions):
    """Sessions by token, as `--auth=token` uses them."""

    async def get(self, token: str) -> Any:  # type: ignore[override]
        return await super().get(session_key(token), token)


class ReviewKube:
    """Answers a SelfSubjectReview as the API server would for `user` (401 for None)."""

    def __init__(self, user: str | None) -> None:
        self.user = user

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        assert (method, path) == ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews")
        if self.user is None:
            raise KubeError(401, "Unauthorized", "Unauthorized")
        return {"status": {"userInfo": {"username": self.user, "groups": ["team"]}}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class OpenPage:
    """A watch cache a page follows (only its subscriber count matters to the sessions)."""

    subscribers = 1

    def stop(self) -> None:
        pass


def _sessions(limit: int = 2, idle: float = 60.0) -> tuple[Sessions, list[str], Clock]:
    connected: list[str] = []
    clock = Clock()

    def connect(token: str) -> Any:
        connected.append(token)
        return ReviewKube(None if token == "bad" else f"user-{token}")

    return Sessions(connect, limit=limit, idle=idle, clock=clock), connected, clock


def test_a_token_has_one_session_checked_once() -> None:
    sessions, connected, _ = _sessions()

    async def run() -> None:
        a1, a2 = await asyncio.gather(sessions.get("a"), sessions.get("a"))
        assert a1 is a2 and (a1.user, a1.groups) == ("user-a", ["team"])
        b = await sessions.get("b")
        assert b.csrf != a1.csrf and len(b.csrf) == 64
        with pytest.raises(AuthError) as err:
            await sessions.get("bad")
        assert err.value.status == 401 and "did not accept the bearer token" in err.value.message

    asyncio.run(run())
    assert connected == ["a", "b", "bad"]


def test_sessions_are_bounded_and_end_when_idle() -> None:
    sessions, _, clock = _sessions(limit=2, idle=60)

    async def run() -> None:
        a = await sessions.get("a")
        clock.now += 10
        b = await sessions.get("b")
        clock.now += 10
        await sessions.get("c")  # the least recently used idle one (a) makes room
        assert len(sessions) == 2 and (await sessions.get("b")) is b
        assert (await sessions.get("a")) is not a  # a new session for a, c made room
        for s in list(sessions._sessions.values()):
            s.caches["open"] = OpenPage()  # type: ignore[assignment]
        with pytest.raises(AuthError) as err:
            await sessions.get("d")  # every session has an open page
        assert err.value.status == 503
        for s in sessions._sessions.values():
            s.caches.clear()
        live = sorted(sessions._sessions)
        clock.now += 59
        assert sessions.reap() == []
        clock.now += 2
        assert sorted(sessions.reap()) == live

    asyncio.run(run())
    assert len(sessions) == 0
