"""A scheduler for the watch callbacks' unit tests: its lookups over a list of bodies (a
scan for `keys_where`, the runtime's real `DependentsIndex` for `dependents`),
recording what the callbacks trigger."""

from __future__ import annotations

from typing import Any

from afflux.controllers.runtime import DependentsIndex


class RecordingScheduler:
    def __init__(self, *bodies: dict[str, Any], kind: str = "Kustomization") -> None:
        self.bodies = list(bodies)
        self.kind = kind
        self.triggered: list[tuple[str, str]] = []

    def keys_where(self, predicate: Any) -> list[tuple[str, str]]:
        return [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in self.bodies
                if predicate(b)]

    def dependents(self, kind: str, namespace: str, name: str) -> list[tuple[str, str]]:
        index = DependentsIndex(self.kind)  # built from the bodies as they are now
        for body in self.bodies:
            index.update((body["metadata"]["namespace"], body["metadata"]["name"]), body)
        return index.dependents(kind, namespace, name)

    def trigger(self, namespace: str, name: str) -> bool:
        self.triggered.append((namespace, name))
        return True
