"""What the `bootstrap github|gitlab|bitbucket-server` tests share: the token the stand-ins
and the Git server behind them take, and reading back what a bootstrap left in the cluster
and on the Git server (`forge_git`, a fixture of conftest.py, or `git_servers`: `git
http-backend` over HTTPS with a user and `TOKEN`, and sshd on the same repositories, which
lets in the deploy keys a stand-in was given)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pygit2
import pytest

from afflux.cli.devenv import GitHTTPServer, GitSSHServer, TestCA
from harness.fixtures_cluster import Cluster
from harness.leaks import remember
from harness.services import StrictService
from harness.wait import eventually

TOKEN = "tok_" + secrets.token_hex(16)
PATH = "clusters/test"
#: the token's user
USER = "octo"
R = TypeVar("R")


def git_servers(tmp_path_factory: pytest.TempPathFactory, ca: TestCA, username: str
                ) -> Iterator[tuple[GitHTTPServer, GitSSHServer]]:
    """The Git server behind a stand-in: HTTPS that takes `username` and `TOKEN`, and sshd on
    the same repositories."""
    remember(TOKEN)
    http = GitHTTPServer(tmp_path_factory.mktemp("forge-http"), ca=ca, username=username,
                         password=TOKEN)
    with http:
        ssh = GitSSHServer(tmp_path_factory.mktemp("forge-ssh"), repo_root=http.repo_root)
        with ssh:
            yield http, ssh


def serve(kind: str, api_class: Callable[..., Any],
          forge_git: tuple[GitHTTPServer, GitSSHServer], ca: TestCA) -> StrictService:
    """The stand-in `api_class` (of `harness.forge_rules`) over HTTPS, its repositories made
    on `forge_git`, and the deploy keys it is given let in by its sshd."""
    http, ssh = forge_git

    def create_repo(full: str) -> tuple[str, str]:
        http.create_repo(full)
        return http.url(full, "https"), ssh.url(full)

    api = api_class(TOKEN, USER, create_repo, lambda key: ssh.add_authorized_key(key, "deploy"))
    return StrictService(kind, ca, rule=api)


def rule_of(service: StrictService, kind: type[R]) -> R:
    """The stand-in (`kind`, of `harness.forge_rules`) `service` answers with."""
    assert isinstance(service.rule, kind)
    return service.rule


def get(cluster: Cluster, namespace: str, kind: str) -> dict[str, Any]:
    done = cluster.kubectl("get", "-n", namespace, kind, "flux-system", "-o", "json")
    return json.loads(done.stdout)


def secret_data(cluster: Cluster, namespace: str) -> dict[str, str]:
    data = get(cluster, namespace, "secret").get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def sync_url(cluster: Cluster, namespace: str) -> str:
    return str(get(cluster, namespace, "gitrepositories.source.toolkit.fluxcd.io")["spec"]["url"])


def head(http: GitHTTPServer, full: str) -> str:
    repo = pygit2.Repository(str(Path(http.repo_root) / f"{full}.git"))
    return str(repo.references["refs/heads/main"].target)


def assert_synced(cluster: Cluster, namespace: str, sha: str) -> None:
    """The GitRepository has the commit, and the Kustomization applied it and is Ready (a
    reconcile that the bootstrap's last apply set off may still be running: waited for)."""
    revision = f"main@sha1:{sha}"
    source = get(cluster, namespace, "gitrepositories.source.toolkit.fluxcd.io")
    assert source["status"]["artifact"]["revision"] == revision

    def ready() -> dict[str, Any]:
        ks = get(cluster, namespace, "kustomizations.kustomize.toolkit.fluxcd.io")
        ready = {c["type"]: c for c in ks["status"]["conditions"]}["Ready"]
        assert ready["status"] == "True", ready
        return ks

    ks = eventually(ready, 60, message="the flux-system Kustomization Ready")
    assert ks["status"]["lastAppliedRevision"] == revision


def provider_args(provider: str, namespace: str, service: StrictService, ca: TestCA,
                  *flags: str) -> list[str]:
    """`bootstrap <provider> --local` into `namespace` against the stand-in `service`."""
    return ["bootstrap", provider, "-n", namespace, "--local",
            "--components=source-controller,kustomize-controller", "--timeout=2m",
            f"--path={PATH}", f"--hostname=127.0.0.1:{service.port}", f"--ca-file={ca.ca_cert}",
            *flags]


def refused(service: StrictService) -> list[str]:
    """What the stand-in refused, but the lookups of what did not exist yet."""
    return [f"{s.request.method} {s.request.path}: {s.why}" for s in service.rejected
            if not (s.request.method == "GET" and s.status == 404)]
