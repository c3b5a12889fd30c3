"""One dependency graph across kinds: the `afflux.toolkit.fluxcd.io/depends-on` annotation,
and the cycles of the graph it and `spec.dependsOn` make.

Flux's `spec.dependsOn` names objects of the dependent's own kind. The annotation
`afflux.toolkit.fluxcd.io/depends-on: HelmRelease/ns/name,Kustomization/name` (comma
separated `Kind/namespace/name`, or `Kind/name` in the object's own namespace; kinds
`Kustomization` and `HelmRelease`) adds dependencies of either kind to a Kustomization or a
HelmRelease. The annotation keeps a repository valid for Flux, which ignores it.

Pure: `parse_depends_on` (strict, with a message that says what to write),
`dependencies_of` (an object body's edges: dependsOn, then the annotation; lenient, for
graphs drawn from what is there), `find_cycle` (over a function giving a node's edges).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEPENDENCY_KINDS",
    "DEPENDS_ON_ANNOTATION",
    "DependencyRef",
    "dependencies_of",
    "find_cycle",
    "parse_depends_on",
]

DEPENDS_ON_ANNOTATION = "afflux.toolkit.fluxcd.io/depends-on"
DEPENDENCY_KINDS = ("Kustomization", "HelmRelease")


@dataclass(frozen=True, order=True)
class DependencyRef:
    """A node of the graph: `Kind/namespace/name`."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


def parse_depends_on(text: str, namespace: str) -> list[DependencyRef]:
    """The references of the annotation's value (`namespace`: the object's own, for
    `Kind/name`); ValueError naming the bad item and the expected form."""
    refs: list[DependencyRef] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        parts = item.split("/")
        if len(parts) == 2:
            parts.insert(1, namespace)
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"annotation {DEPENDS_ON_ANNOTATION}: '{item}' is not "
                             "Kind/namespace/name or Kind/name")
        if parts[0] not in DEPENDENCY_KINDS:
            raise ValueError(f"annotation {DEPENDS_ON_ANNOTATION}: '{item}': kind "
                             f"'{parts[0]}' is not one of {', '.join(DEPENDENCY_KINDS)}")
        ref = DependencyRef(*parts)
        if ref not in refs:
            refs.append(ref)
    return refs


def dependencies_of(body: Mapping[str, Any], *, strict: bool = False) -> list[DependencyRef]:
    """The dependencies of a Kustomization or HelmRelease body: `spec.dependsOn` (its own
    kind), then the annotation's. Lenient unless `strict`: a malformed annotation adds
    nothing (strict: ValueError)."""
    meta = body.get("metadata") or {}
    own_ns = str(meta.get("namespace") or "")
    kind = str(body.get("kind") or "")
    refs: list[DependencyRef] = []
    for dep in (body.get("spec") or {}).get("dependsOn") or ():
        if isinstance(dep, Mapping) and dep.get("name"):
            ref = DependencyRef(kind, str(dep.get("namespace") or own_ns), str(dep["name"]))
            if ref not in refs:
                refs.append(ref)
    text = (meta.get("annotations") or {}).get(DEPENDS_ON_ANNOTATION)
    if text:
        try:
            extra = parse_depends_on(str(text), own_ns)
        except ValueError:
            if strict:
                raise
            extra = []
        refs.extend(r for r in extra if r not in refs)
    return refs


def find_cycle(start: DependencyRef, edges: Callable[[DependencyRef], Iterable[DependencyRef]],
               limit: int = 256) -> list[DependencyRef] | None:
    """A cycle through `start` (`[start, ..., start]`), following `edges` depth first, in
    the order they are given; None when there is none among the first `limit` nodes."""
    seen: set[DependencyRef] = set()
    path: list[DependencyRef] = [start]

    def walk(node: DependencyRef) -> list[DependencyRef] | None:
        for nxt in edges(node):
            if nxt == start:
                return [*path, start]
            if nxt in seen or len(seen) >= limit:
                continue
            seen.add(nxt)
            path.append(nxt)
            found = walk(nxt)
            if found:
                return found
            path.pop()
        return None

    return walk(start)
