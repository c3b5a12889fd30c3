"""Which request paths the artifact server maps to files (no sockets involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.controllers.source._server import content_type_for, resolve_request_path

PATHS = [
    ("plain", "/gitrepository/ns/n/a.tar.gz", "gitrepository/ns/n/a.tar.gz"),
    ("query-ignored", "/gitrepository/ns/n/a.tar.gz?x=1", "gitrepository/ns/n/a.tar.gz"),
    ("encoded-ok", "/gitrepository/ns/n/a%2Btag.tar.gz", "gitrepository/ns/n/a+tag.tar.gz"),
    ("dotdot", "/../x", None),
    ("encoded-dotdot", "/%2E%2E/x", None),
    ("dot", "/./gitrepository", None),
    ("empty-segment", "/gitrepository//ns", None),
    ("hidden", "/gitrepository/.tmp-1", None),
    ("backslash", "/a\\b", None),
    ("nul", "/a%00b", None),
    ("relative", "gitrepository/ns", None),
    ("root", "/", None),
]


@pytest.mark.parametrize(("raw", "want"), [row[1:] for row in PATHS], ids=[row[0] for row in PATHS])
def test_resolve_request_path(tmp_path: Path, raw: str, want: str | None) -> None:
    got = resolve_request_path(tmp_path, raw)
    assert got == (None if want is None else tmp_path.resolve() / want)


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "out").symlink_to(tmp_path)
    assert resolve_request_path(tmp_path / "root", "/out/x") is None


TYPES = [
    ("a.tar.gz", "application/gzip"),
    ("chart-1.0.0.tgz", "application/gzip"),
    ("index.yaml", "application/yaml"),
    ("index-abc.json", "application/json"),
    ("blob", "application/octet-stream"),
]


@pytest.mark.parametrize(("name", "want"), TYPES, ids=[n for n, _ in TYPES])
def test_content_type(name: str, want: str) -> None:
    assert content_type_for(name) == want
