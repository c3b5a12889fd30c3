"""Condition helpers: pure functions over a list of Kubernetes condition dicts.

A condition is `{type, status, reason, message, lastTransitionTime, observedGeneration}`
(metav1.Condition). The rules, as in Flux and kstatus:

- `lastTransitionTime` changes only when `status` changes; a new reason or message on the
  same status keeps the old time.
- Negative-polarity conditions (`Reconciling`, `Stalled`, `FetchFailed`, ...: True means
  abnormal) are present only while True: setting one to False or Unknown removes it.
- `Ready`, `Reconciling`, `Stalled` come first in the list, the others keep their order.

The functions never mutate their input; `Conditions` is a small mutable wrapper around
them that remembers the object's generation and the clock, for use inside a phase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from afflux.api._meta import NEGATIVE_POLARITY, READY, RECONCILING, STALLED

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"
_STATUSES = (TRUE, FALSE, UNKNOWN)
_FIRST = (READY, RECONCILING, STALLED)

Condition = dict[str, Any]


def format_time(when: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises. Formatted by hand:
    `strftime` asks the C library, which may look at the time zone files on every call."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    t = when.astimezone(UTC)
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
            f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z")


def _status_str(status: bool | str) -> str:
    if status is True:
        return TRUE
    if status is False:
        return FALSE
    if status not in _STATUSES:
        raise ValueError(f"condition status must be one of {_STATUSES}, got {status!r}")
    return status


def get_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    """The condition of that type, or None."""
    for cond in conditions:
        if cond.get("type") == type_:
            return cond
    return None


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    cond = get_condition(conditions, type_)
    return cond is not None and cond.get("status") == TRUE


def remove_condition(conditions: Sequence[Condition], type_: str) -> list[Condition]:
    """A copy of `conditions` without the condition of that type."""
    return [dict(c) for c in conditions if c.get("type") != type_]


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    *,
    now: datetime | str,
    observed_generation: int | None = None,
    negative_polarity: frozenset[str] | set[str] = NEGATIVE_POLARITY,
) -> list[Condition]:
    """A copy of `conditions` with `type_` set (or removed, for a negative-polarity type
    that is not True). `now` becomes lastTransitionTime only if the status changed."""
    status_s = _status_str(status)
    if type_ in negative_polarity and status_s != TRUE:
        return remove_condition(conditions, type_)
    stamp = now if isinstance(now, str) else format_time(now)
    result: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.get("type") != type_:
            result.append(dict(cond))
            continue
        found = True
        new = dict(cond)
        if cond.get("status") != status_s or not cond.get("lastTransitionTime"):
            new["lastTransitionTime"] = stamp
        new.update(status=status_s, reason=reason, message=message)
        _set_generation(new, observed_generation)
        result.append(new)
    if not found:
        new = {
            "type": type_,
            "status": status_s,
            "reason": reason,
            "message": message,
            "lastTransitionTime": stamp,
        }
        _set_generation(new, observed_generation)
        result.append(new)
    return sort_conditions(result)


def _set_generation(cond: Condition, generation: int | None) -> None:
    if generation is None:
        cond.pop("observedGeneration", None)
    else:
        cond["observedGeneration"] = generation


def sort_conditions(conditions: Sequence[Condition]) -> list[Condition]:
    """Ready, Reconciling, Stalled first (in that order); the others keep their order."""

    def rank(item: tuple[int, Condition]) -> tuple[int, int]:
        index, cond = item
        t = cond.get("type")
        return (_FIRST.index(t), 0) if t in _FIRST else (len(_FIRST), index)

    return [c for _, c in sorted(enumerate(conditions), key=rank)]


class Conditions:
    """A mutable list of conditions bound to an object's generation and a clock.

    Phases use it through `ctx.conditions`: `mark_true`, `mark_false`, `mark_unknown`,
    `remove`, `get`, `is_true`. The pipeline reads `items` when it writes the status.
    """

    def __init__(
        self,
        items: Iterable[Condition] = (),
        *,
        generation: int | None,
        now: Callable[[], datetime],
        negative_polarity: frozenset[str] | set[str] = NEGATIVE_POLARITY,
    ) -> None:
        self._items: list[Condition] = [dict(c) for c in items]
        self._generation = generation
        self._now = now
        self._negative = negative_polarity

    @property
    def items(self) -> list[Condition]:
        """A copy of the current list."""
        return [dict(c) for c in self._items]

    def set(self, type_: str, status: bool | str, reason: str, message: str) -> None:
        self._items = set_condition(
            self._items,
            type_,
            status,
            reason,
            message,
            now=self._now(),
            observed_generation=self._generation,
            negative_polarity=self._negative,
        )

    def mark_true(self, type_: str, reason: str, message: str) -> None:
        self.set(type_, TRUE, reason, message)

    def mark_false(self, type_: str, reason: str, message: str) -> None:
        self.set(type_, FALSE, reason, message)

    def mark_unknown(self, type_: str, reason: str, message: str) -> None:
        self.set(type_, UNKNOWN, reason, message)

    def remove(self, type_: str) -> None:
        self._items = remove_condition(self._items, type_)

    def get(self, type_: str) -> Condition | None:
        cond = get_condition(self._items, type_)
        return dict(cond) if cond is not None else None

    def is_true(self, type_: str) -> bool:
        return is_true(self._items, type_)

    def __iter__(self) -> Iterator[Condition]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self._items)
