"""Git credentials from a Secret, and the pygit2 callbacks that apply them safely.

Shared by source-controller (fetching) and image-automation-controller (pushing).

Secret keys (FLUX-API §1, GitRepository `secretRef`), values as bytes or text (already
decoded from the Secret's base64):

- HTTP(S): `username` + `password` (basic auth), or `bearerToken` (sent as an
  `Authorization: Bearer` header through libgit2's custom headers); `ca.crt` adds a CA
  to trust for the server's certificate; `tls.crt` + `tls.key` (client certificates)
  are *not supported*: libgit2 has no client-certificate option, and saying so beats
  failing obscurely.
- SSH: `identity` (private key, OpenSSH or PEM; `identity.pub` optional), `password`
  (the key's passphrase, if any) and `known_hosts` (mandatory: an unknown or changed
  host key is refused). The user is the URL's (`ssh://git@host/...`), else `git`.

How the server is checked, per operation and without process-wide state (libgit2's
trust store and home directory are process-wide, and the operator serves many tenants):

- SSH: libgit2 hands the certificate callback the server's host key (type, SHA-256
  fingerprint, raw key). `GitCallbacks.certificate_check` reads them and matches them
  against the Secret's `known_hosts` (plain, `[host]:port`, wildcard, negated and hashed
  `|1|` entries; `@revoked` lines refuse a key). pygit2 passes only `None` to Python for
  the certificate, so the callback reads libgit2's `git_cert` from pygit2's dispatch
  frame (`cert_i`) and decodes the documented `git_cert_hostkey` layout; if that frame
  is ever missing, the check fails closed.
- HTTPS: without `ca.crt`, libgit2's own verification (system trust store) decides.
  With `ca.crt`, the callback opens its own TLS connection to the same host and port
  with Python's `ssl` (system roots plus that CA, host name checked), and accepts only
  if the server presents exactly the certificate libgit2 saw. (That side connection
  does not go through a proxy.)

Failures raise typed errors the reconcilers can surface: `GitAuthError` (reason
`AuthenticationFailed`: rejected or missing credentials, bad Secret content, unknown or
mismatched host key, untrusted certificate), `GitTimeoutError` and `GitError` (reason
`GitOperationFailed`). `translate_git_error` maps libgit2's messages to them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import re
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pygit2
from pygit2.enums import CredentialType

from afflux.api._meta import AUTHENTICATION_FAILED, GIT_OPERATION_FAILED

from ._errors import GenericError
from ._secretkeys import auth_keys

__all__ = [
    "GitAuthError",
    "GitCallbacks",
    "GitCredentials",
    "GitError",
    "GitHostVerificationError",
    "GitTimeoutError",
    "KnownHost",
    "check_host_key",
    "ensure_libgit2_timeouts",
    "parse_known_hosts",
    "redact_url",
    "translate_git_error",
    "url_transport",
]

DEFAULT_SSH_USER = "git"


# --- errors ---------------------------------------------------------------------------


class GitError(GenericError):
    """A git operation failed (reason `GitOperationFailed` unless a subclass says otherwise)."""

    def __init__(self, message: str, reason: str = GIT_OPERATION_FAILED) -> None:
        super().__init__(reason, message)


class GitAuthError(GitError):
    """Credentials were rejected, missing or unusable, or the server could not be verified."""

    def __init__(self, message: str) -> None:
        super().__init__(message, AUTHENTICATION_FAILED)


class GitHostVerificationError(GitAuthError):
    """The server's host key or TLS certificate is not the one the Secret trusts."""


class GitTimeoutError(GitError):
    """The operation did not finish within its timeout."""


# --- URLs -----------------------------------------------------------------------------


