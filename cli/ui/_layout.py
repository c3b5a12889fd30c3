"""A layered (Sugiyama-style) layout of the UI's graph, left to right, in pure Python on the
server: cycles broken by a depth-first search, each node in the layer of its longest path from
a root, the order inside each layer by repeated barycenter sweeps, then fixed-size cells.
Deterministic (the same graph always gets the same picture), so it is tested as data.
docs/ui.md says why this and not a JavaScript layout library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._model import KIND_ORDER, Graph

__all__ = ["LAYER_GAP", "ROW_GAP", "layout"]

#: Horizontal distance between layers and vertical distance between rows, in SVG units.
LAYER_GAP = 260.0
ROW_GAP = 44.0
_SWEEPS = 6


def _acyclic(ids: list[str], out: dict[str, list[str]]) -> dict[str, list[str]]:
    """The edges without those that close a cycle (back edges of a DFS in `ids` order)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    kept: dict[str, list[str]] = {i: [] for i in ids}
    for root in ids:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack[-1]
            targets = out[node]
            if i == len(targets):
                state[node] = 2
                stack.pop()
                continue
            stack[-1] = (node, i + 1)
            target = targets[i]
            if state.get(target) == 1:
                continue  # back edge: drop it
            kept[node].append(target)
            if target not in state:
                state[target] = 1
                stack.append((target, 0))
    return kept


def _layers(ids: list[str], out: dict[str, list[str]]) -> dict[str, int]:
    """Longest path from a root, over an acyclic `out`."""
    indegree = {i: 0 for i in ids}
    for targets in out.values():
        for t in targets:
            indegree[t] += 1
    layer = dict.fromkeys(ids, 0)
    ready = [i for i in ids if indegree[i] == 0]
    while ready:
        node = ready.pop()
        for t in out[node]:
            layer[t] = max(layer[t], layer[node] + 1)
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    return layer


def _sweep(rows: list[list[str]], neighbours: dict[str, list[str]],
           order: Callable[[str], Any]) -> None:
    """Reorder each row (in place) by the mean position of each node's neighbours in the rows
    already placed; a node without any keeps its place."""
    pos: dict[str, float] = {}
    for row in rows:
        for i, n in enumerate(row):
            pos[n] = (i + 0.5) / len(row)
    for row in rows:
        def centre(n: str, row: list[str] = row) -> tuple[float, Any]:
            seen = [pos[m] for m in neighbours[n] if m in pos]
            here = sum(seen) / len(seen) if seen else pos[n]
            return here, order(n)
        row.sort(key=centre)
        for i, n in enumerate(row):
            pos[n] = (i + 0.5) / len(row)


def layout(graph: Graph) -> dict[str, float]:
    """Set each node's `layer`, `x` and `y` (its centre) and `graph.routes` (the bends of each
    edge that spans more than one layer: it passes through a free cell of each layer between,
    never through a node); return the picture's width and height. Layer 0 (the sources and
    whatever nothing points to) is on the left."""
    nodes = graph.nodes
    keys: dict[str, tuple[int, str, str, str, str]] = {
        n: (KIND_ORDER.get(v.kind, len(KIND_ORDER)), v.kind, v.namespace, v.name, "")
        for n, v in nodes.items()
    }

    def order(n: str) -> tuple[int, str, str, str, str]:
        return keys[n]

    ids = sorted(nodes, key=order)
    out: dict[str, list[str]] = {i: [] for i in ids}
    for e in graph.edges:
        if e.source in out and e.target in out and e.target not in out[e.source]:
            out[e.source].append(e.target)
    for targets in out.values():
        targets.sort(key=order)
    dag = _acyclic(ids, out)
    layers = _layers(ids, dag)
    # an edge over several layers becomes a chain through one virtual node in each between
    children: dict[str, list[str]] = {i: [] for i in ids}
    chains: dict[tuple[str, str], list[str]] = {}
    for s, targets in dag.items():
        for t in targets:
            prev = s
            for li in range(layers[s] + 1, layers[t]):
                v = f"~{s}~{t}~{li}"
                keys[v] = (*keys[t][:4], s)
                layers[v] = li
                children[v] = []
                chains.setdefault((s, t), []).append(v)
                children[prev].append(v)
                prev = v
            children[prev].append(t)
    every = sorted(children, key=order)
    depth = max(layers.values(), default=-1) + 1
    rows: list[list[str]] = [[] for _ in range(depth)]
    for n in every:
        rows[layers[n]].append(n)
    parents: dict[str, list[str]] = {i: [] for i in every}
    for s, targets in children.items():
        for t in targets:
            parents[t].append(s)
    for _ in range(_SWEEPS // 2):
        _sweep(rows, parents, order)  # left to right: by the parents' places
        _sweep(rows[::-1], children, order)  # right to left: by the children's places
    tallest = max((len(r) for r in rows), default=0)
    place: dict[str, tuple[float, float]] = {}
    for li, row in enumerate(rows):
        top = (tallest - len(row)) * ROW_GAP / 2
        for i, n in enumerate(row):
            place[n] = (li * LAYER_GAP, top + i * ROW_GAP)
    for n, node in nodes.items():
        node.layer = layers[n]
        node.x, node.y = place[n]
    graph.routes = {edge: [place[v] for v in chain] for edge, chain in chains.items()}
    return {"width": max(depth - 1, 0) * LAYER_GAP, "height": max(tallest - 1, 0) * ROW_GAP}
