"""Registry access for image-reflector-controller: list the tags of a repository, look
up the digest of a tag.

Speaks the registry HTTP API v2 (Docker distribution / OCI distribution spec):

- tags: `GET /v2/<name>/tags/list?n=<page size>`, following `Link: <...>; rel="next"`
  until the last page;
- digest: `HEAD /v2/<name>/manifests/<tag>` with the OCI and Docker manifest media types
  in `Accept`, read from `Docker-Content-Digest` (or, when a registry leaves it out, the
  sha256 of the manifest fetched with GET);
- authentication: anonymous first; on `401` the `WWW-Authenticate` challenge decides:
  `Basic` (send the credentials) or `Bearer realm=...,service=...,scope=...` (get a token
  from the realm, with the credentials as basic auth, or an identity token as an OAuth2
  refresh token, and send it as `Authorization: Bearer`); a registry token from the
  Docker config is sent as a bearer token directly;
- transport: https, verified with the system CAs plus `ca.crt` of `spec.certSecretRef`
  (and a client certificate from `tls.crt` + `tls.key`), or plain http with
  `spec.insecure`; an optional proxy; one deadline (`spec.timeout`) for the whole scan.

Failures are typed for the reconciler: `AuthenticationFailed` (the registry refused the
credentials, or wants some and none were given, or the TLS/credential Secret is
unusable), `ReadOperationFailed` (network, TLS, missing repository, server errors,
timeouts); messages say what to fix. `ExclusionListInvalid` (a pattern of
`spec.exclusionList` is not a valid regexp) stalls.

The client is asynchronous (aiohttp), for the operator's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp

from afflux.api._meta import AUTHENTICATION_FAILED, READ_OPERATION_FAILED
from afflux.controllers.runtime import (
    GenericError,
    RegistryCredentials,
    SecretKeyError,
    StallingError,
    decode_secret,
    tls_keys,
)

from ._goregex import GoRegexError, compile_go_regex
from ._imagename import ImageName, parse_image

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MANIFEST_MEDIA_TYPES",
    "AuthenticationFailed",
    "ExclusionListInvalid",
    "ReadOperationFailed",
    "RegistryClient",
    "ScanOutcome",
    "TLSConfig",
    "compile_exclusion_list",
    "exclude_tags",
    "parse_link_next",
    "parse_www_authenticate",
    "scan_tags",
    "tls_from_secret",
]

DEFAULT_PAGE_SIZE = 1000
MAX_PAGES = 100_000
USER_AGENT = "afflux-image-reflector-controller"

#: What a digest lookup accepts: OCI index and manifest, Docker manifest list and v2.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


class AuthenticationFailed(GenericError):
    """The registry refused us, or the credentials/TLS Secret cannot be used."""

    def __init__(self, message: str) -> None:
        super().__init__(AUTHENTICATION_FAILED, message)


class ReadOperationFailed(GenericError):
    """Reading from the registry failed (network, TLS, HTTP error, timeout)."""

    def __init__(self, message: str) -> None:
        super().__init__(READ_OPERATION_FAILED, message)


class ExclusionListInvalid(StallingError):
    """A pattern of spec.exclusionList is not a valid regular expression."""

    def __init__(self, message: str) -> None:
        super().__init__(READ_OPERATION_FAILED, message)


# --- pure helpers ---------------------------------------------------------------------------------


def parse_www_authenticate(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="https://auth",service="reg",scope="repository:a:pull,push"` ->
    ("bearer", {"realm": ..., "service": ..., "scope": ...}); the scheme is lowercased."""
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    params: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,\t":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().lower()
        i = eq + 1
        if i < n and rest[i] == '"':
            i += 1
            value: list[str] = []
            while i < n and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(rest[i])
                i += 1
            i += 1  # closing quote
            params[key] = "".join(value)
        else:
            end = rest.find(",", i)
            end = n if end < 0 else end
            params[key] = rest[i:end].strip()
            i = end
    return scheme.lower(), params


def parse_link_next(header: str | None) -> str | None:
    """The target of `rel="next"` in a `Link` header, or None."""
    if not header:
        return None
    for part in header.split(","):
        segments = [s.strip() for s in part.split(";")]
        if not segments or not segments[0].startswith("<") or not segments[0].endswith(">"):
            continue
        rels = [s for s in segments[1:] if s.replace(" ", "").lower() in ('rel="next"', "rel=next")]
        if rels:
            return segments[0][1:-1]
    return None


