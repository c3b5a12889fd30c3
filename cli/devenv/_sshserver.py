"""`GitSSHServer`: Git over SSH on loopback, served by OpenSSH's sshd and git-shell.

sshd runs as the current user with its own config, host key and authorized_keys in the
given directory (`UsePAM no`, `StrictModes no`, foreground, logging to `sshd.log`). Every
authorized key is forced to run `_gitshell.py`, which maps the URL path onto the
repository root and hands the command to `git-shell`, so a client can fetch and push
and do nothing else.

The user in the URL must be the account sshd runs as (`GitSSHServer.user`, e.g. `root`):
sshd only logs in existing accounts and, not being root-for-others, only its own.
`url(name)` puts that user in. State files:

    sshd_config, ssh_host_ed25519_key(.pub), authorized_keys, sshd.pid, sshd.log
    client_ed25519(.pub)  the key pair `client_key` names (authorized)
    requests.jsonl        one JSON line per accepted Git command
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from ._procs import (
    DevEnvError,
    ManagedProcess,
    ProcessServer,
    ServerStartError,
    address_in_use,
    free_port,
)
from ._repos import GitRequest, count_lines, create_bare_repo, normalize_repo_name, read_requests

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")


def known_hosts_line(host: str, port: int, public_key: str) -> str:
    """A known_hosts entry: `[127.0.0.1]:2222 ssh-ed25519 AAAA...` (no brackets on 22)."""
    fields = public_key.split()
    if len(fields) < 2:
        raise ValueError(f"not an OpenSSH public key: {public_key!r}")
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {fields[0]} {fields[1]}"


def authorized_keys_line(command: Sequence[str], public_key: str) -> str:
    """An authorized_keys entry that forces `command` and allows nothing else."""
    fields = public_key.split()
    if len(fields) < 2:
        raise ValueError(f"not an OpenSSH public key: {public_key!r}")
    line = shlex.join(command).replace("\\", "\\\\").replace('"', '\\"')
    return f'restrict,command="{line}" {" ".join(fields[:3])}'


def openssh_version(text: str) -> tuple[int, int]:
    """(major, minor) from `sshd -V` output such as `OpenSSH_9.2p1 Debian-2, OpenSSL 3.0`."""
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"not an OpenSSH version: {text.strip()!r}")
    return int(match.group(1)), int(match.group(2))


def sshd_config(
    *,
    host: str,
    port: int,
    host_key: Path,
    authorized_keys: Path,
    pid_file: Path,
    user: str,
    version: tuple[int, int],
) -> str:
    """The sshd_config text for a Git-only server on host:port."""
    lines = [
        "# Written by afflux devenv: a Git-only sshd on loopback.",
        f"ListenAddress {host}:{port}",
        f"HostKey {host_key}",
        f"PidFile {pid_file}",
        f"AuthorizedKeysFile {authorized_keys}",
        f"AllowUsers {user}",
        "UsePAM no",
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "PermitUserEnvironment no",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "PermitTTY no",
        "PermitTunnel no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        "AcceptEnv GIT_PROTOCOL",
        "MaxStartups 64:30:128",
        "LogLevel VERBOSE",
    ]
    if version >= (9, 8):
        # Tests fail logins on purpose; penalties would then refuse the next good one.
        lines.append("PerSourcePenalties no")
    return "\n".join(lines) + "\n"


def generate_ssh_key(path: Path | str, comment: str = "afflux-devenv") -> tuple[Path, str]:
    """An unencrypted ed25519 key pair at `path` / `path.pub` (reused if present).

    Returns the private key's path and the public key line.
    """
    path = Path(path)
    pub = path.with_name(path.name + ".pub")
    if not (path.is_file() and pub.is_file()):
        keygen = shutil.which("ssh-keygen")
        if not keygen:
            raise DevEnvError("ssh-keygen not found: install the Debian package openssh-client")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        pub.unlink(missing_ok=True)
        done = subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise DevEnvError(f"ssh-keygen failed: {(done.stderr or done.stdout).strip()}")
    path.chmod(0o600)
    return path, pub.read_text().strip()


def _banner(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=2) as sock:
        return sock.recv(64).startswith(b"SSH-2.0-")


class GitSSHServer(ProcessServer):
    """Git over SSH (`ssh://<user>@127.0.0.1:<port>/<name>.git`); see the module docstring.

    `repo_root` may point at another server's repositories (e.g. a `GitHTTPServer`'s
    `repo_root`) to serve the same repositories over both protocols.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        repo_root: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 30.0,
    ) -> None:
        self.directory = Path(directory)
        self.repo_root = Path(repo_root) if repo_root is not None else self.directory / "repos"
        self.host = host
        self.port: int | None = None
        self._want_port = port
        self._start_timeout = start_timeout
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.host_key = self.directory / "ssh_host_ed25519_key"
        self.client_key = self.directory / "client_ed25519"
        self.authorized_keys = self.directory / "authorized_keys"
        self.log_path = self.directory / "sshd.log"
        self.requests_log = self.directory / "requests.jsonl"
        self._extra_keys: list[tuple[str, str]] = []
        self._proc: ManagedProcess | None = None
        self._since = 0

    # -- keys

    @property
    def client_public_key(self) -> str:
        return self.client_key.with_name(self.client_key.name + ".pub").read_text().strip()

    @property
    def host_public_key(self) -> str:
        return self.host_key.with_name(self.host_key.name + ".pub").read_text().strip()

    @property
    def known_hosts(self) -> str:
        """This server's known_hosts line: `[127.0.0.1]:PORT ssh-ed25519 AAAA...`."""
        if self.port is None:
            raise DevEnvError("the SSH git server is not started")
        return known_hosts_line(self.host, self.port, self.host_public_key)

    def add_authorized_key(self, public_key: str, label: str = "extra") -> None:
        """Allow another key (takes effect at once; sshd reads the file per login)."""
        self._extra_keys.append((label, public_key.strip()))
        if self.authorized_keys.parent.is_dir():
            self._write_authorized_keys()

    def _write_authorized_keys(self) -> None:
        gitshell = Path(__file__).with_name("_gitshell.py")
        git_shell = shutil.which("git-shell") or "/usr/bin/git-shell"
        lines = []
        for label, key in [("client", self.client_public_key), *self._extra_keys]:
            command = [
                sys.executable, "-I", "-S", str(gitshell), str(self.repo_root.resolve()),
                str(self.requests_log.resolve()), git_shell, label,
            ]  # fmt: skip
            lines.append(authorized_keys_line(command, key))
        tmp = self.authorized_keys.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.chmod(0o600)
        os.replace(tmp, self.authorized_keys)

    # -- lifecycle

    def start(self) -> GitSSHServer:
        if self._proc is not None and self._proc.alive():
            return self
        if not Path(SSHD).is_file():
            raise DevEnvError(f"{SSHD} not found: install the Debian package openssh-server")
        if not shutil.which("git-shell") and not Path("/usr/bin/git-shell").is_file():
            raise DevEnvError("git-shell not found: install the Debian package git")
        if "'" in str(self.repo_root.resolve()):
            raise DevEnvError(f"the repository root may not contain a quote: {self.repo_root}")
        self._check_login_shell()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.repo_root.mkdir(parents=True, exist_ok=True)
        generate_ssh_key(self.host_key, "afflux-devenv-host")
        generate_ssh_key(self.client_key, "afflux-devenv-client")
        self._write_authorized_keys()
        if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        version = self._version()
        self._since = count_lines(self.requests_log)
        attempts = 1 if self._want_port else 3
        for attempt in range(attempts):
            port = self._want_port or free_port(self.host)
            try:
                self._start_on(port, version)
                return self
            except ServerStartError as err:
                if attempt + 1 < attempts and address_in_use(err.log):
                    continue
                raise
        raise AssertionError("unreachable")

    def _start_on(self, port: int, version: tuple[int, int]) -> None:
        config = self.directory / "sshd_config"
        config.write_text(
            sshd_config(
                host=self.host,
                port=port,
                host_key=self.host_key.resolve(),
                authorized_keys=self.authorized_keys.resolve(),
                pid_file=(self.directory / "sshd.pid").resolve(),
                user=self.user,
                version=version,
            )
        )
        proc = ManagedProcess(
            "sshd (git over ssh)",
            [SSHD, "-D", "-e", "-f", str(config.resolve())],
            self.log_path,
        )
        proc.start()
        self._proc = proc
        proc.wait_until(
            lambda: _banner(self.host, port), f"answering on {self.host}:{port}",
            timeout=self._start_timeout,
        )  # fmt: skip
        self.port = port

    def _version(self) -> tuple[int, int]:
        done = subprocess.run([SSHD, "-V"], capture_output=True, text=True)
        try:
            return openssh_version(done.stderr + done.stdout)
        except ValueError:
            return (0, 0)

    def _check_login_shell(self) -> None:
        shell = pwd.getpwuid(os.getuid()).pw_shell
        if not shell or shell.endswith(("nologin", "/false")):
            raise DevEnvError(
                f"user {self.user} has login shell {shell!r}: sshd runs the git command "
                "through it, so it must be a real shell (e.g. /bin/sh)"
            )

    # -- repositories

    def create_repo(self, name: str, *, default_branch: str = "main") -> Path:
        """A bare repository (reused if it exists)."""
        return create_bare_repo(self.repo_root, name, default_branch=default_branch)

    def url(self, name: str) -> str:
        """`ssh://<user>@127.0.0.1:<port>/<name>.git`."""
        if self.port is None:
            raise DevEnvError("the SSH git server is not started")
        return f"ssh://{self.user}@{self.host}:{self.port}/{normalize_repo_name(name)}.git"

    def requests(self, name: str | None = None) -> list[GitRequest]:
        """Git commands served since start (or `clear_requests()`); `user` is the key label."""
        return read_requests(self.requests_log, name, since=self._since)

    def clear_requests(self) -> None:
        self._since = count_lines(self.requests_log)
