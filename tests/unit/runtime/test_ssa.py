"""The server-side apply engine without a cluster: its pure parts, table-driven, and its
decisions against a tiny in-memory API server that answers discovery, GET, dry-run and real
applies (a dry-run returns the live object with the desired fields laid over it, the way the
server would, so what the engine compares is realistic enough).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from afflux.controllers.runtime._discovery import RESTMapper, UnknownKindError, resources_of
from afflux.controllers.runtime._kstatus import HealthStatus
from afflux.controllers.runtime._kube import ApiError
from afflux.controllers.runtime._object import ObjectRef
from afflux.controllers.runtime._ssa import (
    CREATE_ONLY_RV,
    Action,
    ApplyError,
    ApplyOptions,
    ChangeSet,
    ChangeSetEntry,
    Cleanup,
    DeleteOptions,
    FieldManager,
    ObjectHealth,
    ObjectKey,
    ResourceManager,
    WaitError,
    apply_order,
    apply_stages,
    cleanup_patch,
    comparable,
    has_drifted,
    is_immutable_error,
    matches_any,
    overridden_managers,
    parse_group_kinds,
    served_kinds,
    take_over_managed_fields,
)

OWNER = "kustomize-controller"
SSA = "kustomize.toolkit.fluxcd.io/ssa"
OPTIONS = ApplyOptions(
    force_selector={"kustomize.toolkit.fluxcd.io/force": "enabled"},
    exclusion_selector={"kustomize.toolkit.fluxcd.io/reconcile": "disabled", SSA: "Ignore"},
    if_not_present_selector={SSA: "IfNotPresent"},
    cleanup=Cleanup(annotations=("kubectl.kubernetes.io/last-applied-configuration",),
                    field_managers=(FieldManager("kubectl", "Update"),),
                    exclusions={SSA: "Merge"}),
    wait_interval=1.0,
    wait_timeout=10.0,
)

# --- a tiny API server ---------------------------------------------------------------------------

DISCOVERY = {
    "/api/v1": {"resources": [
        {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
        {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        {"name": "pods/log", "kind": "Pod", "namespaced": True},
    ]},
    "/apis/apps/v1": {"resources": [
        {"name": "deployments", "kind": "Deployment", "namespaced": True},
        {"name": "deployments/status", "kind": "Deployment", "namespaced": True},
    ]},
    "/apis/rbac.authorization.k8s.io/v1": {"resources": [
        {"name": "clusterroles", "kind": "ClusterRole", "namespaced": False},
    ]},
    "/apis/apiextensions.k8s.io/v1": {"resources": [
        {"name": "customresourcedefinitions", "kind": "CustomResourceDefinition",
         "namespaced": False},
    ]},
}

_rv = itertools.count(100)


def overlay(base: Any, top: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(top, Mapping):
        out = dict(base)
        for key, value in top.items():
            out[key] = overlay(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(top)


class TinyServer:
    """Objects by path; every call recorded as (verb, path)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.dry_run_error: ApiError | None = None
        #: objects (by path) the server refuses, dry-run or not
        self.refuse: dict[str, ApiError] = {}
        self.discovery = copy.deepcopy(DISCOVERY)

    def put(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        obj.setdefault("metadata", {})["resourceVersion"] = str(next(_rv))
        self.objects[path] = obj
        return obj

    async def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        self.calls.append(("get", ref.path()))
        found = self.objects.get(ref.path())
        return copy.deepcopy(found) if found is not None else None

    async def get_path(self, path: str) -> dict[str, Any] | None:
        self.calls.append(("discover", path))
        return copy.deepcopy(self.discovery.get(path))

    async def patch(self, ref: ObjectRef, patch: Any, *, patch_type: str = "merge",
                    subresource: str | None = None, field_manager: str | None = None,
                    force: bool | None = None, dry_run: bool = False) -> dict[str, Any]:
        path = ref.path()
        live = self.objects.get(path)
        if patch_type == "json":
            self.calls.append(("cleanup", path))
            assert live is not None
            for op in patch:
                if op["op"] == "replace" and op["path"] == "/metadata/managedFields":
                    live["metadata"]["managedFields"] = op["value"]
                elif op["op"] == "remove":
                    key = op["path"].split("/")[-1].replace("~1", "/")
                    live["metadata"]["annotations"].pop(key, None)
            return copy.deepcopy(live)
        assert patch_type == "apply" and field_manager == OWNER and force is True
        self.calls.append(("dry-run" if dry_run else "apply", path))
        if path in self.refuse:
            raise self.refuse[path]
        rv = (patch.get("metadata") or {}).get("resourceVersion")
        if live is not None and rv is not None and rv != live["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        if dry_run:
            if self.dry_run_error is not None:
                raise self.dry_run_error
            result = overlay(live or {}, patch)
            if live is None:
                result["metadata"].pop("resourceVersion", None)
            return result
        return self.put(path, overlay(live or {}, patch))

    async def delete(self, ref: ObjectRef, *, propagation_policy: str | None = None) -> None:
        self.calls.append(("delete", ref.path()))
        assert propagation_policy == "Background"
        self.objects.pop(ref.path(), None)
        self.dry_run_error = None  # a recreated object has nothing immutable in its way


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def cm(name: str = "settings", data: Mapping[str, str] | None = None, *,
       annotations: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
       namespace: str | None = "apps") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": dict(data or {"key": "value"})}


CM_PATH = "/api/v1/namespaces/apps/configmaps/settings"
KUBECTL_FIELDS = {"manager": "kubectl-label", "operation": "Update", "apiVersion": "v1",
                  "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {
                      "f:team": {}}}}}


