"""The server-side apply engine (`runtime._ssa`) against the real API server.

Each test drives a `ResourceManager` in-process (field manager `kustomize-controller`) and
checks the cluster with kubectl: change-set decisions (created, configured, unchanged,
skipped), drift correction, stages (a CRD and its custom resources, a Namespace and its
objects in one set), the per-object policies (Ignore, IfNotPresent, Merge, force), a
failure half-way, pruning and the health waiter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from afflux.controllers.runtime import AioKubeClient, ConnectionPool
from afflux.controllers.runtime._kstatus import HealthStatus
from afflux.controllers.runtime._ssa import (
    Action,
    ApplyError,
    ApplyOptions,
    Cleanup,
    DeleteOptions,
    FieldManager,
    ObjectKey,
    ResourceManager,
    WaitError,
)

pytestmark = pytest.mark.integration

T = TypeVar("T")
MANAGER = "kustomize-controller"
SSA = "kustomize.toolkit.fluxcd.io/ssa"
FORCE = "kustomize.toolkit.fluxcd.io/force"
RECONCILE = "kustomize.toolkit.fluxcd.io/reconcile"
PRUNE = "kustomize.toolkit.fluxcd.io/prune"

#: The options kustomize-controller applies with (Flux's selectors and cleanup).
OPTIONS = ApplyOptions(
    force_selector={FORCE: "enabled"},
    exclusion_selector={RECONCILE: "disabled", SSA: "Ignore"},
    if_not_present_selector={SSA: "IfNotPresent"},
    cleanup=Cleanup(
        annotations=("kubectl.kubernetes.io/last-applied-configuration",),
        field_managers=(FieldManager("kubectl", "Apply"), FieldManager("kubectl", "Update"),
                        FieldManager("before-first-apply", "Update")),
        exclusions={SSA: "Merge"},
    ),
    wait_interval=0.5,
    wait_timeout=30,
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def manager(cluster: Any) -> Iterator[ResourceManager]:
    # the operators' client (aiohttp); each test's `run` is a new event loop, on which the
    # pool opens its connections anew
    kube = AioKubeClient(cluster.api_client(), pool=ConnectionPool())
    yield ResourceManager(kube, field_manager=MANAGER)


def configmap(namespace: str, name: str, data: dict[str, str] | None = None,
              annotations: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": data or {"key": "value"}, **extra}


def deployment(namespace: str, name: str, replicas: int = 1, **pod_spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "containers": [{"name": "app", "image": "example.invalid/app:1.0"}],
                **pod_spec,
            }},
        },
    }


def get_json(cluster: Any, *args: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def own_entry(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The managedFields entries of our field manager (their time changes on every write)."""
    return [e for e in obj["metadata"].get("managedFields", []) if e.get("manager") == MANAGER]


def actions(change_set: Any) -> dict[str, str]:
    return change_set.to_map()


# --- change-set decisions and drift ------------------------------------------------------------


def test_created_then_unchanged_then_configured_after_drift(
        cluster: Any, namespace: str, manager: ResourceManager) -> None:
    objects = [configmap(namespace, "settings"), deployment(namespace, "web", replicas=2)]

    first = run(manager.apply_all_staged(objects, OPTIONS))
    assert actions(first) == {f"ConfigMap/{namespace}/settings": "created",
                              f"Deployment/{namespace}/web": "created"}
    before = get_json(cluster, "-n", namespace, "configmap", "settings")
    before_web = get_json(cluster, "-n", namespace, "deployment", "web")

    second = run(manager.apply_all_staged(objects, OPTIONS))
    assert {e.action for e in second} == {Action.UNCHANGED}
    # Nothing was written: the ConfigMap (which no controller touches) kept its version,
    # and the Deployment (whose status the cluster's controllers update, bumping its
    # resourceVersion) kept its generation and our field manager's entry.
    after = get_json(cluster, "-n", namespace, "configmap", "settings")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    after_web = get_json(cluster, "-n", namespace, "deployment", "web")
    assert after_web["metadata"]["generation"] == before_web["metadata"]["generation"]
    assert own_entry(after_web) == own_entry(before_web)

    cluster.kubectl("-n", namespace, "scale", "deployment/web", "--replicas=5")
    third = run(manager.apply_all_staged(objects, OPTIONS))
    assert actions(third)[f"Deployment/{namespace}/web"] == "configured"
    assert actions(third)[f"ConfigMap/{namespace}/settings"] == "unchanged"
    assert get_json(cluster, "-n", namespace, "deployment", "web")["spec"]["replicas"] == 2
    assert str(third.changed()) == f"Deployment/{namespace}/web configured"


