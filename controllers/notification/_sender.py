"""The one HTTP sender every Provider type uses: a timeout, a custom CA and a client
certificate (`certSecretRef`: `ca.crt`, `tls.crt` + `tls.key`), an HTTP(S) proxy
(`proxySecretRef`: `address`, `username`, `password`), and retries with exponential backoff
on connection errors, 429 and 5xx; a nats Provider's publish (`_nats.publish`) goes through
the same retries. Each delivery is its own task, so a slow or failing
Provider never holds up another.

Errors come back as `DeliveryError` whose message has every secret value redacted (the
token, the password, header values, a webhook URL from a Secret, a password in a URL, the
credentials of an `Authorization` header, base64 and all, which a service may quote back),
so it can go into logs, events and status.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import aiohttp

from ._nats import NatsError, publish
from ._providers import OutgoingRequest

__all__ = ["UNCHANGED", "BodyTooLarge", "DeliveryError", "TLSConfig", "ProxyConfig",
           "answer_failure", "header_credentials", "read_body", "redact", "send"]

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
#: what `send` returns when `request.unless` held and nothing was sent
UNCHANGED = 304
#: how much of a combined-status answer is read (a commit with many contexts)
MAX_ANSWER = 1 << 20


#: headers whose values are credentials whatever the Provider type
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-sentry-auth"})


def header_credentials(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The credentials a request's headers carry, to redact: the whole value of an
    `Authorization` (and the like) header, and its part after the scheme (`Basic <b64>`:
    the base64 of user:password, which a service may quote back)."""
    found: list[str] = []
    for name, value in headers.items():
        if name.lower() in _CREDENTIAL_HEADERS and value:
            found.append(value)
            scheme, _, credential = value.partition(" ")
            if credential.strip():
                found.append(credential.strip())
    return tuple(found)


class BodyTooLarge(Exception):  # noqa: N818 - a condition, named as what happened
    """An answer declared or turned out larger than the reader's limit."""


async def read_body(response: aiohttp.ClientResponse, limit: int, chunk: int = 64 * 1024
                    ) -> bytes:
    """The whole body of `response`, read chunk by chunk (one `read(n)` may return less
    than the body); `BodyTooLarge` as soon as it says or turns out to be over `limit`."""
    if (response.content_length or 0) > limit:
        raise BodyTooLarge
    data = bytearray()
    while part := await response.content.read(chunk):
        data += part
        if len(data) > limit:
            raise BodyTooLarge
    return bytes(data)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "*****")
    return text


