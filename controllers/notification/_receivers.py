"""How each Receiver type authenticates a webhook call and which event it is. Pure, no I/O.

`check(type, token, headers, body, events)` returns the call's event type when the call
is authentic and wanted, raises `Unauthorized` (answered 401, nothing is touched) when it
is not authentic, and `Ignored` (answered 200, nothing is touched) when it is authentic
but not an event the Receiver's `events` list asks for (or GitHub's ping).

| type         | authenticity                                              | event type        |
| ------------ | --------------------------------------------------------- | ----------------- |
| generic      | the secret path alone                                     | -                 |
| generic-hmac | `X-Signature: sha1|sha256|sha512=<hex HMAC of the body>`  | -                 |
| github       | `X-Hub-Signature-256: sha256=<hex>` (or `X-Hub-Signature: sha1=`) | `X-GitHub-Event` |
| gitlab       | `X-Gitlab-Token` equals the token                         | `X-Gitlab-Event`  |
| bitbucket    | `X-Hub-Signature: sha256=<hex>` (Bitbucket Server)        | `X-Event-Key`     |
| harbor       | `Authorization` equals the token                          | -                 |
| dockerhub    | the secret path; a JSON body with `push_data`             | -                 |
| quay         | the secret path; a JSON body with `docker_url`            | -                 |
| nexus        | `X-Nexus-Webhook-Signature: <hex HMAC-SHA1 of the body>`  | -                 |
| acr          | the secret path; a JSON body with `action` and `target`   | `action`          |
| cdevents     | the secret path; a CloudEvent with `Ce-Type`              | `Ce-Type`         |
| gcr          | a Google ID token (`_oidc.authenticate_google`); a Pub/Sub push | -           |
| generic-oidc | an ID token of a listed issuer (`_oidc.authenticate`)     | -                 |

Header names are matched case-insensitively; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["OIDC_CHECKED", "SUPPORTED", "Ignored", "Unauthorized", "check",
           "gcr_payload", "sign"]

_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


class Unauthorized(Exception):  # noqa: N818 - the HTTP answer's name
    """The call is not authentic: 401."""


class Ignored(Exception):  # noqa: N818 - a signal
    """Authentic, but not an event to act on: 200 and nothing else."""


def sign(token: str, body: bytes, algorithm: str = "sha256") -> str:
    """`<algorithm>=<hex HMAC of body keyed by token>` (what senders put in the header)."""
    return f"{algorithm}=" + hmac.new(token.encode(), body, _ALGORITHMS[algorithm]).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    low = name.lower()
    for key, value in headers.items():
        if key.lower() == low:
            return value
    return ""


def _verify_prefixed(token: str, body: bytes, signature: str, allowed: Sequence[str]) -> None:
    algorithm, sep, digest = signature.partition("=")
    if not sep or algorithm not in allowed:
        raise Unauthorized(f"the signature header must be <{'|'.join(allowed)}>=<hex>")
    expected = sign(token, body, algorithm).partition("=")[2]
    if not hmac.compare_digest(expected, digest.strip().lower()):
        raise Unauthorized("the signature does not match the body")


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise Unauthorized("the body is not JSON") from None
    if not isinstance(data, dict):
        raise Unauthorized("the body is not a JSON object")
    return data


def _want(event: str, events: Sequence[str] | None) -> str:
    if events and not any(event.lower() == e.lower() for e in events):
        raise Ignored(f"event {event!r} is not in spec.events")
    return event


def _generic(token: str, headers: Mapping[str, str], body: bytes,
             events: Sequence[str] | None) -> str:
    return ""


def _generic_hmac(token: str, headers: Mapping[str, str], body: bytes,
                  events: Sequence[str] | None) -> str:
    signature = _header(headers, "X-Signature")
    if not signature:
        raise Unauthorized("the X-Signature header is missing")
    _verify_prefixed(token, body, signature, ("sha1", "sha256", "sha512"))
    return ""


def _github(token: str, headers: Mapping[str, str], body: bytes,
            events: Sequence[str] | None) -> str:
    signature = _header(headers, "X-Hub-Signature-256") or _header(headers, "X-Hub-Signature")
    if not signature:
        raise Unauthorized("the X-Hub-Signature-256 header is missing")
    _verify_prefixed(token, body, signature, ("sha256", "sha1"))
    event = _header(headers, "X-GitHub-Event")
    if event == "ping":
        raise Ignored("ping")
    return _want(event, events)


def _gitlab(token: str, headers: Mapping[str, str], body: bytes,
            events: Sequence[str] | None) -> str:
    if not hmac.compare_digest(_header(headers, "X-Gitlab-Token").encode(), token.encode()):
        raise Unauthorized("the X-Gitlab-Token header does not match the token")
    return _want(_header(headers, "X-Gitlab-Event"), events)


def _bitbucket(token: str, headers: Mapping[str, str], body: bytes,
               events: Sequence[str] | None) -> str:
    signature = _header(headers, "X-Hub-Signature")
    if not signature:
        raise Unauthorized("the X-Hub-Signature header is missing")
    _verify_prefixed(token, body, signature, ("sha256",))
    return _want(_header(headers, "X-Event-Key"), events)


def _harbor(token: str, headers: Mapping[str, str], body: bytes,
            events: Sequence[str] | None) -> str:
    if not hmac.compare_digest(_header(headers, "Authorization").encode(), token.encode()):
        raise Unauthorized("the Authorization header does not match the token")
    return ""


def _dockerhub(token: str, headers: Mapping[str, str], body: bytes,
               events: Sequence[str] | None) -> str:
    if not isinstance(_json(body).get("push_data"), dict):
        raise Unauthorized("not a Docker Hub push payload (no push_data)")
    return ""


def _quay(token: str, headers: Mapping[str, str], body: bytes,
          events: Sequence[str] | None) -> str:
    if not _json(body).get("docker_url"):
        raise Unauthorized("not a Quay payload (no docker_url)")
    return ""


def _nexus(token: str, headers: Mapping[str, str], body: bytes,
           events: Sequence[str] | None) -> str:
    signature = _header(headers, "X-Nexus-Webhook-Signature")
    expected = hmac.new(token.encode(), body, hashlib.sha1).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.strip().lower()):
        raise Unauthorized("the X-Nexus-Webhook-Signature header does not match the body")
    return ""


def _acr(token: str, headers: Mapping[str, str], body: bytes,
         events: Sequence[str] | None) -> str:
    data = _json(body)
    if not data.get("action") or not isinstance(data.get("target"), dict):
        raise Unauthorized("not an ACR payload (no action and target)")
    return _want(str(data["action"]), events)


def _cdevents(token: str, headers: Mapping[str, str], body: bytes,
              events: Sequence[str] | None) -> str:
    event = _header(headers, "Ce-Type")
    if not event:
        raise Unauthorized("the Ce-Type header is missing")
    _json(body)
    return _want(event, events)


_CHECKS = {
    "generic": _generic,
    "generic-hmac": _generic_hmac,
    "github": _github,
    "gitlab": _gitlab,
    "bitbucket": _bitbucket,
    "harbor": _harbor,
    "dockerhub": _dockerhub,
    "quay": _quay,
    "nexus": _nexus,
    "acr": _acr,
    "cdevents": _cdevents,
}
SUPPORTED = frozenset(_CHECKS)
#: types whose calls authenticate with an OIDC ID token (`_oidc`), not the Secret's token
OIDC_CHECKED = frozenset({"gcr", "generic-oidc"})


def gcr_payload(body: bytes) -> dict[str, Any]:
    """The registry's event inside a gcr call (a Pub/Sub push: `message.data` is the event's
    JSON in base64), which is what `req` is for the resource filters, as Flux's;
    `Unauthorized` if the body is not one."""
    import base64  # noqa: PLC0415 - only here

    message = _json(body).get("message")
    data = message.get("data") if isinstance(message, dict) else None
    try:
        event = json.loads(base64.b64decode(str(data or ""), validate=True))
    except ValueError:
        raise Unauthorized("not a Pub/Sub push of a registry event (message.data)") from None
    if not isinstance(event, dict):
        raise Unauthorized("the registry event in message.data is not a JSON object")
    return event


def check(receiver_type: str, token: str, headers: Mapping[str, str], body: bytes,
          events: Sequence[str] | None = None) -> str:
    """The event type of an authentic, wanted call (see the module doc)."""
    fn = _CHECKS.get(receiver_type)
    if fn is None:
        raise Unauthorized(f"receiver type {receiver_type!r} is not supported by afflux yet")
    return fn(token, headers, body, events)
