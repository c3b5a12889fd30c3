"""The GitRepository pipeline against an in-memory API server and a fake Git remote: the
clone only happens when something changed, an unchanged reconcile writes nothing, a failure
keeps the last artifact, and the conditions and events say what happened."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from runtime.fakes import FakeKube  # tests/unit/runtime (tests/unit is on sys.path)

from afflux.api import Artifact
from afflux.controllers.runtime import (
    Environment,
    EventRecorder,
    ObjectRef,
    Options,
    ReconcileResult,
)
from afflux.controllers.runtime._gitauth import GitAuthError, GitError
from afflux.controllers.source import _reconcile_git
from afflux.controllers.source._context import SECRETS, SourceContext
from afflux.controllers.source._git import CheckoutResult, GitRef, RemoteRevision
from afflux.controllers.source._reconcile_git import GIT_REPOSITORY, git_reconciler
from afflux.controllers.source._storage import Storage

NS, NAME = "apps", "podinfo"
SHA1, SHA2 = "1" * 40, "2" * 40


@dataclass
class FakeRemote:
    """What `remote_revision` and `checkout` see: a branch pointing at a commit."""

    commit: str = SHA1
    files: dict[str, str] = field(default_factory=lambda: {"app.yaml": "a: 1\n",
                                                           "README.md": "hi\n"})
    fail: Exception | None = None
    listings: int = 0
    checkouts: int = 0

    def remote_revision(self, url: str, ref: GitRef, credentials: Any = None,
                        **_: Any) -> RemoteRevision:
        self.listings += 1
        if self.fail is not None:
            raise self.fail
        branch = ref.effective_branch
        return RemoteRevision(f"{branch}@sha1:{self.commit}", self.commit,
                              f"refs/heads/{branch}", branch)

    def checkout(self, url: str, ref: GitRef, dest: Path, credentials: Any = None,
                 **_: Any) -> CheckoutResult:
        self.checkouts += 1
        dest = Path(dest)
        for path, content in self.files.items():
            (dest / path).parent.mkdir(parents=True, exist_ok=True)
            (dest / path).write_text(content)
        branch = ref.effective_branch
        return CheckoutResult(f"{branch}@sha1:{self.commit}", self.commit,
                              f"refs/heads/{branch}", dest, f"commit {self.commit[:4]}\n\nbody")


@dataclass
class World:
    kube: FakeKube
    remote: FakeRemote
    storage: Storage
    env: Environment
    source: SourceContext

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(GIT_REPOSITORY, NS, NAME)

    def reconcile(self) -> ReconcileResult:
        reconciler = git_reconciler(self.source)
        return asyncio.run(reconciler.reconcile(self.kube.body(self.ref), self.env))

    def status(self) -> dict[str, Any]:
        return self.kube.body(self.ref).get("status") or {}

    def condition(self, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.status().get("conditions") or [] if c["type"] == type_),
                    None)

    def patch_spec(self, **spec: Any) -> None:
        asyncio.run(self.kube.patch(self.ref, {"spec": spec}))

    def events(self) -> list[tuple[str, str, str]]:
        return [(c[2]["type"], c[2]["reason"], c[2]["message"]) for c in self.kube.calls
                if c[0] == "create" and c[2].get("kind") == "Event"]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    remote = FakeRemote()
    monkeypatch.setattr(_reconcile_git, "remote_revision", remote.remote_revision)
    monkeypatch.setattr(_reconcile_git, "checkout", remote.checkout)
    kube = FakeKube()
    kube.put(SECRETS, {"metadata": {"name": "auth", "namespace": NS},
                       "data": {"username": base64.b64encode(b"u").decode(),
                                "password": base64.b64encode(b"p").decode()}})
    kube.put(GIT_REPOSITORY, {
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {"url": "https://git.example/podinfo.git", "interval": "1m",
                 "ref": {"branch": "main"}, "secretRef": {"name": "auth"}},
    })
    options = Options("source-controller")
    storage = Storage(tmp_path / "storage", "source-controller.flux-system.svc",
                      retention_ttl=0)
    env = Environment(kube=kube, recorder=EventRecorder(kube, "source-controller"),
                      options=options, now=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    yield World(kube, remote, storage, env,
                SourceContext(storage=storage, options=options, storage_addr=("", 9090)))


def test_first_reconcile_stores_an_artifact(world: World) -> None:
    assert world.reconcile().ok
    status = world.status()
    artifact = status["artifact"]
    assert artifact["revision"] == f"main@sha1:{SHA1}"
    assert artifact["path"] == f"gitrepository/{NS}/{NAME}/{SHA1}.tar.gz"
    assert artifact["url"] == (
        f"http://source-controller.flux-system.svc/gitrepository/{NS}/{NAME}/{SHA1}.tar.gz")
    assert status["url"].endswith(f"/gitrepository/{NS}/{NAME}/latest.tar.gz")
    assert world.storage.verify(Artifact.from_dict(artifact))  # digest of the stored file
    ready = world.condition("Ready")
    assert ready is not None and ready["status"] == "True"
    assert ready["message"] == f"stored artifact for revision 'main@sha1:{SHA1}'"
    assert world.condition("ArtifactInStorage") is not None
    assert world.condition("ArtifactOutdated") is None
    assert world.events() == [("Normal", "NewArtifact", "stored artifact for commit 'commit 1111'")]
    assert (world.remote.listings, world.remote.checkouts) == (1, 1)


def test_unchanged_remote_no_clone_and_no_write(world: World) -> None:
    world.reconcile()
    patches = len(world.kube.status_patches())
    assert world.reconcile().ok
    assert (world.remote.listings, world.remote.checkouts) == (2, 1)
    assert len(world.kube.status_patches()) == patches, "an idle reconcile wrote the status"
    assert len(world.events()) == 1


def test_new_commit_new_artifact_and_gc(world: World) -> None:
    world.reconcile()
    world.remote.commit, world.remote.files = SHA2, {"app.yaml": "a: 2\n"}
    assert world.reconcile().ok
    assert world.status()["artifact"]["revision"] == f"main@sha1:{SHA2}"
    assert world.remote.checkouts == 2
    directory = world.storage.root / "gitrepository" / NS / NAME
    # retention 2: both stay, the link points at the new one
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"{SHA1}.tar.gz", f"{SHA2}.tar.gz", "latest.tar.gz"])
    assert (directory / "latest.tar.gz").resolve().name == f"{SHA2}.tar.gz"


def test_spec_change_that_shapes_the_artifact_rebuilds_it(world: World) -> None:
    world.reconcile()
    digest = world.status()["artifact"]["digest"]
    world.patch_spec(ignore="*.md\n")
    assert world.reconcile().ok
    assert world.remote.checkouts == 2  # same revision, but the ignore rules changed
    assert world.status()["observedIgnore"] == "*.md\n"
    assert world.status()["artifact"]["digest"] != digest


@pytest.mark.parametrize(
    ("error", "reason"),
    [(GitError("branch 'main' not found on the remote"), "GitOperationFailed"),
     (GitAuthError("authentication failed"), "AuthenticationFailed")],
    ids=["git-error", "auth-error"],
)
def test_failure_keeps_the_last_artifact(world: World, error: Exception, reason: str) -> None:
    world.reconcile()
    artifact = world.status()["artifact"]
    world.remote.fail = error
    result = world.reconcile()
    assert not result.ok and result.reason == reason
    assert world.status()["artifact"] == artifact
    assert world.storage.exists(Artifact.from_dict(artifact))
    fetch = world.condition("FetchFailed")
    assert fetch is not None and fetch["reason"] == reason
    ready = world.condition("Ready")
    assert ready is not None and ready["status"] == "False" and ready["reason"] == reason
    warning = [e for e in world.events() if e[0] == "Warning"]
    assert warning == [("Warning", reason, str(error))]

    world.remote.fail = None  # recovers, still without a clone
    assert world.reconcile().ok
    assert world.condition("FetchFailed") is None
    assert world.remote.checkouts == 1


def test_missing_secret_names_it(world: World) -> None:
    world.patch_spec(secretRef={"name": "gone"})
    result = world.reconcile()
    assert result.reason == "AuthenticationFailed"
    assert f"'{NS}/gone'" in result.message and "spec.secretRef" in result.message
    assert world.remote.listings == 0


def test_deletion_removes_the_storage_directory(world: World) -> None:
    world.reconcile()
    directory = world.storage.root / "gitrepository" / NS / NAME
    assert directory.is_dir()
    body = world.kube.body(world.ref)
    body["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    result = asyncio.run(git_reconciler(world.source).finalize_object(body, world.env))
    assert result.ok
    assert not directory.exists()
    assert "finalizers.fluxcd.io" not in (world.kube.body(world.ref)["metadata"]
                                          .get("finalizers") or [])