def test_deleted_object_is_created_again(
        cluster: Any, namespace: str, manager: ResourceManager) -> None:
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "web", "namespace": namespace},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    run(manager.apply_all_staged([service], OPTIONS))
    cluster.kubectl("-n", namespace, "delete", "service", "web")
    again = run(manager.apply_all_staged([service], OPTIONS))
    assert actions(again) == {f"Service/{namespace}/web": "created"}


# --- stages ------------------------------------------------------------------------------------


def test_crd_and_its_custom_resources_in_one_set(
        cluster: Any, namespace: str, manager: ResourceManager) -> None:
    group = f"ssa{uuid.uuid4().hex[:8]}.test.afflux.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"things.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"kind": "Thing", "plural": "things", "singular": "thing",
                      "listKind": "ThingList"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object", "properties": {"size": {"type": "integer"}}}}}}}],
        },
    }
    thing = {"apiVersion": f"{group}/v1", "kind": "Thing",
             "metadata": {"name": "one", "namespace": namespace}, "spec": {"size": 3}}
    try:
        # the custom resource comes first in the input: the stages put the CRD before it
        result = run(manager.apply_all_staged([thing, crd], OPTIONS))
        assert [str(e) for e in result] == [
            f"CustomResourceDefinition/things.{group} created",
            f"Thing/{namespace}/one created",
        ]
        got = get_json(cluster, "-n", namespace, f"things.{group}", "one")
        assert got["spec"]["size"] == 3
    finally:
        cluster.kubectl("delete", "crd", f"things.{group}", "--wait=false", check=False)


def test_namespace_and_its_objects_in_one_set(cluster: Any, manager: ResourceManager) -> None:
    name = f"t-ssa-ns-{uuid.uuid4().hex[:6]}"
    objects = [configmap(name, "inside"),
               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}]
    try:
        result = run(manager.apply_all_staged(objects, OPTIONS))
        assert [str(e) for e in result] == [f"Namespace/{name} created",
                                            f"ConfigMap/{name}/inside created"]
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_custom_stage_kinds_are_applied_before_the_namespaced_rest(
        cluster: Any, namespace: str, manager: ResourceManager) -> None:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "reader", "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}

    def written(stage_kinds: frozenset[tuple[str, str]], suffix: str) -> list[str]:
        objects = [configmap(namespace, f"a-{suffix}"),
                   {**role, "metadata": {**role["metadata"], "name": f"z-{suffix}"}}]
        opts = dataclasses.replace(OPTIONS, custom_stage_kinds=stage_kinds)
        result = run(manager.apply_all_staged(objects, opts))
        assert {e.action for e in result} == {Action.CREATED}
        # the order the API server stored them in (etcd revisions grow with every write;
        # nothing else writes these objects) is the order of the change set
        stored = {kind: int(get_json(cluster, "-n", namespace, kind.lower(), name)[
            "metadata"]["resourceVersion"]) for kind, name in (("ConfigMap", f"a-{suffix}"),
                                                               ("Role", f"z-{suffix}"))}
        assert [e.key.kind for e in result] == sorted(stored, key=lambda k: stored[k])
        return [e.key.kind for e in result]

    # by default a ConfigMap goes before a Role (one namespaced stage, customary order)
    assert written(frozenset(), "plain") == ["ConfigMap", "Role"]
    # named in the custom stage, the Role is applied (and stored) first
    assert written(frozenset({("rbac.authorization.k8s.io", "Role")}), "staged") == [
        "Role", "ConfigMap"]


