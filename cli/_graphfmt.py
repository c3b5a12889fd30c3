"""The pure part of `afflux tree --graph`: the whole dependency graph of the Flux objects as
text (or data), from the UI's graph model (`ui._model.build_graph`, without the applied
objects).

Three parts: each source with the Kustomizations and HelmReleases (and other readers) it
feeds; each object that waits for others, with what it waits for and by which edge
(`dependsOn`, Flux's, or `depends-on`, afflux's annotation across kinds); and the cycles,
each once, as `A -> B -> A` (the operators stall the objects on a cycle). A node's state
follows its name (`unknown` for an object referenced but not there).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from afflux.api import ObjectRef
from afflux.api._depends import DependencyRef, find_cycle

from ._treefmt import Node, render_tree
from .ui._model import Graph, GraphNode

__all__ = ["graph_cycles", "graph_doc", "render_graph"]

_DEPENDS = ("dependsOn", "depends-on")


def _node(graph: Graph, key: str, note: str) -> Node:
    n = graph.nodes.get(key)
    if n is None:
        kind, namespace, name = key.split("/", 2)
        n = GraphNode(key, kind, namespace, name, "flux", "unknown")
    return Node(ObjectRef(n.namespace, n.name, "", n.kind), note=note)


def _depends_edges(graph: Graph) -> dict[str, list[str]]:
    """dependent -> its dependencies, in edge order."""
    out: dict[str, list[str]] = {}
    for e in graph.edges:
        if e.type in _DEPENDS:
            out.setdefault(e.target, []).append(e.source)
    return out


def _ref(key: str) -> DependencyRef:
    kind, namespace, name = key.split("/", 2)
    return DependencyRef(kind, namespace, name)


def graph_cycles(graph: Graph) -> list[list[str]]:
    """Every cycle of the dependency edges, once (starting at its smallest node)."""
    deps = _depends_edges(graph)
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in sorted(deps):
        cycle = find_cycle(_ref(start), lambda n: [_ref(k) for k in deps.get(str(n), ())])
        if cycle is None:
            continue
        names = [str(r) for r in cycle]
        if frozenset(names) in seen or min(names) != start:
            continue
        seen.add(frozenset(names))
        found.append(names)
    return found


def _state(graph: Graph, key: str) -> str:
    n = graph.nodes.get(key)
    return n.state if n is not None else "unknown"


def _trees(graph: Graph, roots: Iterable[str], children: dict[str, list[tuple[str, str]]]
           ) -> list[str]:
    out = []
    for root in roots:
        node = _node(graph, root, _state(graph, root))
        node.children = [_node(graph, k, f"{how}, {_state(graph, k)}" if how else
                               _state(graph, k)) for k, how in children[root]]
        out.append(render_tree(node))
    return out


def render_graph(graph: Graph) -> str:
    """The text `afflux tree --graph` prints (module docstring)."""
    feeds: dict[str, list[tuple[str, str]]] = {}
    for e in graph.edges:
        if e.type == "source":
            feeds.setdefault(e.source, []).append((e.target, ""))
    waits = {k: [(d, next(e.type for e in graph.edges if e.source == d and e.target == k
                          and e.type in _DEPENDS)) for d in v]
             for k, v in _depends_edges(graph).items()}
    parts = []
    if feeds:
        parts.append("sources (and what they feed):\n" + "".join(
            _trees(graph, sorted(feeds), {k: sorted(v) for k, v in feeds.items()})))
    if waits:
        parts.append("dependencies (each object and what it waits for):\n" + "".join(
            _trees(graph, sorted(waits), waits)))
    cycles = graph_cycles(graph)
    if cycles:
        parts.append("cycles (stalled until one edge is removed):\n" + "".join(
            " -> ".join(c) + "\n" for c in cycles))
    if not parts:
        return "no Flux objects found\n"
    return "\n".join(parts)


def graph_doc(graph: Graph) -> dict[str, Any]:
    """The graph as data: nodes (id, kind, namespace, name, state), edges (source, target,
    type) and cycles."""
    return {
        "nodes": [{"id": n.id, "kind": n.kind, "namespace": n.namespace, "name": n.name,
                   "state": n.state} for n in sorted(graph.nodes.values(), key=lambda n: n.id)],
        "edges": [{"source": e.source, "target": e.target, "type": e.type}
                  for e in graph.edges],
        "cycles": graph_cycles(graph),
    }
