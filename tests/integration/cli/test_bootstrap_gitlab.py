"""`afflux bootstrap gitlab` against a stand-in of GitLab's REST API
(`harness.forge_rules.GitLabAPI` over HTTPS: only the documented requests, under `/api/v4`,
`PRIVATE-TOKEN`, URL-encoded project paths) whose projects are real bare repositories on the
harness's Git server (`harness.forge_env`: HTTPS with the user `git` and the token, and sshd,
which lets in the deploy keys the stand-in was given). The CLI pushes over HTTPS; the cluster
(source- and kustomize-controller as local processes for the test's namespace) syncs over
SSH with the deploy key, or over HTTPS with `--token-auth`, or with a project deploy token
(`--deploy-token-auth`), which the Git server then takes as a read-only credential."""

from __future__ import annotations

import pygit2
import pytest
from cli_harness import Run

from harness.fixtures_servers import GitAuth, GitAuthError, git_ls_remote, git_push_files
from harness.forge_env import PATH, TOKEN, USER, Forge
from harness.forge_rules import GitLabAPI
from harness.wait import eventually

pytestmark = [pytest.mark.integration, pytest.mark.forge("gitlab")]


def test_bootstrap_gitlab_group_project_with_a_deploy_key_and_a_shared_group(
        afflux: Run, forge: Forge) -> None:
    api: GitLabAPI = forge.api
    group = f"infra/team-{forge.namespace[-6:]}"
    full = f"{group}/fleet"
    api.groups.update({group: 7, "ops": 8})
    args = forge.args(f"--owner={group}", "--repository=fleet", "--visibility=internal",
                      "--team=ops:push")

    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'✔ repository "{full}" created' in res.err
    project = api.project(full)
    assert project is not None
    assert project["visibility"] == "internal"
    assert project["shared_with_groups"] == [
        {"group_id": 8, "group_full_path": "ops", "group_access_level": 30}]
    assert "✔ granted 'push' permissions to 'ops'" in res.err
    data = forge.secret_data()
    assert set(data) == {"identity", "identity.pub", "known_hosts"}
    title = f"{forge.namespace}-main-flux-system-{PATH}"
    [key] = api.keys[project["id"]]
    assert (key["title"], key["can_push"]) == (title, False)
    assert key["key"].split() == data["identity.pub"].split()[:2]
    assert forge.sync_url() == forge.ssh.url(full)
    sha = forge.head(full)
    forge.assert_synced(sha)
    assert TOKEN not in res.err + res.out
    assert forge.refused() == []
    encoded = full.replace("/", "%2F")
    assert [(s.request.method, s.request.path) for s in forge.service.seen][:3] == [
        ("GET", f"/api/v4/projects/{encoded}"),
        ("GET", f"/api/v4/groups/{group.replace('/', '%2F')}"),
        ("POST", "/api/v4/projects")]

    # again: nothing to create, share, commit or configure
    res = afflux(*args)
    assert res.code == 0, res.err
    assert "created" not in res.err and "configured deploy key" not in res.err, res.err
    assert "granted" not in res.err
    assert forge.head(full) == sha
    assert [k["id"] for k in api.keys[project["id"]]] == [key["id"]]

    # --read-write-key: the deploy key is replaced by one that may push
    res = afflux(*args, "--read-write-key")
    assert res.code == 0, res.err
    assert f'configured deploy key "{title}"' in res.err
    assert [(k["title"], k["can_push"]) for k in api.keys[project["id"]]] == [(title, True)]
    assert forge.refused() == []


