"""The depends-on annotation and the dependency graph's cycles (`afflux.api._depends`)."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.api._depends import DependencyRef, dependencies_of, find_cycle, parse_depends_on

KS, HR = "Kustomization", "HelmRelease"


def ref(text: str) -> DependencyRef:
    return DependencyRef(*text.split("/"))


@pytest.mark.parametrize(("text", "refs"), [
    pytest.param("HelmRelease/apps/db", ["HelmRelease/apps/db"], id="full"),
    pytest.param("Kustomization/infra", ["Kustomization/own/infra"], id="own-namespace"),
    pytest.param(" HelmRelease/a/x , Kustomization/b/y ,", ["HelmRelease/a/x",
                                                            "Kustomization/b/y"],
                 id="spaces-and-trailing-comma"),
    pytest.param("HelmRelease/a/x,HelmRelease/a/x", ["HelmRelease/a/x"], id="duplicates"),
    pytest.param("", [], id="empty"),
])
def test_parse(text: str, refs: list[str]) -> None:
    assert parse_depends_on(text, "own") == [ref(r) for r in refs]


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("db", "'db' is not Kind/namespace/name or Kind/name", id="no-kind"),
    pytest.param("HelmRelease/a/b/c", "is not Kind/namespace/name", id="too-many-parts"),
    pytest.param("HelmRelease//b", "is not Kind/namespace/name", id="empty-part"),
    pytest.param("GitRepository/a/b", "kind 'GitRepository' is not one of Kustomization, "
                 "HelmRelease", id="other-kind"),
])
def test_parse_errors_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="afflux.toolkit.fluxcd.io/depends-on") as err:
        parse_depends_on(text, "own")
    assert message in str(err.value)


def obj(kind: str, name: str, depends_on: list[dict[str, str]] | None = None,
        annotation: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if annotation is not None:
        meta["annotations"] = {"afflux.toolkit.fluxcd.io/depends-on": annotation}
    return {"kind": kind, "metadata": meta, "spec": {"dependsOn": depends_on or []}}


@pytest.mark.parametrize(("body", "refs"), [
    pytest.param(obj(KS, "a"), [], id="none"),
    pytest.param(obj(KS, "a", [{"name": "b"}, {"name": "c", "namespace": "o"}]),
                 ["Kustomization/ns/b", "Kustomization/o/c"], id="depends-on-own-kind"),
    pytest.param(obj(HR, "a", [{"name": "b"}], "Kustomization/infra,HelmRelease/ns/b"),
                 ["HelmRelease/ns/b", "Kustomization/ns/infra"], id="annotation-after"),
    pytest.param(obj(KS, "a", [{"name": "b"}], "nonsense"), ["Kustomization/ns/b"],
                 id="malformed-annotation-adds-nothing"),
])
def test_dependencies_of(body: dict[str, Any], refs: list[str]) -> None:
    assert dependencies_of(body) == [ref(r) for r in refs]


def test_dependencies_of_strict_raises() -> None:
    with pytest.raises(ValueError):
        dependencies_of(obj(KS, "a", annotation="nonsense"), strict=True)


GRAPH = {
    "Kustomization/ns/a": ["HelmRelease/ns/b"],
    "HelmRelease/ns/b": ["Kustomization/ns/c"],
    "Kustomization/ns/c": ["Kustomization/ns/a", "Kustomization/ns/d"],
    "Kustomization/ns/d": ["Kustomization/ns/d2"],
    "Kustomization/ns/d2": ["Kustomization/ns/d"],
    "Kustomization/ns/e": ["Kustomization/ns/d"],
    "Kustomization/ns/f": ["Kustomization/ns/f"],
    "Kustomization/ns/g": ["HelmRelease/ns/h", "HelmRelease/ns/i"],
    "HelmRelease/ns/h": ["HelmRelease/ns/i"],
}


@pytest.mark.parametrize(("start", "cycle"), [
    pytest.param("Kustomization/ns/a", ["Kustomization/ns/a", "HelmRelease/ns/b",
                                        "Kustomization/ns/c", "Kustomization/ns/a"],
                 id="across-kinds"),
    pytest.param("Kustomization/ns/e", None, id="cycle-downstream-not-through-start"),
    pytest.param("Kustomization/ns/f", ["Kustomization/ns/f", "Kustomization/ns/f"],
                 id="self"),
    pytest.param("Kustomization/ns/g", None, id="diamond-is-no-cycle"),
    pytest.param("Kustomization/ns/x", None, id="unknown-node"),
])
def test_find_cycle(start: str, cycle: list[str] | None) -> None:
    found = find_cycle(ref(start), lambda n: [ref(t) for t in GRAPH.get(str(n), [])])
    assert (None if found is None else [str(n) for n in found]) == cycle
