"""The GitRepository reconciler's reactions to other objects: which Secrets it uses, and
how Secret and artifact changes turn into triggers (against a fake scheduler)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from afflux.controllers.runtime import Options
from afflux.controllers.source._context import (
    SourceContext,
    artifact_key,
    default_advertised_address,
    secret_key,
)
from afflux.controllers.source._reconcile_git import (
    GIT_REPOSITORY,
    GitRepositoryReconciler,
    secret_names,
)
from afflux.controllers.source._storage import Storage


class FakeScheduler:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self._objects = objects
        self.triggered: list[tuple[str | None, str]] = []

    def keys_where(self, predicate: Any) -> list[tuple[str, str]]:
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in self._objects
                if predicate(o)]

    def trigger(self, namespace: str | None, name: str) -> bool:
        self.triggered.append((namespace, name))
        return True


class FakeOperator:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.sched = FakeScheduler(objects)
        self.watches: list[Any] = []

    def scheduler(self, resource: Any) -> FakeScheduler:
        if resource != GIT_REPOSITORY:
            raise KeyError(resource)
        return self.sched

    def watch(self, resource: Any, callback: Any, *, key: Any = None) -> None:
        self.watches.append((resource, callback, key))


def repo(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": spec}


OBJECTS = [
    repo("a", "auth", secretRef={"name": "creds"}),
    repo("a", "keys", verify={"mode": "HEAD", "secretRef": {"name": "pgp"}}),
    repo("a", "proxy", proxySecretRef={"name": "proxy"}, secretRef={"name": "creds"}),
    repo("b", "elsewhere", secretRef={"name": "creds"}),
    repo("a", "app", include=[{"repository": {"name": "auth"}}]),
]


def context(tmp_path: Any, objects: list[dict[str, Any]]) -> tuple[SourceContext, FakeOperator]:
    operator = FakeOperator(objects)
    ctx = SourceContext(storage=Storage(tmp_path, "127.0.0.1:9090"), options=Options("t"),
                        storage_addr=("127.0.0.1", 9090), operator=operator)  # type: ignore[arg-type]
    return ctx, operator


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (OBJECTS[0], ["creds"]),
        (OBJECTS[1], ["pgp"]),
        (OBJECTS[2], ["creds", "proxy"]),
        (repo("a", "none"), []),
    ],
    ids=["secretRef", "verify", "proxy-and-auth", "none"],
)
def test_secret_names(body: Mapping[str, Any], names: list[str]) -> None:
    assert sorted(secret_names(body)) == names


def secret(ns: str, name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": name}, "data": data}


@pytest.mark.parametrize(
    ("event", "body", "triggered"),
    [
        ("MODIFIED", secret("a", "creds"), [("a", "auth"), ("a", "proxy")]),
        ("ADDED", secret("a", "pgp"), [("a", "keys")]),
        ("DELETED", secret("a", "proxy"), [("a", "proxy")]),
        ("MODIFIED", secret("c", "creds"), []),
        (None, secret("a", "creds"), []),  # the initial listing is no change
    ],
    ids=["changed-two-users", "created", "deleted", "other-namespace", "initial-listing"],
)
def test_secret_changes_trigger_their_users(tmp_path: Any, event: str | None,
                                            body: dict[str, Any], triggered: list) -> None:
    ctx, operator = context(tmp_path, OBJECTS)
    ctx.watch_secrets(GIT_REPOSITORY, secret_names)
    ctx.on_secret_change(event, body)
    assert operator.sched.triggered == triggered


def test_one_watch_per_kind_of_change(tmp_path: Any) -> None:
    from afflux.controllers.source._reconcile_git import git_reconciler

    ctx, operator = context(tmp_path, OBJECTS)
    git_reconciler(ctx)
    ctx.watch_secrets(GIT_REPOSITORY, secret_names)  # a second kind would add its own
    kinds = [(w[0].kind, w[2]) for w in operator.watches]
    assert kinds == [("GitRepository", artifact_key), ("Secret", secret_key)]


def test_artifact_change_triggers_includers(tmp_path: Any) -> None:
    ctx, operator = context(tmp_path, OBJECTS)
    reconciler = GitRepositoryReconciler(ctx)
    reconciler.includers.record("a", "app", ["auth"])  # as app's reconcile does
    reconciler.on_artifact_change("MODIFIED", repo("a", "auth"))
    reconciler.on_artifact_change("MODIFIED", repo("a", "keys"))
    assert operator.sched.triggered == [("a", "app")]


def test_keys_see_only_what_matters() -> None:
    body = secret("a", "s", password="eA==")
    assert secret_key(body) == secret_key({**body, "metadata": {"resourceVersion": "9"}})
    assert secret_key(body) != secret_key(secret("a", "s", password="eQ=="))
    art = {"status": {"artifact": {"revision": "r", "digest": "d", "lastUpdateTime": "t"}}}
    assert artifact_key(art) == ("r", "d")
    assert artifact_key({}) == (None, None)


@pytest.mark.parametrize(
    ("addr", "namespace", "expected"),
    [
        ("127.0.0.1:9090", None, "127.0.0.1:9090"),
        (":9090", "flux-system", "source-controller.flux-system.svc.cluster.local."),
        ("0.0.0.0:9090", "apps", "source-controller.apps.svc.cluster.local."),
    ],
    ids=["concrete-host", "wildcard-in-cluster", "any-address-in-cluster"],
)
def test_default_advertised_address(addr: str, namespace: str | None, expected: str) -> None:
    assert default_advertised_address(addr, namespace) == expected