def url_transport(url: str) -> str:
    """`http`, `https` or `ssh` for a Git URL; raise GitError for anything else."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https", "ssh"):
        return scheme
    raise GitError(
        f"unsupported Git URL {redact_url(url)!r}: use an http://, https:// or ssh:// URL "
        "(for SSH, ssh://git@host/org/repo.git instead of git@host:org/repo.git)"
    )


def redact_url(url: str) -> str:
    """The URL without a password in its user info."""
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        if parts.password is not None:
            host = parts.hostname or ""
            if parts.port:
                host = f"{host}:{parts.port}"
            netloc = f"{parts.username}:***@{host}"
            return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443, "ssh": 22}.get(parts.scheme.lower(), 0)
    return parts.hostname or "", parts.port or default


# --- credentials ----------------------------------------------------------------------


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _bytes(value: bytes | str | None) -> bytes | None:
    if value is None:
        return None
    return value.encode("utf-8") if isinstance(value, str) else value


@dataclass(frozen=True)
class GitCredentials:
    """What a Git operation authenticates with; `repr` never shows a secret."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    ca_cert: bytes | None = field(default=None, repr=False)
    client_cert: bytes | None = field(default=None, repr=False)
    client_key: bytes | None = field(default=None, repr=False)
    identity: bytes | None = field(default=None, repr=False)
    identity_pub: bytes | None = field(default=None, repr=False)
    known_hosts: str | None = field(default=None, repr=False)

    @classmethod
    def from_secret(cls, data: Mapping[str, bytes | str] | None) -> GitCredentials:
        """Read the Flux keys of a Secret's (decoded) data; unknown keys are ignored."""
        data = data or {}

        def get(key: str) -> bytes | str | None:
            value = data.get(key)
            return value if value not in (None, b"", "") else None

        auth = auth_keys(data)
        return cls(
            username=auth.username,
            password=auth.password,
            bearer_token=auth.bearer_token,
            ca_cert=_bytes(get("ca.crt")),
            client_cert=_bytes(get("tls.crt")),
            client_key=_bytes(get("tls.key")),
            identity=_bytes(get("identity")),
            identity_pub=_bytes(get("identity.pub")),
            known_hosts=_text(get("known_hosts")),
        )

    def validate(self, url: str) -> None:
        """Raise GitAuthError if these credentials cannot work for `url`, saying what to fix."""
        transport = url_transport(url)
        if (self.client_cert is None) != (self.client_key is None):
            raise GitAuthError("invalid secret: 'tls.crt' and 'tls.key' must be given together")
        if transport == "ssh":
            if self.identity is None and self.known_hosts is None and self.username is None:
                return  # no secret: the server may still refuse, which is reported then
            if self.identity is None:
                raise GitAuthError("invalid secret for an SSH URL: the 'identity' key is missing")
            if self.known_hosts is None:
                raise GitAuthError(
                    "invalid secret for an SSH URL: 'known_hosts' is required to verify the "
                    f"server (e.g. the output of `ssh-keyscan {_keyscan_args(url)}`)"
                )
            entries = parse_known_hosts(self.known_hosts)
            if not entries:
                raise GitAuthError("invalid secret: 'known_hosts' has no valid host key line")
            return
        if self.client_cert is not None:
            raise GitAuthError(
                "TLS client certificates ('tls.crt'/'tls.key') are not supported by afflux's "
                "Git client (libgit2 has no client-certificate option): use basic auth "
                "('username'/'password'), a 'bearerToken', or an SSH URL"
            )
        if self.bearer_token is not None and (self.username is not None or self.password):
            raise GitAuthError(
                "invalid secret: set either 'bearerToken' or 'username'/'password', not both"
            )
        if self.password is not None and self.username is None:
            raise GitAuthError("invalid secret: 'password' is set but 'username' is missing")
        if self.ca_cert is not None:
            try:
                ssl.create_default_context(cadata=self.ca_cert.decode("utf-8", "replace"))
            except (ssl.SSLError, ValueError) as err:
                raise GitAuthError(
                    f"invalid secret: 'ca.crt' is not a PEM certificate: {err}"
                ) from err


def _keyscan_args(url: str) -> str:
    host, port = _host_port(url)
    return f"-p {port} {host}" if port != 22 else host


# --- known_hosts ----------------------------------------------------------------------


@dataclass(frozen=True)
class KnownHost:
    """One known_hosts line: host patterns, key type, key blob, optional marker."""

    patterns: tuple[str, ...]
    key_type: str
    key: bytes
    marker: str | None = None  # "@revoked" or "@cert-authority"

    @property
    def fingerprint(self) -> str:
        return _fingerprint(hashlib.sha256(self.key).digest())

    def matches_host(self, host: str, port: int) -> bool:
        name = host if port == 22 else f"[{host}]:{port}"
        matched = False
        for pattern in self.patterns:
            negated = pattern.startswith("!")
            body = pattern[1:] if negated else pattern
            if _pattern_matches(body, name):
                if negated:
                    return False
                matched = True
        return matched


def _pattern_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        try:
            _, _, salt, digest = pattern.split("|", 3)
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except (ValueError, binascii.Error):
            return False
    # OpenSSH host patterns know only `*` and `?` (brackets are literal: `[host]:port`).
    regex = "".join(
        ".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern.lower()
    )
    return re.fullmatch(regex, name.lower()) is not None


