"""Pure parts of the SSH Git server: known_hosts and authorized_keys lines, sshd config."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from afflux.cli.devenv._sshserver import (
    authorized_keys_line,
    known_hosts_line,
    openssh_version,
    sshd_config,
)

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPHL9ltEiwgI71srpO6zj3lDg0qH5D+uvemxaftsVlEw"


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 2222, f"[127.0.0.1]:2222 {KEY}"),
        ("127.0.0.1", 22, f"127.0.0.1 {KEY}"),
        ("git.example", 40022, f"[git.example]:40022 {KEY}"),
    ],
)
def test_known_hosts_line(host: str, port: int, expected: str) -> None:
    assert known_hosts_line(host, port, KEY + " host-comment") == expected


def test_known_hosts_line_needs_a_key() -> None:
    with pytest.raises(ValueError):
        known_hosts_line("127.0.0.1", 22, "garbage")


def test_authorized_keys_line_forces_the_command_and_restricts() -> None:
    command = ["/usr/bin/python3", "/opt/my dir/_gitshell.py", '/repos "x"', "label"]
    line = authorized_keys_line(command, KEY + " a comment")
    assert line.startswith('restrict,command="')
    options, _, key = line.rpartition('" ')
    assert key == f"{KEY} a"  # type, key and the comment's first word
    quoted = options[len('restrict,command="') :].replace('\\"', '"').replace("\\\\", "\\")
    assert shlex.split(quoted) == command


def test_openssh_version() -> None:
    assert openssh_version("OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.19") == (9, 2)
    assert openssh_version("OpenSSH_10.0p2 Debian-5") == (10, 0)
    with pytest.raises(ValueError):
        openssh_version("something else")


def _config(version: tuple[int, int]) -> str:
    return sshd_config(
        host="127.0.0.1",
        port=2222,
        host_key=Path("/s/host"),
        authorized_keys=Path("/s/authorized_keys"),
        pid_file=Path("/s/sshd.pid"),
        user="tester",
        version=version,
    )


def test_sshd_config_is_git_only_and_self_contained() -> None:
    lines = _config((9, 2)).splitlines()
    for expected in (
        "ListenAddress 127.0.0.1:2222",
        "HostKey /s/host",
        "PidFile /s/sshd.pid",
        "AuthorizedKeysFile /s/authorized_keys",
        "AllowUsers tester",
        "UsePAM no",
        "StrictModes no",
        "PasswordAuthentication no",
        "AcceptEnv GIT_PROTOCOL",
    ):
        assert expected in lines
    assert "PerSourcePenalties no" not in lines


def test_sshd_config_turns_penalties_off_where_they_exist() -> None:
    assert "PerSourcePenalties no" in _config((9, 8)).splitlines()
    assert "PerSourcePenalties no" in _config((10, 0)).splitlines()
