"""The Git smart-HTTP server process: `git http-backend` as CGI behind basic/bearer auth.

Run as a script (`python _githttpd.py CONFIG.json`) by `GitHTTPServer`; it uses only the
standard library so it runs from the file alone. It listens on a plain-HTTP and an HTTPS
port (each may be 0: the OS picks), writes the ports to the config's `ready_file` once
both listen, and serves until SIGTERM.

Per request: the URL path names a repository under the project root (`/<name>.git/...`
or `/<name>/...`), the client authenticates with HTTP basic auth, a bearer token, or
(HTTPS) a client certificate from the configured CA; a repository holding the file
`afflux-public` can be read without credentials. Read-only credentials (a user name and
password that may fetch, from all repositories or from the ones listed, and never push)
are read from the config's `readers_file` whenever it changes, so they can be added and
removed while the server runs. Request and response bodies are streamed
through the CGI process (chunked request bodies are decoded, `Content-Encoding: gzip` is
passed to http-backend, which inflates it). Every request is appended as one JSON line
to `requests_log`, which is how tests count fetches.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

#: Marker file in a bare repository that allows reading it without credentials.
PUBLIC_MARKER = "afflux-public"
BUFFER = 64 * 1024
MAX_CGI_HEADER_BYTES = 64 * 1024
READ_SERVICES = ("git-upload-pack", "git-upload-archive")
WRITE_SERVICE = "git-receive-pack"

_GIT_SUFFIX = re.compile(
    r"^/(?P<repo>[^?#]+?)(?P<rest>/(?:HEAD|info/refs|info/[^/]+|objects/.+"
    r"|git-upload-pack|git-receive-pack|git-upload-archive))$"
)
#: Request headers that must not reach the CGI environment as HTTP_*.
_HIDDEN_HEADERS = {"authorization", "proxy-authorization", "content-type", "content-length"}
#: CGI response headers the server decides itself.
_HOP_HEADERS = {"status", "transfer-encoding", "connection", "keep-alive"}


# --- pure helpers (unit-tested) -------------------------------------------------------


def split_git_path(path: str) -> tuple[str, str] | None:
    """`/team/app.git/info/refs` -> (`team/app.git`, `/info/refs`); None if not a Git URL."""
    match = _GIT_SUFFIX.match(path)
    if not match:
        return None
    repo = match.group("repo").strip("/")
    parts = repo.split("/")
    if not repo or any(p in ("", ".", "..") for p in parts):
        return None
    return repo, match.group("rest")


def repo_name(repo: str) -> str:
    """The repository's name as tests use it: the URL path without `.git`."""
    return repo[:-4] if repo.endswith(".git") else repo


def service_of(method: str, rest: str, query: str) -> str | None:
    """The Git service a request is for (`git-upload-pack`, ...), or None for dumb HTTP."""
    if rest == "/info/refs":
        values = urllib.parse.parse_qs(query).get("service", [])
        return values[0] if values else None
    if method == "POST" and rest.startswith("/git-"):
        return rest[1:]
    return None


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of a basic Authorization header, or None (missing, another scheme,
    malformed)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, secret = decoded.partition(":")
    return (user, secret) if sep else None