def test_failure_half_way_reports_the_object_and_what_was_applied(
        cluster: Any, manager: ResourceManager) -> None:
    name = f"t-ssa-half-{uuid.uuid4().hex[:6]}"
    bad = deployment(name, "broken")
    bad["spec"]["replicas"] = "many"  # the server refuses it
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
               configmap(name, "fine"), bad]
    try:
        with pytest.raises(ApplyError) as caught:
            run(manager.apply_all_staged(objects, OPTIONS))
        err = caught.value
        assert err.subject == f"Deployment/{name}/broken"
        assert "dry-run failed" in str(err) and "replicas" in str(err)
        assert actions(err.change_set) == {f"Namespace/{name}": "created"}
        # nothing of the failed stage was applied
        missing = cluster.kubectl("-n", name, "get", "configmap", "fine", check=False)
        assert missing.returncode != 0
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_the_result_is_the_same_with_one_or_eight_dry_runs_at_once(
        cluster: Any, manager: ResourceManager, concurrency: int) -> None:
    name = f"t-ssa-conc{concurrency}-{uuid.uuid4().hex[:6]}"
    opts = dataclasses.replace(OPTIONS, concurrency=concurrency)
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
        *(configmap(name, f"cm-{i:02d}", {"i": str(i)}) for i in range(12)),
        *(deployment(name, f"web-{i}", replicas=i + 1) for i in range(3))]
    try:
        result = run(manager.apply_all_staged(objects, opts))
        assert [str(e).replace(name, "NS") for e in result] == [
            "Namespace/NS created",
            *(f"ConfigMap/NS/cm-{i:02d} created" for i in range(12)),
            *(f"Deployment/NS/web-{i} created" for i in range(3))]
        got = get_json(cluster, "-n", name, "configmaps")
        assert {c["metadata"]["name"]: c["data"] for c in got["items"]
                if c["metadata"]["name"].startswith("cm-")} == {
            f"cm-{i:02d}": {"i": str(i)} for i in range(12)}

        # two refused objects among good ones: the first in apply order is named, and
        # nothing of the stage is applied, whatever the concurrency
        bad = [deployment(name, f"broken-{c}", replicas=1) for c in "ab"]
        for b in bad:
            b["spec"]["replicas"] = "many"
        changed = [configmap(name, f"cm-{i:02d}", {"i": "changed"}) for i in range(12)]
        with pytest.raises(ApplyError) as caught:
            run(manager.apply_all_staged([*bad, *changed], opts))
        assert caught.value.subject == f"Deployment/{name}/broken-a"
        assert actions(caught.value.change_set) == {}
        got = get_json(cluster, "-n", name, "configmaps")
        assert all(c["data"] != {"i": "changed"} for c in got["items"])
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_unknown_kind_is_reported_by_name(namespace: str, manager: ResourceManager) -> None:
    obj = {"apiVersion": "nothing.afflux.dev/v1", "kind": "Ghost",
           "metadata": {"name": "boo", "namespace": namespace}}
    with pytest.raises(ApplyError, match=r'Ghost/.*/boo dry-run failed: no matches for kind '
                                         r'"Ghost" in version "nothing.afflux.dev/v1"'):
        run(manager.apply_all_staged([obj], OPTIONS))


# --- per-object policies -----------------------------------------------------------------------


def test_ignore_and_reconcile_disabled_are_skipped(
        cluster: Any, namespace: str, manager: ResourceManager) -> None:
    ignored = configmap(namespace, "ignored", annotations={SSA: "Ignore"})
    disabled = configmap(namespace, "disabled", annotations={RECONCILE: "disabled"})
    result = run(manager.apply_all_staged([ignored, disabled], OPTIONS))
    assert {e.action for e in result} == {Action.SKIPPED}
    assert cluster.kubectl("-n", namespace, "get", "cm", "ignored", check=False).returncode != 0

    # disabled on the object in the cluster: left alone whatever the manifest says
    cluster.kubectl("-n", namespace, "create", "configmap", "live", "--from-literal=key=mine")
    cluster.kubectl("-n", namespace, "annotate", "configmap", "live", f"{RECONCILE}=disabled")
    result = run(manager.apply_all_staged([configmap(namespace, "live")], OPTIONS))
    assert actions(result) == {f"ConfigMap/{namespace}/live": "skipped"}
    assert get_json(cluster, "-n", namespace, "cm", "live")["data"] == {"key": "mine"}


def test_if_not_present_creates_but_never_updates(
        cluster: Any, namespace: str, manager: ResourceManager) -> None:
    obj = configmap(namespace, "seed", annotations={SSA: "IfNotPresent"})
    assert actions(run(manager.apply_all_staged([obj], OPTIONS))) == {
        f"ConfigMap/{namespace}/seed": "created"}
    cluster.kubectl("-n", namespace, "patch", "cm", "seed", "-p", '{"data":{"key":"changed"}}')
    assert actions(run(manager.apply_all_staged([obj], OPTIONS))) == {
        f"ConfigMap/{namespace}/seed": "skipped"}
    assert get_json(cluster, "-n", namespace, "cm", "seed")["data"] == {"key": "changed"}


@pytest.mark.parametrize(("policy", "kept"), [("Override", False), ("Merge", True)],
                         ids=["override-drops-kubectl-fields", "merge-keeps-kubectl-fields"])
def test_fields_added_with_kubectl(cluster: Any, namespace: str, manager: ResourceManager,
                                   policy: str, kept: bool) -> None:
    obj = configmap(namespace, "shared", annotations={SSA: policy})
    run(manager.apply_all_staged([obj], OPTIONS))
    cluster.kubectl("-n", namespace, "label", "cm", "shared", "added-by=hand")
    cluster.kubectl("-n", namespace, "patch", "cm", "shared", "-p", '{"data":{"extra":"x"}}')
    run(manager.apply_all_staged([obj], OPTIONS))
    live = get_json(cluster, "-n", namespace, "cm", "shared")
    assert ("added-by" in (live["metadata"].get("labels") or {})) is kept
    assert ("extra" in live["data"]) is kept
    assert live["data"]["key"] == "value"  # the manifest's own fields always win


