"""Bucket's pure decisions: safe keys, which objects make the index, what to download."""

from __future__ import annotations

import pytest

from afflux.controllers.source._ignore import bucket_matcher
from afflux.controllers.source._reconcile_bucket import Plan, build_index, check_key, plan_download


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("a.yaml", id="plain"),
        pytest.param("dir/sub/a.yaml", id="nested"),
        pytest.param("dir/.hidden", id="hidden"),
        pytest.param("with space/ü.yaml", id="unicode-and-space"),
    ],
)
def test_check_key_accepts(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("/abs", id="absolute"),
        pytest.param("a/../b", id="dotdot"),
        pytest.param("../escape", id="leading-dotdot"),
        pytest.param("a//b", id="empty-part"),
        pytest.param("a/./b", id="dot-part"),
        pytest.param("a\\b", id="backslash"),
    ],
)
def test_check_key_rejects(key: str) -> None:
    with pytest.raises(ValueError, match="cannot be stored"):
        check_key(key)


OBJECTS = {
    "app/deploy.yaml": "e1",
    "app/": "d0",
    ".sourceignore": "e2",
    "logo.png": "e3",
    "secret.env": "e4",
    "sub/.sourceignore": "e5",
    ".github/workflow.yaml": "e6",
}


@pytest.mark.parametrize(
    ("sourceignore", "spec_ignore", "expected"),
    [
        pytest.param(None, None, {"app/deploy.yaml", "secret.env", "sub/.sourceignore"},
                     id="defaults-drop-png-and-ci-dirs-and-markers"),
        pytest.param("*.env\n", None, {"app/deploy.yaml", "sub/.sourceignore"},
                     id="root-sourceignore"),
        pytest.param("*.env\n", "!secret.env\n",
                     {"app/deploy.yaml", "secret.env", "sub/.sourceignore"},
                     id="spec-ignore-overrides-sourceignore"),
        pytest.param("!*.png\n", None,
                     {"app/deploy.yaml", "logo.png", "secret.env", "sub/.sourceignore"},
                     id="sourceignore-reincludes-a-default"),
        pytest.param(None, "app/\n", {"secret.env", "sub/.sourceignore"}, id="spec-ignore-dir"),
    ],
)
def test_build_index(sourceignore, spec_ignore, expected: set[str]) -> None:
    index = build_index(OBJECTS, bucket_matcher(sourceignore, spec_ignore))
    assert set(index) == expected
    assert all(index[k] == OBJECTS[k] for k in index)


@pytest.mark.parametrize(
    ("previous", "current", "plan"),
    [
        pytest.param(None, {"a": "1", "b": "2"}, Plan(("a", "b"), (), ()), id="first-build"),
        pytest.param({"a": "1", "b": "2"}, {"a": "1", "b": "3"}, Plan(("b",), ("b",), ("a",)),
                     id="one-changed"),
        pytest.param({"a": "1", "b": "2"}, {"a": "1"}, Plan((), ("b",), ("a",)),
                     id="one-deleted"),
        pytest.param({"a": "1"}, {"a": "1", "c": "9"}, Plan(("c",), (), ("a",)),
                     id="one-added"),
        pytest.param({"a": "1"}, {"a": "1"}, Plan((), (), ("a",)), id="unchanged"),
    ],
)
def test_plan_download(previous, current, plan: Plan) -> None:
    assert plan_download(previous, current) == plan
