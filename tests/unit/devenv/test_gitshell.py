"""The SSH forced command's parsing: which Git commands run, on which repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.cli.devenv._gitshell import Refused, parse_command, shell_command


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("git-upload-pack '/fleet.git'", ("git-upload-pack", "fleet.git")),
        ("git-receive-pack '/team/app.git'", ("git-receive-pack", "team/app.git")),
        ("git-upload-pack 'fleet'", ("git-upload-pack", "fleet")),
        ("git-upload-pack '~/fleet.git'", ("git-upload-pack", "fleet.git")),
        ("git upload-pack '/fleet.git'", ("git-upload-pack", "fleet.git")),
        ("git-upload-archive '/fleet.git'", ("git-upload-archive", "fleet.git")),
        ("git-upload-pack /fleet.git", ("git-upload-pack", "fleet.git")),
    ],
)
def test_parse_command(original: str, expected: tuple[str, str]) -> None:
    assert parse_command(original) == expected


@pytest.mark.parametrize(
    "original",
    [
        "",
        "id",
        "sh -c 'id'",
        "git-upload-pack",
        "git-upload-pack '/a' '/b'",
        "git-upload-pack '/../etc'",
        "git-upload-pack '/a/../../etc'",
        "git-upload-pack '/'",
        "git-upload-pack '/a b'",
        "git-upload-pack '/fleet.git",  # unbalanced quote
        "git-upload-pack '/.hidden'",
        "git-config '/fleet.git'",
    ],
)
def test_parse_command_refuses(original: str) -> None:
    with pytest.raises(Refused):
        parse_command(original)


def test_shell_command_quotes_the_absolute_path() -> None:
    cmd = shell_command("git-upload-pack", Path("/srv/repos/fleet.git"))
    assert cmd == "git-upload-pack '/srv/repos/fleet.git'"
    with pytest.raises(Refused):
        shell_command("git-upload-pack", Path("/srv/it's/fleet.git"))
