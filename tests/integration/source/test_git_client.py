"""The source-controller Git client against real servers: git http-backend over HTTP and
HTTPS (basic auth, bearer token, the test CA) and sshd + git-shell (key + known_hosts).

Also signature verification with the real gpg: signed commits and tags verify with the
signer's key and fail with another.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode, ObjectType

from afflux.cli.devenv import GitHTTPServer, GitSSHServer, TestCA, free_port, generate_ssh_key
from afflux.controllers.runtime._gitauth import (
    GitAuthError,
    GitCredentials,
    GitError,
    GitHostVerificationError,
    GitTimeoutError,
)
from afflux.controllers.source._git import (
    GitRef,
    GitRefNotFoundError,
    checkout,
    list_remote_refs,
    remote_revision,
)
from afflux.controllers.source._verify import (
    SignatureError,
    VerificationModeError,
    verify_revision,
)
from harness.fixtures_servers import GitAuth
from harness.gpg import Signer

pytestmark = pytest.mark.integration

AUTHOR = pygit2.Signature("afflux tests", "tests@afflux.invalid", 1_700_000_000, 0)


# --- building repositories ------------------------------------------------------------


def commit(
    repo: pygit2.Repository,
    files: Mapping[str, str | None],
    parent: pygit2.Oid | None,
    message: str,
    signer: Signer | None = None,
    key: str | None = None,
) -> pygit2.Oid:
    """A commit of `files` on top of `parent` (None deletes a path); not on any ref."""
    index = pygit2.Index()
    parents = []
    if parent is not None:
        index.read_tree(repo[parent].peel(pygit2.Commit).tree)
        parents.append(parent)
    for path, content in files.items():
        if content is None:
            index.remove(path)
        else:
            index.add(pygit2.IndexEntry(path, repo.create_blob(content.encode()), FileMode.BLOB))
    tree = index.write_tree(repo)
    if signer is None:
        return repo.create_commit(None, AUTHOR, AUTHOR, message, tree, parents)
    text = repo.create_commit_string(AUTHOR, AUTHOR, message, tree, parents)
    signature = signer.sign(key or "", text.encode()).decode()
    return repo.create_commit_with_signature(text, signature)


def annotated_tag(
    repo: pygit2.Repository,
    name: str,
    target: pygit2.Oid,
    signer: Signer | None = None,
    key: str | None = None,
) -> pygit2.Oid:
    body = (
        f"object {target}\ntype commit\ntag {name}\n"
        f"tagger {AUTHOR.name} <{AUTHOR.email}> {AUTHOR.time} +0000\n\nrelease {name}\n"
    ).encode()
    if signer is not None:
        body += signer.sign(key or "", body)
    oid = repo.odb.write(ObjectType.TAG, body)
    repo.references.create(f"refs/tags/{name}", oid)
    return oid


def push_all(repo: pygit2.Repository, url: str, auth: GitAuth) -> None:
    specs = [f"+{r}:{r}" for r in repo.references if r.startswith("refs/")]
    with auth.session() as callbacks:
        remote = repo.remotes.create_anonymous(url)
        remote.push(specs, callbacks=callbacks)


@dataclass
class Seeded:
    name: str
    url: str
    c1: str  # main~1, tagged v1.0.0 (annotated) and v0.9.0 (annotated)
    c2: str  # main, tagged v1.1.0 (lightweight)
    c3: str  # dev, tagged v2.0.0-rc.1, refs/pull/1/head
    v1_tag: str  # the v1.0.0 tag object


def seed(tmp: Path, url: str, auth: GitAuth, name: str) -> Seeded:
    repo = pygit2.init_repository(str(tmp / name.replace("/", "-")), bare=True)
    c1 = commit(
        repo,
        {"apps/a.yaml": "a: 1\n", "infra/x.yaml": "x: 1\n", "README.md": "hello\n"},
        None,
        "first",
    )
    c2 = commit(repo, {"apps/a.yaml": "a: 2\n"}, c1, "second")
    c3 = commit(repo, {"dev.yaml": "dev: true\n"}, c2, "on dev")
    repo.references.create("refs/heads/main", c2)
    repo.references.create("refs/heads/dev", c3)
    v1 = annotated_tag(repo, "v1.0.0", c1)
    annotated_tag(repo, "v0.9.0", c1)
    repo.references.create("refs/tags/v1.1.0", c2)
    repo.references.create("refs/tags/v2.0.0-rc.1", c3)
    repo.references.create("refs/tags/not-a-version", c3)
    repo.references.create("refs/pull/1/head", c3)
    push_all(repo, url, auth)
    return Seeded(name, url, str(c1), str(c2), str(c3), str(v1))


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_repo(git_server: GitHTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    name = "client/basic"
    git_server.create_repo(name)
    return seed(
        tmp_path_factory.mktemp("seed"), git_server.url(name), GitAuth.for_server(git_server), name
    )


@pytest.fixture(scope="module")
def basic(git_server: GitHTTPServer) -> GitCredentials:
    return GitCredentials.from_secret(
        {"username": git_server.username, "password": git_server.password}
    )


@pytest.fixture(scope="module")
def ssh_repo(ssh_git_server: GitSSHServer, tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    name = "client/over-ssh"
    ssh_git_server.create_repo(name)
    return seed(
        tmp_path_factory.mktemp("seed-ssh"),
        ssh_git_server.url(name),
        GitAuth.for_server(ssh_git_server),
        name,
    )


@pytest.fixture(scope="module")
def ssh_creds(ssh_git_server: GitSSHServer) -> GitCredentials:
    return GitCredentials.from_secret(
        {
            "identity": Path(ssh_git_server.client_key).read_bytes(),
            "known_hosts": ssh_git_server.known_hosts,
        }
    )


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signer]:
    s = Signer(tmp_path_factory.mktemp("gpg") / "home")
    s.new_key("alice")
    s.new_key("mallory")
    yield s
    s.close()


# --- ref kinds ------------------------------------------------------------------------

# (id, ref fields, expected display, attribute of Seeded holding the commit)
KINDS = [
    ("branch", {"branch": "main"}, "main", "c2"),
    ("other-branch", {"branch": "dev"}, "dev", "c3"),
    ("annotated-tag", {"tag": "v1.0.0"}, "v1.0.0", "c1"),
    ("lightweight-tag", {"tag": "v1.1.0"}, "v1.1.0", "c2"),
    ("semver", {"semver": ">=1.0.0 <2.0.0"}, "v1.1.0", "c2"),
    ("semver-prerelease", {"semver": ">=2.0.0-0"}, "v2.0.0-rc.1", "c3"),
    ("semver-annotated", {"semver": "~1.0"}, "v1.0.0", "c1"),
    ("name-pull-request", {"name": "refs/pull/1/head"}, "refs/pull/1/head", "c3"),
    ("name-annotated-tag", {"name": "refs/tags/v1.0.0"}, "refs/tags/v1.0.0", "c1"),
]
RESOLVING = KINDS


def expected_revision(seeded: Seeded, display: str | None, attr: str) -> str:
    sha = getattr(seeded, attr)
    return f"{display}@sha1:{sha}" if display else f"sha1:{sha}"


@pytest.mark.parametrize(
    ("fields", "display", "attr"), [k[1:] for k in RESOLVING], ids=[k[0] for k in RESOLVING]
)
def test_remote_revision_lists_refs_only(
    git_server: GitHTTPServer,
    http_repo: Seeded,
    basic: GitCredentials,
    fields: dict[str, str],
    display: str,
    attr: str,
) -> None:
    git_server.clear_requests()
    got = remote_revision(http_repo.url, GitRef.from_spec(fields), basic)
    assert got.revision == expected_revision(http_repo, display, attr)
    requests = git_server.requests(http_repo.name)
    assert requests, "the ref listing must reach the server"
    assert git_server.fetches(http_repo.name) == 0
    assert all(r.method == "GET" and r.path == "/info/refs" for r in requests), requests


def test_remote_revision_of_a_commit_needs_no_request(
    git_server: GitHTTPServer, http_repo: Seeded, basic: GitCredentials
) -> None:
    git_server.clear_requests()
    got = remote_revision(http_repo.url, GitRef(commit=http_repo.c1, branch="main"), basic)
    assert got.revision == f"main@sha1:{http_repo.c1}"
    assert git_server.requests(http_repo.name) == []


def test_checkout_given_the_resolved_revision_lists_the_refs_once_less(
    tmp_path: Path, git_server: GitHTTPServer, http_repo: Seeded, basic: GitCredentials
) -> None:
    def ref_listings() -> int:
        return sum(1 for r in git_server.requests(http_repo.name)
                   if r.method == "GET" and r.path == "/info/refs")

    ref = GitRef(branch="main")
    git_server.clear_requests()
    remote = remote_revision(http_repo.url, ref, basic)
    one_listing = ref_listings()
    git_server.clear_requests()
    checkout(http_repo.url, ref, tmp_path / "alone", basic)
    alone = ref_listings()
    git_server.clear_requests()
    result = checkout(http_repo.url, ref, tmp_path / "given", basic, resolved=remote)
    assert result.revision == remote.revision
    assert (tmp_path / "given" / "apps" / "a.yaml").exists()
    assert one_listing >= 1 and ref_listings() == alone - one_listing


@pytest.mark.parametrize(
    ("fields", "display", "attr"), [k[1:] for k in RESOLVING], ids=[k[0] for k in RESOLVING]
)
def test_checkout_every_ref_kind(
    tmp_path: Path,
    git_server: GitHTTPServer,
    http_repo: Seeded,
    basic: GitCredentials,
    fields: dict[str, str],
    display: str,
    attr: str,
) -> None:
    git_server.clear_requests()
    result = checkout(http_repo.url, GitRef.from_spec(fields), tmp_path / "wt", basic)
    assert result.revision == expected_revision(http_repo, display, attr)
    assert result.commit == getattr(http_repo, attr)
    expected_a = "a: 1\n" if attr == "c1" else "a: 2\n"
    assert (tmp_path / "wt" / "apps" / "a.yaml").read_text() == expected_a
    assert (tmp_path / "wt" / "dev.yaml").exists() is (attr == "c3")
    repo = pygit2.Repository(str(tmp_path / "wt"))
    assert repo.is_shallow
    assert str(repo.head.target) == result.commit
    assert git_server.fetches(http_repo.name) >= 1  # a shallow fetch over HTTP may take 2
    annotated = (
        fields.get("tag") == "v1.0.0"
        or fields.get("name") == "refs/tags/v1.0.0"
        or fields.get("semver") == "~1.0"
    )
    assert (result.tag_object == http_repo.v1_tag) is annotated


def test_checkout_commit_with_and_without_branch(
    tmp_path: Path, http_repo: Seeded, basic: GitCredentials
) -> None:
    with_branch = checkout(
        http_repo.url, GitRef(commit=http_repo.c1, branch="main"), tmp_path / "a", basic
    )
    assert with_branch.revision == f"main@sha1:{http_repo.c1}"
    assert (tmp_path / "a" / "apps" / "a.yaml").read_text() == "a: 1\n"
    alone = checkout(http_repo.url, GitRef(commit=http_repo.c3), tmp_path / "b", basic)
    assert alone.revision == f"sha1:{http_repo.c3}"
    assert (tmp_path / "b" / "dev.yaml").exists()


def test_commit_not_on_branch(tmp_path: Path, http_repo: Seeded, basic: GitCredentials) -> None:
    with pytest.raises(
        GitRefNotFoundError, match=f"commit '{http_repo.c3}' not found in branch 'main'"
    ):
        checkout(http_repo.url, GitRef(commit=http_repo.c3, branch="main"), tmp_path / "wt", basic)


def test_sparse_checkout(tmp_path: Path, http_repo: Seeded, basic: GitCredentials) -> None:
    checkout(http_repo.url, GitRef(branch="main"), tmp_path / "wt", basic, sparse_dirs=["./apps/"])
    present = {
        p.relative_to(tmp_path / "wt").as_posix()
        for p in (tmp_path / "wt").rglob("*")
        if ".git" not in p.parts
    }
    assert present == {"apps", "apps/a.yaml"}
    with pytest.raises(GitError, match="sparseCheckout directory 'nope' does not exist"):
        checkout(
            http_repo.url, GitRef(branch="main"), tmp_path / "wt2", basic, sparse_dirs=["nope"]
        )


def test_list_remote_refs_peels_annotated_tags(http_repo: Seeded, basic: GitCredentials) -> None:
    refs = list_remote_refs(http_repo.url, basic)
    assert refs["refs/tags/v1.0.0"] == http_repo.v1_tag
    assert refs["refs/tags/v1.0.0^{}"] == http_repo.c1


# --- missing refs ---------------------------------------------------------------------

MISSING = [
    ("default-master", {}, "branch 'master' (the default when spec.ref is empty) not found"),
    (
        "unknown-branch",
        {"branch": "release"},
        "branch 'release' not found on the remote (branches: dev, main)",
    ),
    ("unknown-tag", {"tag": "v9.9.9"}, "tag 'v9.9.9' not found"),
    ("semver-no-match", {"semver": ">=3.0.0"}, "no tag matches the semver range '>=3.0.0'"),
    ("unknown-name", {"name": "refs/pull/2/head"}, "reference 'refs/pull/2/head' not found"),
]


@pytest.mark.parametrize(
    ("fields", "fragment"), [m[1:] for m in MISSING], ids=[m[0] for m in MISSING]
)
def test_missing_refs(
    tmp_path: Path, http_repo: Seeded, basic: GitCredentials, fields: dict[str, str], fragment: str
) -> None:
    with pytest.raises(GitRefNotFoundError) as info:
        remote_revision(http_repo.url, GitRef.from_spec(fields), basic)
    assert fragment in str(info.value)
    assert info.value.reason == "GitOperationFailed"
    with pytest.raises(GitRefNotFoundError):
        checkout(http_repo.url, GitRef.from_spec(fields), tmp_path / "wt", basic)


# --- HTTP(S) authentication -----------------------------------------------------------


def test_https_with_the_ca_in_the_secret(
    tmp_path: Path, git_server: GitHTTPServer, test_ca: TestCA, http_repo: Seeded
) -> None:
    creds = GitCredentials.from_secret(
        {
            "username": git_server.username,
            "password": git_server.password,
            "ca.crt": Path(test_ca.ca_cert).read_bytes(),
        }
    )
    url = git_server.url(http_repo.name, "https")
    assert remote_revision(url, GitRef(branch="main"), creds).commit == http_repo.c2
    result = checkout(url, GitRef(tag="v1.0.0"), tmp_path / "wt", creds)
    assert result.revision == f"v1.0.0@sha1:{http_repo.c1}"


def test_https_with_another_ca_is_refused(
    tmp_path: Path, git_server: GitHTTPServer, http_repo: Seeded
) -> None:
    other = TestCA(tmp_path / "other-ca").start()
    creds = GitCredentials.from_secret(
        {
            "username": git_server.username,
            "password": git_server.password,
            "ca.crt": Path(other.ca_cert).read_bytes(),
        }
    )
    with pytest.raises(GitHostVerificationError) as info:
        remote_revision(git_server.url(http_repo.name, "https"), GitRef(branch="main"), creds)
    assert f"TLS certificate of {git_server.host}:{git_server.https_port} is not trusted" in str(
        info.value
    )
    assert info.value.reason == "AuthenticationFailed"


def test_bearer_token(git_server: GitHTTPServer, http_repo: Seeded) -> None:
    creds = GitCredentials.from_secret({"bearerToken": git_server.bearer_token})
    assert remote_revision(http_repo.url, GitRef(branch="dev"), creds).commit == http_repo.c3


def test_wrong_bearer_token(git_server: GitHTTPServer, http_repo: Seeded) -> None:
    creds = GitCredentials.from_secret({"bearerToken": "not-the-token"})
    with pytest.raises(GitAuthError, match="rejected the bearer token"):
        remote_revision(http_repo.url, GitRef(branch="dev"), creds)


def test_wrong_password(tmp_path: Path, git_server: GitHTTPServer, http_repo: Seeded) -> None:
    creds = GitCredentials.from_secret({"username": git_server.username, "password": "wrong"})
    with pytest.raises(GitAuthError) as info:
        remote_revision(http_repo.url, GitRef(branch="main"), creds)
    assert info.value.reason == "AuthenticationFailed"
    assert f"rejected the credentials of user '{git_server.username}'" in str(info.value)
    assert "wrong" not in str(info.value)
    with pytest.raises(GitAuthError):
        checkout(http_repo.url, GitRef(branch="main"), tmp_path / "wt", creds)


def test_no_credentials(http_repo: Seeded) -> None:
    with pytest.raises(GitAuthError, match="requires authentication: set a secretRef"):
        remote_revision(http_repo.url, GitRef(branch="main"), None)


def test_unreachable_host() -> None:
    url = f"http://127.0.0.1:{free_port()}/nothing.git"
    with pytest.raises(GitError) as info:
        remote_revision(url, GitRef(branch="main"), None)
    assert "cannot reach" in str(info.value)
    assert info.value.reason == "GitOperationFailed"


def test_repository_not_found(git_server: GitHTTPServer, basic: GitCredentials) -> None:
    with pytest.raises(GitError, match="not found"):
        remote_revision(git_server.url("client/does-not-exist"), GitRef(branch="main"), basic)


def test_timeout(http_repo: Seeded, basic: GitCredentials) -> None:
    with pytest.raises(GitTimeoutError, match="timed out"):
        remote_revision(http_repo.url, GitRef(branch="main"), basic, timeout=1e-9)


# --- SSH ------------------------------------------------------------------------------


def test_ssh_remote_revision_and_checkout(
    tmp_path: Path, ssh_git_server: GitSSHServer, ssh_repo: Seeded, ssh_creds: GitCredentials
) -> None:
    ssh_git_server.clear_requests()
    got = remote_revision(ssh_repo.url, GitRef(semver="1.x"), ssh_creds)
    assert got.revision == f"v1.1.0@sha1:{ssh_repo.c2}"
    result = checkout(ssh_repo.url, GitRef(branch="dev"), tmp_path / "wt", ssh_creds)
    assert result.revision == f"dev@sha1:{ssh_repo.c3}"
    assert (tmp_path / "wt" / "dev.yaml").read_text() == "dev: true\n"


def test_ssh_annotated_tag(ssh_repo: Seeded, ssh_creds: GitCredentials) -> None:
    assert remote_revision(ssh_repo.url, GitRef(tag="v1.0.0"), ssh_creds).commit == ssh_repo.c1


def test_ssh_url_without_user_uses_git(
    ssh_git_server: GitSSHServer, ssh_repo: Seeded, ssh_creds: GitCredentials
) -> None:
    # The test server admits only its own user, so the `git` default is refused.
    assert ssh_git_server.user != "git"
    url = ssh_repo.url.replace(f"{ssh_git_server.user}@", "")
    with pytest.raises(GitAuthError, match="for user 'git'"):
        remote_revision(url, GitRef(branch="main"), ssh_creds)


def test_ssh_unknown_host_key_is_refused(
    tmp_path: Path, ssh_git_server: GitSSHServer, ssh_repo: Seeded, ssh_creds: GitCredentials
) -> None:
    _, other_pub = generate_ssh_key(tmp_path / "not-the-host-key")
    host_field = ssh_git_server.known_hosts.split()[0]
    wrong = f"{host_field} {' '.join(other_pub.split()[:2])}"
    creds = GitCredentials.from_secret(
        {"identity": ssh_creds.identity or b"", "known_hosts": wrong}
    )
    with pytest.raises(GitHostVerificationError) as info:
        remote_revision(ssh_repo.url, GitRef(branch="main"), creds)
    assert f"host key mismatch for {host_field}" in str(info.value)
    assert info.value.reason == "AuthenticationFailed"

    elsewhere = f"[127.0.0.1]:1 {' '.join(ssh_git_server.known_hosts.split()[1:3])}"
    creds = GitCredentials.from_secret(
        {"identity": ssh_creds.identity or b"", "known_hosts": elsewhere}
    )
    with pytest.raises(GitHostVerificationError, match=r"is not in known_hosts.*ssh-keyscan"):
        remote_revision(ssh_repo.url, GitRef(branch="main"), creds)


def test_ssh_key_not_authorised(
    tmp_path: Path, ssh_git_server: GitSSHServer, ssh_repo: Seeded
) -> None:
    key, _ = generate_ssh_key(tmp_path / "stranger")
    creds = GitCredentials.from_secret(
        {"identity": Path(key).read_bytes(), "known_hosts": ssh_git_server.known_hosts}
    )
    with pytest.raises(GitAuthError) as info:
        remote_revision(ssh_repo.url, GitRef(branch="main"), creds)
    assert "rejected the key in 'identity'" in str(info.value)


def test_ssh_encrypted_identity(
    tmp_path: Path, ssh_git_server: GitSSHServer, ssh_repo: Seeded
) -> None:
    key = tmp_path / "encrypted"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-C", "enc", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    ssh_git_server.add_authorized_key((tmp_path / "encrypted.pub").read_text(), label="encrypted")
    secret = {"identity": key.read_bytes(), "known_hosts": ssh_git_server.known_hosts}
    good = GitCredentials.from_secret({**secret, "password": "pass phrase"})
    assert remote_revision(ssh_repo.url, GitRef(branch="main"), good).commit == ssh_repo.c2
    bad = GitCredentials.from_secret({**secret, "password": "not it"})
    with pytest.raises(GitAuthError, match="passphrase in 'password'"):
        remote_revision(ssh_repo.url, GitRef(branch="main"), bad)


# --- submodules -----------------------------------------------------------------------


def test_recurse_submodules(
    tmp_path: Path, git_server: GitHTTPServer, basic: GitCredentials
) -> None:
    auth = GitAuth.for_server(git_server)
    git_server.create_repo("client/sub")
    sub = pygit2.init_repository(str(tmp_path / "sub"), bare=True)
    sub_commit = commit(sub, {"lib/values.yaml": "sub: true\n"}, None, "sub")
    sub.references.create("refs/heads/main", sub_commit)
    push_all(sub, git_server.url("client/sub"), auth)

    git_server.create_repo("client/super")
    sup = pygit2.init_repository(str(tmp_path / "super"), bare=True)
    index = pygit2.Index()
    gitmodules = (
        f'[submodule "vendor/sub"]\n\tpath = vendor/sub\n\turl = {git_server.url("client/sub")}\n'
    )
    index.add(pygit2.IndexEntry(".gitmodules", sup.create_blob(gitmodules.encode()), FileMode.BLOB))
    index.add(pygit2.IndexEntry("main.yaml", sup.create_blob(b"main: true\n"), FileMode.BLOB))
    index.add(pygit2.IndexEntry("vendor/sub", sub_commit, FileMode.COMMIT))
    tree = index.write_tree(sup)
    top = sup.create_commit("refs/heads/main", AUTHOR, AUTHOR, "with submodule", tree, [])
    push_all(sup, git_server.url("client/super"), auth)

    plain = checkout(
        git_server.url("client/super"), GitRef(branch="main"), tmp_path / "plain", basic
    )
    assert plain.commit == str(top)
    assert not (tmp_path / "plain" / "vendor" / "sub" / "lib" / "values.yaml").exists()
    checkout(
        git_server.url("client/super"),
        GitRef(branch="main"),
        tmp_path / "deep",
        basic,
        recurse_submodules=True,
    )
    assert (
        tmp_path / "deep" / "vendor" / "sub" / "lib" / "values.yaml"
    ).read_text() == "sub: true\n"


# --- signatures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_repo(
    git_server: GitHTTPServer, signer: Signer, tmp_path_factory: pytest.TempPathFactory
) -> Seeded:
    name = "client/signed"
    git_server.create_repo(name)
    repo = pygit2.init_repository(str(tmp_path_factory.mktemp("signed") / "r"), bare=True)
    unsigned = commit(repo, {"a.yaml": "a: 1\n"}, None, "unsigned")
    signed = commit(repo, {"a.yaml": "a: 2\n"}, unsigned, "signed", signer, "alice")
    by_mallory = commit(repo, {"a.yaml": "a: 3\n"}, signed, "by mallory", signer, "mallory")
    repo.references.create("refs/heads/main", signed)
    repo.references.create("refs/heads/unsigned", unsigned)
    repo.references.create("refs/heads/mallory", by_mallory)
    tag = annotated_tag(repo, "v1.0.0", signed, signer, "alice")
    annotated_tag(repo, "v0.1.0", unsigned)
    push_all(repo, git_server.url(name), GitAuth.for_server(git_server))
    return Seeded(name, git_server.url(name), str(unsigned), str(signed), str(by_mallory), str(tag))


def keys_of(signer: Signer, *names: str) -> dict[str, bytes]:
    return {f"{n}.asc": signer.public(n) for n in names}


def test_signed_commit_verifies_with_the_right_key(
    tmp_path: Path, signed_repo: Seeded, basic: GitCredentials, signer: Signer
) -> None:
    result = checkout(signed_repo.url, GitRef(branch="main"), tmp_path / "wt", basic)
    message = verify_revision(
        tmp_path / "wt", commit=result.commit, mode="HEAD", keys=keys_of(signer, "alice")
    )
    key_id = signer.keys["alice"][-16:]
    assert message == f"verified signature of\n\t- commit '{signed_repo.c2}' with key '{key_id}'"
    # the legacy lower-case mode and a keyring holding other keys too
    verify_revision(
        tmp_path / "wt", commit=result.commit, mode="head", keys=keys_of(signer, "mallory", "alice")
    )


def test_signed_commit_fails_with_another_key(
    tmp_path: Path, signed_repo: Seeded, basic: GitCredentials, signer: Signer
) -> None:
    result = checkout(signed_repo.url, GitRef(branch="main"), tmp_path / "wt", basic)
    with pytest.raises(SignatureError) as info:
        verify_revision(
            tmp_path / "wt", commit=result.commit, mode="HEAD", keys=keys_of(signer, "mallory")
        )
    assert info.value.reason == "InvalidCommitSignature"
    assert "not in the verification secret" in str(info.value)


def test_commit_signed_by_an_untrusted_key_fails(
    tmp_path: Path, signed_repo: Seeded, basic: GitCredentials, signer: Signer
) -> None:
    result = checkout(signed_repo.url, GitRef(branch="mallory"), tmp_path / "wt", basic)
    with pytest.raises(
        SignatureError, match="InvalidCommitSignature|not in the verification secret"
    ):
        verify_revision(
            tmp_path / "wt", commit=result.commit, mode="HEAD", keys=keys_of(signer, "alice")
        )


def test_unsigned_commit_fails(
    tmp_path: Path, signed_repo: Seeded, basic: GitCredentials, signer: Signer
) -> None:
    result = checkout(signed_repo.url, GitRef(branch="unsigned"), tmp_path / "wt", basic)
    with pytest.raises(SignatureError, match="the commit is not signed"):
        verify_revision(
            tmp_path / "wt", commit=result.commit, mode="HEAD", keys=keys_of(signer, "alice")
        )


def test_signed_tag_and_head(
    tmp_path: Path, signed_repo: Seeded, basic: GitCredentials, signer: Signer
) -> None:
    result = checkout(signed_repo.url, GitRef(tag="v1.0.0"), tmp_path / "wt", basic)
    assert result.tag_object == signed_repo.v1_tag
    key_id = signer.keys["alice"][-16:]
    message = verify_revision(
        tmp_path / "wt",
        commit=result.commit,
        mode="TagAndHEAD",
        keys=keys_of(signer, "alice"),
        tag_object=result.tag_object,
        tag_label=f"v1.0.0@{result.tag_object}",
    )
    assert message == (
        "verified signature of\n"
        f"\t- tag 'v1.0.0@{signed_repo.v1_tag}' with key '{key_id}'\n"
        f"\t- commit '{signed_repo.c2}' with key '{key_id}'"
    )
    with pytest.raises(SignatureError) as info:
        verify_revision(
            tmp_path / "wt",
            commit=result.commit,
            mode="Tag",
            keys=keys_of(signer, "mallory"),
            tag_object=result.tag_object,
        )
    assert info.value.reason == "InvalidTagSignature"


def test_unsigned_tag_and_tag_mode_without_tag(
    tmp_path: Path, signed_repo: Seeded, basic: GitCredentials, signer: Signer
) -> None:
    result = checkout(signed_repo.url, GitRef(tag="v0.1.0"), tmp_path / "wt", basic)
    with pytest.raises(SignatureError) as info:
        verify_revision(
            tmp_path / "wt",
            commit=result.commit,
            mode="Tag",
            keys=keys_of(signer, "alice"),
            tag_object=result.tag_object,
        )
    assert info.value.reason == "InvalidGitObject"
    branch = checkout(signed_repo.url, GitRef(branch="main"), tmp_path / "wt2", basic)
    with pytest.raises(VerificationModeError, match="tag reference is not specified"):
        verify_revision(
            tmp_path / "wt2", commit=branch.commit, mode="Tag", keys=keys_of(signer, "alice")
        )


def test_secret_without_keys(tmp_path: Path, signed_repo: Seeded, basic: GitCredentials) -> None:
    result = checkout(signed_repo.url, GitRef(branch="main"), tmp_path / "wt", basic)
    with pytest.raises(SignatureError) as info:
        verify_revision(
            tmp_path / "wt", commit=result.commit, mode="HEAD", keys={"a.asc": b"not a key"}
        )
    assert info.value.reason == "VerificationError"
