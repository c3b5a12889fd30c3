"""Dependencies: the objects that must be ready before this one runs, `spec.dependsOn` (of the
same kind, Flux's) and the `afflux.toolkit.fluxcd.io/depends-on` annotation (of either
kind, Kustomization or HelmRelease: `afflux.api._depends`).

Kustomizations and HelmReleases share the rule (Flux's): a dependency (its namespace
defaults to the dependent's) is ready when it exists, its Ready condition is True and its
`status.observedGeneration` equals its `metadata.generation` (the Ready it shows is about
its current spec). A kind may add its own check for dependencies of its own kind
(`extra`). Otherwise the run waits: `WaitingError(DependencyNotReady)`, retried after
`--requeue-dependency` (and at once when the dependency becomes ready, if the operator
watches its kind for that). A `spec.dependsOn[].readyExpr` (CEL over `self` and `dep`,
`_readyexpr`) replaces the built-in check, Ready at the current generation (the kind's own
check still applies), or adds to it when `additive` (the operator's
`--feature-gates=AdditiveCELDependencyCheck=true`); one that does not compile is
`StallingError(InvalidCELExpression)`, one that is false or cannot be evaluated waits like
any dependency that is not ready. The other kind's status is read through the API like any
object: an operator never imports the other's code.

Before that, the graph reachable from the object (both kinds of edges, read through the
API, at most `GRAPH_LIMIT` objects) is searched for a cycle through it: one is
`StallingError(DependencyCycle)` naming the cycle (`Kustomization/ns/a ->
HelmRelease/ns/b -> Kustomization/ns/a`), which Flux would leave waiting for ever. A
malformed annotation is `StallingError(InvalidDependsOn)` saying what to write. The
scheduler runs an object again when its annotation changes, and the watches of the
dependencies trigger their dependents, so breaking a cycle anywhere un-stalls it.

The other direction, who depends on an object, is `DependentsIndex`: the scheduler of a
kind keeps one, updated with every body it observes (so a `spec.dependsOn` or annotation
edit, and a deletion, move it at once), and the watch callbacks that trigger dependents ask
it (`Scheduler.dependents`): a lookup costs the number of dependents, not a scan of every
object of the kind (a scan on each readiness change made a start with N objects N²).

`lists_dependency`, `readiness_problem` and `DependentsIndex` are pure; `check_dependencies`
reads the objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from afflux.api._depends import (
    DEPENDS_ON_ANNOTATION,
    DependencyRef,
    dependencies_of,
    find_cycle,
    parse_depends_on,
)
from afflux.api._meta import (
    DEPENDENCY_CYCLE,
    DEPENDENCY_NOT_READY,
    INVALID_CEL_EXPRESSION,
    INVALID_DEPENDS_ON,
)

from ._conditions import get_condition
from ._errors import StallingError, WaitingError
from ._kube import ApiError
from ._object import ObjectRef, Resource
from ._pipeline import ReconcileContext
from ._readyexpr import ReadyExprError, compile_ready_expr, ready_by_expr

__all__ = ["GRAPH_KINDS", "GRAPH_LIMIT", "DependentsIndex", "check_dependencies",
           "dependency_refs", "lists_dependency", "readiness_problem"]

#: (the dependency's body or None, its `namespace/name`) -> why it is not ready, or None.
Problem = Callable[[Mapping[str, Any] | None, str], str | None]

#: the kinds the graph spans, addressed without importing their operators
GRAPH_KINDS: dict[str, Resource] = {
    "Kustomization": Resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization",
                              "kustomizations"),
    "HelmRelease": Resource("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases"),
}
#: objects read at most when searching for a cycle
GRAPH_LIMIT = 256


def lists_dependency(body: Mapping[str, Any], namespace: str, name: str,
                     kind: str | None = None) -> bool:
    """Whether the object `body` depends on the `kind` (default: its own) namespace/name,
    in its spec.dependsOn (own kind) or its depends-on annotation."""
    own_kind = str(body.get("kind") or "")
    kind = kind or own_kind
    own = (body.get("metadata") or {}).get("namespace") or ""
    if kind == own_kind and any(
            dep.get("name") == name and (dep.get("namespace") or own) == namespace
            for dep in (body.get("spec") or {}).get("dependsOn") or ()):
        return True
    wanted = DependencyRef(kind, namespace, name)
    return any(ref == wanted for ref in dependencies_of(body))


def dependency_refs(body: Mapping[str, Any], kind: str) -> frozenset[DependencyRef]:
    """What the object `body` of `kind` depends on: its spec.dependsOn (of `kind`, the
    namespace defaulting to the object's) and its depends-on annotation (lenient: a malformed
    one adds nothing; the dependencies phase stalls on it)."""
    if not body.get("kind"):
        body = {**body, "kind": kind}
    return frozenset(dependencies_of(body))


#: an object of the indexed kind: (namespace, name)
Key = tuple[str, str]


class DependentsIndex:
    """Dependency -> the objects (of one kind) that list it, kept up to date by `update`
    (with an object's latest body) and `remove` (when it is gone). Pure."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._deps: dict[Key, frozenset[DependencyRef]] = {}
        self._dependents: dict[DependencyRef, set[Key]] = {}

    def update(self, key: Key, body: Mapping[str, Any]) -> None:
        """Record the dependencies of the object `key` as its body `body` lists them."""
        new = dependency_refs(body, self.kind)
        old = self._deps.get(key, frozenset())
        if new == old:
            return
        for ref in old - new:
            keys = self._dependents.get(ref)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._dependents[ref]
        for ref in new - old:
            self._dependents.setdefault(ref, set()).add(key)
        if new:
            self._deps[key] = new
        else:
            self._deps.pop(key, None)

    def remove(self, key: Key) -> None:
        """The object `key` is gone: it depends on nothing any more."""
        for ref in self._deps.pop(key, frozenset()):
            keys = self._dependents.get(ref)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._dependents[ref]

    def dependents(self, kind: str, namespace: str, name: str) -> list[Key]:
        """The objects that depend on `kind` namespace/name, sorted."""
        return sorted(self._dependents.get(DependencyRef(kind, namespace, name), ()))

    def dependencies(self, key: Key) -> frozenset[DependencyRef]:
        """What the object `key` depends on, as last recorded."""
        return self._deps.get(key, frozenset())

    def __len__(self) -> int:
        """How many objects depend on something."""
        return len(self._deps)


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


def _own_dependencies(ctx: ReconcileContext[Any], kind: str, deps: Sequence[Any]
                      ) -> list[tuple[DependencyRef, bool]]:
    """(reference, from spec.dependsOn) of the object: dependsOn, then the annotation."""
    namespace = ctx.obj.namespace or ""
    refs = [(DependencyRef(kind, dep.namespace or namespace, dep.name), True) for dep in deps]
    text = ((ctx.body.get("metadata") or {}).get("annotations") or {}).get(
        DEPENDS_ON_ANNOTATION)
    if text:
        try:
            extra = parse_depends_on(str(text), namespace)
        except ValueError as err:
            raise StallingError(INVALID_DEPENDS_ON, f"{err}; e.g. "
                                f"'HelmRelease/{namespace}/name,Kustomization/name'") from None
        known = {r for r, _ in refs}
        refs.extend((r, False) for r in extra if r not in known)
    return refs


async def _read(ctx: ReconcileContext[Any], ref: DependencyRef) -> Mapping[str, Any] | None:
    return await ctx.kube.get(ObjectRef(GRAPH_KINDS[ref.kind], ref.namespace, ref.name))


def _ready_programs(deps: Sequence[Any]) -> list[Any]:
    """The compiled readyExpr of each spec.dependsOn item (None where it has none)."""
    programs = []
    for i, dep in enumerate(deps):
        text = getattr(dep, "ready_expr", None)
        try:
            programs.append(compile_ready_expr(text, f"spec.dependsOn[{i}].readyExpr")
                            if text else None)
        except ReadyExprError as err:
            raise StallingError(INVALID_CEL_EXPRESSION, str(err)) from None
    return programs


def _expr_problem(program: Any, me: Mapping[str, Any], dep: Mapping[str, Any] | None,
                  key: str) -> str | None:
    """Why the readyExpr `program` does not hold for the dependency `dep`, or None."""
    if dep is None:
        return f"dependency '{key}' not found"
    try:
        ready = ready_by_expr(program, me, dep)
    except ReadyExprError as err:
        return f"dependency '{key}' is not ready: its readyExpr failed to evaluate: {err}"
    return None if ready else f"dependency '{key}' is not ready according to its readyExpr"


async def check_dependencies(ctx: ReconcileContext[Any], resource: Resource,
                             deps: Sequence[Any], extra: Problem | None = None, *,
                             additive: bool = False) -> None:
    """Stall on a malformed annotation, a readyExpr that does not compile or a cycle through
    the object; else raise WaitingError(DependencyNotReady) at the first dependency (`deps`:
    its spec.dependsOn, items with `name`, `namespace` and `ready_expr`; then its
    annotation's) that is not ready. `extra` is the kind's own check for dependencies of its
    kind, after the readiness rule; `additive`: a readyExpr adds to the built-in rule
    instead of replacing it."""
    programs = _ready_programs(deps)
    own = _own_dependencies(ctx, resource.kind, deps)
    if not own:
        return
    me = DependencyRef(resource.kind, ctx.obj.namespace or "", ctx.obj.name)
    bodies: dict[DependencyRef, Mapping[str, Any] | None] = {}
    failures: dict[DependencyRef, ApiError] = {}
    edges: dict[DependencyRef, list[DependencyRef]] = {me: [r for r, _ in own]}
    todo = [r for r, _ in own]
    while todo and len(edges) < GRAPH_LIMIT:
        ref = todo.pop(0)
        if ref in edges:
            continue
        try:
            body = bodies[ref] = await _read(ctx, ref)
        except ApiError as err:
            failures[ref] = err
            body = None
        edges[ref] = dependencies_of(body) if body is not None else []
        todo.extend(r for r in edges[ref] if r not in edges)
    cycle = find_cycle(me, lambda node: edges.get(node, ()), limit=GRAPH_LIMIT)
    if cycle:
        raise StallingError(DEPENDENCY_CYCLE, "dependency cycle: " + " -> ".join(map(str, cycle))
                            + "; remove one of these dependencies (spec.dependsOn or the "
                            f"{DEPENDS_ON_ANNOTATION} annotation)")
    for i, (ref, listed) in enumerate(own):
        key = f"{ref.namespace}/{ref.name}" if listed else str(ref)
        if ref in failures:
            raise WaitingError(DEPENDENCY_NOT_READY,
                               f"unable to get dependency '{key}': {failures[ref]}")
        body = bodies.get(ref)
        program = programs[i] if listed else None
        checks: list[Problem] = []
        if program is not None:
            checks.append(lambda b, k, p=program: _expr_problem(p, ctx.body, b, k))
        if program is None or additive:
            checks.append(readiness_problem)
        if extra is not None and ref.kind == resource.kind:
            checks.append(extra)
        for check in checks:
            why = check(body, key)
            if why is not None:
                raise WaitingError(DEPENDENCY_NOT_READY, why)
