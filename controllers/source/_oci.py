"""OCI registries for source-controller: OCIRepository artifacts and Helm charts in registries.

Two halves:

- pure: `parse_oci_url` (`oci://host[:port]/repo/path`, no tag or digest), `resolve_ref`
  (which of `spec.ref` wins: digest, then semver, then tag, default `latest`),
  `select_semver_tag` (newest tag in a Masterminds range, after the optional
  `semverFilter` regular expression), `select_layer` (the first layer, or the first of a
  media type), `chart_tag_version`/`chart_version_tag` (Helm stores `+` as `_` in tags);
- I/O: `RegistryClient`, a small Docker Registry HTTP API v2 / OCI distribution client
  over `requests`: tags with `Link` pagination, manifests (HEAD for the digest alone, GET
  checked against the digest), blobs streamed into a file with their digest and size
  verified. Authentication is what the registry asks for in `WWW-Authenticate`: `Basic`
  with the credentials of a dockerconfigjson Secret, or `Bearer` (a token from the realm,
  fetched with those credentials, an identity token as a refresh token, or anonymously);
  a registry token is sent as a bearer token as is. A registry that asked for `Basic`
  once is remembered (`BasicHosts`, bounded, per process): the next client with
  credentials for it sends them with its first request, so a no-change reconcile is one
  manifest HEAD, not a 401 and the HEAD again. TLS comes from `_transport`
  (certSecretRef); `insecure` means plain HTTP.

Why not oras-py for pulling: it reads the user's Docker config files, retries with sleeps
inside every call, and reports every failure as the same `ValueError`, where a reconciler
must tell a refused credential (AuthenticationFailed) from a missing tag or an unreachable
host (OCIArtifactPullFailed) and must not use any credentials but the object's own. The
tests push with oras-py, so the two implementations check each other.

Errors are `RegistryError` with a `kind` (`auth`, `not_found`, `unreachable`, `invalid`);
the reconcilers map kinds to Flux reasons. Every message names the registry URL.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import requests

from afflux.api._semver import SemverError, latest_matching, parse_constraint
from afflux.controllers.runtime import RegistryCredentials

from ._transport import TLSMaterial, http_session

__all__ = [
    "DOCKER_MANIFEST",
    "FLUX_CONFIG_MEDIA_TYPE",
    "FLUX_CONTENT_MEDIA_TYPE",
    "HELM_CHART_CONTENT_MEDIA_TYPE",
    "HELM_CONFIG_MEDIA_TYPE",
    "OCI_MANIFEST",
    "BasicHosts",
    "Manifest",
    "OCIURL",
    "RegistryClient",
    "RegistryError",
    "ResolvedRef",
    "chart_tag_version",
    "chart_version_tag",
    "parse_oci_url",
    "resolve_ref",
    "select_layer",
    "select_semver_tag",
    "tar_stream",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)

FLUX_CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
FLUX_CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
HELM_CHART_CONTENT_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HELM_CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"

DEFAULT_TAG = "latest"
MAX_MANIFEST_SIZE = 4 << 20
CHUNK = 1 << 20
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")


class RegistryError(Exception):
    """A registry operation failed. `kind`: `auth` (credentials refused or unusable),
    `not_found` (repository, tag or blob missing), `unreachable` (network, TLS, server
    errors), `invalid` (bad input or an unusable answer)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# --- pure ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OCIURL:
    """`oci://host[:port]/repository`."""

    host: str
    repository: str

    def __str__(self) -> str:
        return f"oci://{self.host}/{self.repository}"

    def child(self, name: str) -> OCIURL:
        """The repository `name` below this one (a chart in an OCI HelmRepository)."""
        return OCIURL(self.host, f"{self.repository}/{name}".strip("/"))


