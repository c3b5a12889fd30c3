"""`afflux bootstrap gitea`, and `bootstrap git` with an https URL without `--token-auth`,
against a real Gitea served over HTTPS with its built-in SSH server (`gitea_https`): the CLI
pushes over HTTPS with the token, the cluster (source- and kustomize-controller running as
local processes for the test's namespace) syncs over SSH with a deploy key, or over HTTPS
with `--token-auth`."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import pytest
from cli_harness import Result, Run, local_bootstrap

from afflux.cli.devenv import TestCA
from harness.fixtures_cluster import Cluster
from harness.gitea import USER, Gitea
from harness.wait import eventually

pytestmark = pytest.mark.integration

PATH = "clusters/test"


def get(cluster: Cluster, namespace: str, kind: str, name: str = "flux-system"
        ) -> dict[str, Any] | None:
    done = cluster.kubectl("get", "-n", namespace, kind, name, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def secret_data(cluster: Cluster, namespace: str) -> dict[str, str]:
    secret = get(cluster, namespace, "secret") or {}
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def git_repository(cluster: Cluster, namespace: str) -> dict[str, Any]:
    return get(cluster, namespace, "gitrepositories.source.toolkit.fluxcd.io") or {}


def head(gitea: Gitea, owner: str, repo: str) -> str:
    return str(gitea.api("GET", f"/repos/{owner}/{repo}/branches/main")["commit"]["id"])


def assert_synced(cluster: Cluster, namespace: str, sha: str) -> None:
    revision = f"main@sha1:{sha}"
    assert git_repository(cluster, namespace)["status"]["artifact"]["revision"] == revision
    ks = get(cluster, namespace, "kustomizations.kustomize.toolkit.fluxcd.io") or {}
    assert ks["status"]["lastAppliedRevision"] == revision


def deploy_keys(gitea: Gitea, owner: str, repo: str) -> list[dict[str, Any]]:
    return list(gitea.api("GET", f"/repos/{owner}/{repo}/keys"))


def test_bootstrap_git_over_https_syncs_over_ssh_unless_token_auth(
    afflux: Run, flux_crds: Cluster, gitea_https: Gitea, test_ca: TestCA, namespace: str,
    operators: None,
) -> None:
    repo = f"boot-{uuid.uuid4().hex[:8]}"
    gitea_https.create_repo(repo)
    url = f"{gitea_https.url}/{USER}/{repo}.git"
    https = [f"--url={url}", "--username=git", f"--password={gitea_https.token}",
             f"--ca-file={test_ca.ca_cert}"]

    # no --token-auth, no --ssh-hostname: the cluster would sync from ssh://git@<the https
    # host:port>, which is no SSH server; nothing is pushed
    res = afflux(*local_bootstrap(namespace, *https, timeout="30s"))
    assert res.code != 0
    assert "cannot scan the SSH host key of 127.0.0.1" in res.err
    assert "--ssh-hostname" in res.err and "--token-auth" in res.err
    assert gitea_https.api("GET", f"/repos/{USER}/{repo}")["empty"] is True

    # --ssh-hostname: pushed over https with the token; the cluster syncs over SSH with a
    # generated key, which the user (here: the test) adds to the repository as a deploy key
    ssh_host = f"127.0.0.1:{gitea_https.ssh_port}"
    args = local_bootstrap(namespace, *https, f"--ssh-hostname={ssh_host}")
    result: dict[str, Result] = {}
    thread = threading.Thread(target=lambda: result.update(res=afflux(*args)), daemon=True)
    thread.start()
    data = eventually(lambda: secret_data(flux_crds, namespace).get("identity.pub") and
                      secret_data(flux_crds, namespace), 120, message="the generated key")
    gitea_https.api("POST", f"/repos/{USER}/{repo}/keys",
                    {"title": "cluster", "key": data["identity.pub"], "read_only": True})
    thread.join(240)
    res = result["res"]
    assert res.code == 0, res.err
    assert set(data) == {"identity", "identity.pub", "known_hosts"}
    assert data["known_hosts"].startswith(f"[127.0.0.1]:{gitea_https.ssh_port} ")
    git = git_repository(flux_crds, namespace)
    assert git["spec"]["url"] == f"ssh://git@{ssh_host}/{USER}/{repo}.git"
    assert_synced(flux_crds, namespace, head(gitea_https, USER, repo))

    # --token-auth: the cluster syncs over https with the token; the sync manifests change
    res = afflux(*args, "--token-auth")
    assert res.code == 0, res.err
    git = git_repository(flux_crds, namespace)
    assert git["spec"]["url"] == url
    creds = secret_data(flux_crds, namespace)
    assert creds == {"username": "git", "password": gitea_https.token,
                     "ca.crt": test_ca.ca_cert.read_text()}
    assert_synced(flux_crds, namespace, head(gitea_https, USER, repo))
    assert gitea_https.token not in res.err + res.out


def gitea_args(namespace: str, gitea: Gitea, ca: TestCA, *flags: str) -> list[str]:
    return ["bootstrap", "gitea", "-n", namespace, "--local",
            "--components=source-controller,kustomize-controller", "--timeout=2m",
            f"--path={PATH}", f"--hostname={gitea.hostname}", f"--ca-file={ca.ca_cert}",
            *flags]


def test_bootstrap_gitea_creates_a_personal_repository_with_a_deploy_key(
    afflux: Run, flux_crds: Cluster, gitea_https: Gitea, test_ca: TestCA, namespace: str,
    operators: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = f"fleet-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("GITEA_TOKEN", gitea_https.token)
    args = gitea_args(namespace, gitea_https, test_ca, f"--owner={USER}",
                      f"--repository={repo}", "--personal")

    # the owner must be the token's user: refused before anything is created
    bad = afflux(*args, "--owner=someone-else")
    assert bad.code != 0
    assert "the owner 'someone-else' is not the user of the token ('afflux')" in bad.err
    with pytest.raises(RuntimeError, match="404"):
        gitea_https.api("GET", f"/repos/{USER}/{repo}")

    res = afflux(*args)
    assert res.code == 0, res.err
    assert f'✔ repository "{USER}/{repo}" created' in res.err
    info = gitea_https.api("GET", f"/repos/{USER}/{repo}")
    assert info["private"] is True
    data = secret_data(flux_crds, namespace)
    assert set(data) == {"identity", "identity.pub", "known_hosts"}
    keys = deploy_keys(gitea_https, USER, repo)
    title = f"{namespace}-main-flux-system-{PATH}"
    assert [(k["title"], k["read_only"]) for k in keys] == [(title, True)]
    assert keys[0]["key"].split()[:2] == data["identity.pub"].split()[:2]
    git = git_repository(flux_crds, namespace)
    assert git["spec"]["url"] == f"ssh://git@127.0.0.1:{gitea_https.ssh_port}/{USER}/{repo}.git"
    sha = head(gitea_https, USER, repo)
    assert_synced(flux_crds, namespace, sha)
    assert gitea_https.token not in res.err + res.out

    # again: nothing to create, commit or configure; the same key, the same deploy key
    res = afflux(*args)
    assert res.code == 0, res.err
    assert "created" not in res.err and "configured deploy key" not in res.err, res.err
    assert head(gitea_https, USER, repo) == sha
    assert [k["id"] for k in deploy_keys(gitea_https, USER, repo)] == [keys[0]["id"]]

    # --read-write-key: the deploy key is replaced by one that may push
    res = afflux(*args, "--read-write-key")
    assert res.code == 0, res.err
    assert f'configured deploy key "{title}"' in res.err
    assert [(k["title"], k["read_only"]) for k in deploy_keys(gitea_https, USER, repo)] == \
        [(title, False)]


def test_bootstrap_gitea_in_an_organization_with_a_team_and_token_auth(
    afflux: Run, flux_crds: Cluster, gitea_https: Gitea, test_ca: TestCA, namespace: str,
    operators: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    org, repo = f"org-{uuid.uuid4().hex[:6]}", "fleet"
    gitea_https.api("POST", "/orgs", {"username": org})
    team = gitea_https.api("POST", f"/orgs/{org}/teams", {
        "name": "platform", "permission": "write", "includes_all_repositories": False,
        "units": ["repo.code"]})
    monkeypatch.setenv("GITEA_TOKEN", gitea_https.token)
    args = gitea_args(namespace, gitea_https, test_ca, f"--owner={org}",
                      f"--repository={repo}", "--private=false", "--token-auth",
                      "--team=platform:push", "--team=nobody")

    res = afflux(*args)
    assert res.code == 0, res.err
    info = gitea_https.api("GET", f"/repos/{org}/{repo}")
    assert info["private"] is False and info["owner"]["login"] == org
    assert [r["name"] for r in gitea_https.api("GET", f"/teams/{team['id']}/repos")] == [repo]
    assert "✔ granted 'push' permissions to 'platform'" in res.err
    assert "✗ failed to grant 'maintain' permissions to 'nobody': no such team" in res.err
    assert deploy_keys(gitea_https, org, repo) == []
    assert secret_data(flux_crds, namespace) == {
        "username": "git", "password": gitea_https.token, "ca.crt": test_ca.ca_cert.read_text()}
    git = git_repository(flux_crds, namespace)
    assert git["spec"]["url"] == f"https://{gitea_https.hostname}/{org}/{repo}.git"
    assert_synced(flux_crds, namespace, head(gitea_https, org, repo))

    # --reconcile makes the existing repository private; without it, it is left alone
    res = afflux(*[a for a in args if a != "--private=false"])
    assert res.code == 0, res.err
    assert gitea_https.api("GET", f"/repos/{org}/{repo}")["private"] is False
    res = afflux(*[a for a in args if a != "--private=false"], "--reconcile")
    assert res.code == 0, res.err
    assert f'✔ repository "{org}/{repo}" reconciled' in res.err
    assert gitea_https.api("GET", f"/repos/{org}/{repo}")["private"] is True