def _fingerprint(sha256: bytes) -> str:
    return "SHA256:" + base64.b64encode(sha256).decode().rstrip("=")


def parse_known_hosts(text: str) -> list[KnownHost]:
    """The valid lines of a known_hosts text (comments, blanks and bad lines skipped)."""
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
        if len(fields) < 3:
            continue
        try:
            key = base64.b64decode(fields[2], validate=True)
        except binascii.Error:
            continue
        entries.append(KnownHost(tuple(fields[0].split(",")), fields[1], key, marker))
    return entries


#: libgit2's git_cert_ssh_raw_type_t values.
_RAW_KEY_TYPES = {
    1: "ssh-rsa",
    2: "ssh-dss",
    3: "ecdsa-sha2-nistp256",
    4: "ecdsa-sha2-nistp384",
    5: "ecdsa-sha2-nistp521",
    6: "ssh-ed25519",
}


def check_host_key(
    known_hosts: str, host: str, port: int, sha256: bytes, key_type: str | None = None
) -> None:
    """Raise GitHostVerificationError unless `known_hosts` lists this host key for host:port."""
    name = host if port == 22 else f"[{host}]:{port}"
    offered = f"{key_type or 'a'} key {_fingerprint(sha256)}"
    entries = [e for e in parse_known_hosts(known_hosts) if e.matches_host(host, port)]
    for entry in entries:
        if entry.marker == "@revoked" and hmac.compare_digest(
            hashlib.sha256(entry.key).digest(), sha256
        ):
            raise GitHostVerificationError(
                f"host key verification failed for {name}: the server's {offered} is marked "
                "@revoked in known_hosts"
            )
    plain = [e for e in entries if e.marker is None]
    for entry in plain:
        if hmac.compare_digest(hashlib.sha256(entry.key).digest(), sha256):
            return
    scan = f"ssh-keyscan {'-p ' + str(port) + ' ' if port != 22 else ''}{host}"
    if not plain:
        raise GitHostVerificationError(
            f"host key verification failed: {name} is not in known_hosts (the server offered "
            f"{offered}); add its key to the secret's known_hosts, e.g. from `{scan}`"
        )
    listed = ", ".join(sorted({f"{e.key_type} {e.fingerprint}" for e in plain}))
    raise GitHostVerificationError(
        f"host key mismatch for {name}: the server offered {offered}, but known_hosts has "
        f"{listed}; if the server's key changed legitimately, update known_hosts (`{scan}`)"
    )


# --- libgit2 certificates -------------------------------------------------------------

_CERT_X509 = 1  # GIT_CERT_X509
_CERT_HOSTKEY = 2  # GIT_CERT_HOSTKEY_LIBSSH2
_SSH_SHA256 = 1 << 2  # GIT_CERT_SSH_SHA256
_SSH_RAW = 1 << 3  # GIT_CERT_SSH_RAW
# git_cert_hostkey (libgit2 >= 1.2): {int cert_type; int type; u8 md5[16]; u8 sha1[20];
# u8 sha256[32]; int raw_type; const char *hostkey; size_t hostkey_len}
_HOSTKEY_LAYOUT = struct.Struct("=ii16s20s32siQQ")


def _libgit2_cert() -> object | None:
    """The `git_cert *` of the certificate check in progress (see the module docstring)."""
    frame = sys._getframe(1)
    for _ in range(6):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return None
        if frame.f_code.co_name == "_certificate_check_cb" and "cert_i" in frame.f_locals:
            return frame.f_locals["cert_i"]
    return None


def _read_hostkey(cert: object) -> tuple[bytes, str | None]:
    ffi = pygit2.ffi
    raw = bytes(ffi.buffer(ffi.cast("unsigned char *", cert), _HOSTKEY_LAYOUT.size))
    _, flags, _, _, sha256, raw_type, _, _ = _HOSTKEY_LAYOUT.unpack(raw)
    if not flags & _SSH_SHA256:
        raise GitHostVerificationError(
            "host key verification failed: the SSH library did not provide a SHA-256 host key "
            "fingerprint"
        )
    key_type = _RAW_KEY_TYPES.get(raw_type) if flags & _SSH_RAW else None
    return sha256, key_type


def _read_x509(cert: object) -> bytes:
    ffi = pygit2.ffi
    x509 = ffi.cast("git_cert_x509 *", cert)
    return bytes(ffi.buffer(x509.data, x509.len))