def compile_exclusion_list(patterns: Sequence[str]) -> list[Any]:
    """Compile `spec.exclusionList` (Go regexps); `ExclusionListInvalid` names the bad one."""
    compiled = []
    for index, pattern in enumerate(patterns):
        try:
            compiled.append(compile_go_regex(pattern))
        except GoRegexError as err:
            raise ExclusionListInvalid(f"spec.exclusionList[{index}]: {err}") from err
    return compiled


def exclude_tags(tags: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The tags that no pattern of the exclusion list finds a match in (order kept)."""
    compiled = compile_exclusion_list(patterns)
    return [tag for tag in tags if not any(rx.search(tag) for rx in compiled)]


# --- TLS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSConfig:
    """PEM material from `spec.certSecretRef`: CA, and optionally a client certificate."""

    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None

    def __repr__(self) -> str:  # never print keys
        return f"TLSConfig(ca={bool(self.ca_pem)}, client_cert={bool(self.cert_pem)})"

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context: system CAs + `ca_pem`, client cert if any."""
        context = ssl.create_default_context()
        try:
            if self.ca_pem:
                context.load_verify_locations(cadata=self.ca_pem.decode("utf-8"))
            if self.cert_pem and self.key_pem:
                with tempfile.TemporaryDirectory(prefix="afflux-tls-") as tmp:
                    cert, key = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
                    cert.write_bytes(self.cert_pem)
                    key.touch(mode=0o600)
                    key.write_bytes(self.key_pem)
                    context.load_cert_chain(cert, key)
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
            raise AuthenticationFailed(
                f"the TLS material of spec.certSecretRef is not usable ({err}): 'ca.crt' must be a "
                "PEM CA certificate, 'tls.crt' and 'tls.key' a matching PEM certificate and key"
            ) from err
        return context


def tls_from_secret(data: Mapping[str, str | bytes], *, base64_values: bool = True) -> TLSConfig:
    """Read `ca.crt`, `tls.crt`, `tls.key` (or the deprecated `caFile`, `certFile`,
    `keyFile`) from a Secret's data (base64 values as the API returns them, unless
    `base64_values` is False)."""
    try:
        keys = tls_keys(decode_secret(data) if base64_values else data, legacy=True)
    except SecretKeyError as err:
        raise AuthenticationFailed(f"spec.certSecretRef: {err}") from None
    return TLSConfig(ca_pem=keys.ca, cert_pem=keys.cert, key_pem=keys.key)


# --- the client -------------------------------------------------------------------------------------


def _error_detail(body: bytes) -> str:
    """`CODE: message` from a registry error body, when it has one."""
    try:
        doc = json.loads(body.decode("utf-8"))
        errors = doc.get("errors") or []
        parts = [
            f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
            for e in errors
            if isinstance(e, dict)
        ]
        return "; ".join(p for p in parts if p)
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""


@dataclass
class RegistryClient:
    """One registry repository, with its credentials and transport settings.

    Use as `async with RegistryClient(...) as client:` (or call `close()`)."""

    image: ImageName
    credentials: RegistryCredentials | None = None
    tls: TLSConfig | None = None
    insecure: bool = False
    timeout: float = 60.0
    proxy: str | None = None
    user_agent: str = USER_AGENT
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)
    _authorization: str | None = field(default=None, init=False, repr=False)

    @property
    def base(self) -> str:
        return self.image.api_base(self.insecure)

    async def __aenter__(self) -> RegistryClient:
        self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            context: ssl.SSLContext | bool = True
            if not self.insecure:
                context = (self.tls or TLSConfig()).ssl_context()
            connector = aiohttp.TCPConnector(ssl=context, limit=4)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": self.user_agent},
                trust_env=self.proxy is None,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- requests

    async def _request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, Mapping[str, str], bytes]:
        session = self._open()
        host = self.image.api_host
        try:
            async with session.request(
                method,
                url,
                headers=dict(headers or {}),
                data=data,
                proxy=self.proxy,
                allow_redirects=True,
            ) as resp:
                body = await resp.read()
                return resp.status, resp.headers, body
        except aiohttp.ClientConnectorCertificateError as err:
            raise ReadOperationFailed(
                f"the TLS certificate of {host} could not be verified ({err.certificate_error}): if the "
                "registry uses a private CA, put it under 'ca.crt' in the Secret of spec.certSecretRef"
            ) from err
        except aiohttp.ClientSSLError as err:
            raise ReadOperationFailed(
                f"TLS connection to {host} failed ({err}): if the registry serves plain HTTP, set "
                "spec.insecure: true"
            ) from err
        except aiohttp.ClientConnectorError as err:
            raise ReadOperationFailed(
                f"cannot connect to registry {host}: {err.os_error or err}"
            ) from err
        except aiohttp.InvalidURL as err:
            raise ReadOperationFailed(f"invalid registry URL {url}: {err}") from err
        except (aiohttp.ClientError, OSError) as err:
            raise ReadOperationFailed(
                f"request to registry {host} failed: {type(err).__name__}: {err}"
            ) from err

    async def _authorized(
        self, method: str, url: str, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """A request, answering one authentication challenge if the registry sends one."""
        base_headers = dict(headers or {})
        if self._authorization:
            base_headers["Authorization"] = self._authorization
        status, resp_headers, body = await self._request(method, url, base_headers)
        if status != 401:
            return status, resp_headers, body
        challenge = resp_headers.get("WWW-Authenticate", "")
        self._authorization = await self._answer(challenge)
        base_headers["Authorization"] = self._authorization
        status, resp_headers, body = await self._request(method, url, base_headers)
        if status in (401, 403):
            raise self._refused(status, body)
        return status, resp_headers, body

    def _refused(self, status: int, body: bytes) -> AuthenticationFailed:
        host = self.image.api_host
        detail = _error_detail(body)
        detail = f" ({detail})" if detail else ""
        if self.credentials is None or self.credentials.anonymous:
            return AuthenticationFailed(
                f"registry {host} requires authentication (HTTP {status}){detail}: set spec.secretRef to a "
                f"kubernetes.io/dockerconfigjson Secret with credentials for {host}"
            )
        return AuthenticationFailed(
            f"registry {host} rejected the credentials of spec.secretRef for {self.image.canonical} "
            f"(HTTP {status}){detail}: check the username and password (or token) for {host}"
        )

    async def _answer(self, challenge: str) -> str:
        scheme, params = parse_www_authenticate(challenge)
        creds = self.credentials or RegistryCredentials()
        if scheme == "basic":
            if not creds.username and not creds.password:
                raise self._refused(401, b"")
            token = base64.b64encode(
                f"{creds.username or ''}:{creds.password or ''}".encode()
            ).decode()
            return f"Basic {token}"
        if scheme == "bearer":
            if creds.registry_token:
                return f"Bearer {creds.registry_token}"
            return f"Bearer {await self._token(params, creds)}"
        raise AuthenticationFailed(
            f"registry {self.image.api_host} asks for an unsupported authentication scheme: {challenge!r}"
        )

    async def _token(self, params: Mapping[str, str], creds: RegistryCredentials) -> str:
        realm = params.get("realm")
        if not realm:
            raise AuthenticationFailed(
                f"registry {self.image.api_host} sent a Bearer challenge without a realm"
            )
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        query["scope"] = params.get("scope") or f"repository:{self.image.repository}:pull"
        headers: dict[str, str] = {}
        method = "GET"
        if creds.identity_token:
            method = "POST"
            form = {
                **query,
                "grant_type": "refresh_token",
                "refresh_token": creds.identity_token,
                "client_id": USER_AGENT,
            }
            url = realm
            data: bytes | None = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"
            data = None
            if creds.username or creds.password:
                token = base64.b64encode(
                    f"{creds.username or ''}:{creds.password or ''}".encode()
                ).decode()
                headers["Authorization"] = f"Basic {token}"
        status, _, body = await self._request(method, url, headers, data)
        if status in (401, 403):
            raise self._refused(status, body)
        if status >= 400:
            raise AuthenticationFailed(f"token endpoint {realm} answered HTTP {status}")
        try:
            doc = json.loads(body.decode("utf-8"))
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError, UnicodeDecodeError) as err:
            raise AuthenticationFailed(f"token endpoint {realm} sent no JSON token") from err
        if not token:
            raise AuthenticationFailed(f"token endpoint {realm} sent no token")
        return str(token)

    def _check(self, status: int, body: bytes, what: str) -> None:
        if status < 300:
            return
        detail = _error_detail(body)
        detail = f": {detail}" if detail else ""
        host = self.image.api_host
        if status in (401, 403):
            raise self._refused(status, body)
        if status == 404:
            raise ReadOperationFailed(
                f"{what} not found in registry {host} (HTTP 404{detail}): check spec.image "
                f"('{self.image.canonical}')"
            )
        raise ReadOperationFailed(f"{what} failed: registry {host} answered HTTP {status}{detail}")

    # -- operations

    async def list_tags(self, page_size: int = DEFAULT_PAGE_SIZE) -> list[str]:
        """All tags of the repository, in the registry's order."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._list_tags(page_size)
        except TimeoutError as err:
            raise ReadOperationFailed(
                f"listing the tags of {self.image.canonical} timed out after {self.timeout:g}s (spec.timeout)"
            ) from err

    async def _list_tags(self, page_size: int) -> list[str]:
        url: str | None = (
            f"{self.base}/v2/{self.image.repository}/tags/list?{urlencode({'n': page_size})}"
        )
        tags: list[str] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if url is None:
                return tags
            if url in seen:
                raise ReadOperationFailed(
                    f"registry {self.image.api_host} sent a pagination loop at {url}"
                )
            seen.add(url)
            status, headers, body = await self._authorized(
                "GET", url, {"Accept": "application/json"}
            )
            self._check(status, body, f"repository {self.image.repository}")
            try:
                doc = json.loads(body.decode("utf-8"))
                page = doc.get("tags") or []
                if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                    raise ValueError("'tags' is not a list of strings")
            except (ValueError, AttributeError, UnicodeDecodeError) as err:
                raise ReadOperationFailed(
                    f"registry {self.image.api_host} sent an unreadable tag list: {err}"
                ) from err
            tags.extend(page)
            nxt = parse_link_next(headers.get("Link"))
            url = urljoin(url, nxt) if nxt else None
        raise ReadOperationFailed(f"more than {MAX_PAGES} pages of tags at {self.image.api_host}")

    async def digest(self, tag: str) -> str:
        """The manifest digest (`sha256:<hex>`) the tag points at."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._digest(tag)
        except TimeoutError as err:
            raise ReadOperationFailed(
                f"looking up the digest of {self.image.canonical}:{tag} timed out after {self.timeout:g}s"
            ) from err

    async def _digest(self, tag: str) -> str:
        url = f"{self.base}/v2/{self.image.repository}/manifests/{tag}"
        accept = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        status, headers, body = await self._authorized("HEAD", url, accept)
        self._check(status, body, f"tag {tag} of {self.image.repository}")
        digest = headers.get("Docker-Content-Digest")
        if digest:
            return digest
        status, headers, body = await self._authorized("GET", url, accept)
        self._check(status, body, f"tag {tag} of {self.image.repository}")
        return headers.get("Docker-Content-Digest") or f"sha256:{hashlib.sha256(body).hexdigest()}"


@dataclass(frozen=True)
class ScanOutcome:
    """What a scan found: the tags kept after the exclusion list, and how many it excluded."""

    image: ImageName
    tags: list[str]
    excluded: int


async def scan_tags(
    image: str | ImageName,
    *,
    credentials: RegistryCredentials | None = None,
    tls: TLSConfig | None = None,
    insecure: bool = False,
    timeout: float = 60.0,
    proxy: str | None = None,
    exclusion_list: Sequence[str] = ("^.*\\.sig$",),
    page_size: int = DEFAULT_PAGE_SIZE,
) -> ScanOutcome:
    """List the tags of `image` and drop the ones `exclusion_list` matches."""
    name = parse_image(image) if isinstance(image, str) else image
    compiled = compile_exclusion_list(exclusion_list)  # fail before any network work
    async with RegistryClient(name, credentials, tls, insecure, timeout, proxy) as client:
        found = await client.list_tags(page_size)
    kept = [tag for tag in found if not any(rx.search(tag) for rx in compiled)]
    return ScanOutcome(name, kept, len(found) - len(kept))
