"""Who is asking, in the UI's in-cluster mode (`afflux ui --in-cluster`), and whether a
request that changes something came from the UI's own page. Pure: no I/O.

- Credentials: the request's `Authorization: Bearer <token>` (sent by the authenticating
  ingress or proxy in front of the UI). The UI makes the user's API calls with that token and
  holds no rights of its own. The token is never written anywhere: a session is known by a
  digest of it (`session_key`).
- Cross-site requests: a `POST` must name this server as its `Origin` (or `Referer`), must
  not be marked cross-site by the browser (`Sec-Fetch-Site`), and must carry the session's
  CSRF token (`X-CSRF-Token`), an HMAC of the session key under a secret made at start, which
  only a page of this origin can read (from `/api/session`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["AuthError", "bearer_token", "check_same_origin", "csrf_token", "session_key"]

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
