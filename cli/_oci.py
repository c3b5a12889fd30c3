"""A small OCI registry client (distribution API v2) over urllib, for the artifact commands.

It speaks HTTPS (the system CAs, or `ca_file`) or, when `insecure`, plain HTTP; it answers a
401 with basic auth, or with a bearer token fetched from the realm the registry names
(`WWW-Authenticate: Bearer realm=...,service=...,scope=...`), using the credentials given.
Blobs are uploaded monolithically (POST then PUT ?digest=). Errors are CLIErrors with hints.
`debug` (a callable) sees each request's method, URL (without its query) and answer status,
never a header or credential (`push artifact --debug`).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import CLIError
from ._ociref import MANIFEST_MEDIA_TYPE, MANIFEST_TYPES, digest_of

__all__ = ["RegistryClient", "RegistryError", "parse_creds"]

_ACCEPT = ", ".join(MANIFEST_TYPES)


class RegistryError(CLIError):
    """The registry said no (or could not be reached)."""


def parse_creds(text: str | None) -> tuple[str, str] | None:
    """`--creds user[:password]` -> (user, password)."""
    if not text:
        return None
    user, _, password = text.partition(":")
    if not user:
        raise CLIError("--creds must be <username>[:<password>]")
    return user, password


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


@dataclass
class RegistryClient:
    host: str
    creds: tuple[str, str] | None = None
    ca_file: Path | None = None
    insecure: bool = False
    timeout: float = 60.0
    debug: Callable[[str], None] | None = field(default=None, repr=False)
    _auth: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.insecure:
            self._context: ssl.SSLContext | None = None
        else:
            self._context = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file else None)

    @property
    def base(self) -> str:
        return f"{'http' if self.insecure else 'https'}://{self.host}"

    # --- requests ---------------------------------------------------------------------------
    def _open(self, req: urllib.request.Request):
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout, context=self._context)
        except urllib.error.HTTPError as err:
            self._log(req, err.code)
            raise
        self._log(req, resp.status)
        return resp

    def _log(self, req: urllib.request.Request, status: int) -> None:
        if self.debug is not None:
            url = urllib.parse.urlsplit(req.full_url)
            self.debug(f"{req.get_method()} {url.scheme}://{url.netloc}{url.path} -> {status}")

    def _token(self, params: Mapping[str, str]) -> str:
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        url = params["realm"] + ("?" + urllib.parse.urlencode(query) if query else "")
        req = urllib.request.Request(url)
        if self.creds:
            req.add_header("Authorization", "Basic " + base64.b64encode(
                f"{self.creds[0]}:{self.creds[1]}".encode()).decode())
        try:
            with self._open(req) as resp:
                data = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            raise RegistryError(f"{self.host}: the token service refused the credentials "
                                f"({err.code})", "check --creds") from None
        token = data.get("token") or data.get("access_token")
        if not token:
            raise RegistryError(f"{self.host}: the token service sent no token")
        return f"Bearer {token}"

    def request(self, method: str, url: str, *, data: bytes | None = None,
                headers: Mapping[str, str] | None = None, ok: tuple[int, ...] = (200,)
                ) -> tuple[int, Mapping[str, str], bytes]:
        """One request (absolute URL or a path under /v2/), answering one auth challenge."""
        if url.startswith("/"):
            url = self.base + url
        for attempt in range(2):
            req = urllib.request.Request(url, data=data, method=method,
                                         headers=dict(headers or {}))
            if self._auth:
                req.add_header("Authorization", self._auth)
            try:
                with self._open(req) as resp:
                    return resp.status, dict(resp.headers.items()), resp.read()
            except urllib.error.HTTPError as err:
                body = err.read()
                if err.code == 401 and attempt == 0:
                    scheme, params = _challenge(err.headers.get("WWW-Authenticate", ""))
                    if scheme == "basic" and self.creds:
                        self._auth = "Basic " + base64.b64encode(
                            f"{self.creds[0]}:{self.creds[1]}".encode()).decode()
                        continue
                    if scheme == "bearer" and "realm" in params:
                        self._auth = self._token(params)
                        continue
                if err.code in ok:
                    return err.code, dict(err.headers.items()), body
                raise self._error(method, url, err.code, body) from None
            except (urllib.error.URLError, OSError) as err:
                reason = getattr(err, "reason", err)
                if isinstance(reason, ssl.SSLCertVerificationError):
                    raise RegistryError(
                        f"cannot verify the TLS certificate of {self.host}: "
                        f"{reason.verify_message}",
                        "pass the CA that signed it with --ca-file") from None
                raise RegistryError(f"cannot reach the registry {self.host}: {reason}",
                                    "check the address (and --insecure-registry for plain "
                                    "HTTP)") from None
        raise RegistryError(f"{method} {url}: the registry kept asking for credentials",
                            "check --creds")

    def _error(self, method: str, url: str, code: int, body: bytes) -> RegistryError:
        try:
            errors = json.loads(body).get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except (ValueError, AttributeError):
            detail = ""
        path = urllib.parse.urlsplit(url).path
        if code == 401:
            return RegistryError(f"{self.host}: authentication failed ({detail or code})",
                                 "check --creds <user>:<password>")
        if code == 403:
            return RegistryError(f"{self.host}: access denied to {path}",
                                 "check that --creds may read or write this repository")
        if code == 404:
            return RegistryError(f"{self.host}: not found: {path}" +
                                 (f" ({detail})" if detail else ""),
                                 "check the repository and tag")
        return RegistryError(f"{method} {path} on {self.host} failed: {code} {detail}".strip())

    # --- the API ----------------------------------------------------------------------------
    def check(self) -> None:
        """GET /v2/: reachable and the credentials work."""
        self.request("GET", "/v2/")

    def blob_exists(self, repo: str, digest: str) -> bool:
        status, _, _ = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 404))
        return status == 200

    def push_blob(self, repo: str, data: bytes) -> str:
        digest = digest_of(data)
        if self.blob_exists(repo, digest):
            return digest
        _, headers, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/", data=b"",
                                     ok=(202,))
        location = headers.get("Location") or headers.get("location")
        if not location:
            raise RegistryError(f"{self.host}: the upload got no Location")
        location = urllib.parse.urljoin(self.base + "/", location)
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", data=data,
                     headers={"Content-Type": "application/octet-stream"}, ok=(201, 204))
        return digest

    def put_manifest(self, repo: str, reference: str, manifest: bytes,
                     media_type: str = MANIFEST_MEDIA_TYPE) -> str:
        self.request("PUT", f"/v2/{repo}/manifests/{reference}", data=manifest,
                     headers={"Content-Type": media_type}, ok=(201, 200))
        return digest_of(manifest)

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest by tag or digest."""
        _, headers, body = self.request("GET", f"/v2/{repo}/manifests/{reference}",
                                        headers={"Accept": _ACCEPT})
        lower = {k.lower(): v for k, v in headers.items()}
        media = lower.get("content-type", MANIFEST_MEDIA_TYPE).split(";")[0].strip()
        digest = digest_of(body)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"{self.host}: the manifest of {repo}@{reference} does not "
                                "match its digest")
        return body, media, digest

    def get_blob(self, repo: str, digest: str) -> bytes:
        _, _, body = self.request("GET", f"/v2/{repo}/blobs/{digest}")
        if digest_of(body) != digest:
            raise RegistryError(f"{self.host}: blob {digest} of {repo} does not match its "
                                "digest")
        return body

    def tags(self, repo: str) -> list[str]:
        url = f"/v2/{repo}/tags/list?n=1000"
        found: list[str] = []
        while url:
            _, headers, body = self.request("GET", url)
            found += list((json.loads(body or b"{}").get("tags")) or [])
            link = {k.lower(): v for k, v in headers.items()}.get("link", "")
            match = re.search(r"<([^>]+)>;\s*rel=\"?next\"?", link)
            url = match.group(1) if match else ""
        return found

    def manifest_json(self, repo: str, reference: str) -> tuple[dict[str, Any], str, bytes, str]:
        body, media, digest = self.get_manifest(repo, reference)
        try:
            data = json.loads(body)
        except ValueError:
            raise RegistryError(f"{repo}:{reference} has an unreadable manifest") from None
        return data, digest, body, media