# --- decisions -------------------------------------------------------------------------------------

# (live object in the cluster or None, desired object, expected action, expected writes)
DECISIONS = {
    "absent-is-created": (None, cm(), Action.CREATED, ["apply"]),
    "same-is-unchanged": (cm(), cm(), Action.UNCHANGED, []),
    "changed-data-is-configured": (cm(data={"key": "old"}), cm(), Action.CONFIGURED, ["apply"]),
    "changed-label-is-configured": (cm(labels={"app": "old"}), cm(labels={"app": "new"}),
                                    Action.CONFIGURED, ["apply"]),
    "status-and-bookkeeping-do-not-count": (
        {**cm(), "status": {"x": 1}, "metadata": {**cm()["metadata"], "generation": 7,
                                                  "uid": "u", "creationTimestamp": "t"}},
        cm(), Action.UNCHANGED, []),
    "ignore-on-desired-is-skipped": (None, cm(annotations={SSA: "Ignore"}), Action.SKIPPED, []),
    "reconcile-disabled-in-cluster-is-skipped": (
        cm(data={"key": "mine"}, annotations={"kustomize.toolkit.fluxcd.io/reconcile": "Disabled"}),
        cm(), Action.SKIPPED, []),
    "if-not-present-existing-is-skipped": (cm(data={"key": "theirs"}),
                                           cm(annotations={SSA: "IfNotPresent"}),
                                           Action.SKIPPED, []),
    "if-not-present-absent-is-created": (None, cm(annotations={SSA: "IfNotPresent"}),
                                         Action.CREATED, ["apply"]),
    "kubectl-fields-are-taken-over-and-reapplied": (
        {**cm(), "metadata": {**cm()["metadata"], "managedFields": [KUBECTL_FIELDS]}},
        cm(), Action.CONFIGURED, ["cleanup", "apply"]),
    "merge-keeps-kubectl-fields": (
        {**cm(annotations={SSA: "Merge"}),
         "metadata": {**cm(annotations={SSA: "Merge"})["metadata"],
                      "managedFields": [KUBECTL_FIELDS]}},
        cm(annotations={SSA: "Merge"}), Action.UNCHANGED, []),
}


@pytest.mark.parametrize(("live", "desired", "action", "writes"), DECISIONS.values(),
                         ids=DECISIONS.keys())
def test_apply_decision(live: dict[str, Any] | None, desired: dict[str, Any], action: Action,
                        writes: list[str]) -> None:
    server = TinyServer()
    if live is not None:
        server.put(CM_PATH, live)
    manager = ResourceManager(server, field_manager=OWNER)  # type: ignore[arg-type]
    entry = run(manager.apply(desired, OPTIONS))
    assert entry == ChangeSetEntry(ObjectKey("v1", "ConfigMap", "apps", "settings"), action)
    assert [verb for verb, _ in server.calls if verb in ("cleanup", "apply", "delete")] == writes
    if action is Action.SKIPPED:
        assert ("dry-run", CM_PATH) not in server.calls


