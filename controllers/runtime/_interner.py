"""`Interner`: one shared copy of equal values (a tuple of condition statuses, a label pair,
a readiness key) for structures that hold one value per object, so that 10,000 objects in
the same state hold one tuple rather than 10,000 equal ones. Bounded: past `limit` values
it stops taking new ones (and hands each back as given), so values unique to each object,
or a churn of them, cannot grow it for ever. Pure; not thread-safe (callers that share one
across threads hold their own lock)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

__all__ = ["DEFAULT_LIMIT", "Interner"]

#: values an `Interner` holds at most
DEFAULT_LIMIT = 4096

H = TypeVar("H", bound=Hashable)


class Interner:
    """Shared copies of equal hashable values (module docstring)."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._held: dict[object, object] = {}

    def __call__(self, value: H) -> H:
        """The held value equal to `value` (taking `value` while under the limit)."""
        held = self._held.get(value)
        if held is not None:
            return held  # type: ignore[return-value]
        if len(self._held) < self.limit:
            self._held[value] = value
        return value

    def __len__(self) -> int:
        return len(self._held)
