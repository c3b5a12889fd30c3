"""Git for the CLI (what `bootstrap` does to a repository), with pygit2 (libgit2).

`WorkingCopy.clone(url, branch, directory, auth)` checks out one branch into a directory
(an empty repository, or one without that branch, gives an unborn branch to start);
`write`/`read` work on its files, `commit(paths, message, author)` records what changed
(None when nothing did) and `push()` sends the branch back, raising `NonFastForward`
when someone pushed first (the caller clones again and redoes its change).

Credentials (`GitAuth`): basic auth or a bearer token over HTTP(S), a key pair (or the
ssh-agent) over SSH. Each operation gets fresh callbacks that offer each credential once:
libgit2 asks again when the server turns credentials down, and a second request becomes a
`GitError` saying so rather than an endless loop. Server checks are strict: HTTPS
certificates must verify (a private CA is added with `trust_ca`), SSH host keys must be
in the `known_hosts` text given (libgit2 reads `~/.ssh/known_hosts`, so its home directory
points at a temporary one holding exactly that text while the operation runs).
Every failure is a `GitError` (a CLIError) with one line and a hint.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CheckoutStrategy, CredentialType

from ._errors import CLIError

__all__ = ["GitAuth", "GitError", "NonFastForward", "WorkingCopy", "trust_ca"]

_HOME_LOCK = threading.RLock()
_TRUSTED: set[str] = set()


class GitError(CLIError):
    """A Git operation failed; the message says which and why."""


class NonFastForward(GitError):
    """The remote branch moved since the clone."""


def trust_ca(ca_file: str | Path) -> None:
    """Make libgit2 (in this process) accept HTTPS certificates signed by `ca_file`."""
    path = str(Path(ca_file).resolve())
    if path not in _TRUSTED:
        pygit2.settings.set_ssl_cert_locations(path, None)
        _TRUSTED.add(path)


@dataclass(frozen=True)
class GitAuth:
    """What the CLI authenticates with. HTTP(S): `username`+`password` or `bearer_token`.
    SSH: `private_key_file` (+ `public_key_file`, `passphrase`) or the ssh-agent
    (`use_agent`), and the `known_hosts` the server's host key must be in."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    private_key_file: Path | None = None
    public_key_file: Path | None = None
    passphrase: str = ""
    use_agent: bool = False
    known_hosts: str = ""


class _Callbacks(pygit2.RemoteCallbacks):
    """One operation's callbacks; see the module docstring."""

    def __init__(self, url: str, auth: GitAuth) -> None:
        super().__init__()
        self.url = url
        self.auth = auth
        self.tried: set[str] = set()
        self.rejected: str | None = None
        self.bad_certificate = False
        self.push_errors: list[str] = []

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: CredentialType):  # type: ignore[override]
        auth = self.auth
        user = username_from_url or auth.username or "git"
        if allowed_types & CredentialType.SSH_KEY and auth.private_key_file is not None:
            kind = "SSH key"
            # no public key file: libssh2 derives it from the private key
            cred = pygit2.Keypair(user, str(auth.public_key_file) if auth.public_key_file
                                  else None, str(auth.private_key_file), auth.passphrase)
        elif allowed_types & CredentialType.SSH_KEY and auth.use_agent:
            kind, cred = "ssh-agent keys", pygit2.KeypairFromAgent(user)
        elif allowed_types & CredentialType.USERNAME:
            kind, cred = "user name", pygit2.Username(user)
        elif allowed_types & CredentialType.USERPASS_PLAINTEXT and auth.password is not None \
                and not auth.bearer_token:
            kind, cred = "password", pygit2.UserPass(auth.username or "git", auth.password)
        else:
            self.rejected = "the server asks for credentials and none were given"
            raise GitError(self.rejected)
        if kind in self.tried:
            self.rejected = f"the server rejected the {kind} of user {user!r}"
            raise GitError(self.rejected)
        self.tried.add(kind)
        return cred

    def certificate_check(self, certificate, valid: bool, host) -> bool:  # type: ignore[override]
        if not valid:
            self.bad_certificate = True
        return bool(valid)

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message is not None:
            self.push_errors.append(f"{refname}: {message}")

    def custom_headers(self) -> list[str] | None:  # type: ignore[override]
        if self.auth.bearer_token:
            return [f"Authorization: Bearer {self.auth.bearer_token}"]
        return None


@contextlib.contextmanager
def _known_hosts(text: str) -> Iterator[None]:
    """libgit2's home directory holding exactly `text` as ~/.ssh/known_hosts."""
    with _HOME_LOCK, tempfile.TemporaryDirectory(prefix="afflux-git-home-") as home:
        ssh = Path(home) / ".ssh"
        ssh.mkdir(mode=0o700)
        (ssh / "known_hosts").write_text(text.strip() + "\n" if text.strip() else "")
        previous = pygit2.settings.homedir
        pygit2.settings.homedir = home
        try:
            yield
        finally:
            pygit2.settings.homedir = previous or ""


def _non_fast_forward(text: str) -> bool:
    """Whether a push error says the remote branch has commits we do not (libgit2 and
    servers word it in several ways)."""
    low = text.lower()
    return any(s in low for s in ("fastforward", "fast-forward", "fast forward",
                                  "not present locally", "fetch first"))


def _scheme(url: str) -> str:
    return urlsplit(url).scheme or "ssh"


