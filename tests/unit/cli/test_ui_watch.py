"""The UI's watch cache against a scripted client: the first list, then each watch event, a
relist when the watch expired, and errors per kind, as messages to every subscriber."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli._kinds import noun_for_kind
from afflux.cli._kube import KubeError, KubeNotFound
from afflux.cli.ui._watch import FleetCache

from .objects import cond, obj

KS = noun_for_kind("Kustomization")


def _ks(name: str, ready: str = "True") -> dict[str, Any]:
    body = obj("Kustomization", name, "apps", status={"conditions": [cond("Ready", ready)]})
    body["metadata"]["managedFields"] = [{"manager": "x"}]
    return body


class ScriptedKube:
    """Answers each list with the next of `lists` and each watch with the next of `watches`;
    a list or watch past the script blocks until `done` is set."""

    def __init__(self, lists: list[Any], watches: list[list[tuple[str, dict[str, Any]]]]):
        self.lists, self.watches = list(lists), list(watches)
        self.done = threading.Event()
        self.namespaces: list[str | None] = []

    def list_with_version(self, rt: Any, namespace: str | None = None
                          ) -> tuple[list[dict[str, Any]], str]:
        self.namespaces.append(namespace)
        if not self.lists:
            self.done.wait()
            raise KubeError(503, "ShuttingDown", "test over")
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer, "1"

    def watch(self, rt: Any, namespace: str | None = None, **_: Any
              ) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.watches:
            self.done.wait()
            return
        yield from self.watches.pop(0)


async def _messages(kube: ScriptedKube, count: int, namespace: str | None = None
                    ) -> tuple[list[tuple[str, dict[str, Any]]], FleetCache]:
    cache = FleetCache(lambda: kube, nouns=(KS,), namespace=namespace)  # type: ignore[arg-type,return-value]
    queue = cache.subscribe()
    cache.start(asyncio.get_running_loop())
    got = []
    try:
        while len(got) < count:
            message = await asyncio.wait_for(queue.get(), 10)
            assert message is not None
            got.append(message)
    finally:
        cache.stop()
        kube.done.set()
    return got, cache


def _summary(messages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str]]:
    return [(kind, m.get("key") or f"{m['kind']}: {m['message']}") for kind, m in messages]


@pytest.mark.parametrize(
    ("lists", "watches", "expected", "keys"),
    [
        pytest.param(
            [[_ks("a"), _ks("b")]],
            [[("MODIFIED", _ks("a", "False")), ("DELETED", _ks("b")), ("BOOKMARK", {})]],
            [("upsert", "Kustomization/apps/a"), ("upsert", "Kustomization/apps/b"),
             ("upsert", "Kustomization/apps/a"), ("delete", "Kustomization/apps/b")],
            {"Kustomization/apps/a"}, id="list-then-watch-events"),
        pytest.param(
            [[_ks("a"), _ks("b")], [_ks("a"), _ks("c")]],
            [[("ERROR", {"code": 410})]],
            [("upsert", "Kustomization/apps/a"), ("upsert", "Kustomization/apps/b"),
             ("delete", "Kustomization/apps/b"), ("upsert", "Kustomization/apps/a"),
             ("upsert", "Kustomization/apps/c")],
            {"Kustomization/apps/a", "Kustomization/apps/c"},
            id="expired-watch-relists-and-drops-what-went"),
        pytest.param(
            [KubeError(403, "Forbidden", "kustomizations is forbidden")],
            [],
            [("kinderror", "Kustomization: kustomizations is forbidden")],
            set(), id="forbidden-list-is-a-kind-error"),
        pytest.param(
            [KubeNotFound(404, "NotFound", "not served")],
            [],
            [],
            set(), id="kind-not-served-is-empty-and-quiet"),
    ],
)
def test_fleet_cache(lists: list[Any], watches: list[Any], expected: list[tuple[str, str]],
                     keys: set[str]) -> None:
    kube = ScriptedKube(lists, watches)
    messages, cache = asyncio.run(_messages(kube, len(expected)))
    assert _summary(messages) == expected
    if not expected:  # nothing to wait for: the cache is empty and no error was posted
        assert cache.errors.get("Kustomization", "") == ""
    assert set(cache.objects) == keys
    assert all("managedFields" not in o["metadata"] for o in cache.objects.values())


def test_fleet_cache_watches_one_namespace_when_asked() -> None:
    kube = ScriptedKube([[_ks("a")]], [])
    asyncio.run(_messages(kube, 1, namespace="apps"))
    assert kube.namespaces == ["apps"]


def test_a_subscriber_that_falls_behind_is_sent_a_resync_instead() -> None:
    async def run() -> list[tuple[str, str]]:
        cache = FleetCache(lambda: None, nouns=())  # type: ignore[arg-type,return-value]
        cache.backlog = 3
        queue = cache.subscribe()
        for i in range(5):  # nobody reads: the fourth finds three waiting
            cache._upsert(_ks(f"k{i}"))
        got = [queue.get_nowait() for _ in range(queue.qsize())]
        return [(kind, str(m.get("key", ""))) for kind, m in got if m is not None]

    assert asyncio.run(run()) == [("resync", ""), ("upsert", "Kustomization/apps/k4")]
