"""`KubeClient` over aiohttp: the operators' requests made on their own event loop.

`KubernetesClient` (`_kube`) runs every request through the `kubernetes` package's
synchronous `ApiClient` in a worker thread: parameter serialization, urllib3, and two
thread hand-offs per request were about 29 % of kustomize-controller's CPU at 1,000
Kustomizations. `AioKubeClient` makes the same requests with aiohttp on the event loop,
over one bounded connection pool per process (`ConnectionPool`), shared by the operator's
own client and every impersonating or remote client built from it.

It takes everything from the same `kubernetes.client.ApiClient` the rest of the operator
uses (`load_api_client`: a kubeconfig or the in-cluster ServiceAccount), so there is one
source of truth for where and who:

- server (`host`), TLS (CA file or data, client certificate and key, `verify_ssl`,
  `tls_server_name`), the ApiClient's default headers (User-Agent, `Impersonate-User`);
- the `authorization` header exactly as the ApiClient would send it
  (`Configuration.auth_settings()`): a bearer token, or the header a kubeconfig's
  username/password, exec or auth-provider user produced. When the configuration has a
  `refresh_api_key_hook` (in-cluster token file re-read, an exec plugin's expiring token,
  a remote cluster's ServiceAccount token), the hook is run in a worker thread (it may run
  a program or call an API) at most once every `AUTH_REFRESH` seconds, the requests of
  that second sharing the header it gave.

What it does not do, `client_for` leaves to `KubernetesClient` (and logs once per
reason): a proxy, custom socket options or retries, a string `assert_hostname`.

Same contract as `KubernetesClient`: the `KubeClient` Protocol, errors from `api_error`,
`on_request(method, code)` after every request (on the event loop), the request timeout
(connect and answer), apply patches sent as compact JSON. Every request goes through
`_call`. JSON is written and read with orjson (`encode_body`, `decode`; the stdlib for
what orjson refuses). A response is read up to `MAX_RESPONSE` bytes; more is `ResponseTooLarge`.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from yarl import URL

from ._kube import REQUEST_TIMEOUT, KubeClient, KubernetesClient, RestVerbs, api_error
from ._ratelimit import TokenBucket

__all__ = ["AUTH_REFRESH", "MAX_RESPONSE", "AioKubeClient", "ConnectionPool",
           "ResponseTooLarge", "client_for", "decode", "encode_body", "unsupported"]

_log = logging.getLogger("afflux.runtime.kube")

#: seconds between two runs of a configuration's `refresh_api_key_hook`
AUTH_REFRESH = 1.0
#: bytes of one response at most (a list of 10,000 Kustomizations is about 55 MB)
MAX_RESPONSE = 512 * 1024 * 1024
#: connections of a process's pool when not told
DEFAULT_CONNECTIONS = 16


class ResponseTooLarge(Exception):
    """A response body longer than `MAX_RESPONSE`."""


def unsupported(configuration: Any) -> list[str]:
    """What in a `kubernetes.client.Configuration` `AioKubeClient` cannot do (empty: it can
    do all of it). Pure."""
    lacking = []
    if getattr(configuration, "proxy", None):
        lacking.append("a proxy")
    if getattr(configuration, "socket_options", None) is not None:
        lacking.append("socket options")
    if getattr(configuration, "retries", None) is not None:
        lacking.append("retries")
    if isinstance(getattr(configuration, "assert_hostname", None), str):
        lacking.append("assert_hostname")
    if getattr(configuration, "proxy_ssl_context", None) is not None:
        lacking.append("a proxy TLS context")
    return lacking


def _json_default(value: Any) -> Any:
    """What the `kubernetes` client makes of what JSON has no type for: a date or time from
    YAML (`2024-01-02`) as its ISO form."""
    if isinstance(value, datetime.date | datetime.datetime | datetime.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be sent as JSON")


def encode_body(body: Any) -> bytes:
    """A request body as compact UTF-8 JSON (bytes are sent as they are). Pure.

    orjson writes what the stdlib would (dates and times as ISO, keys that are not strings
    as strings), many times faster; what it refuses (an integer past 64 bits, a type it
    does not know) goes to the stdlib, whose answer (or TypeError) stands."""
    if isinstance(body, bytes):
        return body
    try:
        return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        pass
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default).encode()


def decode(raw: bytes) -> Any:
    """A JSON response body: orjson (what it refuses, e.g. an integer past 64 bits, the
    stdlib reads). Pure."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def ssl_context(configuration: Any) -> ssl.SSLContext | None:
    """The TLS context of an https `configuration` (None for http), as urllib3 builds it
    for the `kubernetes` client: its CA (file or data) else the system's, the client
    certificate and key, no verification when `verify_ssl` is off."""
    if not str(configuration.host).startswith("https"):
        return None
    cafile = configuration.ssl_ca_cert or None
    cadata = getattr(configuration, "ca_cert_data", None) or None
    context = ssl.create_default_context(cafile=cafile, cadata=cadata)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif getattr(configuration, "assert_hostname", None) is False:
        context.check_hostname = False
    return context


def auth_header(configuration: Any) -> str | None:
    """The `authorization` header the `kubernetes` ApiClient sends (runs the
    configuration's refresh hook, if it has one: call it off the event loop)."""
    setting = configuration.auth_settings().get("BearerToken")
    return setting["value"] if setting and setting.get("value") else None


