"""`afflux tree --graph`, the pure part: sources and what they feed, what each object waits
for (dependsOn and the depends-on annotation), and the cycles."""

from __future__ import annotations

from typing import Any

from afflux.cli._graphfmt import graph_cycles, graph_doc, render_graph
from afflux.cli.ui._model import build_graph

ANNOTATION = "afflux.toolkit.fluxcd.io/depends-on"


def obj(kind: str, name: str, ready: str = "True", depends_on: str | None = None,
        **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if depends_on:
        meta["annotations"] = {ANNOTATION: depends_on}
    return {"kind": kind, "metadata": meta, "spec": spec,
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


GIT = {"kind": "GitRepository", "name": "repo"}
FLEET = [
    obj("GitRepository", "repo"),
    obj("Kustomization", "infra", sourceRef=GIT),
    obj("Kustomization", "apps", "False", "HelmRelease/db", sourceRef=GIT,
        dependsOn=[{"name": "infra"}]),
    obj("HelmRelease", "db", chartRef={"kind": "OCIRepository", "name": "charts"}),
]


def test_render_sources_dependencies() -> None:
    assert render_graph(build_graph(FLEET, applied=False)) == (
        "sources (and what they feed):\n"
        "GitRepository/ns/repo (ready)\n"
        "├── Kustomization/ns/apps (failing)\n"
        "└── Kustomization/ns/infra (ready)\n"
        "OCIRepository/ns/charts (unknown)\n"
        "└── HelmRelease/ns/db (ready)\n"
        "\n"
        "dependencies (each object and what it waits for):\n"
        "Kustomization/ns/apps (failing)\n"
        "├── Kustomization/ns/infra (dependsOn, ready)\n"
        "└── HelmRelease/ns/db (depends-on, ready)\n")


LOOP = [
    obj("Kustomization", "a", depends_on="HelmRelease/b"),
    obj("HelmRelease", "b", depends_on="Kustomization/c"),
    obj("Kustomization", "c", dependsOn=[{"name": "a"}]),
    obj("Kustomization", "d", dependsOn=[{"name": "d"}]),
]


def test_cycles_each_once() -> None:
    graph = build_graph(LOOP, applied=False)
    # a self-dependency is no edge of the graph (the operator still reports it)
    assert graph_cycles(graph) == [
        ["HelmRelease/ns/b", "Kustomization/ns/c", "Kustomization/ns/a", "HelmRelease/ns/b"]]
    assert render_graph(graph).endswith(
        "cycles (stalled until one edge is removed):\n"
        "HelmRelease/ns/b -> Kustomization/ns/c -> Kustomization/ns/a -> HelmRelease/ns/b\n")


def test_doc() -> None:
    doc = graph_doc(build_graph(FLEET, applied=False))
    assert {"source": "HelmRelease/ns/db", "target": "Kustomization/ns/apps",
            "type": "depends-on"} in doc["edges"]
    assert doc["cycles"] == []
    assert doc["nodes"][0] == {"id": "GitRepository/ns/repo", "kind": "GitRepository",
                               "namespace": "ns", "name": "repo", "state": "ready"}


def test_nothing() -> None:
    assert render_graph(build_graph([], applied=False)) == "no Flux objects found\n"
