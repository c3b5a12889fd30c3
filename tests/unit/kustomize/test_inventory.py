"""Inventory ids and entries, stale objects, prune exclusions, and apply/delete order."""

from __future__ import annotations

import pytest

from afflux.controllers.kustomize._inventory import (
    ObjectRef,
    apply_order,
    apply_stages,
    delete_order,
    inventory_entries,
    object_ref,
    prune_blocker,
    refs_from_entries,
    stale_refs,
)


def obj(api_version: str, kind: str, name: str, namespace: str | None = None, **meta: dict) -> dict:
    metadata: dict = {"name": name, **meta}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


CRD = obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com")
NS = obj("v1", "Namespace", "apps")
CLUSTER_ROLE = obj("rbac.authorization.k8s.io/v1", "ClusterRole", "viewer")
WEBHOOK = obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "check")
SA = obj("v1", "ServiceAccount", "web", "apps")
CM = obj("v1", "ConfigMap", "web", "apps")
SVC = obj("v1", "Service", "web", "apps")
DEPLOY = obj("apps/v1", "Deployment", "web", "apps")
WIDGET = obj("example.com/v1", "Widget", "w1", "apps")
RBAC_COLON = obj("rbac.authorization.k8s.io/v1", "ClusterRole", "system:viewers")

ID_CASES = [
    ("namespaced-core", SVC, "apps_web__Service", "v1"),
    ("namespaced-grouped", DEPLOY, "apps_web_apps_Deployment", "v1"),
    ("cluster-core", NS, "_apps__Namespace", "v1"),
    ("cluster-grouped", CRD,
     "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition", "v1"),
    ("colon-in-name", RBAC_COLON,
     "_system__viewers_rbac.authorization.k8s.io_ClusterRole", "v1"),
]


@pytest.mark.parametrize(
    ("o", "entry_id", "version"), [c[1:] for c in ID_CASES], ids=[c[0] for c in ID_CASES]
)
def test_inventory_id_round_trip(o: dict, entry_id: str, version: str) -> None:
    ref = object_ref(o)
    assert (ref.id, ref.version) == (entry_id, version)
    [back] = refs_from_entries([{"id": entry_id, "v": version}])
    assert back == ref
    assert (back.name, back.namespace) == (o["metadata"]["name"], o["metadata"].get("namespace", ""))


@pytest.mark.parametrize(
    "bad",
    [{"kind": "ConfigMap", "metadata": {"name": "x"}},
     {"apiVersion": "v1", "metadata": {"name": "x"}},
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}],
    ids=["no-apiversion", "no-kind", "no-name"],
)
def test_object_without_identity_is_rejected(bad: dict) -> None:
    with pytest.raises(ValueError, match="apiVersion, kind or metadata.name"):
        object_ref(bad)


def test_inventory_entries_are_unique_and_in_apply_order() -> None:
    entries = inventory_entries([DEPLOY, NS, SVC, CRD, DEPLOY])
    assert entries == [
        {"id": "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition", "v": "v1"},
        {"id": "_apps__Namespace", "v": "v1"},
        {"id": "apps_web__Service", "v": "v1"},
        {"id": "apps_web_apps_Deployment", "v": "v1"},
    ]


def test_empty_inventory() -> None:
    assert refs_from_entries(None) == []
    assert inventory_entries([]) == []


STALE_CASES = [
    ("nothing-removed", [SVC, DEPLOY], [SVC, DEPLOY], []),
    ("one-removed", [SVC, DEPLOY], [DEPLOY], ["apps_web__Service"]),
    ("version-change-is-not-stale",
     [obj("autoscaling/v1", "HorizontalPodAutoscaler", "web", "apps")],
     [obj("autoscaling/v2", "HorizontalPodAutoscaler", "web", "apps")], []),
    ("namespace-change-is-stale", [SVC], [obj("v1", "Service", "web", "other")],
     ["apps_web__Service"]),
    ("all-removed-in-delete-order", [NS, CRD, DEPLOY, CLUSTER_ROLE], [],
     ["apps_web_apps_Deployment", "_viewer_rbac.authorization.k8s.io_ClusterRole",
      "_apps__Namespace", "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition"]),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"), [c[1:] for c in STALE_CASES], ids=[c[0] for c in STALE_CASES]
)
def test_stale_refs(old: list, new: list, expected: list) -> None:
    old_refs = refs_from_entries(inventory_entries(old))
    assert [r.id for r in stale_refs(old_refs, new)] == expected