@pytest.mark.parametrize("how", ["annotation", "option"])
def test_immutable_field_change_recreates_only_with_force(
        cluster: Any, namespace: str, manager: ResourceManager, how: str) -> None:
    obj = configmap(namespace, "frozen", immutable=True)
    run(manager.apply_all_staged([obj], OPTIONS))
    uid = get_json(cluster, "-n", namespace, "cm", "frozen")["metadata"]["uid"]
    changed = configmap(namespace, "frozen", {"key": "new"}, immutable=True)

    with pytest.raises(ApplyError, match=r"ConfigMap/.*/frozen dry-run failed \(Invalid\)"):
        run(manager.apply_all_staged([changed], OPTIONS))

    if how == "annotation":
        changed["metadata"]["annotations"] = {FORCE: "Enabled"}
        opts = OPTIONS
    else:
        opts = ApplyOptions(**{**OPTIONS.__dict__, "force": True})
    result = run(manager.apply_all_staged([changed], opts))
    assert actions(result) == {f"ConfigMap/{namespace}/frozen": "created"}
    live = get_json(cluster, "-n", namespace, "cm", "frozen")
    assert live["data"] == {"key": "new"} and live["metadata"]["uid"] != uid


# --- delete and wait ---------------------------------------------------------------------------


def test_delete_all_skips_what_the_options_protect(
        cluster: Any, namespace: str, manager: ResourceManager) -> None:
    objs = [configmap(namespace, "gone"),
            configmap(namespace, "kept", annotations={PRUNE: "disabled"}),
            configmap(namespace, "foreign")]
    run(manager.apply_all_staged(objs, OPTIONS))
    opts = DeleteOptions(
        exclusions={PRUNE: "disabled"},
        blocker=lambda o: "not ours" if o["metadata"]["name"] == "foreign" else None)
    keys = [ObjectKey.of(o) for o in objs] + [ObjectKey("v1", "ConfigMap", namespace, "absent")]
    result = run(manager.delete_all(keys, opts))
    assert actions(result) == {f"ConfigMap/{namespace}/gone": "deleted",
                               f"ConfigMap/{namespace}/kept": "skipped",
                               f"ConfigMap/{namespace}/foreign": "skipped"}
    run(manager.wait_for_termination([keys[0]], interval=0.2, timeout=20))
    names = cluster.kubectl("-n", namespace, "get", "cm", "-o", "name").stdout.split()
    assert "configmap/kept" in names and "configmap/foreign" in names
    assert "configmap/gone" not in names


def test_wait_for_reports_what_is_not_ready_and_why(
        namespace: str, manager: ResourceManager) -> None:
    ready = deployment(namespace, "ready")
    stuck = deployment(namespace, "stuck", nodeSelector={"afflux.dev/no-such-node": "x"})
    run(manager.apply_all_staged([ready, stuck], OPTIONS))
    run(manager.wait_for([ready], interval=0.5, timeout=60))
    with pytest.raises(WaitError) as caught:
        run(manager.wait_for([ready, stuck], interval=0.5, timeout=3))
    assert [p.key.name for p in caught.value.pending] == ["stuck"]
    assert caught.value.pending[0].status is HealthStatus.IN_PROGRESS
    assert str(caught.value).startswith(
        f"timeout waiting for: [Deployment/{namespace}/stuck status: 'InProgress'")


def test_secret_with_string_data_is_unchanged_on_the_next_run(
        namespace: str, manager: ResourceManager) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "creds", "namespace": namespace},
              "type": "Opaque", "stringData": {"password": "hunter2"}}
    assert actions(run(manager.apply_all_staged([secret], OPTIONS))) == {
        f"Secret/{namespace}/creds": "created"}
    assert actions(run(manager.apply_all_staged([secret], OPTIONS))) == {
        f"Secret/{namespace}/creds": "unchanged"}


def test_diff_writes_nothing(cluster: Any, namespace: str, manager: ResourceManager) -> None:
    obj = configmap(namespace, "compared", {"key": "one"})
    entry, live, dry = run(manager.diff(obj, OPTIONS))
    assert (entry.action, live) == (Action.CREATED, None) and dry is not None
    assert cluster.kubectl("-n", namespace, "get", "cm", "compared", check=False).returncode != 0
    run(manager.apply_all_staged([obj], OPTIONS))
    changed = configmap(namespace, "compared", {"key": "two"})
    entry, live, dry = run(manager.diff(changed, OPTIONS))
    assert entry.action is Action.CONFIGURED
    assert live is not None and dry is not None
    assert (live["data"], dry["data"]) == ({"key": "one"}, {"key": "two"})
    assert "managedFields" not in live["metadata"]
    assert get_json(cluster, "-n", namespace, "cm", "compared")["data"] == {"key": "one"}
    entry, _, _ = run(manager.diff(obj, OPTIONS))
    assert entry.action is Action.UNCHANGED