@pytest.mark.parametrize(("force", "annotation", "recreated"), [
    (False, None, False), (True, None, True), (False, "enabled", True), (False, "Enabled", True),
], ids=["refused", "spec-force", "force-annotation", "force-annotation-any-case"])
def test_immutable_field(force: bool, annotation: str | None, recreated: bool) -> None:
    server = TinyServer()
    server.put(CM_PATH, cm(data={"key": "old"}))
    server.dry_run_error = ApiError(422, "Invalid", 'ConfigMap "settings" is invalid: data: '
                                    "Forbidden: field is immutable when `immutable` is set")
    desired = cm(annotations={"kustomize.toolkit.fluxcd.io/force": annotation} if annotation
                 else None)
    manager = ResourceManager(server, field_manager=OWNER,  # type: ignore[arg-type]
                              sleep=lambda _: asyncio.sleep(0))
    opts = ApplyOptions(**{**OPTIONS.__dict__, "force": force})
    if not recreated:
        with pytest.raises(ApplyError, match=r"^ConfigMap/apps/settings dry-run failed "
                                             r"\(Invalid\): .*field is immutable"):
            run(manager.apply(desired, opts))
        return
    entry = run(manager.apply(desired, opts))
    assert entry.action is Action.CREATED
    assert [v for v, _ in server.calls if v in ("delete", "apply")] == ["delete", "apply"]


def test_namespaced_kind_without_namespace_is_an_error() -> None:
    manager = ResourceManager(TinyServer(), field_manager=OWNER)  # type: ignore[arg-type]
    with pytest.raises(ApplyError, match="ConfigMap/settings namespace not specified"):
        run(manager.apply(cm(namespace=None), OPTIONS))


def test_apply_all_applies_nothing_when_one_dry_run_fails() -> None:
    server = TinyServer()
    manager = ResourceManager(server, field_manager=OWNER)  # type: ignore[arg-type]
    ghost = {"apiVersion": "ghosts.dev/v1", "kind": "Ghost",
             "metadata": {"name": "boo", "namespace": "apps"}}
    server.discovery["/apis/ghosts.dev/v1"] = {"resources": []}
    with pytest.raises(ApplyError) as caught:
        run(manager.apply_all([cm(), ghost], OPTIONS))
    assert caught.value.subject == "Ghost/apps/boo"
    assert len(caught.value.change_set) == 0
    assert not [c for c in server.calls if c[0] == "apply"]


def cm_path(name: str) -> str:
    return f"/api/v1/namespaces/apps/configmaps/{name}"


INVALID = ApiError(422, "Invalid", "data: Invalid value")


# (objects in the cluster already, objects refused as invalid, expected error subject or
# None, expected API calls (verb, object name) in order; a refused create-only request is
# followed by the full path's GET and dry-run, which say why)
CREATE_FIRST = {
    "all-new: the first is not dry-run, created first": (
        [], [], None,
        [("dry-run", "b"), ("dry-run", "c"), ("apply", "a"), ("apply", "b"), ("apply", "c")]),
    "the second invalid: nothing applied, the first checked then": (
        [], ["b"], "ConfigMap/apps/b",
        [("dry-run", "b"), ("get", "b"), ("dry-run", "b"), ("dry-run", "c"), ("dry-run", "a")]),
    "the first and the third invalid: the first reported": (
        [], ["a", "c"], "ConfigMap/apps/a",
        [("dry-run", "b"), ("dry-run", "c"), ("get", "c"), ("dry-run", "c"), ("dry-run", "a"),
         ("get", "a"), ("dry-run", "a")]),
    "the first invalid: its apply refused, its dry-run says why, nothing written": (
        [], ["a"], "ConfigMap/apps/a",
        [("dry-run", "b"), ("dry-run", "c"), ("apply", "a"), ("get", "a"), ("dry-run", "a")]),
    "the first there after all: the full path, unchanged": (
        ["a"], [], None,
        [("dry-run", "b"), ("dry-run", "c"), ("apply", "a"), ("get", "a"), ("dry-run", "a"),
         ("apply", "b"), ("apply", "c")]),
}


@pytest.mark.parametrize(("existing", "invalid", "failed", "calls"), CREATE_FIRST.values(),
                         ids=CREATE_FIRST.keys())