def verify_tls_with_ca(
    host: str, port: int, ca_pem: bytes, presented: bytes, timeout: float
) -> None:
    """Raise GitHostVerificationError unless host:port presents `presented` (DER) and it
    verifies against the system roots plus `ca_pem`, for host name `host`."""
    try:
        context = ssl.create_default_context(cadata=ca_pem.decode("utf-8", "replace"))
    except (ssl.SSLError, ValueError) as err:
        raise GitAuthError(f"invalid secret: 'ca.crt' is not a PEM certificate: {err}") from err
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                seen = tls.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError as err:
        raise GitHostVerificationError(
            f"TLS certificate of {host}:{port} is not trusted: {err.verify_message}; check that "
            "'ca.crt' in the secret is the CA that issued the server's certificate"
        ) from err
    except (OSError, ssl.SSLError) as err:
        raise GitError(f"cannot verify the TLS certificate of {host}:{port}: {err}") from err
    if seen != presented:
        raise GitHostVerificationError(
            f"TLS certificate of {host}:{port} changed between two connections; refusing it"
        )


# --- callbacks ------------------------------------------------------------------------

_timeouts_lock = threading.Lock()


def ensure_libgit2_timeouts(connect_ms: int = 30_000, io_ms: int = 120_000) -> None:
    """Give libgit2 socket timeouts if it has none (its default is to wait forever).

    Process-wide and only set when unset, so one stuck server cannot hold a worker
    thread for ever; per-operation deadlines are enforced by `GitCallbacks`.
    """
    with _timeouts_lock:
        settings = pygit2.settings
        with contextlib.suppress(AttributeError, pygit2.GitError):
            if not settings.server_connect_timeout:
                settings.server_connect_timeout = connect_ms
            if not settings.server_timeout:
                settings.server_timeout = io_ms