def parse_oci_url(url: str) -> OCIURL:
    """Split an `oci://` URL; raise RegistryError(`invalid`) with what to change."""
    if not isinstance(url, str) or not url.startswith("oci://"):
        raise RegistryError("invalid", f"URL {url!r} must start with oci://")
    rest = url[len("oci://"):].rstrip("/")
    host, sep, repository = rest.partition("/")
    if not host or not sep or not repository:
        raise RegistryError(
            "invalid", f"URL {url!r} must name a repository: oci://<host>[:<port>]/<path>"
        )
    if "@" in repository or ":" in repository.rsplit("/", 1)[-1]:
        raise RegistryError(
            "invalid",
            f"URL {url!r} must not contain a tag or digest; use spec.ref to select one",
        )
    if not _REPO.match(repository):
        raise RegistryError("invalid",
                            f"URL {url!r}: {repository!r} is not a valid repository name")
    return OCIURL(host.lower(), repository)


@dataclass(frozen=True)
class ResolvedRef:
    """What to pull: a tag (possibly chosen by semver) or a digest, and how to name it."""

    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What goes into `/v2/<repo>/manifests/<reference>`."""
        return self.digest or self.tag or DEFAULT_TAG

    def revision(self, manifest_digest: str) -> str:
        """Flux's revision: `<tag>@sha256:<hex>`, or the digest alone for a digest ref."""
        if self.digest or not self.tag:
            return manifest_digest
        return f"{self.tag}@{manifest_digest}"


def resolve_ref(
    ref: Mapping[str, Any] | None, list_tags: Callable[[], list[str]] | None = None
) -> ResolvedRef:
    """Apply `spec.ref`'s precedence (digest > semver > tag > `latest`).

    `list_tags` is called only for a semver range. Raises RegistryError(`invalid`) for a
    malformed digest, range or filter, (`not_found`) when no tag matches.
    """
    ref = ref or {}
    digest = (ref.get("digest") or "").strip()
    if digest:
        if not _DIGEST.match(digest):
            raise RegistryError("invalid", f"invalid digest {digest!r}: expected sha256:<64 hex>")
        return ResolvedRef(digest=digest)
    semver = (ref.get("semver") or "").strip()
    if semver:
        if list_tags is None:
            raise RegistryError("invalid", "a semver range needs the repository's tags")
        tag = select_semver_tag(list_tags(), semver, ref.get("semverFilter") or None)
        return ResolvedRef(tag=tag)
    tag = (ref.get("tag") or "").strip() or DEFAULT_TAG
    if not _TAG.match(tag):
        raise RegistryError("invalid", f"invalid tag {tag!r}")
    return ResolvedRef(tag=tag)


def select_semver_tag(tags: list[str], semver: str, semver_filter: str | None = None) -> str:
    """The newest tag in the range `semver` among those `semver_filter` (a regular
    expression searched in the tag) keeps."""
    try:
        constraint = parse_constraint(semver)
    except SemverError as err:
        raise RegistryError("invalid", f"semver range {semver!r} is invalid: {err}") from None
    candidates = tags
    if semver_filter:
        try:
            pattern = re.compile(semver_filter)
        except re.error as err:
            raise RegistryError(
                "invalid",
                f"semverFilter {semver_filter!r} is not a valid regular expression: {err}"
            ) from None
        candidates = [t for t in tags if pattern.search(t)]
    chosen = latest_matching(constraint, candidates)
    if chosen is None:
        where = f" (after the filter {semver_filter!r})" if semver_filter else ""
        raise RegistryError(
            "not_found", f"no tag matches the semver range {semver!r}{where}; "
            f"{len(candidates)} tag(s) considered"
        )
    return chosen


def chart_version_tag(version: str) -> str:
    """Helm stores a chart version's `+` (not allowed in tags) as `_`."""
    return version.replace("+", "_")


def chart_tag_version(tag: str) -> str:
    return tag.replace("_", "+")


