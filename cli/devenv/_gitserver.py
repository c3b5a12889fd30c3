"""`GitHTTPServer`: a Git smart-HTTP server on loopback, with basic auth and TLS.

It runs `_githttpd.py` (the standard library's HTTP server in front of
`git http-backend`) as a child process with a plain-HTTP and an HTTPS listener; the
HTTPS certificate comes from the test CA. State lives in the given directory:

    config.json      what the child serves, and with which credentials
    readers.json     the read-only credentials (`add_reader`), read again when it changes
    repos/           the bare repositories (`<name>.git`)
    server.log       the child's log, http-backend's stderr included
    requests.jsonl   one JSON line per request (see `requests()`)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from ._ca import TestCA
from ._procs import DevEnvError, ManagedProcess, ProcessServer, ServerStartError
from ._repos import (
    GitRequest,
    count_lines,
    create_bare_repo,
    isolated_git_env,
    normalize_repo_name,
    read_requests,
)


def find_http_backend() -> Path:
    """The `git http-backend` program (in git's exec path)."""
    candidates = [Path("/usr/lib/git-core/git-http-backend")]
    git = shutil.which("git")
    if git:
        try:
            exec_path = subprocess.run(
                [git, "--exec-path"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            exec_path = ""
        if exec_path:
            candidates.insert(0, Path(exec_path) / "git-http-backend")
    for path in candidates:
        if path.is_file():
            return path
    raise DevEnvError("git http-backend not found: install the Debian package `git`")


class GitHTTPServer(ProcessServer):
    """Git over smart HTTP and HTTPS; see the module docstring.

    Credentials: HTTP basic auth (`username` / `password`), or `Authorization: Bearer
    <bearer_token>`, or over HTTPS a client certificate issued by the test CA; and the
    read-only users of `add_reader` (basic auth, fetch only). Ports are picked by the OS
    unless given (0 = pick; `https_port=None` = no HTTPS listener).
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        ca: TestCA | None = None,
        username: str = "git-user",
        password: str | None = None,
        bearer_token: str | None = None,
        host: str = "127.0.0.1",
        http_port: int | None = 0,
        https_port: int | None = 0,
        start_timeout: float = 30.0,
        persistent: bool = False,
    ) -> None:
        self.directory = Path(directory)
        #: Leave the server running when this interpreter exits (see `_procs.stop_pid`).
        self.persistent = persistent
        self.ca = ca or TestCA(self.directory / "ca")
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.bearer_token = bearer_token or secrets.token_urlsafe(24)
        self.host = host
        self.repo_root = self.directory / "repos"
        self.log_path = self.directory / "server.log"
        self.requests_log = self.directory / "requests.jsonl"
        self.readers_file = self.directory / "readers.json"
        self._readers: dict[str, dict[str, object]] = {}
        self._want_http = http_port
        self._want_https = https_port
        self._start_timeout = start_timeout
        self.http_port: int | None = None
        self.https_port: int | None = None
        self._proc: ManagedProcess | None = None
        self._since = 0

    # -- lifecycle

    @property
    def ca_cert(self) -> Path:
        return self.ca.ca_cert

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (its `git http-backend` runs are its
        waited-for children)."""
        return self._proc.pid if self._proc is not None and self._proc.alive() else None

    def start(self) -> GitHTTPServer:
        if self._proc is not None and self._proc.alive():
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        self.repo_root.mkdir(parents=True, exist_ok=True)
        config: dict[str, object] = {
            "project_root": str(self.repo_root.resolve()),
            "host": self.host,
            "http_port": self._want_http,
            "https_port": self._want_https,
            "username": self.username,
            "password": self.password,
            "bearer_token": self.bearer_token,
            "backend": str(find_http_backend()),
            "ready_file": str(self.directory / "ready.json"),
            "requests_log": str(self.requests_log),
            "readers_file": str(self.readers_file),
            "env": isolated_git_env(home=self.directory),
        }
        if self._want_https is not None:
            cert, key = self.ca.issue_server(
                "git-server", hosts=[self.host, "localhost"], directory=self.directory / "tls"
            )
            config.update(cert=str(cert), key=str(key), client_ca=str(self.ca.ca_cert))
        config_path = self.directory / "config.json"
        config_path.write_text(json.dumps(config, indent=2))
        config_path.chmod(0o600)
        self._write_readers()
        ready = self.directory / "ready.json"
        ready.unlink(missing_ok=True)
        self._since = count_lines(self.requests_log)
        proc = ManagedProcess(
            "git http server",
            [sys.executable, str(Path(__file__).with_name("_githttpd.py")), str(config_path)],
            self.log_path,
            persistent=self.persistent,
        )
        proc.start()
        self._proc = proc
        proc.wait_until(ready.is_file, "listening", timeout=self._start_timeout)
        try:
            ports = json.loads(ready.read_text())
        except ValueError as err:
            proc.stop()
            raise ServerStartError(
                proc.name, f"unreadable {ready}: {err}", proc.log_text()
            ) from err
        self.http_port = ports.get("http_port")
        self.https_port = ports.get("https_port")
        return self

    # -- read-only credentials

    def add_reader(self, username: str, password: str, *, repos: list[str] | None = None) -> None:
        """Another user who may fetch (never push), from `repos` only when given (names as
        `url` takes them); it replaces an earlier one of that name, at once."""
        if username == self.username:
            raise DevEnvError(f"{username!r} is the server's read-write user")
        names = None if repos is None else [normalize_repo_name(r) for r in repos]
        self._readers[username] = {"password": password, "repos": names}
        self._write_readers()

    def remove_reader(self, username: str) -> None:
        """The read-only user `username` is refused from now on."""
        self._readers.pop(username, None)
        self._write_readers()

    def _write_readers(self) -> None:
        if not self.directory.is_dir():
            return
        tmp = self.readers_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._readers))
        tmp.chmod(0o600)
        os.replace(tmp, self.readers_file)

    # -- repositories

    def create_repo(self, name: str, *, public: bool = False, default_branch: str = "main") -> Path:
        """A bare repository (reused if it exists); `public` allows anonymous reads."""
        return create_bare_repo(self.repo_root, name, public=public, default_branch=default_branch)

    def repo_path(self, name: str) -> Path:
        return self.repo_root / f"{normalize_repo_name(name)}.git"

    def url(self, name: str, scheme: str = "http") -> str:
        """`http://127.0.0.1:PORT/<name>.git` (or https)."""
        name = normalize_repo_name(name)
        return f"{self.base_url(scheme)}/{name}.git"

    def base_url(self, scheme: str = "http") -> str:
        if scheme == "http":
            port = self.http_port
        elif scheme == "https":
            port = self.https_port
        else:
            raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
        if port is None:
            raise DevEnvError(f"the git server has no {scheme} listener (is it started?)")
        return f"{scheme}://{self.host}:{port}"

    @property
    def http_url(self) -> str:
        return self.base_url("http")

    @property
    def https_url(self) -> str:
        return self.base_url("https")

    # -- what was served

    def requests(self, name: str | None = None) -> list[GitRequest]:
        """Requests served since start (or `clear_requests()`), for one repo or all."""
        return read_requests(self.requests_log, name, since=self._since)

    def fetches(self, name: str) -> int:
        """How many packfile fetches (`POST .../git-upload-pack`) `name` served."""
        return sum(
            1
            for r in self.requests(name)
            if r.method == "POST" and r.service == "git-upload-pack" and r.status == 200
        )

    def clear_requests(self) -> None:
        self._since = count_lines(self.requests_log)
