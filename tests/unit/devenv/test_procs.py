"""Pure parts of process handling: /proc parsing, the process tree, log tails."""

from __future__ import annotations

from afflux.cli.devenv._procs import (
    ServerStartError,
    address_in_use,
    descendants_of,
    parse_ppid,
    tail,
)


def test_parse_ppid_copes_with_spaces_and_parens_in_the_command() -> None:
    assert parse_ppid(b"123 (sshd: root (git)) S 45 123 123 0 -1") == 45
    assert parse_ppid(b"1 (init) S 0 1 1") == 0
    assert parse_ppid(b"garbage") is None


def test_descendants_of() -> None:
    parents = {10: 1, 11: 10, 12: 11, 13: 10, 20: 1, 21: 20}
    assert sorted(descendants_of(10, parents)) == [11, 12, 13]
    assert descendants_of(12, parents) == []


def test_tail_cuts_at_a_line_start() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    cut = tail(text, 40)
    assert cut.startswith("[... earlier lines cut ...]\nline ")
    assert cut.endswith("line 99\n")
    assert tail("short\n", 40) == "short\n"


def test_address_in_use() -> None:
    assert address_in_use("listen tcp 127.0.0.1:5000: bind: address already in use")
    assert address_in_use("Bind to port 22 on 127.0.0.1 failed: Address already in use.")
    assert not address_in_use("permission denied")


def test_server_start_error_carries_the_log() -> None:
    err = ServerStartError("sshd", "exited with status 255", "fatal: bad config\n")
    assert str(err) == (
        "sshd: exited with status 255\n--- sshd log ---\nfatal: bad config\n--- end of sshd log ---"
    )
    assert str(ServerStartError("x", "no log")) == "x: no log"
