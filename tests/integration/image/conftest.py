"""Fixtures of the image tests: the two image controllers of a module, a namespace they
watch, and `images`, a test's `harness.image_env.ImageEnv` (registry, Git server, helpers).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest

from afflux.cli.devenv import GitHTTPServer, Registry
from harness.fixtures_cluster import Cluster
from harness.image_env import ImageEnv, Pusher

#: The controllers watch only the namespaces of these tests, so they never put their
#: finalizer on objects of other tests sharing the cluster.
NAMESPACE_PREFIX = "afx-img-"
IMAGE_KINDS = "imageupdateautomations,imagepolicies,imagerepositories"


@pytest.fixture(scope="module")
def controllers(start_controller, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """image-reflector and image-automation, watching the namespaces of `namespace`."""
    storage = tmp_path_factory.mktemp("tag-store")
    scope = ("--watch-all-namespaces=false", f"--namespace={NAMESPACE_PREFIX}*")
    start_controller("image-reflector", *scope, f"--storage-path={storage}")
    start_controller("image-automation", *scope)
    yield


@contextlib.contextmanager
def watched_namespace(cluster: Cluster, name: str) -> Iterator[str]:
    """Namespace `name`, created; at the end its image objects are deleted while the
    controllers still run (they hold finalizers), then the namespace."""
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", IMAGE_KINDS, "--all", "-n", name, "--wait=true",
                        "--timeout=60s", check=False)
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace the controllers watch (overrides the harness's)."""
    base = request.node.name.lower().replace("_", "-").removeprefix("test-")
    keep = "".join(c for c in base if c.isalnum() or c == "-")[:30].strip("-")
    with watched_namespace(cluster, f"{NAMESPACE_PREFIX}{keep}-{uuid.uuid4().hex[:6]}") as name:
        yield name


@pytest.fixture
def other_namespace(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A second watched namespace for the test (`<namespace>-x`)."""
    with watched_namespace(cluster, f"{namespace[:50]}-x") as name:
        yield name


@pytest.fixture(scope="module")
def pusher(registry: Registry) -> Pusher:
    return Pusher(registry)


@pytest.fixture
def images(controllers: None, cluster: Cluster, namespace: str, registry: Registry,
           pusher: Pusher, git_server: GitHTTPServer) -> ImageEnv:
    """The test's image environment, with the controllers running."""
    return ImageEnv(cluster, namespace, registry, pusher, git_server)
