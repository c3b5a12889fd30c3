"""Git server, OCI registry and test CA fixtures, and pygit2 helpers for tests.

Fixtures (session scope; each starts its server under its own tmp_path_factory folder,
stops it at the end of the session, and can be used alone):

- `test_ca`          `afflux.cli.devenv.TestCA`; libgit2 in this process trusts it
                     (see `trust_ca_in_libgit2`).
- `git_server`       `GitHTTPServer`: http and https URLs, basic auth / bearer token.
- `ssh_git_server`   `GitSSHServer`: ssh:// URLs, `client_key`, `known_hosts`.
- `registry`         `Registry`: OCI registry over TLS with htpasswd auth.

Helpers (plain functions, import them from `harness.fixtures_servers`):

- `GitAuth`: credentials and host checks for pygit2 (`GitAuth.for_server(server)`).
- `git_push_files(url, files, branch=..., auth=...)`: commit files on top of a branch
  (or as its first commit) and push; returns the new commit's SHA.
- `git_clone(url, dest, auth=...)`, `git_ls_remote(url, auth=...)`.

Credentials that the server turns down raise `GitAuthError` ("the server rejected the
password of user ...") instead of libgit2's endless re-asking. SSH URLs carry the user
sshd runs as (`ssh_git_server.user`); no other user name can log in.

How verification works with pygit2 (libgit2 with OpenSSL and libssh2):

- HTTPS: `pygit2.settings.set_ssl_cert_locations(ca_file, None)` adds a CA to the
  process-wide OpenSSL store of libgit2 (it adds; there is no way to remove one again).
  libgit2 then verifies the chain and the host name (IP SANs included) itself and hands
  the result to `certificate_check` as `valid`; `GitAuth` accepts exactly that.
- SSH: pygit2 passes `certificate=None` to `certificate_check`, so the host key hash
  is not reachable from Python, and pygit2's default *accepts any SSH host key*.
  libgit2 (>= 1.7) does check the key against `<homedir>/.ssh/known_hosts` and passes
  the result as `valid`. `GitAuth` with `known_hosts` points libgit2's home directory
  (`pygit2.settings.homedir`, process-wide) at a temporary one holding exactly that
  known_hosts while the operation runs (under a lock), and accepts only `valid`.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import CredentialType, FileMode, ObjectType

from afflux.cli.devenv import GitHTTPServer, GitSSHServer, Registry, TestCA

from .leaks import remember

__all__ = [
    "GitAuth",
    "GitAuthError",
    "GitCallbacks",
    "git_clone",
    "git_ls_remote",
    "git_push_files",
    "trust_ca_in_libgit2",
]

_HOME_LOCK = threading.RLock()
_TRUSTED: set[str] = set()


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    ca = TestCA(tmp_path_factory.mktemp("test-ca")).start()
    trust_ca_in_libgit2(ca.ca_cert)
    return ca


@pytest.fixture(scope="session")
def git_server(
    tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA
) -> Iterator[GitHTTPServer]:
    server = GitHTTPServer(tmp_path_factory.mktemp("git-http"), ca=test_ca)
    remember(server.password, server.bearer_token)
    with server:
        yield server


@pytest.fixture(scope="session")
def ssh_git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitSSHServer]:
    server = GitSSHServer(tmp_path_factory.mktemp("git-ssh"))
    with server:
        yield server


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("registry"), ca=test_ca)
    remember(server.password)
    with server:
        yield server


# --- pygit2 helpers -------------------------------------------------------------------


def trust_ca_in_libgit2(ca_cert: Path | str) -> None:
    """Make libgit2 (process-wide, additive, permanent) trust the CA in `ca_cert`."""
    path = str(Path(ca_cert).resolve())
    if path not in _TRUSTED:
        pygit2.settings.set_ssl_cert_locations(path, None)
        _TRUSTED.add(path)


class GitAuthError(pygit2.GitError):
    """The server turned the credentials down (raised instead of libgit2's retry loop)."""


@dataclass(frozen=True)
class GitAuth:
    """What a pygit2 operation authenticates with and how it checks the server.

    HTTP(S): `username` + `password` (basic auth), or `bearer_token`.
    SSH: `ssh_key` (private key path; the public key is `<ssh_key>.pub`), the user from
    the URL (or `username`), and `known_hosts`: the host key must match it, or the
    connection fails. Without `known_hosts` an SSH host key is rejected.
    """

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    ssh_key: Path | None = None
    known_hosts: str | None = None
    extra_headers: tuple[str, ...] = field(default=())

    @classmethod
    def for_server(cls, server: GitHTTPServer | GitSSHServer) -> GitAuth:
        """The credentials a test server accepts (and, for SSH, its known_hosts line)."""
        if isinstance(server, GitSSHServer):
            return cls(
                username=server.user, ssh_key=server.client_key, known_hosts=server.known_hosts
            )
        return cls(username=server.username, password=server.password)

    def callbacks(self) -> GitCallbacks:
        """Fresh callbacks for one libgit2 operation (a second credentials request within
        an operation means the first was turned down)."""
        return GitCallbacks(self)

    @contextlib.contextmanager
    def session(self) -> Iterator[GitCallbacks]:
        """Callbacks for one operation, with libgit2's known_hosts set up for the duration
        (see the module docstring)."""
        with _libgit2_known_hosts(self.known_hosts or ""):
            yield self.callbacks()


class GitCallbacks(pygit2.RemoteCallbacks):
    """pygit2 callbacks for a `GitAuth`: one try per credential type, strict host checks.

    libgit2 asks again when the server turns credentials down, forever with fixed ones;
    these raise `GitAuthError` on the second request instead. Use one per operation.
    """

    def __init__(self, auth: GitAuth) -> None:
        super().__init__()
        self.auth = auth
        self.rejected: str | None = None
        self._tried: set[str] = set()

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.UserPass | pygit2.Keypair | pygit2.Username:
        auth = self.auth
        user = username_from_url or auth.username or ""
        if allowed_types & CredentialType.SSH_KEY and auth.ssh_key is not None:
            kind = "ssh key"
            cred: pygit2.UserPass | pygit2.Keypair | pygit2.Username = pygit2.Keypair(
                user, f"{auth.ssh_key}.pub", str(auth.ssh_key), ""
            )
        elif allowed_types & CredentialType.USERNAME and user:
            kind, cred = "username", pygit2.Username(user)
        elif allowed_types & CredentialType.USERPASS_PLAINTEXT and auth.password is not None:
            kind, cred = "password", pygit2.UserPass(auth.username or user, auth.password)
        else:
            raise GitAuthError(
                f"{url}: the server asks for credentials ({allowed_types!r}) and none were given"
            )
        if kind in self._tried:
            self.rejected = f"{url}: the server rejected the {kind} of user {user!r}"
            raise GitAuthError(self.rejected)
        self._tried.add(kind)
        return cred

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        # TLS: libgit2 verified chain + host name. SSH: libgit2 matched known_hosts.
        return bool(valid)

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            raise pygit2.GitError(f"push of {refname} rejected: {message}")

    def custom_headers(self) -> list[str] | None:  # type: ignore[override]
        headers = list(self.auth.extra_headers)
        if self.auth.bearer_token:
            headers.append(f"Authorization: Bearer {self.auth.bearer_token}")
        return headers or None


@contextlib.contextmanager
def _libgit2_known_hosts(known_hosts: str) -> Iterator[None]:
    """Point libgit2's home at a temporary one whose .ssh/known_hosts is `known_hosts`."""
    with _HOME_LOCK, tempfile.TemporaryDirectory(prefix="afflux-libgit2-home-") as home:
        ssh_dir = Path(home) / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        text = known_hosts.strip()
        (ssh_dir / "known_hosts").write_text(text + "\n" if text else "")
        previous = pygit2.settings.homedir
        pygit2.settings.homedir = home
        try:
            yield
        finally:
            pygit2.settings.homedir = previous or ""


def git_ls_remote(url: str, auth: GitAuth | None = None) -> dict[str, str]:
    """The remote's refs: {"refs/heads/main": "<sha>", "HEAD": ...}."""
    auth = auth or GitAuth()
    with auth.session() as callbacks, tempfile.TemporaryDirectory() as tmp:
        repo = pygit2.init_repository(tmp, bare=True)
        remote = repo.remotes.create_anonymous(url)
        heads = remote.list_heads(callbacks=callbacks)
        return {head.name: str(head.oid) for head in heads}


def git_clone(
    url: str, dest: Path | str, auth: GitAuth | None = None, branch: str | None = None
) -> pygit2.Repository:
    """Clone `url` into `dest` (checking out `branch` if given)."""
    auth = auth or GitAuth()
    with auth.session() as callbacks:
        return pygit2.clone_repository(url, str(dest), callbacks=callbacks, checkout_branch=branch)


def git_push_files(
    url: str,
    files: Mapping[str, str | bytes | None],
    *,
    branch: str = "main",
    message: str = "test commit",
    auth: GitAuth | None = None,
    tag: str | None = None,
    author: tuple[str, str] = ("afflux tests", "tests@afflux.invalid"),
) -> str:
    """Commit `files` on top of `branch` at `url` (or start the branch) and push.

    `files` maps paths (`dir/file.yaml`) to contents; None deletes a path. `tag` also
    creates and pushes an annotated tag on the commit. Returns the commit SHA (hex).
    """
    auth = auth or GitAuth()
    known_hosts = _libgit2_known_hosts(auth.known_hosts or "")
    with known_hosts, tempfile.TemporaryDirectory() as tmp:
        repo = pygit2.init_repository(tmp, bare=True)
        remote = repo.remotes.create("origin", url)
        heads = {h.name: h.oid for h in remote.list_heads(callbacks=auth.callbacks())}
        parents: list[pygit2.Oid] = []
        index = pygit2.Index()
        ref = f"refs/heads/{branch}"
        if ref in heads:
            remote.fetch([f"+{ref}:refs/remotes/origin/{branch}"], callbacks=auth.callbacks())
            parent = repo.get(heads[ref])
            assert isinstance(parent, pygit2.Commit)
            index.read_tree(parent.tree)
            parents.append(parent.id)
        for path, content in files.items():
            if content is None:
                if path in index:
                    index.remove(path)
                continue
            data = content.encode() if isinstance(content, str) else content
            index.add(pygit2.IndexEntry(path, repo.create_blob(data), FileMode.BLOB))
        tree = index.write_tree(repo)
        signature = pygit2.Signature(*author)
        commit = repo.create_commit(ref, signature, signature, message, tree, parents)
        specs = [f"{ref}:{ref}"]
        if tag:
            repo.create_tag(tag, commit, ObjectType.COMMIT, signature, message)
            specs.append(f"refs/tags/{tag}:refs/tags/{tag}")
        # A fresh remote object: the one above is connected for fetching.
        repo.remotes["origin"].push(specs, callbacks=auth.callbacks())
        return str(commit)