def authenticate(
    header: str | None, username: str, password: str, bearer_token: str | None
) -> str | None:
    """The user an Authorization header proves, or None (missing, malformed or wrong)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "basic":
        found = basic_credentials(header)
        if found is None:
            return None
        user, secret = found
        ok_user = hmac.compare_digest(user.encode(), username.encode())
        ok_pass = hmac.compare_digest(secret.encode(), password.encode())
        return user if ok_user and ok_pass else None
    if scheme.lower() == "bearer" and bearer_token:
        if hmac.compare_digest(value.strip().encode(), bearer_token.encode()):
            return "bearer-token"
    return None


def authenticate_reader(header: str | None, readers: Mapping[str, Mapping[str, Any]]
                        ) -> str | None:
    """The read-only user (a key of `readers`, {user: {"password", "repos"}}) a basic
    Authorization header proves, or None."""
    found = basic_credentials(header)
    if found is None or found[0] not in readers:
        return None
    user, secret = found
    expected = str(readers[user].get("password") or "")
    return user if expected and hmac.compare_digest(secret.encode(), expected.encode()) else None


def reader_refusal(reader: Mapping[str, Any], repo: str, service: str | None) -> str | None:
    """Why a read-only credential may not make this request (None: it may): never a push,
    and only to its repositories when it lists them (`repos`, names without `.git`)."""
    if service == WRITE_SERVICE:
        return "a read-only credential may not push"
    repos = reader.get("repos")
    if repos is not None and repo not in repos:
        return "the credential is not valid for this repository"
    return None


def parse_cgi_headers(block: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    """The status, reason and headers of a CGI response header block.

    `Status: 404 Not Found` sets the status (default 200 OK); `Location` without a
    status means 302. Lines may end with CRLF or LF; a line without a colon is an error.
    """
    status, reason = 200, "OK"
    headers: list[tuple[str, str]] = []
    has_status = False
    for raw in block.splitlines():
        line = raw.decode("latin-1").rstrip("\r")
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"malformed CGI header line: {line!r}")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            code, _, text = value.partition(" ")
            if not code.isdigit():
                raise ValueError(f"malformed CGI Status header: {value!r}")
            status, reason, has_status = int(code), text.strip(), True
        else:
            headers.append((name, value))
    if not has_status and any(n.lower() == "location" for n, _ in headers):
        status, reason = 302, "Found"
    return status, reason, headers


def read_chunked(stream: IO[bytes]) -> Iterator[bytes]:
    """The data of an HTTP/1.1 chunked body read from `stream` (trailers are skipped)."""
    while True:
        line = stream.readline(1024)
        if not line:
            raise ValueError("chunked body ended early")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ValueError(f"bad chunk size line: {line!r}") from None
        if size == 0:
            while True:  # trailers up to the blank line
                trailer = stream.readline(8192)
                if trailer in (b"\r\n", b"\n", b""):
                    return
        remaining = size
        while remaining:
            data = stream.read(min(remaining, BUFFER))
            if not data:
                raise ValueError("chunked body ended inside a chunk")
            remaining -= len(data)
            yield data
        if stream.readline(8) not in (b"\r\n", b"\n"):
            raise ValueError("chunk not followed by CRLF")


def cgi_environ(
    *,
    project_root: str,
    method: str,
    path_info: str,
    query: str,
    headers: Mapping[str, str] | Any,
    remote_addr: str,
    remote_user: str | None,
    content_length: int | None,
    https: bool,
    base_env: Mapping[str, str],
) -> dict[str, str]:
    """The environment `git http-backend` runs with for one request."""
    env = dict(base_env)
    env.update(
        GIT_PROJECT_ROOT=project_root,
        GIT_HTTP_EXPORT_ALL="1",
        GATEWAY_INTERFACE="CGI/1.1",
        SERVER_PROTOCOL="HTTP/1.1",
        SERVER_SOFTWARE="afflux-githttpd",
        REQUEST_METHOD=method,
        PATH_INFO=path_info,
        QUERY_STRING=query,
        REMOTE_ADDR=remote_addr,
        CONTENT_TYPE=headers.get("Content-Type", "") or "",
    )
    if https:
        env["HTTPS"] = "on"
    if remote_user:
        env["REMOTE_USER"] = remote_user
    if content_length is not None:
        env["CONTENT_LENGTH"] = str(content_length)
    for name, value in headers.items():
        if name.lower() in _HIDDEN_HEADERS:
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        env[key] = f"{env[key]}, {value}" if key in env else value
    return env


# --- the server -----------------------------------------------------------------------


class Settings:
    """The parsed config file."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.project_root = Path(raw["project_root"])
        self.host: str = raw.get("host", "127.0.0.1")
        self.http_port: int | None = raw.get("http_port", 0)
        self.https_port: int | None = raw.get("https_port", 0)
        self.cert: str | None = raw.get("cert")
        self.key: str | None = raw.get("key")
        self.client_ca: str | None = raw.get("client_ca")
        self.username: str = raw["username"]
        self.password: str = raw["password"]
        self.bearer_token: str | None = raw.get("bearer_token")
        self.backend: str = raw["backend"]
        self.ready_file = Path(raw["ready_file"])
        self.requests_log = Path(raw["requests_log"])
        self.env: dict[str, str] = dict(raw.get("env", {}))
        self.readers = Readers(Path(raw["readers_file"]) if raw.get("readers_file") else None)


