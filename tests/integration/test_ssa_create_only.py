"""Create-only applies (`ApplyOptions.known_absent`) against the real API server.

When the caller vouches that an object does not exist, the engine dry-runs and applies it
with the create-only precondition and sends no GET (the first object of a set is not
dry-run: created before anything else is written, its apply is its own check). These tests
check that such an object is created exactly as a full apply would create it, with two
requests (one for the first of a set); that a set with an invalid new object still applies
nothing (its dry-runs all pass first); and that when
the hint is wrong (the object exists: made by someone else, by us a moment ago, marked
`reconcile: disabled`, or holding an immutable field) the API server refuses the write and
the full path decides, with the result an apply without the hint would have had.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, TypeVar

import pytest
from test_ssa import OPTIONS as FULL_PATH
from test_ssa import configmap

from afflux.controllers.runtime import KubernetesClient
from afflux.controllers.runtime._ssa import Action, ApplyError, ObjectKey, ResourceManager

pytestmark = pytest.mark.integration

T = TypeVar("T")
MANAGER = "kustomize-controller"
RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"
FORCE = "kustomize.toolkit.fluxcd.io/force"


def absent(_key: ObjectKey, _body: Mapping[str, Any]) -> bool:
    return True


#: kustomize-controller's selectors and cleanup, with a hint that calls every object absent
OPTIONS = dataclasses.replace(FULL_PATH, known_absent=absent)
WITHOUT_HINT = FULL_PATH


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Counted:
    """A `ResourceManager` whose client counts its requests by method."""

    def __init__(self, cluster: Any) -> None:
        self.requests: collections.Counter[str] = collections.Counter()
        self.kube = KubernetesClient(cluster.api_client(),
                                     on_request=lambda method, _code: self.count(method))
        self.manager = ResourceManager(self.kube, field_manager=MANAGER)
        # discovery of the kinds used below, outside what the tests count
        for api_version, kind in (("v1", "ConfigMap"), ("apps/v1", "Deployment")):
            run(self.manager.resource(ObjectKey(api_version, kind, "", "")))
        self.requests.clear()

    def count(self, method: str) -> None:
        self.requests[method] += 1


@pytest.fixture
def counted(cluster: Any) -> Iterator[Counted]:
    handle = Counted(cluster)
    yield handle
    handle.kube.close()


def get_json(cluster: Any, *args: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("get", *args, "-o", "json", "--show-managed-fields").stdout)


def managers(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


def test_a_known_absent_object_is_created_without_a_get_as_a_full_apply_would(
        cluster: Any, namespace: str, counted: Counted) -> None:
    objects = [configmap(namespace, "one"), configmap(namespace, "two", {"k": "v"})]
    result = run(counted.manager.apply_all_staged(objects, OPTIONS))
    assert result.to_map() == {f"ConfigMap/{namespace}/one": "created",
                               f"ConfigMap/{namespace}/two": "created"}
    # a dry-run and an apply each but the first (created first: its apply is its check), no GET
    assert dict(counted.requests) == {"PATCH": 3}
    live = get_json(cluster, "-n", namespace, "configmap", "two")
    assert live["data"] == {"k": "v"}
    assert managers(live) == [(MANAGER, "Apply")]
    # the managed fields are those of a plain apply: a full apply finds nothing to do
    counted.requests.clear()
    again = run(counted.manager.apply_all_staged(objects, WITHOUT_HINT))
    assert {e.action for e in again} == {Action.UNCHANGED}
    assert counted.requests["PATCH"] == 2 and counted.requests["GET"] == 2  # dry-runs only
    after = get_json(cluster, "-n", namespace, "configmap", "two")
    assert after["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]


def test_an_object_made_by_someone_else_is_refused_then_applied_by_the_full_path(
        cluster: Any, namespace: str, counted: Counted) -> None:
    cluster.kubectl("-n", namespace, "create", "configmap", "theirs", "--from-literal=key=mine",
                    "--from-literal=extra=x")
    result = run(counted.manager.apply_all_staged([configmap(namespace, "theirs")], OPTIONS))
    assert result.to_map() == {f"ConfigMap/{namespace}/theirs": "configured"}
    # the refused create-only apply, then GET, dry-run, the take-over of kubectl's fields
    # and the apply
    assert counted.requests["GET"] == 1 and counted.requests["PATCH"] == 4
    live = get_json(cluster, "-n", namespace, "configmap", "theirs")
    assert live["data"] == {"key": "value"}  # kubectl's own field dropped: the take-over
    assert managers(live) == [(MANAGER, "Apply")]


def test_an_object_we_made_a_moment_ago_is_left_unchanged(
        cluster: Any, namespace: str, counted: Counted) -> None:
    obj = configmap(namespace, "ours")
    run(counted.manager.apply_all_staged([obj], WITHOUT_HINT))
    before = get_json(cluster, "-n", namespace, "configmap", "ours")
    # a watch that has not seen our own create yet: the hint is wrong, nothing is written
    result = run(counted.manager.apply_all_staged([obj], OPTIONS))
    assert result.to_map() == {f"ConfigMap/{namespace}/ours": "unchanged"}
    after = get_json(cluster, "-n", namespace, "configmap", "ours")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_an_existing_object_marked_reconcile_disabled_stays_untouched(
        cluster: Any, namespace: str, counted: Counted) -> None:
    cluster.kubectl("-n", namespace, "create", "configmap", "hands-off",
                    "--from-literal=key=mine")
    cluster.kubectl("-n", namespace, "annotate", "configmap", "hands-off",
                    f"{RECONCILE}=disabled")
    result = run(counted.manager.apply_all_staged([configmap(namespace, "hands-off")], OPTIONS))
    assert result.to_map() == {f"ConfigMap/{namespace}/hands-off": "skipped"}
    live = get_json(cluster, "-n", namespace, "configmap", "hands-off")
    assert live["data"] == {"key": "mine"} and MANAGER not in dict(managers(live))


@pytest.mark.parametrize(("force", "outcome"), [(False, "refused"), (True, "recreated")],
                         ids=["without-force-refused", "with-force-recreated"])
def test_an_existing_object_with_a_changed_immutable_field(
        cluster: Any, namespace: str, counted: Counted, force: bool, outcome: str) -> None:
    run(counted.manager.apply_all_staged([configmap(namespace, "frozen", immutable=True)],
                                         WITHOUT_HINT))
    uid = get_json(cluster, "-n", namespace, "configmap", "frozen")["metadata"]["uid"]
    changed = configmap(namespace, "frozen", {"key": "new"}, immutable=True)
    opts = dataclasses.replace(OPTIONS, force=force)
    if outcome == "refused":
        with pytest.raises(ApplyError, match=r"ConfigMap/.*/frozen dry-run failed \(Invalid\)"):
            run(counted.manager.apply_all_staged([changed], opts))
        assert get_json(cluster, "-n", namespace, "configmap", "frozen")["data"] == {
            "key": "value"}
        return
    result = run(counted.manager.apply_all_staged([changed], opts))
    assert result.to_map() == {f"ConfigMap/{namespace}/frozen": "created"}
    live = get_json(cluster, "-n", namespace, "configmap", "frozen")
    assert live["data"] == {"key": "new"} and live["metadata"]["uid"] != uid


def test_an_invalid_new_object_reports_its_dry_run_failure(
        cluster: Any, namespace: str, counted: Counted) -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "broken", "namespace": namespace},
           "spec": {"replicas": "many", "selector": {"matchLabels": {"app": "x"}},
                    "template": {"metadata": {"labels": {"app": "x"}}, "spec": {
                        "containers": [{"name": "app", "image": "example.invalid/app:1"}]}}}}
    with pytest.raises(ApplyError) as caught:
        run(counted.manager.apply_all_staged([bad], OPTIONS))
    assert caught.value.subject == f"Deployment/{namespace}/broken"
    assert "dry-run failed" in str(caught.value) and "replicas" in str(caught.value)
    assert cluster.kubectl("-n", namespace, "get", "deployment", "broken",
                           check=False).returncode != 0


def test_a_set_with_an_invalid_new_object_applies_nothing(
        cluster: Any, namespace: str, counted: Counted) -> None:
    """As Flux's apply: every dry-run of a stage passes before anything is written, also for
    objects known absent; the valid new object before the invalid one is not created."""
    good = configmap(namespace, "a-good-one")
    bad = configmap(namespace, "b-bad-one")
    bad["data"] = {"not a valid key!": "x"}
    with pytest.raises(ApplyError) as caught:
        run(counted.manager.apply_all_staged([good, bad], OPTIONS))
    assert caught.value.subject == f"ConfigMap/{namespace}/b-bad-one"
    assert "dry-run failed" in str(caught.value)
    for name in ("a-good-one", "b-bad-one"):
        assert cluster.kubectl("-n", namespace, "get", "configmap", name,
                               check=False).returncode != 0
