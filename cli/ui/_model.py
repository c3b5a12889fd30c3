"""What the UI shows, computed from the plain objects the API server returns: one fleet row
per Flux object (its state, message, revision), the fleet grouped by kind and namespace with
failing objects first, and the graph (sources -> Kustomizations/HelmReleases -> the objects
they applied, dependsOn edges and the `afflux.toolkit.fluxcd.io/depends-on` annotation's
edges across kinds). Pure: no I/O; the server feeds it its watch cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from afflux.api import meta
from afflux.api._depends import DEPENDS_ON_ANNOTATION, parse_depends_on

from .._kinds import NOUNS
from .._status import (
    STATUSLESS_KINDS,
    condition,
    get_path,
    is_suspended,
    latest_image,
    revision_of,
)
from .._treefmt import inventory_refs

__all__ = [
    "STATES",
    "Edge",
    "Graph",
    "GraphNode",
    "build_graph",
    "fleet_groups",
    "fleet_row",
    "focus",
    "history_rows",
    "image_tables",
    "last_change",
    "object_key",
    "push_records",
    "state_of",
]

#: The states, most urgent first: the fleet sorts by this order.
STATES = ("failing", "progressing", "unknown", "suspended", "ready")
_RANK = {s: i for i, s in enumerate(STATES)}
#: Kinds in the order `afflux get all` prints them (sources first).
KIND_ORDER = {n.kind.KIND: i for i, n in enumerate(NOUNS)}
_SOURCE_KINDS = frozenset({"GitRepository", "OCIRepository", "HelmRepository", "HelmChart",
                           "Bucket", "ExternalArtifact"})


def object_key(kind: str, namespace: str, name: str) -> str:
    """`Kind/namespace/name` (`Kind//name` for a cluster-scoped object): ids in the UI."""
    return f"{kind}/{namespace}/{name}"


def _key(obj: Mapping[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return object_key(str(obj.get("kind", "")), str(md.get("namespace", "")),
                      str(md.get("name", "")))


def state_of(obj: Mapping[str, Any]) -> str:
    """ready, failing, progressing, suspended or unknown (no Ready condition yet)."""
    if is_suspended(obj):
        return "suspended"
    if obj.get("kind") in STATUSLESS_KINDS:
        return "ready"
    ready = condition(obj, meta.READY)
    if ready is None:
        return "unknown"
    status = ready.get("status")
    reconciling = (condition(obj, meta.RECONCILING) or {}).get("status") == "True"
    stalled = (condition(obj, meta.STALLED) or {}).get("status") == "True"
    if status == "True":
        return "progressing" if reconciling else "ready"
    if status == "False" and (stalled or not reconciling):
        return "failing"
    return "progressing"


def fleet_row(obj: Mapping[str, Any]) -> dict[str, Any]:
    """One object as the fleet page shows it."""
    md = obj.get("metadata") or {}
    kind = str(obj.get("kind", ""))
    state = state_of(obj)
    ready = condition(obj, meta.READY) or {}
    message = str(ready.get("message", "")) or \
        (f"{kind} is Ready" if kind in STATUSLESS_KINDS else "waiting to be reconciled")
    return {
        "key": _key(obj),
        "kind": kind,
        "namespace": str(md.get("namespace", "")),
        "name": str(md.get("name", "")),
        "state": state,
        "rank": _RANK[state],
        "kindOrder": KIND_ORDER.get(kind, len(KIND_ORDER)),
        "message": message,
        "revision": revision_of(obj),
        "suspended": is_suspended(obj),
        "since": str(ready.get("lastTransitionTime", "")),
    }


def fleet_groups(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by (kind, namespace): groups holding the most urgent state first, then in
    kind order and by namespace; inside a group, the most urgent first, then by name.
    (static/app.js orders live updates by the same rule.)"""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["kind"]), str(row["namespace"])), []).append(row)
    out = []
    for (kind, namespace), members in groups.items():
        members = sorted(members, key=lambda r: (r["rank"], r["name"]))
        out.append({"kind": kind, "namespace": namespace, "rank": members[0]["rank"],
                    "rows": members})
    out.sort(key=lambda g: (g["rank"], KIND_ORDER.get(g["kind"], len(KIND_ORDER)),
                            g["namespace"]))
    return out


