"""diff's pure parts: server-managed fields dropped, Secrets masked, unified diffs, inventory
ids, the reconcile/prune opt-outs."""

from __future__ import annotations

from afflux.cli import _difffmt as fmt

LIVE = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web", "namespace": "apps", "uid": "u-1", "resourceVersion": "42",
        "generation": 3, "creationTimestamp": "2024-01-01T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
        "annotations": {"deployment.kubernetes.io/revision": "3"},
        "labels": {"app": "web"},
    },
    "spec": {"replicas": 2},
    "status": {"readyReplicas": 2},
}


def test_normalize_drops_what_the_server_manages() -> None:
    out = fmt.normalize(LIVE)
    assert out == {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
                   "spec": {"replicas": 2}}
    assert LIVE["metadata"]["uid"] == "u-1"  # the input is not changed


def test_unified_diff_shows_the_change() -> None:
    merged = {**fmt.normalize(LIVE), "spec": {"replicas": 3}}
    text = fmt.unified_diff(fmt.normalize(LIVE), merged, "Deployment/apps/web")
    assert text.startswith("--- live Deployment/apps/web\n+++ merged Deployment/apps/web\n")
    assert "-  replicas: 2\n" in text
    assert "+  replicas: 3\n" in text
    assert fmt.unified_diff(merged, merged, "x") == ""


def test_changed() -> None:
    assert not fmt.changed(LIVE, {**LIVE, "metadata": {**LIVE["metadata"], "uid": "other"}})
    assert fmt.changed(LIVE, {**LIVE, "spec": {"replicas": 1}})


def test_secrets_are_masked_but_changes_show() -> None:
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"same": "YQ==", "old": "Yg==", "gone": "Yw=="}}
    merged = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "data": {"same": "YQ==", "old": "ZA==", "new": "ZQ=="}}
    before, after = fmt.mask_secrets(live, merged)
    assert before is not None
    assert before["data"] == {"same": "*****", "old": "***** (before)",
                              "gone": "***** (before)"}
    assert after["data"] == {"same": "*****", "old": "***** (after)", "new": "***** (after)"}
    text = fmt.unified_diff(before, after, "Secret/s")
    assert "YQ==" not in text and "ZA==" not in text
    config = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}}
    assert fmt.mask_secrets(config, config) == (config, config)
    assert fmt.mask_secrets(None, merged)[0] is None


def test_object_label_and_id() -> None:
    assert fmt.object_label(LIVE) == "Deployment/apps/web"
    assert fmt.object_label({"kind": "Namespace", "metadata": {"name": "apps"}}) == \
        "Namespace/apps"
    assert fmt.object_id(LIVE) == "apps_web_apps_Deployment"
    assert fmt.object_id({"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": "apps"}}) == "_apps__Namespace"


def test_inventory_ids() -> None:
    ks = {"status": {"inventory": {"entries": [
        {"id": "apps_web_apps_Deployment", "v": "v1"},
        {"id": "_apps__Namespace", "v": "v1"},
        {"id": "broken", "v": "v1"},
    ]}}}
    assert fmt.inventory_ids(ks) == [
        ("apps_web_apps_Deployment", "apps", "web", "apps/v1", "Deployment"),
        ("_apps__Namespace", "", "apps", "v1", "Namespace"),
    ]
    assert fmt.inventory_ids({}) == []


def test_opt_outs() -> None:
    obj = {"metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"},
                        "labels": {"kustomize.toolkit.fluxcd.io/prune": "Disabled"}}}
    assert fmt.reconcile_disabled(obj)
    assert fmt.prune_disabled(obj)
    assert not fmt.reconcile_disabled({"metadata": {}})


def test_summary() -> None:
    assert fmt.summary(["a"], [], ["b", "c"]) == "1 created, 0 drifted, 2 deleted"
