"""The forced command of the SSH Git server: map a repository path, then run git-shell.

sshd runs it for every connection (authorized_keys `command=`) as
`python -I -S _gitshell.py ROOT REQUESTS_LOG GIT_SHELL KEY_LABEL`, with the client's
command in `$SSH_ORIGINAL_COMMAND` (e.g. `git-upload-pack '/team/app.git'`). The path is
taken relative to ROOT (a leading `/` or `~/` is dropped, `.git` may be left out), so
URLs stay short: `ssh://<user>@127.0.0.1:<port>/team/app.git`. Only fetch, push and
archive are allowed; anything else is refused with a message on stderr. Each accepted
command is appended to REQUESTS_LOG as one JSON line. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
from pathlib import Path

VERBS = ("git-upload-pack", "git-receive-pack", "git-upload-archive")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


class Refused(ValueError):
    """The client's command is not one this server runs."""


def parse_command(original: str) -> tuple[str, str]:
    """`git-upload-pack '/team/app.git'` -> (`git-upload-pack`, `team/app.git`)."""
    try:
        words = shlex.split(original)
    except ValueError as err:
        raise Refused(f"cannot parse command {original!r}: {err}") from None
    if len(words) == 3 and words[0] == "git":  # `git upload-pack '/x'`
        words = [f"git-{words[1]}", words[2]]
    if len(words) != 2 or words[0] not in VERBS:
        raise Refused(
            f"only git fetch and push are served here, not {original!r} "
            "(interactive logins are not allowed)"
        )
    verb, path = words
    if path.startswith("~/"):
        path = path[2:]
    path = path.strip("/")
    segments = path.split("/")
    if not path or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise Refused(f"bad repository path {words[1]!r}")
    return verb, path


def resolve(root: Path, path: str) -> Path | None:
    """The bare repository `path` (or `path.git`) under `root`, if it exists."""
    for candidate in (path, f"{path}.git"):
        repo = root / candidate
        if (repo / "HEAD").is_file() and (repo / "objects").is_dir():
            return repo
    return None


def shell_command(verb: str, repo: Path) -> str:
    """The command line git-shell gets: `git-upload-pack '/abs/path.git'`."""
    text = str(repo)
    if "'" in text:
        raise Refused(f"repository path {text!r} contains a quote")
    return f"{verb} '{text}'"


def _record(log: Path, entry: dict[str, object]) -> None:
    try:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
    except OSError as err:
        sys.stderr.write(f"afflux git ssh: cannot record the request: {err}\n")


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        sys.stderr.write("usage: _gitshell.py ROOT REQUESTS_LOG GIT_SHELL KEY_LABEL\n")
        return 2
    root, log, git_shell, label = Path(argv[1]), Path(argv[2]), argv[3], argv[4]
    original = os.environ.get("SSH_ORIGINAL_COMMAND", "")
    try:
        verb, path = parse_command(original)
        repo = resolve(root, path)
        if repo is None:
            name = path[:-4] if path.endswith(".git") else path
            raise Refused(f"repository {name!r} not found")
        command = shell_command(verb, repo)
    except Refused as err:
        sys.stderr.write(f"afflux git ssh: {err}\n")
        return 1
    rel = repo.relative_to(root).as_posix()
    _record(
        log,
        {
            "time": time.time(),
            "scheme": "ssh",
            "method": "SSH",
            "repo": rel[:-4] if rel.endswith(".git") else rel,
            "path": "",
            "service": verb,
            "status": None,
            "user": label,
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k == "GIT_PROTOCOL"}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    os.execve(git_shell, [git_shell, "-c", command], env)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
