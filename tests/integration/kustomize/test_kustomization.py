"""Kustomization end to end: the real source-controller and kustomize-controller as their own
processes, the real cluster, a real Git server.

Every test pushes manifests to its own repository, points a GitRepository and a
Kustomization at it, and checks the cluster and the Kustomization's status: drift put back,
a deleted object coming back, a new image tag rolling out, `git revert` rolling back,
pruning, a generated kustomization.yaml, the spec overlay (targetNamespace, namePrefix,
patches, images), postBuild substitution, SOPS with a real age key, dependsOn, health checks,
a CRD with its custom resources, a build failure that applies and prunes nothing,
impersonation refused by RBAC, a remote kubeconfig, the per-object annotations, and
deletion with its policies.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from afflux.cli.devenv import GitHTTPServer, free_port
from harness.fixtures_cluster import Cluster
from harness.fixtures_controllers import release_orphans
from harness.fixtures_servers import GitAuth, git_push_files
from harness.wait import eventually

pytestmark = pytest.mark.integration

TIMEOUT = 60.0
KS = "kustomizations.kustomize.toolkit.fluxcd.io"
GITREPO = "gitrepositories.source.toolkit.fluxcd.io"


def dump(*docs: Mapping[str, Any]) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)


def configmap(name: str, data: Mapping[str, str] | None = None, *,
              namespace: str | None = None, annotations: Mapping[str, str] | None = None
              ) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": dict(data or {"key": "value"})}


def deployment(name: str, image: str = "example.invalid/web:1.0", replicas: int = 1,
               namespace: str | None = None, **pod: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
        "replicas": replicas, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": "app", "image": image}], **pod}}}}


def service(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}}


@dataclass
class Repo:
    url: str
    auth: GitAuth

    def push(self, files: Mapping[str, str | None], message: str = "change") -> str:
        return git_push_files(self.url, files, branch="main", message=message, auth=self.auth)


@dataclass
class Env:
    cluster: Cluster
    namespace: str
    git: GitHTTPServer
    kustomize_controller: Any = None

    def metric(self, name: str) -> float:
        """A plain counter of the kustomize-controller, scraped from its /metrics."""
        for line in self.kustomize_controller.metrics().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"metric {name} not published")

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl("-n", self.namespace, *args, **kwargs)

    def apply(self, *docs: Mapping[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=dump(*docs))

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        proc = self.cluster.kubectl("-n", namespace or self.namespace, "get", kind, name,
                                    "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def exists(self, kind: str, name: str, namespace: str | None = None) -> bool:
        return self.get(kind, name, namespace) is not None

    def repo(self, files: Mapping[str, str | None]) -> tuple[Repo, str]:
        name = f"ks/{uuid.uuid4().hex[:10]}"
        self.git.create_repo(name, public=True)
        repo = Repo(self.git.url(name), GitAuth.for_server(self.git))
        return repo, repo.push(files, "initial")

    def source(self, repo: Repo) -> str:
        name = f"src-{uuid.uuid4().hex[:6]}"
        self.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "metadata": {"name": name, "namespace": self.namespace},
                    "spec": {"url": repo.url, "interval": "10m", "ref": {"branch": "main"}}})
        return name

    def kustomization(self, name: str, source: str, **spec: Any) -> str:
        full = {"interval": "10m", "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": source}, **spec}
        self.apply({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": name, "namespace": self.namespace}, "spec": full})
        return name

    def fetch_now(self, source: str) -> None:
        """Ask source-controller to fetch now (instead of at the GitRepository's interval)."""
        self.kubectl("annotate", "--overwrite", GITREPO, source,
                     f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")

    def push(self, repo: Repo, source: str, files: Mapping[str, str | None],
             message: str = "change") -> str:
        sha = repo.push(files, message)
        self.fetch_now(source)
        return sha

    def status(self, name: str) -> dict[str, Any]:
        body = self.get(KS, name)
        assert body is not None, f"Kustomization {name} not found"
        return body.get("status") or {}

    @staticmethod
    def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
        return next((c for c in status.get("conditions") or () if c["type"] == type_), None)

    def wait_applied(self, name: str, sha: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Until Ready=True at `main@sha1:<sha>`; returns the status."""

        def applied() -> dict[str, Any]:
            status = self.status(name)
            ready = self.condition(status, "Ready")
            assert ready is not None and ready["status"] == "True", ready
            assert status.get("lastAppliedRevision") == f"main@sha1:{sha}", status
            return status

        return eventually(applied, timeout, message=f"Kustomization {name} at {sha[:8]}")

    def wait_failed(self, name: str, reason: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Until Ready=False with `reason`; returns the Ready condition."""

        def failed() -> dict[str, Any]:
            ready = self.condition(self.status(name), "Ready")
            assert ready is not None and ready["status"] == "False", ready
            assert ready["reason"] == reason, ready
            return ready

        return eventually(failed, timeout, message=f"Kustomization {name} failing with {reason}")

    def events(self, name: str) -> list[dict[str, Any]]:
        out = self.kubectl("get", "events", "--field-selector",
                           f"involvedObject.kind=Kustomization,involvedObject.name={name}",
                           "-o", "json").stdout
        return json.loads(out)["items"]


def make_env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
             tmp_path_factory: pytest.TempPathFactory, *kustomize_args: str) -> Iterator[Env]:
    """A namespace watched by a source-controller and a kustomize-controller of its own
    (with `kustomize_args`), deleted at the end."""
    namespace = f"t-ks-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    storage = tmp_path_factory.mktemp("source-storage")
    port = free_port()
    scope = ["--watch-all-namespaces=false", f"--namespace={namespace}"]
    controllers = [
        start_controller("source", f"--storage-path={storage}",
                         f"--storage-addr=127.0.0.1:{port}",
                         f"--storage-adv-addr=127.0.0.1:{port}", *scope),
        start_controller("kustomize", "--requeue-dependency=2s", *scope, *kustomize_args),
    ]
    try:
        yield Env(cluster, namespace, git_server, controllers[1])
    finally:
        if not os.environ.get("AFFLUX_KEEP_NAMESPACES"):
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

            def finalized() -> bool:  # the controllers run their finalizers first
                left = cluster.kubectl("-n", namespace, "get", f"{KS},{GITREPO}", "-o", "name",
                                       check=False)
                return left.returncode == 0 and not left.stdout.strip()

            try:
                eventually(finalized, 30, message="Flux objects of the namespace finalized")
            except AssertionError:
                pass
        for controller in reversed(controllers):  # the next module starts its own
            controller.stop()
        release_orphans(cluster)


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory)


def replicas(env: Env, name: str) -> int:
    body = env.get("deployment", name)
    assert body is not None
    return int(body["spec"]["replicas"])


def image(env: Env, name: str, namespace: str | None = None) -> str:
    body = env.get("deployment", name, namespace)
    assert body is not None
    return str(body["spec"]["template"]["spec"]["containers"][0]["image"])


# --- the seed scenarios ------------------------------------------------------------------------


def test_drift_is_put_back_and_a_deleted_service_comes_back(env: Env) -> None:
    repo, sha = env.repo({"app/web.yaml": dump(deployment("web", replicas=2, namespace=env.namespace),
                                               service("web", env.namespace))})
    ks = env.kustomization("drift", env.source(repo), path="./app", interval="3s")
    status = env.wait_applied(ks, sha)
    assert {e["id"] for e in status["inventory"]["entries"]} == {
        f"{env.namespace}_web_apps_Deployment", f"{env.namespace}_web__Service"}
    web = env.get("deployment", "web")
    assert web is not None
    assert web["metadata"]["labels"] == {"kustomize.toolkit.fluxcd.io/name": ks,
                                         "kustomize.toolkit.fluxcd.io/namespace": env.namespace}

    env.kubectl("scale", "deployment/web", "--replicas=5")
    eventually(lambda: replicas(env, "web") == 2, TIMEOUT, message="replicas put back to 2")

    env.kubectl("delete", "service", "web")
    eventually(lambda: env.exists("service", "web"), TIMEOUT, message="the Service back")


def test_new_image_tag_rolls_out_and_git_revert_rolls_back(env: Env, tmp_path: Any) -> None:
    repo, first = env.repo({"web.yaml": dump(deployment("roll", "example.invalid/web:1.0",
                                                        namespace=env.namespace))})
    source = env.source(repo)
    ks = env.kustomization("roll", source)
    env.wait_applied(ks, first)
    assert image(env, "roll") == "example.invalid/web:1.0"

    second = env.push(repo, source, {"web.yaml": dump(deployment(
        "roll", "example.invalid/web:1.1", namespace=env.namespace))}, "bump to 1.1")
    env.wait_applied(ks, second)
    assert image(env, "roll") == "example.invalid/web:1.1"

    # a real `git revert` of the bump, pushed with the git CLI
    auth_url = repo.url.replace("http://", f"http://{env.git.username}:{env.git.password}@")
    work = tmp_path / "clone"
    git = ["git", "-c", "user.name=afflux tests", "-c", "user.email=tests@afflux.invalid"]
    subprocess.run([*git, "clone", "-q", auth_url, str(work)], check=True, capture_output=True)
    subprocess.run([*git, "-C", str(work), "revert", "--no-edit", "HEAD"], check=True,
                   capture_output=True)
    subprocess.run([*git, "-C", str(work), "push", "-q", "origin", "main"], check=True,
                   capture_output=True)
    reverted = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    env.fetch_now(source)
    status = env.wait_applied(ks, reverted)
    assert image(env, "roll") == "example.invalid/web:1.0"
    assert [h["metadata"]["revision"] for h in status["history"]][:2] == [
        f"main@sha1:{reverted}", f"main@sha1:{second}"]


def test_object_removed_from_git_is_pruned(env: Env) -> None:
    ns = env.namespace
    repo, first = env.repo({"a.yaml": dump(configmap("prune-a", namespace=ns)),
                            "b.yaml": dump(configmap("prune-b", namespace=ns)),
                            "c.yaml": dump(configmap("prune-c", namespace=ns, annotations={
                                "kustomize.toolkit.fluxcd.io/prune": "disabled"}))})
    source = env.source(repo)
    ks = env.kustomization("prune", source)
    env.wait_applied(ks, first)
    second = env.push(repo, source, {"b.yaml": None, "c.yaml": None}, "drop b and c")
    status = env.wait_applied(ks, second)
    eventually(lambda: not env.exists("configmap", "prune-b"), TIMEOUT, message="b pruned")
    assert env.exists("configmap", "prune-a")
    assert env.exists("configmap", "prune-c")  # prune: disabled
    assert [e["id"] for e in status["inventory"]["entries"]] == [f"{ns}_prune-a__ConfigMap"]
    messages = [e["message"] for e in env.events(ks)]
    assert f"ConfigMap/{ns}/prune-b deleted" in messages


def test_source_revision_change_is_applied_at_once(env: Env) -> None:
    """With a 10m interval on both objects, a new commit still lands within seconds: the
    fetch is requested on the GitRepository, and kustomize-controller reacts to the new
    artifact revision by itself (the Kustomization is never annotated)."""
    repo, first = env.repo({"cm.yaml": dump(configmap("react", {"v": "1"}, namespace=env.namespace))})
    source = env.source(repo)
    ks = env.kustomization("react", source, interval="10m")
    env.wait_applied(ks, first)
    second = env.push(repo, source, {"cm.yaml": dump(configmap(
        "react", {"v": "2"}, namespace=env.namespace))})
    env.wait_applied(ks, second, timeout=30)
    cm = env.get("configmap", "react")
    assert cm is not None and cm["data"] == {"v": "2"}


def test_kustomizations_of_one_revision_share_one_download(env: Env) -> None:
    """Three Kustomizations building three paths of one GitRepository: the artifact is
    downloaded and unpacked once per revision (a cache keyed by its digest), not once per
    Kustomization and interval; a new revision is downloaded once again."""
    ns = env.namespace
    files = {f"apps/{n}/cm.yaml": dump(configmap(f"shared-{n}", {"v": "1"}, namespace=ns))
             for n in ("a", "b", "c")}
    repo, first = env.repo(files)
    source = env.source(repo)
    before = env.metric("afflux_artifact_downloads_total")
    names = [env.kustomization(f"shared-{n}", source, path=f"./apps/{n}") for n in "abc"]
    for name in names:
        env.wait_applied(name, first)
    assert env.metric("afflux_artifact_downloads_total") - before == 1
    second = env.push(repo, source, {"apps/b/cm.yaml": dump(configmap(
        "shared-b", {"v": "2"}, namespace=ns))})
    for name in names:
        env.wait_applied(name, second)
    assert env.metric("afflux_artifact_downloads_total") - before == 2
    cm = env.get("configmap", "shared-b")
    assert cm is not None and cm["data"] == {"v": "2"}
