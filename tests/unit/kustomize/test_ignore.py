"""Drift ignore rules (`spec.ignore`): pointers, target selection, live values kept."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.kustomize._ignore import (
    ignored_paths,
    keep_live_values,
    parse_pointer,
    selector_matches,
    target_matches,
)

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "web", "namespace": "apps", "labels": {"tier": "front"},
                       "annotations": {"team": "a"}},
          "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "x:1"}]}}}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "apps"},
      "data": {"managed": "v1", "ignored": "git"}}


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        pytest.param("/spec/replicas", ["spec", "replicas"], id="plain"),
        pytest.param("/metadata/annotations/a~1b~0c", ["metadata", "annotations", "a/b~c"],
                     id="escapes"),
        pytest.param("", [], id="whole-document"),
    ],
)
def test_parse_pointer(pointer: str, tokens: list[str]) -> None:
    assert parse_pointer(pointer) == tokens


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("tier=front", True, id="equal"),
        pytest.param("tier==front,app", False, id="equal-and-missing-key"),
        pytest.param("tier!=back", True, id="not-equal"),
        pytest.param("tier in (front, mid)", True, id="in"),
        pytest.param("tier notin (front)", False, id="notin"),
        pytest.param("!app", True, id="absent"),
    ],
)
def test_selector_matches(selector: str, matches: bool) -> None:
    assert selector_matches(selector, {"tier": "front"}) is matches


@pytest.mark.parametrize(
    ("target", "obj", "matches"),
    [
        pytest.param(None, CM, True, id="no-target-matches-all"),
        pytest.param({"kind": "Deployment"}, DEPLOY, True, id="kind"),
        pytest.param({"kind": "Deploy"}, DEPLOY, False, id="regex-is-anchored"),
        pytest.param({"group": "apps", "version": "v1", "name": "w.*"}, DEPLOY, True,
                     id="group-version-name-regex"),
        pytest.param({"group": "apps"}, CM, False, id="core-group-is-empty"),
        pytest.param({"namespace": "other"}, DEPLOY, False, id="namespace"),
        pytest.param({"labelSelector": "tier=front", "annotationSelector": "team=a"}, DEPLOY,
                     True, id="label-and-annotation-selectors"),
    ],
)
def test_target_matches(target: dict[str, Any] | None, obj: dict[str, Any],
                        matches: bool) -> None:
    assert target_matches(target, obj) is matches


def test_ignored_paths_of_matching_rules_unique_in_order() -> None:
    rules = [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}},
             {"paths": ["/data/ignored"], "target": {"kind": "ConfigMap"}},
             {"paths": ["/metadata/annotations/x", "/spec/replicas"]}]
    assert ignored_paths(rules, DEPLOY) == ["/spec/replicas", "/metadata/annotations/x"]
    assert ignored_paths(rules, CM) == ["/data/ignored", "/metadata/annotations/x",
                                        "/spec/replicas"]


@pytest.mark.parametrize(
    ("live", "paths", "expected_data"),
    [
        pytest.param({**CM, "data": {"managed": "hand", "ignored": "hpa"}}, ["/data/ignored"],
                     {"managed": "v1", "ignored": "hpa"}, id="live-value-kept"),
        pytest.param({**CM, "data": {"managed": "v1"}}, ["/data/ignored"],
                     {"managed": "v1"}, id="absent-in-live-dropped"),
        pytest.param({**CM, "data": {"ignored": "hpa"}}, ["/data/nothing/deeper"],
                     {"managed": "v1", "ignored": "git"}, id="missing-parent-left-alone"),
    ],
)
def test_keep_live_values(live: dict[str, Any], paths: list[str],
                          expected_data: dict[str, str]) -> None:
    out = keep_live_values(CM, live, paths)
    assert out["data"] == expected_data
    assert CM["data"] == {"managed": "v1", "ignored": "git"}  # input untouched


def test_keep_live_values_in_lists() -> None:
    live = {**DEPLOY, "spec": {"replicas": 5, "template": {"spec": {"containers": [
        {"image": "x:hotfix"}]}}}}
    out = keep_live_values(DEPLOY, live, ["/spec/replicas",
                                          "/spec/template/spec/containers/0/image"])
    assert out["spec"]["replicas"] == 5
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "x:hotfix"
