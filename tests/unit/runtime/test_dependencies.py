"""The dependsOn rule shared by Kustomizations and HelmReleases."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from afflux.controllers.runtime import (
    GRAPH_KINDS,
    DependentsIndex,
    StallingError,
    WaitingError,
    check_dependencies,
    lists_dependency,
    readiness_problem,
)
from afflux.controllers.runtime._dependencies import GRAPH_LIMIT

from .fakes import FakeKube


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


# --- check_dependencies over an in-memory API: the graph walk, cycles, readiness -------------

KS_RES, HR_RES = GRAPH_KINDS["Kustomization"], GRAPH_KINDS["HelmRelease"]
DEP = "afflux.toolkit.fluxcd.io/depends-on"


def _obj(kind: str, name: str, *, deps: tuple[str, ...] = (), annotation: str = "",
         ready: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "generation": 1}
    if annotation:
        meta["annotations"] = {DEP: annotation}
    return {"kind": kind, "metadata": meta,
            "spec": {"dependsOn": [{"name": d} for d in deps]},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def _check(objects: list[dict[str, Any]], me: dict[str, Any]) -> tuple[Any, FakeKube]:
    kube = FakeKube()
    for body in objects:
        kube.put(KS_RES if body["kind"] == "Kustomization" else HR_RES, body)
    resource = KS_RES if me["kind"] == "Kustomization" else HR_RES
    deps = [SimpleNamespace(name=d["name"], namespace=None) for d in me["spec"]["dependsOn"]]
    ctx = SimpleNamespace(obj=SimpleNamespace(namespace="ns", name=me["metadata"]["name"]),
                          body=me, kube=kube)
    try:
        asyncio.run(check_dependencies(ctx, resource, deps))  # type: ignore[arg-type]
    except (StallingError, WaitingError) as err:
        return err, kube
    return None, kube


def test_no_dependencies_reads_nothing() -> None:
    err, kube = _check([], _obj("Kustomization", "a"))
    assert err is None and kube.calls == []


def test_ready_across_kinds() -> None:
    err, _ = _check([_obj("HelmRelease", "db")], _obj("Kustomization", "a", annotation="HelmRelease/db"))
    assert err is None


@pytest.mark.parametrize(("objects", "me", "kind", "reason", "message"), [
    pytest.param([_obj("HelmRelease", "db", ready=False)],
                 _obj("Kustomization", "a", annotation="HelmRelease/db"), WaitingError,
                 "DependencyNotReady", "dependency 'HelmRelease/ns/db' is not ready",
                 id="other-kind-not-ready"),
    pytest.param([], _obj("HelmRelease", "db", annotation="Kustomization/infra"), WaitingError,
                 "DependencyNotReady", "dependency 'Kustomization/ns/infra' not found",
                 id="other-kind-missing"),
    pytest.param([_obj("Kustomization", "b", ready=False)],
                 _obj("Kustomization", "a", deps=("b",), annotation="HelmRelease/db"),
                 WaitingError, "DependencyNotReady", "dependency 'ns/b' is not ready",
                 id="dependsOn-first-in-flux-words"),
    pytest.param([_obj("HelmRelease", "db", annotation="Kustomization/a")],
                 _obj("Kustomization", "a", annotation="HelmRelease/db"), StallingError,
                 "DependencyCycle", "dependency cycle: Kustomization/ns/a -> HelmRelease/ns/db "
                 "-> Kustomization/ns/a; remove one", id="cycle-across-kinds"),
    pytest.param([_obj("Kustomization", "b", deps=("c",)), _obj("Kustomization", "c", deps=("a",))],
                 _obj("Kustomization", "a", deps=("b",)), StallingError, "DependencyCycle",
                 "dependency cycle: Kustomization/ns/a -> Kustomization/ns/b -> "
                 "Kustomization/ns/c -> Kustomization/ns/a", id="cycle-through-dependsOn-only"),
    pytest.param([], _obj("Kustomization", "a", annotation="Bucket/x"), StallingError,
                 "InvalidDependsOn", "kind 'Bucket' is not one of Kustomization, HelmRelease",
                 id="malformed-annotation"),
])
def test_check_dependencies(objects: list[dict[str, Any]], me: dict[str, Any], kind: type,
                            reason: str, message: str) -> None:
    err, _ = _check(objects, me)
    assert isinstance(err, kind), err
    assert err.reason == reason
    assert message in err.message


def test_a_cycle_upstream_is_not_the_objects_own() -> None:
    # b and c wait for each other (they are stalled, not this one): a waits on b as usual
    loop = [_obj("Kustomization", "b", deps=("c",), ready=False),
            _obj("Kustomization", "c", deps=("b",), ready=False)]
    err, _ = _check(loop, _obj("Kustomization", "a", deps=("b",)))
    assert isinstance(err, WaitingError) and err.message == "dependency 'ns/b' is not ready"


def test_the_walk_is_bounded() -> None:
    chain = [_obj("Kustomization", f"k{i}", deps=(f"k{i + 1}",)) for i in range(400)]
    err, kube = _check(chain, _obj("Kustomization", "a", deps=("k0",)))
    assert err is None
    assert len(kube.calls) < GRAPH_LIMIT


# --- DependentsIndex: who depends on an object, kept up to date body by body ----------------


def _body(name: str, namespace: str = "ns", *, deps: list[dict[str, str]] | None = None,
          annotation: str | None = None, kind: str | None = "Kustomization") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotation is not None:
        meta["annotations"] = {DEP: annotation}
    body: dict[str, Any] = {"metadata": meta, "spec": {"dependsOn": deps or []}}
    if kind is not None:
        body["kind"] = kind
    return body


#: (steps: ("update", body) or ("remove", (ns, name)), the dependency asked about
#: (kind, namespace, name), the dependents expected)
INDEX_CASES = {
    "dependsOn-same-namespace-by-default": (
        [("update", _body("app", deps=[{"name": "base"}]))],
        ("Kustomization", "ns", "base"), [("ns", "app")]),
    "dependsOn-other-namespace-named": (
        [("update", _body("app", deps=[{"name": "infra", "namespace": "ops"}]))],
        ("Kustomization", "ops", "infra"), [("ns", "app")]),
    "dependsOn-namespace-is-the-dependents-not-the-askers": (
        [("update", _body("app", deps=[{"name": "base"}]))],
        ("Kustomization", "ops", "base"), []),
    "dependsOn-is-of-the-own-kind": (
        [("update", _body("app", deps=[{"name": "base"}]))],
        ("HelmRelease", "ns", "base"), []),
    "own-kind-from-the-index-when-the-body-has-none": (
        [("update", _body("app", deps=[{"name": "base"}], kind=None))],
        ("Kustomization", "ns", "base"), [("ns", "app")]),
    "several-dependents-sorted": (
        [("update", _body("b", deps=[{"name": "base"}])),
         ("update", _body("a", "other", deps=[{"name": "base", "namespace": "ns"}])),
         ("update", _body("c"))],
        ("Kustomization", "ns", "base"), [("ns", "b"), ("other", "a")]),
    "annotation-cross-kind": (
        [("update", _body("app", annotation="HelmRelease/db, Kustomization/ops/infra"))],
        ("HelmRelease", "ns", "db"), [("ns", "app")]),
    "annotation-own-kind-other-namespace": (
        [("update", _body("app", annotation="HelmRelease/db, Kustomization/ops/infra"))],
        ("Kustomization", "ops", "infra"), [("ns", "app")]),
    "malformed-annotation-adds-nothing": (
        [("update", _body("app", deps=[{"name": "base"}], annotation="Secret/x"))],
        ("Kustomization", "ns", "base"), [("ns", "app")]),
    "dependsOn-edited-away": (
        [("update", _body("app", deps=[{"name": "base"}])),
         ("update", _body("app", deps=[{"name": "other"}]))],
        ("Kustomization", "ns", "base"), []),
    "dependsOn-edited-to": (
        [("update", _body("app", deps=[{"name": "base"}])),
         ("update", _body("app", deps=[{"name": "other"}]))],
        ("Kustomization", "ns", "other"), [("ns", "app")]),
    "annotation-removed": (
        [("update", _body("app", annotation="HelmRelease/db")),
         ("update", _body("app"))],
        ("HelmRelease", "ns", "db"), []),
    "deleted-dependent": (
        [("update", _body("app", deps=[{"name": "base"}])),
         ("update", _body("web", deps=[{"name": "base"}])),
         ("remove", ("ns", "app"))],
        ("Kustomization", "ns", "base"), [("ns", "web")]),
    "removing-an-unknown-object": (
        [("remove", ("ns", "ghost"))], ("Kustomization", "ns", "base"), []),
}


@pytest.mark.parametrize(("steps", "asked", "expected"), INDEX_CASES.values(),
                         ids=INDEX_CASES.keys())
def test_dependents_index(steps: list[tuple[str, Any]], asked: tuple[str, str, str],
                          expected: list[tuple[str, str]]) -> None:
    index = DependentsIndex("Kustomization")
    for step, arg in steps:
        if step == "update":
            meta = arg["metadata"]
            index.update((meta["namespace"], meta["name"]), arg)
        else:
            index.remove(arg)
    assert index.dependents(*asked) == expected


def test_dependents_index_answers_as_a_scan_would_and_forgets_the_independent() -> None:
    bodies = [_body(f"app-{i}", deps=[{"name": f"app-{i - 1}"}] if i % 3 else None,
                    annotation="HelmRelease/db" if i % 5 == 0 else None) for i in range(30)]
    index = DependentsIndex("Kustomization")
    for body in bodies:
        index.update(("ns", body["metadata"]["name"]), body)
    for kind, name in [("Kustomization", f"app-{i}") for i in range(30)] + [
            ("HelmRelease", "db")]:
        scan = sorted(("ns", b["metadata"]["name"]) for b in bodies
                      if lists_dependency(b, "ns", name, kind))
        assert index.dependents(kind, "ns", name) == scan, (kind, name)
    assert len(index) == sum(1 for i in range(30) if i % 3 or i % 5 == 0)
    for body in bodies:
        index.remove(("ns", body["metadata"]["name"]))
    assert len(index) == 0 and index.dependents("HelmRelease", "ns", "db") == []


# --- spec.dependsOn[].readyExpr: replaces the built-in rule, or adds to it ---------------------

LABELLED = "dep.metadata.labels.stage == 'done' && self.metadata.name == 'a'"


def _labelled(stage: str | None, ready: bool) -> dict[str, Any]:
    body = _obj("Kustomization", "b", ready=ready)
    if stage is not None:
        body["metadata"]["labels"] = {"stage": stage}
    return body


def _check_expr(dep: dict[str, Any], expr: str, additive: bool,
                extra: Any = None) -> StallingError | WaitingError | None:
    kube = FakeKube()
    kube.put(KS_RES, dep)
    me = _obj("Kustomization", "a", deps=("b",))
    deps = [SimpleNamespace(name="b", namespace=None, ready_expr=expr)]
    ctx = SimpleNamespace(obj=SimpleNamespace(namespace="ns", name="a"), body=me, kube=kube)
    try:
        asyncio.run(check_dependencies(ctx, KS_RES, deps, extra,  # type: ignore[arg-type]
                                       additive=additive))
    except (StallingError, WaitingError) as err:
        return err
    return None


@pytest.mark.parametrize(("dep", "expr", "additive", "reason", "message"), [
    pytest.param(_labelled("done", ready=False), LABELLED, False, None, "",
                 id="replaces-builtin-true-although-not-Ready"),
    pytest.param(_labelled("done", ready=False), LABELLED, True, "DependencyNotReady",
                 "dependency 'ns/b' is not ready", id="additive-true-but-not-Ready"),
    pytest.param(_labelled("done", ready=True), LABELLED, True, None, "",
                 id="additive-both-hold"),
    pytest.param(_labelled("wip", ready=True), LABELLED, False, "DependencyNotReady",
                 "dependency 'ns/b' is not ready according to its readyExpr",
                 id="false-although-Ready"),
    pytest.param(_labelled("wip", ready=True), LABELLED, True, "DependencyNotReady",
                 "dependency 'ns/b' is not ready according to its readyExpr",
                 id="additive-false"),
    pytest.param(_labelled(None, ready=True), LABELLED, False, "DependencyNotReady",
                 "its readyExpr failed to evaluate: no such member", id="field-missing"),
    pytest.param(_labelled("done", ready=True), "dep.metadata.labels", False,
                 "DependencyNotReady", "failed to evaluate: the result is MapType, not a "
                 "boolean", id="non-bool-result"),
    pytest.param(_labelled("done", ready=True), "dep.metadata.(", False, "InvalidCELExpression",
                 "spec.dependsOn[0].readyExpr: invalid CEL expression 'dep.metadata.('",
                 id="compile-error-stalls"),
])
def test_ready_expr(dep: dict[str, Any], expr: str, additive: bool, reason: str | None,
                    message: str) -> None:
    err = _check_expr(dep, expr, additive)
    if reason is None:
        assert err is None, err
        return
    assert err is not None and err.reason == reason
    assert isinstance(err, StallingError if reason == "InvalidCELExpression" else WaitingError)
    assert message in err.message


def test_ready_expr_keeps_the_kinds_own_check() -> None:
    err = _check_expr(_labelled("done", ready=False), LABELLED, False,
                      extra=lambda body, key: f"dependency '{key}' revision is not up to date")
    assert isinstance(err, WaitingError)
    assert err.message == "dependency 'ns/b' revision is not up to date"


def test_ready_expr_missing_dependency() -> None:
    kube_dep = _labelled("done", ready=True)
    kube_dep["metadata"]["name"] = "other"
    err = _check_expr(kube_dep, LABELLED, False)
    assert isinstance(err, WaitingError) and err.message == "dependency 'ns/b' not found"
