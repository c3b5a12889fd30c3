"""The Git client of source-controller (pygit2): resolve a ref remotely, check it out.

`GitRepository` `spec.ref` holds at most one of each of `commit`, `name`, `semver`,
`tag`, `branch`; the first set in that order wins (a `commit` may come with a `branch`,
which then names it in the revision); with none, the branch `master` is used.

Revisions come out in Flux's formats: `main@sha1:<hex>`, `v1.0.0@sha1:<hex>` (tags and
semver), `refs/pull/1/head@sha1:<hex>` (names), and `sha1:<hex>` for a bare commit.

- `remote_revision` answers "what would a checkout give?" from the ref listing alone
  (the ls-remote equivalent: one `info/refs` request over HTTP, no pack download), which
  lets a reconciler skip cloning when the revision it already has is still current.
  Annotated tags are peeled to their commit. A commit ref needs no request at all.
- `checkout` fetches just the wanted ref (shallow, depth 1, unless a commit must be
  found in history), writes its tree into `dest`, optionally only some directories
  (`sparse_dirs`), and initialises submodules recursively with the same credentials
  (`recurse_submodules`).

`resolve_ref` is the pure part: the revision a ref selects from a ref listing, and the
clear errors when it selects nothing (unknown branch or tag, no tag in a semver range).

Credentials, server verification, timeouts and the error types are in
`afflux.controllers.runtime._gitauth`: authentication problems raise `GitAuthError`
(reason `AuthenticationFailed`), everything else `GitError` (`GitOperationFailed`) or
`GitSpecError` (a ref the spec spells wrongly; Stalled, since retrying cannot help).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pygit2
from pygit2.enums import CheckoutStrategy, ObjectType

from afflux.api._meta import GIT_OPERATION_FAILED
from afflux.api._revision import format_git_revision
from afflux.api._semver import SemverError, latest_matching, parse_constraint
from afflux.controllers.runtime import (
    GitCallbacks,
    GitCredentials,
    GitError,
    StallingError,
    redact_url,
    translate_git_error,
    url_transport,
)

__all__ = [
    "DEFAULT_BRANCH",
    "CheckoutResult",
    "GitRef",
    "GitRefNotFoundError",
    "GitSpecError",
    "RemoteRevision",
    "checkout",
    "list_remote_refs",
    "remote_revision",
    "resolve_ref",
]

DEFAULT_BRANCH = "master"
DEFAULT_TIMEOUT = 60.0
_FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_PEELED = "^{}"
T = TypeVar("T")


class GitSpecError(StallingError):
    """The ref in the spec cannot be used as written (bad semver range, short commit)."""

    def __init__(self, message: str) -> None:
        super().__init__(GIT_OPERATION_FAILED, message)


class GitRefNotFoundError(GitError):
    """The remote has no branch, tag or reference the spec asks for (it may appear later)."""


# --- refs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitRef:
    """`spec.ref` of a GitRepository (or `git.checkout.ref` of an ImageUpdateAutomation)."""

    branch: str | None = None
    tag: str | None = None
    semver: str | None = None
    name: str | None = None
    commit: str | None = None

    @classmethod
    def from_spec(cls, ref: Mapping[str, Any] | None) -> GitRef:
        ref = ref or {}
        return cls(
            **{k: (ref.get(k) or None) for k in ("branch", "tag", "semver", "name", "commit")}
        )

    @property
    def kind(self) -> str:
        """The field that decides: `commit`, `name`, `semver`, `tag` or `branch`."""
        for kind in ("commit", "name", "semver", "tag"):
            if getattr(self, kind):
                return kind
        return "branch"

    @property
    def effective_branch(self) -> str:
        return self.branch or DEFAULT_BRANCH

    def describe(self) -> str:
        kind = self.kind
        if kind == "branch":
            return f"branch '{self.effective_branch}'"
        return f"{kind} '{getattr(self, kind)}'"


@dataclass(frozen=True)
class RemoteRevision:
    """What a ref selects on the remote."""

    revision: str  # Flux format, e.g. main@sha1:<hex>
    commit: str  # hex
    ref_name: str | None  # full ref fetched (refs/heads/main, refs/tags/v1), None for a commit
    display: str | None  # the part before `@` (branch, tag, name); None for a bare commit


@dataclass(frozen=True)
class CheckoutResult:
    """A finished checkout."""

    revision: str
    commit: str
    ref_name: str | None
    path: Path  # the work tree (dest)
    message: str  # the commit message
    tag_object: str | None = None  # hex id of the annotated tag object, for tag verification


def _peeled(refs: Mapping[str, str], name: str) -> str | None:
    return refs.get(name + _PEELED) or refs.get(name)


def _short_list(names: Sequence[str], limit: int = 10) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def resolve_ref(refs: Mapping[str, str], ref: GitRef) -> RemoteRevision:
    """The revision `ref` selects from a ref listing ({"refs/heads/main": "<hex>", ...},
    annotated tags also listed peeled as `refs/tags/<t>^{}`). Pure.

    Raises GitRefNotFoundError (naming what the remote has) or GitSpecError.
    """
    kind = ref.kind
    if kind == "commit":
        commit = (ref.commit or "").lower()
        if not _FULL_SHA.match(commit):
            raise GitSpecError(
                f"spec.ref.commit {ref.commit!r} is not a full commit SHA (40 hex characters)"
            )
        return RemoteRevision(
            revision=format_git_revision(ref.branch, commit),
            commit=commit,
            ref_name=f"refs/heads/{ref.branch}" if ref.branch else None,
            display=ref.branch,
        )
    if kind == "name":
        name = ref.name or ""
        if not name.startswith("refs/") and name != "HEAD":
            raise GitSpecError(
                f"spec.ref.name {name!r} is not a full reference name (e.g. refs/heads/main, "
                "refs/tags/v1.0.0, refs/pull/1/head)"
            )
        commit = _peeled(refs, name)
        if commit is None:
            raise GitRefNotFoundError(f"reference '{name}' not found on the remote")
        return RemoteRevision(format_git_revision(name, commit), commit, name, name)
    tags = sorted(
        n[len("refs/tags/") :]
        for n in refs
        if n.startswith("refs/tags/") and not n.endswith(_PEELED)
    )
    if kind == "semver":
        try:
            constraint = parse_constraint(ref.semver or "")
        except SemverError as err:
            raise GitSpecError(f"spec.ref.semver: {err}") from None
        tag = latest_matching(constraint, tags)
        if tag is None:
            raise GitRefNotFoundError(
                f"no tag matches the semver range '{ref.semver}' (tags on the remote: "
                f"{_short_list(tags)})"
            )
        commit = _peeled(refs, f"refs/tags/{tag}")
        assert commit is not None
        return RemoteRevision(format_git_revision(tag, commit), commit, f"refs/tags/{tag}", tag)
    if kind == "tag":
        tag = ref.tag or ""
        commit = _peeled(refs, f"refs/tags/{tag}")
        if commit is None:
            raise GitRefNotFoundError(
                f"tag '{tag}' not found on the remote (tags: {_short_list(tags)})"
            )
        return RemoteRevision(format_git_revision(tag, commit), commit, f"refs/tags/{tag}", tag)
    branch = ref.effective_branch
    commit = refs.get(f"refs/heads/{branch}")
    if commit is None:
        branches = sorted(n[len("refs/heads/") :] for n in refs if n.startswith("refs/heads/"))
        hint = (
            " (the default when spec.ref is empty)"
            if branch == DEFAULT_BRANCH and not ref.branch
            else ""
        )
        raise GitRefNotFoundError(
            f"branch '{branch}'{hint} not found on the remote (branches: {_short_list(branches)})"
        )
    return RemoteRevision(
        format_git_revision(branch, commit), commit, f"refs/heads/{branch}", branch
    )


# --- remote operations ----------------------------------------------------------------


def _run(
    url: str,
    credentials: GitCredentials | None,
    deadline: float,
    timeout: float,
    operation: Callable[[GitCallbacks], T],
) -> T:
    callbacks = GitCallbacks(credentials, url, timeout=timeout, deadline=deadline)
    try:
        return operation(callbacks)
    except (pygit2.GitError, OSError, ValueError) as err:
        raise translate_git_error(err, url, callbacks) from None
    except GitError:
        raise
    except Exception as err:  # an error raised inside a callback and re-raised by pygit2
        if callbacks.failure is not None:
            raise callbacks.failure from None
        raise translate_git_error(err, url, callbacks) from err


def _prepare(url: str, credentials: GitCredentials | None) -> None:
    url_transport(url)
    if credentials is not None:
        credentials.validate(url)


def list_remote_refs(
    url: str,
    credentials: GitCredentials | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    proxy: str | None = None,
) -> dict[str, str]:
    """The remote's references and their ids, as `git ls-remote` lists them."""
    _prepare(url, credentials)
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="afflux-ls-remote-") as tmp:
        repo = pygit2.init_repository(tmp, bare=True)
        return _list(repo, url, credentials, deadline, timeout, proxy)