def test_apply_all_creates_the_first_known_absent_object_without_a_dry_run(
        existing: list[str], invalid: list[str], failed: str | None,
        calls: list[tuple[str, str]]) -> None:
    server = TinyServer()
    for name in existing:
        server.put(cm_path(name), cm(name))
    for name in invalid:
        server.refuse[cm_path(name)] = INVALID
    manager = ResourceManager(server, field_manager=OWNER)  # type: ignore[arg-type]
    # the hint believes all three absent; one at a time, so the calls come in order
    opts = ApplyOptions(**{**OPTIONS.__dict__, "concurrency": 1,
                           "known_absent": lambda key, body: True})
    objects = [cm("c"), cm("a"), cm("b")]
    if failed is not None:
        with pytest.raises(ApplyError, match=f"^{failed} dry-run failed \\(Invalid\\)") as caught:
            run(manager.apply_all(objects, opts))
        assert len(caught.value.change_set) == 0
        assert not [path for path in server.objects if path not in map(cm_path, existing)]
    else:
        change_set = run(manager.apply_all(objects, opts))
        expected = {"a": "unchanged" if existing else "created", "b": "created",
                    "c": "created"}
        assert change_set.to_map() == {f"ConfigMap/apps/{n}": a for n, a in expected.items()}
        assert sorted(server.objects) == [cm_path(n) for n in "abc"]
    assert [(verb, path.rsplit("/", 1)[1]) for verb, path in server.calls
            if verb != "discover"] == calls


def test_create_only_precondition_is_refused_by_an_existing_object() -> None:
    server = TinyServer()
    server.put(CM_PATH, cm())
    ref = ObjectRef(run(RESTMapper(server).resource_for("v1", "ConfigMap")),  # type: ignore[arg-type]
                    "apps", "settings")
    body = {**cm(), "metadata": {**cm()["metadata"], "resourceVersion": CREATE_ONLY_RV}}
    with pytest.raises(ApiError, match="409"):
        run(server.patch(ref, body, patch_type="apply", field_manager=OWNER, force=True))


def test_staged_apply_reports_what_was_applied_before_a_failure() -> None:
    server = TinyServer()
    manager = ResourceManager(server, field_manager=OWNER,  # type: ignore[arg-type]
                              sleep=lambda _: asyncio.sleep(0))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "reader"}}
    ghost = {"apiVersion": "ghosts.dev/v1", "kind": "Ghost",
             "metadata": {"name": "boo", "namespace": "apps"}}
    with pytest.raises(ApplyError) as caught:
        run(manager.apply_all_staged([ghost, cm(), role, namespace], OPTIONS))
    assert str(caught.value.change_set) == "Namespace/apps created\nClusterRole/reader created"
    assert 'no matches for kind "Ghost" in version "ghosts.dev/v1"' in str(caught.value)


def test_delete_all_skips_protected_objects_and_reverses_the_order() -> None:
    server = TinyServer()
    server.put("/api/v1/namespaces/apps", {"metadata": {"name": "apps"}})
    server.put(CM_PATH, cm())
    server.put("/api/v1/namespaces/apps/configmaps/kept",
               cm("kept", annotations={"kustomize.toolkit.fluxcd.io/prune": "disabled"}))
    server.put("/api/v1/namespaces/apps/configmaps/foreign", cm("foreign"))
    manager = ResourceManager(server, field_manager=OWNER)  # type: ignore[arg-type]
    keys = [ObjectKey("v1", "Namespace", "", "apps"),
            ObjectKey("v1", "ConfigMap", "apps", "settings"),
            ObjectKey("v1", "ConfigMap", "apps", "kept"),
            ObjectKey("v1", "ConfigMap", "apps", "foreign"),
            ObjectKey("v1", "ConfigMap", "apps", "absent"),
            ObjectKey("gone.dev/v1", "Gone", "apps", "x")]
    opts = DeleteOptions(exclusions={"kustomize.toolkit.fluxcd.io/prune": "disabled"},
                         blocker=lambda o: "foreign" if o["metadata"]["name"] == "foreign"
                         else None)
    server.discovery["/apis/gone.dev/v1"] = {"resources": []}
    result = run(manager.delete_all(keys, opts))
    assert result.to_map() == {"ConfigMap/apps/settings": "deleted",
                               "ConfigMap/apps/kept": "skipped",
                               "ConfigMap/apps/foreign": "skipped",
                               "Namespace/apps": "deleted"}
    assert [p for v, p in server.calls if v == "delete"] == [CM_PATH, "/api/v1/namespaces/apps"]


# --- waiting ---------------------------------------------------------------------------------------


def _deployment(ready: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "apps", "generation": 1},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": ready, "availableReplicas": ready,
                       "conditions": [{"type": "Available", "status": str(bool(ready))},
                                      {"type": "Progressing", "status": "True",
                                       "reason": "NewReplicaSetAvailable"}]}}