OWNER = {"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux"}

PRUNE_CASES = [
    ("owned-is-pruned", obj("v1", "ConfigMap", "c", "apps", labels=OWNER), None),
    ("gone", None, "no longer exists"),
    ("prune-disabled-annotation",
     obj("v1", "ConfigMap", "c", "apps", labels=OWNER,
         annotations={"kustomize.toolkit.fluxcd.io/prune": "disabled"}), "prune: disabled"),
    ("prune-disabled-label-any-case",
     obj("v1", "ConfigMap", "c", "apps",
         labels={**OWNER, "kustomize.toolkit.fluxcd.io/prune": "Disabled"}), "prune: disabled"),
    ("reconcile-disabled",
     obj("v1", "ConfigMap", "c", "apps", labels=OWNER,
         annotations={"kustomize.toolkit.fluxcd.io/reconcile": "disabled"}), "reconcile: disabled"),
    ("prune-enabled-is-pruned",
     obj("v1", "ConfigMap", "c", "apps", labels=OWNER,
         annotations={"kustomize.toolkit.fluxcd.io/prune": "enabled"}), None),
    ("taken-over-by-another",
     obj("v1", "ConfigMap", "c", "apps",
         labels={**OWNER, "kustomize.toolkit.fluxcd.io/name": "other"}), "flux/other"),
    ("owner-labels-removed", obj("v1", "ConfigMap", "c", "apps"), "no kustomize.toolkit"),
]


@pytest.mark.parametrize(
    ("live", "blocked"), [c[1:] for c in PRUNE_CASES], ids=[c[0] for c in PRUNE_CASES]
)
def test_prune_blocker(live: dict | None, blocked: str | None) -> None:
    reason = prune_blocker(live, "apps", "flux")
    if blocked is None:
        assert reason is None
    else:
        assert reason is not None and blocked in reason


def test_apply_stages() -> None:
    stages = apply_stages([DEPLOY, WIDGET, SVC, CM, WEBHOOK, CLUSTER_ROLE, SA, NS, CRD])
    assert [[o["kind"] for o in stage] for stage in stages] == [
        ["CustomResourceDefinition", "Namespace"],
        ["ClusterRole", "ValidatingWebhookConfiguration"],
        ["ServiceAccount", "ConfigMap", "Service", "Deployment", "Widget"],
    ]


def test_empty_stages_are_left_out() -> None:
    assert [len(s) for s in apply_stages([DEPLOY, SVC])] == [2]


def test_order_within_a_kind_is_by_namespace_then_name() -> None:
    objects = [obj("v1", "ConfigMap", n, ns) for ns, n in [("b", "a"), ("a", "z"), ("a", "b")]]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in apply_order(objects)] == [
        ("a", "b"), ("a", "z"), ("b", "a")]


def test_unlisted_kinds_sort_alphabetically_between_listed_ones() -> None:
    objects = [obj("v1", "Pod", "p", "x"), obj("x/v1", "Alpha", "a", "x"), SVC]
    assert [o["kind"] for o in apply_order(objects)] == ["Service", "Alpha", "Pod"]


def test_scope_callback_overrides_missing_namespace() -> None:
    # a namespaced custom object whose namespace will be defaulted later
    widget = obj("example.com/v1", "Widget", "w")
    stages = apply_stages([widget, CLUSTER_ROLE], namespaced=lambda ref: ref.kind == "Widget")
    assert [[o["kind"] for o in s] for s in stages] == [["ClusterRole"], ["Widget"]]


def test_delete_order_is_reverse_apply_order() -> None:
    objects = [DEPLOY, WIDGET, SVC, CM, WEBHOOK, CLUSTER_ROLE, SA, NS, CRD]
    applied = [object_ref(o) for o in apply_order(objects)]
    assert delete_order(objects) == list(reversed(applied))
    assert delete_order(objects)[-2:] == [object_ref(NS), object_ref(CRD)]


def test_delete_order_accepts_refs_and_drops_duplicates() -> None:
    ref = ObjectRef("apps", "web", "", "Service", "v1")
    assert delete_order([ref, SVC]) == [ref]
