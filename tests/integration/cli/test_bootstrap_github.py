"""`afflux bootstrap github` against a stand-in of GitHub Enterprise Server's REST API
(`harness.forge_rules.GitHubAPI` over HTTPS: only the documented requests, under `/api/v3`,
with the token) whose repositories are real: each one it creates is a bare repository on the
harness's Git server (`git http-backend` over HTTPS, which takes the user `git` and the token,
and sshd, which lets in the deploy keys the stand-in was given). The CLI pushes over HTTPS;
the cluster (source- and kustomize-controller as local processes for the test's namespace)
syncs over SSH with the deploy key, or over HTTPS with `--token-auth`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_harness import Run
from forge_harness import (
    PATH,
    TOKEN,
    USER,
    assert_synced,
    head,
    provider_args,
    refused,
    rule_of,
    secret_data,
    serve,
    sync_url,
)

from afflux.cli.devenv import GitHTTPServer, GitSSHServer, TestCA
from harness.fixtures_cluster import Cluster
from harness.forge_rules import GitHubAPI
from harness.services import StrictService

pytestmark = pytest.mark.integration


@pytest.fixture
def github(forge_git: tuple[GitHTTPServer, GitSSHServer], test_ca: TestCA
           ) -> Iterator[StrictService]:
    with serve("github", GitHubAPI, forge_git, test_ca) as service:
        yield service


def test_bootstrap_github_personal_repository_with_a_deploy_key(
    afflux: Run, flux_crds: Cluster, github: StrictService, forge_git: tuple[GitHTTPServer,
                                                                               GitSSHServer],
    test_ca: TestCA, namespace: str, operators: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    http, ssh = forge_git
    api = rule_of(github, GitHubAPI)
    repo = f"fleet-{namespace[-8:]}"
    full = f"{USER}/{repo}"
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    args = provider_args("github", namespace, github, test_ca, f"--owner={USER}",
                         f"--repository={repo}", "--personal")

    # the owner must be the token's user: refused before anything is created
    bad = afflux(*[a for a in args if not a.startswith("--owner")], "--owner=someone-else")
    assert bad.code != 0
    assert "the owner 'someone-else' does not match the user of the token ('octo')" in bad.err
    assert api.repos == {}

    github.seen.clear()
    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'✔ repository "{full}" created' in res.err
    assert api.repos[full]["visibility"] == "private" and api.repos[full]["private"] is True
    data = secret_data(flux_crds, namespace)
    assert set(data) == {"identity", "identity.pub", "known_hosts"}
    title = f"{namespace}-main-flux-system-{PATH}"
    [key] = api.keys[full]
    assert (key["title"], key["read_only"]) == (title, True)
    assert key["key"].split() == data["identity.pub"].split()[:2]
    assert sync_url(flux_crds, namespace) == ssh.url(full)
    sha = head(http, full)
    assert_synced(flux_crds, namespace, sha)
    assert TOKEN not in res.err + res.out
    assert refused(github) == []
    calls = [(s.request.method, s.request.path) for s in github.accepted]
    assert calls[:3] == [("GET", "/api/v3/user"), ("POST", "/api/v3/user/repos"),
                         ("GET", f"/api/v3/repos/{full}/keys")]

    # again: nothing to create, commit or configure; the same deploy key
    res = afflux(*args)
    assert res.code == 0, res.err
    assert "created" not in res.err and "configured deploy key" not in res.err, res.err
    assert head(http, full) == sha
    assert [k["id"] for k in api.keys[full]] == [key["id"]]

    # --read-write-key: the deploy key is replaced by one that may push
    res = afflux(*args, "--read-write-key")
    assert res.code == 0, res.err
    assert f'configured deploy key "{title}"' in res.err
    assert [(k["title"], k["read_only"]) for k in api.keys[full]] == [(title, False)]

    # the cluster's key changes (its Secret is gone: a new key is generated): the deploy key
    # is replaced, and the cluster syncs with the new one
    flux_crds.kubectl("delete", "-n", namespace, "secret", "flux-system")
    res = afflux(*args)
    assert res.code == 0, res.err
    new = secret_data(flux_crds, namespace)["identity.pub"]
    assert new.split()[:2] != data["identity.pub"].split()[:2]
    assert [(k["title"], k["key"].split(), k["read_only"]) for k in api.keys[full]] == \
        [(title, new.split()[:2], True)]
    assert_synced(flux_crds, namespace, head(http, full))
    assert refused(github) == []


def test_bootstrap_github_organization_repository_with_teams_and_token_auth(
    afflux: Run, flux_crds: Cluster, github: StrictService, forge_git: tuple[GitHTTPServer,
                                                                               GitSSHServer],
    test_ca: TestCA, namespace: str, operators: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    http, _ = forge_git
    api = rule_of(github, GitHubAPI)
    org, repo = f"org-{namespace[-6:]}", "fleet"
    full = f"{org}/{repo}"
    api.orgs.add(org)
    api.teams[(org, "platform")] = {}
    api.teams[(org, "auditors")] = {}
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    args = provider_args("github", namespace, github, test_ca, f"--owner={org}",
                         f"--repository={repo}", "--private=false", "--token-auth",
                         "--team=platform:push,auditors:pull", "--team=nobody")

    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'✔ repository "{full}" created' in res.err
    assert api.repos[full]["visibility"] == "public" and api.repos[full]["owner"] == \
        {"login": org}
    assert api.teams[(org, "platform")] == {full: "push"}
    assert api.teams[(org, "auditors")] == {full: "pull"}
    assert "✔ granted 'push' permissions to 'platform'" in res.err
    assert "✗ failed to grant 'maintain' permissions to 'nobody': GitHub API PUT " \
        f"/orgs/{org}/teams/nobody/repos/{full}: HTTP 404" in res.err
    assert api.keys[full] == []
    assert secret_data(flux_crds, namespace) == {
        "username": "git", "password": TOKEN, "ca.crt": test_ca.ca_cert.read_text()}
    assert sync_url(flux_crds, namespace) == http.url(full, "https")
    assert_synced(flux_crds, namespace, head(http, full))
    assert TOKEN not in res.err + res.out
    assert [r for r in refused(github) if "/teams/nobody/" not in r] == []

    # the repository exists: left alone (visibility, team permissions) without --reconcile
    private = [a for a in args if a != "--private=false"]
    res = afflux(*private, "--team=platform:admin")
    assert res.code == 0, res.err
    assert api.repos[full]["visibility"] == "public"
    assert api.teams[(org, "platform")] == {full: "push"}
    assert "granted 'admin'" not in res.err

    # --reconcile: made private, and the team's permission set
    res = afflux(*private, "--team=platform:admin", "--reconcile")
    assert res.code == 0, res.err
    assert f'✔ repository "{full}" reconciled' in res.err
    assert api.repos[full]["visibility"] == "private"
    assert api.teams[(org, "platform")] == {full: "admin"}
    assert "✔ granted 'admin' permissions to 'platform'" in res.err