def test_wait_for_times_out_naming_what_is_not_ready() -> None:
    server = TinyServer()
    server.put("/apis/apps/v1/namespaces/apps/deployments/web", _deployment(ready=0))
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    manager = ResourceManager(server, field_manager=OWNER,  # type: ignore[arg-type]
                              clock=lambda: now[0], sleep=sleep)
    keys = [ObjectKey("apps/v1", "Deployment", "apps", "web"),
            ObjectKey("v1", "ConfigMap", "apps", "missing")]
    with pytest.raises(WaitError) as caught:
        run(manager.wait_for(keys, interval=2, timeout=10))
    assert now[0] == 10
    assert str(caught.value) == (
        "timeout waiting for: [Deployment/apps/web status: 'InProgress': Available: 0/1, "
        "ConfigMap/apps/missing status: 'NotFound': Resource not found]")


def test_wait_for_returns_once_everything_is_current() -> None:
    server = TinyServer()
    path = "/apis/apps/v1/namespaces/apps/deployments/web"
    server.put(path, _deployment(ready=0))
    polls = [0]

    async def sleep(_: float) -> None:
        polls[0] += 1
        server.put(path, _deployment(ready=1))

    manager = ResourceManager(server, field_manager=OWNER, sleep=sleep)  # type: ignore[arg-type]
    result = run(manager.wait_for([_deployment(1)], interval=0.1, timeout=60))
    assert polls == [1] and result[0].status is HealthStatus.CURRENT


# --- pure parts ------------------------------------------------------------------------------------

STAGES = {
    "crds-and-namespaces-first": (
        [("v1", "ConfigMap", "apps", "c"), ("v1", "Namespace", "", "apps"),
         ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "things.x.dev")],
        [["CustomResourceDefinition/things.x.dev", "Namespace/apps"], ["ConfigMap/apps/c"]]),
    "cluster-scoped-before-namespaced": (
        [("apps/v1", "Deployment", "apps", "web"),
         ("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader")],
        [["ClusterRole/reader"], ["Deployment/apps/web"]]),
    "unknown-scope-goes-last": (
        [("x.dev/v1", "Thing", "", "t"), ("rbac.authorization.k8s.io/v1", "ClusterRole", "", "r")],
        [["ClusterRole/r"], ["Thing/t"]]),
    "kinds-in-customary-order": (
        [("apps/v1", "Deployment", "a", "web"), ("v1", "Service", "a", "web"),
         ("v1", "ServiceAccount", "a", "sa"), ("v1", "ConfigMap", "a", "b"),
         ("v1", "ConfigMap", "a", "a"), ("x.dev/v1", "Widget", "a", "w")],
        [["ServiceAccount/a/sa", "ConfigMap/a/a", "ConfigMap/a/b", "Service/a/web",
          "Deployment/a/web", "Widget/a/w"]]),
}


def _bodies(objects: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    return [{"apiVersion": a, "kind": k, "metadata": {"name": n, **({"namespace": ns} if ns
                                                                    else {})}}
            for a, k, ns, n in objects]


@pytest.mark.parametrize(("objects", "expected"), STAGES.values(), ids=STAGES.keys())
def test_apply_stages(objects: list[tuple[str, str, str, str]],
                      expected: list[list[str]]) -> None:
    scope = {"ClusterRole": False, "Thing": None}
    stages = apply_stages(_bodies(objects), lambda key: scope.get(key.kind))
    assert [[ObjectKey.of(o).subject for o in stage] for stage in stages] == expected


CUSTOM = frozenset({("rbac.authorization.k8s.io", "Role"), ("", "Secret"),
                    ("gateway.networking.k8s.io", "GatewayClass"),
                    ("apiextensions.k8s.io", "CustomResourceDefinition")})
CUSTOM_STAGES = {
    "custom-kinds-after-cluster-scoped-before-namespaced": (
        [("v1", "ConfigMap", "a", "c"), ("rbac.authorization.k8s.io/v1", "Role", "a", "r"),
         ("v1", "Secret", "a", "s"), ("rbac.authorization.k8s.io/v1", "ClusterRole", "", "cr")],
        [["ClusterRole/cr"], ["Secret/a/s", "Role/a/r"], ["ConfigMap/a/c"]]),
    "group-must-match": (
        [("other.dev/v1", "Role", "a", "r"), ("v1", "ConfigMap", "a", "c")],
        [["ConfigMap/a/c", "Role/a/r"]]),
    "definitions-and-classes-keep-their-stage": (
        [("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "x.dev"),
         ("gateway.networking.k8s.io/v1", "GatewayClass", "", "gc"),
         ("rbac.authorization.k8s.io/v1", "Role", "a", "r")],
        [["CustomResourceDefinition/x.dev"], ["GatewayClass/gc"], ["Role/a/r"]]),
}


@pytest.mark.parametrize(("objects", "expected"), CUSTOM_STAGES.values(),
                         ids=CUSTOM_STAGES.keys())
def test_custom_apply_stage(objects: list[tuple[str, str, str, str]],
                            expected: list[list[str]]) -> None:
    scope = {"ClusterRole": False, "GatewayClass": False}
    stages = apply_stages(_bodies(objects), lambda key: scope.get(key.kind), CUSTOM)
    assert [[ObjectKey.of(o).subject for o in stage] for stage in stages] == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("", frozenset(), id="empty"),
    pytest.param("rbac.authorization.k8s.io/Role, Secret",
                 frozenset({("rbac.authorization.k8s.io", "Role"), ("", "Secret")}),
                 id="group-kind-and-core-kind"),
    pytest.param("gateway.networking.k8s.io/Gateway",
                 frozenset({("gateway.networking.k8s.io", "Gateway")}), id="one"),
])
def test_parse_group_kinds(text: str, expected: frozenset[tuple[str, str]]) -> None:
    assert parse_group_kinds(text) == expected


