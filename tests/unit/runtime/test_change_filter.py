"""The key filter of Operator.watch: call back only when the watched value moved."""

from __future__ import annotations

import json
from typing import Any

import pytest

from afflux.controllers.runtime._operator import ChangeFilter


def source(name: str, revision: str | None, ns: str = "flux-system") -> dict[str, Any]:
    status = {"artifact": {"revision": revision}} if revision else {}
    return {"metadata": {"name": name, "namespace": ns}, "status": status}


def revision(body: Any) -> Any:
    return ((body.get("status") or {}).get("artifact") or {}).get("revision")


def test_change_filter() -> None:
    f = ChangeFilter(revision)
    assert f.changed(None, source("repo", None))  # first sight
    assert not f.changed("MODIFIED", source("repo", None))
    assert f.changed("MODIFIED", source("repo", "main@sha1:1"))
    assert not f.changed("MODIFIED", source("repo", "main@sha1:1"))  # e.g. a condition moved
    assert f.changed("MODIFIED", source("other", "main@sha1:1"))  # objects are separate
    assert f.changed("MODIFIED", source("repo", "main@sha1:1", ns="apps"))
    assert f.changed("MODIFIED", source("repo", "main@sha1:2"))
    assert f.changed("DELETED", source("repo", "main@sha1:2"))
    assert f.changed("ADDED", source("repo", "main@sha1:2"))  # forgotten on deletion


def readiness(body: Any) -> Any:
    status = body.get("status") or {}
    return (status.get("ready"), status.get("revision"))


@pytest.mark.parametrize(("a", "b", "shared"), [
    pytest.param({"ready": "True", "revision": "main@sha1:1"},
                 {"ready": "True", "revision": "main@sha1:1"}, True, id="equal-keys-held-once"),
    pytest.param({"ready": "True", "revision": "main@sha1:1"},
                 {"ready": "False", "revision": "main@sha1:1"}, False, id="different-keys-apart"),
])
def test_equal_keys_of_different_objects_are_held_once(
        a: dict[str, str], b: dict[str, str], shared: bool) -> None:
    f = ChangeFilter(readiness)
    # each body parsed apart, as each watch event is: equal, never the same object
    assert f.changed(None, json.loads(json.dumps({"metadata": {"name": "a"}, "status": a})))
    assert f.changed(None, json.loads(json.dumps({"metadata": {"name": "b"}, "status": b})))
    assert (f._seen[("", "a")] is f._seen[("", "b")]) is shared


def test_an_unhashable_key_is_held_as_it_is() -> None:
    f = ChangeFilter(lambda body: body.get("status"))
    assert f.changed(None, {"metadata": {"name": "a"}, "status": {"x": [1]}})
    assert not f.changed("MODIFIED", {"metadata": {"name": "a"}, "status": {"x": [1]}})
    assert f.changed("MODIFIED", {"metadata": {"name": "a"}, "status": {"x": [2]}})
