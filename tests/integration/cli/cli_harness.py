"""Helpers for the CLI's integration tests: running `afflux` in-process, applying manifests,
writing status like a controller, and `SimulatedController`, which plays a Flux controller
(answering reconcile requests by writing `status.lastHandledReconcileAt` and Ready through the
status subresource) since the operators are not part of these tests."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes import client, watch

from afflux.api import kind_by_name
from harness.fixtures_cluster import Cluster

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


@dataclass
class Result:
    """What one `afflux` run printed and returned."""

    code: int
    out: str
    err: str


Run = Callable[..., Result]


def apply(cluster: Cluster, namespace: str, *docs: dict[str, Any] | str) -> None:
    """kubectl apply the documents (dicts or YAML text) in `namespace`."""
    texts = [d if isinstance(d, str) else yaml.safe_dump(d) for d in docs]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input="\n---\n".join(texts))


def get_json(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    """The object as JSON, managedFields included."""
    out = cluster.kubectl("get", "-n", namespace, kind, name, "-o", "json",
                          "--show-managed-fields").stdout
    data: dict[str, Any] = json.loads(out)
    return data


def patch_status(cluster: Cluster, namespace: str, kind: str, name: str,
                 status: dict[str, Any]) -> None:
    cluster.kubectl("patch", "-n", namespace, kind, name, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": status}))


def ready_condition(status: str, message: str, generation: int, reason: str = "") -> dict:
    return {
        "type": "Ready", "status": status, "message": message,
        "reason": reason or ("Succeeded" if status == "True" else "Failed"),
        "lastTransitionTime": "2024-05-01T12:00:00Z", "observedGeneration": generation,
    }


@dataclass
class SimulatedController:
    """Answers reconcile requests (and new generations) of one kind in one namespace, the way
    a Flux controller reports them: `ready` sets Ready=True with `status` merged in, `fail`
    sets Ready=False with `message`, `ignore` does nothing. Suspended objects are left alone.
    `handled` lists (name, requestedAt) of the requests it answered."""

    cluster: Cluster
    namespace: str
    kind: str
    mode: str = "ready"
    message: str = "reconciled"
    status: dict[str, Any] = field(default_factory=dict)
    handled: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cls = kind_by_name(self.kind)
        self._stop = threading.Event()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.errors: list[str] = []

    def respond(self, obj: dict[str, Any]) -> None:
        meta, status = obj["metadata"], obj.get("status") or {}
        if (obj.get("spec") or {}).get("suspend") or self.mode == "ignore":
            return
        requested = (meta.get("annotations") or {}).get(REQUESTED_AT)
        generation = meta.get("generation", 1)
        new_request = (requested and requested != status.get("lastHandledReconcileAt")
                       and (meta["name"], requested) not in self.handled)  # events may lag
        if not new_request and status.get("observedGeneration") == generation:
            return
        ok = self.mode == "ready"
        patch: dict[str, Any] = {
            "observedGeneration": generation,
            "conditions": [ready_condition("True" if ok else "False", self.message, generation)],
        }
        if ok:
            patch.update(self.status)
        if requested:
            patch["lastHandledReconcileAt"] = requested
            self.handled.append((meta["name"], requested))
        patch_status(self.cluster, self.namespace, self._cls.PLURAL, meta["name"], patch)

    def _run(self) -> None:
        api = client.CustomObjectsApi(self.cluster.api_client())
        while not self._stop.is_set():
            try:
                for event in self._watch.stream(
                    api.list_namespaced_custom_object, self._cls.GROUP, self._cls.VERSION,
                    self.namespace, self._cls.PLURAL, timeout_seconds=5,
                ):
                    if self._stop.is_set():
                        return
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.respond(event["object"])
            except Exception as err:  # noqa: BLE001 - shown by the test that depends on it
                if not self._stop.is_set():
                    self.errors.append(f"{type(err).__name__}: {err}")

    def __enter__(self) -> SimulatedController:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watch.stop()
        self._thread.join(timeout=10)


def local_bootstrap(namespace: str, *flags: str, timeout: str = "2m",
                    path: str = "clusters/test") -> list[str]:
    """The args of `bootstrap git --local` into `namespace` with source- and
    kustomize-controller (what the `operators` fixture runs), plus `flags`."""
    return ["bootstrap", "git", "-n", namespace, "--local", "--silent",
            "--components=source-controller,kustomize-controller", f"--timeout={timeout}",
            f"--path={path}", *flags]


def https_flags(server: Any, repo: str, ca_cert: Any) -> list[str]:
    """`--url` (HTTPS) and the credentials of the test Git server's repository `repo`; the
    cluster syncs over HTTPS with them too (`--token-auth`)."""
    return [f"--url={server.url(repo, 'https')}", f"--username={server.username}",
            f"--password={server.password}", f"--ca-file={ca_cert}", "--token-auth"]


def new_repo(server: Any, prefix: str) -> str:
    """A new empty repository `<prefix>-<random>` on the test Git server; its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    server.create_repo(name)
    return name


def private_git_source(env: Any) -> tuple[Any, str, str]:
    """A private repository on the test Git server and a GitRepository (in the kustomize
    test environment `env`) that reads it with basic-auth credentials from its secretRef:
    (the harness's Repo, the GitRepository's name, the repository's name on the server)."""
    from harness.fixtures_servers import GitAuth  # noqa: PLC0415 - only these tests need it
    from harness.kustomize_env import Repo  # noqa: PLC0415

    name = f"cli/{uuid.uuid4().hex[:10]}"
    env.git.create_repo(name)
    repo = Repo(env.git.url(name), GitAuth.for_server(env.git))
    source = f"src-{uuid.uuid4().hex[:6]}"
    env.apply({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": f"{source}-auth", "namespace": env.namespace},
               "stringData": {"username": env.git.username, "password": env.git.password}},
              {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": source, "namespace": env.namespace},
               "spec": {"url": repo.url, "interval": "10m", "ref": {"branch": "main"},
                        "secretRef": {"name": f"{source}-auth"}}})
    return repo, source, name


FLUX_KINDS = "gitrepositories.source.toolkit.fluxcd.io,kustomizations.kustomize.toolkit.fluxcd.io"


def strip_finalizers(cluster: Cluster, namespace: str) -> None:
    out = cluster.kubectl("get", FLUX_KINDS, "-n", namespace, "-o", "name", check=False).stdout
    for name in out.split():
        cluster.kubectl("patch", "-n", namespace, name, "--type=merge",
                        "-p", '{"metadata":{"finalizers":null}}', check=False)