@contextlib.contextmanager
def tar_stream(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A tarball's uncompressed stream (gzip or plain) for `safe_extract`.

    gzip is undone with the `gzip` module: `tarfile`'s own streaming reader cannot skip
    a gzip header's extra field, and Helm writes one into every chart package.
    """
    with open(path, "rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield raw


def select_layer(manifest: Mapping[str, Any], media_type: str | None = None) -> dict[str, Any]:
    """The first layer, or the first one of `media_type`; RegistryError(`invalid`) if none."""
    layers = manifest.get("layers") or []
    if not isinstance(layers, list) or not layers:
        raise RegistryError("invalid", "the artifact has no layers")
    for layer in layers:
        if not isinstance(layer, Mapping):
            continue
        if not media_type or layer.get("mediaType") == media_type:
            return dict(layer)
    found = ", ".join(sorted({str(x.get("mediaType")) for x in layers if isinstance(x, Mapping)}))
    raise RegistryError(
        "invalid", f"the artifact has no layer of media type '{media_type}' (it has: {found})"
    )


# --- the client -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """A fetched image manifest."""

    digest: str
    media_type: str
    raw: bytes
    data: dict[str, Any] = field(repr=False)

    @property
    def annotations(self) -> dict[str, str]:
        found = self.data.get("annotations") or {}
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, Mapping) else {}

    @property
    def config_media_type(self) -> str | None:
        config = self.data.get("config") or {}
        return config.get("mediaType") if isinstance(config, Mapping) else None


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ("bearer", {...})."""
    scheme, _, rest = header.strip().partition(" ")
    params = dict(
        (m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3))
        for m in re.finditer(r'([A-Za-z_]+)=(?:"([^"]*)"|([^,\s]*))', rest)
    )
    return scheme.lower(), params


def _next_link(header: str | None) -> str | None:
    """The `rel="next"` target of a Link header."""
    if not header:
        return None
    for part in header.split(","):
        m = re.match(r'\s*<([^>]*)>\s*;(.*)', part)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return m.group(1)
    return None


