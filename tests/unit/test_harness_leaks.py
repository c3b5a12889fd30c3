"""The leak finder of the harness: it finds a registered value in any text, names where,
and never prints the value."""

from __future__ import annotations

import pytest

from harness.leaks import find_leaks

SECRET = "s3cr3t-password-value"


@pytest.mark.parametrize(("texts", "found"), [
    ({"log a": "nothing here"}, []),
    ({"log a": f"GET https://git-user:{SECRET}@host/repo"}, ["log a"]),
    ({"events": f'{{"message": "{SECRET}"}}', "log b": "fine"}, ["events"]),
    ({"status x": SECRET[:-1]}, []),
], ids=["clean", "in-a-url-in-a-log", "in-an-event", "a-prefix-is-not-the-value"])
def test_find_leaks(texts: dict[str, str], found: list[str]) -> None:
    leaks = find_leaks(texts, [SECRET])
    assert [leak.split(":")[0] for leak in leaks] == found
    assert all(SECRET not in leak for leak in leaks)