def history_rows(history: Iterable[Any]) -> list[dict[str, Any]]:
    """`status.history` as table rows: a Kustomization snapshot's `metadata` (the source
    `revision` it was built from, ...) spread into columns of their own, first; a
    HelmRelease snapshot as it is."""
    rows = []
    for snapshot in history:
        if not isinstance(snapshot, Mapping):
            continue
        extra = snapshot.get("metadata")
        rest = {k: v for k, v in snapshot.items() if k != "metadata"}
        rows.append({**extra, **rest} if isinstance(extra, Mapping) else dict(snapshot))
    return rows


# --- the graph ---------------------------------------------------------------------------------


@dataclass
class GraphNode:
    id: str
    kind: str
    namespace: str
    name: str
    #: "flux" for a Flux object, "applied" for an object a Kustomization applied
    role: str
    state: str = "ready"
    layer: int = 0
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    #: "source" (feeds), "dependsOn" (target waits for source), "depends-on" (the same,
    #: by the afflux annotation, across kinds), "applies" (inventory)
    type: str


@dataclass
class Graph:
    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    #: (source, target) -> the points an edge passes through on its way (set by the layout)
    routes: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [vars(n) for n in self.nodes.values()],
            "edges": [{**vars(e), "points": self.routes.get((e.source, e.target), [])}
                      for e in self.edges],
        }


def _source_ref(obj: Mapping[str, Any]) -> tuple[str, str, str] | None:
    spec = obj.get("spec") or {}
    ns = str(get_path(obj, "metadata", "namespace") or "")
    ref = spec.get("sourceRef") or spec.get("chartRef") or \
        get_path(spec, "chart", "spec", "sourceRef")
    if obj.get("kind") == "ImagePolicy":
        ref = dict(spec.get("imageRepositoryRef") or {}, kind="ImageRepository")
    if obj.get("kind") == "Alert":
        ref = dict(spec.get("providerRef") or {}, kind="Provider")
    if not isinstance(ref, Mapping) or not ref.get("kind") or not ref.get("name"):
        return None
    return str(ref["kind"]), str(ref.get("namespace") or ns), str(ref["name"])


