"""`gitea` (session fixture): a real Gitea (built from Go modules by `hack/tools.sh gitea`,
pinned in hack/versions.env) on a free loopback port: sqlite, no SSH, no mail, no cron,
webhooks allowed to loopback only, offline. An admin user and an API token are made at
start.

`gitea_https` (session fixture): another one served over HTTPS (a certificate of the
`test_ca`) with Gitea's built-in SSH server on a second loopback port (`ssh_port`; SSH user
`git`), what `bootstrap gitea` and `bootstrap git` without `--token-auth` need.

    gitea.create_repo("fleet")               # -> clone URL (http)
    gitea.auth                               # GitAuth for git_push_files
    gitea.add_webhook("fleet", url, secret)  # a "gitea" webhook on push (its requests carry
                                             # X-GitHub-Event and X-Hub-Signature-256 too)
    gitea.combined_status("fleet", sha)      # GET .../commits/{sha}/status
    gitea.statuses("fleet", sha)             # every status posted, newest first
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afflux.cli.devenv import TestCA, free_port

from .daemon import Daemon
from .fixtures_cluster import REPO
from .fixtures_servers import GitAuth
from .leaks import remember

__all__ = ["Gitea", "gitea", "gitea_https"]

USER = "afflux"


def _versions() -> dict[str, str]:
    out = {}
    for line in (REPO / "hack" / "versions.env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip()
    return out


class Gitea:
    def __init__(self, directory: Path, *, ca: TestCA | None = None) -> None:
        version = _versions()["GITEA_VERSION"]
        cache = Path(os.environ.get("AFFLUX_CACHE") or Path.home() / ".cache" / "afflux")
        self.binary = cache / "bin" / f"gitea-{version}"
        self.share = cache / "share" / f"gitea-{version}"
        if not self.binary.exists() or not (self.share / "options").is_dir():
            raise RuntimeError(f"{self.binary} or {self.share} missing: run `hack/tools.sh gitea`")
        self.directory = directory
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.token = ""
        self.ca = ca
        self.scheme = "https" if ca is not None else "http"
        self.ssh_port = free_port() if ca is not None else 0
        self.config = directory / "app.ini"
        self.log = directory / "gitea.log"
        self.daemon = Daemon("gitea", [str(self.binary), "--config", str(self.config), "web"],
                             self.log, cwd=directory, env=self._env(), tail=3000)
        self.config.write_text(f"""\
APP_NAME = afflux tests
RUN_MODE = prod
WORK_PATH = {directory}
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {self.port}
ROOT_URL = {self.scheme}://127.0.0.1:{self.port}/
{self._server_options()}
OFFLINE_MODE = true
APP_DATA_PATH = {directory / 'data'}
STATIC_ROOT_PATH = {self.share}
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = {directory / 'gitea.db'}

[repository]
ROOT = {directory / 'repositories'}
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = {secrets.token_hex(16)}
INTERNAL_TOKEN = {secrets.token_hex(32)}
ALLOWED_HOST_LIST = loopback

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true

[webhook]
DELIVER_TIMEOUT = 10

[mailer]
ENABLED = false

[cron]
ENABLED = false

[indexer]
REPO_INDEXER_ENABLED = false
ISSUE_INDEXER_TYPE = db

[actions]
ENABLED = false

[packages]
ENABLED = false

[log]
MODE = console
LEVEL = warn
""")

    def _server_options(self) -> str:
        if self.ca is None:
            return "PROTOCOL = http\nDISABLE_SSH = true\nSTART_SSH_SERVER = false"
        cert, key = self.ca.issue_server("gitea", directory=self.directory)
        return (f"PROTOCOL = https\nCERT_FILE = {cert}\nKEY_FILE = {key}\n"
                "DISABLE_SSH = false\nSTART_SSH_SERVER = true\nSSH_DOMAIN = 127.0.0.1\n"
                f"SSH_PORT = {self.ssh_port}\nSSH_LISTEN_HOST = 127.0.0.1\n"
                f"SSH_LISTEN_PORT = {self.ssh_port}\nBUILTIN_SSH_SERVER_USER = git")

    # --- process ----------------------------------------------------------------------------

    def _cli(self, *args: str) -> str:
        proc = subprocess.run([str(self.binary), "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=300, cwd=self.directory,
                              env=self._env(), check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"gitea {args[0]} failed: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def _env(self) -> dict[str, str]:
        return {**os.environ, "GITEA_WORK_DIR": str(self.directory),
                "HOME": str(self.directory)}

    def start(self) -> Gitea:
        self._cli("migrate")
        self._cli("admin", "user", "create", "--username", USER, "--password", self.password,
                  "--email", "afflux@tests.invalid", "--admin", "--must-change-password=false")
        self.daemon.start(lambda: bool(self.api("GET", "/version")), 60)
        token = self.api("POST", f"/users/{USER}/tokens", {"name": "tests", "scopes": ["all"]},
                         basic=True)
        self.token = token["sha1"]
        remember(self.password, self.token)
        return self

    def stop(self) -> None:
        self.daemon.stop()

    # --- API --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def hostname(self) -> str:
        """host:port, as `bootstrap gitea --hostname` takes it."""
        return f"127.0.0.1:{self.port}"

    @property
    def auth(self) -> GitAuth:
        return GitAuth(username=USER, password=self.password)

    def api(self, method: str, path: str, body: Any = None, *, basic: bool = False) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if basic:
            creds = base64.b64encode(f"{USER}:{self.password}".encode()).decode()
            headers["Authorization"] = f"Basic {creds}"
        elif self.token:
            headers["Authorization"] = f"token {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/api/v1{path}", data=data, method=method,
                                         headers=headers)
        try:
            context = ssl.create_default_context(cafile=str(self.ca.ca_cert)) if self.ca \
                else None
            with urllib.request.urlopen(request, timeout=30, context=context) as resp:
                text = resp.read()
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"gitea {method} {path}: {err.code} {err.read()[:300]!r}") from None
        return json.loads(text) if text else None

    def create_repo(self, name: str) -> str:
        """An empty repository of the admin user; its http clone URL."""
        repo = self.api("POST", "/user/repos", {"name": name, "private": True,
                                                "default_branch": "main"})
        return str(repo["clone_url"])

    def repo_url(self, name: str) -> str:
        """The repository's web URL (what a gitea Provider's address is)."""
        return f"{self.url}/{USER}/{name}"

    def add_webhook(self, repo: str, url: str, secret: str) -> None:
        self.api("POST", f"/repos/{USER}/{repo}/hooks", {
            "type": "gitea", "active": True, "events": ["push"],
            "config": {"url": url, "content_type": "json", "secret": secret}})

    def combined_status(self, repo: str, sha: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/repos/{USER}/{repo}/commits/{sha}/status"))

    def statuses(self, repo: str, sha: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/repos/{USER}/{repo}/commits/{sha}/statuses"))


@pytest.fixture(scope="session")
def gitea(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gitea]:
    server = Gitea(tmp_path_factory.mktemp("gitea")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gitea_https(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Gitea]:
    server = Gitea(tmp_path_factory.mktemp("gitea-https"), ca=test_ca).start()
    try:
        yield server
    finally:
        server.stop()
