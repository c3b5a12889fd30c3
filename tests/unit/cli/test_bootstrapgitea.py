"""`bootstrap gitea`'s pure parts: --team, the deploy key's name, SSH clone URLs, --hostname
and the flags."""

from __future__ import annotations

import pytest

from afflux.cli._bootstrapgitea import (
    check_hostname,
    deploy_key_name,
    parse_teams,
    scp_to_ssh,
)
from afflux.cli._errors import CLIError
from afflux.cli._main import parse_args


@pytest.mark.parametrize(
    ("values", "want"),
    [
        pytest.param([], {}, id="none"),
        pytest.param(["platform"], {"platform": "maintain"}, id="default-maintain"),
        pytest.param(["a:pull", "b:admin"], {"a": "pull", "b": "admin"}, id="with-permissions"),
        pytest.param([" a : push "], {"a": "push"}, id="spaces"),
    ],
)
def test_parse_teams(values: list[str], want: dict[str, str]) -> None:
    assert parse_teams(values) == want


@pytest.mark.parametrize(("value", "message"), [
    pytest.param("a:owner", "unknown permission 'owner'", id="unknown-permission"),
    pytest.param(":push", "names no team", id="no-name"),
])
def test_parse_teams_refuses(value: str, message: str) -> None:
    with pytest.raises(CLIError) as err:
        parse_teams([value])
    assert message in err.value.message


@pytest.mark.parametrize(("parts", "want"), [
    pytest.param(("flux-system", "main", "flux-system", "clusters/dev"),
                 "flux-system-main-flux-system-clusters/dev", id="all"),
    pytest.param(("flux-system", "main", "flux-system", ""), "flux-system-main-flux-system",
                 id="root-path"),
])
def test_deploy_key_name(parts: tuple[str, str, str, str], want: str) -> None:
    assert deploy_key_name(*parts) == want


@pytest.mark.parametrize(("url", "want"), [
    pytest.param("git@gitea.example.com:org/fleet.git", "ssh://git@gitea.example.com/org/fleet.git",
                 id="scp-like"),
    pytest.param("ssh://git@127.0.0.1:2222/org/fleet.git",
                 "ssh://git@127.0.0.1:2222/org/fleet.git", id="ssh-url-unchanged"),
    pytest.param("", "", id="none"),
])
def test_scp_to_ssh(url: str, want: str) -> None:
    assert scp_to_ssh(url) == want


@pytest.mark.parametrize(("hostname", "ok"), [
    pytest.param("gitea.example.com", True, id="host"),
    pytest.param("127.0.0.1:3000", True, id="host-port"),
    pytest.param("https://gitea.example.com", False, id="scheme"),
    pytest.param("gitea.example.com/sub", False, id="path"),
    pytest.param("", False, id="empty"),
])
def test_check_hostname(hostname: str, ok: bool) -> None:
    if ok:
        assert check_hostname(hostname) == hostname
    else:
        with pytest.raises(CLIError, match="--hostname"):
            check_hostname(hostname)


def test_bootstrap_gitea_flags() -> None:
    args = parse_args(["bootstrap", "gitea", "--owner", "org", "--repository", "fleet"])
    assert args.hostname == "gitea.com" and args.branch == "main" and args.interval == "1m"
    assert args.private and not args.personal and not args.token_auth
    assert not args.read_write_key and not args.reconcile and args.team == []
    args = parse_args(["bootstrap", "gitea", "--owner", "me", "--repository", "fleet",
                       "--private=false", "--personal=true", "--team", "a,b:push",
                       "--team=c", "--ssh-hostname=ssh.example.com:2222"])
    assert not args.private and args.personal
    assert args.team == ["a", "b:push", "c"]
    assert args.ssh_hostname == "ssh.example.com:2222"
