"""Drift of a release's objects: the diff, ignore rules, selectors and messages."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.helm._drift import (
    ObjectDrift,
    correction_patch,
    drift_message,
    ignored_paths,
    json_patch,
    object_drift,
    remove_pointer,
    selector_matches,
    target_matches,
)


def _cm(data: dict[str, str], labels: dict[str, str] | None = None, **extra: Any
        ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "app", "namespace": "ns", "resourceVersion": "7",
                            "managedFields": [{"manager": "helm"}]}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data, **extra}


@pytest.mark.parametrize(("live", "want", "ops"), [
    pytest.param({"a": 1}, {"a": 1}, [], id="equal"),
    pytest.param({"a": 1}, {"a": 2}, [{"op": "replace", "path": "/a", "value": 2}],
                 id="scalar-changed"),
    pytest.param({}, {"a": {"b": 1}}, [{"op": "add", "path": "/a", "value": {"b": 1}}],
                 id="map-added-whole"),
    pytest.param({"a": 1, "b": 2}, {"a": 1}, [{"op": "remove", "path": "/b"}],
                 id="key-removed"),
    pytest.param({"l": [1, {"x": 1}]}, {"l": [1, {"x": 2}]},
                 [{"op": "replace", "path": "/l/1/x", "value": 2}], id="same-length-list"),
    pytest.param({"l": [1]}, {"l": [1, 2]}, [{"op": "replace", "path": "/l", "value": [1, 2]}],
                 id="list-length-changed"),
    pytest.param({"a/b": 1, "c~d": 1}, {"a/b": 2, "c~d": 2},
                 [{"op": "replace", "path": "/a~1b", "value": 2},
                  {"op": "replace", "path": "/c~0d", "value": 2}], id="pointer-escapes"),
])
def test_json_patch(live: Any, want: Any, ops: list[dict[str, Any]]) -> None:
    assert json_patch(live, want) == ops


@pytest.mark.parametrize(("doc", "pointer", "left"), [
    pytest.param({"a": {"b": 1, "c": 2}}, "/a/b", {"a": {"c": 2}}, id="nested-key"),
    pytest.param({"a": [1, 2, 3]}, "/a/1", {"a": [1, 3]}, id="list-item"),
    pytest.param({"a": 1}, "/x/y", {"a": 1}, id="absent-path-ignored"),
    pytest.param({"a/b": 1}, "/a~1b", {}, id="escaped-slash"),
    pytest.param({"a": 1}, "a", {"a": 1}, id="not-a-pointer"),
])
def test_remove_pointer(doc: Any, pointer: str, left: Any) -> None:
    remove_pointer(doc, pointer)
    assert doc == left


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    pytest.param("", {}, True, id="empty-matches-all"),
    pytest.param("app=web", {"app": "web"}, True, id="equal"),
    pytest.param("app==web", {"app": "db"}, False, id="double-equal-differs"),
    pytest.param("app!=web", {"app": "db"}, True, id="not-equal"),
    pytest.param("app!=web", {}, True, id="not-equal-absent"),
    pytest.param("app in (web, api)", {"app": "api"}, True, id="in"),
    pytest.param("app in (web)", {}, False, id="in-absent"),
    pytest.param("app notin (web)", {"app": "db"}, True, id="notin"),
    pytest.param("app notin (web)", {}, True, id="notin-absent"),
    pytest.param("app", {"app": ""}, True, id="exists"),
    pytest.param("!app", {"app": "x"}, False, id="does-not-exist"),
    pytest.param("app=web,tier in (a,b)", {"app": "web", "tier": "c"}, False, id="all-must-match"),
])
def test_selector_matches(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


@pytest.mark.parametrize(("target", "matches"), [
    pytest.param(None, True, id="no-target"),
    pytest.param({"kind": "ConfigMap"}, True, id="kind"),
    pytest.param({"kind": "Config"}, False, id="kind-is-anchored"),
    pytest.param({"kind": "Config.*", "name": "ap+"}, True, id="regex"),
    pytest.param({"group": "", "version": "v1"}, True, id="core-group"),
    pytest.param({"group": "apps"}, False, id="other-group"),
    pytest.param({"namespace": "other"}, False, id="namespace"),
    pytest.param({"labelSelector": "tier=web"}, True, id="label-selector"),
    pytest.param({"annotationSelector": "skip"}, False, id="annotation-selector"),
])
def test_target_matches(target: dict[str, Any] | None, matches: bool) -> None:
    assert target_matches(target, _cm({}, {"tier": "web"})) is matches


def test_ignored_paths_of_the_rules_that_select_the_object() -> None:
    rules = [{"paths": ["/data/a"]}, {"paths": ["/data/b"], "target": {"kind": "Secret"}},
             {"paths": ["/data/c"], "target": {"name": "app"}}]
    assert ignored_paths(rules, _cm({})) == ["/data/a", "/data/c"]


@pytest.mark.parametrize(("live", "dry", "rules", "summary"), [
    pytest.param(None, _cm({"a": "1"}), [], "ConfigMap/ns/app removed", id="missing"),
    pytest.param(_cm({"a": "1"}), _cm({"a": "1"}), [], None, id="in-sync"),
    pytest.param(_cm({"a": "2"}, {"x": "y"}), _cm({"a": "1"}, {"x": "y"}), [],
                 "ConfigMap/ns/app changed (0 additions, 1 changes, 0 removals): /data/a",
                 id="value-changed"),
    pytest.param(_cm({}), _cm({"a": "1"}, {"app": "web"}), [],
                 "ConfigMap/ns/app changed (2 additions, 0 changes, 0 removals): "
                 "/data/a, /metadata/labels/app", id="fields-added"),
    pytest.param(_cm({"a": "2"}), _cm({"a": "1"}), [{"paths": ["/data/a"]}], None,
                 id="ignored-path"),
    pytest.param(_cm({"a": "2"}), _cm({"a": "1"}),
                 [{"paths": ["/data/a"], "target": {"kind": "Secret"}}],
                 "ConfigMap/ns/app changed (0 additions, 1 changes, 0 removals): /data/a",
                 id="ignore-rule-for-other-objects"),
    pytest.param(_cm({"a": "1"}, status={"x": 1}), _cm({"a": "1"}, status={"x": 2}), [], None,
                 id="status-and-metadata-never-count"),
])
def test_object_drift(live: dict[str, Any] | None, dry: dict[str, Any],
                      rules: list[dict[str, Any]], summary: str | None) -> None:
    drift = object_drift("ConfigMap/ns/app", live, dry, rules)
    assert (drift.summary() if drift else None) == summary


def test_a_summary_names_paths_never_values() -> None:
    drift = object_drift("Secret/ns/s", {"kind": "Secret", "data": {"k": "c2VjcmV0"}},
                         {"kind": "Secret", "data": {"k": "b3RoZXI="}})
    assert drift is not None
    assert "c2VjcmV0" not in drift.summary() and "b3RoZXI=" not in drift.summary()
    assert "/data/k" in drift.summary()


def test_a_summary_shows_at_most_ten_paths() -> None:
    live, want = _cm({}), _cm({f"k{i:02}": "v" for i in range(12)})
    drift = object_drift("ConfigMap/ns/app", live, want)
    assert drift is not None and drift.summary().endswith("/data/k09, and 2 more")


def test_drift_message() -> None:
    drifts = [ObjectDrift("ConfigMap/ns/a", missing=True),
              ObjectDrift("ConfigMap/ns/b", patch=[{"op": "remove", "path": "/data/x"}])]
    assert drift_message("ns/rel.v2", drifts, corrected=False) == (
        "Cluster state of release ns/rel.v2 has drifted from the desired state:\n"
        "ConfigMap/ns/a removed\n"
        "ConfigMap/ns/b changed (0 additions, 0 changes, 1 removals): /data/x")
    assert drift_message("ns/rel.v2", drifts, corrected=True).startswith(
        "Cluster state of release ns/rel.v2 has been corrected:\n")


@pytest.mark.parametrize(("meta", "first"), [
    pytest.param({}, [{"op": "add", "path": "/metadata/labels", "value": {}}],
                 id="labels-created-first"),
    pytest.param({"labels": {}}, [], id="labels-exist"),
])
def test_correction_patch(meta: dict[str, Any], first: list[dict[str, Any]]) -> None:
    patch = [{"op": "add", "path": "/metadata/labels/app", "value": "web"}]
    assert correction_patch({"metadata": meta}, patch) == first + patch


def test_an_explained_drift_names_values_and_the_manager() -> None:
    live = _cm({"a": "2", "b": "1"}, labels={"x": "y"})
    live["metadata"]["managedFields"] = [
        {"manager": "helm", "time": "2026-01-01T00:00:00Z",
         "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}}},
        {"manager": "kubectl-edit", "time": "2026-01-02T00:00:00Z",
         "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}}]
    drift = object_drift("ConfigMap/ns/app", live, _cm({"a": "1", "c": "3"}))
    assert drift is not None
    lines = drift.explained().splitlines()
    assert lines[0] == ("ConfigMap/ns/app changed (1 additions, 1 changes, 2 removals): "
                        "/data/a, /data/b, /data/c, /metadata/labels/x")
    assert lines[1:] == [
        '  data.a: "2" -> "1" (by kubectl-edit)',
        '  data.b: "1" -> (absent) (by helm)',
        '  data.c: (absent) -> "3"',
        '  metadata: {"labels":{"x":"y"}} -> (absent) (by kubectl-edit)']


def test_an_explained_secret_drift_masks_values() -> None:
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"k": "c2VjcmV0"}}
    drift = object_drift("Secret/ns/s", live, {**live, "data": {"k": "b3RoZXI="}})
    assert drift is not None
    assert "c2VjcmV0" not in drift.explained() and "b3RoZXI=" not in drift.explained()
    assert "data.k: *** -> ***" in drift.explained()


def test_a_drift_message_is_bounded() -> None:
    drifts = [object_drift(f"ConfigMap/ns/c{i}", _cm({f"k{j}": "v" * 60 for j in range(10)}),
                           _cm({})) for i in range(20)]
    message = drift_message("ns/rel.v1", [d for d in drifts if d], corrected=False)
    assert len(message) <= 4000 and message.endswith("more characters)")


def test_ignored_paths_stay_out_of_the_explanation() -> None:
    rules = [{"paths": ["/data/b"]}]
    drift = object_drift("ConfigMap/ns/app", _cm({"a": "2", "b": "9"}), _cm({"a": "1", "b": "1"}),
                         rules)
    assert drift is not None
    assert "data.a" in drift.explained() and "data.b" not in drift.explained()
