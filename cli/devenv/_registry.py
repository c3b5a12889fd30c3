"""`Registry`: an OCI registry on loopback (distribution 2.8, Debian's `docker-registry`).

Served over TLS with a certificate from the test CA (or plain HTTP with `tls=False`),
behind htpasswd basic auth (bcrypt, made with `htpasswd -Bbn`; `auth=False` turns it
off), with deletes enabled and storage in the given directory. State files:

    config.yml, htpasswd, tls/, data/ (the blobs and manifests), registry.log

`served()` reads the requests the registry answered back from its access log (method,
path, status, user agent), from a byte offset on (`log_offset()` marks a point).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from ._ca import TestCA
from ._procs import (
    DevEnvError,
    ManagedProcess,
    ProcessServer,
    ServerStartError,
    address_in_use,
    free_port,
)

REGISTRY_BIN = "/usr/bin/docker-registry"

# the access log's combined format: addr - user [time] "METHOD PATH PROTO" status size "ref" "ua"
_ACCESS_LINE = re.compile(
    r'^\S+ - \S+ \[[^\]]*\] "(\S+) (\S+) HTTP/[\d.]+" (\d+) \S+ "[^"]*" "([^"]*)"')


class RegistryRequest(NamedTuple):
    """One request the registry answered, from its access log."""

    method: str
    path: str
    status: int
    user_agent: str


def parse_access_log(text: str) -> list[RegistryRequest]:
    """The requests in `text` (the registry's log; other lines are skipped). Pure."""
    out = []
    for line in text.splitlines():
        m = _ACCESS_LINE.match(line)
        if m:
            out.append(RegistryRequest(m[1], m[2], int(m[3]), m[4]))
    return out


def registry_config(
    *,
    addr: str,
    root: Path,
    http_secret: str,
    cert: Path | None,
    key: Path | None,
    htpasswd: Path | None,
    realm: str = "afflux-registry",
) -> str:
    """distribution's config.yml (JSON is YAML, so it is written as JSON)."""
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {
            "addr": addr,
            "secret": http_secret,
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
        "health": {"storagedriver": {"enabled": False}},
    }
    if cert is not None and key is not None:
        config["http"]["tls"] = {"certificate": str(cert), "key": str(key)}  # type: ignore[index]
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": realm, "path": str(htpasswd)}}
    return json.dumps(config, indent=2) + "\n"


def htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd entry (distribution accepts no other hash)."""
    tool = shutil.which("htpasswd")
    if not tool:
        raise DevEnvError("htpasswd not found: install the Debian package apache2-utils")
    if ":" in username:
        raise ValueError("a registry user name cannot contain ':'")
    done = subprocess.run(
        [tool, "-Bbn", username, password], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise DevEnvError(f"htpasswd failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout.strip()


class Registry(ProcessServer):
    """An OCI registry; see the module docstring.

    `host` is `127.0.0.1:PORT` (what image references and oras take), `url` the base URL.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        ca: TestCA | None = None,
        username: str = "registry-user",
        password: str | None = None,
        tls: bool = True,
        auth: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 30.0,
        persistent: bool = False,
    ) -> None:
        self.directory = Path(directory)
        #: Leave the server running when this interpreter exits (see `_procs.stop_pid`).
        self.persistent = persistent
        self.ca = ca or TestCA(self.directory / "ca")
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self.tls = tls
        self.auth = auth
        self.bind_host = host
        self.port: int | None = None
        self._want_port = port
        self._start_timeout = start_timeout
        self.data_dir = self.directory / "data"
        self.log_path = self.directory / "registry.log"
        self._proc: ManagedProcess | None = None

    @property
    def ca_cert(self) -> Path:
        return self.ca.ca_cert

    @property
    def host(self) -> str:
        if self.port is None:
            raise DevEnvError("the registry is not started")
        return f"{self.bind_host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def log_offset(self) -> int:
        """Where the log ends now: `served(since=...)` counts from there."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def served(self, since: int = 0, user_agent: str | None = None) -> list[RegistryRequest]:
        """The requests answered since the log offset `since` (of one user agent)."""
        with open(self.log_path, "rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", "replace")
        return [r for r in parse_access_log(text)
                if user_agent is None or r.user_agent == user_agent]

    def start(self) -> Registry:
        if self._proc is not None and self._proc.alive():
            return self
        if not Path(REGISTRY_BIN).is_file():
            raise DevEnvError(
                f"{REGISTRY_BIN} not found: install the Debian package docker-registry"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cert = key = htpasswd = None
        if self.tls:
            cert, key = self.ca.issue_server(
                "registry", hosts=[self.bind_host, "localhost"], directory=self.directory / "tls"
            )
        if self.auth:
            htpasswd = self.directory / "htpasswd"
            htpasswd.write_text(htpasswd_line(self.username, self.password) + "\n")
            htpasswd.chmod(0o600)
        secret = secrets.token_hex(16)
        attempts = 1 if self._want_port else 3
        for attempt in range(attempts):
            port = self._want_port or free_port(self.bind_host)
            config = self.directory / "config.yml"
            config.write_text(
                registry_config(
                    addr=f"{self.bind_host}:{port}",
                    root=self.data_dir.resolve(),
                    http_secret=secret,
                    cert=cert,
                    key=key,
                    htpasswd=htpasswd,
                )
            )
            try:
                self._start_on(port, config)
                return self
            except ServerStartError as err:
                if attempt + 1 < attempts and address_in_use(err.log):
                    continue
                raise
        raise AssertionError("unreachable")

    def _start_on(self, port: int, config: Path) -> None:
        proc = ManagedProcess(
            "docker-registry", [REGISTRY_BIN, "serve", str(config.resolve())], self.log_path,
            persistent=self.persistent,
        )
        proc.start()
        self._proc = proc
        base = f"{'https' if self.tls else 'http'}://{self.bind_host}:{port}"
        proc.wait_until(
            lambda: self._answers(base), f"answering on {base}/v2/", timeout=self._start_timeout
        )
        self.port = port

    def _answers(self, base: str) -> bool:
        """Whether GET /v2/ gets the registry's answer (200, or 401 with auth on)."""
        context = ssl.create_default_context(cafile=str(self.ca_cert)) if self.tls else None
        try:
            with urllib.request.urlopen(f"{base}/v2/", timeout=2, context=context) as resp:
                return resp.status == 200
        except urllib.error.HTTPError as err:
            return err.code == 401 and self.auth
        except OSError:
            return False
