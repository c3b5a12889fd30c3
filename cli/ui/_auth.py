"""Who is asking, in the UI's in-cluster mode (`afflux ui --in-cluster`), and whether a
request that changes something came from the UI's own page. Pure: no I/O.

- Credentials, `--auth=token`: the request's `Authorization: Bearer <token>` (sent by the
  authenticating ingress or proxy in front of the UI). The UI makes the user's API calls with
  that token and holds no rights of its own. The token is never written anywhere: a session
  is known by a digest of it (`session_key`).
- Credentials, `--auth=proxy`: the user and groups an authenticating proxy names
  (`X-Forwarded-User`, `X-Forwarded-Groups`, oauth2-proxy's headers), believed only when the
  request also carries the proxy's shared secret (`X-Afflux-Proxy-Secret`); the UI then
  impersonates them. Kubernetes' own identities (`system:...`) are never impersonated.
- Cross-site requests: a `POST` must name this server as its `Origin` (or `Referer`), must
  not be marked cross-site by the browser (`Sec-Fetch-Site`), and must carry the session's
  CSRF token (`X-CSRF-Token`), an HMAC of the session key under a secret made at start, which
  only a page of this origin can read (from `/api/session`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["PROXY_SECRET_HEADER", "AuthError", "bearer_token", "check_same_origin",
           "csrf_token", "identity_key", "proxy_identity", "session_key"]

#: The header that carries the proxy's shared secret (`--proxy-secret-file`).
PROXY_SECRET_HEADER = "X-Afflux-Proxy-Secret"

_BEARER = re.compile(r"Bearer[ \t]+([A-Za-z0-9._~+/=-]+)\Z", re.IGNORECASE)
#: `Sec-Fetch-Site` values of a request made by this origin's own page (or typed by the user).
_SAME_SITE = ("same-origin", "none")


class AuthError(Exception):
    """A request refused: `status` 401 (no or bad credentials) or 403 (not from the page)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bearer_token(headers: Mapping[str, str]) -> str:
    """The bearer token of `headers` (AuthError 401 when there is none)."""
    value = headers.get("Authorization", "")
    if not value:
        raise AuthError(401, "no credentials: this UI acts with the caller's own identity and "
                        "needs an `Authorization: Bearer <token>` header (from the "
                        "authenticating proxy in front of it)")
    match = _BEARER.match(value.strip())
    if match is None:
        raise AuthError(401, "the Authorization header is not `Bearer <token>`")
    return match[1]


def session_key(token: str) -> str:
    """The name of a token's session: a digest, so the token itself is kept nowhere else."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:40]


def proxy_identity(headers: Mapping[str, str], secret: str) -> tuple[str, tuple[str, ...]]:
    """The user and groups the proxy names in `headers` (AuthError 401 when the request did
    not come through the proxy, 403 for a Kubernetes system identity)."""
    sent = headers.get(PROXY_SECRET_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), secret.encode()):
        raise AuthError(401, "no credentials: this UI serves only requests that come through "
                        f"its authenticating proxy (no or wrong {PROXY_SECRET_HEADER})")
    user = headers.get("X-Forwarded-User", "").strip()
    if not user:
        raise AuthError(401, "the authenticating proxy named no user (X-Forwarded-User)")
    groups = tuple(sorted({g.strip() for g in headers.get("X-Forwarded-Groups", "").split(",")
                           if g.strip()}))
    for name in (user, *groups):
        if name.startswith("system:"):
            raise AuthError(403, f"refused: {name!r} is a Kubernetes system identity; the UI "
                            "impersonates people and their groups only")
    return user, groups


def identity_key(user: str, groups: tuple[str, ...]) -> str:
    """The name of an impersonated identity's session."""
    return "sha256:" + hashlib.sha256(json.dumps([user, list(groups)]).encode()
                                      ).hexdigest()[:40]


def csrf_token(secret: bytes, key: str) -> str:
    """The CSRF token of session `key` (an HMAC under the server's `secret`)."""
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def _origin_host(headers: Mapping[str, str]) -> str | None:
    for name in ("Origin", "Referer"):
        value = headers.get(name, "")
        if value and value != "null":
            return urlsplit(value).netloc.lower()
    return None


def check_same_origin(headers: Mapping[str, str], host: str, expected_csrf: str) -> None:
    """Refuse (AuthError 403) a state-changing request that did not come from this server's
    page: its Origin/Referer must be `host`, the browser must not call it cross-site, and it
    must carry the CSRF token `expected_csrf`."""
    origin = _origin_host(headers)
    if origin is None:
        raise AuthError(403, "refused: a request that changes something must carry an Origin "
                        "header (send it from the UI's page)")
    if origin != host.lower():
        raise AuthError(403, f"refused: cross-origin request (Origin {origin}, this server is "
                        f"{host})")
    site = headers.get("Sec-Fetch-Site", "")
    if site and site not in _SAME_SITE:
        raise AuthError(403, f"refused: the browser marked this request {site}")
    sent = headers.get("X-CSRF-Token", "")
    if not sent or not hmac.compare_digest(sent, expected_csrf):
        raise AuthError(403, "refused: missing or stale CSRF token (reload the page)")
