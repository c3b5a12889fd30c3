"""Helm repository indexes (HelmRepository of type `default`, and HelmChart from one).

- `fetch_index` downloads `<repo url>/index.yaml` over HTTP(S): basic auth
  (`username`/`password`), a CA (`ca.crt`) and client certificate (`tls.crt`/`tls.key`)
  from `certSecretRef`, a size limit and a timeout. Credentials go only to the
  repository's own host: a redirect elsewhere drops them unless `pass_credentials`
  (`spec.passCredentials`).
- `parse_index` reads YAML or JSON (timestamps stay the strings they were) and
  normalises it: entries by chart name, each chart's versions newest first by semver
  (versions that are not semver last, in their original order), as Helm sorts them.
- `HelmIndex.digest_for(algorithm)` (`digest`: sha256) is the digest of the normalised
  index in canonical JSON (`HelmIndex.to_bytes()`, which is also valid YAML), with the
  algorithm of `--artifact-digest-algo`: the same charts give the same revision whatever
  the server's ordering, and the stored artifact's digest equals it.
- `HelmIndex.get(chart, version)` picks a chart version as Helm does: an exact version
  string first, else the newest version in the semver range (`*`, the default, means
  the newest release; pre-releases only when the range names one).
- `HelmLimits` are the size bounds of Flux's `--helm-index-max-size` (an index),
  `--helm-chart-max-size` (a chart archive) and `--helm-chart-file-max-size` (a file of a
  chart directory, a values file), with Flux's defaults.
- `resolve_url` resolves a chart's (possibly relative) URL against the repository URL,
  keeping the repository URL's query, as Helm does.

Pure except for `fetch_index`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

import yaml

from afflux.api import digest_bytes
from afflux.api._meta import AUTHENTICATION_FAILED, INDEXATION_FAILED
from afflux.api._semver import SemverError, parse_constraint, try_parse_version
from afflux.controllers.runtime import GenericError

__all__ = [
    "DEFAULT_MAX_CHART_FILE_SIZE",
    "DEFAULT_MAX_CHART_SIZE",
    "DEFAULT_MAX_INDEX_SIZE",
    "HelmLimits",
    "ChartVersion",
    "HelmIndex",
    "HelmIndexError",
    "fetch_index",
    "index_url",
    "normalize_index",
    "parse_index",
    "resolve_url",
]

#: Flux's default `--helm-index-max-size` (50 MiB).
DEFAULT_MAX_INDEX_SIZE = 50 << 20
#: Flux's default `--helm-chart-max-size` (10 MiB).
DEFAULT_MAX_CHART_SIZE = 10 << 20
#: Flux's default `--helm-chart-file-max-size` (5 MiB).
DEFAULT_MAX_CHART_FILE_SIZE = 5 << 20


@dataclass(frozen=True)
class HelmLimits:
    """Size bounds in bytes (Flux's flags, Flux's defaults): `index` of a Helm repository
    index (`--helm-index-max-size`), `chart` of a chart archive pulled from a repository
    (`--helm-chart-max-size`), `chart_file` of each file of a chart directory and of each
    values file (`--helm-chart-file-max-size`)."""

    index: int = DEFAULT_MAX_INDEX_SIZE
    chart: int = DEFAULT_MAX_CHART_SIZE
    chart_file: int = DEFAULT_MAX_CHART_FILE_SIZE

    def __post_init__(self) -> None:
        for name in ("index", "chart", "chart_file"):
            if getattr(self, name) < 1:
                raise ValueError(f"the {name} size limit must be at least 1 byte")
CHUNK = 1 << 20


class HelmIndexError(GenericError):
    """The index cannot be fetched, parsed, or has no matching chart (IndexationFailed
    unless the server refused the credentials: AuthenticationFailed)."""

    def __init__(self, message: str, reason: str = INDEXATION_FAILED) -> None:
        super().__init__(reason, message)


# --- parsing --------------------------------------------------------------------------


def _string_timestamps_loader() -> type:
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return Loader


_Loader = _string_timestamps_loader()


def _version_order(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    """Newest first; versions that are not semver after all the others (stable)."""
    va = try_parse_version(str(a.get("version", "")))
    vb = try_parse_version(str(b.get("version", "")))
    if va is None or vb is None:
        return (va is None) - (vb is None)
    return vb.compare(va)


def normalize_index(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The index with entries sorted by name and versions newest first (a new dict)."""
    if not isinstance(raw, Mapping):
        raise HelmIndexError("invalid index: the document is not a mapping")
    if not raw.get("apiVersion"):
        raise HelmIndexError("invalid index: no apiVersion specified")
    entries = raw.get("entries") or {}
    if not isinstance(entries, Mapping):
        raise HelmIndexError("invalid index: 'entries' is not a mapping of chart names")
    normalized_entries: dict[str, list[Any]] = {}
    for name in sorted(entries, key=str):
        versions = entries[name] or []
        if not isinstance(versions, list) or not all(isinstance(v, Mapping) for v in versions):
            raise HelmIndexError(f"invalid index: entry {name!r} is not a list of chart versions")
        normalized_entries[str(name)] = sorted(
            (dict(v) for v in versions), key=cmp_to_key(_version_order)
        )
    normalized = {k: v for k, v in raw.items() if k != "entries"}
    normalized["entries"] = normalized_entries
    return normalized


