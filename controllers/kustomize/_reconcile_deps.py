"""The dependencies phase: every Kustomization in `spec.dependsOn` must be ready first.

A dependency (namespace defaults to the Kustomization's) is ready when it exists, its Ready
condition is True, and its `status.observedGeneration` equals its `metadata.generation` (the
Ready it shows is about its current spec). When it builds the same source as this
Kustomization, it must also have applied the revision this run is about to apply, so an
update rolls out in dependency order. Otherwise the run waits: Ready=False with
DependencyNotReady, retried after `--requeue-dependency` (and at once when the dependency
becomes ready: the operator watches Kustomizations for that, see `handlers`).

`dependency_problem` is the pure decision; the phase only reads the objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from afflux.api import Kustomization
from afflux.api._meta import DEPENDENCY_NOT_READY
from afflux.controllers.runtime import (
    ApiError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    WaitingError,
    get_condition,
)

from ._reconcile_state import KUSTOMIZATION, run_of

__all__ = ["dependencies_phase", "dependency_problem", "depends_on"]


def depends_on(body: Mapping[str, Any], namespace: str, name: str) -> bool:
    """Whether the Kustomization `body` lists namespace/name in its dependsOn (pure)."""
    own = (body.get("metadata") or {}).get("namespace") or ""
    for dep in (body.get("spec") or {}).get("dependsOn") or ():
        if dep.get("name") == name and (dep.get("namespace") or own) == namespace:
            return True
    return False


def dependency_problem(
    dep: Mapping[str, Any] | None,
    key: str,
    *,
    source: tuple[str, str, str],
    revision: str,
) -> str | None:
    """Why the dependency `dep` (named `key`, `ns/name`) is not ready, or None when it is.
    `source` and `revision` are this Kustomization's (kind, namespace, name) and revision."""
    if dep is None:
        return f"dependency '{key}' not found"
    meta = dep.get("metadata") or {}
    status = dep.get("status") or {}
    ready = get_condition(status.get("conditions") or [], "Ready")
    if ready is None or ready.get("status") != "True":
        return f"dependency '{key}' is not ready"
    if status.get("observedGeneration") != meta.get("generation"):
        return f"dependency '{key}' is not ready (its latest generation is not reconciled yet)"
    ref = (dep.get("spec") or {}).get("sourceRef") or {}
    dep_source = (ref.get("kind"), ref.get("namespace") or meta.get("namespace"), ref.get("name"))
    if dep_source == source and revision and status.get("lastAppliedRevision") != revision:
        return f"dependency '{key}' revision is not up to date"
    return None


async def dependencies_phase(ctx: ReconcileContext[Kustomization]) -> PhaseResult | None:
    ks = ctx.obj
    deps = ks.spec.depends_on or []
    if not deps:
        return None
    state = run_of(ctx)
    ref = ks.spec.source_ref
    source = (ref.kind, ref.namespace or ks.namespace, ref.name)
    for dep in deps:
        namespace = dep.namespace or ks.namespace
        key = f"{namespace}/{dep.name}"
        try:
            body = await ctx.kube.get(ObjectRef(KUSTOMIZATION, namespace, dep.name))
        except ApiError as err:
            raise WaitingError(DEPENDENCY_NOT_READY,
                               f"unable to get dependency '{key}': {err}") from None
        problem = dependency_problem(body, key, source=source, revision=state.revision)
        if problem is not None:
            raise WaitingError(DEPENDENCY_NOT_READY, problem)
    return None