def _list(
    repo: pygit2.Repository,
    url: str,
    credentials: GitCredentials | None,
    deadline: float,
    timeout: float,
    proxy: str | None,
) -> dict[str, str]:
    remote = repo.remotes.create_anonymous(url)

    def listing(callbacks: GitCallbacks) -> dict[str, str]:
        heads = remote.list_heads(callbacks=callbacks, proxy=proxy)
        return {head.name: str(head.oid) for head in heads}

    return _run(url, credentials, deadline, timeout, listing)


def remote_revision(
    url: str,
    ref: GitRef,
    credentials: GitCredentials | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    proxy: str | None = None,
) -> RemoteRevision:
    """The revision `ref` selects, found without cloning (a commit ref: without any request)."""
    if ref.kind == "commit":
        _prepare(url, credentials)
        return resolve_ref({}, ref)
    refs = list_remote_refs(url, credentials, timeout=timeout, proxy=proxy)
    return resolve_ref(refs, ref)


def _clean_sparse(dirs: Sequence[str]) -> list[str]:
    cleaned = []
    for d in dirs:
        parts = [p for p in d.strip().split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            raise GitSpecError(
                f"spec.sparseCheckout entry {d!r} is not a directory inside the repository"
            )
        cleaned.append("/".join(parts))
    return cleaned


def checkout(
    url: str,
    ref: GitRef,
    dest: str | os.PathLike[str],
    credentials: GitCredentials | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    depth: int = 1,
    sparse_dirs: Sequence[str] | None = None,
    recurse_submodules: bool = False,
    proxy: str | None = None,
    resolved: RemoteRevision | None = None,
) -> CheckoutResult:
    """Fetch what `ref` selects from `url` into the new or empty directory `dest`, and
    write its tree there (a repository with a detached HEAD at the commit).

    `resolved` is what `remote_revision` found for `ref` just before: given, the remote's
    refs are not listed again (the fetch itself still asks for them once).

    `depth` 1 fetches only the selected commit (0: full history); a commit ref is fetched
    with its branch's (or all branches') history, since servers need not serve a bare
    commit. Raises GitAuthError, GitRefNotFoundError, GitSpecError, GitTimeoutError or
    GitError; `dest` may then hold a partial repository, so check out into a fresh
    temporary directory.
    """
    _prepare(url, credentials)
    sparse = _clean_sparse(sparse_dirs) if sparse_dirs else []
    dest_path = Path(dest)
    if dest_path.exists() and any(dest_path.iterdir()):
        raise GitError(f"checkout destination {dest_path} is not empty")
    deadline = time.monotonic() + timeout
    repo = pygit2.init_repository(str(dest_path), bare=False)
    remote = repo.remotes.create("origin", url)

    if ref.kind == "commit":
        wanted = resolve_ref({}, ref)
        if ref.branch:
            specs = [f"+refs/heads/{ref.branch}:refs/remotes/origin/{ref.branch}"]
        else:
            specs = ["+refs/heads/*:refs/remotes/origin/*"]
        fetch_depth = 0
    else:
        if resolved is not None and resolved.ref_name is not None:
            wanted = resolved
        else:
            refs = _list(repo, url, credentials, deadline, timeout, proxy)
            wanted = resolve_ref(refs, ref)
        assert wanted.ref_name is not None
        specs = [f"+{wanted.ref_name}:{_local_ref(wanted.ref_name)}"]
        fetch_depth = depth

    def fetch(callbacks: GitCallbacks) -> None:
        remote.fetch(specs, callbacks=callbacks, proxy=proxy, depth=fetch_depth)

    _run(url, credentials, deadline, timeout, fetch)

    tag_object: str | None = None
    if ref.kind == "commit":
        obj = repo.get(wanted.commit)
        if obj is None or obj.type != ObjectType.COMMIT:
            where = f"branch '{ref.branch}'" if ref.branch else "any branch"
            raise GitRefNotFoundError(
                f"commit '{wanted.commit}' not found in {where} of the remote"
            )
        commit = obj.peel(pygit2.Commit)
        result_revision = wanted.revision
    else:
        assert wanted.ref_name is not None
        target = repo.references[_local_ref(wanted.ref_name)].target
        fetched = repo[target]
        if fetched.type == ObjectType.TAG:
            tag_object = str(fetched.id)
        commit = fetched.peel(pygit2.Commit)
        # The ref may have moved between listing and fetching: report what was fetched.
        result_revision = format_git_revision(wanted.display, str(commit.id))

    _write_tree(repo, commit, sparse, result_revision)
    if recurse_submodules:
        _update_submodules(repo, url, credentials, deadline, timeout, proxy)
    return CheckoutResult(
        revision=result_revision,
        commit=str(commit.id),
        ref_name=wanted.ref_name,
        path=dest_path,
        message=commit.message,
        tag_object=tag_object,
    )


def _local_ref(ref_name: str) -> str:
    if ref_name.startswith("refs/heads/"):
        return "refs/remotes/origin/" + ref_name[len("refs/heads/") :]
    if ref_name.startswith("refs/tags/"):
        return ref_name
    return "refs/afflux/" + ref_name.removeprefix("refs/")


def _write_tree(
    repo: pygit2.Repository, commit: pygit2.Commit, sparse: list[str], revision: str
) -> None:
    for directory in sparse:
        try:
            entry = commit.tree[directory]
        except KeyError:
            raise GitError(
                f"spec.sparseCheckout directory '{directory}' does not exist at {revision}"
            ) from None
        if entry.type != ObjectType.TREE:
            raise GitError(
                f"spec.sparseCheckout entry '{directory}' is not a directory at {revision}"
            )
    strategy = CheckoutStrategy.FORCE | CheckoutStrategy.RECREATE_MISSING
    if sparse:
        repo.checkout_tree(commit.tree, strategy=strategy, paths=[f"{d}/" for d in sparse])
    else:
        repo.checkout_tree(commit.tree, strategy=strategy)
    repo.set_head(commit.id)


def _update_submodules(
    repo: pygit2.Repository,
    url: str,
    credentials: GitCredentials | None,
    deadline: float,
    timeout: float,
    proxy: str | None,
) -> None:
    names = repo.listall_submodules()
    if not names:
        return
    for name in names:
        submodule = repo.submodules[name]
        sub_url = _absolute_submodule_url(url, submodule.url or url)

        def update(callbacks: GitCallbacks, path: str = name) -> None:
            repo.submodules.update(submodules=[path], init=True, callbacks=callbacks)

        _run(sub_url, credentials, deadline, timeout, update)
        _update_submodules(submodule.open(), sub_url, credentials, deadline, timeout, proxy)


def _absolute_submodule_url(parent: str, sub_url: str) -> str:
    if "://" in sub_url:
        return sub_url
    if sub_url.startswith(("./", "../")):
        base = parent.rstrip("/")
        for part in sub_url.split("/"):
            if part == "..":
                base = base.rsplit("/", 1)[0]
            elif part not in (".", ""):
                base = f"{base}/{part}"
        return base
    return redact_url(parent)
