"""GitRepository end to end: source-controller as its own process, the real cluster, the
real Git servers (HTTP, HTTPS, SSH).

Covers every ref kind, every kind of credentials, what goes into an artifact (ignore
rules, defaults, symlinks, sparse checkout), the artifact's digest against the served
bytes, skipping the clone when nothing changed, new commits, garbage collection, includes
(and their changes), signature verification with a real gpg key, bad input of every kind
(each keeping the last good artifact), suspend, deletion, and the schema's URL check.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pygit2
import pytest
from kubernetes.client.rest import ApiException
from pygit2.enums import FileMode, ObjectType
from source_env import SourceEnv, start_source_env, tar_members

from afflux.cli.devenv import GitHTTPServer, GitSSHServer, free_port
from harness.fixtures_cluster import Cluster
from harness.fixtures_servers import GitAuth
from harness.gpg import Signer
from harness.proxy import TunnelProxy
from harness.silent import SilentServer
from harness.wait import eventually

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "source.toolkit.fluxcd.io", "v1", "gitrepositories"
AUTHOR = pygit2.Signature("afflux tests", "tests@afflux.invalid", 1_700_000_000, 0)
TIMEOUT = 60.0


# --- building repositories ------------------------------------------------------------


Files = Mapping[str, "str | bytes | tuple[str, str] | None"]  # ("link", target) = symlink


class Repo:
    """A local bare repository we build commits in and push to a test server."""

    def __init__(self, path: Path, url: str, auth: GitAuth) -> None:
        self.repo = pygit2.init_repository(str(path), bare=True)
        self.url = url
        self.auth = auth

    def commit(self, files: Files, *, branch: str = "main", message: str = "change",
               signer: Signer | None = None, key: str = "") -> str:
        """A commit of `files` on top of `branch` (created if new); returns its SHA."""
        ref = f"refs/heads/{branch}"
        index = pygit2.Index()
        parents = []
        if ref in self.repo.references:
            parent = self.repo.references[ref].peel(pygit2.Commit)
            index.read_tree(parent.tree)
            parents.append(parent.id)
        for path, content in files.items():
            if content is None:
                index.remove(path)
            elif isinstance(content, tuple):
                blob = self.repo.create_blob(content[1].encode())
                index.add(pygit2.IndexEntry(path, blob, FileMode.LINK))
            else:
                data = content.encode() if isinstance(content, str) else content
                index.add(pygit2.IndexEntry(path, self.repo.create_blob(data), FileMode.BLOB))
        tree = index.write_tree(self.repo)
        if signer is None:
            oid = self.repo.create_commit(None, AUTHOR, AUTHOR, message, tree, parents)
        else:
            text = self.repo.create_commit_string(AUTHOR, AUTHOR, message, tree, parents)
            oid = self.repo.create_commit_with_signature(
                text, signer.sign(key, text.encode()).decode())
        self.repo.references.create(ref, oid, force=True)
        return str(oid)

    def tag(self, name: str, target: str, annotated: bool = True) -> None:
        if annotated:
            self.repo.create_tag(name, pygit2.Oid(hex=target), ObjectType.COMMIT, AUTHOR,
                                 f"release {name}")
        else:
            self.repo.references.create(f"refs/tags/{name}", pygit2.Oid(hex=target))

    def signed_tag(self, name: str, target: str, signer: Signer, key: str) -> None:
        """An annotated tag signed with `key`."""
        body = (f"object {target}\ntype commit\ntag {name}\n"
                f"tagger {AUTHOR.name} <{AUTHOR.email}> {AUTHOR.time} +0000\n\n"
                f"release {name}\n").encode()
        oid = self.repo.odb.write(ObjectType.TAG, body + signer.sign(key, body))
        self.repo.references.create(f"refs/tags/{name}", oid)

    def push(self) -> None:
        specs = [f"+{r}:{r}" for r in self.repo.references if r.startswith("refs/")]
        with self.auth.session() as callbacks:
            self.repo.remotes.create_anonymous(self.url).push(specs, callbacks=callbacks)


# --- the cluster side -------------------------------------------------------------------


class Env:
    """`SourceEnv` with the kind bound to GitRepository, and the Git servers."""

    KIND = "GitRepository"

    def __init__(self, source: SourceEnv, git: GitHTTPServer, ssh: GitSSHServer) -> None:
        self.source = source
        self.git = git
        self.ssh = ssh
        self.namespace = source.namespace
        self.storage = source.storage
        self.condition = source.condition
        self.events = source.events
        self.download = source.download
        self.secret = source.secret

    def create(self, name: str, spec: Mapping[str, Any]) -> str:
        return self.source.create(self.KIND, name, {"timeout": "20s", **spec})

    def get(self, name: str) -> dict[str, Any]:
        return self.source.get(self.KIND, name)

    def patch(self, name: str, patch: Mapping[str, Any]) -> None:
        self.source.patch(self.KIND, name, patch)

    def delete(self, name: str) -> None:
        self.source.delete(self.KIND, name)

    def request_reconcile(self, name: str) -> str:
        return self.source.request_reconcile(self.KIND, name)

    def wait_ready(self, name: str, revision: str | None = None,
                   timeout: float = TIMEOUT) -> dict[str, Any]:
        return self.source.wait_ready(self.KIND, name, revision, timeout=timeout)

    def wait_failed(self, name: str, reason: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        return self.source.wait_failed(self.KIND, name, reason, timeout=timeout)

    def members(self, artifact: Mapping[str, Any]) -> dict[str, bytes]:
        """The files of an artifact, which holds regular files only."""
        data = self.download(artifact)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                assert member.isfile(), f"{member.name} is not a regular file"
        return tar_members(data)

    def stored_files(self, name: str) -> list[str]:
        return self.source.stored_files(self.KIND, name)


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        ssh_git_server: GitSSHServer, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Env]:
    for source in start_source_env(cluster, start_controller, tmp_path_factory, "gitrepo"):
        yield Env(source, git_server, ssh_git_server)


def new_repo(env: Env, tmp_path: Path, kind: str = "http") -> tuple[Repo, str]:
    """A new empty repository on the HTTP (or SSH) server: (Repo, its name)."""
    name = f"gitrepo/{uuid.uuid4().hex[:10]}"
    if kind == "ssh":
        env.ssh.create_repo(name)
        url, auth = env.ssh.url(name), GitAuth.for_server(env.ssh)
    else:
        env.git.create_repo(name)
        url, auth = env.git.url(name), GitAuth.for_server(env.git)
    return Repo(tmp_path / uuid.uuid4().hex, url, auth), name


def basic_auth(env: Env, name: str = "basic") -> str:
    return env.secret(name, {"username": env.git.username, "password": env.git.password})


def obj_name() -> str:
    return f"r-{uuid.uuid4().hex[:8]}"


# --- refs -------------------------------------------------------------------------------


@pytest.mark.flux_fields("GitRepository", "spec.url", "spec.ref.branch", "spec.ref.tag",
                         "spec.ref.semver", "spec.ref.name", "spec.ref.commit",
                         "status.artifact.path", "status.artifact.revision", "status.artifact.url",
                         "status.artifact.digest", "status.conditions[].type",
                         "status.conditions[].status", "status.conditions[].reason",
                         "status.conditions[].message")
def test_every_ref_kind(env: Env, tmp_path: Path) -> None:
    repo, _ = new_repo(env, tmp_path)
    c1 = repo.commit({"a.yaml": "a: 1\n"}, branch="master", message="first")
    c2 = repo.commit({"a.yaml": "a: 2\n"}, branch="master", message="second")
    c3 = repo.commit({"dev.yaml": "dev: true\n"}, branch="dev", message="on dev")
    repo.tag("v1.0.0", c1)
    repo.tag("v1.1.0", c2, annotated=False)
    repo.tag("v2.0.0-rc.1", c3)
    repo.repo.references.create("refs/pull/1/head", pygit2.Oid(hex=c3))
    repo.push()
    secret = basic_auth(env)

    cases = {  # ref -> expected revision
        "default-master": (None, f"master@sha1:{c2}"),
        "branch": ({"branch": "dev"}, f"dev@sha1:{c3}"),
        "annotated-tag": ({"tag": "v1.0.0"}, f"v1.0.0@sha1:{c1}"),
        "lightweight-tag": ({"tag": "v1.1.0"}, f"v1.1.0@sha1:{c2}"),
        "tag-beats-branch": ({"branch": "dev", "tag": "v1.0.0"}, f"v1.0.0@sha1:{c1}"),
        "semver": ({"semver": ">=1.0.0 <2.0.0"}, f"v1.1.0@sha1:{c2}"),
        "semver-beats-tag": ({"semver": "~1.0", "tag": "v1.1.0"}, f"v1.0.0@sha1:{c1}"),
        "name": ({"name": "refs/pull/1/head"}, f"refs/pull/1/head@sha1:{c3}"),
        "name-beats-semver": ({"name": "refs/heads/dev", "semver": "*"},
                              f"refs/heads/dev@sha1:{c3}"),
        "commit": ({"commit": c1}, f"sha1:{c1}"),
        "commit-with-branch": ({"branch": "master", "commit": c1}, f"master@sha1:{c1}"),
    }
    names = {}
    for case, (ref, _) in cases.items():
        spec: dict[str, Any] = {"url": repo.url, "secretRef": {"name": secret}}
        if ref is not None:
            spec["ref"] = ref
        names[case] = env.create(f"ref-{case}", spec)
    for case, (_, revision) in cases.items():
        obj = env.wait_ready(names[case], revision)
        sha = revision.rsplit(":", 1)[1]
        artifact = obj["status"]["artifact"]
        assert artifact["path"] == f"gitrepository/{env.namespace}/{names[case]}/{sha}.tar.gz"
        ready = env.condition(obj, "Ready")
        assert ready is not None
        assert ready["reason"] == "Succeeded"
        assert ready["message"] == f"stored artifact for revision '{revision}'"
        in_storage = env.condition(obj, "ArtifactInStorage")
        assert in_storage is not None and in_storage["status"] == "True"
    # the content follows the ref
    dev = env.members(env.get(names["branch"])["status"]["artifact"])
    assert dev["dev.yaml"] == b"dev: true\n"
    first = env.members(env.get(names["commit"])["status"]["artifact"])
    assert first == {"a.yaml": b"a: 1\n"}


# --- credentials ------------------------------------------------------------------------


@pytest.mark.flux_fields("GitRepository", "spec.secretRef.name")
def test_every_kind_of_credentials(env: Env, tmp_path: Path) -> None:
    repo, name = new_repo(env, tmp_path)
    sha = repo.commit({"x.yaml": "x: 1\n"}, message="over http")
    repo.push()
    ssh_repo, _ = new_repo(env, tmp_path, "ssh")
    ssh_sha = ssh_repo.commit({"y.yaml": "y: 1\n"}, message="over ssh")
    ssh_repo.push()

    secrets = {
        "basic": env.secret("cred-basic", {"username": env.git.username,
                                           "password": env.git.password}),
        "bearer": env.secret("cred-bearer", {"bearerToken": env.git.bearer_token}),
        "https-ca": env.secret("cred-https-ca", {
            "username": env.git.username, "password": env.git.password,
            "ca.crt": env.git.ca_cert.read_bytes()}),
        "ssh": env.secret("cred-ssh", {
            "identity": env.ssh.client_key.read_bytes(),
            "known_hosts": env.ssh.known_hosts}),
    }
    specs = {
        "basic": {"url": repo.url, "ref": {"branch": "main"},
                  "secretRef": {"name": secrets["basic"]}},
        "bearer": {"url": repo.url, "ref": {"branch": "main"},
                   "secretRef": {"name": secrets["bearer"]}},
        "https-ca": {"url": env.git.url(name, "https"), "ref": {"branch": "main"},
                     "secretRef": {"name": secrets["https-ca"]}},
        "ssh": {"url": ssh_repo.url, "ref": {"branch": "main"},
                "secretRef": {"name": secrets["ssh"]}},
    }
    for case, spec in specs.items():
        env.create(f"cred-{case}", spec)
    for case in specs:
        expected = f"main@sha1:{ssh_sha if case == 'ssh' else sha}"
        obj = env.wait_ready(f"cred-{case}", expected)
        assert env.members(obj["status"]["artifact"]), case


# --- what goes into an artifact ---------------------------------------------------------


@pytest.mark.flux_fields("GitRepository", "spec.ignore", "spec.sparseCheckout",
                         "status.observedIgnore", "status.observedSparseCheckout",
                         "status.artifact.size", "status.artifact.digest")
def test_artifact_content_ignore_rules_and_digest(env: Env, tmp_path: Path) -> None:
    repo, _ = new_repo(env, tmp_path)
    common: dict[str, Any] = {
        "deploy/app.yaml": "kind: App\n",
        "deploy/run.sh": "#!/bin/sh\n",
        "README.md": "# readme\n",
        "logo.png": b"\x89PNG",
        ".github/workflows/ci.yml": "on: push\n",
        ".sops.yaml": "creation_rules: []\n",
        "notes/todo.txt": "todo\n",
        "escape": ("link", "/etc/passwd"),
        "inside": ("link", "deploy/app.yaml"),
    }
    plain = repo.commit(common, branch="plain", message="defaults only")
    ignored = repo.commit(
        {**common, ".sourceignore": "*.md\nnotes/\n", "deploy/.sourceignore": "run.sh\n"},
        branch="ignored", message="with sourceignore")
    repo.push()
    secret = basic_auth(env)
    env.create("content-defaults", {"url": repo.url, "ref": {"branch": "plain"},
                                    "secretRef": {"name": secret}})
    env.create("content-sourceignore", {"url": repo.url, "ref": {"branch": "ignored"},
                                        "secretRef": {"name": secret}})
    env.create("content-spec-ignore", {
        "url": repo.url, "ref": {"branch": "ignored"}, "secretRef": {"name": secret},
        # overrides the .sourceignore files: README.md and run.sh come back, deploy/ goes
        "ignore": "!README.md\n!deploy/run.sh\n/deploy/app.yaml\n"})
    env.create("content-sparse", {"url": repo.url, "ref": {"branch": "plain"},
                                  "secretRef": {"name": secret}, "sparseCheckout": ["deploy"]})

    defaults = env.wait_ready("content-defaults", f"plain@sha1:{plain}")
    artifact = defaults["status"]["artifact"]
    files = env.members(artifact)  # also checks the digest of the served bytes
    assert sorted(files) == ["README.md", "deploy/app.yaml", "deploy/run.sh", "notes/todo.txt"]
    assert artifact["size"] == len(env.download(artifact))
    # the legacy URL serves the same bytes
    assert defaults["status"]["url"].endswith(
        f"/gitrepository/{env.namespace}/content-defaults/latest.tar.gz")
    with urllib.request.urlopen(defaults["status"]["url"], timeout=10) as resp:
        assert resp.read() == env.download(artifact)

    with_ignore = env.wait_ready("content-sourceignore", f"ignored@sha1:{ignored}")
    # user patterns replace the defaults (the VCS ones stay)
    assert sorted(env.members(with_ignore["status"]["artifact"])) == [
        ".github/workflows/ci.yml", ".sops.yaml", ".sourceignore", "deploy/.sourceignore",
        "deploy/app.yaml", "logo.png"]

    spec_ignore = env.wait_ready("content-spec-ignore")
    assert spec_ignore["status"]["observedIgnore"] == "!README.md\n!deploy/run.sh\n/deploy/app.yaml\n"
    assert sorted(env.members(spec_ignore["status"]["artifact"])) == [
        ".github/workflows/ci.yml", ".sops.yaml", ".sourceignore", "README.md",
        "deploy/.sourceignore", "deploy/run.sh", "logo.png"]

    sparse = env.wait_ready("content-sparse")
    assert sorted(env.members(sparse["status"]["artifact"])) == [
        "deploy/app.yaml", "deploy/run.sh"]
    assert sparse["status"]["observedSparseCheckout"] == ["deploy"]


# --- no clone when nothing changed; new commits; garbage collection ---------------------


@pytest.mark.flux_fields("GitRepository", "status.lastHandledReconcileAt")
def test_no_clone_when_unchanged_then_new_commits_and_gc(env: Env, tmp_path: Path) -> None:
    repo, name = new_repo(env, tmp_path)
    first = repo.commit({"v.txt": "1\n"}, message="commit 1")
    repo.push()
    env.create("poll", {"url": repo.url, "ref": {"branch": "main"},
                        "secretRef": {"name": basic_auth(env)}})
    obj = env.wait_ready("poll", f"main@sha1:{first}")
    artifact = obj["status"]["artifact"]
    fetches = env.git.fetches(name)
    assert fetches >= 1  # a shallow fetch may take more than one upload-pack round

    stamp = env.request_reconcile("poll")
    obj = eventually(lambda: (o := env.get("poll"))["status"].get(
        "lastHandledReconcileAt") == stamp and o, TIMEOUT, message="requestedAt handled")
    assert env.git.fetches(name) == fetches, "a reconcile without a new commit cloned"
    assert obj["status"]["artifact"] == artifact

    new_artifact = [e for e in env.events("poll") if e.reason == "NewArtifact"]
    assert [e.message for e in new_artifact] == ["stored artifact for commit 'commit 1'"]
    assert new_artifact[0].type == "Normal"
    assert new_artifact[0].metadata.annotations[
        "source.toolkit.fluxcd.io/revision"] == f"main@sha1:{first}"

    shas = [first]
    for i in range(2, 6):
        shas.append(repo.commit({"v.txt": f"{i}\n"}, message=f"commit {i}"))
        repo.push()
        env.request_reconcile("poll")
        obj = env.wait_ready("poll", f"main@sha1:{shas[-1]}")
        assert env.members(obj["status"]["artifact"]) == {"v.txt": f"{i}\n".encode()}
        assert env.git.fetches(name) > fetches, "a new commit was not fetched"
        fetches = env.git.fetches(name)

    # retention: 2 records (the current one and one more) once the older ones are 1s old
    def collected() -> bool:
        env.request_reconcile("poll")
        files = env.stored_files("poll")
        assert files == sorted([f"{shas[-1]}.tar.gz", f"{shas[-2]}.tar.gz", "latest.tar.gz"]), (
            files)
        return True

    eventually(collected, 20, interval=1.5, message="garbage collection")


# --- includes --------------------------------------------------------------------------


@pytest.mark.flux_fields("GitRepository", "spec.include[].repository.name",
                         "spec.include[].fromPath", "spec.include[].toPath",
                         "status.includedArtifacts", "status.observedInclude")
def test_include_and_its_changes(env: Env, tmp_path: Path) -> None:
    secret = basic_auth(env)
    lib, _ = new_repo(env, tmp_path)
    lib.commit({"src/lib.yaml": "lib: 1\n", "other/x.yaml": "x\n"}, message="lib 1")
    lib.push()
    app, _ = new_repo(env, tmp_path)
    app_sha = app.commit({"app.yaml": "app: 1\n", "vendor/lib/stale.yaml": "old\n"},
                         message="app 1")
    app.push()
    env.create("inc-lib", {"url": lib.url, "ref": {"branch": "main"},
                           "secretRef": {"name": secret}})
    include = [{"repository": {"name": "inc-lib"}, "fromPath": "src", "toPath": "vendor/lib"},
               {"repository": {"name": "inc-lib"}}]
    env.create("inc-app", {"url": app.url, "ref": {"branch": "main"},
                           "secretRef": {"name": secret}, "include": include})

    lib_obj = env.wait_ready("inc-lib")
    obj = env.wait_ready("inc-app", f"main@sha1:{app_sha}")
    assert env.members(obj["status"]["artifact"]) == {
        "app.yaml": b"app: 1\n",
        "vendor/lib/lib.yaml": b"lib: 1\n",  # replaces what was at toPath
        "inc-lib/src/lib.yaml": b"lib: 1\n",  # toPath defaults to the repository's name
        "inc-lib/other/x.yaml": b"x\n",
    }
    assert obj["status"]["includedArtifacts"] == [lib_obj["status"]["artifact"]] * 2
    assert obj["status"]["observedInclude"] == include
    digest = obj["status"]["artifact"]["digest"]

    # a new commit in the included repository rebuilds the including one (same revision)
    lib.commit({"src/lib.yaml": "lib: 2\n"}, message="lib 2")
    lib.push()
    env.request_reconcile("inc-lib")

    def rebuilt() -> dict[str, Any]:
        o = env.get("inc-app")
        assert o["status"]["artifact"]["digest"] != digest
        return o

    obj = eventually(rebuilt, TIMEOUT, message="inc-app rebuilt after inc-lib moved")
    assert obj["status"]["artifact"]["revision"] == f"main@sha1:{app_sha}"
    assert env.members(obj["status"]["artifact"])["vendor/lib/lib.yaml"] == b"lib: 2\n"

    # an include that has no artifact yet: IncludeUnavailable, then ready once it has one
    env.create("inc-waiting", {"url": app.url, "ref": {"branch": "main"},
                               "secretRef": {"name": secret},
                               "include": [{"repository": {"name": "inc-late"}}]})
    obj = env.wait_failed("inc-waiting", "NotFound")
    unavailable = env.condition(obj, "IncludeUnavailable")
    assert unavailable is not None and "inc-late" in unavailable["message"]
    env.create("inc-late", {"url": lib.url, "ref": {"branch": "main"},
                            "secretRef": {"name": secret}})
    obj = env.wait_ready("inc-waiting", timeout=30)  # triggered by inc-late's artifact
    assert env.condition(obj, "IncludeUnavailable") is None
    assert "inc-late/src/lib.yaml" in env.members(obj["status"]["artifact"])


# --- verification -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signer]:
    s = Signer(tmp_path_factory.mktemp("gpg") / "home")
    s.new_key("alice")
    s.new_key("mallory")
    yield s
    s.close()


@pytest.mark.flux_fields("GitRepository", "spec.verify.mode", "spec.verify.secretRef.name",
                         "status.sourceVerificationMode")
def test_verify_signed_commits(env: Env, tmp_path: Path, signer: Signer) -> None:
    repo, _ = new_repo(env, tmp_path)
    signed = repo.commit({"s.yaml": "s\n"}, branch="signed", message="signed",
                         signer=signer, key="alice")
    repo.commit({"u.yaml": "u\n"}, branch="unsigned", message="unsigned")
    repo.signed_tag("v1.0.0", signed, signer, "alice")
    repo.tag("v0.1.0", signed)  # annotated, not signed
    repo.push()
    secret = basic_auth(env)
    alice = env.secret("keys-alice", {"alice.asc": signer.public("alice")})
    mallory = env.secret("keys-mallory", {"mallory.asc": signer.public("mallory")})

    def spec(branch: str, keys: str) -> dict[str, Any]:
        return {"url": repo.url, "ref": {"branch": branch}, "secretRef": {"name": secret},
                "verify": {"mode": "HEAD", "secretRef": {"name": keys}}}

    env.create("verify-good", spec("signed", alice))
    env.create("verify-unsigned", spec("unsigned", alice))
    env.create("verify-wrong-key", spec("signed", mallory))
    env.create("verify-tag-and-head", {**spec("signed", alice), "ref": {"tag": "v1.0.0"},
                                       "verify": {"mode": "TagAndHEAD",
                                                  "secretRef": {"name": alice}}})
    env.create("verify-unsigned-tag", {**spec("signed", alice), "ref": {"tag": "v0.1.0"},
                                       "verify": {"mode": "Tag", "secretRef": {"name": alice}}})
    env.create("verify-tag-mode-on-branch", {
        **spec("signed", alice), "verify": {"mode": "Tag", "secretRef": {"name": alice}}})

    obj = env.wait_ready("verify-good", f"signed@sha1:{signed}")
    verified = env.condition(obj, "SourceVerified")
    assert verified is not None and verified["status"] == "True"
    assert verified["reason"] == "Succeeded"
    assert signed in verified["message"]
    assert obj["status"]["sourceVerificationMode"] == "HEAD"

    obj = env.wait_ready("verify-tag-and-head", f"v1.0.0@sha1:{signed}")
    verified = env.condition(obj, "SourceVerified")
    assert verified is not None and verified["status"] == "True"
    assert "tag 'v1.0.0@" in verified["message"] and f"commit '{signed}'" in verified["message"]
    assert obj["status"]["sourceVerificationMode"] == "TagAndHEAD"

    for name, reason in [("verify-unsigned", "InvalidCommitSignature"),
                         ("verify-wrong-key", "InvalidCommitSignature"),
                         ("verify-unsigned-tag", "InvalidGitObject"),
                         ("verify-tag-mode-on-branch", "InvalidVerificationMode")]:
        obj = env.wait_failed(name, reason)
        cond = env.condition(obj, "SourceVerified")
        assert cond is not None and cond["status"] == "False", (name, cond)
        assert cond["reason"] == "Failed"
        assert "artifact" not in obj["status"]
    stalled = env.condition(env.get("verify-tag-mode-on-branch"), "Stalled")
    assert stalled is not None and "spec.ref.tag" in stalled["message"]


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.flux_fields("GitRepository", "status.conditions[].observedGeneration")
def test_bad_input_keeps_the_last_good_artifact(env: Env, tmp_path: Path) -> None:
    repo, name = new_repo(env, tmp_path)
    sha = repo.commit({"good.yaml": "good\n"}, message="good")
    repo.tag("v1.0.0", sha)
    repo.push()
    ssh_repo, _ = new_repo(env, tmp_path, "ssh")
    ssh_sha = ssh_repo.commit({"good.yaml": "good\n"}, message="good")
    ssh_repo.push()
    good = basic_auth(env)
    wrong = env.secret("wrong-password", {"username": env.git.username, "password": "nope"})
    ssh_good = env.secret("ssh-good", {"identity": env.ssh.client_key.read_bytes(),
                                       "known_hosts": env.ssh.known_hosts})
    other_key = tmp_path / "other_host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)],
                   check=True)
    host_part = env.ssh.known_hosts.split()[0]
    mismatch = env.secret("ssh-mismatch", {
        "identity": env.ssh.client_key.read_bytes(),
        "known_hosts": f"{host_part} {Path(f'{other_key}.pub').read_text().split()[0]} "
                       f"{Path(f'{other_key}.pub').read_text().split()[1]}\n"})
    no_known_hosts = env.secret("ssh-no-known-hosts",
                                {"identity": env.ssh.client_key.read_bytes()})
    closed = f"http://127.0.0.1:{free_port()}/nothing.git"

    http = {"url": repo.url, "ref": {"branch": "main"}, "secretRef": {"name": good}}
    ssh = {"url": ssh_repo.url, "ref": {"branch": "main"}, "secretRef": {"name": ssh_good}}
    # id: (good spec, patch that breaks it, Ready reason, words of the message, stalled)
    cases: dict[str, tuple[dict, dict, str, tuple[str, ...], bool]] = {
        "wrong-password": (http, {"secretRef": {"name": wrong}}, "AuthenticationFailed",
                           ("rejected the credentials", "'password'"), False),
        "missing-secret": (http, {"secretRef": {"name": "no-such-secret"}},
                           "AuthenticationFailed", ("no-such-secret", "not found"), False),
        "unknown-branch": (http, {"ref": {"branch": "nope"}}, "GitOperationFailed",
                           ("branch 'nope'", "main"), False),
        "unknown-tag": (http, {"ref": {"branch": None, "tag": "v9"}}, "GitOperationFailed",
                        ("tag 'v9'", "v1.0.0"), False),
        "semver-no-match": (http, {"ref": {"branch": None, "semver": ">=2.0.0"}},
                            "GitOperationFailed", (">=2.0.0", "v1.0.0"), False),
        "unreachable-host": (http, {"url": closed}, "GitOperationFailed",
                             ("127.0.0.1",), False),
        "host-key-mismatch": (ssh, {"secretRef": {"name": mismatch}}, "AuthenticationFailed",
                              ("host key",), False),
        "identity-without-known-hosts": (ssh, {"secretRef": {"name": no_known_hosts}},
                                         "AuthenticationFailed", ("known_hosts",), True),
    }
    for case, (spec, _, _, _, _) in cases.items():
        env.create(f"bad-{case}", spec)
    good_artifacts = {}
    for case, (spec, _, _, _, _) in cases.items():
        expected = f"main@sha1:{ssh_sha if spec is ssh else sha}"
        good_artifacts[case] = env.wait_ready(f"bad-{case}", expected)["status"]["artifact"]
    for case, (_, patch, _, _, _) in cases.items():
        env.patch(f"bad-{case}", {"spec": patch})
    for case, (_, _, reason, words, stalled) in cases.items():
        obj = env.wait_failed(f"bad-{case}", reason)
        ready = env.condition(obj, "Ready")
        assert ready is not None
        for word in words:
            assert word.lower() in ready["message"].lower(), (case, ready)
        fetch = env.condition(obj, "FetchFailed")
        assert fetch is not None and fetch["reason"] == reason, (case, fetch)
        assert (env.condition(obj, "Stalled") is not None) is stalled, (case, obj["status"])
        # nothing lost: the last good artifact stays in the status and in storage
        artifact = obj["status"]["artifact"]
        assert artifact == good_artifacts[case], case
        assert env.members(artifact), case
    warnings = [e for e in env.events("bad-unknown-branch") if e.type == "Warning"]
    assert warnings and warnings[0].reason == "GitOperationFailed"
    assert warnings[0].metadata.annotations["source.toolkit.fluxcd.io/revision"] == (
        f"main@sha1:{sha}")
    assert name


@pytest.mark.flux_fields("GitRepository", "spec.url")
def test_invalid_url_is_rejected_by_the_schema(env: Env) -> None:
    with pytest.raises(ApiException) as err:
        env.create("bad-url", {"url": "ftp://example.com/repo.git"})
    assert err.value.status == 422
    assert "spec.url" in err.value.body


# --- suspend and deletion --------------------------------------------------------------


@pytest.mark.flux_fields("GitRepository", "spec.suspend")
@pytest.mark.flux_fields("GitRepository", "status.observedGeneration")
def test_suspend_and_resume(env: Env, tmp_path: Path) -> None:
    repo, name = new_repo(env, tmp_path)
    sha = repo.commit({"a": "1\n"}, message="one")
    repo.push()
    secret = basic_auth(env)
    env.create("suspended", {"url": repo.url, "ref": {"branch": "main"},
                             "secretRef": {"name": secret}, "suspend": True})
    # created after the suspended one: once it is Ready, the controller has seen both
    env.create("suspend-marker", {"url": repo.url, "ref": {"branch": "main"},
                                  "secretRef": {"name": secret}})
    env.wait_ready("suspend-marker")
    stamp = env.request_reconcile("suspended")
    env.request_reconcile("suspend-marker")
    eventually(lambda: env.get("suspend-marker")["status"].get("lastHandledReconcileAt"),
               TIMEOUT)
    status = env.get("suspended").get("status") or {}
    assert not status.get("conditions"), status
    assert status.get("lastHandledReconcileAt") != stamp
    assert env.stored_files("suspended") == []

    env.patch("suspended", {"spec": {"suspend": False}})
    env.wait_ready("suspended", f"main@sha1:{sha}")
    assert name


def test_deletion_removes_storage_and_finalizer(env: Env, tmp_path: Path) -> None:
    repo, _ = new_repo(env, tmp_path)
    sha = repo.commit({"a": "1\n"}, message="one")
    repo.push()
    env.create("doomed", {"url": repo.url, "ref": {"branch": "main"},
                          "secretRef": {"name": basic_auth(env)}})
    obj = env.wait_ready("doomed", f"main@sha1:{sha}")
    assert obj["metadata"]["finalizers"] == ["finalizers.fluxcd.io"]
    assert f"{sha}.tar.gz" in env.stored_files("doomed")
    env.delete("doomed")

    def gone() -> bool:
        try:
            env.get("doomed")
        except ApiException as err:
            return err.status == 404
        return False

    eventually(gone, TIMEOUT, message="GitRepository deleted")
    assert not (env.storage / "gitrepository" / env.namespace / "doomed").exists()


def test_fixing_a_secret_recovers_without_a_spec_change(env: Env, tmp_path: Path) -> None:
    ssh_repo, _ = new_repo(env, tmp_path, "ssh")
    sha = ssh_repo.commit({"a": "1\n"}, message="one")
    ssh_repo.push()
    secret = env.secret("ssh-fix-me", {"identity": env.ssh.client_key.read_bytes()})
    env.create("fix-secret", {"url": ssh_repo.url, "ref": {"branch": "main"},
                              "secretRef": {"name": secret}})
    obj = env.wait_failed("fix-secret", "AuthenticationFailed")
    assert env.condition(obj, "Stalled") is not None  # no retry can help...
    env.secret(secret, {"identity": env.ssh.client_key.read_bytes(),
                        "known_hosts": env.ssh.known_hosts})
    obj = env.wait_ready("fix-secret", f"main@sha1:{sha}", timeout=30)  # ...but the fix does
    assert env.condition(obj, "Stalled") is None
    assert env.condition(obj, "FetchFailed") is None


@pytest.mark.flux_fields("GitRepository", "spec.recurseSubmodules",
                         "status.observedRecurseSubmodules")
def test_recurse_submodules(env: Env, tmp_path: Path) -> None:
    sub, sub_name = new_repo(env, tmp_path)
    sub_sha = sub.commit({"lib.yaml": "lib: 1\n"}, message="sub")
    sub.push()
    parent, _ = new_repo(env, tmp_path)
    relative = "../" + sub_name.rsplit("/", 1)[1] + ".git"
    parent.commit({".gitmodules": f'[submodule "vendor/sub"]\n\tpath = vendor/sub\n'
                                  f"\turl = {relative}\n",
                   "app.yaml": "app: 1\n"}, message="with a submodule")
    # the gitlink: the submodule's commit recorded at vendor/sub
    index = pygit2.Index()
    head = parent.repo.references["refs/heads/main"].peel(pygit2.Commit)
    index.read_tree(head.tree)
    index.add(pygit2.IndexEntry("vendor/sub", pygit2.Oid(hex=sub_sha), FileMode.COMMIT))
    tree = index.write_tree(parent.repo)
    oid = parent.repo.create_commit("refs/heads/main", AUTHOR, AUTHOR, "pin sub", tree,
                                    [head.id])
    parent.push()
    secret = basic_auth(env)
    env.create("submodules-off", {"url": parent.url, "ref": {"branch": "main"},
                                  "secretRef": {"name": secret}})
    env.create("submodules-on", {"url": parent.url, "ref": {"branch": "main"},
                                 "secretRef": {"name": secret}, "recurseSubmodules": True})
    off = env.wait_ready("submodules-off", f"main@sha1:{oid}")
    assert sorted(env.members(off["status"]["artifact"])) == ["app.yaml"]
    on = env.wait_ready("submodules-on", f"main@sha1:{oid}")
    assert env.members(on["status"]["artifact"]) == {
        "app.yaml": b"app: 1\n", "vendor/sub/lib.yaml": b"lib: 1\n"}
    assert on["status"]["observedRecurseSubmodules"] is True
    assert "observedRecurseSubmodules" not in off["status"]


# --- timeout and proxy ------------------------------------------------------------------


@pytest.mark.flux_fields("GitRepository", "spec.timeout")
def test_timeout_is_honoured(env: Env) -> None:
    server = SilentServer()
    try:
        env.create("hung", {"url": f"http://127.0.0.1:{server.port}/repo.git",
                            "timeout": "2s"})
        obj = env.wait_failed("hung", "GitOperationFailed", timeout=30)
        ready = env.condition(obj, "Ready")
        assert ready is not None and "spec.timeout" in ready["message"], ready
    finally:
        server.close()


@pytest.mark.flux_fields("GitRepository", "spec.proxySecretRef.name")
def test_proxy_secret(env: Env, tmp_path: Path) -> None:
    repo, name = new_repo(env, tmp_path)
    sha = repo.commit({"p.yaml": "p\n"}, message="via proxy")
    repo.push()
    proxy = TunnelProxy("proxy-user", "proxy-p@ss")
    try:
        env.secret("proxy", {"address": f"http://127.0.0.1:{proxy.port}",
                             "username": "proxy-user", "password": "proxy-p@ss"})
        credentials = env.secret("proxy-https-creds", {
            "username": env.git.username, "password": env.git.password,
            "ca.crt": env.git.ca_cert.read_bytes()})
        https_url = env.git.url(name, "https")
        env.create("proxied", {"url": https_url, "ref": {"branch": "main"},
                               "secretRef": {"name": credentials},
                               "proxySecretRef": {"name": "proxy"}})
        # libgit2 sends plain-http Git traffic past any proxy: refused, not ignored
        env.create("proxied-http", {"url": repo.url, "ref": {"branch": "main"},
                                    "secretRef": {"name": basic_auth(env)},
                                    "proxySecretRef": {"name": "proxy"}})
        obj = env.wait_ready("proxied", f"main@sha1:{sha}")
        assert env.members(obj["status"]["artifact"]) == {"p.yaml": b"p\n"}
        assert proxy.seen and all(t.endswith(f":{env.git.https_port}") for t in proxy.seen)
        obj = env.wait_failed("proxied-http", "GitOperationFailed")
        assert env.condition(obj, "Stalled") is not None
    finally:
        proxy.close()


def test_an_artifact_lost_from_storage_is_rebuilt(env: Env, tmp_path: Path) -> None:
    repo, name = new_repo(env, tmp_path)
    sha = repo.commit({"a": "1\n"}, message="one")
    repo.push()
    env.create("lost", {"url": repo.url, "ref": {"branch": "main"},
                        "secretRef": {"name": basic_auth(env)}})
    artifact = env.wait_ready("lost", f"main@sha1:{sha}")["status"]["artifact"]
    fetches = env.git.fetches(name)
    (env.storage / artifact["path"]).unlink()
    stamp = env.request_reconcile("lost")
    obj = eventually(lambda: (o := env.get("lost"))["status"].get(
        "lastHandledReconcileAt") == stamp and o, TIMEOUT, message="requestedAt handled")
    assert env.git.fetches(name) > fetches, "the lost artifact was not rebuilt from the remote"
    assert obj["status"]["artifact"]["digest"] == artifact["digest"]  # deterministic archive
    assert env.members(obj["status"]["artifact"]) == {"a": b"1\n"}


# --- the interval, and what the status says about time ----------------------------------


@pytest.mark.flux_fields("GitRepository", "spec.interval", "status.artifact.lastUpdateTime",
                         "status.conditions[].lastTransitionTime")
def test_the_interval_alone_picks_up_a_new_commit(env: Env, tmp_path: Path) -> None:
    repo, _ = new_repo(env, tmp_path)
    first = repo.commit({"a": "1\n"}, message="one")
    repo.push()
    env.create("every-2s", {"url": repo.url, "ref": {"branch": "main"}, "interval": "2s",
                            "secretRef": {"name": basic_auth(env)}})
    before = env.wait_ready("every-2s", f"main@sha1:{first}")
    second = repo.commit({"a": "2\n"}, message="two")
    repo.push()  # no requestedAt: only the 2s interval can notice
    after = env.source.wait_moved_by_interval(env.KIND, before)
    assert after["status"]["artifact"]["revision"] == f"main@sha1:{second}"


def test_a_cloud_provider_is_refused_with_what_to_use(env: Env, tmp_path: Path) -> None:
    """afflux has no Azure / GitHub App credentials flow: `spec.provider` other than generic
    stalls and says so, instead of trying without credentials."""
    repo, _ = new_repo(env, tmp_path)
    repo.commit({"a": "1\n"}, message="one")
    repo.push()
    env.create("from-azure", {"url": repo.url, "ref": {"branch": "main"}, "provider": "azure"})
    obj = env.wait_failed("from-azure", "GitOperationFailed")
    ready = env.condition(obj, "Ready")
    assert ready is not None and "spec.provider 'azure'" in ready["message"], ready
    assert "generic" in ready["message"]
    stalled = env.condition(obj, "Stalled")
    assert stalled is not None and stalled["status"] == "True"
