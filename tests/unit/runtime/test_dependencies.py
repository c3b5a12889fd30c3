"""The dependsOn rule shared by Kustomizations and HelmReleases."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.controllers.runtime import lists_dependency, readiness_problem


def _dep(ready: str | None, generation: int = 2, observed: int = 2) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
    return {"metadata": {"namespace": "ns", "name": "base", "generation": generation},
            "status": {"observedGeneration": observed, "conditions": conditions}}


@pytest.mark.parametrize(("dep", "problem"), [
    pytest.param(None, "dependency 'ns/base' not found", id="missing"),
    pytest.param(_dep(None), "dependency 'ns/base' is not ready", id="no-ready-condition"),
    pytest.param(_dep("False"), "dependency 'ns/base' is not ready", id="ready-false"),
    pytest.param(_dep("True", generation=3),
                 "dependency 'ns/base' is not ready (its latest generation is not reconciled "
                 "yet)", id="ready-for-an-older-generation"),
    pytest.param(_dep("True"), None, id="ready"),
])
def test_readiness_problem(dep: dict[str, Any] | None, problem: str | None) -> None:
    assert readiness_problem(dep, "ns/base") == problem


@pytest.mark.parametrize(("namespace", "name", "listed"), [
    pytest.param("ns", "base", True, id="same-namespace-by-default"),
    pytest.param("ops", "infra", True, id="other-namespace-named"),
    pytest.param("ops", "base", False, id="namespace-differs"),
    pytest.param("ns", "other", False, id="name-differs"),
])
def test_lists_dependency(namespace: str, name: str, listed: bool) -> None:
    body = {"metadata": {"namespace": "ns"},
            "spec": {"dependsOn": [{"name": "base"}, {"name": "infra", "namespace": "ops"}]}}
    assert lists_dependency(body, namespace, name) is listed


@pytest.mark.parametrize(("kind", "namespace", "name", "listed"), [
    pytest.param("HelmRelease", "ns", "db", True, id="annotation-other-kind"),
    pytest.param("Kustomization", "ops", "infra", True, id="annotation-own-kind"),
    pytest.param(None, "ops", "infra", True, id="own-kind-by-default"),
    pytest.param("HelmRelease", "ns", "base", False, id="dependsOn-is-own-kind-only"),
    pytest.param("Kustomization", "ns", "base", True, id="dependsOn"),
])
def test_lists_dependency_across_kinds(kind: str | None, namespace: str, name: str,
                                       listed: bool) -> None:
    body = {"kind": "Kustomization",
            "metadata": {"namespace": "ns", "annotations": {
                "afflux.toolkit.fluxcd.io/depends-on": "HelmRelease/db,Kustomization/ops/infra"}},
            "spec": {"dependsOn": [{"name": "base"}]}}
    assert lists_dependency(body, namespace, name, kind) is listed
