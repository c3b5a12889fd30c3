"""The includers index: who includes whom, as each reconcile records it."""

from __future__ import annotations

import pytest

from afflux.controllers.source._includers import IncludersIndex

Steps = list[tuple[str, str, str, tuple[str, ...]]]  # (op, namespace, name, included)


def replay(steps: Steps) -> IncludersIndex:
    index = IncludersIndex()
    for op, ns, name, included in steps:
        if op == "record":
            index.record(ns, name, included)
        else:
            index.forget(ns, name)
    return index


@pytest.mark.parametrize(
    ("steps", "query", "expected"),
    [
        ([("record", "a", "app", ("lib", "other")), ("record", "a", "tool", ("lib",))],
         ("a", "lib"), ["app", "tool"]),
        ([("record", "a", "app", ("lib",))], ("a", "nothing"), []),
        ([("record", "b", "foreign", ("lib",)), ("record", "a", "app", ("lib",))],
         ("a", "lib"), ["app"]),
        ([("record", "a", "app", ("lib",)), ("record", "a", "app", ("other",))],
         ("a", "lib"), []),
        ([("record", "a", "app", ("lib",)), ("record", "a", "app", ("other",))],
         ("a", "other"), ["app"]),
        ([("record", "a", "app", ("lib",)), ("record", "a", "app", ())], ("a", "lib"), []),
        ([("record", "a", "app", ("lib",)), ("record", "a", "tool", ("lib",)),
          ("forget", "a", "app", ())], ("a", "lib"), ["tool"]),
        ([("record", "a", "app", ("lib", "lib"))], ("a", "lib"), ["app"]),
        ([("forget", "a", "never", ())], ("a", "lib"), []),
    ],
    ids=["two-includers", "not-included", "other-namespace-apart", "include-moved-old",
         "include-moved-new", "include-dropped", "deleted", "listed-twice",
         "forget-unknown"],
)
def test_includers(steps: Steps, query: tuple[str, str], expected: list[str]) -> None:
    assert replay(steps).includers(*query) == expected


@pytest.mark.parametrize(
    ("steps", "size"),
    [
        ([("record", "a", "app", ("lib",)), ("record", "a", "plain", ())], 1),
        ([("record", "a", "app", ("lib",)), ("forget", "a", "app", ())], 0),
        ([("record", "a", f"r{i}", (f"l{i}",)) for i in range(3)], 3),
    ],
    ids=["plain-not-kept", "forgotten-not-kept", "one-entry-each"],
)
def test_only_objects_that_include_are_kept(steps: Steps, size: int) -> None:
    index = replay(steps)
    assert len(index) == size
    if size == 0:
        assert index._includers == {}
