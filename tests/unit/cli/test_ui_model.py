"""The UI's pure parts: an object's state, the fleet's grouping ("failing first"), the graph
built from the objects, and its layered layout."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from afflux.cli.ui import parse_addr
from afflux.cli.ui._layout import LAYER_GAP, layout
from afflux.cli.ui._model import (
    Edge,
    Graph,
    GraphNode,
    build_graph,
    fleet_groups,
    fleet_row,
    focus,
    history_rows,
    image_tables,
    last_change,
    push_records,
    state_of,
)

from .objects import cond, obj

NOW = "2026-12-01T12:00:00Z"


def _with(kind: str, name: str = "app", namespace: str = "flux-system", *conds: dict[str, Any],
          spec: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    return obj(kind, name, namespace, spec=spec,
               status={"conditions": list(conds), **status} if conds or status else None)


@pytest.mark.parametrize(
    ("body", "state"),
    [
        pytest.param(_with("Kustomization", "a", "ns", cond("Ready", "True")), "ready", id="ready"),
        pytest.param(_with("Kustomization", "a", "ns", cond("Ready", "False")), "failing",
                     id="ready-false-not-reconciling-is-failing"),
        pytest.param(_with("Kustomization", "a", "ns", cond("Ready", "False"),
                           cond("Reconciling", "True")), "progressing",
                     id="ready-false-while-reconciling-is-progressing"),
        pytest.param(_with("Kustomization", "a", "ns", cond("Ready", "False"),
                           cond("Reconciling", "True"), cond("Stalled", "True")), "failing",
                     id="stalled-is-failing-even-while-reconciling"),
        pytest.param(_with("Kustomization", "a", "ns", cond("Ready", "Unknown")), "progressing",
                     id="ready-unknown-is-progressing"),
        pytest.param(_with("Kustomization", "a", "ns", cond("Ready", "True"),
                           cond("Reconciling", "True")), "progressing",
                     id="ready-true-while-reconciling-a-new-revision"),
        pytest.param(_with("GitRepository"), "unknown", id="no-status-yet"),
        pytest.param(_with("Kustomization", "a", "ns", cond("Ready", "False"),
                           spec={"suspend": True}), "suspended", id="suspended-wins"),
        pytest.param(_with("Alert"), "ready", id="statusless-kind-is-ready"),
    ],
)
def test_state_of(body: dict[str, Any], state: str) -> None:
    assert state_of(body) == state


def test_fleet_row_carries_key_state_message_and_revision() -> None:
    body = _with("Kustomization", "apps", "prod", cond("Ready", "False", "build failed"),
                 lastAppliedRevision="main@sha1:abc")
    row = fleet_row(body)
    assert (row["key"], row["state"], row["message"], row["revision"]) == (
        "Kustomization/prod/apps", "failing", "build failed", "main@sha1:abc")
    assert fleet_row(_with("GitRepository"))["message"] == "waiting to be reconciled"


def _row(kind: str, namespace: str, name: str, state: str) -> dict[str, Any]:
    conds = {"ready": [cond("Ready", "True")], "failing": [cond("Ready", "False")],
             "unknown": []}[state]
    return fleet_row(_with(kind, name, namespace, *conds))


def _order(groups: list[dict[str, Any]]) -> list[str]:
    return [r["key"] for g in groups for r in g["rows"]]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [_row("Kustomization", "a", "x", "ready"), _row("Kustomization", "a", "y", "failing")],
            ["Kustomization/a/y", "Kustomization/a/x"], id="failing-first-inside-a-group"),
        pytest.param(
            [_row("GitRepository", "a", "src", "ready"),
             _row("Kustomization", "b", "apps", "failing")],
            ["Kustomization/b/apps", "GitRepository/a/src"],
            id="a-group-with-a-failure-before-healthy-groups-of-earlier-kinds"),
        pytest.param(
            [_row("Kustomization", "a", "k", "ready"), _row("GitRepository", "z", "g", "ready"),
             _row("GitRepository", "b", "g", "ready")],
            ["GitRepository/b/g", "GitRepository/z/g", "Kustomization/a/k"],
            id="healthy-groups-in-kind-order-then-namespace"),
        pytest.param(
            [_row("Kustomization", "a", "k", "ready"), _row("Kustomization", "a", "w", "unknown"),
             _row("Kustomization", "a", "f", "failing")],
            ["Kustomization/a/f", "Kustomization/a/w", "Kustomization/a/k"],
            id="waiting-between-failing-and-ready"),
        pytest.param([], [], id="empty"),
    ],
)
def test_fleet_groups_order(rows: list[dict[str, Any]], expected: list[str]) -> None:
    assert _order(fleet_groups(rows)) == expected


def test_fleet_groups_are_by_kind_and_namespace() -> None:
    groups = fleet_groups([_row("Kustomization", "a", "x", "ready"),
                           _row("Kustomization", "a", "y", "ready"),
                           _row("Kustomization", "b", "x", "ready")])
    assert [(g["kind"], g["namespace"], len(g["rows"])) for g in groups] == [
        ("Kustomization", "a", 2), ("Kustomization", "b", 1)]


@pytest.mark.parametrize(
    ("history", "rows"),
    [
        pytest.param([{"digest": "sha256:1", "metadata": {"revision": "main@sha1:abc"},
                       "totalReconciliations": 2}],
                     [{"revision": "main@sha1:abc", "digest": "sha256:1",
                       "totalReconciliations": 2}], id="kustomization-revision-first"),
        pytest.param([{"chartVersion": "1.2.3", "status": "deployed"}],
                     [{"chartVersion": "1.2.3", "status": "deployed"}], id="helmrelease-as-is"),
        pytest.param(["junk", {"digest": "d"}], [{"digest": "d"}], id="non-objects-skipped"),
    ],
)
def test_history_rows(history: list[Any], rows: list[dict[str, Any]]) -> None:
    out = history_rows(history)
    assert out == rows
    assert [list(r) for r in out] == [list(r) for r in rows]  # column order too


# --- the graph ---------------------------------------------------------------------------------

GIT = _with("GitRepository", "repo", "flux-system", cond("Ready", "True"))
INFRA = _with("Kustomization", "infra", "flux-system", cond("Ready", "True"),
              spec={"sourceRef": {"kind": "GitRepository", "name": "repo"}},
              inventory={"entries": [
                  {"id": "_podinfo__Namespace", "v": "v1"},
                  {"id": "podinfo_web_apps_Deployment", "v": "v1"},
                  {"id": "flux-system_podinfo_helm.toolkit.fluxcd.io_HelmRelease", "v": "v2"},
              ]})
APPS = _with("Kustomization", "apps", "flux-system", cond("Ready", "False"),
             spec={"sourceRef": {"kind": "GitRepository", "name": "repo"},
                   "dependsOn": [{"name": "infra"}]})
HR = _with("HelmRelease", "podinfo", "flux-system", cond("Ready", "True"),
           spec={"chartRef": {"kind": "OCIRepository", "name": "charts", "namespace": "src"}})
APPS_AFTER_HR = _with("Kustomization", "apps", "flux-system", cond("Ready", "False"),
                      spec={"sourceRef": {"kind": "GitRepository", "name": "repo"}})
APPS_AFTER_HR["metadata"]["annotations"] = {
    "afflux.toolkit.fluxcd.io/depends-on": "HelmRelease/podinfo,Kustomization/ops/infra"}
HR_AFTER_KS = _with("HelmRelease", "podinfo", "flux-system", cond("Ready", "True"),
                    spec={"chartRef": {"kind": "OCIRepository", "name": "charts"}})
HR_AFTER_KS["metadata"]["annotations"] = {"afflux.toolkit.fluxcd.io/depends-on": "nonsense"}
HR_WITH_INVENTORY = _with(
    "HelmRelease", "podinfo", "flux-system", cond("Ready", "True"),
    spec={"chartRef": {"kind": "OCIRepository", "name": "charts", "namespace": "src"}},
    inventory={"entries": [{"id": "podinfo_web_apps_Deployment", "v": "v1"},
                           {"id": "podinfo_web__Service", "v": "v1"},
                           {"id": "unreadable", "v": "v1"}]})
POLICY = _with("ImagePolicy", "web", "flux-system",
               spec={"imageRepositoryRef": {"name": "web"}})


def _edges(graph: Graph) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.type) for e in graph.edges}


@pytest.mark.parametrize(
    ("objs", "applied", "edges"),
    [
        pytest.param([GIT, APPS, INFRA], False, {
            ("GitRepository/flux-system/repo", "Kustomization/flux-system/apps", "source"),
            ("GitRepository/flux-system/repo", "Kustomization/flux-system/infra", "source"),
            ("Kustomization/flux-system/infra", "Kustomization/flux-system/apps", "dependsOn"),
        }, id="sources-and-dependsOn"),
        pytest.param([INFRA, HR], True, {
            ("GitRepository/flux-system/repo", "Kustomization/flux-system/infra", "source"),
            ("Kustomization/flux-system/infra", "Namespace//podinfo", "applies"),
            ("Kustomization/flux-system/infra", "Deployment/podinfo/web", "applies"),
            ("Kustomization/flux-system/infra", "HelmRelease/flux-system/podinfo", "applies"),
            ("OCIRepository/src/charts", "HelmRelease/flux-system/podinfo", "source"),
        }, id="inventory-with-a-flux-object-reuses-its-node"),
        pytest.param([HR_WITH_INVENTORY], True, {
            ("OCIRepository/src/charts", "HelmRelease/flux-system/podinfo", "source"),
            ("HelmRelease/flux-system/podinfo", "Deployment/podinfo/web", "applies"),
            ("HelmRelease/flux-system/podinfo", "Service/podinfo/web", "applies"),
        }, id="helm-release-inventory"),
        pytest.param([HR_WITH_INVENTORY], False, {
            ("OCIRepository/src/charts", "HelmRelease/flux-system/podinfo", "source"),
        }, id="helm-release-inventory-hidden-without-applied"),
        pytest.param([APPS_AFTER_HR, HR_AFTER_KS], False, {
            ("GitRepository/flux-system/repo", "Kustomization/flux-system/apps", "source"),
            ("OCIRepository/flux-system/charts", "HelmRelease/flux-system/podinfo", "source"),
            ("HelmRelease/flux-system/podinfo", "Kustomization/flux-system/apps", "depends-on"),
            ("Kustomization/ops/infra", "Kustomization/flux-system/apps", "depends-on"),
        }, id="depends-on-annotation-across-kinds-malformed-ignored"),
        pytest.param([POLICY], True, {
            ("ImageRepository/flux-system/web", "ImagePolicy/flux-system/web", "source"),
        }, id="image-policy-reads-its-repository"),
    ],
)
def test_build_graph_edges(objs: list[dict[str, Any]], applied: bool,
                           edges: set[tuple[str, str, str]]) -> None:
    assert _edges(build_graph(objs, applied=applied)) == edges


def test_build_graph_node_roles_and_states() -> None:
    graph = build_graph([INFRA, APPS])
    nodes = {k: (n.role, n.state) for k, n in graph.nodes.items()}
    assert nodes["Kustomization/flux-system/apps"] == ("flux", "failing")
    assert nodes["Deployment/podinfo/web"] == ("applied", "ready")
    # referenced but not (yet) in the cluster, or not readable: a Flux node of unknown state
    assert nodes["GitRepository/flux-system/repo"] == ("flux", "unknown")
    assert nodes["HelmRelease/flux-system/podinfo"] == ("flux", "unknown")


@pytest.mark.parametrize(
    ("text", "nodes"),
    [
        pytest.param("", {"GitRepository/flux-system/repo", "Kustomization/flux-system/infra",
                          "Kustomization/flux-system/apps"}, id="blank-keeps-everything"),
        pytest.param("apps", {"Kustomization/flux-system/apps", "GitRepository/flux-system/repo",
                              "Kustomization/flux-system/infra"},
                     id="a-match-brings-its-neighbours"),
        pytest.param("GitRepository REPO", {"GitRepository/flux-system/repo",
                                            "Kustomization/flux-system/infra",
                                            "Kustomization/flux-system/apps"},
                     id="every-word-any-case"),
        pytest.param("nothing-like-it", set(), id="no-match-is-empty"),
    ],
)
def test_focus(text: str, nodes: set[str]) -> None:
    graph = focus(build_graph([GIT, INFRA, APPS], applied=False), text)
    assert set(graph.nodes) == nodes
    assert all(e.source in nodes and e.target in nodes for e in graph.edges)


def test_focus_leaves_out_what_is_not_next_to_a_match() -> None:
    other = _with("Kustomization", "other", "team-b",
                  spec={"sourceRef": {"kind": "GitRepository", "name": "theirs"}})
    graph = focus(build_graph([GIT, APPS, other], applied=False), "team-b")
    assert set(graph.nodes) == {"Kustomization/team-b/other", "GitRepository/team-b/theirs"}
    assert _edges(graph) == {("GitRepository/team-b/theirs", "Kustomization/team-b/other",
                              "source")}


def test_image_tables() -> None:
    repo = _with("ImageRepository", "web", "apps", cond("Ready", "True"),
                 spec={"image": "ghcr.io/acme/web"},
                 canonicalImageName="ghcr.io/acme/web",
                 lastScanResult={"tagCount": 12, "scanTime": NOW,
                                 "latestTags": [f"1.{i}.0" for i in range(8)]})
    policy = _with("ImagePolicy", "web", "apps", cond("Ready", "True"),
                   spec={"imageRepositoryRef": {"name": "web"}},
                   latestRef={"name": "ghcr.io/acme/web", "tag": "1.7.0"},
                   observedPreviousRef={"name": "ghcr.io/acme/web", "tag": "1.6.0"})
    broken = _with("ImagePolicy", "api", "apps", cond("Ready", "False", "no tag matches"),
                   spec={"imageRepositoryRef": {"name": "api", "namespace": "shared"}})
    auto = _with("ImageUpdateAutomation", "fleet", "flux-system", cond("Ready", "True"),
                 spec={"sourceRef": {"kind": "GitRepository", "name": "fleet"}},
                 lastPushCommit="0123456789abcdef", lastPushTime=NOW,
                 observedPolicies={"apps/web": {"name": "ghcr.io/acme/web", "tag": "1.7.0"}})
    tables = image_tables([repo, policy, broken, auto, GIT])
    assert [(r["image"], r["tags"], r["latestTags"][-1]) for r in tables["repositories"]] == [
        ("ghcr.io/acme/web", 12, "1.4.0")]
    assert [(r["name"], r["repository"], r["latest"], r["previous"], r["state"])
            for r in tables["policies"]] == [
        ("api", "shared/api", "", "", "failing"),  # failing first
        ("web", "apps/web", "ghcr.io/acme/web:1.7.0", "ghcr.io/acme/web:1.6.0", "ready")]
    assert [(r["source"], r["commit"], r["images"]) for r in tables["automations"]] == [
        ("GitRepository/flux-system/fleet", "0123456789abcdef",
         ["apps/web: ghcr.io/acme/web:1.7.0"])]


# --- the layout --------------------------------------------------------------------------------


def _graph(edges: list[tuple[str, str]], extra: tuple[str, ...] = ()) -> Graph:
    graph = Graph()
    for name in sorted({n for e in edges for n in e} | set(extra)):
        graph.nodes[name] = GraphNode(name, "Kustomization", "ns", name, "flux")
    graph.edges = [Edge(s, t, "dependsOn") for s, t in edges]
    return graph


@pytest.mark.parametrize(
    ("edges", "extra", "layers"),
    [
        pytest.param([("a", "b"), ("b", "c")], (), {"a": 0, "b": 1, "c": 2}, id="chain"),
        pytest.param([("a", "c"), ("a", "b"), ("b", "c")], (), {"a": 0, "b": 1, "c": 2},
                     id="longest-path-wins"),
        pytest.param([("a", "b"), ("b", "a")], (), {"a": 0, "b": 1}, id="cycle-is-broken"),
        pytest.param([], ("x", "y"), {"x": 0, "y": 0}, id="isolated-nodes-in-the-first-layer"),
        pytest.param([("a", "b"), ("c", "b"), ("b", "d")], (),
                     {"a": 0, "c": 0, "b": 1, "d": 2}, id="two-roots"),
    ],
)
def test_layout_layers(edges: list[tuple[str, str]], extra: tuple[str, ...],
                       layers: dict[str, int]) -> None:
    graph = _graph(edges, extra)
    layout(graph)
    assert {k: n.layer for k, n in graph.nodes.items()} == layers
    assert all(n.x == n.layer * LAYER_GAP for n in graph.nodes.values())


def test_layout_never_overlaps_and_is_deterministic() -> None:
    edges = [(f"s{i % 5}", f"k{i}") for i in range(60)] + \
        [(f"k{i}", f"k{i + 1}") for i in range(0, 58, 3)]
    first, second = _graph(edges), _graph(list(reversed(edges)))
    size = layout(first)
    layout(second)
    places = [(n.x, n.y) for n in first.nodes.values()]
    assert len(set(places)) == len(places)
    for n in first.nodes.values():
        assert 0 <= n.x <= size["width"] and 0 <= n.y <= size["height"]
    assert {k: (n.x, n.y) for k, n in first.nodes.items()} == \
        {k: (n.x, n.y) for k, n in second.nodes.items()}


def test_layout_routes_long_edges_through_free_cells() -> None:
    # a -> c skips a layer: it bends through a cell of layer 1 of its own, not through b
    graph = _graph([("a", "b"), ("b", "c"), ("a", "c")])
    layout(graph)
    assert set(graph.routes) == {("a", "c")}
    [(x, y)] = graph.routes[("a", "c")]
    assert (x, y) != (graph.nodes["b"].x, graph.nodes["b"].y) and x == LAYER_GAP
    edges = {(e["source"], e["target"]): e["points"] for e in graph.to_dict()["edges"]}
    assert edges == {("a", "b"): [], ("b", "c"): [], ("a", "c"): [(x, y)]}


def test_layout_cells_of_nodes_and_bends_never_overlap() -> None:
    edges = [(f"k{i}", f"k{j}") for i in range(30) for j in range(i + 1, 30) if (i * j) % 7 == 1]
    graph = _graph(edges)
    layout(graph)
    cells = [(n.x, n.y) for n in graph.nodes.values()]
    cells += [p for points in graph.routes.values() for p in points]
    assert len(cells) == len(set(cells))


def test_layout_barycenter_keeps_children_next_to_their_parent() -> None:
    # by name the children would interleave (c1 c2 c3 c4); c1, c3 hang off b and c2, c4 off a
    graph = _graph([("b", "c1"), ("a", "c2"), ("b", "c3"), ("a", "c4")])
    layout(graph)
    assert graph.nodes["a"].y < graph.nodes["b"].y
    column = sorted(("c1", "c2", "c3", "c4"), key=lambda k: graph.nodes[k].y)
    assert column == ["c2", "c4", "c1", "c3"]


@pytest.mark.parametrize(
    ("text", "addr"),
    [
        pytest.param("127.0.0.1:9080", ("127.0.0.1", 9080), id="ipv4"),
        pytest.param("[::1]:8080", ("::1", 8080), id="ipv6"),
        pytest.param(":9090", ("127.0.0.1", 9090), id="port-only-is-loopback"),
        pytest.param("0.0.0.0:80", ("0.0.0.0", 80), id="any"),
    ],
)
def test_parse_addr(text: str, addr: tuple[str, int]) -> None:
    assert parse_addr(text) == addr


@pytest.mark.parametrize("text", ["localhost", "host:port", "h:70000"])
def test_parse_addr_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_addr(text)


def test_tree_for_page_has_the_page_shape_not_the_cli_json() -> None:
    from afflux.api import ObjectRef
    from afflux.cli._treefmt import Node
    from afflux.cli.ui._model import tree_for_page

    root = Node(ObjectRef("ns", "app", "kustomize.toolkit.fluxcd.io", "Kustomization"))
    root.children.append(Node(ObjectRef("ns", "web", "apps", "Deployment", "v1")))
    assert tree_for_page(root) == {
        "kind": "Kustomization", "name": "app", "namespace": "ns",
        "apiVersion": "kustomize.toolkit.fluxcd.io",
        "resources": [{"kind": "Deployment", "name": "web", "namespace": "ns",
                       "apiVersion": "apps/v1"}]}


# --- the object page ---------------------------------------------------------------------------


def _event(reason: str, message: str, time: str, **annotations: str) -> dict[str, Any]:
    return {"reason": reason, "message": message, "lastTimestamp": time,
            "metadata": {"annotations": annotations}}


@pytest.mark.parametrize(
    ("events", "change"),
    [
        pytest.param([], None, id="no-events"),
        pytest.param([_event("Progressing", "Health check passed", "t1")], None,
                     id="progressing-without-a-change-set"),
        pytest.param([_event("DriftCorrected", "Deployment/a/web configured", "t1")], None,
                     id="other-reason"),
        pytest.param([
            _event("Progressing", "ConfigMap/a/c created\nDeployment/a/web configured", "t2",
                   **{"kustomize.toolkit.fluxcd.io/revision": "main@sha1:2"}),
            _event("Progressing", "ConfigMap/a/old deleted", "t1"),
        ], {"time": "t2", "revision": "main@sha1:2",
            "changes": ["ConfigMap/a/c created", "Deployment/a/web configured"]},
            id="newest-change-set-with-its-revision"),
    ],
)
def test_last_change(events: list[dict[str, Any]], change: dict[str, Any] | None) -> None:
    assert last_change(events) == change


_REV = "image.toolkit.fluxcd.io/revision"
_FULL = "abcdef0123456789abcdef0123456789abcdef01"


@pytest.mark.parametrize(
    ("events", "pushes"),
    [
        pytest.param([], [], id="no-events"),
        pytest.param([_event("Succeeded", "repository up-to-date", "t1")], [],
                     id="succeeded-without-a-push"),
        pytest.param([_event("Progressing", "pushed commit 'abcdef0' to branch 'main'", "t1")],
                     [], id="other-reason"),
        pytest.param([
            _event("Succeeded", "pushed commit 'abcdef0' to branch 'main'\nfirst\n\n- a -> b",
                   "t1", **{_REV: f"main@sha1:{_FULL}"}),
            _event("Succeeded", "pushed commit '1234567' to branch 'auto'\nsecond", "t2"),
        ], [
            {"commit": "1234567", "branch": "auto", "time": "t2", "subject": "second"},
            {"commit": _FULL, "branch": "main", "time": "t1", "subject": "first"},
        ], id="newest-first-full-sha-from-the-revision"),
        pytest.param([
            _event("Succeeded", "pushed commit 'abcdef0' to refspec 'HEAD:refs/heads/x'", "t1",
                   **{_REV: f"sha1:{_FULL}"}),
        ], [{"commit": _FULL, "branch": "refspec 'HEAD:refs/heads/x'", "time": "t1",
             "subject": ""}], id="refspec-only-no-message"),
    ],
)
def test_push_records(events: list[dict[str, Any]], pushes: list[dict[str, Any]]) -> None:
    assert push_records(events) == pushes


def test_push_records_keeps_the_newest() -> None:
    events = [_event("Succeeded", f"pushed commit '{i:07x}' to branch 'main'\nc{i}", f"t{i:02}")
              for i in range(30)]
    assert [p["subject"] for p in push_records(events, limit=3)] == ["c29", "c28", "c27"]