def parse_index(data: bytes | str, *, max_size: int | None = DEFAULT_MAX_INDEX_SIZE) -> HelmIndex:
    """Parse and normalise an index.yaml (or JSON) document."""
    if max_size is not None and len(data) > max_size:
        raise HelmIndexError(f"index is larger than the limit of {max_size} bytes "
                             "(source-controller's --helm-index-max-size)")
    try:
        raw = yaml.load(data, Loader=_Loader)  # noqa: S506 - a safe loader without timestamps
    except yaml.YAMLError as err:
        raise HelmIndexError(f"invalid index: not YAML: {err}") from err
    if raw is None:
        raise HelmIndexError("invalid index: the document is empty")
    return HelmIndex(normalize_index(raw))


# --- the index ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartVersion:
    """One version of a chart in an index."""

    name: str
    version: str
    urls: tuple[str, ...]
    digest: str | None
    metadata: dict[str, Any]


class HelmIndex:
    """A normalised index (see `normalize_index`)."""

    def __init__(self, normalized: dict[str, Any]) -> None:
        self.data = normalized
        self._bytes: bytes | None = None

    @property
    def entries(self) -> dict[str, list[dict[str, Any]]]:
        return self.data["entries"]

    def to_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): what is stored and digested."""
        if self._bytes is None:
            self._bytes = json.dumps(
                self.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
            ).encode("utf-8")
        return self._bytes

    @property
    def digest(self) -> str:
        return self.digest_for("sha256")

    def digest_for(self, algorithm: str) -> str:
        """`<algorithm>:<hex>` of `to_bytes()` (sha256, sha384, sha512 or blake3)."""
        return digest_bytes(self.to_bytes(), algorithm)

    def chart_names(self) -> list[str]:
        return list(self.entries)

    def get(self, chart: str, version: str | None = "*") -> ChartVersion:
        """The chart version `version` selects (exact string first, then the newest in the
        semver range; empty means `*`)."""
        versions = self.entries.get(chart)
        if versions is None:
            raise HelmIndexError(
                f"no chart name found: chart '{chart}' is not in the repository index"
            )
        if not versions:
            raise HelmIndexError(f"no chart version found: chart '{chart}' has no versions")
        wanted = (version or "").strip() or "*"
        for entry in versions:
            if str(entry.get("version", "")) == wanted:
                return _chart_version(chart, entry)
        try:
            constraint = parse_constraint(wanted)
        except SemverError as err:
            raise HelmIndexError(f"invalid chart version '{wanted}': {err}") from None
        for entry in versions:  # newest first
            parsed = try_parse_version(str(entry.get("version", "")))
            if parsed is not None and constraint.matches(parsed):
                return _chart_version(chart, entry)
        available = ", ".join(str(v.get("version")) for v in versions[:10])
        raise HelmIndexError(
            f"no chart version found for {chart}-{wanted} (newest versions: {available})"
        )


def _chart_version(chart: str, entry: Mapping[str, Any]) -> ChartVersion:
    urls = entry.get("urls") or []
    return ChartVersion(
        name=str(entry.get("name") or chart),
        version=str(entry.get("version", "")),
        urls=tuple(str(u) for u in urls),
        digest=str(entry["digest"]) if entry.get("digest") else None,
        metadata=dict(entry),
    )


# --- URLs -----------------------------------------------------------------------------


def resolve_url(repo_url: str, ref: str) -> str:
    """`ref` (absolute or relative, e.g. `charts/app-1.0.0.tgz`) against `repo_url`,
    treated as a directory; the repository URL's query string is kept."""
    if urllib.parse.urlsplit(ref).scheme:
        return ref
    base = urllib.parse.urlsplit(repo_url)
    directory = base._replace(path=base.path.rstrip("/") + "/", query="", fragment="")
    resolved = urllib.parse.urlsplit(urllib.parse.urljoin(directory.geturl(), ref))
    return resolved._replace(query=base.query).geturl()