@pytest.mark.parametrize("text", [
    pytest.param("apps/", id="no-kind"),
    pytest.param("Role,,Secret", id="empty-item"),
    pytest.param("a/b/Role", id="two-slashes"),
])
def test_parse_group_kinds_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="write group/Kind"):
        parse_group_kinds(text)


def test_overridden_managers_cover_apply_and_update() -> None:
    assert overridden_managers(["someone", ""]) == (
        FieldManager("someone", "Apply"), FieldManager("someone", "Update"))


def test_apply_order_puts_webhooks_last() -> None:
    kinds = ["ValidatingWebhookConfiguration", "Secret", "MutatingWebhookConfiguration", "Zebra"]
    ordered = apply_order({"apiVersion": "v1", "kind": k, "metadata": {"name": "x"}}
                          for k in kinds)
    assert [o["kind"] for o in ordered] == ["Secret", "Zebra", "MutatingWebhookConfiguration",
                                            "ValidatingWebhookConfiguration"]


DRIFT = {
    "same": ({}, {}, False),
    "resource-version-and-managed-fields-ignored": (
        {"metadata": {"resourceVersion": "1", "managedFields": [{"manager": "a"}]}},
        {"metadata": {"resourceVersion": "2", "managedFields": [{"manager": "b"}]}}, False),
    "status-ignored": ({"status": {"a": 1}}, {"status": {"a": 2}}, False),
    "no-labels-equals-empty-labels": ({"metadata": {"labels": {}}}, {}, False),
    "label-changed": ({"metadata": {"labels": {"a": "1"}}}, {"metadata": {"labels": {"a": "2"}}},
                      True),
    "annotation-added": ({}, {"metadata": {"annotations": {"a": "1"}}}, True),
    "spec-changed": ({"spec": {"replicas": 1}}, {"spec": {"replicas": 2}}, True),
    "int-and-float-alike": ({"spec": {"replicas": 1}}, {"spec": {"replicas": 1.0}}, False),
}


@pytest.mark.parametrize(("live", "dry", "drifted"), DRIFT.values(), ids=DRIFT.keys())
def test_has_drifted(live: dict[str, Any], dry: dict[str, Any], drifted: bool) -> None:
    base = {"apiVersion": "v1", "kind": "ConfigMap"}
    live = overlay({**base, "metadata": {"name": "x", "resourceVersion": "1"}}, live)
    dry = overlay({**base, "metadata": {"name": "x", "resourceVersion": "1"}}, dry)
    assert has_drifted(live, dry) is drifted


def test_comparable_and_creation() -> None:
    assert comparable({"kind": "X", "metadata": {"name": "n", "uid": "u"}, "status": {}}) == {
        "kind": "X", "metadata": {"labels": {}, "annotations": {}}}
    assert has_drifted(None, {"metadata": {}})  # absent: always a change
    assert has_drifted({"metadata": {"resourceVersion": "1"}}, {"metadata": {}})


