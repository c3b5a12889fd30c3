"""`afflux bootstrap bitbucket-server` against a stand-in of Bitbucket Server's REST API
(`harness.forge_rules.BitbucketServerAPI` over HTTPS: only the documented requests, under
`/rest/api/1.0` and `/rest/keys/1.0`, with the Bearer token) whose repositories are real: each
one it creates is a bare repository on the harness's Git server (`git http-backend` over HTTPS,
which here takes only the user `octo` and the token, so the push's user is checked too, and
sshd, which lets in the access keys the stand-in was given). The CLI pushes over HTTPS; the
cluster (source- and kustomize-controller as local processes for the test's namespace) syncs
over SSH with the access key, or over HTTPS with `--token-auth`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cli_harness import Run
from forge_harness import (
    PATH,
    TOKEN,
    USER,
    assert_synced,
    git_servers,
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
from harness.forge_rules import BitbucketServerAPI
from harness.services import StrictService

pytestmark = pytest.mark.integration

API = "/rest/api/1.0/projects"


@pytest.fixture(scope="module")
def forge_git(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
              ) -> Iterator[tuple[GitHTTPServer, GitSSHServer]]:
    """The Git server takes the user `octo` (Bitbucket's push user: `--username`, or `--owner`
    with `--personal`), not `git`."""
    yield from git_servers(tmp_path_factory, test_ca, USER)


@pytest.fixture
def bitbucket(forge_git: tuple[GitHTTPServer, GitSSHServer], test_ca: TestCA
              ) -> Iterator[StrictService]:
    with serve("bitbucket-server", BitbucketServerAPI, forge_git, test_ca) as service:
        yield service


def test_bootstrap_bitbucket_server_project_repository_with_groups_and_an_access_key(
    afflux: Run, flux_crds: Cluster, bitbucket: StrictService,
    forge_git: tuple[GitHTTPServer, GitSSHServer], test_ca: TestCA, namespace: str,
    operators: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    http, ssh = forge_git
    api = rule_of(bitbucket, BitbucketServerAPI)
    key, name = f"P{namespace[-6:].upper()}", "Fleet"
    full = f"{key}/fleet"
    api.projects[key] = f"Platform {namespace}"
    api.groups.update({"ops", "auditors"})
    monkeypatch.setenv("BITBUCKET_TOKEN", TOKEN)
    args = provider_args("bitbucket-server", namespace, bitbucket, test_ca,
                         f"--owner=Platform {namespace}", f"--repository={name}",
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
    data = secret_data(flux_crds, namespace)
    assert set(data) == {"identity", "identity.pub", "known_hosts"}
    title = f"{namespace}-main-flux-system-{PATH}"
    [access] = api.keys[(key, "fleet")]
    assert (access["key"]["label"], access["permission"]) == (title, "REPO_READ")
    assert access["key"]["text"].split()[:2] == data["identity.pub"].split()[:2]
    assert sync_url(flux_crds, namespace) == ssh.url(full)
    sha = head(http, full)
    assert_synced(flux_crds, namespace, sha)
    assert TOKEN not in res.err + res.out
    assert [r for r in refused(bitbucket) if "nobody" not in r] == []
    calls = [(s.request.method, s.request.path) for s in bitbucket.accepted]
    assert calls[:3] == [("GET", API), ("POST", f"{API}/{key}/repos"),
                         ("GET", f"{API}/{key}/repos/fleet/permissions/groups")]

    # again: nothing to create, commit or configure; the same access key; the groups that
    # have a permission keep it without --reconcile
    res = afflux(*args, "--group=ops:admin")
    assert res.code == 0, res.err
    assert "created" not in res.err and "configured deploy key" not in res.err, res.err
    assert head(http, full) == sha
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
    flux_crds.kubectl("delete", "-n", namespace, "secret", "flux-system")
    res = afflux(*args)
    assert res.code == 0, res.err
    new = secret_data(flux_crds, namespace)["identity.pub"]
    assert new.split()[:2] != data["identity.pub"].split()[:2]
    assert [(k["key"]["label"], k["key"]["text"].split()[:2], k["permission"])
            for k in api.keys[(key, "fleet")]] == [(title, new.split()[:2], "REPO_READ")]
    assert_synced(flux_crds, namespace, head(http, full))
    assert [r for r in refused(bitbucket) if "nobody" not in r] == []


def test_bootstrap_bitbucket_server_personal_repository_with_token_auth(
    afflux: Run, flux_crds: Cluster, bitbucket: StrictService,
    forge_git: tuple[GitHTTPServer, GitSSHServer], test_ca: TestCA, namespace: str,
    operators: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    http, _ = forge_git
    api = rule_of(bitbucket, BitbucketServerAPI)
    repo = f"fleet-{namespace[-8:]}"
    full = f"users/{USER}/{repo}"
    monkeypatch.setenv("BITBUCKET_TOKEN", TOKEN)
    args = provider_args("bitbucket-server", namespace, bitbucket, test_ca, f"--owner={USER}",
                         f"--repository={repo}", "--personal", "--token-auth",
                         "--private=false", "--group=ops")

    # another user's personal project: Bitbucket refuses, nothing is created
    bad = afflux(*[a for a in args if not a.startswith("--owner")], "--owner=someone-else")
    assert bad.code != 0
    assert "Bitbucket Server API POST /api/1.0/projects/~someone-else/repos: HTTP 401" in bad.err
    assert api.repos == {}

    bitbucket.seen.clear()
    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'✔ repository "~{USER}/{repo}" created' in res.err
    created = api.repos[(f"~{USER.upper()}", repo)]
    assert created["public"] is True
    assert "--group is for a project's repository; ignored with --personal" in res.err
    assert api.keys[(f"~{USER.upper()}", repo)] == []
    # the cluster syncs as --owner with the token, from the http link without its user
    assert secret_data(flux_crds, namespace) == {
        "username": USER, "password": TOKEN, "ca.crt": test_ca.ca_cert.read_text()}
    assert sync_url(flux_crds, namespace) == http.url(full, "https")
    assert_synced(flux_crds, namespace, head(http, full))
    assert TOKEN not in res.err + res.out
    assert refused(bitbucket) == []

    # the repository exists: left public without --reconcile, made private with it
    private = [a for a in args if a != "--private=false"]
    res = afflux(*private)
    assert res.code == 0, res.err
    assert created["public"] is True
    res = afflux(*private, "--reconcile")
    assert res.code == 0, res.err
    assert f'✔ repository "~{USER}/{repo}" reconciled' in res.err
    assert created["public"] is False
