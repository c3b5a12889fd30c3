"""The dependencies phase: every Kustomization in `spec.dependsOn`, and every Kustomization
or HelmRelease in the `afflux.toolkit.fluxcd.io/depends-on` annotation, must be ready first;
a cycle through this Kustomization stalls it (the runtime's `check_dependencies`).

A dependency is ready by the runtime's rule (`check_dependencies`: it exists, Ready=True at
its current generation, or its `readyExpr`). When it builds the same source as this
Kustomization, it must also have applied the revision this run is about to apply, so an
update rolls out in dependency order. Otherwise the run waits: Ready=False with
DependencyNotReady, retried after `--requeue-dependency` (and at once when the dependency
becomes ready: the operator watches Kustomizations for that, see `handlers`).

`dependency_problem` (readiness, then `revision_problem`) is the pure decision; the phase
only reads the objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from afflux.api import Kustomization
from afflux.controllers.runtime import (
    PhaseResult,
    ReconcileContext,
    check_dependencies,
    lists_dependency,
    readiness_problem,
)

from ._reconcile_state import KUSTOMIZATION, run_of

__all__ = ["dependencies_phase", "dependency_problem", "depends_on", "revision_problem"]


#: Whether a Kustomization body lists namespace/name in its dependsOn (pure).
depends_on = lists_dependency


def dependency_problem(
    dep: Mapping[str, Any] | None,
    key: str,
    *,
    source: tuple[str, str, str],
    revision: str,
) -> str | None:
    """Why the dependency `dep` (named `key`, `ns/name`) is not ready, or None when it is.
    `source` and `revision` are this Kustomization's (kind, namespace, name) and revision."""
    return readiness_problem(dep, key) or revision_problem(dep, key, source=source,
                                                          revision=revision)


def revision_problem(
    dep: Mapping[str, Any] | None,
    key: str,
    *,
    source: tuple[str, str, str],
    revision: str,
) -> str | None:
    """Why the dependency `dep` has not applied `revision` when it builds the same `source`
    (this Kustomization's own check, after readiness or a readyExpr), or None."""
    if dep is None:
        return None
    meta = dep.get("metadata") or {}
    status = dep.get("status") or {}
    ref = (dep.get("spec") or {}).get("sourceRef") or {}
    dep_source = (ref.get("kind"), ref.get("namespace") or meta.get("namespace"), ref.get("name"))
    if dep_source == source and revision and status.get("lastAppliedRevision") != revision:
        return f"dependency '{key}' revision is not up to date"
    return None


async def dependencies_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    ks = ctx.obj
    deps = ks.spec.depends_on or []
    state = run_of(ctx)
    ref = ks.spec.source_ref
    source = (ref.kind, ref.namespace or ks.namespace, ref.name)
    await check_dependencies(ctx, KUSTOMIZATION, deps, lambda body, key: revision_problem(
        body, key, source=source, revision=state.revision),
        additive=state.services.settings.additive_cel_dependency_check)
    return None
