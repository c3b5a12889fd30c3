"""The Kustomization test environment: a namespace watched by a real source-controller and a
real kustomize-controller of its own, a Git repository per test, and helpers to read the
Kustomization's status and events (for the kustomize tests and the attack and fault suites).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.cli.devenv import GitHTTPServer, free_port

from .fixtures_cluster import Cluster
from .fixtures_controllers import release_orphans, stop_all
from .fixtures_servers import GitAuth, git_push_files
from .wait import eventually

__all__ = ["GITREPO", "KS", "TIMEOUT", "Env", "Repo", "age_key", "configmap", "deployment",
           "dump", "image", "make_env", "replicas", "self_contained_kubeconfig", "service",
           "sops_encrypt"]

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
    source_controller: Any = None

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

    def reconcile_now(self, name: str) -> str:
        """Ask for a reconcile of the Kustomization `name` (requestedAt) and wait until it
        handled it; returns the token."""
        token = uuid.uuid4().hex
        self.kubectl("annotate", "--overwrite", KS, name,
                     f"reconcile.fluxcd.io/requestedAt={token}")
        eventually(lambda: self.status(name).get("lastHandledReconcileAt") == token, TIMEOUT,
                   message=f"{name} reconciled for {token}")
        return token

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
             tmp_path_factory: pytest.TempPathFactory, *kustomize_args: str,
             common_args: tuple[str, ...] = (),
             kustomize_env: dict[str, str] | None = None,
             source_args: tuple[str, ...] = ()) -> Iterator[Env]:
    """A namespace watched by a source-controller (with `source_args`) and a
    kustomize-controller of its own (with `kustomize_args`, and `common_args` for both),
    deleted at the end."""
    namespace = f"t-ks-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    storage = tmp_path_factory.mktemp("source-storage")
    port = free_port()
    scope = ["--watch-all-namespaces=false", f"--namespace={namespace}", *common_args]
    controllers = [
        start_controller("source", f"--storage-path={storage}",
                         f"--storage-addr=127.0.0.1:{port}",
                         f"--storage-adv-addr=127.0.0.1:{port}", *scope, *source_args),
        start_controller("kustomize", "--requeue-dependency=2s", *scope, *kustomize_args,
                         env=kustomize_env),
    ]
    try:
        yield Env(cluster, namespace, git_server, controllers[1], controllers[0])
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
        stop_all(reversed(controllers))  # the next module starts its own
        release_orphans(cluster)


def replicas(env: Env, name: str) -> int:
    body = env.get("deployment", name)
    assert body is not None
    return int(body["spec"]["replicas"])


def image(env: Env, name: str, namespace: str | None = None) -> str:
    body = env.get("deployment", name, namespace)
    assert body is not None
    return str(body["spec"]["template"]["spec"]["containers"][0]["image"])


def self_contained_kubeconfig(kubeconfig: Path) -> str:
    """A cluster's kubeconfig with its certificate files embedded (as a kubeconfig
    in a Secret must be: nothing of the controller's file system may be needed)."""
    config = json.loads(kubeconfig.read_text())

    def embed(section: dict[str, Any], key: str) -> None:
        if key in section:
            section[f"{key}-data"] = base64.b64encode(Path(section.pop(key)).read_bytes()).decode()

    for cluster in config["clusters"]:
        embed(cluster["cluster"], "certificate-authority")
    for user in config["users"]:
        embed(user["user"], "client-certificate")
        embed(user["user"], "client-key")
    return json.dumps(config)


def age_key(directory: Path) -> tuple[str, Path]:
    """A new age key made by the real age-keygen: its public key and the key file."""
    key_file = directory / "age.key"
    subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    public = next(line.split(": ", 1)[1] for line in key_file.read_text().splitlines()
                  if line.startswith("# public key: "))
    return public, key_file


def sops_encrypt(public: str, plain: str) -> str:
    """A YAML manifest encrypted with the real sops for the age recipient `public` (its
    `data` and `stringData` values)."""
    from afflux.controllers.kustomize._tools import find_tool

    return subprocess.run(
        [find_tool("sops"), "encrypt", "--input-type", "yaml", "--output-type", "yaml",
         "--age", public, "--encrypted-regex", "^(data|stringData)$", "/dev/stdin"],
        input=plain.encode(), check=True, capture_output=True).stdout.decode()