def explain(url: str, err: BaseException, cb: _Callbacks, action: str) -> GitError:
    """A one-line GitError for a failed operation, with what to do about it."""
    if isinstance(err, GitError) and cb.rejected:
        hint = ("check the SSH key (--private-key-file) and that it has write access"
                if _scheme(url) == "ssh" else
                "check --username and --password (or the token)")
        return GitError(f"{action} {url} failed: {cb.rejected}", hint)
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    low = text.lower()
    if cb.bad_certificate or "certificate" in low or "hostkey" in low or "host key" in low:
        if _scheme(url) == "ssh":
            return GitError(f"{action} {url} failed: the server's SSH host key is not the "
                            "one scanned into known_hosts", "check the host and port in --url")
        return GitError(f"{action} {url} failed: the server's TLS certificate could not be "
                        f"verified ({text})", "pass the CA that signed it with --ca-file")
    if any(s in low for s in ("connection refused", "failed to connect", "could not resolve",
                              "failed to resolve", "timed out", "unreachable",
                              "failed to start ssh session", "no route")):
        return GitError(f"{action} {url} failed: cannot reach the Git server ({text})",
                        "check --url and that the server is running")
    if "401" in low or "403" in low or "authentication" in low or "credentials" in low:
        return GitError(f"{action} {url} failed: authentication failed ({text})",
                        "check the credentials (--username/--password, --private-key-file)")
    if "404" in low or "not found" in low or "does not appear to be a git repository" in low:
        return GitError(f"{action} {url} failed: no repository there ({text})",
                        "check the repository path in --url (bootstrap does not create "
                        "repositories on a plain Git server)")
    return GitError(f"{action} {url} failed: {text}", "run again with -v for details")


class WorkingCopy:
    """One branch of a remote repository, checked out in `path`."""

    def __init__(self, repo: pygit2.Repository, url: str, branch: str, auth: GitAuth) -> None:
        self.repo = repo
        self.url = url
        self.branch = branch
        self.auth = auth
        self.path = Path(repo.workdir)

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    @contextlib.contextmanager
    def _operation(self, action: str) -> Iterator[_Callbacks]:
        cb = _Callbacks(self.url, self.auth)
        context = _known_hosts(self.auth.known_hosts) if _scheme(self.url) == "ssh" \
            else contextlib.nullcontext()
        try:
            with context:
                yield cb
        except NonFastForward:
            raise
        except (pygit2.GitError, GitError, OSError, ValueError, KeyError) as err:
            raise explain(self.url, err, cb, action) from None

    @classmethod
    def clone(cls, url: str, branch: str, directory: Path | str, auth: GitAuth) -> WorkingCopy:
        """Check out `branch` of `url` into `directory` (created empty)."""
        repo = pygit2.init_repository(str(directory), bare=False, initial_head=branch)
        repo.remotes.create("origin", url)
        wc = cls(repo, url, branch, auth)
        with wc._operation("cloning") as cb:
            heads = {h.name: h.oid for h in repo.remotes["origin"].list_heads(callbacks=cb)}
        target = heads.get(wc.ref)
        if target is None:
            return wc  # an empty repository, or no such branch yet: start it
        with wc._operation("cloning") as cb:
            repo.remotes["origin"].fetch(
                [f"+{wc.ref}:refs/remotes/origin/{branch}"], callbacks=cb)
        repo.references.create(wc.ref, target, force=True)
        commit = repo.get(target)
        assert isinstance(commit, pygit2.Commit)
        repo.checkout_tree(commit.tree, strategy=CheckoutStrategy.FORCE)
        repo.set_head(wc.ref)
        return wc

    @property
    def head(self) -> str | None:
        """The branch's commit (None while the branch has none)."""
        if self.repo.head_is_unborn:
            return None
        return str(self.repo.head.target)

    def read(self, relpath: str) -> str | None:
        file = self.path / relpath
        return file.read_text() if file.is_file() else None

    def write(self, relpath: str, text: str) -> None:
        file = self.path / relpath
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)

    def commit(self, paths: Sequence[str], message: str, author: tuple[str, str],
               sign: Callable[[str], str] | None = None) -> str | None:
        """Commit the current content of `paths`; the new commit's SHA, or None when the
        tree did not change. `sign` (the commit's text -> an armored signature) makes a
        signed commit (the signature in its `gpgsig` header)."""
        index = self.repo.index
        index.read()
        for rel in paths:
            if (self.path / rel).is_file():
                index.add(rel)
            elif rel in index:
                index.remove(rel)
        index.write()
        tree = index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        if parents:
            parent = self.repo.get(parents[0])
            assert isinstance(parent, pygit2.Commit)
            if parent.tree_id == tree:
                return None
        signature = pygit2.Signature(author[0], author[1])
        if sign is None:
            oid = self.repo.create_commit("HEAD", signature, signature, message, tree, parents)
            return str(oid)
        content = self.repo.create_commit_string(signature, signature, message, tree, parents)
        oid = self.repo.create_commit_with_signature(content, sign(content), "gpgsig")
        self.repo.references.create(self.ref, oid, force=True)
        return str(oid)

    def push(self) -> None:
        """Push the branch; NonFastForward when the remote moved on."""
        with self._operation("pushing to") as cb:
            try:
                self.repo.remotes["origin"].push([f"{self.ref}:{self.ref}"], callbacks=cb)
            except pygit2.GitError as err:
                if _non_fast_forward(str(err)):
                    raise NonFastForward(f"pushing to {self.url} failed: the branch "
                                         f"{self.branch} moved on") from None
                raise
            if cb.push_errors:
                text = "; ".join(cb.push_errors)
                if _non_fast_forward(text):
                    raise NonFastForward(f"pushing to {self.url} failed: {text}")
                raise GitError(f"pushing to {self.url} failed: {text}",
                               "check that the credentials may push to the branch")
