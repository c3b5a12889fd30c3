"""A small S3 client for Bucket's `generic` provider, with AWS Signature Version 4.

Pure parts:

- `sign_v4(...)` signs one request (AWS SigV4, header variant): canonical request,
  string to sign, signing key, `Authorization` header. `canonical_request` and
  `string_to_sign` are exposed so the unit tests can check every step against AWS's
  published examples.
- `uri_encode` is S3's encoding (everything but `A-Z a-z 0-9 - _ . ~` percent-encoded,
  `/` kept in paths), used both for the wire and for signing, so they cannot disagree.
- `parse_endpoint` reads `spec.endpoint` (`host[:port]`, optionally with a scheme) and
  `spec.insecure` into a base URL; `etag_revision` is the Bucket revision: `sha256:` over
  `"<key> <etag>\\n"` lines for the keys in byte order (Flux's etag index digest).
- `parse_list_result`, `parse_error` read S3's XML answers.

I/O: `S3Client` (blocking; `requests` with the TLS of `_transport`): `bucket_exists`
(HEAD), `list_objects` (ListObjectsV2, following continuation tokens), `get_object`
(streamed into a file). Path-style addressing (`https://host/bucket/key`), which every
S3-compatible server supports; virtual-hosted style for `*.amazonaws.com`.

Why not boto3: it is a large dependency (botocore pins `python-dateutil<3`, which the
`kubernetes` client afflux uses cannot live with), and Bucket needs three read calls.

Errors are `S3Error` with `kind` `auth` | `not_found` | `unreachable` | `invalid` and the
server's error code (`SignatureDoesNotMatch`, `NoSuchBucket`, ...).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

import requests

from ._transport import TLSMaterial, http_session

__all__ = [
    "EMPTY_SHA256",
    "ObjectInfo",
    "S3Client",
    "S3Error",
    "SignedRequest",
    "canonical_request",
    "etag_revision",
    "parse_endpoint",
    "parse_error",
    "parse_list_result",
    "sign_v4",
    "signing_key",
    "string_to_sign",
    "uri_encode",
]

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DEFAULT_REGION = "us-east-1"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
CHUNK = 1 << 20
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


class S3Error(Exception):
    """An S3 operation failed; `kind` as in the module docstring, `code` the server's."""

    def __init__(self, kind: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code


# --- signing (pure) ----------------------------------------------------------------------


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """S3's URI encoding of a path or a query key/value (UTF-8, upper-case hex)."""
    out = []
    for byte in value.encode("utf-8"):
        if byte in _UNRESERVED or (keep_slash and byte == 0x2F):
            out.append(chr(byte))
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def canonical_query(params: Mapping[str, str] | None) -> str:
    """Sorted `key=value` pairs, both encoded (a key without value keeps its `=`)."""
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in (params or {}).items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trim(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip())


def canonical_request(
    method: str,
    path: str,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str],
    payload_hash: str,
) -> tuple[str, str]:
    """(canonical request, signed headers) for an already-encoded `path`."""
    lowered = {k.lower(): _trim(str(v)) for k, v in headers.items()}
    names = sorted(lowered)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in names)
    signed = ";".join(names)
    text = "\n".join([
        method.upper(), path or "/", canonical_query(params), canonical_headers, signed,
        payload_hash,
    ])
    return text, signed


def credential_scope(date: str, region: str, service: str = "s3") -> str:
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret_key: str, date: str, region: str, service: str = "s3") -> bytes:
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass(frozen=True)
class SignedRequest:
    """The headers to send (the signed ones plus `Authorization`) and the signing steps."""

    headers: dict[str, str]
    canonical_request: str
    string_to_sign: str
    signature: str


