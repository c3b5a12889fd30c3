"""A GitRepository's content at any ref, as the user's CLI sees it (for `preview` and `report`).

`afflux` runs with the user's kubeconfig, so it can do what source-controller does for the
GitRepository: read `spec.url` and the credentials of `spec.secretRef` (`username` +
`password`, `bearerToken`, `ca.crt`; `identity` + `known_hosts` for ssh://), fetch the
repository's branches and tags with libgit2 and resolve a ref there. Nothing else in the
spec or the Secret is followed: no file is read and no program run because they say so;
the Secret's values go to libgit2 (a private key and a CA through private temporary files
removed afterwards) and never to the output.

`fetch(url, auth, directory)` fetches every branch and tag into a bare repository;
`resolve(repo, ref)` turns a branch, tag or (full or abbreviated) commit SHA into the
commit and the revision source-controller would write for it (`<branch>@sha1:<sha>`,
`<tag>@sha1:<sha>`, `sha1:<sha>`); `checkout(repo, sha, directory)` writes that commit's
tree; `artifact_tree(tree, ignore, directory)` copies what source-controller would put in
the artifact (its own archive walk and ignore rules: `.git`, Flux's default exclusions or
the `.sourceignore` files, then `spec.ignore`; no symlinks); `commit_time(repo, sha)` is
the commit's committer time (for lead times).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import CheckoutStrategy

from afflux.controllers.runtime import (
    AuthKeys,
    SecretKeyError,
    auth_keys,
    decode_secret,
    secret_text,
)
from afflux.controllers.source._archive import ArchiveError, tree_matcher, walk_files

from ._context import Context
from ._errors import CLIError
from ._git import GitAuth, _Callbacks, _known_hosts, _scheme, explain, trust_ca
from ._kube import KubeError, ResourceType

__all__ = ["Resolved", "SourceAuth", "artifact_tree", "checkout", "commit_time", "fetch", "resolve",
           "source_auth"]

GITREPOSITORIES = ResourceType("source.toolkit.fluxcd.io", "v1", "GitRepository",
                               "gitrepositories")
_SECRETS = ResourceType("", "v1", "Secret", "secrets")


@dataclass(frozen=True)
class Resolved:
    """A ref resolved in a fetched repository."""

    sha: str
    revision: str


@dataclass(frozen=True)
class SourceAuth:
    """What fetching a GitRepository's URL needs: the URL, credentials, and a CA (PEM)."""

    url: str
    auth: GitAuth
    ca_pem: str = ""
    identity_pem: str = ""


def _read_keys(data: Mapping[str, Any]) -> tuple[AuthKeys, dict[str, str]]:
    """The Secret's credentials, and its `ca.crt`, `identity`, `known_hosts` as text."""
    try:
        decoded = decode_secret(data)
        return auth_keys(decoded), {k: secret_text(decoded, k) or ""
                                    for k in ("ca.crt", "identity", "known_hosts")}
    except SecretKeyError as err:
        raise CLIError(f"the GitRepository's Secret: {err}", "fix the Secret") from None


def source_auth(ctx: Context, repo: Mapping[str, Any]) -> SourceAuth:
    """The URL and credentials of the GitRepository body `repo` (module docstring)."""
    spec = repo.get("spec") or {}
    meta = repo.get("metadata") or {}
    url = str(spec.get("url") or "")
    if not url:
        raise CLIError(f"GitRepository {meta.get('namespace')}/{meta.get('name')} has no url")
    ref = (spec.get("secretRef") or {}).get("name")
    if not ref:
        return SourceAuth(url, GitAuth())
    try:
        secret = ctx.kube.get_or_none(_SECRETS, str(ref), meta.get("namespace"))
    except KubeError as err:
        raise CLIError(f"cannot read the GitRepository's Secret {meta.get('namespace')}/{ref}: "
                       f"{err.message}", "use --path with a local checkout instead, or ask "
                       "for read access to that Secret") from None
    if secret is None:
        raise CLIError(f"the GitRepository's Secret {meta.get('namespace')}/{ref} is not "
                       "there", "create it, or use --path with a local checkout")
    keys, texts = _read_keys(secret.get("data") or {})
    auth = GitAuth(username=keys.username, password=keys.password,
                   bearer_token=keys.bearer_token,
                   passphrase=(keys.password or "") if _scheme(url) == "ssh" else "",
                   known_hosts=texts["known_hosts"])
    return SourceAuth(url, auth, ca_pem=texts["ca.crt"], identity_pem=texts["identity"])


