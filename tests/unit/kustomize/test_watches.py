"""`ManagedWatches` against a scripted API client (no network): list then watch with the
metadata-only Accept header and a label selector, a foreign change triggers its
Kustomization once, a 410 re-lists and the difference counts, errors are retried, a bug
ends `run()`, and the skip facts follow what the watches saw."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from afflux.controllers.kustomize._drift import Debouncer, skip_apply
from afflux.controllers.kustomize._watches import META_ACCEPT, META_LIST_ACCEPT, ManagedWatches
from afflux.controllers.runtime import ObjectKey

OURS = "kustomize-controller"
KS = ("flux", "apps")
INVENTORY = {"status": {"inventory": {"entries": [{"id": "apps_a__ConfigMap", "v": "v1"}]}}}


def cm(name: str, rv: int, manager: str = OURS, time: str = "2026-12-01T10:00:00Z"
       ) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {
        "name": name, "namespace": "apps", "resourceVersion": str(rv),
        "managedFields": [{"manager": manager, "operation": "Update" if manager != OURS
                           else "Apply", "time": time}]}}


def event(type_: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": type_, "object": obj}).encode() + b"\n"


class FakeStream:
    """A watch response: its lines, then (unless it ends) blocked until shut down."""

    def __init__(self, lines: list[bytes], end: bool = False) -> None:
        self.lines = lines
        self.end = end
        self.closed = threading.Event()

    def stream(self, amt: Any = None, decode_content: bool = False) -> Any:
        yield from self.lines
        if not self.end:
            self.closed.wait(10)

    def shutdown(self) -> None:
        self.closed.set()

    def release_conn(self) -> None:
        pass


class FakeResponse:
    def __init__(self, status: int, body: Any = None, stream: FakeStream | None = None) -> None:
        self.status = status
        self.body = body
        self.response = stream

    def read(self) -> bytes:
        return json.dumps(self.body or {}).encode()


class FakeApiClient:
    """Answers requests from a script: a list of (check, response) consumed in order."""

    def __init__(self, script: list[Callable[[str, list, dict], FakeResponse]]) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, list, dict, Any]] = []
        self.lock = threading.Lock()

    def param_serialize(self, method: str, resource_path: str, query_params: list,
                        header_params: dict, auth_settings: list) -> tuple:
        return method, resource_path, query_params, header_params

    def call_api(self, method: str, path: str, query: list, headers: dict,
                 _request_timeout: Any = None) -> FakeResponse:
        with self.lock:
            self.requests.append((path, query, headers, _request_timeout))
            step = self.script.pop(0) if self.script else None
        if step is None:
            stream = FakeStream([])
            return FakeResponse(200, stream=stream)
        return step(path, query, headers)


class FakeKube:
    async def get_path(self, path: str) -> dict[str, Any]:
        assert path == "/api/v1"
        return {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}


def listing(*items: dict[str, Any], rv: int = 10) -> Callable[..., FakeResponse]:
    def answer(path: str, query: list, headers: dict) -> FakeResponse:
        assert "watch" not in dict(query)
        return FakeResponse(200, {"metadata": {"resourceVersion": str(rv)}, "items": list(items)})
    return answer


def paged(items: list[dict[str, Any]], token: str) -> Callable[..., FakeResponse]:
    def answer(path: str, query: list, headers: dict) -> FakeResponse:
        assert dict(query)["limit"] == "500"
        return FakeResponse(200, {"metadata": {"resourceVersion": "10", "continue": token},
                                  "items": items})
    return answer


def watching(*lines: bytes, end: bool = False) -> Callable[..., FakeResponse]:
    def answer(path: str, query: list, headers: dict) -> FakeResponse:
        assert dict(query)["watch"] == "true"
        return FakeResponse(200, stream=FakeStream(list(lines), end=end))
    return answer


def failing(status: int) -> Callable[..., FakeResponse]:
    return lambda *_: FakeResponse(status, {"reason": "InternalError", "message": "down"})


async def until(done: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not done():
            await asyncio.sleep(0.01)


async def run_until(watches: ManagedWatches, done: Callable[[], bool]) -> None:
    task = asyncio.create_task(watches.run())
    try:
        await until(done)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def make(script: list[Callable[..., FakeResponse]]) -> tuple[ManagedWatches, list, FakeApiClient]:
    fired: list[tuple[str, str]] = []
    client = FakeApiClient(script)
    watches = ManagedWatches(client, FakeKube(), lambda ks: fired.append(ks) or True,  # type: ignore[arg-type,func-returns-value]
                             ours=OURS, debouncer=Debouncer(delay=0.0, min_gap=0.0),
                             retry_base=0.01)
    watches.observe_kustomization("ADDED", {"metadata": {"namespace": KS[0], "name": KS[1]},
                                            **INVENTORY})
    return watches, fired, client


def test_a_foreign_edit_triggers_its_kustomization() -> None:
    watches, fired, client = make([
        listing(cm("a", 5), cm("unrelated", 6)),
        watching(event("MODIFIED", cm("a", 11)),  # our own apply: nothing
                 event("BOOKMARK", {"metadata": {"resourceVersion": "12"}}),
                 event("MODIFIED", cm("unrelated", 13, "kubectl-edit")),  # no inventory has it
                 event("MODIFIED", cm("a", 14, "kubectl-edit", "2026-12-01T10:00:05Z")))])
    asyncio.run(run_until(watches, lambda: bool(fired)))
    assert fired == [KS]
    (list_path, list_query, list_headers, list_timeout), (_, watch_query, watch_headers, _) = (
        client.requests[:2])
    assert list_path == "/api/v1/configmaps"
    assert list_headers["Accept"] == META_LIST_ACCEPT and watch_headers["Accept"] == META_ACCEPT
    assert dict(list_query)["labelSelector"] == "kustomize.toolkit.fluxcd.io/name"
    assert list_timeout is not None
    assert dict(watch_query)["resourceVersion"] == "10"
    assert dict(watch_query)["allowWatchBookmarks"] == "true"


def test_gone_lists_again_and_the_difference_counts() -> None:
    watches, fired, client = make([
        listing(cm("a", 5)),
        watching(event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired"})),
        listing(cm("a", 20, "kubectl-edit"), rv=21)])
    asyncio.run(run_until(watches, lambda: bool(fired)))
    assert fired == [KS]
    assert dict(client.requests[3][1])["resourceVersion"] == "21"


def test_a_list_in_pages() -> None:
    watches, fired, client = make([
        paged([cm("unrelated", 6)], "next-page"),
        listing(cm("a", 7), rv=10),
        watching(event("MODIFIED", cm("a", 14, "kubectl-edit", "2026-12-01T10:00:05Z")))])
    asyncio.run(run_until(watches, lambda: bool(fired)))
    assert dict(client.requests[1][1])["continue"] == "next-page"
    assert dict(client.requests[2][1])["resourceVersion"] == "10"


def test_errors_are_retried() -> None:
    watches, fired, client = make([
        failing(500), listing(cm("a", 5)), watching(end=True),  # a watch the server ended
        watching(event("DELETED", cm("a", 30)))])
    asyncio.run(run_until(watches, lambda: bool(fired)))
    assert fired == [KS]
    assert len(client.requests) >= 4


def test_an_unexpected_error_ends_run() -> None:
    def bug(*_: Any) -> FakeResponse:
        raise TypeError("a bug")

    watches, _, _ = make([bug])

    async def go() -> None:
        async with asyncio.timeout(5):
            await watches.run()

    with pytest.raises(RuntimeError, match="ConfigMap.v1 ended: TypeError: a bug"):
        asyncio.run(go())


def test_skip_facts_follow_the_watch() -> None:
    watches, fired, _ = make([listing(cm("a", 5)), watching()])
    entries = INVENTORY["status"]["inventory"]["entries"]

    def synced() -> bool:
        watch = watches._watches.get(("", "v1", "ConfigMap"))
        return watch is not None and watch.synced

    async def go() -> None:
        task = asyncio.create_task(watches.run())
        await until(synced)
        seq = watches.begin_apply()
        watches.applied(KS, entries, "d", seq)
        facts = watches.skip_facts(KS, "d", local=True, requested=False, full_every=6)
        assert skip_apply(facts) == (True, "unchanged since the last apply")
        watches._changed(watches._watches[("", "v1", "ConfigMap")], "DELETED", ("apps", "a"),
                         None)
        facts = watches.skip_facts(KS, "d", local=True, requested=False, full_every=6)
        assert skip_apply(facts) == (False, "foreign change since the last apply")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_a_kind_no_inventory_holds_is_not_watched() -> None:
    watches, _, _ = make([])
    assert watches.index.kinds() == {("", "v1", "ConfigMap")}
    watches.observe_kustomization("DELETED", {"metadata": {"namespace": KS[0],
                                                           "name": KS[1]}})
    assert watches.index.kinds() == set()


LABELLED = {"metadata": {"labels": {"kustomize.toolkit.fluxcd.io/name": "ks"}}}


def test_known_absent_only_from_a_synced_watch_and_a_labelled_body() -> None:
    watches, _, _ = make([listing(cm("a", 5)), watching()])
    counted: list[int] = []
    watches.on_absent = lambda: counted.append(1)
    new, held = ObjectKey("v1", "ConfigMap", "apps", "b"), ObjectKey("v1", "ConfigMap", "apps", "a")
    other_kind = ObjectKey("v1", "Secret", "apps", "b")
    assert not watches.known_absent(new, LABELLED)  # no watch yet: unknown

    async def go() -> None:
        task = asyncio.create_task(watches.run())
        await until(lambda: watches.known_absent(new, LABELLED))
        assert not watches.known_absent(held, LABELLED)  # the watch holds it
        assert not watches.known_absent(new, {"metadata": {}})  # unlabelled: never watched
        assert not watches.known_absent(other_kind, LABELLED)  # no watch of that kind
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    assert len(counted) >= 1
    assert not watches.known_absent(new, LABELLED)  # stopped: unknown again


@pytest.mark.parametrize(("excluded", "shared"), [
    pytest.param(frozenset(x for x in ()), True, id="empty-made-by-the-caller-is-shared"),
    pytest.param(frozenset({("ConfigMap", "apps", "a")}), False, id="keys-kept-as-given"),
])
def test_the_apply_record_keeps_the_skipped_keys(excluded: frozenset[Any], shared: bool
                                                 ) -> None:
    watches, _, _ = make([])
    entries = INVENTORY["status"]["inventory"]["entries"]
    other = ("flux", "other")
    watches.applied(KS, entries, "d", watches.begin_apply(), excluded)
    watches.applied(other, entries, "d", watches.begin_apply(), frozenset(x for x in ()))
    assert watches.skipped_keys(KS) == excluded
    # every record of an apply that skipped nothing holds the same empty set
    assert (watches.skipped_keys(KS) is watches.skipped_keys(other)) is shared
