"""The UI's users: one `Session` per identity, each with its own client and its own watch
caches, so one user never sees what another's rights let them see.

Local mode (`afflux ui`) has one session, the kubeconfig's. In-cluster mode (`--in-cluster`)
has one per identity (`Sessions`): per bearer token (`--auth=token`), or per user and groups
the authenticating proxy names (`--auth=proxy`). A session is made on the identity's first
request (checked with a SelfSubjectReview, which also names the user), kept while it is used, and ended when idle
for `idle` seconds (its watches stop within `WATCH_TIMEOUT`); at most `limit` live at once
(the least recently used idle one makes room; if every one has an open page, a new user
gets 503). A session holds at most `MAX_SCOPES` watch caches (all namespaces, or one
namespace each, as the page asks).
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._kube import Kube, KubeError
from ._auth import AuthError, csrf_token
from ._watch import FleetCache

__all__ = ["MAX_SCOPES", "WATCH_TIMEOUT", "Session", "Sessions", "whoami"]

#: Watch caches (namespace scopes) one session keeps.
MAX_SCOPES = 4
#: Seconds a per-user watch runs before it is renewed (how long a stopped one may linger).
WATCH_TIMEOUT = 60

_REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def whoami(kube: Kube) -> tuple[str, list[str]]:
    """The user and groups the API server sees behind `kube` (a SelfSubjectReview)."""
    body = kube.request("POST", _REVIEW, body={
        "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}) or {}
    info = (body.get("status") or {}).get("userInfo") or {}
    return str(info.get("username", "")), [str(g) for g in info.get("groups") or []]


@dataclass
class Session:
    """One identity: its client, its watch caches, its CSRF token."""

    key: str
    user: str
    groups: list[str]
    kube: Kube
    csrf: str
    default_namespace: str | None = None
    watch_timeout: int = 300
    last_used: float = field(default_factory=time.monotonic)
    caches: collections.OrderedDict[str, FleetCache] = field(
        default_factory=collections.OrderedDict)

    def fleet(self, namespace: str | None) -> FleetCache:
        """The watch cache of `namespace` ('' or None: the session's default scope),
        started on first use; the least recently used one no page follows makes room."""
        scope = namespace or self.default_namespace or ""
        cache = self.caches.get(scope)
        if cache is None:
            idle = [s for s, c in self.caches.items() if c.subscribers == 0]
            while len(self.caches) >= MAX_SCOPES and idle:
                self.caches.pop(idle.pop(0)).stop()
            cache = FleetCache(lambda: self.kube, namespace=scope or None,
                               watch_timeout=self.watch_timeout)
            cache.start(asyncio.get_running_loop())
            self.caches[scope] = cache
        self.caches.move_to_end(scope)
        return cache

    @property
    def streams(self) -> int:
        return sum(c.subscribers for c in self.caches.values())

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def stop(self) -> None:
        for cache in self.caches.values():
            cache.stop()
        self.caches.clear()


class Sessions:
    """The in-cluster mode's sessions, by identity (module docstring): `connect` makes the
    client of a credential (a token, or the user and groups to impersonate)."""

    def __init__(self, connect: Callable[[Any], Kube], *, limit: int = 32,
                 idle: float = 600.0, clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] | None = None,
                 credentials: str = "the bearer token") -> None:
        self._connect = connect
        #: what a 401 refused: the caller's token, or (impersonating) the UI's own credentials
        self._credentials = credentials
        self._log = log
        self.limit = limit
        self.idle = idle
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, asyncio.Future[Session]] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    async def get(self, key: str, credential: Any) -> Session:
        """The session `key` of `credential`, made (and checked) on its first use."""
        session = self._sessions.get(key)
        if session is None:
            pending = self._pending.get(key)
            if pending is None:
                pending = asyncio.ensure_future(self._open(key, credential))
                self._pending[key] = pending
                pending.add_done_callback(lambda _: self._pending.pop(key, None))
            session = await asyncio.shield(pending)
        session.last_used = self._clock()
        return session

    async def _open(self, key: str, credential: Any) -> Session:
        kube = await asyncio.to_thread(self._connect, credential)
        try:
            user, groups = await asyncio.to_thread(whoami, kube)
        except KubeError as err:
            if err.status == 401:
                raise AuthError(401, f"the API server did not accept {self._credentials}: "
                                f"{err.message}") from None
            if err.status == 403:  # the UI may not impersonate that user or group
                raise AuthError(403, err.message) from None
            raise
        self.reap()
        if len(self._sessions) >= self.limit:
            idle = sorted((s for s in self._sessions.values() if s.streams == 0),
                          key=lambda s: s.last_used)
            if not idle:
                raise AuthError(503, f"too many users at once ({self.limit}, the UI's "
                                "--max-sessions): try again later")
            self.end(idle[0].key)
        session = Session(key, user, groups, kube, csrf_token(self._secret, key),
                          watch_timeout=WATCH_TIMEOUT, last_used=self._clock())
        self._sessions[key] = session
        if self._log is not None:  # the user's name, never the token
            self._log(f"session opened for {user or '(anonymous)'} "
                      f"({len(self._sessions)} of {self.limit})")
        return session

    def end(self, key: str) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            session.stop()
            if self._log is not None:
                self._log(f"session of {session.user or '(anonymous)'} ended")

    def reap(self) -> list[str]:
        """End the sessions idle (no request, no open page) for `idle` seconds."""
        now = self._clock()
        gone = [k for k, s in self._sessions.items()
                if s.streams == 0 and now - s.last_used > self.idle]
        for key in gone:
            self.end(key)
        return gone

    def stop(self) -> None:
        for key in list(self._sessions):
            self.end(key)
