"""The kopf settings every operator runs with: bookkeeping out of `status`, its Events off,
timeouts that end a frozen connection, the initial list in pages (memory), and no copy of
every body for kopf's change detection unless a change handler needs it (CPU)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import kopf
import pytest
from kopf._core.reactor import inventory as kopf_inventory

from afflux.api._meta import AFFLUX_ANNOTATION_PREFIX
from afflux.controllers.runtime import kopf_settings
from afflux.controllers.runtime._operator import (
    LIST_CHUNK,
    EventsOnlyDiffBase,
    EventsOnlyMemories,
    fit_diffbase,
    fit_memories,
)


def test_the_initial_list_comes_in_pages() -> None:
    settings = kopf_settings()
    assert settings.watching.chunk_size == LIST_CHUNK == 500


def test_kopf_keeps_out_of_status_and_posts_no_events() -> None:
    settings = kopf_settings()
    assert settings.posting.enabled is False
    assert settings.persistence.finalizer.startswith("afflux.toolkit.fluxcd.io/")
    assert settings.watching.server_timeout and settings.watching.client_timeout
    assert settings.watching.client_timeout > settings.watching.server_timeout


def _registry(*decorators: str) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    for name in decorators:
        on = getattr(kopf.on, name, None) or getattr(kopf, name)  # daemon, timer, index
        on("example.com", "v1", "widgets", registry=registry)(lambda **_: None)
    return registry


@pytest.mark.parametrize(("handlers", "events_only"), [
    pytest.param(("event",), True, id="event-handlers-only"),
    pytest.param((), True, id="no-handlers"),
    pytest.param(("event", "update"), False, id="an-update-handler"),
    pytest.param(("create",), False, id="a-create-handler"),
])
def test_change_detection_only_when_a_change_handler_needs_it(
        handlers: tuple[str, ...], events_only: bool) -> None:
    settings = kopf_settings()
    fit_diffbase(settings, _registry(*handlers))
    storage = settings.persistence.diffbase_storage
    assert isinstance(storage, EventsOnlyDiffBase) is events_only
    assert isinstance(storage, kopf.AnnotationsDiffBaseStorage)  # our prefix either way
    assert (storage.prefix, storage.key) == (AFFLUX_ANNOTATION_PREFIX, "last-handled-configuration")


def test_events_only_builds_no_copy_of_the_body() -> None:
    body = kopf.Body({"apiVersion": "example.com/v1", "kind": "Widget",
                      "metadata": {"name": "w", "annotations": {"a": "b"}},
                      "spec": {"x": 1}})
    storage = EventsOnlyDiffBase(prefix=AFFLUX_ANNOTATION_PREFIX)
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    assert kopf.AnnotationsDiffBaseStorage(prefix=AFFLUX_ANNOTATION_PREFIX).build(
        body=body) == {"spec": {"x": 1}, "metadata": {"annotations": {"a": "b"}}}


def test_a_labelled_watch_selects_on_the_api_server() -> None:
    """Memory: the ConfigMap watch of kustomize-controller must not receive (and kopf must
    not keep a memory of) every ConfigMap the Kustomizations apply, only the labelled ones;
    a watch without labels gets every object, and an operator's own kinds keep theirs."""
    from kubernetes import client

    from afflux.controllers.runtime import Operator, Options, Resource, label_selector
    from afflux.controllers.runtime._kube import KubernetesClient

    configmaps = Resource("", "v1", "ConfigMap", "configmaps")
    sources = Resource("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories")
    api_client = client.ApiClient(client.Configuration())
    operator = Operator("test-controller", Options(name="t", metrics_addr="0", health_addr="0"),
                        api_client=api_client, kube=KubernetesClient(api_client, max_workers=1))
    operator.watch(configmaps, lambda *_: None,
                   labels={"reconcile.fluxcd.io/watch": "Enabled", "a": "b"})
    operator.watch(sources, lambda *_: None)
    selectors = operator.settings.watching.label_selectors
    assert selectors["", "v1", "configmaps"] == "a=b,reconcile.fluxcd.io/watch=Enabled"
    assert ("source.toolkit.fluxcd.io", "v1", "gitrepositories") not in selectors
    assert label_selector({"x": "1"}) == "x=1"


