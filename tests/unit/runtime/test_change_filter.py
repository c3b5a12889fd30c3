"""The key filter of Operator.watch: call back only when the watched value moved."""

from __future__ import annotations

from typing import Any

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
