"""`bootstrap gitlab`'s provider, its requests run through the GitLab stand-in's rules
(`harness.forge_rules`, what GitLab documents: `/api/v4`, `PRIVATE-TOKEN`, URL-encoded
project paths) without I/O; and the pure parts: project names, access levels, the flags."""

from __future__ import annotations

import argparse
import io

import pytest

from afflux.cli._bootstrapgitlab import (
    ACCESS_LEVELS,
    GitLab,
    active_token_id,
    check_auth_flags,
    check_project_name,
    deploy_token_body,
)
from afflux.cli._errors import CLIError
from afflux.cli._forge import Repository
from afflux.cli._main import parse_args
from afflux.cli._output import Printer
from harness.forge_rules import GitLabAPI, InMemory

TOKEN = "glpat-t0ken"
HOST = "gitlab.test"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEk3 afflux"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther afflux"


@pytest.mark.parametrize("name", [
    pytest.param("fleet", id="plain"), pytest.param("fleet.v2", id="dot"),
    pytest.param("_infra", id="underscore-first"), pytest.param("flotte-é", id="accent"),
])
def test_project_name_ok(name: str) -> None:
    assert check_project_name(name) == name


@pytest.mark.parametrize("name", [
    pytest.param("-fleet", id="dash-first"), pytest.param("a/b", id="slash"),
    pytest.param("", id="empty"), pytest.param(".git", id="dot-first"),
    pytest.param("my fleet", id="space"),
])
def test_project_name_refused(name: str) -> None:
    with pytest.raises(CLIError, match="invalid project name for GitLab"):
        check_project_name(name)


def test_access_levels() -> None:
    assert ACCESS_LEVELS == {"pull": 10, "triage": 20, "push": 30, "maintain": 40,
                             "admin": 50}