class BasicHosts:
    """The registries (base URLs) that answered a request with a `Basic` challenge, the
    `limit` most recent ones. Thread-safe: the reconcilers' worker threads share one."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._bases: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, base: object) -> bool:
        with self._lock:
            return base in self._bases

    def add(self, base: str) -> None:
        with self._lock:
            self._bases[base] = None
            self._bases.move_to_end(base)
            while len(self._bases) > self.limit:
                self._bases.popitem(last=False)

    def discard(self, base: str) -> None:
        with self._lock:
            self._bases.pop(base, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._bases)


#: What this process learned about its registries (see `BasicHosts`).
BASIC_HOSTS = BasicHosts()


class RegistryClient:
    """One registry host; see the module docstring. Blocking: call it from a thread."""

    def __init__(
        self,
        host: str,
        *,
        credentials: RegistryCredentials | None = None,
        tls: TLSMaterial | None = None,
        insecure: bool = False,
        timeout: float = 60.0,
        proxy: str | None = None,
        basic_hosts: BasicHosts | None = None,
    ) -> None:
        self.host = host
        self.basic_hosts = BASIC_HOSTS if basic_hosts is None else basic_hosts
        self.base = f"{'http' if insecure else 'https'}://{host}"
        self.credentials = credentials if credentials and not credentials.anonymous else None
        self.timeout = timeout
        self.session = http_session(tls, proxy=proxy)
        self._auth: dict[str, str] = {}  # scope -> Authorization header value

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------

    def _basic(self) -> str | None:
        creds = self.credentials
        if creds is None or creds.username is None:
            return None
        token = base64.b64encode(f"{creds.username}:{creds.password or ''}".encode()).decode()
        return f"Basic {token}"

    def _get(self, url: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(kwargs.pop("method", "GET"), url, timeout=self.timeout,
                                        **kwargs)
        except requests.exceptions.SSLError as err:
            raise RegistryError("unreachable", f"TLS handshake with {self.base} failed: "
                                f"{_root_cause(err)}") from None
        except requests.exceptions.ConnectionError as err:
            raise RegistryError("unreachable", f"cannot connect to {self.base}: "
                                f"{_root_cause(err)}") from None
        except requests.exceptions.Timeout:
            raise RegistryError(
                "unreachable", f"{self.base} did not answer within {self.timeout:g}s"
            ) from None
        except requests.exceptions.RequestException as err:
            raise RegistryError("unreachable", f"request to {self.base} failed: {err}") from None

    def _token(self, params: Mapping[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise RegistryError("auth", f"{self.base} asked for a bearer token without a realm")
        query = {"service": params.get("service", ""), "scope": params.get("scope") or scope}
        creds = self.credentials
        if creds is not None and creds.identity_token:
            response = self._get(realm, method="POST", data={
                "grant_type": "refresh_token", "refresh_token": creds.identity_token,
                "service": query["service"], "scope": query["scope"],
                "client_id": "afflux-source-controller"})
        else:
            headers = {}
            basic = self._basic()
            if basic:
                headers["Authorization"] = basic
            response = self._get(realm, params=query, headers=headers)
        if response.status_code in (401, 403):
            raise RegistryError(
                "auth", f"the token service of {self.base} refused the credentials "
                f"(HTTP {response.status_code}); check the Secret's registry credentials")
        if response.status_code != 200:
            raise RegistryError(
                "unreachable", f"token request to {realm} failed: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise RegistryError("invalid", f"token service {realm} did not answer JSON") from None
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError("invalid", f"token service {realm} returned no token")
        return f"Bearer {token}"

    def _request(self, method: str, path: str, scope: str, *,
                 headers: Mapping[str, str] | None = None, stream: bool = False,
                 absolute: str | None = None) -> requests.Response:
        """One request with the registry's auth dance; returns any non-401 answer."""
        url = absolute or f"{self.base}{path}"
        sent = dict(headers or {})
        if self.credentials is not None and self.credentials.registry_token:
            self._auth.setdefault(scope, f"Bearer {self.credentials.registry_token}")
        if scope not in self._auth and self.base in self.basic_hosts:
            basic = self._basic()
            if basic is not None:  # it asked for Basic before: no 401 round trip
                self._auth[scope] = basic
        if scope in self._auth:
            sent["Authorization"] = self._auth[scope]
        response = self._get(url, method=method, headers=sent, stream=stream)
        if response.status_code != 401:
            return response
        response.close()
        self.basic_hosts.discard(self.base)
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme, params = _parse_challenge(challenge)
        if scheme == "basic":
            basic = self._basic()
            if basic is None:
                raise RegistryError(
                    "auth", f"{self.base} requires authentication: set spec.secretRef to a "
                    "dockerconfigjson Secret with credentials for it")
            self._auth[scope] = basic
        elif scheme == "bearer":
            self._auth[scope] = self._token(params, scope)
        else:
            raise RegistryError("auth", f"{self.base} answered 401 with an unsupported "
                                f"challenge {challenge!r}")
        sent["Authorization"] = self._auth[scope]
        response = self._get(url, method=method, headers=sent, stream=stream)
        if response.status_code == 401:
            response.close()
            who = "the credentials were refused" if self.credentials else "anonymous access denied"
            raise RegistryError(
                "auth", f"{self.base}: {who} (HTTP 401); check the Secret's registry credentials")
        if scheme == "basic":
            self.basic_hosts.add(self.base)
        return response

    def _check(self, response: requests.Response, what: str) -> None:
        code = response.status_code
        if 200 <= code < 300:
            return
        detail = _error_detail(response)
        response.close()
        if code == 403:
            raise RegistryError("auth", f"{what}: access denied (HTTP 403){detail}")
        if code == 404:
            raise RegistryError("not_found", f"{what}: not found (HTTP 404){detail}")
        raise RegistryError("unreachable", f"{what}: HTTP {code}{detail}")

    # --- operations -----------------------------------------------------------------------

    def tags(self, repository: str) -> list[str]:
        """Every tag of the repository (following `Link` pagination)."""
        scope = f"repository:{repository}:pull"
        url: str | None = f"{self.base}/v2/{repository}/tags/list?n=1000"
        found: list[str] = []
        pages = 0
        while url is not None:
            pages += 1
            if pages > 1000:
                raise RegistryError("invalid", f"{self.base}: too many pages of tags")
            response = self._request("GET", "", scope, absolute=url)
            self._check(response, f"listing tags of {self.base}/{repository}")
            try:
                body = response.json()
            except ValueError:
                raise RegistryError("invalid", f"tag list of {repository} is not JSON") from None
            found.extend(str(t) for t in (body.get("tags") or []))
            link = _next_link(response.headers.get("Link"))
            url = urllib.parse.urljoin(url, link) if link else None
        return found

    def head_digest(self, repository: str, reference: str) -> str | None:
        """The manifest digest the registry reports for a tag/digest (None if it does not
        say), without downloading the manifest."""
        response = self._request("HEAD", f"/v2/{repository}/manifests/{reference}",
                                 f"repository:{repository}:pull",
                                 headers={"Accept": ", ".join(MANIFEST_TYPES + INDEX_TYPES)})
        self._check(response, f"{self.base}/{repository}:{reference}")
        digest = response.headers.get("Docker-Content-Digest")
        return digest if digest and _DIGEST.match(digest) else None

    def any_manifest(self, repository: str, reference: str, *,
                     max_size: int = MAX_MANIFEST_SIZE) -> Manifest:
        """The manifest or index a tag or digest names, at most `max_size` bytes (checked
        against the digest); no check of its type."""
        what = f"{self.base}/{repository}:{reference}"
        response = self._request("GET", f"/v2/{repository}/manifests/{reference}",
                                 f"repository:{repository}:pull", stream=True,
                                 headers={"Accept": ", ".join(MANIFEST_TYPES + INDEX_TYPES)})
        self._check(response, what)
        with response:
            raw = _read_bounded(response, max_size, f"{what}: manifest")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError("invalid", f"{what}: manifest digest is {digest}, not {reference}")
        try:
            data = json.loads(raw)
        except ValueError:
            raise RegistryError("invalid", f"{what}: the manifest is not JSON") from None
        if not isinstance(data, dict):
            raise RegistryError("invalid", f"{what}: the manifest is not a JSON object")
        media_type = str(data.get("mediaType") or response.headers.get("Content-Type", ""))
        media_type = media_type.split(";")[0].strip()
        return Manifest(digest=digest, media_type=media_type, raw=raw, data=data)

    def manifest(self, repository: str, reference: str) -> Manifest:
        """The image manifest of a tag or digest (checked against the digest)."""
        what = f"{self.base}/{repository}:{reference}"
        found = self.any_manifest(repository, reference)
        data, media_type, digest, raw = found.data, found.media_type, found.digest, found.raw
        if media_type in INDEX_TYPES or "manifests" in data:
            raise RegistryError(
                "invalid", f"{what} is an image index (multi-platform image), not an artifact")
        if media_type and media_type not in MANIFEST_TYPES:
            raise RegistryError("invalid", f"{what}: unsupported manifest type {media_type!r}")
        return Manifest(digest=digest, media_type=media_type or OCI_MANIFEST, raw=raw, data=data)

    def referrers(self, repository: str, digest: str, *, max_size: int = MAX_MANIFEST_SIZE
                  ) -> list[dict[str, Any]]:
        """The descriptors of the manifests whose `subject` is `digest`: the OCI 1.1
        referrers API (its first page), or (a registry without it answers 404, or 400/405
        /406/501) the referrers tag `sha256-<hex>`; no referrers at all is an empty list."""
        what = f"{self.base}/{repository}@{digest}"
        if not _DIGEST.match(digest):
            raise RegistryError("invalid", f"unsupported digest {digest!r}")
        response = self._request("GET", f"/v2/{repository}/referrers/{digest}",
                                 f"repository:{repository}:pull", stream=True,
                                 headers={"Accept": OCI_INDEX})
        index: Any = None
        if response.status_code in (400, 404, 405, 406, 501):  # no referrers API here
            response.close()
            try:
                index = self.any_manifest(repository, digest.replace(":", "-", 1),
                                          max_size=max_size).data
            except RegistryError as err:
                if err.kind == "not_found":
                    return []
                raise
        else:
            self._check(response, f"listing the referrers of {what}")
            with response:
                raw = _read_bounded(response, max_size, f"referrers of {what}")
            try:
                index = json.loads(raw)
            except ValueError:
                raise RegistryError("invalid", f"the referrers of {what} are not JSON") from None
        found = index.get("manifests") if isinstance(index, Mapping) else None
        if not isinstance(found, list):
            raise RegistryError("invalid", f"the referrers index of {what} has no manifests")
        return [dict(d) for d in found if isinstance(d, Mapping)]

    def blob_bytes(self, repository: str, descriptor: Mapping[str, Any], max_size: int
                   ) -> bytes:
        """A small blob in memory (digest and size verified, at most `max_size` bytes)."""
        out = io.BytesIO()
        self.fetch_blob(repository, descriptor, out, max_size=max_size)  # type: ignore[arg-type]
        return out.getvalue()

    def fetch_blob(self, repository: str, descriptor: Mapping[str, Any], out: BinaryIO,
                   *, max_size: int | None = None) -> int:
        """Stream a blob into `out`, verifying its digest and size; return its size."""
        digest = str(descriptor.get("digest") or "")
        if not _DIGEST.match(digest):
            raise RegistryError("invalid", f"unsupported blob digest {digest!r}")
        expected_size = descriptor.get("size")
        limit = max_size
        if isinstance(expected_size, int) and max_size is not None and expected_size > max_size:
            raise RegistryError("invalid", f"blob {digest} is larger than {max_size} bytes")
        response = self._request("GET", f"/v2/{repository}/blobs/{digest}",
                                 f"repository:{repository}:pull", stream=True)
        self._check(response, f"{self.base}/{repository}@{digest}")
        h = hashlib.sha256()
        size = 0
        with response:
            try:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise RegistryError("invalid", f"blob {digest} exceeds {limit} bytes")
                    h.update(chunk)
                    out.write(chunk)
            except requests.exceptions.RequestException as err:
                raise RegistryError("unreachable",
                                    f"download of {digest} broke off: {err}") from None
        actual = "sha256:" + h.hexdigest()
        if actual != digest:
            raise RegistryError("invalid", f"blob digest mismatch: expected {digest}, got {actual}")
        if isinstance(expected_size, int) and expected_size != size:
            raise RegistryError(
                "invalid", f"blob {digest} has {size} bytes, the manifest says {expected_size}")
        return size


def _read_bounded(response: requests.Response, max_size: int, what: str) -> bytes:
    """A response body of at most `max_size` bytes (RegistryError `invalid` beyond)."""
    raw = bytearray()
    try:
        for chunk in response.iter_content(CHUNK):
            raw += chunk
            if len(raw) > max_size:
                raise RegistryError("invalid", f"{what} is larger than {max_size} bytes")
    except requests.exceptions.RequestException as err:
        raise RegistryError("unreachable", f"{what}: download broke off: {err}") from None
    return bytes(raw)


def _error_detail(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return ""
    texts = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, Mapping)]
    return f" ({'; '.join(texts)})" if texts else ""


def _root_cause(err: BaseException) -> str:
    """The innermost message of a requests/urllib3 error chain (no pool noise)."""
    seen = err
    while True:
        inner = seen.__cause__ or seen.__context__
        if inner is None and seen.args and isinstance(seen.args[0], BaseException):
            inner = seen.args[0]
        if inner is None or inner is seen:
            break
        seen = inner
    reason = getattr(seen, "reason", None)
    text = str(reason or seen)
    return re.sub(r"^HTTPS?ConnectionPool\(.*?\): ", "", text)
