"""Which GitRepositories include which: an index, so an artifact change finds its
includers without a scan.

Each GitRepository's reconcile records the repositories its `spec.include` names before
it reads their artifacts (`record`), and its finalizer forgets it (`forget`). When the
artifact of `namespace/name` changes, `includers(namespace, name)` answers in
O(includers). Before this index, every artifact change of any GitRepository copied the
body of every GitRepository to look for includers: with N objects an initial sync cost N²
body copies (about 60 µs each: 120 s of CPU at 1,000).

Why recording at reconcile time is enough: an object reads its includes' artifacts only
in a reconcile, after recording them, so every change after that read triggers it; a
change before it is read by that reconcile. A stale entry (the spec dropped an include
and the object has not been reconciled since, or it was deleted without its finalizer
running) only causes one extra no-change reconcile, or a trigger of an unknown object,
which the scheduler ignores. Pure: no I/O, no locking (the operator's event loop is its
only user).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["IncludersIndex"]

Key = tuple[str, str]


class IncludersIndex:
    """(namespace, included name) -> the names of the objects that include it."""

    def __init__(self) -> None:
        self._includes: dict[Key, frozenset[str]] = {}
        self._includers: dict[Key, set[str]] = {}

    def record(self, namespace: str, name: str, included: Iterable[str]) -> None:
        """The object `namespace/name` includes the repositories `included` (same
        namespace) now; an empty `included` forgets it."""
        key = (namespace, name)
        new = frozenset(included)
        old = self._includes.get(key, frozenset())
        if new == old:
            return
        for dep in old - new:
            self._drop(namespace, dep, name)
        for dep in new - old:
            self._includers.setdefault((namespace, dep), set()).add(name)
        if new:
            self._includes[key] = new
        else:
            self._includes.pop(key, None)

    def forget(self, namespace: str, name: str) -> None:
        """The object is gone: it includes nothing any more."""
        self.record(namespace, name, ())

    def includers(self, namespace: str, name: str) -> list[str]:
        """The names of the objects in `namespace` that include `name`, sorted."""
        return sorted(self._includers.get((namespace, name), ()))

    def __len__(self) -> int:
        """How many objects include something."""
        return len(self._includes)

    def _drop(self, namespace: str, dep: str, name: str) -> None:
        names = self._includers.get((namespace, dep))
        if names is not None:
            names.discard(name)
            if not names:
                del self._includers[(namespace, dep)]
