"""`afflux bootstrap github` against a stand-in of GitHub Enterprise Server's REST API
(`harness.forge_rules.GitHubAPI` over HTTPS: only the documented requests, under `/api/v3`,
with the token) whose repositories are real: each one it creates is a bare repository on the
harness's Git server (`harness.forge_env`: `git http-backend` over HTTPS, which takes the user
`git` and the token, and sshd, which lets in the deploy keys the stand-in was given). The CLI
pushes over HTTPS; the cluster (source- and kustomize-controller as local processes for the
test's namespace) syncs over SSH with the deploy key, or over HTTPS with `--token-auth`."""

from __future__ import annotations

import pytest
from cli_harness import Run

from harness.forge_env import PATH, TOKEN, USER, Forge
from harness.forge_rules import GitHubAPI

pytestmark = [pytest.mark.integration, pytest.mark.forge("github")]


def test_bootstrap_github_personal_repository_with_a_deploy_key(afflux: Run,
                                                                 forge: Forge) -> None:
    api: GitHubAPI = forge.api
    repo = f"fleet-{forge.namespace[-8:]}"
    full = f"{USER}/{repo}"
    args = forge.args(f"--owner={USER}", f"--repository={repo}", "--personal")

    # the owner must be the token's user: refused before anything is created
    bad = afflux(*[a for a in args if not a.startswith("--owner")], "--owner=someone-else")
    assert bad.code != 0
    assert "the owner 'someone-else' does not match the user of the token ('octo')" in bad.err
    assert api.repos == {}

    forge.service.seen.clear()
    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'✔ repository "{full}" created' in res.err
    assert api.repos[full]["visibility"] == "private" and api.repos[full]["private"] is True
    data = forge.secret_data()
    assert set(data) == {"identity", "identity.pub", "known_hosts"}
    title = f"{forge.namespace}-main-flux-system-{PATH}"
    [key] = api.keys[full]
    assert (key["title"], key["read_only"]) == (title, True)
    assert key["key"].split() == data["identity.pub"].split()[:2]
    assert forge.sync_url() == forge.ssh.url(full)
    sha = forge.head(full)
    forge.assert_synced(sha)
    assert TOKEN not in res.err + res.out
    assert forge.refused() == []
    assert forge.calls()[:3] == [("GET", "/api/v3/user"), ("POST", "/api/v3/user/repos"),
                         ("GET", f"/api/v3/repos/{full}/keys")]

    # again: nothing to create, commit or configure; the same deploy key
    res = afflux(*args)
    assert res.code == 0, res.err
    assert "created" not in res.err and "configured deploy key" not in res.err, res.err
    assert forge.head(full) == sha
    assert [k["id"] for k in api.keys[full]] == [key["id"]]

    # --read-write-key: the deploy key is replaced by one that may push
    res = afflux(*args, "--read-write-key")
    assert res.code == 0, res.err
    assert f'configured deploy key "{title}"' in res.err
    assert [(k["title"], k["read_only"]) for k in api.keys[full]] == [(title, False)]

    # the cluster's key changes (its Secret is gone: a new key is generated): the deploy key
    # is replaced, and the cluster syncs with the new one
    forge.cluster.kubectl("delete", "-n", forge.namespace, "secret", "flux-system")
    res = afflux(*args)
    assert res.code == 0, res.err
    new = forge.secret_data()["identity.pub"]
    assert new.split()[:2] != data["identity.pub"].split()[:2]
    assert [(k["title"], k["key"].split(), k["read_only"]) for k in api.keys[full]] == \
        [(title, new.split()[:2], True)]
    forge.assert_synced(forge.head(full))
    assert forge.refused() == []


def test_bootstrap_github_organization_repository_with_teams_and_token_auth(
        afflux: Run, forge: Forge) -> None:
    api: GitHubAPI = forge.api
    org, repo = f"org-{forge.namespace[-6:]}", "fleet"
    full = f"{org}/{repo}"
    api.orgs.add(org)
    api.teams[(org, "platform")] = {}
    api.teams[(org, "auditors")] = {}
    args = forge.args(f"--owner={org}", f"--repository={repo}", "--private=false",
                      "--token-auth", "--team=platform:push,auditors:pull", "--team=nobody")

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
    assert forge.secret_data() == forge.token_secret()
    assert forge.sync_url() == forge.http.url(full, "https")
    forge.assert_synced(forge.head(full))
    assert TOKEN not in res.err + res.out
    assert [r for r in forge.refused() if "/teams/nobody/" not in r] == []

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
