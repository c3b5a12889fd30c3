"""Bare repositories served by the local Git servers (HTTP and SSH share the layout).

A repository named `team/app` lives at `<root>/team/app.git`, is created with
`git init --bare --initial-branch=main`, accepts pushes over HTTP (`http.receivepack`),
and may be marked public (readable without credentials over HTTP). Git runs with the
system and global config switched off, so the machine's git config changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from ._githttpd import PUBLIC_MARKER
from ._procs import DevEnvError

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def normalize_repo_name(name: str) -> str:
    """`team/app.git` -> `team/app`; rejects empty, absolute, `..` and odd characters."""
    clean = name.strip().strip("/")
    if clean.endswith(".git"):
        clean = clean[:-4]
    segments = clean.split("/")
    if not clean or not all(_SEGMENT.fullmatch(s) and not s.endswith(".git") for s in segments):
        raise ValueError(
            f"bad repository name {name!r}: use path segments of letters, digits, '.', '_', "
            "'-' (e.g. 'fleet' or 'team/app')"
        )
    return clean


def isolated_git_env(home: Path | None = None) -> dict[str, str]:
    """The environment for git commands that must ignore the machine's git config."""
    env = dict(os.environ)
    for key in list(env):
        if key.startswith("GIT_"):
            del env[key]
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    if home is not None:
        env["HOME"] = str(home)
    return env


def git_binary() -> str:
    found = shutil.which("git")
    if not found:
        raise DevEnvError("git is not installed (Debian package `git`)")
    return found


def create_bare_repo(
    root: Path, name: str, *, public: bool | None = None, default_branch: str = "main"
) -> Path:
    """Create (or reuse) the bare repository `name` under `root` and return its path.

    `public` sets or clears the anonymous-read marker; None leaves it as it is.
    """
    name = normalize_repo_name(name)
    path = root / f"{name}.git"
    if not (path / "HEAD").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(["init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path)])
        _git(["-C", str(path), "config", "http.receivepack", "true"])
        _git(["-C", str(path), "config", "uploadpack.allowFilter", "true"])
    marker = path / PUBLIC_MARKER
    if public:
        marker.touch()
    elif public is not None:
        marker.unlink(missing_ok=True)
    return path


def _git(args: list[str]) -> None:
    argv = [git_binary(), *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=isolated_git_env())
    if done.returncode != 0:
        raise DevEnvError(f"`git {' '.join(args)}` failed: {done.stderr.strip()}")


class GitRequest(NamedTuple):
    """One request a Git server served (HTTP or SSH), as recorded in its requests log."""

    method: str  # HTTP method; "SSH" for SSH
    repo: str | None  # repository name without .git
    path: str  # path after the repository (`/info/refs`, `/git-upload-pack`)
    service: str | None  # git-upload-pack / git-receive-pack / None (dumb HTTP)
    status: int | None  # HTTP status; SSH: None
    user: str | None
    scheme: str  # http, https or ssh

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> GitRequest:
        return cls(
            method=str(raw.get("method", "")),
            repo=raw.get("repo"),
            path=str(raw.get("path", "")),
            service=raw.get("service"),
            status=raw.get("status"),
            user=raw.get("user"),
            scheme=str(raw.get("scheme", "")),
        )


def read_requests(log: Path, repo: str | None = None, since: int = 0) -> list[GitRequest]:
    """The requests in a JSON-lines log from entry `since` on, optionally for one repo."""
    try:
        lines = log.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    wanted = normalize_repo_name(repo) if repo is not None else None
    found: list[GitRequest] = []
    for line in lines[since:]:
        if not line.strip():
            continue
        try:
            entry = GitRequest.from_json(json.loads(line))
        except (ValueError, TypeError):
            continue
        if wanted is None or entry.repo == wanted:
            found.append(entry)
    return found


def count_lines(log: Path) -> int:
    try:
        with open(log, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0
