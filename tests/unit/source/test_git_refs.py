"""Ref precedence, revision formats and ref errors (controllers/source/_git.py, pure part)."""

from __future__ import annotations

import pytest

from afflux.controllers.source._git import (
    GitRef,
    GitRefNotFoundError,
    GitSpecError,
    resolve_ref,
)

MAIN = "a" * 40
DEV = "b" * 40
TAG_OBJ = "c" * 40
V1 = "d" * 40
V11 = "e" * 40
V2RC = "f" * 40
PR = "1" * 40
LIGHT = "2" * 40

REFS = {
    "HEAD": MAIN,
    "refs/heads/main": MAIN,
    "refs/heads/master": MAIN,
    "refs/heads/dev": DEV,
    "refs/tags/v1.0.0": TAG_OBJ,  # annotated: the tag object...
    "refs/tags/v1.0.0^{}": V1,  # ...peeled to its commit
    "refs/tags/v1.1.0": V11,  # lightweight
    "refs/tags/v2.0.0-rc.1": V2RC,
    "refs/tags/light": LIGHT,
    "refs/tags/not-semver": LIGHT,
    "refs/pull/1/head": PR,
}

# (id, ref fields, expected kind, expected revision)
PRECEDENCE = [
    ("empty-means-master", {}, "branch", f"master@sha1:{MAIN}"),
    ("branch", {"branch": "dev"}, "branch", f"dev@sha1:{DEV}"),
    ("tag-beats-branch", {"branch": "dev", "tag": "v1.1.0"}, "tag", f"v1.1.0@sha1:{V11}"),
    ("annotated-tag-is-peeled", {"tag": "v1.0.0"}, "tag", f"v1.0.0@sha1:{V1}"),
    ("semver-beats-tag", {"tag": "light", "semver": "1.x"}, "semver", f"v1.1.0@sha1:{V11}"),
    ("semver-prerelease-opt-in", {"semver": ">=2.0.0-0"}, "semver", f"v2.0.0-rc.1@sha1:{V2RC}"),
    ("semver-star-skips-prerelease", {"semver": "*"}, "semver", f"v1.1.0@sha1:{V11}"),
    ("semver-peels-annotated", {"semver": "~1.0"}, "semver", f"v1.0.0@sha1:{V1}"),
    (
        "name-beats-semver",
        {"semver": "*", "name": "refs/pull/1/head"},
        "name",
        f"refs/pull/1/head@sha1:{PR}",
    ),
    ("name-tag-is-peeled", {"name": "refs/tags/v1.0.0"}, "name", f"refs/tags/v1.0.0@sha1:{V1}"),
    ("name-branch", {"name": "refs/heads/dev"}, "name", f"refs/heads/dev@sha1:{DEV}"),
    (
        "commit-beats-all",
        {"commit": "9" * 40, "name": "refs/pull/1/head", "tag": "v1.0.0"},
        "commit",
        f"sha1:{'9' * 40}",
    ),
    ("commit-with-branch", {"commit": "9" * 40, "branch": "dev"}, "commit", f"dev@sha1:{'9' * 40}"),
    ("commit-upper-case", {"commit": "A" * 40}, "commit", f"sha1:{'a' * 40}"),
]


@pytest.mark.parametrize(
    ("fields", "kind", "revision"),
    [row[1:] for row in PRECEDENCE],
    ids=[row[0] for row in PRECEDENCE],
)
def test_precedence_and_revision(fields: dict[str, str], kind: str, revision: str) -> None:
    ref = GitRef.from_spec(fields)
    assert ref.kind == kind
    assert resolve_ref(REFS, ref).revision == revision


def test_resolved_ref_names() -> None:
    assert resolve_ref(REFS, GitRef(branch="dev")).ref_name == "refs/heads/dev"
    assert resolve_ref(REFS, GitRef(semver="1.x")).ref_name == "refs/tags/v1.1.0"
    assert resolve_ref(REFS, GitRef(commit=MAIN)).ref_name is None
    assert resolve_ref(REFS, GitRef(commit=MAIN, branch="main")).ref_name == "refs/heads/main"


# (id, ref fields, error type, message fragment)
ERRORS = [
    (
        "unknown-branch",
        {"branch": "nope"},
        GitRefNotFoundError,
        "branch 'nope' not found on the remote (branches: dev, main, master)",
    ),
    ("unknown-tag", {"tag": "v9"}, GitRefNotFoundError, "tag 'v9' not found"),
    (
        "semver-no-match",
        {"semver": ">=3.0.0"},
        GitRefNotFoundError,
        "no tag matches the semver range '>=3.0.0'",
    ),
    (
        "semver-invalid",
        {"semver": ">=1.0 <<2"},
        GitSpecError,
        "spec.ref.semver: invalid semver constraint",
    ),
    (
        "unknown-name",
        {"name": "refs/pull/9/head"},
        GitRefNotFoundError,
        "reference 'refs/pull/9/head' not found",
    ),
    ("short-name", {"name": "pull/1/head"}, GitSpecError, "not a full reference name"),
    ("short-commit", {"commit": "abc123"}, GitSpecError, "not a full commit SHA"),
]


@pytest.mark.parametrize(
    ("fields", "error", "fragment"), [row[1:] for row in ERRORS], ids=[row[0] for row in ERRORS]
)
def test_errors_say_what_is_wrong(
    fields: dict[str, str], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as info:
        resolve_ref(REFS, GitRef.from_spec(fields))
    assert fragment in str(info.value)


def test_default_branch_error_mentions_the_default() -> None:
    refs = {"refs/heads/main": MAIN}
    with pytest.raises(
        GitRefNotFoundError, match=r"branch 'master' \(the default when spec.ref is empty\)"
    ):
        resolve_ref(refs, GitRef())


def test_error_reasons() -> None:
    with pytest.raises(GitRefNotFoundError) as not_found:
        resolve_ref(REFS, GitRef(branch="nope"))
    assert not_found.value.reason == "GitOperationFailed"
    with pytest.raises(GitSpecError) as spec:
        resolve_ref(REFS, GitRef(commit="xyz"))
    assert spec.value.reason == "GitOperationFailed"


def test_long_tag_lists_are_shortened() -> None:
    refs = {f"refs/tags/t{i:02d}": MAIN for i in range(25)}
    with pytest.raises(GitRefNotFoundError, match="and 15 more"):
        resolve_ref(refs, GitRef(tag="missing"))


def test_describe() -> None:
    assert GitRef().describe() == "branch 'master'"
    assert GitRef(tag="v1", branch="x").describe() == "tag 'v1'"