def index_url(repo_url: str) -> str:
    return resolve_url(repo_url, "index.yaml")


# --- fetching -------------------------------------------------------------------------


class _NoCredentialsElsewhere(urllib.request.HTTPRedirectHandler):
    def __init__(self, host: str, pass_credentials: bool) -> None:
        self.host = host
        self.pass_credentials = pass_credentials

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not self.pass_credentials:
            if urllib.parse.urlsplit(newurl).netloc != self.host:
                new.remove_header("Authorization")
        return new


def _ssl_context(
    ca_cert: bytes | None, cert: bytes | None, key: bytes | None, insecure: bool
) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cadata=ca_cert.decode() if ca_cert else None)
    except (ssl.SSLError, ValueError) as err:
        raise HelmIndexError(f"invalid 'ca.crt': {err}", AUTHENTICATION_FAILED) from err
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if (cert is None) != (key is None):
        raise HelmIndexError(
            "'tls.crt' and 'tls.key' must be given together", AUTHENTICATION_FAILED
        )
    if cert is not None and key is not None:
        with tempfile.TemporaryDirectory(prefix="afx-tls-") as tmp:
            cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
            with open(cert_path, "wb") as f:
                f.write(cert)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key)
            try:
                context.load_cert_chain(cert_path, key_path)
            except ssl.SSLError as err:
                raise HelmIndexError(
                    f"invalid client certificate ('tls.crt'/'tls.key'): {err}",
                    AUTHENTICATION_FAILED,
                ) from err
    return context


def fetch_index(
    repo_url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_cert: bytes | None = None,
    cert: bytes | None = None,
    key: bytes | None = None,
    pass_credentials: bool = False,
    insecure_skip_verify: bool = False,
    timeout: float = 60.0,
    max_size: int | None = DEFAULT_MAX_INDEX_SIZE,
) -> bytes:
    """Download the repository's index.yaml (the raw bytes)."""
    url = index_url(repo_url)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HelmIndexError(f"invalid Helm repository URL {repo_url!r}: use http:// or https://")
    handlers: list[urllib.request.BaseHandler] = [
        _NoCredentialsElsewhere(parts.netloc, pass_credentials),
        urllib.request.ProxyHandler(),
    ]
    if parts.scheme == "https" or ca_cert or cert:
        context = _ssl_context(ca_cert, cert, key, insecure_skip_verify)
        handlers.append(urllib.request.HTTPSHandler(context=context))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        url, headers={"Accept": "application/x-yaml, */*", "User-Agent": "afflux-source-controller"}
    )
    if username is not None or password is not None:
        token = base64.b64encode(f"{username or ''}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with contextlib.closing(opener.open(request, timeout=timeout)) as response:
            length = response.headers.get("Content-Length")
            if max_size is not None and length and length.isdigit() and int(length) > max_size:
                raise HelmIndexError(f"index at {url} is larger than the limit of {max_size} "
                                     "bytes (source-controller's --helm-index-max-size)")
            chunks: list[bytes] = []
            total = 0
            while chunk := response.read(CHUNK):
                total += len(chunk)
                if max_size is not None and total > max_size:
                    raise HelmIndexError(
                        f"index at {url} is larger than the limit of {max_size} bytes "
                        "(source-controller's --helm-index-max-size)"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise HelmIndexError(
                f"failed to fetch {url}: the server refused the credentials (HTTP {err.code}); "
                "check the secretRef's 'username' and 'password'",
                AUTHENTICATION_FAILED,
            ) from None
        if err.code == 404:
            raise HelmIndexError(
                f"failed to fetch {url}: not found (HTTP 404); check that spec.url is a Helm "
                "repository"
            ) from None
        raise HelmIndexError(f"failed to fetch {url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        reason = err.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise HelmIndexError(
                f"failed to fetch {url}: TLS certificate not trusted ({reason.verify_message}); "
                "add the issuing CA as 'ca.crt' in certSecretRef",
                AUTHENTICATION_FAILED,
            ) from None
        raise HelmIndexError(f"failed to fetch {url}: {reason}") from None
    except (TimeoutError, OSError) as err:
        raise HelmIndexError(f"failed to fetch {url}: {err}") from None