class DeliveryError(Exception):
    """A delivery that failed. The message says what happened (redacted, with the URL);
    `brief` says it without the address (the answer's status, or the kind of error), for
    the delivery records on the Alert."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = True,
                 brief: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.brief = brief or (f"the service answered {status}" if status else "")


@dataclass(frozen=True)
class TLSConfig:
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_pem:
            context.load_verify_locations(cadata=self.ca_pem.decode())
        if self.cert_pem and self.key_pem:
            with tempfile.TemporaryDirectory() as tmp:  # ssl loads a chain from files only
                cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
                cert.write_bytes(self.cert_pem)
                key.write_bytes(self.key_pem)
                key.chmod(0o600)
                context.load_cert_chain(cert, key)
        return context


@dataclass(frozen=True)
class ProxyConfig:
    address: str
    username: str = ""
    password: str = ""

    def auth(self) -> aiohttp.BasicAuth | None:
        return aiohttp.BasicAuth(self.username, self.password) if self.username else None

    def secrets(self) -> tuple[str, ...]:
        """What to redact: the password, and one in the address (`http://u:pw@proxy`)."""
        try:
            in_address = unquote(urlsplit(self.address).password or "")
        except ValueError:
            in_address = ""
        return tuple(v for v in (self.password, in_address) if v)


async def _publish(request: OutgoingRequest, *, timeout: float, tls: TLSConfig | None) -> int:
    assert request.nats is not None
    target = request.nats
    try:
        await publish(request.url, target.subject, request.body or b"", target.auth,
                      tls=tls.context() if tls else None, timeout=timeout)
    except NatsError as err:
        refused = str(err).startswith("the server answered")
        raise DeliveryError(f"publishing on {target.subject!r}: {err}", retryable=not refused,
                            brief=str(err) if refused else str(err).split(":")[0]) from None
    return 200


async def _attempt(request: OutgoingRequest, *, timeout: float, tls: TLSConfig | None,
                   proxy: ProxyConfig | None) -> int:
    if request.nats is not None:
        return await _publish(request, timeout=timeout, tls=tls)
    ssl_context: ssl.SSLContext | bool = tls.context() if tls else True
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        if request.unless is not None and await _unchanged(session, request, ssl_context, proxy):
            return UNCHANGED
        method, url = request.method, request.url
        if request.upsert is not None:
            existing = await _existing(session, request, ssl_context, proxy)
            if existing is not None:
                method = request.upsert.edit_method
                url = request.upsert.edit_url.replace("{id}", quote(existing, safe=""))
        async with session.request(
            method, url, data=request.body, headers=dict(request.headers),
            ssl=ssl_context, proxy=proxy.address if proxy else None,
            proxy_auth=proxy.auth() if proxy else None, allow_redirects=False,
        ) as response:
            text = (await response.content.read(2048)).decode(errors="replace")
            if response.status >= 300:
                raise DeliveryError(
                    f"{method} {url} answered {response.status}: {text.strip()}",
                    status=response.status, retryable=response.status in RETRYABLE)
            failure = answer_failure(request, text)
            if failure:
                raise DeliveryError(f"{request.method} {request.url} answered {response.status} "
                                    f"but {failure}", status=response.status, retryable=False,
                                    brief=f"the service answered {response.status} but "
                                          f"{failure}")
            return response.status


async def _unchanged(session: aiohttp.ClientSession, request: OutgoingRequest,
                     ssl_context: ssl.SSLContext | bool, proxy: ProxyConfig | None) -> bool:
    """Whether `request.unless` holds: the service already shows what the request would
    post. A failed look-up is not an error: the request is sent."""
    assert request.unless is not None
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
    try:
        async with session.get(request.unless.url, headers=headers, ssl=ssl_context,
                               proxy=proxy.address if proxy else None,
                               proxy_auth=proxy.auth() if proxy else None,
                               allow_redirects=False) as response:
            if response.status != 200:
                return False
            answer = json.loads(await read_body(response, MAX_ANSWER))
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError, BodyTooLarge):
        return False
    return request.unless.holds(answer)


async def _existing(session: aiohttp.ClientSession, request: OutgoingRequest,
                    ssl_context: ssl.SSLContext | bool, proxy: ProxyConfig | None) -> str | None:
    """The id of the entry `request.upsert` updates (None: create one). Unlike `_unchanged`,
    a failed look-up fails the delivery (it is retried): posting anyway would duplicate."""
    assert request.upsert is not None
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
    async with session.get(request.upsert.list_url, headers=headers, ssl=ssl_context,
                           proxy=proxy.address if proxy else None,
                           proxy_auth=proxy.auth() if proxy else None,
                           allow_redirects=False) as response:
        if response.status != 200:
            text = await response.content.read(2048)
            raise DeliveryError(f"GET {request.upsert.list_url} answered {response.status}: "
                                f"{text.decode(errors='replace').strip()}",
                                status=response.status,
                                retryable=response.status in RETRYABLE)
        try:
            text = await read_body(response, MAX_ANSWER)
        except BodyTooLarge:
            raise DeliveryError(f"GET {request.upsert.list_url}: the answer is larger than "
                                f"{MAX_ANSWER} bytes", retryable=False,
                                brief="the service's list is too large") from None
    try:
        answer = json.loads(text)
    except ValueError:
        raise DeliveryError(f"GET {request.upsert.list_url}: the answer is not JSON",
                            retryable=False, brief="the service's list is not JSON") from None
    return request.upsert.existing(answer)


def error_kind(err: BaseException) -> str:
    """The kind of a connection error without where it happened (no host, no URL): its
    class and, when it has one, the OS's or TLS's reason."""
    inner = getattr(err, "os_error", None) or getattr(err, "certificate_error", None) or err
    reason = getattr(inner, "reason", None) or getattr(inner, "strerror", None)
    return f"{type(err).__name__}: {reason}" if reason else type(err).__name__


def answer_failure(request: OutgoingRequest, text: str) -> str:
    """Why a 2xx answer is a failure for services that say so in the body (Slack's Web API
    `{"ok": false, "error": ...}`, Lark's `{"code": 19001, "msg": ...}`); '' if it is not."""
    if request.success is None:
        return ""
    field, wanted = request.success
    try:
        data = json.loads(text)
    except ValueError:
        return f"the answer is not JSON: {text.strip()[:200]}"
    if not isinstance(data, dict) or data.get(field) != wanted:
        got = data.get(field) if isinstance(data, dict) else None
        detail = (data.get("error") or data.get("msg") or "") if isinstance(data, dict) else ""
        return f"{field}={json.dumps(got)}" + (f": {detail}" if detail else "")
    return ""


async def send(
    request: OutgoingRequest,
    *,
    timeout: float = 15.0,
    tls: TLSConfig | None = None,
    proxy: ProxyConfig | None = None,
    retries: int = 4,
    backoff: float = 1.0,
    max_backoff: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> int:
    """Send `request`; retry `retries` times on retryable failures; return the status code
    (`UNCHANGED` when `request.unless` held and nothing was sent).
    Raises `DeliveryError` (message redacted) when every attempt failed."""
    secrets = (*request.secrets, *header_credentials(request.headers),
               *(proxy.secrets() if proxy else ()))
    delay = backoff
    for attempt in range(retries + 1):
        try:
            return await _attempt(request, timeout=timeout, tls=tls, proxy=proxy)
        except DeliveryError as err:
            error = DeliveryError(redact(str(err), secrets), status=err.status,
                                  retryable=err.retryable, brief=redact(err.brief, secrets))
        except (aiohttp.ClientError, TimeoutError, OSError, ssl.SSLError) as err:
            what = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            error = DeliveryError(redact(f"{request.method} {request.url}: {what}", secrets),
                                  brief=redact(error_kind(err), secrets))
        if not error.retryable or attempt == retries:
            raise error
        await sleep(delay)
        delay = min(delay * 2, max_backoff)
    raise AssertionError("unreachable")
