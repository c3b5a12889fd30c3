"""`bootstrap github`'s provider, its requests run through the GitHub stand-in's rules
(`harness.forge_rules`, what GitHub documents) without I/O; and the pure parts: the API
base, --hostname, the clone URL the token may go to."""

from __future__ import annotations

import argparse
import io

import pytest

from afflux.cli._bootstrapgithub import GitHub, api_base
from afflux.cli._errors import CLIError
from afflux.cli._forge import Repository, check_clone_url, check_hostname
from afflux.cli._main import parse_args
from afflux.cli._output import Printer
from harness.forge_rules import GitHubAPI, InMemory

TOKEN = "ghp_t0ken"
HOST = "ghe.test"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEk3 afflux"
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther afflux"


@pytest.mark.parametrize(("hostname", "want"), [
    pytest.param("github.com", "https://api.github.com", id="github.com"),
    pytest.param("GitHub.com", "https://api.github.com", id="github.com-any-case"),
    pytest.param("ghe.example.com", "https://ghe.example.com/api/v3", id="enterprise"),
    pytest.param("127.0.0.1:8443", "https://127.0.0.1:8443/api/v3", id="enterprise-port"),
])
def test_api_base(hostname: str, want: str) -> None:
    assert api_base(hostname) == want


@pytest.mark.parametrize(("text", "want"), [
    pytest.param("github.com", "github.com", id="host"),
    pytest.param("https://ghe.example.com/", "ghe.example.com", id="https-prefix-dropped"),
    pytest.param("ghe.example.com:8443", "ghe.example.com:8443", id="port"),
])
def test_check_hostname(text: str, want: str) -> None:
    assert check_hostname(text, "x") == want


@pytest.mark.parametrize("text", [
    pytest.param("http://ghe.example.com", id="http"),
    pytest.param("ghe.example.com/path", id="path"),
    pytest.param("user@ghe.example.com", id="user"),
    pytest.param("", id="empty"),
])
def test_check_hostname_refuses(text: str) -> None:
    with pytest.raises(CLIError, match="is not a host name"):
        check_hostname(text, "x")


@pytest.mark.parametrize(("url", "hostname", "ok"), [
    pytest.param("https://github.com/o/r.git", "github.com", True, id="github.com"),
    pytest.param("https://127.0.0.1:9001/o/r.git", "127.0.0.1:9000", True, id="same-host"),
    pytest.param("https://evil.example/o/r.git", "github.com", False, id="other-host"),
    pytest.param("http://github.com/o/r.git", "github.com", False, id="plain-http"),
    pytest.param("", "github.com", False, id="none"),
])
def test_check_clone_url(url: str, hostname: str, ok: bool) -> None:
    if ok:
        assert check_clone_url(url, hostname, "GitHub") == url
    else:
        with pytest.raises(CLIError, match="the token is not sent there"):
            check_clone_url(url, hostname, "GitHub")


# --- the provider against the stand-in ------------------------------------------------------


class StandIn(InMemory):
    """GitHub's rules with an organization `org` and its team `platform`."""

    def __init__(self) -> None:
        self.added: list[str] = []
        self.api = GitHubAPI(TOKEN, "octo", self.create_repo, self.added.append)
        self.api.orgs.add("org")
        self.api.teams[("org", "platform")] = {}
        super().__init__(self.api, HOST)

    @staticmethod
    def create_repo(full: str) -> tuple[str, str]:
        return f"https://{HOST}/{full}.git", f"git@{HOST}:{full}.git"


def args(*flags: str) -> argparse.Namespace:
    return parse_args(["bootstrap", "github", "--owner=org", "--repository=fleet",
                       f"--hostname={HOST}", *flags])


def run(stand_in: StandIn, ns: argparse.Namespace) -> tuple[Repository, str]:
    err = io.StringIO()
    repo = GitHub(HOST, TOKEN, stand_in).reconcile_repository(ns, Printer(io.StringIO(), err))
    return repo, err.getvalue()


