"""Flux 2.9's newer HelmRelease settings against the Helm 3 engine (`_engine`), table-driven."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from afflux.controllers.helm._engine import (
    common_metadata_digest,
    post_renderers_digest,
    release_inventory,
    retry_interval,
    unsupported,
)
from afflux.controllers.helm._postrender import with_common_metadata

UNSUPPORTED_CASES = [
    ("defaults are Helm 3's", {}, []),
    ("explicit Helm 3 settings", {"install": {"serverSideApply": False},
                                  "upgrade": {"serverSideApply": "disabled"},
                                  "rollback": {"serverSideApply": "auto"},
                                  "waitStrategy": {"name": "legacy"},
                                  "postRenderStrategy": "nohooks"}, []),
    ("server-side install", {"install": {"serverSideApply": True}},
     ["spec.install.serverSideApply: true"]),
    ("server-side upgrade and rollback", {"upgrade": {"serverSideApply": "enabled"},
                                          "rollback": {"serverSideApply": "enabled"}},
     ["spec.upgrade.serverSideApply: enabled", "spec.rollback.serverSideApply: enabled"]),
    ("kstatus poller is afflux's own", {"waitStrategy": {"name": "poller"}}, []),
    ("hooks through post-renderers", {"postRenderStrategy": "combined"},
     ["spec.postRenderStrategy: combined"]),
    ("separate hook stream", {"postRenderStrategy": "separate"},
     ["spec.postRenderStrategy: separate"]),
]


@pytest.mark.parametrize(("spec", "expected"), [c[1:] for c in UNSUPPORTED_CASES],
                         ids=[c[0] for c in UNSUPPORTED_CASES])
def test_unsupported_settings_are_named(spec: dict[str, Any], expected: list[str]) -> None:
    found = unsupported(spec)
    assert [f.split(" (")[0] for f in found] == expected
    assert all("(" in f for f in found), "each names what to change"


RETRY_CASES = [
    ("unset remediates", {}, "install", None),
    ("RemediateOnFailure remediates", {"upgrade": {"strategy": {"name": "RemediateOnFailure"}}},
     "upgrade", None),
    ("RetryOnFailure defaults to 5m", {"install": {"strategy": {"name": "RetryOnFailure"}}},
     "install", 300.0),
    ("RetryOnFailure with an interval",
     {"upgrade": {"strategy": {"name": "RetryOnFailure", "retryInterval": "1m30s"}}},
     "upgrade", 90.0),
    ("the other action's strategy does not count",
     {"upgrade": {"strategy": {"name": "RetryOnFailure"}}}, "install", None),
    ("no action yet", {"install": {"strategy": {"name": "RetryOnFailure"}}}, None, None),
]


@pytest.mark.parametrize(("spec", "action", "expected"), [c[1:] for c in RETRY_CASES],
                         ids=[c[0] for c in RETRY_CASES])
def test_retry_interval(spec: dict[str, Any], action: str | None,
                        expected: float | None) -> None:
    assert retry_interval(spec, action) == expected


def test_digests_follow_the_settings_not_their_key_order() -> None:
    assert post_renderers_digest({}) is None
    assert common_metadata_digest({"commonMetadata": None}) is None
    one = common_metadata_digest({"commonMetadata": {"labels": {"a": "1", "b": "2"}}})
    same = common_metadata_digest({"commonMetadata": {"labels": {"b": "2", "a": "1"}}})
    other = common_metadata_digest({"commonMetadata": {"labels": {"a": "2", "b": "2"}}})
    assert one == same != other
    assert one is not None and one.startswith("sha256:") and len(one) == 71


def _namespaced(api_version: str, kind: str) -> bool | None:
    return {"Namespace": False, "ClusterRole": False, "Widget": None}.get(kind, True)


MANIFEST = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
                                                                  "namespace": "other"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
     "metadata": {"name": "system:web"}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "test", "annotations": {"helm.sh/hook": "test"}}},
    {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}},
]
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"}}


def test_release_inventory_is_flux_s() -> None:
    entries = release_inventory(MANIFEST, "apps", _namespaced, [CRD])
    assert entries == [
        {"id": "apps_cfg__ConfigMap", "v": "v1"},
        {"id": "other_web_apps_Deployment", "v": "v1"},
        {"id": "_system__web_rbac.authorization.k8s.io_ClusterRole", "v": "v1"},
        {"id": "_w_example.com_Widget", "v": "v1"},
        {"id": "_widgets.example.com_apiextensions.k8s.io_CustomResourceDefinition",
         "v": "v1"},
    ]


RENDERED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels: {team: web, keep: "1"}
---
apiVersion: v1
kind: Service
metadata: null
---
apiVersion: v1
kind: Pod
metadata:
  name: test
  annotations: {helm.sh/hook: test}
"""


@pytest.mark.parametrize(("common", "labels", "annotations"), [
    pytest.param({"labels": {"team": "platform"}}, [{"team": "platform", "keep": "1"},
                                                    {"team": "platform"}], [None, None],
                 id="labels-override-equal-keys"),
    pytest.param({"annotations": {"owner": "ops"}}, [{"team": "web", "keep": "1"}, None],
                 [{"owner": "ops"}, {"owner": "ops"}], id="annotations-on-every-object"),
])
def test_common_metadata_post_render(common: dict[str, Any], labels: list[Any],
                                     annotations: list[Any]) -> None:
    docs = list(yaml.safe_load_all(with_common_metadata(RENDERED, common)))
    assert [d["metadata"].get("labels") for d in docs[:2]] == labels
    assert [d["metadata"].get("annotations") for d in docs[:2]] == annotations
    assert docs[2]["metadata"] == {"name": "test", "annotations": {"helm.sh/hook": "test"}}


def test_no_common_metadata_leaves_the_manifests_alone() -> None:
    assert with_common_metadata(RENDERED, None) == RENDERED
    assert with_common_metadata(RENDERED, {"labels": {}}) == RENDERED
