"""`spec.dependsOn`: the objects of the same kind that must be ready before this one runs.

Kustomizations and HelmReleases share the rule (Flux's): a dependency (its namespace
defaults to the dependent's) is ready when it exists, its Ready condition is True and its
`status.observedGeneration` equals its `metadata.generation` (the Ready it shows is about
its current spec). A kind may add its own check (`problem`). Otherwise the run waits:
`WaitingError(DependencyNotReady)`, retried after `--requeue-dependency` (and at once when
the dependency becomes ready, if the operator watches its kind for that).

`lists_dependency` and `readiness_problem` are pure; `check_dependencies` reads the objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from afflux.api._meta import DEPENDENCY_NOT_READY

from ._conditions import get_condition
from ._errors import WaitingError
from ._kube import ApiError
from ._object import ObjectRef, Resource
from ._pipeline import ReconcileContext

__all__ = ["check_dependencies", "lists_dependency", "readiness_problem"]

#: (the dependency's body or None, its `namespace/name`) -> why it is not ready, or None.
Problem = Callable[[Mapping[str, Any] | None, str], str | None]


def lists_dependency(body: Mapping[str, Any], namespace: str, name: str) -> bool:
    """Whether the object `body` lists namespace/name in its spec.dependsOn."""
    own = (body.get("metadata") or {}).get("namespace") or ""
    return any(dep.get("name") == name and (dep.get("namespace") or own) == namespace
               for dep in (body.get("spec") or {}).get("dependsOn") or ())


def readiness_problem(dep: Mapping[str, Any] | None, key: str) -> str | None:
    """Why the dependency `dep` (named `key`) is not ready, or None when it is."""
    if dep is None:
        return f"dependency '{key}' not found"
    status = dep.get("status") or {}
    ready = get_condition(status.get("conditions") or [], "Ready")
    if ready is None or ready.get("status") != "True":
        return f"dependency '{key}' is not ready"
    if status.get("observedGeneration") != (dep.get("metadata") or {}).get("generation"):
        return f"dependency '{key}' is not ready (its latest generation is not reconciled yet)"
    return None


async def check_dependencies(ctx: ReconcileContext[Any], resource: Resource,
                             deps: Sequence[Any], problem: Problem = readiness_problem
                             ) -> None:
    """Raise WaitingError(DependencyNotReady) at the first of `deps` (items with `name`
    and `namespace`) that is not ready."""
    for dep in deps:
        namespace = dep.namespace or ctx.obj.namespace
        key = f"{namespace}/{dep.name}"
        try:
            body = await ctx.kube.get(ObjectRef(resource, namespace, dep.name))
        except ApiError as err:
            raise WaitingError(DEPENDENCY_NOT_READY,
                               f"unable to get dependency '{key}': {err}") from None
        why = problem(body, key)
        if why is not None:
            raise WaitingError(DEPENDENCY_NOT_READY, why)