@pytest.mark.parametrize(
    ("controller", "argv", "watched", "selector"),
    [
        pytest.param("kustomize-controller", [], ("configmaps", "secrets"),
                     "reconcile.fluxcd.io/watch=Enabled", id="kustomize-default"),
        pytest.param("kustomize-controller", ["--watch-configs-label-selector=owner!=helm"],
                     ("configmaps", "secrets"), "owner!=helm", id="kustomize-custom"),
        pytest.param("helm-controller", ["--watch-configs-label-selector=team in (a,b)"],
                     ("configmaps", "secrets"), "team in (a,b)", id="helm-custom"),
        pytest.param("notification-controller", ["--watch-configs-label-selector=owner!=helm"],
                     ("secrets",), "owner!=helm", id="notification-receiver-secrets"),
        pytest.param("helm-controller", ["--watch-configs-label-selector="],
                     ("configmaps", "secrets"), None, id="empty-selects-all"),
    ],
)
def test_config_watches_select_with_the_flag(controller: str, argv: list[str],
                                             watched: tuple[str, ...],
                                             selector: str | None) -> None:
    """--watch-configs-label-selector is the server-side selector of the operator's watches
    of ConfigMaps and Secrets (empty: none, so all of them), and kopf's own filter adds
    nothing to it (a selector such as `owner!=helm` is not a set of labels)."""
    from kubernetes import client

    from afflux.controllers.helm import handlers as helm
    from afflux.controllers.kustomize import handlers as kustomize
    from afflux.controllers.notification import handlers as notification
    from afflux.controllers.runtime import KubernetesClient, Operator, parse_options

    module = {"kustomize-controller": kustomize, "helm-controller": helm,
              "notification-controller": notification}[controller]
    options = parse_options(controller, ["--metrics-addr=0", "--health-addr=0", *argv],
                            module.add_flags)
    api_client = client.ApiClient(client.Configuration())
    operator = Operator(controller, options, api_client=api_client,
                        kube=KubernetesClient(api_client, max_workers=1))
    module.setup(operator)
    selectors = operator.settings.watching.label_selectors
    for plural in ("configmaps", "secrets"):
        expected = selector if plural in watched else None
        assert selectors.get(("", "v1", plural)) == expected, plural
    handlers = {h.id: h for h in operator.registry._watching.get_all_handlers()}
    for plural in watched:
        assert not handlers[f"watch-{plural}"].labels  # the API server's selector alone


@pytest.mark.parametrize(("handlers", "lean"), [
    pytest.param(("event",), True, id="event-handlers-only"),
    pytest.param(("event", "update"), True, id="change-handlers-write-no-daemon-record"),
    pytest.param(("event", "daemon"), False, id="a-daemon"),
    pytest.param(("timer",), False, id="a-timer"),
    pytest.param(("index",), False, id="an-index"),
])
def test_shared_memories_only_without_daemons_timers_and_indexes(
        handlers: tuple[str, ...], lean: bool) -> None:
    memories = fit_memories(_registry(*handlers))
    assert isinstance(memories, EventsOnlyMemories) is lean
    assert lean or memories is None  # kopf's own


def test_objects_share_the_daemons_and_indexing_records_not_their_own_state() -> None:
    memories = EventsOnlyMemories()

    async def recall(uid: str) -> kopf_inventory.ResourceMemory:
        return await memories.recall({"metadata": {"uid": uid}}, noticed_by_listing=True)

    async def recall_all() -> list[kopf_inventory.ResourceMemory]:
        return [await recall(uid) for uid in ("uid-a", "uid-b", "uid-a")]

    a, b, a_again = asyncio.run(recall_all())
    assert a is a_again and a is not b
    assert a.daemons_memory is b.daemons_memory is memories.daemons
    assert a.indexing_memory is b.indexing_memory is memories.indexing
    assert a.memo is not b.memo and a.error_throttler is not b.error_throttler
    assert a.noticed_by_listing and b.noticed_by_listing
    asyncio.run(memories.forget({"metadata": {"uid": "uid-a"}}))
    assert list(memories.iter_all_memories()) == [b]


@pytest.mark.parametrize(("controller", "argv", "handler_id"), [
    pytest.param("source-controller", ["--storage-path={tmp}"], "artifact-server-start",
                 id="source-artifact-server"),
    pytest.param("notification-controller", [], "notification-listeners",
                 id="notification-listeners"),
])
def test_start_up_listeners_retry_a_taken_address_within_seconds(
        controller: str, argv: list[str], handler_id: str, tmp_path: Path) -> None:
    """An address taken for a moment when the operator starts (another process's connection
    on that port) must not leave the operator without its listener for kopf's default minute
    of backoff: the start-up activity is tried again every LISTEN_RETRY seconds."""
    from kubernetes import client

    from afflux.controllers.notification import handlers as notification
    from afflux.controllers.runtime import (
        LISTEN_RETRY,
        KubernetesClient,
        Operator,
        parse_options,
    )
    from afflux.controllers.source import handlers as source
    from afflux.controllers.source.__main__ import add_flags as source_flags

    module, add_flags = {"source-controller": (source, source_flags),
                         "notification-controller": (notification, notification.add_flags),
                         }[controller]
    options = parse_options(controller, ["--metrics-addr=0", "--health-addr=0",
                                         *(a.format(tmp=tmp_path) for a in argv)],
                            add_flags)
    api_client = client.ApiClient(client.Configuration())
    operator = Operator(controller, options, api_client=api_client,
                        kube=KubernetesClient(api_client, max_workers=1))
    module.setup(operator)
    handlers = {h.id: h for h in operator.registry._activities.get_all_handlers()}
    assert handlers[handler_id].backoff == LISTEN_RETRY <= 5