class StandIn(InMemory):
    """GitLab's rules with a group `infra/platform` (a sub-group) and a group `ops`; the
    read-only credentials it would give the Git server in `readers`."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.readers: dict[str, tuple[str, str]] = {}
        self.api = GitLabAPI(TOKEN, "octo", self.create_repo, self.added.append,
                             self.set_reader)
        self.api.groups.update({"infra/platform": 7, "ops": 8})
        super().__init__(self.api, HOST)

    @staticmethod
    def create_repo(full: str) -> tuple[str, str]:
        return f"https://{HOST}/{full}.git", f"git@{HOST}:{full}.git"

    def set_reader(self, username: str, full: str, password: str | None) -> None:
        if password is None:
            del self.readers[username]
        else:
            self.readers[username] = (full, password)


def args(*flags: str) -> argparse.Namespace:
    return parse_args(["bootstrap", "gitlab", "--owner=infra/platform", "--repository=fleet",
                       f"--hostname={HOST}", *flags])


def run(stand_in: StandIn, ns: argparse.Namespace) -> tuple[GitLab, Repository, str]:
    err = io.StringIO()
    gitlab = GitLab(HOST, TOKEN, stand_in)
    repo = gitlab.reconcile_repository(ns, Printer(io.StringIO(), err))
    return gitlab, repo, err.getvalue()


def test_creates_a_project_in_a_subgroup_then_leaves_it_alone() -> None:
    stand_in = StandIn()
    _, repo, out = run(stand_in, args("--visibility=internal"))
    assert repo == Repository("infra/platform/fleet", f"https://{HOST}/infra/platform/fleet.git",
                              f"git@{HOST}:infra/platform/fleet.git")
    assert 'repository "infra/platform/fleet" created' in out
    assert stand_in.sent == [("GET", "/api/v4/projects/infra%2Fplatform%2Ffleet"),
                             ("GET", "/api/v4/groups/infra%2Fplatform"),
                             ("POST", "/api/v4/projects")]
    [project] = stand_in.api.projects.values()
    assert project["visibility"] == "internal"
    assert project["namespace"] == {"full_path": "infra/platform"}

    stand_in.sent.clear()
    run(stand_in, args("--private=false"))
    assert stand_in.sent == [("GET", "/api/v4/projects/infra%2Fplatform%2Ffleet")]
    assert project["visibility"] == "internal"
    _, _, out = run(stand_in, args("--visibility=public", "--reconcile"))
    assert 'repository "infra/platform/fleet" reconciled' in out
    assert stand_in.sent[-1] == ("PUT", f"/api/v4/projects/{project['id']}")
    assert project["visibility"] == "public"


def test_personal_project_needs_the_tokens_user() -> None:
    stand_in = StandIn()
    with pytest.raises(CLIError, match="'infra/platform' does not match the user"):
        run(stand_in, args("--personal"))
    assert stand_in.api.projects == {}
    run(stand_in, args("--personal", "--owner=octo"))
    [project] = stand_in.api.projects.values()
    assert (project["path_with_namespace"], project["visibility"]) == ("octo/fleet", "private")


def test_groups_shared_once_unless_reconcile() -> None:
    stand_in = StandIn()
    _, _, out = run(stand_in, args("--team=ops:push", "--team=nobody"))
    [project] = stand_in.api.projects.values()
    assert project["shared_with_groups"] == [
        {"group_id": 8, "group_full_path": "ops", "group_access_level": 30}]
    assert "granted 'push' permissions to 'ops'" in out
    assert "failed to grant 'maintain' permissions to 'nobody': GitLab API GET " \
        "/groups/nobody: HTTP 404" in out
    _, _, out = run(stand_in, args("--team=ops:admin"))
    assert project["shared_with_groups"][0]["group_access_level"] == 30
    assert "granted" not in out
    _, _, out = run(stand_in, args("--team=ops:admin", "--reconcile"))
    assert project["shared_with_groups"] == [
        {"group_id": 8, "group_full_path": "ops", "group_access_level": 50}]
    assert "granted 'admin' permissions to 'ops'" in out


def test_deploy_key_added_kept_and_replaced() -> None:
    stand_in = StandIn()
    gitlab, repo, _ = run(stand_in, args())
    pid = gitlab.project_id
    assert gitlab.reconcile_deploy_key(repo, "ns-main", KEY, read_only=True) is True
    [first] = stand_in.api.keys[pid]
    assert (first["title"], first["can_push"]) == ("ns-main", False)
    assert gitlab.reconcile_deploy_key(repo, "ns-main", KEY, read_only=True) is False
    assert gitlab.reconcile_deploy_key(repo, "ns-main", OTHER_KEY, read_only=False) is True
    assert [(k["title"], k["key"], k["can_push"]) for k in stand_in.api.keys[pid]] == \
        [("ns-main", " ".join(OTHER_KEY.split()[:2]), True)]
    assert stand_in.sent[-2:] == [("DELETE", f"/api/v4/projects/{pid}/deploy_keys/"
                                             f"{first['id']}"),
                                  ("POST", f"/api/v4/projects/{pid}/deploy_keys")]
    assert stand_in.refused == ["GET /api/v4/projects/infra%2Fplatform%2Ffleet: "
                                "404 Project Not Found"]


def test_bad_token_is_a_clear_error() -> None:
    with pytest.raises(CLIError) as err:
        GitLab(HOST, "wrong", StandIn()).reconcile_repository(
            args(), Printer(io.StringIO(), io.StringIO()))
    assert err.value.message == "GitLab API GET /projects/infra%2Fplatform%2Ffleet: HTTP " \
        "401: 401 Unauthorized"
    assert "$GITLAB_TOKEN" in (err.value.hint or "")


def test_flags() -> None:
    ns = args("--team=a:push,b", "--read-write-key")
    assert (ns.team, ns.visibility, ns.read_write_key) == (["a:push", "b"], "private", True)
    assert parse_args(["bootstrap", "gitlab", "--owner=o", "--repository=r"]).hostname == \
        "gitlab.com"


@pytest.mark.parametrize(("token_auth", "deploy_token_auth", "refused"), [
    pytest.param(False, False, False, id="deploy-key"),
    pytest.param(True, False, False, id="token-auth"),
    pytest.param(False, True, False, id="deploy-token-auth"),
    pytest.param(True, True, True, id="both"),
])
def test_auth_flags(token_auth: bool, deploy_token_auth: bool, refused: bool) -> None:
    if not refused:
        check_auth_flags(token_auth, deploy_token_auth)
        return
    with pytest.raises(CLIError, match="--token-auth and --deploy-token-auth cannot be set"):
        check_auth_flags(token_auth, deploy_token_auth)


@pytest.mark.parametrize(("name", "body"), [
    pytest.param("flux-system-main-flux-system-clusters/dev",
                 {"name": "flux-system-main-flux-system-clusters/dev",
                  "scopes": ["read_repository"]}, id="with-path"),
    pytest.param("ns-main-flux-system", {"name": "ns-main-flux-system",
                                         "scopes": ["read_repository"]}, id="root"),
])
def test_deploy_token_body(name: str, body: dict[str, object]) -> None:
    assert deploy_token_body(name) == body


def _token(tid: int, name: str, **state: bool) -> dict[str, object]:
    return {"id": tid, "name": name, "username": f"gitlab+deploy-token-{tid}",
            "revoked": state.get("revoked", False), "expired": state.get("expired", False)}


@pytest.mark.parametrize(("tokens", "found"), [
    pytest.param([], None, id="none"),
    pytest.param([_token(1, "other")], None, id="another-name"),
    pytest.param([_token(1, "ns-main"), _token(2, "ns-main")], 1, id="first-of-the-name"),
    pytest.param([_token(1, "ns-main", revoked=True), _token(2, "ns-main")], 2,
                 id="revoked-skipped"),
    pytest.param([_token(1, "ns-main", expired=True)], None, id="expired-skipped"),
])
def test_active_token_id(tokens: list[dict[str, object]], found: int | None) -> None:
    assert active_token_id(tokens, "ns-main") == found


def test_deploy_token_auth_flag() -> None:
    assert args().deploy_token_auth is False
    assert args("--deploy-token-auth").deploy_token_auth is True


def test_deploy_token_made_then_replaced_on_every_run() -> None:
    stand_in = StandIn()
    gitlab, repo, _ = run(stand_in, args())
    pid = gitlab.project_id
    base = f"/api/v4/projects/{pid}/deploy_tokens"
    stand_in.sent.clear()
    username, value = gitlab.reconcile_deploy_token(repo, "ns-main-flux-system")
    [made] = stand_in.api.tokens[pid]
    assert (made["name"], made["scopes"], made["username"], made["token"]) == \
        ("ns-main-flux-system", ["read_repository"], username, value)
    assert username == f"gitlab+deploy-token-{made['id']}"
    assert stand_in.readers == {username: ("infra/platform/fleet", value)}
    assert stand_in.sent == [("GET", base), ("POST", base)]

    # the value cannot be read back: the token is deleted and made again
    stand_in.sent.clear()
    username2, value2 = gitlab.reconcile_deploy_token(repo, "ns-main-flux-system")
    assert value2 != value and username2 != username
    assert [t["id"] for t in stand_in.api.tokens[pid]] != [made["id"]]
    assert stand_in.sent == [("GET", base), ("DELETE", f"{base}/{made['id']}"), ("POST", base)]
    assert stand_in.readers == {username2: ("infra/platform/fleet", value2)}
    assert stand_in.refused == ["GET /api/v4/projects/infra%2Fplatform%2Ffleet: "
                                "404 Project Not Found"]


def test_deploy_token_stand_in_is_strict() -> None:
    stand_in = StandIn()
    gitlab, _, _ = run(stand_in, args())
    client = gitlab.api
    path = f"/projects/{gitlab.project_id}/deploy_tokens"
    with pytest.raises(CLIError, match="scopes does not have a valid value"):
        client.call("POST", path, {"name": "x", "scopes": ["write_repository"]})
    with pytest.raises(CLIError, match="scopes does not have a valid value"):
        client.call("POST", path, {"name": "x"})
    with pytest.raises(CLIError, match="unknown fields"):
        client.call("POST", path, {"name": "x", "scopes": ["read_repository"], "access": 1})
    made = client.call("POST", path, {"name": "x", "scopes": ["read_registry"]})
    assert "token" in made and stand_in.readers == {}  # no read_repository: no Git access
    [listed] = client.call("GET", path)
    assert "token" not in listed and listed["id"] == made["id"]
    assert client.call("GET", f"{path}?active=false") == []
    with pytest.raises(CLIError, match="404 Deploy Token Not Found"):
        client.call("DELETE", f"{path}/999")
