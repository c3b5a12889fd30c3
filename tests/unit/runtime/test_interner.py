"""`Interner`: one shared copy of equal values, bounded."""

from __future__ import annotations

import pytest

from afflux.controllers.runtime._interner import DEFAULT_LIMIT, Interner


def _fresh(value: tuple[str, ...]) -> tuple[str, ...]:
    """An equal tuple of equal strings, none of them the same object as `value`'s."""
    return tuple("".join(list(s)) for s in value)


@pytest.mark.parametrize(("values", "held"), [
    pytest.param([], 0, id="nothing"),
    pytest.param([("True", "False")], 1, id="one"),
    pytest.param([("True", "False"), ("True", "False")], 1, id="equal-values-once"),
    pytest.param([("True", "False"), ("False", "True")], 2, id="different-values-apart"),
    pytest.param([("ready", "True"), ("ready", "True"), ("name", "a")], 2, id="pairs"),
])
def test_equal_values_are_held_once(values: list[tuple[str, ...]], held: int) -> None:
    share = Interner()
    first: dict[tuple[str, ...], tuple[str, ...]] = {}
    for value in values:
        given = share(_fresh(value))
        assert given == value
        assert given is first.setdefault(value, given)  # the first one, every time
    assert len(share) == held


@pytest.mark.parametrize(("limit", "count", "held"), [
    pytest.param(3, 2, 2, id="under-the-limit"),
    pytest.param(3, 3, 3, id="at-the-limit"),
    pytest.param(3, 10, 3, id="over-the-limit"),
    pytest.param(0, 5, 0, id="limit-zero-holds-nothing"),
])
def test_the_table_is_bounded(limit: int, count: int, held: int) -> None:
    share = Interner(limit)
    for i in range(count):
        value = (f"v{i}",)
        assert share(value) == value  # past the limit: handed back as given
    assert len(share) == held
    new = _fresh((f"v{count - 1}",))
    assert (share(new) is new) is (count > limit)  # not held: not shared


def test_the_default_limit() -> None:
    assert Interner().limit == DEFAULT_LIMIT == 4096