def test_take_over_managed_fields_merges_into_ours() -> None:
    entries = [
        {"manager": OWNER, "operation": "Apply", "apiVersion": "v1",
         "fieldsV1": {"f:data": {"f:key": {}}}},
        {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1",
         "fieldsV1": {"f:data": {"f:extra": {}}}},
        {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
         "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}}}}},
        {"manager": "kubectl", "operation": "Update", "subresource": "status",
         "fieldsV1": {"f:status": {}}},
        {"manager": "other", "operation": "Update", "fieldsV1": {"f:data": {"f:o": {}}}},
    ]
    result = take_over_managed_fields(entries, [FieldManager("kubectl", "Update")], OWNER)
    assert result is not None
    assert [(e["manager"], e["operation"]) for e in result] == [
        (OWNER, "Apply"), ("kubectl", "Update"), ("other", "Update")]
    assert result[0]["fieldsV1"] == {"f:data": {"f:key": {}, "f:extra": {}},
                                     "f:metadata": {"f:labels": {"f:x": {}}}}
    assert take_over_managed_fields(entries[:1], [FieldManager("kubectl", "Update")], OWNER) is None


def test_cleanup_patch() -> None:
    live = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                         "keep": "1"},
                         "labels": {"fluxcd.io/sync-gc-mark": "x"},
                         "managedFields": [KUBECTL_FIELDS]}}
    cleanup = Cleanup(annotations=("kubectl.kubernetes.io/last-applied-configuration",),
                      labels=("fluxcd.io/sync-gc-mark",),
                      field_managers=(FieldManager("kubectl", "Update"),))
    ops = cleanup_patch(live, cleanup, OWNER)
    assert [(o["op"], o["path"]) for o in ops] == [
        ("remove", "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"),
        ("remove", "/metadata/labels/fluxcd.io~1sync-gc-mark"),
        ("replace", "/metadata/managedFields")]
    assert cleanup_patch({"metadata": {}}, cleanup, OWNER) == []


@pytest.mark.parametrize(("meta", "hit"), [
    ({"annotations": {SSA: "Merge"}}, True),
    ({"labels": {SSA: "merge"}}, True),
    ({"annotations": {SSA: "Override"}}, False),
    ({}, False),
], ids=["annotation", "label-any-case", "other-value", "nothing"])
def test_matches_any(meta: dict[str, Any], hit: bool) -> None:
    assert matches_any({"metadata": meta}, {SSA: "Merge"}) is hit


@pytest.mark.parametrize(("status", "message", "immutable"), [
    (422, "spec.selector: Invalid value: ...: field is immutable", True),
    (422, "Forbidden: updates to statefulset spec for fields other than 'replicas' are "
          "forbidden", True),
    (422, "spec.replicas: Invalid value: \"many\"", False),
    (409, "field is immutable", False),
], ids=["field-is-immutable", "statefulset-forbidden", "plain-invalid", "not-invalid"])
def test_is_immutable_error(status: int, message: str, immutable: bool) -> None:
    assert is_immutable_error(ApiError(status, "Invalid", message)) is immutable


def test_change_set_messages() -> None:
    cs = ChangeSet([
        ChangeSetEntry(ObjectKey("v1", "Service", "default", "podinfo"), Action.CREATED),
        ChangeSetEntry(ObjectKey("v1", "Namespace", "", "apps"), Action.UNCHANGED),
        ChangeSetEntry(ObjectKey("apps/v1", "Deployment", "default", "podinfo"),
                       Action.CONFIGURED),
    ])
    assert str(cs.changed()) == ("Service/default/podinfo created\n"
                                 "Deployment/default/podinfo configured")
    assert cs.to_map()["Namespace/apps"] == "unchanged"
    assert str(ObjectHealth(ObjectKey("v1", "Pod", "a", "p"), HealthStatus.FAILED)) == (
        "Pod/a/p status: 'Failed'")


def test_rest_mapper_asks_again_for_an_unknown_kind() -> None:
    server = TinyServer()
    mapper = RESTMapper(server)  # type: ignore[arg-type]
    assert run(mapper.resource_for("apps/v1", "Deployment")).plural == "deployments"
    run(mapper.resource_for("apps/v1", "Deployment"))
    assert server.calls.count(("discover", "/apis/apps/v1")) == 1
    with pytest.raises(UnknownKindError, match='no matches for kind "Thing" in version '
                                               '"x.dev/v1"'):
        run(mapper.resource_for("x.dev/v1", "Thing"))
    server.discovery["/apis/x.dev/v1"] = {"resources": [
        {"name": "things", "kind": "Thing", "namespaced": False}]}  # its CRD got established
    thing = run(mapper.resource_for("x.dev/v1", "Thing"))
    assert (thing.plural, thing.namespaced) == ("things", False)


