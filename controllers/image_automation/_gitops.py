"""The Git side of ImageUpdateAutomation: clone, check out, update, commit, push.

One run (`run_automation`):

1. resolve `spec.git.checkout.ref` (or the GitRepository's ref) against the remote with
   Flux's precedence, commit > name > semver > tag > branch (default branch `master`),
   and fetch what is needed into a fresh work tree;
2. pick the push target: `spec.git.push.branch`, else the checkout branch; with only a
   `refspec`, the checkout branch (if any) and the refspec. When the push branch differs
   from the checkout branch and already exists on the remote, the update is made on top
   of it (never a forced push); when it does not exist it is created from the checkout;
3. call the change function on the work tree (the setters), stage what it changed;
   nothing changed -> no commit, no push;
4. commit as `spec.git.commit.author` (author and committer), with the message the
   message function renders from the change result, signed when a key is given: an
   OpenPGP `SigningKey` with the real `gpg` (in a throw-away home), an `SSHSigningKey`
   as an SSHSIG signature (`_sshsig`, what git writes with `gpg.format=ssh`); either
   goes into the commit's `gpgsig` header;
5. push the push branch, with `spec.git.push.options`; when the push is rejected (the
   branch moved), fetch the new head, check it out and run the change function again
   on it (no rebase of our commit), commit and push again, a few times with backoff.
   Then push the refspec, if any (not retried, as in Flux).

Credentials and server verification come from `afflux.controllers.runtime._gitauth`
(one `GitCallbacks` per network operation). Failures are typed: `GitError` /
`GitAuthError` (reasons GitOperationFailed / AuthenticationFailed, retried),
`InvalidSourceConfiguration` (the spec cannot work: stalled), `SigningError`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pygit2
from pygit2.enums import CheckoutStrategy

from afflux.api._meta import GIT_OPERATION_FAILED, INVALID_SOURCE_CONFIGURATION
from afflux.controllers.runtime import (
    GenericError,
    GitCallbacks,
    GitCredentials,
    GitError,
    StallingError,
    redact_url,
    translate_git_error,
    url_transport,
)

from ._sshsig import SSHPrivateKey, sign_armored

__all__ = [
    "DEFAULT_BRANCH",
    "AutomationOutcome",
    "CheckoutRef",
    "CommitAuthor",
    "InvalidSourceConfiguration",
    "PushSpec",
    "SSHSigningKey",
    "SigningError",
    "SigningKey",
    "run_automation",
]

DEFAULT_BRANCH = "master"
T = TypeVar("T")


class InvalidSourceConfiguration(StallingError):
    """The checkout/push settings cannot work (e.g. no branch to push to)."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID_SOURCE_CONFIGURATION, message)


class SigningError(GenericError):
    """The signing key cannot be used (bad armor, wrong passphrase, several keys)."""

    def __init__(self, message: str) -> None:
        super().__init__(GIT_OPERATION_FAILED, message)


@dataclass(frozen=True)
class CheckoutRef:
    """`spec.git.checkout.ref` (same fields as GitRepository `spec.ref`)."""

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    name: str | None = None
    commit: str | None = None

    @classmethod
    def from_spec(cls, ref: Any) -> CheckoutRef:
        """From a camelCase dict or an api model (None: the default branch)."""
        if ref is None:
            return cls()
        if hasattr(ref, "to_dict"):
            ref = ref.to_dict()
        return cls(**{k: ref.get(k) or None for k in ("branch", "tag", "semver", "name", "commit")})


@dataclass(frozen=True)
class PushSpec:
    """`spec.git.push`."""

    branch: str | None = None
    refspec: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, push: Any) -> PushSpec:
        if push is None:
            return cls()
        if hasattr(push, "to_dict"):
            push = push.to_dict()
        return cls(
            push.get("branch") or None, push.get("refspec") or None, dict(push.get("options") or {})
        )


@dataclass(frozen=True)
class CommitAuthor:
    """`spec.git.commit.author`; a missing name falls back to the email."""

    email: str
    name: str | None = None

    def signature(self) -> pygit2.Signature:
        return pygit2.Signature(self.name or self.email, self.email)


@dataclass(frozen=True)
class SigningKey:
    """`git.asc` (ASCII-armored OpenPGP private key) and `passphrase` of the signing Secret."""

    armored: bytes
    passphrase: str | None = None

    def __repr__(self) -> str:
        return "SigningKey(***)"