def _depends_on(obj: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    ns = str(get_path(obj, "metadata", "namespace") or "")
    out = []
    for dep in get_path(obj, "spec", "dependsOn") or ():
        if isinstance(dep, Mapping) and dep.get("name"):
            out.append((str(obj.get("kind")), str(dep.get("namespace") or ns), str(dep["name"])))
    return out


def _annotated_depends_on(obj: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The annotation's dependencies (a malformed annotation: none; the operator reports it)."""
    text = (get_path(obj, "metadata", "annotations") or {}).get(DEPENDS_ON_ANNOTATION)
    if not text:
        return []
    try:
        refs = parse_depends_on(str(text), str(get_path(obj, "metadata", "namespace") or ""))
    except ValueError:
        return []
    return [(r.kind, r.namespace, r.name) for r in refs]


def build_graph(objs: Iterable[Mapping[str, Any]], *, applied: bool = True) -> Graph:
    """The graph of the Flux objects: an edge from each source to what reads it, from each
    dependency to its dependent (dependsOn, and the depends-on annotation), and (with
    `applied`) from each Kustomization and HelmRelease to the objects of its
    `status.inventory` (a Flux object in an inventory is that object's node, not a new one).
    References to objects not in `objs` get a node of state "unknown"."""
    graph = Graph()
    objs = list(objs)
    for obj in objs:
        md = obj.get("metadata") or {}
        node = GraphNode(_key(obj), str(obj.get("kind", "")), str(md.get("namespace", "")),
                         str(md.get("name", "")), "flux", state_of(obj))
        graph.nodes[node.id] = node

    def ensure(kind: str, namespace: str, name: str, role: str) -> str:
        key = object_key(kind, namespace, name)
        if key not in graph.nodes:
            graph.nodes[key] = GraphNode(key, kind, namespace, name, role,
                                         "unknown" if role == "flux" else "ready")
        return key

    seen: set[Edge] = set()

    def add(edge: Edge) -> None:
        if edge not in seen and edge.source != edge.target:
            seen.add(edge)
            graph.edges.append(edge)

    for obj in objs:
        me = _key(obj)
        src = _source_ref(obj)
        if src is not None:
            add(Edge(ensure(src[0], src[1], src[2], "flux"), me, "source"))
        for dep in _depends_on(obj):
            add(Edge(ensure(*dep, "flux"), me, "dependsOn"))
        for dep in _annotated_depends_on(obj):
            add(Edge(ensure(*dep, "flux"), me, "depends-on"))
        if applied and obj.get("kind") in ("Kustomization", "HelmRelease"):
            for ref in inventory_refs(obj):
                flux = ref.group.endswith(".toolkit.fluxcd.io")
                add(Edge(me, ensure(ref.kind, ref.namespace, ref.name,
                                    "flux" if flux else "applied"), "applies"))
    return graph


def focus(graph: Graph, text: str) -> Graph:
    """Only the nodes whose id (`Kind/namespace/name`) holds every word of `text` (any case),
    with their direct neighbours and the edges among them; all of it when `text` is blank."""
    words = text.lower().split()
    if not words:
        return graph
    hit = {k for k in graph.nodes if all(w in k.lower() for w in words)}
    keep = set(hit)
    for e in graph.edges:
        if e.source in hit:
            keep.add(e.target)
        if e.target in hit:
            keep.add(e.source)
    return Graph({k: n for k, n in graph.nodes.items() if k in keep},
                 [e for e in graph.edges if e.source in keep and e.target in keep])


# --- the object page ---------------------------------------------------------------------------


def last_change(events: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The newest `Progressing` event of an object that lists a change set (`Kind/ns/name
    created|configured|deleted` per line): what its last apply or prune changed, with the
    revision from the event's metadata; None when the events hold none."""
    newest: tuple[str, dict[str, Any]] | None = None
    for event in events:
        lines = str(event.get("message") or "").splitlines()
        if event.get("reason") != "Progressing" or not lines or not all(
                line.rsplit(" ", 1)[-1] in ("created", "configured", "deleted")
                for line in lines):
            continue
        when = str(event.get("lastTimestamp") or event.get("eventTime")
                   or get_path(event, "metadata", "creationTimestamp") or "")
        annotations = get_path(event, "metadata", "annotations") or {}
        revision = next((str(v) for k, v in sorted(annotations.items())
                         if k.endswith("/revision")), "")
        if newest is None or when >= newest[0]:
            newest = when, {"time": when, "revision": revision, "changes": lines}
    return newest[1] if newest else None


# --- image automation --------------------------------------------------------------------------


def _image_ref(ref: Any) -> str:
    if not isinstance(ref, Mapping) or not ref.get("name"):
        return ""
    return f"{ref['name']}:{ref.get('tag', '')}"


#: How many pushes the images page lists per ImageUpdateAutomation.
MAX_PUSHES = 20
_PUSHED = re.compile(r"^pushed commit '([0-9a-f]+)' to (.+)$")
_BRANCH = re.compile(r"branch '([^']*)'")


def push_records(events: Iterable[Mapping[str, Any]],
                 limit: int = MAX_PUSHES) -> list[dict[str, Any]]:
    """The pushes of an ImageUpdateAutomation, from its Normal `Succeeded` events
    (`pushed commit '<short sha>' to branch '<b>'` then the commit message, the revision
    `<branch>@sha1:<sha>` or `sha1:<sha>` in the annotations): newest first, at most `limit`,
    each with the commit (the revision's full sha when there is one), the branch (or the
    refspecs), the time and the commit message's first line."""
    out: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        lines = str(event.get("message") or "").splitlines()
        match = _PUSHED.match(lines[0]) if lines and event.get("reason") == "Succeeded" else None
        if match is None:
            continue
        annotations = get_path(event, "metadata", "annotations") or {}
        revision = next((str(v) for k, v in sorted(annotations.items())
                         if k.endswith("/revision")), "")
        commit = revision.rsplit("sha1:", 1)[1] if "sha1:" in revision else match[1]
        branch = _BRANCH.search(match[2])
        when = str(event.get("lastTimestamp") or event.get("eventTime")
                   or get_path(event, "metadata", "creationTimestamp") or "")
        out.append((when, {
            "commit": commit, "branch": branch[1] if branch else match[2], "time": when,
            "subject": next((line for line in lines[1:] if line.strip()), "")}))
    out.sort(key=lambda item: item[0], reverse=True)
    return [record for _, record in out[:limit]]


def image_tables(objs: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The image automation page: each ImageRepository (image, tags found, last scan), each
    ImagePolicy (its repository, the latest image and the one before) and each
    ImageUpdateAutomation (its Git source, the last commit it pushed and when, the images it
    wrote); failing first, then by namespace and name."""
    tables: dict[str, list[dict[str, Any]]] = {"repositories": [], "policies": [],
                                               "automations": []}
    for obj in objs:
        kind = obj.get("kind")
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        row = fleet_row(obj)
        base = {k: row[k] for k in ("key", "namespace", "name", "state", "rank", "message")}
        if kind == "ImageRepository":
            scan = status.get("lastScanResult") or {}
            tables["repositories"].append({
                **base, "image": str(status.get("canonicalImageName") or spec.get("image", "")),
                "tags": scan.get("tagCount"), "scanned": str(scan.get("scanTime") or ""),
                "latestTags": list(scan.get("latestTags") or [])[:5]})
        elif kind == "ImagePolicy":
            ref = spec.get("imageRepositoryRef") or {}
            tables["policies"].append({
                **base,
                "repository": f"{ref.get('namespace') or row['namespace']}/{ref.get('name', '')}",
                "latest": latest_image(obj),
                "previous": _image_ref(status.get("observedPreviousRef"))
                or str(status.get("observedPreviousImage") or "")})
        elif kind == "ImageUpdateAutomation":
            src = spec.get("sourceRef") or {}
            observed = status.get("observedPolicies") or {}
            tables["automations"].append({
                **base,
                "source": f"{src.get('kind', 'GitRepository')}/"
                          f"{src.get('namespace') or row['namespace']}/{src.get('name', '')}",
                "commit": str(status.get("lastPushCommit") or ""),
                "pushed": str(status.get("lastPushTime") or ""),
                "lastRun": str(status.get("lastAutomationRunTime") or ""),
                "images": sorted(f"{k}: {_image_ref(v)}" for k, v in observed.items()),
                "pushes": []})
    for rows in tables.values():
        rows.sort(key=lambda r: (r["rank"], r["namespace"], r["name"]))
    return tables


def tree_for_page(node: Any) -> dict[str, Any]:
    """An inventory tree (`cli._treefmt.Node`) as the page draws it: kind, name, namespace,
    apiVersion, note and `resources` (the children). Not the CLI's `-o json`, which has
    Flux's shape."""
    r = node.ref
    out: dict[str, Any] = {"kind": r.kind, "name": r.name}
    if r.namespace:
        out["namespace"] = r.namespace
    out["apiVersion"] = f"{r.group}/{r.version}".strip("/") if r.version else r.group
    if node.note:
        out["note"] = node.note
    if node.children:
        out["resources"] = [tree_for_page(c) for c in node.children]
    return out
