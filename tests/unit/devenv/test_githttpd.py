"""Pure parts of the Git HTTP server: URL split, services, auth, CGI headers, bodies."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest

from afflux.cli.devenv import DevEnvError, GitHTTPServer
from afflux.cli.devenv._githttpd import (
    Readers,
    authenticate,
    authenticate_reader,
    cgi_environ,
    parse_cgi_headers,
    read_chunked,
    reader_refusal,
    repo_name,
    service_of,
    split_git_path,
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/fleet.git/info/refs", ("fleet.git", "/info/refs")),
        ("/team/app.git/git-upload-pack", ("team/app.git", "/git-upload-pack")),
        ("/fleet/git-receive-pack", ("fleet", "/git-receive-pack")),
        ("/fleet.git/HEAD", ("fleet.git", "/HEAD")),
        ("/fleet.git/objects/ab/cdef", ("fleet.git", "/objects/ab/cdef")),
        ("/fleet.git/objects/info/packs", ("fleet.git", "/objects/info/packs")),
        ("/fleet.git", None),
        ("/fleet.git/other", None),
        ("/../etc/info/refs", None),
        ("/a//b.git/info/refs", None),
        ("/info/refs", None),
    ],
)
def test_split_git_path(path: str, expected: tuple[str, str] | None) -> None:
    assert split_git_path(path) == expected


def test_repo_name_drops_the_git_suffix() -> None:
    assert repo_name("team/app.git") == "team/app"
    assert repo_name("fleet") == "fleet"


@pytest.mark.parametrize(
    ("method", "rest", "query", "expected"),
    [
        ("GET", "/info/refs", "service=git-upload-pack", "git-upload-pack"),
        ("GET", "/info/refs", "service=git-receive-pack", "git-receive-pack"),
        ("GET", "/info/refs", "", None),
        ("POST", "/git-upload-pack", "", "git-upload-pack"),
        ("POST", "/git-receive-pack", "", "git-receive-pack"),
        ("GET", "/HEAD", "", None),
    ],
)
def test_service_of(method: str, rest: str, query: str, expected: str | None) -> None:
    assert service_of(method, rest, query) == expected


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (_basic("u", "p:w"), "u"),  # a colon in the password is part of it
        (_basic("u", "wrong"), None),
        (_basic("other", "p:w"), None),
        ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"no-colon").decode(), None),
        ("Bearer tok", "bearer-token"),
        ("bearer tok", "bearer-token"),
        ("Bearer nope", None),
        ("Digest x", None),
        ("", None),
        (None, None),
    ],
)
def test_authenticate(header: str | None, expected: str | None) -> None:
    assert authenticate(header, "u", "p:w", "tok") == expected


def test_bearer_is_refused_when_no_token_is_configured() -> None:
    assert authenticate("Bearer ", "u", "p", None) is None
    assert authenticate("Bearer x", "u", "p", "") is None


READERS = {"gitlab+deploy-token-1": {"password": "gldt-1", "repos": ["team/app"]},
           "anywhere": {"password": "pw", "repos": None},
           "no-password": {"password": "", "repos": None}}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(_basic("gitlab+deploy-token-1", "gldt-1"), "gitlab+deploy-token-1",
                     id="reader"),
        pytest.param(_basic("anywhere", "pw"), "anywhere", id="reader-of-all"),
        pytest.param(_basic("gitlab+deploy-token-1", "pw"), None, id="wrong-password"),
        pytest.param(_basic("someone", "pw"), None, id="unknown-user"),
        pytest.param(_basic("no-password", ""), None, id="empty-password-never-matches"),
        pytest.param("Bearer gldt-1", None, id="bearer"),
        pytest.param("Basic !!!", None, id="malformed"),
        pytest.param(None, None, id="none"),
    ],
)
def test_authenticate_reader(header: str | None, expected: str | None) -> None:
    assert authenticate_reader(header, READERS) == expected


@pytest.mark.parametrize(
    ("reader", "repo", "service", "refused"),
    [
        pytest.param("gitlab+deploy-token-1", "team/app", "git-upload-pack", None, id="fetch"),
        pytest.param("gitlab+deploy-token-1", "team/app", None, None, id="dumb-http"),
        pytest.param("gitlab+deploy-token-1", "team/app", "git-receive-pack",
                     "a read-only credential may not push", id="push"),
        pytest.param("gitlab+deploy-token-1", "team/other", "git-upload-pack",
                     "the credential is not valid for this repository", id="other-repo"),
        pytest.param("anywhere", "team/other", "git-upload-pack", None, id="any-repo"),
        pytest.param("anywhere", "team/other", "git-receive-pack",
                     "a read-only credential may not push", id="any-repo-push"),
    ],
)
def test_reader_refusal(reader: str, repo: str, service: str | None,
                        refused: str | None) -> None:
    assert reader_refusal(READERS[reader], repo, service) == refused


def test_readers_follow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "readers.json"
    readers = Readers(path)
    assert readers.current() == {}
    path.write_text(json.dumps({"a": {"password": "1", "repos": None}}))
    assert set(readers.current()) == {"a"}
    tmp = tmp_path / "readers.tmp"
    tmp.write_text(json.dumps({"b": {"password": "2", "repos": None}}))
    tmp.replace(path)
    assert set(readers.current()) == {"b"}
    path.write_text("not json")
    assert readers.current() == {}
    path.unlink()
    assert readers.current() == {}
    assert Readers(None).current() == {}


@pytest.mark.parametrize(
    ("block", "status", "reason", "headers"),
    [
        (
            b"Content-Type: application/x-git-upload-pack-advertisement\r\n"
            b"Cache-Control: no-cache\r\n",
            200,
            "OK",
            [
                ("Content-Type", "application/x-git-upload-pack-advertisement"),
                ("Cache-Control", "no-cache"),
            ],
        ),
        (
            b"Status: 404 Not Found\nContent-Type: text/plain\n",
            404,
            "Not Found",
            [("Content-Type", "text/plain")],
        ),
        (b"Status: 403\n", 403, "", []),
        (b"Location: /x\n", 302, "Found", [("Location", "/x")]),
        (b"", 200, "OK", []),
    ],
)
def test_parse_cgi_headers(
    block: bytes, status: int, reason: str, headers: list[tuple[str, str]]
) -> None:
    assert parse_cgi_headers(block) == (status, reason, headers)


@pytest.mark.parametrize("block", [b"no colon here\n", b"Status: abc\n", b": value\n"])
def test_parse_cgi_headers_rejects_malformed_lines(block: bytes) -> None:
    with pytest.raises(ValueError):
        parse_cgi_headers(block)


def test_read_chunked_joins_chunks_and_skips_extensions_and_trailers() -> None:
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT"
    stream = io.BytesIO(body)
    assert b"".join(read_chunked(stream)) == b"hello world"
    assert stream.read() == b"NEXT"  # stops at the end of the body


@pytest.mark.parametrize(
    "body",
    [b"5\r\nhel", b"zz\r\n", b"5\r\nhelloXX0\r\n\r\n", b""],
)
def test_read_chunked_rejects_broken_bodies(body: bytes) -> None:
    with pytest.raises(ValueError):
        b"".join(read_chunked(io.BytesIO(body)))


def test_cgi_environ() -> None:
    headers = {
        "Content-Type": "application/x-git-upload-pack-request",
        "Content-Encoding": "gzip",
        "Git-Protocol": "version=2",
        "Authorization": "Basic secret",
        "Content-Length": "12",
    }
    env = cgi_environ(
        project_root="/srv/git",
        method="POST",
        path_info="/fleet.git/git-upload-pack",
        query="",
        headers=headers,
        remote_addr="127.0.0.1",
        remote_user="git-user",
        content_length=12,
        https=True,
        base_env={"PATH": "/usr/bin", "REMOTE_USER": "stale"},
    )
    assert env["GIT_PROJECT_ROOT"] == "/srv/git"
    assert env["GIT_HTTP_EXPORT_ALL"] == "1"
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/fleet.git/git-upload-pack"
    assert env["CONTENT_TYPE"] == "application/x-git-upload-pack-request"
    assert env["CONTENT_LENGTH"] == "12"
    assert env["HTTP_CONTENT_ENCODING"] == "gzip"
    assert env["HTTP_GIT_PROTOCOL"] == "version=2"
    assert env["REMOTE_USER"] == "git-user"
    assert env["HTTPS"] == "on"
    assert env["PATH"] == "/usr/bin"
    assert "HTTP_AUTHORIZATION" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_cgi_environ_without_length_or_user() -> None:
    env = cgi_environ(
        project_root="/r",
        method="GET",
        path_info="/x.git/info/refs",
        query="service=git-upload-pack",
        headers={},
        remote_addr="127.0.0.1",
        remote_user=None,
        content_length=None,
        https=False,
        base_env={},
    )
    assert "CONTENT_LENGTH" not in env
    assert "REMOTE_USER" not in env
    assert "HTTPS" not in env
    assert env["QUERY_STRING"] == "service=git-upload-pack"
    assert env["CONTENT_TYPE"] == ""


def test_server_writes_its_readers_for_the_child(tmp_path: Path) -> None:
    server = GitHTTPServer(tmp_path, username="git", password="pw")
    server.add_reader("gitlab+deploy-token-1", "gldt-1", repos=["team/app.git"])
    server.add_reader("all", "pw2")
    assert json.loads(server.readers_file.read_text()) == {
        "gitlab+deploy-token-1": {"password": "gldt-1", "repos": ["team/app"]},
        "all": {"password": "pw2", "repos": None}}
    server.remove_reader("gitlab+deploy-token-1")
    assert set(json.loads(server.readers_file.read_text())) == {"all"}
    with pytest.raises(DevEnvError, match="read-write user"):
        server.add_reader("git", "other")