@dataclass(frozen=True)
class SSHSigningKey:
    """The SSH private key of the signing Secret's `identity`, loaded and checked by
    `_sshsig.load_private_key`."""

    key: SSHPrivateKey

    def __repr__(self) -> str:
        return "SSHSigningKey(***)"


@dataclass
class AutomationOutcome(Generic[T]):
    """What a run did. `commit` is the pushed commit (None: nothing to push)."""

    source_revision: str
    push_branch: str | None
    commit: str | None = None
    message: str | None = None
    result: T | None = None
    attempts: int = 0
    refspecs: list[str] = field(default_factory=list)


# --- helpers ----------------------------------------------------------------------------------


def _callbacks(url: str, credentials: GitCredentials | None, timeout: float) -> GitCallbacks:
    return GitCallbacks(credentials, url, timeout=timeout)


def _network(
    url: str, credentials: GitCredentials | None, timeout: float, op: Callable[[GitCallbacks], T]
) -> T:
    callbacks = _callbacks(url, credentials, timeout)
    try:
        return op(callbacks)
    except (pygit2.GitError, GitError, OSError, KeyError, ValueError) as err:
        raise translate_git_error(err, url, callbacks) from err


def _remote_refs(
    repo: pygit2.Repository, url: str, credentials: GitCredentials | None, timeout: float
) -> dict[str, str]:
    remote = repo.remotes["origin"]
    heads = _network(url, credentials, timeout, lambda cb: remote.list_heads(callbacks=cb))
    return {head.name: str(head.oid) for head in heads}


def _validate_refspec(refspec: str) -> tuple[str, str]:
    if refspec.startswith("+"):
        raise InvalidSourceConfiguration(
            f"spec.git.push.refspec '{refspec}': forced updates ('+') are not supported"
        )
    src, sep, dst = refspec.partition(":")
    if not sep or not src or not dst:
        raise InvalidSourceConfiguration(
            f"spec.git.push.refspec '{refspec}' must be '<source>:<destination>', e.g. "
            "'refs/heads/main:refs/heads/auto' (deletions are not supported)"
        )
    return src, dst


def _check_branch_name(name: str, what: str) -> None:
    if not pygit2.reference_is_valid_name(f"refs/heads/{name}"):
        raise InvalidSourceConfiguration(f"{what} '{name}' is not a valid branch name")


# --- signing ----------------------------------------------------------------------------------


