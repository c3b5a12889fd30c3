"""The pure parts of the Kubernetes layer (paths, error mapping) and the waiting logic, with
an in-memory stand-in for the cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from afflux.api import GitRepository
from afflux.cli._errors import EXIT_NOT_FOUND, EXIT_TIMEOUT, NotFoundError, WaitTimeout
from afflux.cli._kube import (
    CRDS,
    Kube,
    KubeConflict,
    KubeNotFound,
    ResourceType,
    _api_error,
    _short,
    resource_of,
)
from afflux.cli._wait import wait_for

GIT = resource_of(GitRepository)


@pytest.mark.parametrize(
    ("rt", "name", "namespace", "sub", "path"),
    [
        pytest.param(GIT, "podinfo", "flux-system", "",
                     "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/"
                     "podinfo", id="namespaced"),
        pytest.param(GIT, "podinfo", "flux-system", "status",
                     "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/"
                     "podinfo/status", id="subresource"),
        pytest.param(ResourceType("", "v1", "ConfigMap", "configmaps"), "c", "default", "",
                     "/api/v1/namespaces/default/configmaps/c", id="core"),
        pytest.param(CRDS, "x.y", "ignored", "",
                     "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y",
                     id="cluster-scoped"),
    ],
)
def test_paths(rt: ResourceType, name: str, namespace: str, sub: str, path: str) -> None:
    assert rt.path(name, namespace, sub) == path


def test_collection_paths_and_api_version() -> None:
    assert GIT.collection_path(None) == "/apis/source.toolkit.fluxcd.io/v1/gitrepositories"
    assert GIT.api_version == "source.toolkit.fluxcd.io/v1"
    assert ResourceType("", "v1", "Pod", "pods").api_version == "v1"


@pytest.mark.parametrize(
    ("status", "body", "cls", "message", "code"),
    [
        pytest.param(404, b'{"reason":"NotFound","message":"gitrepositories \\"x\\" not found"}',
                     KubeNotFound, 'gitrepositories "x" not found', EXIT_NOT_FOUND,
                     id="not-found"),
        pytest.param(409, b'{"reason":"Conflict","message":"the object has been modified"}',
                     KubeConflict, "the object has been modified", 1, id="conflict"),
        pytest.param(500, b"plain failure", Exception, "plain failure", 1, id="not-json"),
        pytest.param(403, None, Exception, "403 Error", 1, id="empty"),
    ],
)
def test_api_errors(status: int, body: bytes | None, cls: type, message: str,
                    code: int) -> None:
    err = _api_error(status, body)
    assert isinstance(err, cls)
    assert (err.status, err.message, err.exit_code) == (status, message, code)


def test_short_connection_errors() -> None:
    assert _short(OSError("[Errno 111] Connection refused")) == "connection refused"
    assert _short(OSError("read timed out")) == "timed out"
    assert _short(OSError("")) == "OSError"


class FakeKube:
    """`get` returns the first state; `watch` yields the rest as MODIFIED events (a list of
    lists: one watch each)."""

    def __init__(self, first: dict[str, Any] | None, watches: list[list[tuple[str, dict]]]):
        self.first = first
        self.watches = watches
        self.gets = 0

    def get(self, rt: ResourceType, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.gets += 1
        if self.first is None:
            raise KubeNotFound(404, "NotFound", "gone")
        return self.first

    def watch(self, rt: ResourceType, namespace: str | None = None,
              **kwargs: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        assert kwargs["field_selector"] == "metadata.name=podinfo"
        assert kwargs["timeout_seconds"] >= 1
        yield from self.watches.pop(0) if self.watches else []


def _obj(state: str, rv: str = "1") -> dict[str, Any]:
    return {"metadata": {"name": "podinfo", "resourceVersion": rv}, "state": state}


def _decide(obj: dict[str, Any]) -> str | None:
    return obj["state"] if obj["state"] in ("done", "failed") else None


def _wait(kube: FakeKube, decide: Callable[[dict[str, Any]], str | None] = _decide,
          **kwargs: Any) -> tuple[str, dict[str, Any]]:
    kwargs = {"timeout": 10, "what": "x", **kwargs}
    return wait_for(cast(Kube, kube), GIT, "podinfo", "ns", decide, **kwargs)


class Clock:
    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_wait_decides_on_the_first_read() -> None:
    kube = FakeKube(_obj("done"), [])
    decision, obj = _wait(kube)
    assert decision == "done" and kube.gets == 1


def test_wait_follows_the_watch() -> None:
    kube = FakeKube(_obj("pending"), [[("MODIFIED", _obj("pending", "2")),
                                       ("MODIFIED", _obj("failed", "3"))]])
    decision, obj = _wait(kube)
    assert decision == "failed" and obj["metadata"]["resourceVersion"] == "3"


def test_wait_reads_again_after_a_watch_error() -> None:
    kube = FakeKube(_obj("pending"), [[("ERROR", {"code": 410})], []])
    kube_first = kube.first

    def decide(obj: dict[str, Any]) -> str | None:
        return "done" if kube.gets >= 2 else None

    decision, obj = _wait(kube, decide)
    assert decision == "done" and obj is kube_first and kube.gets == 2


def test_wait_times_out_with_the_hint() -> None:
    kube = FakeKube(_obj("pending"), [])
    with pytest.raises(WaitTimeout) as err:
        _wait(kube, timeout=5, what="GitRepository 'ns/x'",
              hint="is source-controller running?", clock=Clock(1.0))
    assert err.value.message == "timed out waiting for GitRepository 'ns/x'"
    assert err.value.hint == "is source-controller running?"
    assert err.value.exit_code == EXIT_TIMEOUT


@pytest.mark.parametrize(
    ("first", "watches"),
    [
        pytest.param(None, [], id="gone-before"),
        pytest.param(_obj("pending"), [[("DELETED", _obj("pending"))]], id="deleted-while"),
    ],
)
def test_wait_on_a_deleted_object(first: dict | None, watches: list) -> None:
    with pytest.raises(NotFoundError, match="was deleted while waiting for x"):
        _wait(FakeKube(first, watches))