def test_bootstrap_gitlab_personal_project_with_token_auth(afflux: Run, forge: Forge) -> None:
    api: GitLabAPI = forge.api
    repo = f"fleet-{forge.namespace[-6:]}"
    full = f"{USER}/{repo}"
    args = forge.args(f"--owner={USER}", f"--repository={repo}", "--personal", "--token-auth")

    res = afflux(*args, "--private=false")
    assert res.code == 0, res.err
    project = api.project(full)
    assert project is not None and project["visibility"] == "public"
    assert api.keys[project["id"]] == []
    assert forge.secret_data() == forge.token_secret()
    assert forge.sync_url() == forge.http.url(full, "https")
    forge.assert_synced(forge.head(full))
    assert TOKEN not in res.err + res.out

    # an existing project is left alone without --reconcile, made private with it
    res = afflux(*args)
    assert res.code == 0, res.err
    assert project["visibility"] == "public"
    res = afflux(*args, "--reconcile")
    assert res.code == 0, res.err
    assert f'✔ repository "{full}" reconciled' in res.err
    assert project["visibility"] == "private"
    assert forge.refused() == []


def test_bootstrap_gitlab_deploy_token_auth(afflux: Run, forge: Forge) -> None:
    api: GitLabAPI = forge.api
    group = f"infra/dt-{forge.namespace[-6:]}"
    full = f"{group}/fleet"
    api.groups[group] = 9
    args = forge.args(f"--owner={group}", "--repository=fleet", "--deploy-token-auth")

    # with --token-auth too: refused before anything is made, as Flux does
    bad = afflux(*args, "--token-auth")
    assert bad.code != 0
    assert "--token-auth and --deploy-token-auth cannot be set both" in bad.err
    assert api.projects == {}

    res = afflux(*args)
    assert res.code == 0, res.err
    project = api.project(full)
    assert project is not None
    name = f"{forge.namespace}-main-flux-system-{PATH}"
    [token] = api.tokens[project["id"]]
    assert (token["name"], token["scopes"]) == (name, ["read_repository"])
    assert f'configured deploy token "{name}"' in res.err
    assert api.keys[project["id"]] == []
    # the cluster syncs over HTTPS as the deploy token, never with the push token
    data = forge.secret_data()
    assert data == {"username": token["username"], "password": token["token"],
                    "ca.crt": forge.ca.ca_cert.read_text()}
    assert forge.sync_url() == forge.http.url(full, "https")
    sha = forge.head(full)
    forge.assert_synced(sha)
    fetched = [r for r in forge.http.requests(full)
               if r.service == "git-upload-pack" and r.method == "POST" and r.status == 200]
    assert token["username"] in {r.user for r in fetched}
    assert TOKEN not in res.err + res.out and token["token"] not in res.err + res.out
    assert forge.refused() == []

    # the deploy token may fetch, never push
    reader = GitAuth(username=token["username"], password=token["token"])
    assert git_ls_remote(forge.http.url(full, "https"), reader)["refs/heads/main"] == sha
    with pytest.raises(pygit2.GitError, match="403"):
        git_push_files(forge.http.url(full, "https"), {"x.txt": "x"}, auth=reader)
    assert forge.head(full) == sha

    # again: GitLab never shows a token's value twice, so (as Flux) the token is deleted and
    # made anew, and the Secret holds the new one; the old one no longer opens the repository
    forge.http.clear_requests()
    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'configured deploy token "{name}"' in res.err
    [new] = api.tokens[project["id"]]
    assert new["id"] != token["id"] and new["token"] != token["token"]
    assert forge.secret_data()["password"] == new["token"]
    assert forge.head(full) == sha
    forge.assert_synced(sha)
    eventually(lambda: [r for r in forge.http.requests(full)
                        if r.user == new["username"] and r.status == 200], 60,
               message="a fetch with the new deploy token")
    with pytest.raises(GitAuthError):
        git_ls_remote(forge.http.url(full, "https"), reader)
    assert new["token"] not in res.err + res.out
    assert forge.refused() == []
    tokens = f"/api/v4/projects/{project['id']}/deploy_tokens"
    assert [c for c in forge.calls() if c[1].startswith(tokens)] == [
        ("GET", tokens), ("POST", tokens),
        ("GET", tokens), ("DELETE", f"{tokens}/{token['id']}"), ("POST", tokens)]