def test_creates_an_org_repository_then_leaves_it_alone() -> None:
    stand_in = StandIn()
    repo, out = run(stand_in, args())
    assert repo == Repository("org/fleet", f"https://{HOST}/org/fleet.git",
                              f"git@{HOST}:org/fleet.git")
    assert 'repository "org/fleet" created' in out
    assert stand_in.sent == [("GET", "/api/v3/repos/org/fleet"),
                             ("POST", "/api/v3/orgs/org/repos")]
    assert stand_in.api.repos["org/fleet"]["visibility"] == "private"
    assert stand_in.refused == ["GET /api/v3/repos/org/fleet: Not Found"]

    stand_in.sent.clear()
    _, out = run(stand_in, args("--private=false"))
    assert stand_in.sent == [("GET", "/api/v3/repos/org/fleet")]
    assert stand_in.api.repos["org/fleet"]["visibility"] == "private"
    _, out = run(stand_in, args("--private=false", "--reconcile"))
    assert 'repository "org/fleet" reconciled' in out
    assert stand_in.api.repos["org/fleet"]["visibility"] == "public"


def test_personal_repository_needs_the_tokens_user() -> None:
    stand_in = StandIn()
    with pytest.raises(CLIError, match="'org' does not match the user of the token"):
        run(stand_in, args("--personal"))
    assert "org/fleet" not in stand_in.api.repos
    run(stand_in, args("--personal", "--owner=octo", "--private=false"))
    assert stand_in.sent[-2:] == [("GET", "/api/v3/user"), ("POST", "/api/v3/user/repos")]
    assert stand_in.api.repos["octo/fleet"]["visibility"] == "public"


def test_teams_granted_once_unless_reconcile() -> None:
    stand_in = StandIn()
    _, out = run(stand_in, args("--team=platform:push", "--team=nobody"))
    assert stand_in.api.teams[("org", "platform")] == {"org/fleet": "push"}
    assert "granted 'push' permissions to 'platform'" in out
    assert "failed to grant 'maintain' permissions to 'nobody': GitHub API PUT" in out
    # granted already: not changed without --reconcile, changed with it
    _, out = run(stand_in, args("--team=platform:admin"))
    assert stand_in.api.teams[("org", "platform")] == {"org/fleet": "push"}
    assert "granted" not in out
    _, out = run(stand_in, args("--team=platform:admin", "--reconcile"))
    assert stand_in.api.teams[("org", "platform")] == {"org/fleet": "admin"}
    assert "granted 'admin' permissions to 'platform'" in out


def test_deploy_key_added_kept_and_replaced() -> None:
    stand_in = StandIn()
    repo, _ = run(stand_in, args())
    github = GitHub(HOST, TOKEN, stand_in)
    assert github.reconcile_deploy_key(repo, "ns-main", KEY, read_only=True) is True
    [first] = stand_in.api.keys["org/fleet"]
    assert (first["title"], first["read_only"]) == ("ns-main", True)
    assert stand_in.added == [KEY]
    assert github.reconcile_deploy_key(repo, "ns-main", KEY, read_only=True) is False
    assert github.reconcile_deploy_key(repo, "ns-main", OTHER_KEY, read_only=False) is True
    keys = stand_in.api.keys["org/fleet"]
    assert [(k["title"], k["key"], k["read_only"]) for k in keys] == \
        [("ns-main", " ".join(OTHER_KEY.split()[:2]), False)]
    assert stand_in.sent[-2:] == [("DELETE", f"/api/v3/repos/org/fleet/keys/{first['id']}"),
                                  ("POST", "/api/v3/repos/org/fleet/keys")]


def test_bad_token_is_a_clear_error() -> None:
    stand_in = StandIn()
    with pytest.raises(CLIError) as err:
        GitHub(HOST, "wrong", stand_in).reconcile_repository(args(), Printer(io.StringIO(),
                                                                             io.StringIO()))
    assert err.value.message == "GitHub API GET /repos/org/fleet: HTTP 401: Bad credentials"
    assert "$GITHUB_TOKEN" in (err.value.hint or "")


def test_flags() -> None:
    ns = args("--team=a:push,b", "--personal", "--private=false", "--read-write-key")
    assert (ns.team, ns.personal, ns.private, ns.read_write_key) == \
        (["a:push", "b"], True, False, True)
    assert args().hostname == HOST and args().private is True
    assert parse_args(["bootstrap", "github", "--owner=o", "--repository=r"]).hostname == \
        "github.com"