def test_resources_of_leaves_out_subresources() -> None:
    found = resources_of("", "v1", DISCOVERY["/api/v1"])
    assert sorted(found) == ["ConfigMap", "Namespace"]


def _crd(versions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.x.dev"},
            "spec": {"group": "x.dev", "names": {"kind": "Thing", "plural": "things"},
                     "versions": versions}}


SERVED = {
    "one-version": ([{"name": "v1"}], [("x.dev/v1", "Thing")]),
    "served-false-left-out": ([{"name": "v1"}, {"name": "v2", "served": False}],
                              [("x.dev/v1", "Thing")]),
    "two-versions": ([{"name": "v1beta1", "served": True}, {"name": "v1", "served": True}],
                     [("x.dev/v1beta1", "Thing"), ("x.dev/v1", "Thing")]),
    "no-versions": ([], []),
}


@pytest.mark.parametrize(("versions", "expected"), SERVED.values(), ids=SERVED.keys())
def test_served_kinds(versions: list[dict[str, Any]], expected: list[tuple[str, str]]) -> None:
    assert served_kinds(_crd(versions)) == expected


def test_wait_served_polls_discovery_until_the_new_kind_is_listed() -> None:
    server = TinyServer()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:  # discovery catches up with the Established CRD
            server.discovery["/apis/x.dev/v1"] = {"resources": [
                {"name": "things", "kind": "Thing", "namespaced": True}]}

    manager = ResourceManager(server, field_manager=OWNER,  # type: ignore[arg-type]
                              clock=lambda: 0.0, sleep=sleep)
    run(manager.wait_served([_crd([{"name": "v1"}])], interval=1, timeout=10))
    assert len(sleeps) == 2
    assert server.calls.count(("discover", "/apis/x.dev/v1")) == 3


def test_wait_served_times_out_naming_the_crd_and_kind() -> None:
    server = TinyServer()
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    manager = ResourceManager(server, field_manager=OWNER,  # type: ignore[arg-type]
                              clock=lambda: now[0], sleep=sleep)
    with pytest.raises(WaitError, match=r"CustomResourceDefinition/things.x.dev status: "
                                        r"'Unknown': Thing in x.dev/v1 is not served"):
        run(manager.wait_served([_crd([{"name": "v1"}])], interval=1, timeout=3))
    assert now[0] == 3


def _stuck() -> dict[str, Any]:
    """A Deployment past its progress deadline: kstatus Failed."""
    stuck = _deployment(ready=0)
    stuck["metadata"]["name"] = "stuck"
    stuck["status"]["conditions"][1] = {"type": "Progressing", "status": "False",
                                        "reason": "ProgressDeadlineExceeded"}
    return stuck


@pytest.mark.parametrize(("others", "fail_fast", "waited", "said"), [
    (["in progress"], True, 0, "failed early due to failed objects: [Deployment/apps/stuck"),
    (["in progress"], False, 10, "timeout waiting for: [Deployment/apps/stuck status: "
                                 "'Failed': Progress deadline exceeded, Deployment/apps/web"),
    (["current"], False, 0, "failed early due to failed objects: [Deployment/apps/stuck"),
    ([], False, 0, "failed early due to failed objects: [Deployment/apps/stuck"),
], ids=["fail-fast: the first Failed ends the wait",
        "without: waits on while another object is in progress",
        "without: ends once only Failed objects are left",
        "without: a lone Failed object ends the wait"])
def test_wait_for_a_failed_object(others: list[str], fail_fast: bool, waited: float,
                                  said: str) -> None:
    server = TinyServer()
    server.put("/apis/apps/v1/namespaces/apps/deployments/stuck", _stuck())
    keys = [ObjectKey("apps/v1", "Deployment", "apps", "stuck")]
    if others:
        server.put("/apis/apps/v1/namespaces/apps/deployments/web",
                   _deployment(ready=int(others[0] == "current")))
        keys.append(ObjectKey("apps/v1", "Deployment", "apps", "web"))
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    manager = ResourceManager(server, field_manager=OWNER,  # type: ignore[arg-type]
                              clock=lambda: now[0], sleep=sleep)
    with pytest.raises(WaitError) as caught:
        run(manager.wait_for(keys, interval=2, timeout=10, fail_fast=fail_fast))
    assert now[0] == waited
    assert str(caught.value).startswith(said), str(caught.value)
    assert caught.value.timed_out is (waited > 0)
