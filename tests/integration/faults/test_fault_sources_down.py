"""A source server away: the Git server stopped, then the OCI registry. source-controller reports FetchFailed and
keeps the last good artifact, kustomize-controller keeps what it applied (nothing pruned,
still Ready at the last revision), and both catch up with the next commit once the server
is back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli.devenv import GitHTTPServer, Registry, free_port
from harness.fixtures_cluster import Cluster
from harness.flux_oci import push_flux_artifact
from harness.kustomize_env import GITREPO, TIMEOUT, Env, configmap, dump, make_env
from harness.wait import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def flaky_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    """A Git server of this module's own, on fixed ports, so it can go away and come back."""
    server = GitHTTPServer(tmp_path_factory.mktemp("flaky-git"), http_port=free_port(),
                           https_port=None)
    with server:
        yield server


def wait_fetch_failed(env: Env, kind: str, source: str) -> dict[str, Any]:
    """Until the source says FetchFailed=True; returns its status."""

    def fetch_failed() -> dict[str, Any]:
        status = env.get(kind, source)["status"]  # type: ignore[index]
        failed = env.condition(status, "FetchFailed")
        assert failed is not None and failed["status"] == "True", status.get("conditions")
        return status

    return eventually(fetch_failed, TIMEOUT, message=f"{kind} {source}: FetchFailed")


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, flaky_git: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from make_env(cluster, start_controller, flaky_git, tmp_path_factory)


def test_git_server_down_keeps_the_last_artifact_and_the_applied_objects(
        env: Env, flaky_git: GitHTTPServer) -> None:
    ns = env.namespace
    repo, sha = env.repo({"cm.yaml": dump(configmap("kept", namespace=ns))})
    source = env.source(repo)
    ks = env.kustomization("git-down", source)
    env.wait_applied(ks, sha)
    artifact = env.get(GITREPO, source)["status"]["artifact"]  # type: ignore[index]

    flaky_git.stop()
    try:
        env.fetch_now(source)
        status = wait_fetch_failed(env, GITREPO, source)
        assert status["artifact"] == artifact, "the last good artifact must stay"
        env.kubectl("annotate", "--overwrite", "kustomization", ks,
                    f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")
        env.wait_applied(ks, sha)  # still Ready at the last revision
        assert env.exists("configmap", "kept")
    finally:
        flaky_git.start()

    after = env.push(repo, source, {"more.yaml": dump(configmap("more", namespace=ns))})
    env.wait_applied(ks, after, timeout=TIMEOUT * 2)
    assert env.exists("configmap", "kept") and env.exists("configmap", "more")


OCIREPO = "ocirepositories.source.toolkit.fluxcd.io"


@pytest.fixture(scope="module")
def flaky_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("flaky-registry"), tls=False, auth=False,
                      port=free_port())
    with server:
        yield server


def test_registry_down_keeps_the_last_artifact_and_the_applied_objects(
        env: Env, flaky_registry: Registry, tmp_path: Any) -> None:
    ns = env.namespace
    repository = f"afflux/down-{uuid.uuid4().hex[:8]}"
    digest = push_flux_artifact(flaky_registry, tmp_path, repository, "latest",
                                {"cm.yaml": dump(configmap("oci-kept", namespace=ns))},
                                "main@sha1:" + "1" * 40)
    source = f"oci-{uuid.uuid4().hex[:6]}"
    env.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
               "metadata": {"name": source},
               "spec": {"url": f"oci://{flaky_registry.host}/{repository}", "insecure": True,
                        "interval": "10m", "ref": {"tag": "latest"}}})
    ks = env.kustomization("registry-down", source,
                           sourceRef={"kind": "OCIRepository", "name": source})

    def applied(revision: str) -> Any:
        def check() -> bool:
            status = env.status(ks)
            ready = env.condition(status, "Ready")
            assert ready is not None and ready["status"] == "True", ready
            assert status.get("lastAppliedRevision") == revision, status
            return True
        return check

    eventually(applied(f"latest@{digest}"), TIMEOUT, message="applied from the registry")
    artifact = env.get(OCIREPO, source)["status"]["artifact"]  # type: ignore[index]

    flaky_registry.stop()
    try:
        env.kubectl("annotate", "--overwrite", OCIREPO, source,
                    f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")
        status = wait_fetch_failed(env, OCIREPO, source)
        assert status["artifact"] == artifact, "the last good artifact must stay"
        assert env.exists("configmap", "oci-kept")
    finally:
        flaky_registry.start()

    newer = push_flux_artifact(flaky_registry, tmp_path, repository, "latest",
                               {"cm.yaml": dump(configmap("oci-kept", namespace=ns)),
                                "more.yaml": dump(configmap("oci-more", namespace=ns))},
                               "main@sha1:" + "2" * 40)
    env.kubectl("annotate", "--overwrite", OCIREPO, source,
                f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")
    eventually(applied(f"latest@{newer}"), TIMEOUT * 2, message="caught up after the outage")
    assert env.exists("configmap", "oci-kept") and env.exists("configmap", "oci-more")
