"""`afflux tree --graph`: the whole dependency graph of the Flux objects in every namespace:
sources -> the Kustomizations and HelmReleases they feed, dependsOn edges and the edges of
the `afflux.toolkit.fluxcd.io/depends-on` annotation across kinds, and the cycles
(`_graphfmt`). Every namespace, since the edges cross them; a kind the cluster does not serve
is left out with a warning. `-o json|yaml` prints the nodes, edges and cycles as data.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._context import Context
from ._errors import CLIError
from ._format import dump_json, dump_yaml
from ._graphfmt import graph_doc, render_graph
from ._kinds import NOUNS
from ._kube import KubeNotFound, resource_of
from .ui._model import build_graph

__all__ = ["GRAPH_KINDS", "run_graph"]

#: the kinds the graph is drawn from
GRAPH_KINDS = frozenset({"GitRepository", "OCIRepository", "HelmRepository", "HelmChart",
                         "Bucket", "ExternalArtifact", "Kustomization", "HelmRelease"})


def run_graph(args: argparse.Namespace) -> int:
    if not getattr(args, "graph", False):
        raise CLIError("name the object to print the tree of, or ask for the whole graph",
                       "e.g. `afflux tree ks flux-system`, or `afflux tree --graph`")
    ctx = Context.from_args(args)
    objs: list[dict[str, Any]] = []
    for noun in NOUNS:
        if noun.kind.KIND not in GRAPH_KINDS:
            continue
        try:
            objs.extend(ctx.kube.list(resource_of(noun.kind), None))
        except KubeNotFound:
            ctx.printer.warning(f"the cluster does not serve {noun.kind.KIND}: left out")
    graph = build_graph(objs, applied=False)
    if args.output == "json":
        ctx.printer.result(dump_json(graph_doc(graph)), end="")
    elif args.output == "yaml":
        ctx.printer.result(dump_yaml([graph_doc(graph)], separator=False), end="")
    else:
        ctx.printer.result(render_graph(graph), end="")
    return 0