_CA_DIR: list[str] = []


def _trust(ca_pem: str) -> None:
    """Make libgit2 trust `ca_pem`: a setting of the whole process that names a file, so the
    file lives (in a private directory) until the process ends."""
    if not _CA_DIR:
        _CA_DIR.append(tempfile.mkdtemp(prefix="afflux-ca-"))
        atexit.register(shutil.rmtree, _CA_DIR[0], True)
    ca = Path(_CA_DIR[0]) / f"{hashlib.sha256(ca_pem.encode()).hexdigest()[:16]}.crt"
    if not ca.exists():
        ca.write_text(ca_pem)
    trust_ca(ca)


@contextlib.contextmanager
def _materialised(source: SourceAuth) -> Iterator[GitAuth]:
    """The GitAuth with the private key in a private file while in use, and its CA trusted
    (libgit2 trusts one CA file at a time: the last GitRepository's wins)."""
    with tempfile.TemporaryDirectory(prefix="afflux-gitauth-") as tmp:
        auth = source.auth
        if source.ca_pem:
            _trust(source.ca_pem)
        if source.identity_pem:
            key = Path(tmp) / "identity"
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(source.identity_pem)
            auth = GitAuth(username=auth.username, private_key_file=key,
                           passphrase=auth.passphrase, known_hosts=auth.known_hosts)
        yield auth


def fetch(source: SourceAuth, directory: Path) -> pygit2.Repository:
    """Every branch and tag of `source.url` in a new bare repository at `directory`."""
    repo = pygit2.init_repository(str(directory), bare=True)
    remote = repo.remotes.create("origin", source.url)
    with _materialised(source) as auth:
        cb = _Callbacks(source.url, auth)
        context = _known_hosts(auth.known_hosts) if _scheme(source.url) == "ssh" \
            else contextlib.nullcontext()
        try:
            with context:
                remote.fetch(["+refs/heads/*:refs/remotes/origin/*",
                              "+refs/tags/*:refs/tags/*"], callbacks=cb)
        except (pygit2.GitError, CLIError, OSError, ValueError, KeyError) as err:
            raise explain(source.url, err, cb, "fetching") from None
    return repo


def _peel(obj: Any) -> str:
    return str(obj.peel(pygit2.Commit).id)


def resolve(repo: pygit2.Repository, ref: str) -> Resolved:
    """The commit and revision of `ref` (a branch, a tag, or a commit SHA, in that order)."""
    name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    branch = repo.references.get(f"refs/remotes/origin/{name}")
    if branch is not None and not ref.startswith("refs/tags/"):
        sha = _peel(branch)
        return Resolved(sha, f"{name}@sha1:{sha}")
    tag = repo.references.get(f"refs/tags/{name}")
    if tag is not None:
        sha = _peel(tag)
        return Resolved(sha, f"{name}@sha1:{sha}")
    if all(c in "0123456789abcdef" for c in ref.lower()) and len(ref) >= 4:
        try:
            sha = _peel(repo.revparse_single(ref.lower()))
        except (KeyError, ValueError, pygit2.GitError):
            pass
        else:
            return Resolved(sha, f"sha1:{sha}")
    raise CLIError(f"{ref!r} is no branch, tag or commit of the repository",
                   "push the branch first, or check the name (`git ls-remote` lists them)")


def checkout(repo: pygit2.Repository, sha: str, directory: Path) -> None:
    """The tree of commit `sha`, written to `directory` (created)."""
    commit = repo.get(sha)
    assert isinstance(commit, pygit2.Commit)
    directory.mkdir(parents=True, exist_ok=True)
    repo.checkout_tree(commit.tree, directory=str(directory), strategy=CheckoutStrategy.FORCE)


def artifact_tree(tree: Path, ignore: str | None, directory: Path) -> None:
    """The files of `tree` source-controller would archive (module docstring), copied to
    `directory`."""
    try:
        for entry in walk_files(tree, tree_matcher(tree, ignore)):
            target = directory / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(entry.fd, "rb", closefd=False) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            if entry.executable:
                target.chmod(0o755)
    except (ArchiveError, OSError) as err:
        raise CLIError(f"cannot read the source tree: {err}") from None


def commit_time(repo: pygit2.Repository, sha: str) -> datetime | None:
    """The committer time of `sha` (a full or abbreviated SHA), None if it is not there."""
    try:
        commit = repo.revparse_single(sha).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return datetime.fromtimestamp(commit.commit_time, tz=UTC)
