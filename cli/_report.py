"""`afflux report [--since 168h] [-A] [-o text|json|markdown|prometheus]`: delivery metrics
(DORA: deployment frequency, lead time, change failure rate, time to restore) per
Kustomization and HelmRelease.

It reads what the cluster remembers: the Events the controllers recorded about each object
and its `status.history`; and, for lead times, the commit time of each applied revision
from Git: every GitRepository the objects build (a Kustomization's sourceRef, a
HelmRelease's chart sourceRef) is fetched once with its own URL and `secretRef`
credentials, as `afflux preview` does (`_gitsource`); `--no-git` leaves lead times out. The
figures themselves are computed by the pure `_dora` module.

The window can only reach as far back as that memory: the API server keeps Events for its
`--event-ttl` (1h by default) and a Kustomization keeps five history entries, so for long
windows run `afflux report -o prometheus` on a schedule into node-exporter's textfile
collector and let Prometheus keep the series (why the figures are exported this way rather
than by the operators: module docstring of `_reportfmt`, and docs/beyond-flux.md).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from afflux.api import HelmRelease, Kustomization

from . import _gitsource as gitsource
from ._context import Context, duration_arg
from ._dora import Outcome, commit_sha, event_outcome, figures, history_outcomes
from ._errors import CLIError
from ._format import human_duration
from ._kube import KubeNotFound, ResourceType, resource_of
from ._reportfmt import OUTPUTS, Row, render

__all__ = ["register", "run"]

EVENTS = ResourceType("", "v1", "Event", "events")


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report", parents=list(parents),
        help="delivery metrics (DORA) per Kustomization and HelmRelease",
        description="Deployment frequency, lead time from commit to applied, change failure "
        "rate and time to restore, from the controllers' events, the status histories and "
        "Git.")
    p.add_argument("--since", type=duration_arg, default=duration_arg("168h"),
                   help="the window, a Go duration (default 168h, a week)")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="report on every namespace")
    p.add_argument("-o", "--output", choices=OUTPUTS, default="text",
                   help="text, json, markdown, or prometheus (textfile collector format)")
    p.add_argument("--no-git", action="store_true",
                   help="do not fetch the sources' Git repositories (no lead times)")
    p.set_defaults(func=run)


def _git_source(kind: str, body: Mapping[str, Any]) -> tuple[str, str] | None:
    spec = body.get("spec") or {}
    namespace = (body.get("metadata") or {}).get("namespace") or ""
    if kind == "HelmRelease":
        ref = ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
    else:
        ref = spec.get("sourceRef") or {}
    if ref.get("kind") != "GitRepository" or not ref.get("name"):
        return None
    return str(ref.get("namespace") or namespace), str(ref["name"])


def _commit_times(ctx: Context, wanted: Mapping[tuple[str, str], set[str]]
                  ) -> dict[str, datetime]:
    """Commit times of the wanted SHAs, per GitRepository; a repository that cannot be
    fetched is a warning (its lead times are left out), not a failure."""
    out: dict[str, datetime] = {}
    for (namespace, name), shas in sorted(wanted.items()):
        body = ctx.kube.get_or_none(gitsource.GITREPOSITORIES, name, namespace)
        if body is None or not shas:
            continue
        with tempfile.TemporaryDirectory(prefix="afflux-report-") as tmp:
            try:
                repo = gitsource.fetch(gitsource.source_auth(ctx, body), Path(tmp) / "r.git")
            except CLIError as err:
                ctx.printer.warning(f"no lead times from GitRepository {namespace}/{name}: "
                                    f"{err.message}")
                continue
            for sha in shas:
                when = gitsource.commit_time(repo, sha)
                if when is not None:
                    out[sha] = when
    return out


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    namespace = None if ctx.all_namespaces else ctx.namespace
    until = datetime.now(UTC)
    since = until - timedelta(seconds=args.since)
    objects: list[tuple[str, dict[str, Any]]] = []
    for api_kind in (Kustomization, HelmRelease):
        try:
            found = ctx.kube.list(resource_of(api_kind), namespace)
        except KubeNotFound:  # the kind is not installed (no helm-controller, say)
            continue
        objects += [(api_kind.KIND, o) for o in found]
    outcomes: dict[tuple[str, str, str], list[Outcome]] = {}
    for kind, body in objects:
        meta = body.get("metadata") or {}
        outcomes[(kind, meta.get("namespace", ""), meta.get("name", ""))] = \
            history_outcomes(kind, body.get("status") or {})
    for event in ctx.kube.list(EVENTS, namespace):
        involved = event.get("involvedObject") or {}
        key = (str(involved.get("kind")), str(involved.get("namespace") or ""),
               str(involved.get("name")))
        if key in outcomes:
            outcomes[key] += event_outcome(event)
    wanted: dict[tuple[str, str], set[str]] = {}
    if not args.no_git:
        for kind, body in objects:
            source = _git_source(kind, body)
            meta = body.get("metadata") or {}
            if source is not None:
                shas = {commit_sha(o.revision) for o in
                        outcomes[(kind, meta.get("namespace", ""), meta.get("name", ""))]}
                wanted.setdefault(source, set()).update(s for s in shas if s)
    commit_times = _commit_times(ctx, wanted)
    rows = [Row(kind, ns, name, figures(found, commit_times, since, until))
            for (kind, ns, name), found in sorted(outcomes.items())]
    window = human_duration(args.since)
    ctx.printer.result(render(rows, args.output, window), end="")
    return 0
