"""Repository names and the request log shared by the HTTP and SSH Git servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afflux.cli.devenv._repos import GitRequest, normalize_repo_name, read_requests


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fleet", "fleet"),
        ("fleet.git", "fleet"),
        ("/team/app.git/", "team/app"),
        ("a_b-c.d", "a_b-c.d"),
    ],
)
def test_normalize_repo_name(name: str, expected: str) -> None:
    assert normalize_repo_name(name) == expected


@pytest.mark.parametrize("bad", ["", "/", "../x", "a/../b", "a b", ".hidden", "x.git/y", "a//b"])
def test_normalize_repo_name_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="bad repository name"):
        normalize_repo_name(bad)


def test_read_requests_filters_by_repo_and_skips_earlier_entries(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    entries = [
        {"method": "GET", "repo": "a", "path": "/info/refs", "service": "git-upload-pack",
         "status": 200, "user": "u", "scheme": "http"},
        {"method": "POST", "repo": "b", "path": "/git-upload-pack", "service": "git-upload-pack",
         "status": 200, "user": "u", "scheme": "https"},
        {"method": "SSH", "repo": "a", "path": "", "service": "git-receive-pack",
         "status": None, "user": "client", "scheme": "ssh"},
    ]  # fmt: skip
    log.write_text("".join(json.dumps(e) + "\n" for e in entries) + "not json\n")
    assert [r.scheme for r in read_requests(log)] == ["http", "https", "ssh"]
    assert read_requests(log, "a.git") == [
        GitRequest("GET", "a", "/info/refs", "git-upload-pack", 200, "u", "http"),
        GitRequest("SSH", "a", "", "git-receive-pack", None, "client", "ssh"),
    ]
    assert [r.repo for r in read_requests(log, since=1)] == ["b", "a"]
    assert read_requests(tmp_path / "missing.jsonl") == []
