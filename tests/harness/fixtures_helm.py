"""Helm fixtures: the real `helm` binary, and a real Helm chart repository server.

- `helm_tool` (session): `HelmTool`, the pinned `helm` (v3, from the devenv tool cache)
  run with its own HELM_* homes under a temporary directory, so no test touches the
  user's repositories or registry logins. It writes charts (`make_chart`), packages them
  with `helm package`, and pushes them to an OCI registry with `helm registry login` +
  `helm push` (trusting the test CA with `--ca-file`).
- `helm_repo_server` (session): `ChartRepoServer`, a small static HTTP(S) file server on
  loopback with a certificate from `test_ca`, behind basic auth (`username`/`password`;
  paths under `/public/` are served without auth). `publish(charts)` puts packaged charts
  into a fresh directory, runs the real `helm repo index --url <that directory's URL>` and
  returns the repository URL; `request_log` records (method, path, user) of every request.

The server is Python's `http.server` on a thread: a chart repository is nothing but
static files (index.yaml and .tgz), so what matters for faithfulness is that the index
and packages are made by real Helm and read back by real Helm clients.
"""

from __future__ import annotations

import base64
import functools
import http.server
import os
import shutil
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.cli.devenv import Registry, TestCA, free_port
from afflux.cli.devenv._tools import tool_path

__all__ = ["ChartRepoServer", "HelmTool", "helm_repo_server", "helm_tool"]


class HelmTool:
    """The real helm with private homes (see the module docstring)."""

    def __init__(self, home: Path, program: str = "helm") -> None:
        """`program`: `helm` (v3) or `helm4`, the pinned tools of that name."""
        self.binary = str(tool_path(program))
        self.home = home
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "HELM_REGISTRY_CONFIG": str(home / "config" / "registry.json"),
            "HELM_REPOSITORY_CONFIG": str(home / "config" / "repositories.yaml"),
        }

    def run(self, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run([self.binary, *args], env=self.env, cwd=cwd,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stderr}{done.stdout}")
        return done.stdout

    @staticmethod
    def make_chart(
        parent: Path,
        name: str,
        version: str,
        *,
        values: Mapping[str, Any] | None = None,
        files: Mapping[str, str] | None = None,
        app_version: str = "1.0.0",
        dependencies: Sequence[Mapping[str, Any]] = (),
    ) -> Path:
        """A minimal chart directory `parent/name` (one ConfigMap template)."""
        chart = parent / name
        (chart / "templates").mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {"apiVersion": "v2", "name": name, "version": version,
                                "appVersion": app_version, "type": "application"}
        if dependencies:
            meta["dependencies"] = [dict(d) for d in dependencies]
        (chart / "Chart.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        (chart / "values.yaml").write_text(yaml.safe_dump(dict(values or {"replicas": 1})))
        (chart / "templates" / "configmap.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
            "data:\n  replicas: {{ .Values.replicas | quote }}\n")
        for path, content in (files or {}).items():
            target = chart / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        return chart

    def package(self, chart_dir: Path, dest: Path) -> Path:
        """`helm package` into `dest`; returns the .tgz."""
        dest.mkdir(parents=True, exist_ok=True)
        out = self.run("package", str(chart_dir), "--destination", str(dest))
        return Path(out.strip().rsplit(": ", 1)[1])

    def push(self, registry: Registry, chart_tgz: Path, repository: str, *,
             plain_http: bool = False) -> str:
        """`helm push` the package to `oci://<registry>/<repository>` (`plain_http`: a
        registry without TLS nor auth); returns the manifest digest helm reports."""
        if plain_http:
            transport = ["--plain-http"]
        else:
            self.run("registry", "login", registry.host, "--username", registry.username,
                     "--password", registry.password, "--ca-file", str(registry.ca_cert))
            transport = ["--ca-file", str(registry.ca_cert)]
        done = subprocess.run(
            [self.binary, "push", str(chart_tgz), f"oci://{registry.host}/{repository}",
             *transport],
            env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"helm push failed:\n{done.stderr}{done.stdout}")
        output = done.stdout + done.stderr
        digest = next((w for w in output.split() if w.startswith("sha256:")), "")
        assert digest, output
        return digest

    def show_values(self, chart_tgz: Path) -> dict[str, Any]:
        return yaml.safe_load(self.run("show", "values", str(chart_tgz))) or {}

    def show_chart(self, chart_tgz: Path) -> dict[str, Any]:
        return yaml.safe_load(self.run("show", "chart", str(chart_tgz))) or {}

    def template(self, chart_tgz: Path, release: str = "r") -> str:
        return self.run("template", release, str(chart_tgz))


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with basic auth (except under /public/), logging to the server."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if (user, password) == self.server.credentials else "!" + user

    def _authorized(self) -> bool:
        user = self._user()
        self.server.request_log.append((self.command, self.path, user))
        if self.path.startswith("/public/") or (user and not user.startswith("!")):
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="charts"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self) -> None:
        if self._authorized():
            super().do_GET()

    def do_HEAD(self) -> None:
        if self._authorized():
            super().do_HEAD()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    credentials: tuple[str, str]
    request_log: list[tuple[str, str, str | None]]


class ChartRepoServer:
    """See the module docstring. `url` is the HTTPS base URL (`https://127.0.0.1:PORT`)."""

    def __init__(self, root: Path, ca: TestCA, username: str = "charts",
                 password: str | None = None) -> None:
        self.root = root
        self.docs = root / "www"
        self.docs.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.username = username
        self.password = password or uuid.uuid4().hex
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        handler = functools.partial(_Handler, directory=str(self.docs))
        self._server = _Server(("127.0.0.1", self.port), handler)
        self._server.credentials = (self.username, self.password)
        self._server.request_log = []
        cert, key = ca.issue_server("chart-repo", hosts=["127.0.0.1", "localhost"],
                                    directory=root / "tls")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="chart-repo")

    @property
    def request_log(self) -> list[tuple[str, str, str | None]]:
        return self._server.request_log

    def start(self) -> ChartRepoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def publish(self, helm: HelmTool, charts: Sequence[Path], *, public: bool = False,
                name: str | None = None, url: str | None = None) -> str:
        """A new repository directory holding `charts`, indexed by `helm repo index`;
        returns its URL (ending in `/`). `url` overrides the base URL the index names."""
        sub = f"{'public/' if public else ''}{name or uuid.uuid4().hex[:10]}"
        directory = self.docs / sub
        directory.mkdir(parents=True, exist_ok=True)
        for chart in charts:
            shutil.copy(chart, directory / chart.name)
        repo_url = f"{self.url}/{sub}/"
        helm.run("repo", "index", str(directory), "--url", url or repo_url.rstrip("/"))
        return repo_url

    def directory(self, repo_url: str) -> Path:
        return self.docs / repo_url[len(self.url) + 1:].strip("/")


@pytest.fixture(scope="session")
def helm_tool(tmp_path_factory: pytest.TempPathFactory) -> HelmTool:
    return HelmTool(tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def helm_repo_server(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
                     ) -> Iterator[ChartRepoServer]:
    server = ChartRepoServer(tmp_path_factory.mktemp("chart-repo"), test_ca).start()
    try:
        yield server
    finally:
        server.stop()