class ConnectionPool:
    """One bounded pool of HTTP connections (an aiohttp session) shared by every
    `AioKubeClient` of a process: at most `limit` connections open at once, reused across
    requests (aiohttp keys them by host, port and TLS context, so clients of different
    clusters or client certificates never share one). Made on first use on the running
    event loop (made anew if a later use runs on another loop)."""

    def __init__(self, limit: int = DEFAULT_CONNECTIONS) -> None:
        self.limit = limit
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.limit)
            # no Accept-Encoding: the answer comes uncompressed, as to the kubernetes
            # client (compressing on the API server costs its CPU, on loopback for nothing)
            self._session = aiohttp.ClientSession(
                connector=connector, skip_auto_headers=("Accept-Encoding", "User-Agent"),
                trust_env=False)
            self._loop = loop
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._loop is asyncio.get_running_loop():
            await session.close()


class AioKubeClient(RestVerbs):
    """`KubeClient` over aiohttp (module docstring). `api_client` is the
    `kubernetes.client.ApiClient` it takes its connection from (others, e.g. helm's
    kubeconfig, read `api_client.configuration` too)."""

    def __init__(self, api_client: Any, *, pool: ConnectionPool,
                 request_timeout: float = REQUEST_TIMEOUT,
                 on_request: Callable[[str, str], None] | None = None,
                 limiter: TokenBucket | None = None) -> None:
        self.api_client = api_client
        self.pool = pool
        #: paces every request (`--kube-api-qps`, `--kube-api-burst`); None: no limit
        self.limiter = limiter
        self.request_timeout = request_timeout
        self._on_request = on_request
        configuration = api_client.configuration
        self._configuration = configuration
        self._base = str(configuration.host).rstrip("/")
        self._ssl: ssl.SSLContext | bool | None = None  # made at the first request
        self._server_hostname = getattr(configuration, "tls_server_name", None) or None
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._headers: dict[str, str] = {**api_client.default_headers,
                                         "Accept": "application/json"}
        self._refresh = configuration.refresh_api_key_hook is not None
        self._auth: str | None = None if self._refresh else auth_header(configuration)
        self._auth_at = -float("inf")
        self._auth_lock = asyncio.Lock()

    def close(self) -> None:
        """Nothing of its own to close: the connections are the pool's."""

    async def _authorization(self) -> str | None:
        if not self._refresh or time.monotonic() - self._auth_at < AUTH_REFRESH:
            return self._auth
        async with self._auth_lock:
            if time.monotonic() - self._auth_at >= AUTH_REFRESH:
                self._auth = await asyncio.to_thread(auth_header, self._configuration)
                self._auth_at = time.monotonic()
        return self._auth

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str | None = None,
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any] | None:
        """The one place every request goes through."""
        if self.limiter is not None:
            await self.limiter.wait()
        headers = dict(self._headers)
        authorization = await self._authorization()
        if authorization:
            headers["Authorization"] = authorization
        data = None
        if body is not None:
            data = encode_body(body)
            headers["Content-Type"] = content_type or "application/json"
        url = URL(self._base + path, encoded=True)
        if query:
            url = url.update_query(query)
        code = "<error>"
        try:
            if self._ssl is None:  # a bad CA or key fails a request, as with the old client
                self._ssl = ssl_context(self._configuration) or False
            async with self.pool.session().request(
                method, url, data=data, headers=headers, ssl=self._ssl,
                server_hostname=self._server_hostname, timeout=self._timeout,
            ) as response:
                code = str(response.status)
                raw = await _read(response)
        finally:
            if self._on_request is not None:
                self._on_request(method, code)
        if not 200 <= response.status <= 299:
            raise api_error(response.status, raw)
        if not raw:
            return None
        result: dict[str, Any] = decode(raw)
        return result


async def _read(response: aiohttp.ClientResponse, limit: int = MAX_RESPONSE) -> bytes:
    """The body of `response`, at most `limit` bytes."""
    if response.content_length is not None and response.content_length > limit:
        raise ResponseTooLarge(f"the API server's answer is {response.content_length} "
                               f"bytes, more than the {limit} read at most")
    if response.content_length is not None:
        return await response.read()
    chunks = bytearray()
    async for chunk in response.content.iter_any():
        chunks += chunk
        if len(chunks) > limit:
            raise ResponseTooLarge(f"the API server's answer is more than the {limit} "
                                   "bytes read at most")
    return bytes(chunks)


_logged: set[str] = set()


def client_for(api_client: Any, *, pool: ConnectionPool, max_workers: int = 8,
               request_timeout: float = REQUEST_TIMEOUT,
               on_request: Callable[[str, str], None] | None = None,
               limiter: TokenBucket | None = None) -> KubeClient:
    """The client for `api_client`'s connection: `AioKubeClient` on `pool`, or
    `KubernetesClient` (with `max_workers` threads) when the configuration needs what
    `AioKubeClient` cannot do (`unsupported`; logged once per reason). Either waits for a
    token of `limiter` before each request (`--kube-api-qps`, `--kube-api-burst`)."""
    lacking = unsupported(api_client.configuration)
    if not lacking:
        return AioKubeClient(api_client, pool=pool, request_timeout=request_timeout,
                             on_request=on_request, limiter=limiter)
    why = ", ".join(lacking)
    if why not in _logged:
        _logged.add(why)
        _log.info("Kubernetes connection with %s: using the kubernetes package's client "
                  "in worker threads", why)
    return KubernetesClient(api_client, max_workers=max_workers,
                            request_timeout=request_timeout, on_request=on_request,
                            limiter=limiter)
