"""Resolving a ref in a fetched repository (`afflux.cli._gitsource.resolve`): a branch, a
tag, a commit SHA (full or abbreviated), in that order, with source-controller's revision
formats; and the committer time of a commit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pygit2
import pytest

from afflux.cli._errors import CLIError
from afflux.cli._gitsource import commit_time, resolve


@pytest.fixture
def repo(tmp_path: Path) -> tuple[pygit2.Repository, str, str]:
    """A bare repository as `fetch` leaves it: branches under refs/remotes/origin/, tags;
    `main` and the tag `v1` on different commits."""
    r = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    sig = pygit2.Signature("t", "t@example.invalid", 1_700_000_000, 0)
    tree = r.TreeBuilder().write()
    first = r.create_commit(None, sig, sig, "first", tree, [])
    second = r.create_commit(None, sig, sig, "second", tree, [first])
    r.references.create("refs/remotes/origin/main", second)
    r.references.create("refs/remotes/origin/v1", second)  # a branch named like the tag
    r.create_tag("v1", first, pygit2.enums.ObjectType.COMMIT, sig, "tag")
    return r, str(first), str(second)


@pytest.mark.parametrize(("ref", "which", "prefix"), [
    pytest.param("main", 1, "main@sha1:", id="branch"),
    pytest.param("refs/heads/main", 1, "main@sha1:", id="full-branch-ref"),
    pytest.param("v1", 1, "v1@sha1:", id="a-branch-wins-over-a-tag"),
    pytest.param("refs/tags/v1", 0, "v1@sha1:", id="full-tag-ref"),
    pytest.param("FIRST", 0, "sha1:", id="full-sha"),
    pytest.param("FIRST7", 0, "sha1:", id="abbreviated-sha"),
])
def test_resolve(repo: tuple[pygit2.Repository, str, str], ref: str, which: int,
                 prefix: str) -> None:
    r, first, second = repo
    ref = ref.replace("FIRST7", first[:7]).replace("FIRST", first)
    sha = (first, second)[which]
    got = resolve(r, ref)
    assert (got.sha, got.revision) == (sha, f"{prefix}{sha}")


@pytest.mark.parametrize("ref", ["nope", "abc", "0" * 40])
def test_resolve_unknown(repo: tuple[pygit2.Repository, str, str], ref: str) -> None:
    with pytest.raises(CLIError, match="is no branch, tag or commit"):
        resolve(repo[0], ref)


def test_commit_time(repo: tuple[pygit2.Repository, str, str]) -> None:
    r, first, _ = repo
    assert commit_time(r, first[:10]) == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert commit_time(r, "f" * 40) is None
