"""`bootstrap bitbucket-server`'s provider, its requests run through the Bitbucket Server
stand-in's rules (`harness.forge_rules`: `/rest/api/1.0`, `/rest/keys/1.0`, a Bearer token,
paged lists) without I/O; and the pure parts: slugs, clone links, permissions, the flags."""

from __future__ import annotations

import argparse
import io

import pytest

from afflux.cli import _bootstrapbitbucket
from afflux.cli._bootstrapbitbucket import (
    GROUP_PERMISSIONS,
    BitbucketServer,
    clone_links,
    repository_slug,
    without_user,
)
from afflux.cli._errors import CLIError
from afflux.cli._forge import Repository
from afflux.cli._main import parse_args
from afflux.cli._output import Printer
from harness.forge_rules import BitbucketServerAPI, InMemory

TOKEN = "bbs-t0ken"
HOST = "bitbucket.test:8443"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEk3 afflux"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther afflux"


@pytest.mark.parametrize(("name", "slug"), [
    pytest.param("fleet", "fleet", id="plain"),
    pytest.param("Fleet", "fleet", id="upper-case"),
    pytest.param("my fleet", "my-fleet", id="space"),
    pytest.param("a  b", "a-b", id="spaces-once"),
    pytest.param("fleet.v2_x-y", "fleet.v2_x-y", id="dot-underscore-dash"),
    pytest.param("a/b", "a-b", id="slash"),
])
def test_repository_slug(name: str, slug: str) -> None:
    assert repository_slug(name) == slug


@pytest.mark.parametrize("name", [pytest.param("", id="empty"), pytest.param(" / ", id="none"),
                                  pytest.param("..", id="dots")])
def test_repository_slug_refused(name: str) -> None:
    with pytest.raises(CLIError, match="not a repository name for Bitbucket Server"):
        repository_slug(name)


@pytest.mark.parametrize(("url", "want"), [
    pytest.param("https://admin@bb.example:8443/scm/prj/fleet.git",
                 "https://bb.example:8443/scm/prj/fleet.git", id="user"),
    pytest.param("https://a:b@bb.example/scm/prj/fleet.git",
                 "https://bb.example/scm/prj/fleet.git", id="user-password"),
    pytest.param("https://bb.example/scm/prj/fleet.git",
                 "https://bb.example/scm/prj/fleet.git", id="none"),
])
def test_without_user(url: str, want: str) -> None:
    assert without_user(url) == want


@pytest.mark.parametrize(("repo", "want"), [
    pytest.param({"links": {"clone": [
        {"href": "ssh://git@bb.example:7999/prj/fleet.git", "name": "ssh"},
        {"href": "https://me@bb.example/scm/prj/fleet.git", "name": "http"}]}},
        ("https://bb.example/scm/prj/fleet.git", "ssh://git@bb.example:7999/prj/fleet.git"),
        id="both"),
    pytest.param({"links": {"clone": [{"href": "https://bb.example/scm/p/r.git",
                                       "name": "http"}]}},
                 ("https://bb.example/scm/p/r.git", ""), id="no-ssh"),
    pytest.param({}, ("", ""), id="no-links"),
    pytest.param({"links": "odd"}, ("", ""), id="odd-links"),
])
def test_clone_links(repo: dict[str, object], want: tuple[str, str]) -> None:
    assert clone_links(repo) == want


def test_group_permissions() -> None:
    assert GROUP_PERMISSIONS == {"pull": "REPO_READ", "push": "REPO_WRITE",
                                 "admin": "REPO_ADMIN"}


