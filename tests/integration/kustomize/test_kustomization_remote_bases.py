"""Remote bases end to end: a kustomization.yaml whose `resources` name a Git repository on the
harness's real Git server (plain HTTP on loopback, so the `git` that kustomize runs needs no
test CA), built by the real kustomize-controller.

- Flux's default, `--no-remote-bases=false` (the `env` of conftest.py): kustomize fetches the
  base and its objects are applied; a change pushed to the base alone (same artifact, same
  spec) is applied at the next reconcile, since a build with a remote base is never served
  from the build cache; credentials in the base's URL reach no status, event or log.
- over HTTPS, git verifies the server with the operator's CA bundle: the test CA is not in
  the system's (the `env`: BuildFailed, nothing applied), and an operator given
  `GIT_SSL_CAINFO` (the `trusting` environment) fetches the base;
- `--no-remote-bases=true` (the `locked` environment): Ready=False, BuildFailed, naming the
  kustomization file and the flag; nothing fetched, nothing applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.fixtures_servers import GitAuth
from harness.kustomize_env import Env, Repo, configmap, dump, make_env
from harness.wait import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def locked(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """An environment whose kustomize-controller runs with `--no-remote-bases=true`."""
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory,
                        "--no-remote-bases=true")


@pytest.fixture(scope="module")
def trusting(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """An environment whose kustomize-controller has the test CA as git's CA bundle."""
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory,
                        kustomize_env={"GIT_SSL_CAINFO": str(git_server.ca_cert)})


def _repo_name(repo: Repo) -> str:
    return urlsplit(repo.url).path.removeprefix("/").removesuffix(".git")


def _base(env: Env, name: str, value: str) -> Repo:
    """A repository with a kustomize base under `base/`: one ConfigMap `name`."""
    repo, _ = env.repo({
        "base/kustomization.yaml": "resources: [cm.yaml]\n",
        "base/cm.yaml": dump(configmap(name, {"value": value}, namespace=env.namespace)),
    })
    return repo


def _overlay(env: Env, remote: str) -> tuple[str, str]:
    """A repository whose `app/kustomization.yaml` has the remote base; (source, sha)."""
    repo, sha = env.repo({"app/kustomization.yaml": f"resources:\n- {remote}\n"})
    return env.source(repo), sha


def test_a_remote_base_is_fetched_and_applied_and_never_cached(env: Env) -> None:
    base = _base(env, "from-remote", "one")
    source, sha = _overlay(env, f"{base.url}//base?ref=main")
    ks = env.kustomization("remote", source, path="./app")
    env.wait_applied(ks, sha)
    cm = env.get("configmap", "from-remote")
    assert cm is not None and cm["data"] == {"value": "one"}
    assert env.git.fetches(_repo_name(base)) >= 1  # kustomize's git fetched it

    # same artifact, same spec: only the remote content changed
    base.push({"base/cm.yaml": dump(configmap("from-remote", {"value": "two"},
                                              namespace=env.namespace))})
    env.reconcile_now(ks)

    def updated() -> bool:
        got = env.get("configmap", "from-remote")
        assert got is not None and got["data"] == {"value": "two"}, got
        return True

    eventually(updated, 60, message="the remote base's change applied")
    assert env.status(ks)["lastAppliedRevision"] == f"main@sha1:{sha}"


def test_credentials_in_a_remote_base_url_are_used_and_never_shown(env: Env) -> None:
    name = "ks/private-base"
    env.git.create_repo(name, public=False)
    private = Repo(env.git.url(name), GitAuth.for_server(env.git))
    private.push({"base/kustomization.yaml": "resources: [cm.yaml]\n",
                  "base/cm.yaml": dump(configmap("private-base", namespace=env.namespace))})
    parts = urlsplit(env.git.url(name))
    with_password = urlunsplit(parts._replace(
        netloc=f"{env.git.username}:{env.git.password}@{parts.netloc}"))
    source, sha = _overlay(env, f"{with_password}//base?ref=main")
    ks = env.kustomization("private", source, path="./app")
    env.wait_applied(ks, sha)
    assert env.exists("configmap", "private-base")

    # a path that is not in the base: kustomize fails, and its message names the URL
    source, _ = _overlay(env, f"{with_password}//nope?ref=main")
    ks = env.kustomization("private-missing", source, path="./app")
    ready = env.wait_failed(ks, "BuildFailed")
    assert env.git.password not in ready["message"]
    assert f"{name}.git" in ready["message"], ready["message"]
    # the operators' logs, events and statuses are checked for the password at the end of
    # the session (start_controller's leak check; the git_server fixture remembers it)


def test_no_remote_bases_refuses_naming_the_flag(locked: Env) -> None:
    base = _base(locked, "refused-remote", "one")
    source, _ = _overlay(locked, f"{base.url}//base?ref=main")
    ks = locked.kustomization("refused", source, path="./app")
    ready = locked.wait_failed(ks, "BuildFailed")
    assert "app/kustomization.yaml: remote reference " in ready["message"], ready
    assert "--no-remote-bases=true" in ready["message"]
    assert not locked.exists("configmap", "refused-remote")
    assert locked.git.fetches(_repo_name(base)) == 0
    assert (locked.status(ks).get("inventory") or {}).get("entries") in (None, [])


def test_an_https_base_is_verified_with_the_operators_ca_bundle(env: Env, trusting: Env) -> None:
    for where in (env, trusting):
        base = _base(where, "over-https", "one")
        https = where.git.url(_repo_name(base), "https")
        source, sha = _overlay(where, f"{https}//base?ref=main")
        ks = where.kustomization("https-base", source, path="./app")
        if where is env:  # the test CA is not in the system's bundle: TLS is not weakened
            ready = where.wait_failed(ks, "BuildFailed")
            assert "certificate" in ready["message"], ready["message"]
            assert not where.exists("configmap", "over-https")
        else:
            where.wait_applied(ks, sha)
            assert where.exists("configmap", "over-https")


@pytest.mark.parametrize("scheme", ["file://", "git::file://"], ids=["file-url", "git-file-url"])
def test_a_file_url_base_never_reads_the_controllers_disk(env: Env, tmp_path: Path,
                                                          scheme: str) -> None:
    """Attack: a kustomization naming a `file://` base on the controller's own disk (a real
    kustomization there, with a value only that disk holds). Even with remote bases allowed
    (Flux's default) it is refused: BuildFailed, nothing applied, the value nowhere."""
    secret = f"on-disk-{uuid.uuid4().hex}"
    name = f"disk-{scheme.rstrip(':/').replace('::', '-')}"
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (tmp_path / "cm.yaml").write_text(dump(configmap(name, {"value": secret},
                                                     namespace=env.namespace)))
    source, _ = _overlay(env, f"{scheme}{tmp_path}")
    ks = env.kustomization(name, source, path="./app")
    ready = env.wait_failed(ks, "BuildFailed")
    assert "app/kustomization.yaml" in ready["message"], ready
    assert secret not in ready["message"]
    assert not env.exists("configmap", name)
    assert (env.status(ks).get("inventory") or {}).get("entries") in (None, [])