class GitCallbacks(pygit2.RemoteCallbacks):
    """pygit2 callbacks for one operation (one connection) with `credentials` on `url`.

    Create a new instance per operation: a second credentials request within one
    operation means the server rejected the first, and is reported as such instead of
    letting libgit2 retry.
    """

    def __init__(
        self,
        credentials: GitCredentials | None,
        url: str,
        *,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> None:
        super().__init__()
        self.auth = credentials or GitCredentials()
        self.url = url
        self.host, self.port = _host_port(url)
        self.transport = url_transport(url)
        self.timeout = timeout
        if deadline is None and timeout is not None:
            deadline = time.monotonic() + timeout
        self.deadline = deadline
        self._tried: set[str] = set()
        self.failure: GitError | None = None
        ensure_libgit2_timeouts()

    # deadline -----------------------------------------------------------------------

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.failure = GitTimeoutError(
                f"git operation on {redact_url(self.url)} timed out after {self.timeout}s; "
                "raise spec.timeout if the repository is large or the server slow"
            )
            raise self.failure

    def sideband_progress(self, string: str) -> None:
        self.check_deadline()

    def transfer_progress(self, stats: object) -> None:
        self.check_deadline()

    def push_transfer_progress(
        self, objects_pushed: int, total_objects: int, bytes_pushed: int
    ) -> None:
        self.check_deadline()

    # credentials --------------------------------------------------------------------

    def _fail(self, error: GitError) -> GitError:
        self.failure = error
        return error

    def credentials(  # type: ignore[override]
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        self.check_deadline()
        auth = self.auth
        where = redact_url(self.url)
        if self.transport == "ssh":
            user = username_from_url or auth.username or DEFAULT_SSH_USER
            if allowed_types & CredentialType.USERNAME and not allowed_types & (
                CredentialType.SSH_KEY | CredentialType.SSH_MEMORY
            ):
                return pygit2.Username(user)
            if auth.identity is None:
                raise self._fail(
                    GitAuthError(
                        f"{where} requires SSH authentication: set a secretRef with "
                        "'identity' and 'known_hosts'"
                    )
                )
            if "ssh-key" in self._tried:
                raise self._fail(
                    GitAuthError(
                        f"the SSH server of {where} rejected the key in 'identity' for user "
                        f"{user!r}: check that its public key is authorised for the repository"
                    )
                )
            self._tried.add("ssh-key")
            pub = auth.identity_pub.decode() if auth.identity_pub else None
            return pygit2.KeypairFromMemory(user, pub, auth.identity.decode(), auth.password or "")
        if auth.bearer_token is not None:
            # The token travels as a header; being asked for credentials means it was refused.
            raise self._fail(
                GitAuthError(f"{where} rejected the bearer token (HTTP 401): check 'bearerToken'")
            )
        if auth.username is None:
            raise self._fail(
                GitAuthError(
                    f"{where} requires authentication: set a secretRef with 'username' and "
                    "'password' (or 'bearerToken')"
                )
            )
        if "userpass" in self._tried:
            raise self._fail(
                GitAuthError(
                    f"{where} rejected the credentials of user {auth.username!r} (HTTP 401): "
                    "check 'username' and 'password'"
                )
            )
        self._tried.add("userpass")
        return pygit2.UserPass(auth.username, auth.password or "")

    def custom_headers(self) -> list[str] | None:  # type: ignore[override]
        if self.transport != "ssh" and self.auth.bearer_token is not None:
            return [f"Authorization: Bearer {self.auth.bearer_token}"]
        return None

    # server verification ------------------------------------------------------------

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:  # type: ignore[override]
        self.check_deadline()
        host_name = host.decode("utf-8", "replace") if isinstance(host, bytes) else str(host)
        cert = _libgit2_cert()
        if cert is None:
            raise self._fail(
                GitHostVerificationError(
                    f"cannot verify {host_name}: the certificate is not readable from this "
                    "pygit2 version"
                )
            )
        cert_type = cert.cert_type  # type: ignore[attr-defined]
        if cert_type == _CERT_HOSTKEY:
            if self.auth.known_hosts is None:
                raise self._fail(
                    GitHostVerificationError(
                        f"cannot verify the SSH host key of {host_name}: the secret has no "
                        "'known_hosts'"
                    )
                )
            sha256, key_type = _read_hostkey(cert)
            port = self.port if host_name == self.host else 22
            try:
                check_host_key(self.auth.known_hosts, host_name, port, sha256, key_type)
            except GitError as err:
                raise self._fail(err) from None
            return True
        if cert_type == _CERT_X509:
            if self.auth.ca_cert is None:
                if valid:
                    return True
                raise self._fail(
                    GitHostVerificationError(
                        f"TLS certificate of {host_name} is not trusted by the system: add the "
                        "CA that issued it as 'ca.crt' to the secret"
                    )
                )
            port = self.port if host_name == self.host else 443
            timeout = 30.0
            if self.deadline is not None:
                timeout = max(1.0, min(timeout, self.deadline - time.monotonic()))
            try:
                verify_tls_with_ca(host_name, port, self.auth.ca_cert, _read_x509(cert), timeout)
            except GitError as err:
                raise self._fail(err) from None
            return True
        raise self._fail(
            GitHostVerificationError(
                f"cannot verify {host_name}: unknown certificate type {cert_type}"
            )
        )

    # pushes (image-automation) --------------------------------------------------------

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            raise self._fail(GitError(f"the server rejected the push of {refname}: {message}"))


# --- libgit2 errors -------------------------------------------------------------------

_AUTH_PATTERNS = re.compile(
    r"authentication required|authentication replays|rejected authentication|"
    r"failed to authenticate|unable to extract public key|publickey|"
    r"unexpected http status code: 40[13]|credentials",
    re.IGNORECASE,
)
_REACH_PATTERNS = re.compile(
    r"failed to resolve address|failed to connect|connection refused|timed out|"
    r"network is unreachable|no route to host|connection reset|ssl error|tls",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"unexpected http status code: 404|repository not found|does not appear to be a git",
    re.IGNORECASE,
)


def translate_git_error(
    err: BaseException, url: str, callbacks: GitCallbacks | None = None
) -> GitError:
    """The typed error for an exception a pygit2 operation on `url` raised."""
    if isinstance(err, GitError):
        return err
    if callbacks is not None and callbacks.failure is not None:
        return callbacks.failure
    where = redact_url(url)
    message = str(err).strip() or type(err).__name__
    if re.search(r"private key|extract public key", message, re.IGNORECASE):
        return GitAuthError(
            f"could not use the SSH key in 'identity' for {where}: a wrong or missing "
            f"passphrase in 'password', or an unsupported key format ({message})"
        )
    if isinstance(err, pygit2.AuthError) or _AUTH_PATTERNS.search(message):
        if "unexpected http status code: 403" in message:
            return GitAuthError(
                f"{where} refused access (HTTP 403): the credentials are valid but not allowed "
                "to read this repository"
            )
        return GitAuthError(f"authentication to {where} failed: {message}")
    if _NOT_FOUND.search(message):
        return GitError(f"repository not found at {where}: check spec.url ({message})")
    if _REACH_PATTERNS.search(message):
        return GitError(f"cannot reach {where}: {message}; check the URL and the network")
    return GitError(f"git operation on {where} failed: {message}")