class Readers:
    """The read-only credentials of `readers_file` ({user: {"password", "repos"}}), read
    again when the file changes (a missing or unreadable file: none)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._readers: dict[str, dict[str, Any]] = {}

    def current(self) -> dict[str, dict[str, Any]]:
        if self._path is None:
            return {}
        with self._lock:
            try:
                stat = self._path.stat()
                seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
                if seen != self._seen:
                    loaded = json.loads(self._path.read_text())
                    self._readers = loaded if isinstance(loaded, dict) else {}
                    self._seen = seen
            except (OSError, ValueError):
                self._readers, self._seen = {}, None
            return self._readers


class Recorder:
    """Appends one JSON line per request; one lock for all listener threads."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the server
        self._lock = threading.Lock()

    def record(self, entry: Mapping[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()


class GitServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        settings: Settings,
        recorder: Recorder,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self.recorder = recorder
        self.tls = tls
        super().__init__(address, GitHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the request's own thread, not in accept().
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(30)
            conn = self.tls.wrap_socket(request, server_side=True)  # detaches `request`
            conn.settimeout(None)
        except (ssl.SSLError, OSError) as err:
            sys.stderr.write(f"TLS handshake with {client_address[0]} failed: {err}\n")
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        err = sys.exc_info()[1]
        sys.stderr.write(f"error serving {client_address[0]}: {type(err).__name__}: {err}\n")


class GitHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: GitServer
    server_version = "afflux-githttpd"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        scheme = "https" if self.server.tls else "http"
        sys.stderr.write(f"[{scheme}] {self.address_string()} {format % args}\n")

    # -- request handling

    def _serve(self) -> None:
        settings = self.server.settings
        raw_path, _, query = self.path.partition("?")
        path = urllib.parse.unquote(raw_path)
        parsed = split_git_path(path)
        entry: dict[str, Any] = {
            "time": time.time(),
            "scheme": "https" if self.server.tls else "http",
            "method": self.command,
            "repo": None,
            "path": path,
            "service": None,
            "user": None,
            "status": None,
        }
        if parsed is None:
            self._reply(404, "not a Git repository URL\n", entry)
            return
        repo, rest = parsed
        repo_dir = self._resolve(repo)
        entry.update(repo=repo_name(repo), path=rest, service=service_of(self.command, rest, query))
        if repo_dir is None:
            self._reply(404, f"repository {repo_name(repo)!r} not found\n", entry)
            return
        header = self.headers.get("Authorization")
        user = self._client_cert_user() or authenticate(
            header,
            settings.username,
            settings.password,
            settings.bearer_token,
        )
        if user is None:
            readers = settings.readers.current()
            user = authenticate_reader(header, readers)
            refusal = reader_refusal(readers[user], entry["repo"], entry["service"]) \
                if user else None
            if refusal:
                entry["user"] = user
                self._reply(403, f"afflux git server: {refusal}\n", entry)
                return
        entry["user"] = user
        public = (repo_dir / PUBLIC_MARKER).exists() and entry["service"] != WRITE_SERVICE
        if user is None and not public:
            reason = (
                "wrong credentials" if self.headers.get("Authorization") else "credentials required"
            )
            self._reply(
                401,
                f"afflux git server: {reason}\n",
                entry,
                [("WWW-Authenticate", 'Basic realm="afflux git"')],
            )
            return
        rel = repo_dir.relative_to(settings.project_root).as_posix()
        self._run_backend("/" + rel + rest, query, user, entry)

    def _resolve(self, repo: str) -> Path | None:
        root = self.server.settings.project_root
        for candidate in (repo, repo + ".git"):
            path = root / candidate
            if (path / "HEAD").is_file() and (path / "objects").is_dir():
                return path
        return None

    def _client_cert_user(self) -> str | None:
        getpeercert = getattr(self.connection, "getpeercert", None)
        if getpeercert is None:
            return None
        cert = getpeercert()
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return "client-certificate"

    def _request_length(self) -> tuple[int | None, bool]:
        """(Content-Length, chunked) of the request body."""
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length = self.headers.get("Content-Length")
        if chunked or length is None:
            return None, chunked
        try:
            return max(int(length), 0), False
        except ValueError:
            return 0, False

    def _reply(
        self,
        status: int,
        text: str,
        entry: dict[str, Any],
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        entry["status"] = status
        self.server.recorder.record(entry)
        body = text.encode()
        length, chunked = self._request_length()
        if chunked or length:
            self.close_connection = True  # the request body was not read
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _run_backend(self, path_info: str, query: str, user: str | None, entry: dict) -> None:
        settings = self.server.settings
        length, chunked = self._request_length()
        has_body = chunked or bool(length)
        env = cgi_environ(
            project_root=str(settings.project_root),
            method=self.command,
            path_info=path_info,
            query=query,
            headers=self.headers,
            remote_addr=self.client_address[0],
            remote_user=user,
            content_length=length if not chunked else None,
            https=self.server.tls is not None,
            base_env=settings.env,
        )
        proc = subprocess.Popen(
            [settings.backend],
            stdin=subprocess.PIPE if has_body else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=env,
            bufsize=0,
        )
        try:
            # Git's stateless RPC reads the whole request before it answers, so the body is
            # fed first and the answer relayed after: the connection is never read and
            # written at once (an SSL socket must not be used from two threads).
            if proc.stdin is not None and not self._feed(proc.stdin, length, chunked):
                self.close_connection = True
            self._relay(proc, entry)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, ValueError) as err:
            sys.stderr.write(f"relaying {entry['method']} {path_info}: {err}\n")
            self.close_connection = True
            proc.kill()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            code = proc.wait()
            if code != 0:
                sys.stderr.write(f"git http-backend exited {code} for {path_info}\n")

    def _feed(self, stdin: IO[bytes], length: int | None, chunked: bool) -> bool:
        """Copy the request body into the CGI's stdin; False if not all of it was read."""
        try:
            if chunked:
                for data in read_chunked(self.rfile):
                    stdin.write(data)
            else:
                remaining = length or 0
                while remaining:
                    data = self.rfile.read(min(remaining, BUFFER))
                    if not data:
                        raise ValueError("request body ended early")
                    remaining -= len(data)
                    stdin.write(data)
            return True
        except (OSError, ValueError) as err:
            sys.stderr.write(f"passing the request body on: {err}\n")
            return False
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _relay(self, proc: subprocess.Popen[bytes], entry: dict[str, Any]) -> None:
        out = proc.stdout
        assert out is not None
        block = b""
        while True:
            line = out.readline(8192)
            if not line:
                raise ValueError("git http-backend ended before its headers")
            if line in (b"\r\n", b"\n"):
                break
            block += line
            if len(block) > MAX_CGI_HEADER_BYTES:
                raise ValueError("git http-backend headers too long")
        status, reason, headers = parse_cgi_headers(block)
        entry["status"] = status
        self.server.recorder.record(entry)
        self.send_response(status, reason or None)
        has_length = False
        for name, value in headers:
            if name.lower() in _HOP_HEADERS:
                continue
            has_length = has_length or name.lower() == "content-length"
            self.send_header(name, value)
        body_allowed = self.command != "HEAD" and status not in (204, 304)
        chunked = body_allowed and not has_length
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not body_allowed:
            return
        while True:
            data = out.read(BUFFER)
            if not data:
                break
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.wfile.write(data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _tls_context(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(settings.cert or "", settings.key)
    if settings.client_ca:
        ctx.load_verify_locations(cafile=settings.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: _githttpd.py CONFIG.json\n")
        return 2
    settings = Settings(json.loads(Path(argv[1]).read_text()))
    recorder = Recorder(settings.requests_log)
    servers: list[GitServer] = []
    ports: dict[str, int | None] = {"http_port": None, "https_port": None}
    if settings.http_port is not None:
        servers.append(GitServer((settings.host, settings.http_port), settings, recorder))
        ports["http_port"] = servers[-1].server_address[1]
    if settings.https_port is not None:
        tls = _tls_context(settings)
        servers.append(GitServer((settings.host, settings.https_port), settings, recorder, tls))
        ports["https_port"] = servers[-1].server_address[1]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    tmp = settings.ready_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **ports}))
    os.replace(tmp, settings.ready_file)
    sys.stderr.write(f"afflux git server listening: {json.dumps(ports)}\n")
    sys.stderr.flush()
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