class StandIn(InMemory):
    """Bitbucket Server's rules with a project `Platform Team` (key PLAT) and the groups
    `ops` and `devs`; the token's user is `octo`."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.api = BitbucketServerAPI(TOKEN, "octo", self.create_repo, self.added.append)
        self.api.projects.update({"PLAT": "Platform Team", "PLATX": "Platform Team X"})
        self.api.groups.update({"ops", "devs"})
        super().__init__(self.api, HOST)

    @staticmethod
    def create_repo(full: str) -> tuple[str, str]:
        return f"https://{HOST}/scm/{full}.git", f"ssh://git@{HOST}/{full}.git"


def args(*flags: str) -> argparse.Namespace:
    return parse_args(["bootstrap", "bitbucket-server", "--owner=Platform Team",
                       "--repository=Fleet", f"--hostname={HOST}", *flags])


def run(stand_in: StandIn, ns: argparse.Namespace,
        token: str = TOKEN) -> tuple[BitbucketServer, Repository, str]:
    err = io.StringIO()
    bbs = BitbucketServer(HOST, token, stand_in)
    repo = bbs.reconcile_repository(ns, Printer(io.StringIO(), err))
    return bbs, repo, err.getvalue()


def test_creates_a_repository_in_the_project_named_owner_then_leaves_it_alone() -> None:
    stand_in = StandIn()
    bbs, repo, out = run(stand_in, args())
    assert repo == Repository("PLAT/fleet", f"https://{HOST}/scm/PLAT/fleet.git",
                              f"ssh://git@{HOST}/PLAT/fleet.git")
    assert (bbs.key, bbs.slug) == ("PLAT", "fleet")
    assert 'repository "PLAT/fleet" created' in out
    assert stand_in.sent == [("GET", "/rest/api/1.0/projects"),
                             ("GET", "/rest/api/1.0/projects/PLAT/repos/fleet"),
                             ("POST", "/rest/api/1.0/projects/PLAT/repos")]
    created = stand_in.api.repos[("PLAT", "fleet")]
    assert (created["name"], created["public"]) == ("Fleet", False)

    stand_in.sent.clear()
    run(stand_in, args("--private=false"))
    assert stand_in.sent[-1] == ("GET", "/rest/api/1.0/projects/PLAT/repos/fleet")
    assert created["public"] is False
    _, _, out = run(stand_in, args("--private=false", "--reconcile"))
    assert 'repository "PLAT/fleet" reconciled' in out
    assert stand_in.sent[-1] == ("PUT", "/rest/api/1.0/projects/PLAT/repos/fleet")
    assert created["public"] is True
    assert stand_in.refused == ["GET /rest/api/1.0/projects/PLAT/repos/fleet: "
                                "Repository PLAT/fleet does not exist."]


@pytest.mark.parametrize(("owner", "key"), [
    pytest.param("Platform Team", "PLAT", id="name"),
    pytest.param("platform team x", "PLATX", id="name-any-case"),
    pytest.param("PLATX", "PLATX", id="key"),
])
def test_project_by_name_or_key(owner: str, key: str) -> None:
    bbs, _, _ = run(StandIn(), args(f"--owner={owner}"))
    assert bbs.key == key


def test_unknown_project_is_a_clear_error() -> None:
    stand_in = StandIn()
    with pytest.raises(CLIError, match="has no project named 'Nope'"):
        run(stand_in, args("--owner=Nope"))
    assert stand_in.api.repos == {}


def test_personal_repository_in_the_users_project() -> None:
    stand_in = StandIn()
    bbs, repo, _ = run(stand_in, args("--personal", "--owner=octo", "--private=false"))
    assert stand_in.sent[-1] == ("POST", "/rest/api/1.0/projects/~octo/repos")
    assert (bbs.key, repo.label) == ("~octo", "~octo/fleet")
    assert repo.clone_url == f"https://{HOST}/scm/users/octo/fleet.git"
    assert stand_in.api.repos[("~OCTO", "fleet")]["public"] is True

    # another user's personal project: Bitbucket refuses, nothing is created
    with pytest.raises(CLIError) as err:
        run(stand_in, args("--personal", "--owner=someone"))
    assert err.value.message == "Bitbucket Server API POST /api/1.0/projects/~someone/repos: " \
        "HTTP 401: You are not permitted to access this resource"
    assert "--owner must be the token's user" in (err.value.hint or "")
    assert list(stand_in.api.repos) == [("~OCTO", "fleet")]


def test_groups_granted_once_unless_reconcile() -> None:
    stand_in = StandIn()
    _, _, out = run(stand_in, args("--group=ops:pull,devs", "--group=nobody",
                                   "--group=devs:maintain"))
    access = stand_in.api.permissions[("PLAT", "fleet")]
    assert access == {"ops": "REPO_READ"}
    assert "granted 'pull' permissions to 'ops'" in out
    assert "failed to grant 'push' permissions to 'nobody': Bitbucket Server API PUT " \
        "/api/1.0/projects/PLAT/repos/fleet/permissions/groups: HTTP 404: No such group " \
        "'nobody'." in out
    # devs:maintain is the last value for devs: Bitbucket has no such permission
    assert "failed to grant 'maintain' permissions to 'devs': Bitbucket Server has no " \
        "'maintain' repository permission" in out

    _, _, out = run(stand_in, args("--group=ops:admin,devs"))
    assert access == {"ops": "REPO_READ", "devs": "REPO_WRITE"}
    assert "granted 'push' permissions to 'devs'" in out and "'admin'" not in out
    _, _, out = run(stand_in, args("--group=ops:admin", "--reconcile"))
    assert access == {"ops": "REPO_ADMIN", "devs": "REPO_WRITE"}
    assert "granted 'admin' permissions to 'ops'" in out


def test_groups_ignored_with_personal() -> None:
    stand_in = StandIn()
    _, _, out = run(stand_in, args("--personal", "--owner=octo", "--group=ops"))
    assert "--group is for a project's repository; ignored with --personal" in out
    assert not any("permissions" in path for _, path in stand_in.sent)


def test_access_key_added_kept_and_replaced() -> None:
    stand_in = StandIn()
    bbs, repo, _ = run(stand_in, args())
    keys = stand_in.api.keys[("PLAT", "fleet")]
    assert bbs.reconcile_deploy_key(repo, "ns-main", KEY, read_only=True) is True
    [first] = keys
    assert (first["key"]["label"], first["permission"]) == ("ns-main", "REPO_READ")
    assert first["key"]["text"] == " ".join([*KEY.split()[:2], "ns-main"])
    assert bbs.reconcile_deploy_key(repo, "ns-main", KEY, read_only=True) is False
    assert bbs.reconcile_deploy_key(repo, "ns-main", KEY, read_only=False) is True
    assert [(k["key"]["label"], k["permission"]) for k in keys] == [("ns-main", "REPO_WRITE")]
    replaced = keys[0]["key"]["id"]
    assert bbs.reconcile_deploy_key(repo, "ns-main", OTHER_KEY, read_only=False) is True
    assert [(k["key"]["text"].split()[:2], k["permission"]) for k in keys] == \
        [(OTHER_KEY.split()[:2], "REPO_WRITE")]
    base = "/rest/keys/1.0/projects/PLAT/repos/fleet/ssh"
    assert stand_in.sent[-3:] == [("GET", base), ("DELETE", f"{base}/{replaced}"),
                                  ("POST", base)]
    assert stand_in.added == [" ".join([*k.split()[:2], "ns-main"])
                              for k in (KEY, KEY, OTHER_KEY)]


def test_paged_lists_are_read_to_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bootstrapbitbucket, "PAGE", 2)
    stand_in = StandIn()
    stand_in.api.projects.update({f"P{i}": f"Platform {i}" for i in range(5)})
    stand_in.api.projects["ZZZ"] = "Platform"
    bbs, _, _ = run(stand_in, args("--owner=Platform"))
    assert bbs.key == "ZZZ"
    pages = [p for m, p in stand_in.sent if m == "GET" and p == "/rest/api/1.0/projects"]
    assert len(pages) == 4  # 8 projects have "platform" in their name, 2 a page


def test_bad_token_is_a_clear_error() -> None:
    with pytest.raises(CLIError) as err:
        run(StandIn(), args(), token="wrong")
    assert err.value.message == "Bitbucket Server API GET /api/1.0/projects: HTTP 401: " \
        "Authentication failed. Please check your credentials and try again."
    assert "$BITBUCKET_TOKEN" in (err.value.hint or "")


def test_flags() -> None:
    ns = args("--group=a:pull,b", "--read-write-key", "-u", "me")
    assert (ns.team, ns.username, ns.read_write_key, ns.private) == \
        (["a:pull", "b"], "me", True, True)
    assert args().username == "git"
    with pytest.raises(SystemExit):
        parse_args(["bootstrap", "bitbucket-server", "--owner=o", "--repository=r"])
