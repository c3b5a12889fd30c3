"""`afflux bootstrap bitbucket-server` against a stand-in of Bitbucket Server's REST API
(`harness.forge_rules.BitbucketServerAPI` over HTTPS: only the documented requests, under
`/rest/api/1.0` and `/rest/keys/1.0`, with the Bearer token) whose repositories are real: each
one it creates is a bare repository on the harness's Git server (`harness.forge_env`: `git
http-backend` over HTTPS, which here takes only the user `octo` and the token, so the push's
user is checked too, and sshd, which lets in the access keys the stand-in was given). The CLI
pushes over HTTPS; the cluster (source- and kustomize-controller as local processes for the
test's namespace) syncs over SSH with the access key, or over HTTPS with `--token-auth`."""

from __future__ import annotations

import pytest
from cli_harness import Run

from harness.forge_env import PATH, TOKEN, USER, Forge
from harness.forge_rules import BitbucketServerAPI

pytestmark = [pytest.mark.integration, pytest.mark.forge("bitbucket-server")]

API = "/rest/api/1.0/projects"


def test_bootstrap_bitbucket_server_project_repository_with_groups_and_an_access_key(
        afflux: Run, forge: Forge) -> None:
    api: BitbucketServerAPI = forge.api
    key, name = f"P{forge.namespace[-6:].upper()}", "Fleet"
    full = f"{key}/fleet"
    api.projects[key] = f"Platform {forge.namespace}"
    api.groups.update({"ops", "auditors"})
    args = forge.args(f"--owner=Platform {forge.namespace}", f"--repository={name}",
                      f"--username={USER}", "--group=ops,auditors:pull", "--group=nobody")

    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'✔ repository "{full}" created' in res.err
    repo = api.repos[(key, "fleet")]
    assert (repo["name"], repo["public"]) == (name, False)
    assert api.permissions[(key, "fleet")] == {"ops": "REPO_WRITE", "auditors": "REPO_READ"}
    assert "✔ granted 'push' permissions to 'ops'" in res.err
    assert "✗ failed to grant 'push' permissions to 'nobody': Bitbucket Server API PUT " \
        f"/api/1.0/projects/{key}/repos/fleet/permissions/groups: HTTP 404: No such group " \
        "'nobody'." in res.err
    data = forge.secret_data()
    assert set(data) == {"identity", "identity.pub", "known_hosts"}
    title = f"{forge.namespace}-main-flux-system-{PATH}"
    [access] = api.keys[(key, "fleet")]
    assert (access["key"]["label"], access["permission"]) == (title, "REPO_READ")
    assert access["key"]["text"].split()[:2] == data["identity.pub"].split()[:2]
    assert forge.sync_url() == forge.ssh.url(full)
    sha = forge.head(full)
    forge.assert_synced(sha)
    assert TOKEN not in res.err + res.out
    assert [r for r in forge.refused() if "nobody" not in r] == []
    assert forge.calls()[:3] == [("GET", API), ("POST", f"{API}/{key}/repos"),
                         ("GET", f"{API}/{key}/repos/fleet/permissions/groups")]

    # again: nothing to create, commit or configure; the same access key; the groups that
    # have a permission keep it without --reconcile
    res = afflux(*args, "--group=ops:admin")
    assert res.code == 0, res.err
    assert "created" not in res.err and "configured deploy key" not in res.err, res.err
    assert forge.head(full) == sha
    assert [k["key"]["id"] for k in api.keys[(key, "fleet")]] == [access["key"]["id"]]
    assert api.permissions[(key, "fleet")]["ops"] == "REPO_WRITE"

    # --reconcile: made public, the group's permission set
    res = afflux(*args, "--group=ops:admin", "--private=false", "--reconcile")
    assert res.code == 0, res.err
    assert f'✔ repository "{full}" reconciled' in res.err
    assert repo["public"] is True
    assert api.permissions[(key, "fleet")]["ops"] == "REPO_ADMIN"

    # --read-write-key: the access key is replaced by one that may push
    res = afflux(*args, "--read-write-key")
    assert res.code == 0, res.err
    assert f'configured deploy key "{title}"' in res.err
    assert [(k["key"]["label"], k["permission"]) for k in api.keys[(key, "fleet")]] == \
        [(title, "REPO_WRITE")]

    # the cluster's key changes (its Secret is gone: a new key is generated): the access key
    # is replaced, and the cluster syncs with the new one
    forge.cluster.kubectl("delete", "-n", forge.namespace, "secret", "flux-system")
    res = afflux(*args)
    assert res.code == 0, res.err
    new = forge.secret_data()["identity.pub"]
    assert new.split()[:2] != data["identity.pub"].split()[:2]
    assert [(k["key"]["label"], k["key"]["text"].split()[:2], k["permission"])
            for k in api.keys[(key, "fleet")]] == [(title, new.split()[:2], "REPO_READ")]
    forge.assert_synced(forge.head(full))
    assert [r for r in forge.refused() if "nobody" not in r] == []


def test_bootstrap_bitbucket_server_personal_repository_with_token_auth(
        afflux: Run, forge: Forge) -> None:
    api: BitbucketServerAPI = forge.api
    repo = f"fleet-{forge.namespace[-8:]}"
    full = f"users/{USER}/{repo}"
    args = forge.args(f"--owner={USER}", f"--repository={repo}", "--personal", "--token-auth",
                      "--private=false", "--group=ops")

    # another user's personal project: Bitbucket refuses, nothing is created
    bad = afflux(*[a for a in args if not a.startswith("--owner")], "--owner=someone-else")
    assert bad.code != 0
    assert "Bitbucket Server API POST /api/1.0/projects/~someone-else/repos: HTTP 401" in bad.err
    assert api.repos == {}

    forge.service.seen.clear()
    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'✔ repository "~{USER}/{repo}" created' in res.err
    created = api.repos[(f"~{USER.upper()}", repo)]
    assert created["public"] is True
    assert "--group is for a project's repository; ignored with --personal" in res.err
    assert api.keys[(f"~{USER.upper()}", repo)] == []
    # the cluster syncs as --owner with the token, from the http link without its user
    assert forge.secret_data() == forge.token_secret(USER)
    assert forge.sync_url() == forge.http.url(full, "https")
    forge.assert_synced(forge.head(full))
    assert TOKEN not in res.err + res.out
    assert forge.refused() == []

    # the repository exists: left public without --reconcile, made private with it
    private = [a for a in args if a != "--private=false"]
    res = afflux(*private)
    assert res.code == 0, res.err
    assert created["public"] is True
    res = afflux(*private, "--reconcile")
    assert res.code == 0, res.err
    assert f'✔ repository "~{USER}/{repo}" reconciled' in res.err
    assert created["public"] is False