class _GPG:
    """The real gpg in a throw-away home holding exactly one secret key."""

    def __init__(self, key: SigningKey) -> None:
        self.key = key
        self.home = Path(tempfile.mkdtemp(prefix="afflux-gpg-"))
        os.chmod(self.home, 0o700)
        self.fingerprint = ""

    def __enter__(self) -> _GPG:
        binary = shutil.which("gpg")
        if not binary:
            raise SigningError("commit signing needs the 'gpg' program, which is not installed")
        self.binary = binary
        done = self._run(["--import"], self.key.armored)
        if done.returncode != 0:
            raise SigningError(f"could not read the signing key from 'git.asc': {_gpg_error(done)}")
        listing = self._run(["--list-secret-keys", "--with-colons"], b"")
        fingerprints = []
        expect_fpr = False
        for line in listing.stdout.decode("utf-8", "replace").splitlines():
            fields = line.split(":")
            if fields[0] == "sec":
                expect_fpr = True
            elif fields[0] == "fpr" and expect_fpr:
                fingerprints.append(fields[9])
                expect_fpr = False
        if not fingerprints:
            raise SigningError(
                "'git.asc' holds no private key: export it with `gpg --export-secret-keys --armor`"
            )
        if len(fingerprints) > 1:
            raise SigningError(
                "'git.asc' holds several private keys; could not determine which signing key to use"
            )
        self.fingerprint = fingerprints[0]
        return self

    def __exit__(self, *exc: object) -> None:
        if shutil.which("gpgconf"):  # stop the agent this home started
            subprocess.run(
                ["gpgconf", "--kill", "gpg-agent"],
                env=self._env(),
                capture_output=True,
                check=False,
                timeout=30,
            )
        shutil.rmtree(self.home, ignore_errors=True)

    def _env(self) -> dict[str, str]:
        return {
            "GNUPGHOME": str(self.home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C",
        }

    def _run(
        self, args: list[str], stdin: bytes, passphrase: bool = False
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = [self.binary, "--batch", "--no-tty", "--yes"]
        read_fd: int | None = None
        if passphrase:
            read_fd, write_fd = os.pipe()
            os.write(write_fd, (self.key.passphrase or "").encode("utf-8") + b"\n")
            os.close(write_fd)
            cmd += ["--pinentry-mode", "loopback", "--passphrase-fd", str(read_fd)]
        try:
            return subprocess.run(
                cmd + args,
                input=stdin,
                capture_output=True,
                env=self._env(),
                pass_fds=(read_fd,) if read_fd is not None else (),
                timeout=60,
                check=False,
            )
        finally:
            if read_fd is not None:
                os.close(read_fd)

    def sign(self, payload: str) -> str:
        done = self._run(
            ["--local-user", self.fingerprint, "--armor", "--detach-sign"],
            payload.encode("utf-8"),
            passphrase=True,
        )
        if done.returncode != 0:
            raise SigningError(
                f"could not sign the commit with the key of 'git.asc': {_gpg_error(done)}"
            )
        return done.stdout.decode("ascii")


def _gpg_error(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return "; ".join(lines[-3:]) or f"gpg exited with {done.returncode}"


# --- the run ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    checkout_branch: str | None
    checkout_ref: str  # the refs/... name the checkout commit came from (for revisions)
    revision_name: str  # branch, tag or ref name shown in the revision
    checkout_commit: str
    push_branch: str | None
    refspec: tuple[str, str] | None


class _Work:
    def __init__(
        self, url: str, credentials: GitCredentials | None, timeout: float, directory: Path
    ) -> None:
        self.url = url
        self.credentials = credentials
        self.timeout = timeout
        self.directory = directory
        self.repo = pygit2.init_repository(str(directory))
        self.repo.remotes.create("origin", url)

    def refs(self) -> dict[str, str]:
        return _remote_refs(self.repo, self.url, self.credentials, self.timeout)

    def fetch(self, refspecs: list[str]) -> None:
        remote = self.repo.remotes["origin"]
        _network(
            self.url,
            self.credentials,
            self.timeout,
            lambda cb: remote.fetch(refspecs, callbacks=cb),
        )

    def check_out(self, branch: str, commit: str) -> None:
        """Point local `branch` at `commit`, make it HEAD and the work tree (forced)."""
        target = self.repo.get(commit)
        if not isinstance(target, pygit2.Commit):
            raise GitError(f"{commit} is not a commit")
        self.repo.create_reference(f"refs/heads/{branch}", target.id, force=True)
        self.repo.checkout_tree(
            target.tree, strategy=CheckoutStrategy.FORCE | CheckoutStrategy.REMOVE_UNTRACKED
        )
        self.repo.set_head(f"refs/heads/{branch}")
        self.repo.index.read_tree(target.tree)
        self.repo.index.write()

    def check_out_detached(self, commit: str) -> None:
        target = self.repo.get(commit)
        if not isinstance(target, pygit2.Commit):
            raise GitError(f"{commit} is not a commit")
        self.repo.checkout_tree(
            target.tree, strategy=CheckoutStrategy.FORCE | CheckoutStrategy.REMOVE_UNTRACKED
        )
        self.repo.set_head(target.id)
        self.repo.index.read_tree(target.tree)
        self.repo.index.write()

    def push(self, specs: list[str], options: Mapping[str, str]) -> None:
        remote = self.repo.remotes["origin"]
        push_options = [f"{k}={v}" if v else k for k, v in options.items()] or None
        _network(
            self.url,
            self.credentials,
            self.timeout,
            lambda cb: remote.push(specs, callbacks=cb, push_options=push_options),
        )


def _resolve(work: _Work, ref: CheckoutRef, push: PushSpec) -> _Plan:
    refs = work.refs()
    wanted_branch = ref.branch
    if not any((ref.commit, ref.name, ref.semver, ref.tag, ref.branch)):
        wanted_branch = DEFAULT_BRANCH

    def peeled(name: str) -> str | None:
        return refs.get(f"{name}^{{}}") or refs.get(name)

    checkout_branch: str | None = None
    if ref.commit:
        branch = wanted_branch
        if branch:
            if f"refs/heads/{branch}" not in refs:
                raise GitError(
                    f'couldn\'t find remote ref "refs/heads/{branch}" at {redact_url(work.url)}'
                )
            work.fetch([f"+refs/heads/{branch}:refs/remotes/origin/{branch}"])
            checkout_branch = branch
        else:
            work.fetch(["+refs/heads/*:refs/remotes/origin/*"])
        try:
            commit = work.repo.revparse_single(ref.commit)
        except (KeyError, ValueError, pygit2.GitError) as err:
            raise GitError(f"commit '{ref.commit}' not found in {redact_url(work.url)}") from err
        if branch:
            head = work.repo.references[f"refs/remotes/origin/{branch}"].target
            if commit.id != head and not work.repo.descendant_of(head, commit.id):
                raise GitError(f"commit '{ref.commit}' is not on branch '{branch}'")
        sha = str(commit.id)
        plan = _Plan(
            checkout_branch, f"refs/heads/{branch}" if branch else "", branch or "", sha, None, None
        )
    elif ref.name:
        name = ref.name
        sha = peeled(name)
        if sha is None:
            raise GitError(f'couldn\'t find remote ref "{name}" at {redact_url(work.url)}')
        work.fetch([f"+{name}:refs/afflux/checkout"])
        if name.startswith("refs/heads/"):
            checkout_branch = name.removeprefix("refs/heads/")
        plan = _Plan(checkout_branch, name, name, sha, None, None)
    elif ref.semver or ref.tag:
        tags = {
            n.removeprefix("refs/tags/")
            for n in refs
            if n.startswith("refs/tags/") and not n.endswith("^{}")
        }
        if ref.semver:
            from afflux.api import _semver

            try:
                tag = _semver.latest_matching(ref.semver, sorted(tags))
            except ValueError as err:
                raise InvalidSourceConfiguration(
                    f"invalid semver range '{ref.semver}' in the checkout ref: {err}"
                ) from err
            if tag is None:
                raise GitError(
                    f"no tag of {redact_url(work.url)} matches semver range '{ref.semver}'"
                )
        else:
            tag = ref.tag or ""
            if tag not in tags:
                raise GitError(
                    f'couldn\'t find remote ref "refs/tags/{tag}" at {redact_url(work.url)}'
                )
        work.fetch([f"+refs/tags/{tag}:refs/tags/{tag}"])
        sha = peeled(f"refs/tags/{tag}") or ""
        plan = _Plan(None, f"refs/tags/{tag}", tag, sha, None, None)
    else:
        branch = wanted_branch or DEFAULT_BRANCH
        if f"refs/heads/{branch}" not in refs:
            raise GitError(
                f'couldn\'t find remote ref "refs/heads/{branch}" at {redact_url(work.url)}'
            )
        work.fetch([f"+refs/heads/{branch}:refs/remotes/origin/{branch}"])
        sha = refs[f"refs/heads/{branch}"]
        plan = _Plan(branch, f"refs/heads/{branch}", branch, sha, None, None)

    plan.push_branch = push.branch or plan.checkout_branch
    if push.refspec:
        plan.refspec = _validate_refspec(push.refspec)
    if plan.push_branch is None and plan.refspec is None:
        raise InvalidSourceConfiguration(
            "no branch to push to: the checkout is not a branch, so set spec.git.push.branch "
            "(or spec.git.push.refspec)"
        )
    if plan.push_branch:
        _check_branch_name(plan.push_branch, "push branch")
    return plan


def _base_for_push(work: _Work, plan: _Plan) -> str:
    """The commit the update starts from: the remote push branch when it exists and is not
    the checkout branch (no force pushes), else the checkout commit."""
    if plan.push_branch and plan.push_branch != plan.checkout_branch:
        refs = work.refs()
        remote_sha = refs.get(f"refs/heads/{plan.push_branch}")
        if remote_sha:
            work.fetch([f"+refs/heads/{plan.push_branch}:refs/remotes/origin/{plan.push_branch}"])
            return remote_sha
    return plan.checkout_commit


def _stage_all(repo: pygit2.Repository) -> pygit2.Oid:
    index = repo.index
    index.add_all()
    index.write()
    return index.write_tree()


def _commit(
    work: _Work,
    branch: str | None,
    parent: pygit2.Commit,
    tree: pygit2.Oid,
    author: CommitAuthor,
    message: str,
    signing: SigningKey | SSHSigningKey | None,
) -> str:
    repo = work.repo
    signature = author.signature()
    if signing is None:
        ref = f"refs/heads/{branch}" if branch else None
        oid = repo.create_commit(ref, signature, signature, message, tree, [parent.id])
        if ref is None:
            repo.set_head(oid)
        return str(oid)
    payload = repo.create_commit_string(signature, signature, message, tree, [parent.id])
    if isinstance(signing, SSHSigningKey):
        armored = sign_armored(signing.key, payload.encode("utf-8"))
    else:
        with _GPG(signing) as gpg:
            armored = gpg.sign(payload)
    oid = repo.create_commit_with_signature(payload, armored)
    if branch:
        repo.create_reference(f"refs/heads/{branch}", oid, force=True)
        repo.set_head(f"refs/heads/{branch}")
    else:
        repo.set_head(oid)
    return str(oid)


def _is_rejection(err: GitError) -> bool:
    text = err.message.lower()
    return any(
        s in text
        for s in (
            "rejected",
            "non-fast-forward",
            "non-fastforward",
            "not fast-forward",
            "fetch first",
            "cannot push because a reference that you are trying to update on the remote contains commits",
            "failed to update ref",
            "stale info",
        )
    )


def run_automation(
    url: str,
    *,
    credentials: GitCredentials | None,
    checkout: CheckoutRef,
    push: PushSpec,
    author: CommitAuthor,
    update: Callable[[Path], T],
    message: Callable[[T], str],
    signing_key: SigningKey | SSHSigningKey | None = None,
    timeout: float = 60.0,
    max_attempts: int = 5,
    retry_delay: float = 1.0,
    workdir: Path | None = None,
) -> AutomationOutcome[T]:
    """Run one automation against the repository at `url` (see the module docstring).

    `update(worktree)` applies the changes and returns a result that is falsy when it
    changed nothing; `message(result)` renders the commit message. Blocking (pygit2):
    call it from a worker thread.
    """
    url_transport(url)
    if credentials is not None:
        credentials.validate(url)
    own_dir = workdir is None
    directory = Path(tempfile.mkdtemp(prefix="afflux-automation-")) if own_dir else Path(workdir)
    try:
        work = _Work(url, credentials, timeout, directory)
        plan = _resolve(work, checkout, push)
        revision = (
            f"{plan.revision_name}@sha1:{plan.checkout_commit}"
            if plan.revision_name
            else f"sha1:{plan.checkout_commit}"
        )
        outcome: AutomationOutcome[T] = AutomationOutcome(revision, plan.push_branch)
        base = _base_for_push(work, plan)
        delay = retry_delay
        for attempt in range(1, max_attempts + 1):
            outcome.attempts = attempt
            if plan.push_branch:
                work.check_out(plan.push_branch, base)
            else:
                work.check_out_detached(base)
            result = update(directory)
            outcome.result = result
            parent = work.repo.get(base)
            assert isinstance(parent, pygit2.Commit)
            tree = _stage_all(work.repo)
            if not result or tree == parent.tree_id:
                outcome.commit = None
                return outcome
            text = message(result)
            sha = _commit(work, plan.push_branch, parent, tree, author, text, signing_key)
            outcome.message = text
            if not plan.push_branch:
                break
            try:
                spec = f"refs/heads/{plan.push_branch}:refs/heads/{plan.push_branch}"
                work.push([spec], push.options)
            except GitError as err:
                if attempt == max_attempts or not _is_rejection(err):
                    if attempt > 1:
                        raise GitError(
                            f"giving up after {attempt} attempts: {err.message}"
                        ) from err
                    raise
                time.sleep(delay)
                delay *= 2
                refs = work.refs()
                remote_sha = refs.get(f"refs/heads/{plan.push_branch}")
                if remote_sha is None:
                    base = plan.checkout_commit
                else:
                    work.fetch(
                        [f"+refs/heads/{plan.push_branch}:refs/remotes/origin/{plan.push_branch}"]
                    )
                    base = remote_sha
                continue
            outcome.commit = sha
            break
        if plan.refspec is not None and outcome.message is not None:
            src, dst = plan.refspec
            if src == "HEAD" or not plan.push_branch:
                work.repo.create_reference("refs/afflux/push", work.repo.head.target, force=True)
                src = "refs/afflux/push"
            elif not src.startswith("refs/"):
                src = f"refs/heads/{src}"
            work.push([f"{src}:{dst}"], push.options)
            outcome.refspecs.append(f"{plan.refspec[0]}:{dst}")
            outcome.commit = outcome.commit or str(work.repo.head.target)
        return outcome
    finally:
        if own_dir:
            shutil.rmtree(directory, ignore_errors=True)
