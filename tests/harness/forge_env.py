"""The test environment of `afflux bootstrap github|gitlab|bitbucket-server`: a stand-in of the
provider's REST API (`forge_rules`, served over HTTPS by `services.StrictService`) whose
repositories are real, on a Git server of the harness, and reading back what a bootstrap left
in the cluster and on the Git server.

A test module names its provider with a marker and takes the `forge` fixture:

    pytestmark = [pytest.mark.integration, pytest.mark.forge("gitlab")]

    def test_x(afflux: Run, forge: Forge) -> None:
        res = afflux(*forge.args("--owner=infra", "--repository=fleet"))

- `forge_git` (module scope): `git http-backend` over HTTPS that takes the provider's push
  user (`ForgeKind.push_user`) and `TOKEN`, and sshd on the same repositories, which lets in
  the deploy keys a stand-in is given; GitLab's deploy tokens become read-only credentials of
  the HTTPS server (`GitHTTPServer.add_reader`) for as long as the stand-in has them.
- `forge` (per test): the stand-in started on `forge_git`, `$<TOKEN_ENV>` set to `TOKEN`, the
  test's namespace with a source- and kustomize-controller of its own (the `operators` fixture
  of tests/integration/cli/conftest.py), and the helpers of `Forge`.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
import pytest

from afflux.cli.devenv import GitHTTPServer, GitSSHServer, TestCA

from .fixtures_cluster import Cluster
from .forge_rules import BitbucketServerAPI, GitHubAPI, GitLabAPI
from .leaks import remember
from .services import StrictService
from .wait import eventually

__all__ = ["PATH", "PROVIDERS", "TOKEN", "USER", "Forge", "ForgeKind"]

TOKEN = "tok_" + secrets.token_hex(16)
PATH = "clusters/test"
#: the token's user
USER = "octo"
GITREPO = "gitrepositories.source.toolkit.fluxcd.io"
KS = "kustomizations.kustomize.toolkit.fluxcd.io"


@dataclass(frozen=True)
class ForgeKind:
    """One provider: its `bootstrap` sub-command, stand-in and token variable, and the user
    the CLI pushes as (and, with `--token-auth`, the cluster syncs as) with the token."""

    command: str
    api: Callable[..., Any]
    token_env: str
    push_user: str = "git"


PROVIDERS = {
    "github": ForgeKind("github", GitHubAPI, "GITHUB_TOKEN"),
    "gitlab": ForgeKind("gitlab", GitLabAPI, "GITLAB_TOKEN"),
    # Bitbucket's push user is `--username`, or `--owner` with `--personal`
    "bitbucket-server": ForgeKind("bitbucket-server", BitbucketServerAPI, "BITBUCKET_TOKEN",
                                  USER),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "forge(provider): the provider of the `forge` fixture "
                            f"({', '.join(PROVIDERS)})")


def _kind(node: pytest.Item | pytest.Collector) -> ForgeKind:
    marker = node.get_closest_marker("forge")
    if marker is None or marker.args[0] not in PROVIDERS:
        raise pytest.UsageError("mark the module with pytest.mark.forge(<provider>), one of "
                                f"{', '.join(PROVIDERS)}")
    return PROVIDERS[marker.args[0]]


@pytest.fixture(scope="module")
def forge_git(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              test_ca: TestCA) -> Iterator[tuple[GitHTTPServer, GitSSHServer]]:
    """The Git server behind the module's stand-in: HTTPS with its push user and `TOKEN`,
    and sshd on the same repositories."""
    remember(TOKEN)
    http = GitHTTPServer(tmp_path_factory.mktemp("forge-http"), ca=test_ca,
                         username=_kind(request.node).push_user, password=TOKEN)
    with http:
        ssh = GitSSHServer(tmp_path_factory.mktemp("forge-ssh"), repo_root=http.repo_root)
        with ssh:
            yield http, ssh


@dataclass
class Forge:
    """One test's provider: the stand-in (`service`, its state `api`), the Git servers behind
    it, and the namespace bootstrap installs into."""

    kind: ForgeKind
    service: StrictService
    http: GitHTTPServer
    ssh: GitSSHServer
    cluster: Cluster
    namespace: str
    ca: TestCA

    @property
    def api(self) -> Any:
        """The stand-in's state (a `forge_rules` class: `GitHubAPI`, ...)."""
        return self.service.rule

    def args(self, *flags: str) -> list[str]:
        """`bootstrap <provider> --local` into the namespace against the stand-in."""
        return ["bootstrap", self.kind.command, "-n", self.namespace, "--local",
                "--components=source-controller,kustomize-controller", "--timeout=2m",
                f"--path={PATH}", f"--hostname=127.0.0.1:{self.service.port}",
                f"--ca-file={self.ca.ca_cert}", *flags]

    def refused(self) -> list[str]:
        """What the stand-in refused, but the lookups of what did not exist yet."""
        return [f"{s.request.method} {s.request.path}: {s.why}" for s in self.service.rejected
                if not (s.request.method == "GET" and s.status == 404)]

    def calls(self) -> list[tuple[str, str]]:
        """The requests the stand-in accepted, as (method, path)."""
        return [(s.request.method, s.request.path) for s in self.service.accepted]

    def get(self, kind: str) -> dict[str, Any]:
        """The namespace's `flux-system` object of `kind`."""
        done = self.cluster.kubectl("get", "-n", self.namespace, kind, "flux-system", "-o",
                                    "json")
        return json.loads(done.stdout)

    def secret_data(self) -> dict[str, str]:
        data = self.get("secret").get("data") or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def token_secret(self, username: str | None = None) -> dict[str, str]:
        """The Secret `--token-auth` makes: the push user (or `username`) and the token."""
        return {"username": username or self.kind.push_user, "password": TOKEN,
                "ca.crt": self.ca.ca_cert.read_text()}

    def sync_url(self) -> str:
        return str(self.get(GITREPO)["spec"]["url"])

    def head(self, full: str) -> str:
        repo = pygit2.Repository(str(Path(self.http.repo_root) / f"{full}.git"))
        return str(repo.references["refs/heads/main"].target)

    def assert_synced(self, sha: str) -> None:
        """The GitRepository has the commit, and the Kustomization applied it and is Ready (a
        reconcile that the bootstrap's last apply set off may still be running: waited
        for)."""
        revision = f"main@sha1:{sha}"
        assert self.get(GITREPO)["status"]["artifact"]["revision"] == revision

        def ready() -> dict[str, Any]:
            ks = self.get(KS)
            ready = {c["type"]: c for c in ks["status"]["conditions"]}["Ready"]
            assert ready["status"] == "True", ready
            return ks

        ks = eventually(ready, 60, message="the flux-system Kustomization Ready")
        assert ks["status"]["lastAppliedRevision"] == revision


@pytest.fixture
def forge(request: pytest.FixtureRequest, forge_git: tuple[GitHTTPServer, GitSSHServer],
          test_ca: TestCA, flux_crds: Cluster, namespace: str, operators: None,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Forge]:
    """The module's provider stand-in over HTTPS on `forge_git` (its repositories made there,
    the deploy keys it is given let in by sshd, its deploy tokens readers of the repository
    over HTTPS), with `$<TOKEN_ENV>` set to `TOKEN`."""
    kind = _kind(request.node)
    http, ssh = forge_git

    def create_repo(full: str) -> tuple[str, str]:
        http.create_repo(full)
        return http.url(full, "https"), ssh.url(full)

    def set_reader(username: str, full: str, password: str | None) -> None:
        if password is None:
            http.remove_reader(username)
            return
        remember(password)
        http.add_reader(username, password, repos=[full])

    api = kind.api(TOKEN, USER, create_repo, lambda key: ssh.add_authorized_key(key, "deploy"),
                   set_reader)
    monkeypatch.setenv(kind.token_env, TOKEN)
    with StrictService(kind.command, test_ca, rule=api) as service:
        yield Forge(kind, service, http, ssh, flux_crds, namespace, test_ca)