def sign_v4(
    *,
    method: str,
    path: str,
    params: Mapping[str, str] | None,
    headers: Mapping[str, str],
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    payload_hash: str = EMPTY_SHA256,
    service: str = "s3",
) -> SignedRequest:
    """Sign a request. `headers` must include `Host`; `x-amz-date` and
    `x-amz-content-sha256` are added (unless given), and every header given is signed."""
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    all_headers = dict(headers)
    lower = {k.lower() for k in all_headers}
    if "x-amz-date" not in lower:
        all_headers["x-amz-date"] = amz_date
    if "x-amz-content-sha256" not in lower:
        all_headers["x-amz-content-sha256"] = payload_hash
    canonical, signed = canonical_request(method, path, params, all_headers, payload_hash)
    scope = credential_scope(date, region, service)
    to_sign = string_to_sign(amz_date, scope, canonical)
    signature = hmac.new(signing_key(secret_key, date, region, service), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    all_headers["Authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope},SignedHeaders={signed},"
        f"Signature={signature}")
    return SignedRequest(all_headers, canonical, to_sign, signature)


# --- endpoint, revision, XML (pure) -------------------------------------------------------


def parse_endpoint(endpoint: str, insecure: bool = False) -> str:
    """`spec.endpoint` as a base URL: `minio:9000` -> `https://minio:9000` (or `http://`
    with `insecure`); an explicit `http://`/`https://` scheme is kept."""
    text = (endpoint or "").strip().rstrip("/")
    if not text:
        raise S3Error("invalid", "spec.endpoint is empty: set it to host[:port]")
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise S3Error("invalid", f"invalid endpoint {endpoint!r}: use host[:port]")
        if parts.path not in ("", "/"):
            raise S3Error("invalid", f"invalid endpoint {endpoint!r}: it must not have a path")
        return f"{parts.scheme}://{parts.netloc}"
    if "/" in text or " " in text:
        raise S3Error("invalid", f"invalid endpoint {endpoint!r}: use host[:port]")
    return f"{'http' if insecure else 'https'}://{text}"


def etag_revision(index: Mapping[str, str]) -> str:
    """`sha256:` of `"<key> <etag>\\n"` for every key, keys in byte order."""
    h = hashlib.sha256()
    for key in sorted(index, key=lambda k: k.encode("utf-8")):
        h.update(f"{key} {index[key]}\n".encode())
    return f"sha256:{h.hexdigest()}"


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object; `etag` without the quotes S3 puts around it."""

    key: str
    etag: str
    size: int


def _text(elem: ET.Element | None) -> str | None:
    return elem.text if elem is not None else None


def _find(elem: ET.Element, name: str) -> ET.Element | None:
    found = elem.find(f"{S3_NS}{name}")
    return found if found is not None else elem.find(name)


def parse_list_result(body: bytes) -> tuple[list[ObjectInfo], str | None]:
    """A ListObjectsV2 answer: (objects, next continuation token or None)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise S3Error("invalid", f"the object listing is not XML: {err}") from None
    objects = []
    for contents in list(root.findall(f"{S3_NS}Contents")) + list(root.findall("Contents")):
        key = _text(_find(contents, "Key"))
        if key is None:
            continue
        etag = (_text(_find(contents, "ETag")) or "").strip().strip('"')
        size_text = _text(_find(contents, "Size")) or "0"
        objects.append(ObjectInfo(key, etag, int(size_text) if size_text.isdigit() else 0))
    truncated = (_text(_find(root, "IsTruncated")) or "").strip().lower() == "true"
    token = _text(_find(root, "NextContinuationToken")) if truncated else None
    if truncated and not token:
        raise S3Error("invalid", "the listing is truncated but has no continuation token")
    return objects, token


def parse_error(body: bytes) -> tuple[str | None, str | None]:
    """(Code, Message) of an S3 error document, or (None, None)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None, None
    return _text(_find(root, "Code")), _text(_find(root, "Message"))


_AUTH_CODES = frozenset({
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
    "ExpiredToken", "AuthorizationHeaderMalformed", "InvalidSecurity", "AllAccessDisabled",
    "AccountProblem", "InvalidClientTokenId",
})


# --- the client ----------------------------------------------------------------------------


class S3Client:
    """Reads objects of one endpoint; see the module docstring. Blocking."""

    def __init__(
        self,
        endpoint: str,
        *,
        access_key: str | None,
        secret_key: str | None,
        region: str | None = None,
        insecure: bool = False,
        tls: TLSMaterial | None = None,
        timeout: float = 60.0,
        proxy: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.base = parse_endpoint(endpoint, insecure)
        parts = urllib.parse.urlsplit(self.base)
        self.host = parts.netloc
        self.virtual_host = parts.hostname is not None and parts.hostname.endswith(
            ".amazonaws.com")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region or DEFAULT_REGION
        self.timeout = timeout
        self.session = http_session(tls, proxy=proxy)
        self._clock = clock or (lambda: datetime.now(UTC))

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> S3Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _target(self, bucket: str, key: str | None) -> tuple[str, str]:
        """(host header, encoded path)."""
        key_part = uri_encode(key, keep_slash=True) if key is not None else ""
        if self.virtual_host and "." not in bucket:
            return f"{bucket}.{self.host}", "/" + key_part
        path = f"/{uri_encode(bucket)}"
        return self.host, path + ("/" + key_part if key is not None else "")

    def _send(self, method: str, bucket: str, key: str | None = None,
              params: Mapping[str, str] | None = None, *, stream: bool = False
              ) -> requests.Response:
        host, path = self._target(bucket, key)
        headers = {"Host": host}
        if self.access_key and self.secret_key:
            signed = sign_v4(method=method, path=path, params=params, headers=headers,
                             access_key=self.access_key, secret_key=self.secret_key,
                             region=self.region, now=self._clock())
            headers = signed.headers
        scheme = urllib.parse.urlsplit(self.base).scheme
        query = canonical_query(params)
        url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
        try:
            return self.session.request(method, url, headers=headers, stream=stream,
                                        timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.SSLError as err:
            raise S3Error("unreachable", f"TLS handshake with {self.base} failed: "
                          f"{_cause(err)}") from None
        except requests.exceptions.ConnectionError as err:
            raise S3Error("unreachable", f"cannot connect to {self.base}: {_cause(err)}") from None
        except requests.exceptions.Timeout:
            raise S3Error("unreachable",
                          f"{self.base} did not answer within {self.timeout:g}s") from None
        except requests.exceptions.RequestException as err:
            raise S3Error("unreachable", f"request to {self.base} failed: {err}") from None

    def _raise_for(self, response: requests.Response, what: str) -> None:
        if 200 <= response.status_code < 300:
            return
        body = b"" if response.request.method == "HEAD" else response.content
        response.close()
        code, message = parse_error(body)
        status = response.status_code
        detail = f"{code}: {message}" if code else f"HTTP {status}"
        if code in _AUTH_CODES or status in (401, 403):
            raise S3Error("auth", f"{what}: {detail}", code or str(status))
        if status == 404 or code in ("NoSuchBucket", "NoSuchKey"):
            raise S3Error("not_found", f"{what}: {detail}", code or "404")
        raise S3Error("unreachable", f"{what}: {detail}", code or str(status))

    # --- operations -------------------------------------------------------------------

    def bucket_exists(self, bucket: str) -> bool:
        """HEAD the bucket: True, False (404), or S3Error (auth, network, ...)."""
        response = self._send("HEAD", bucket)
        if response.status_code == 404:
            response.close()
            return False
        self._raise_for(response, f"checking bucket '{bucket}'")
        response.close()
        return True

    def iter_objects(self, bucket: str, prefix: str | None = None, *,
                     page_size: int = 1000) -> Iterator[ObjectInfo]:
        """Every object under `prefix` (ListObjectsV2 pages, in key order)."""
        token: str | None = None
        pages = 0
        while True:
            params = {"list-type": "2", "max-keys": str(page_size)}
            if prefix:
                params["prefix"] = prefix
            if token:
                params["continuation-token"] = token
            response = self._send("GET", bucket, None, params)
            self._raise_for(response, f"listing objects of bucket '{bucket}'")
            objects, token = parse_list_result(response.content)
            yield from objects
            pages += 1
            if token is None:
                return
            if pages > 100_000:
                raise S3Error("invalid", f"bucket '{bucket}': too many listing pages")

    def list_objects(self, bucket: str, prefix: str | None = None, *,
                     page_size: int = 1000) -> list[ObjectInfo]:
        return list(self.iter_objects(bucket, prefix, page_size=page_size))

    def get_object(self, bucket: str, key: str, out: BinaryIO,
                   max_size: int | None = None) -> int:
        """Stream an object into `out`; return its size."""
        response = self._send("GET", bucket, key, stream=True)
        self._raise_for(response, f"downloading '{key}' from bucket '{bucket}'")
        size = 0
        with response:
            try:
                for chunk in response.iter_content(CHUNK):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise S3Error("invalid", f"object '{key}' exceeds {max_size} bytes")
                    out.write(chunk)
            except requests.exceptions.RequestException as err:
                raise S3Error("unreachable", f"download of '{key}' broke off: {err}") from None
        return size


def _cause(err: BaseException) -> str:
    seen: BaseException = err
    while True:
        inner = seen.__cause__ or seen.__context__
        if inner is None and seen.args and isinstance(seen.args[0], BaseException):
            inner = seen.args[0]
        if inner is None or inner is seen:
            break
        seen = inner
    text = str(getattr(seen, "reason", None) or seen)
    return re.sub(r"^HTTPS?ConnectionPool\(.*?\): ", "", text)
