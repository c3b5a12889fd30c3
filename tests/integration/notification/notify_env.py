"""What the notification integration tests share: `Env` (a namespace, a restartable
notification-controller process, the API clients, and helpers to create Secrets, Providers,
Alerts and Receivers, record core Events and POST Flux events), and `name()`.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
import uuid
from base64 import b64encode
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from afflux.cli.devenv import GitHTTPServer, free_port
from harness.fixtures_cluster import Cluster
from harness.sink import HTTPSink
from harness.wait import eventually

__all__ = ["GROUP", "KINDS", "SOURCE", "TIMEOUT", "Env", "name", "notification_env",
           "watched_namespace"]

GROUP = "notification.toolkit.fluxcd.io"
SOURCE = "source.toolkit.fluxcd.io"
TIMEOUT = 60.0


#: kind -> (group, version, plural) of what the tests create
KINDS = {
    "Provider": (GROUP, "v1beta3", "providers"),
    "Alert": (GROUP, "v1beta3", "alerts"),
    "Receiver": (GROUP, "v1", "receivers"),
    "GitRepository": (SOURCE, "v1", "gitrepositories"),
    "Kustomization": ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
    "ImageRepository": ("image.toolkit.fluxcd.io", "v1", "imagerepositories"),
    "ImagePolicy": ("image.toolkit.fluxcd.io", "v1", "imagepolicies"),
}


def watched_namespace(cluster: Cluster, prefix: str) -> tuple[str, list[str]]:
    """A new namespace `<prefix>-<random>`, and the flags that make an operator watch only it."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    return namespace, ["--watch-all-namespaces=false", f"--namespace={namespace}"]


def name(prefix: str = "n") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Env:
    """The module's namespace, its notification-controller (restartable) and the clients."""

    sink: HTTPSink
    git: GitHTTPServer
    start_controller: Any
    cluster: Cluster
    namespace: str
    api: k8s.CustomObjectsApi
    core: k8s.CoreV1Api
    args: list[str]
    events_port: int
    receiver_port: int
    controller: Any = None
    controller_env: dict[str, str] | None = None  # extra environment of the process

    # --- notification-controller ------------------------------------------------------

    def start(self) -> None:
        self.controller = self.start_controller("notification", *self.args,
                                                env=self.controller_env)

    def stop(self) -> None:
        self.controller.stop()

    # --- objects ---------------------------------------------------------------------------

    def secret(self, secret_name: str, data: Mapping[str, str]) -> str:
        self.core.create_namespaced_secret(self.namespace, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name},
            "data": {k: b64encode(v.encode()).decode() for k, v in data.items()}})
        return secret_name

    def create(self, kind: str, obj_name: str, spec: Mapping[str, Any],
               annotations: Mapping[str, str] | None = None) -> str:
        group, version, plural = KINDS[kind]
        meta: dict[str, Any] = {"name": obj_name}
        if annotations:
            meta["annotations"] = dict(annotations)
        self.api.create_namespaced_custom_object(group, version, self.namespace, plural, {
            "apiVersion": f"{group}/{version}", "kind": kind, "metadata": meta,
            "spec": dict(spec)})
        return obj_name

    def get(self, kind: str, obj_name: str) -> dict[str, Any]:
        group, version, plural = KINDS[kind]
        return self.api.get_namespaced_custom_object(group, version, self.namespace, plural,
                                                     obj_name)

    def ready(self, kind: str, obj_name: str) -> dict[str, Any]:
        return self.condition(kind, obj_name, "True")

    def condition(self, kind: str, obj_name: str, status: str, reason: str | None = None
                  ) -> dict[str, Any]:
        def check() -> dict[str, Any]:
            obj = self.get(kind, obj_name)
            cond = next((c for c in (obj.get("status") or {}).get("conditions") or ()
                         if c["type"] == "Ready"), None)
            assert cond is not None and cond["status"] == status, cond
            assert reason is None or cond["reason"] == reason, cond
            return cond
        return eventually(check, TIMEOUT, message=f"{kind} {obj_name} Ready={status} {reason}")

    def provider(self, spec: Mapping[str, Any]) -> str:
        provider_name = self.create("Provider", name("p"), spec)
        self.ready("Provider", provider_name)
        return provider_name

    def alert(self, provider_name: str, **spec: Any) -> str:
        spec.setdefault("eventSources", [{"kind": "GitRepository", "name": "*"}])
        alert_name = self.create("Alert", name("a"), {"providerRef": {"name": provider_name},
                                                      **spec})
        self.ready("Alert", alert_name)
        return alert_name

    def record_event(self, obj_name: str, message: str, *, reason: str = "NewArtifact",
                     revision: str = "main@sha1:" + "1" * 40) -> str:
        """A core Event about a GitRepository, as source-controller records it."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = self.core.create_namespaced_event(self.namespace, {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{obj_name}.{uuid.uuid4().hex[:12]}",
                         "annotations": {"source.toolkit.fluxcd.io/revision": revision}},
            "involvedObject": {"apiVersion": f"{SOURCE}/v1", "kind": "GitRepository",
                               "name": obj_name, "namespace": self.namespace,
                               "uid": str(uuid.uuid4())},
            "reason": reason, "message": message, "type": "Normal",
            "source": {"component": "source-controller"},
            "reportingComponent": "source-controller", "reportingInstance": "test",
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1})
        return str(event.metadata.name)

    def post_event(self, event: Mapping[str, Any]) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{self.events_port}/",
                                         data=json.dumps(event).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as err:
            return err.code

    def flux_event(self, obj_name: str, message: str, severity: str = "info") -> dict[str, Any]:
        return {"involvedObject": {"apiVersion": f"{SOURCE}/v1", "kind": "GitRepository",
                                   "name": obj_name, "namespace": self.namespace},
                "severity": severity, "timestamp": datetime.now(UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"), "message": message, "reason": "Info",
                "metadata": {"source.toolkit.fluxcd.io/revision": "main@sha1:" + "2" * 40},
                "reportingController": "source-controller"}


@contextlib.contextmanager
def notification_env(cluster: Cluster, start_controller: Any, git: GitHTTPServer,
                     namespace: str, controller_env: dict[str, str] | None = None,
                     extra_args: tuple[str, ...] = ()) -> Iterator[Env]:
    """notification-controller watching `namespace` (which exists), with its event API and
    receiver on free ports (and `extra_args`), a recording sink; the namespace is deleted at
    the end."""
    events_port, receiver_port = free_port(), free_port()
    args = ["--watch-all-namespaces=false", f"--namespace={namespace}",
            f"--events-addr=127.0.0.1:{events_port}", f"--receiverAddr=127.0.0.1:{receiver_port}",
            *extra_args]
    api_client = cluster.api_client()
    with HTTPSink() as sink:
        env = Env(sink, git, start_controller, cluster, namespace,
                  k8s.CustomObjectsApi(api_client), k8s.CoreV1Api(api_client), args, events_port,
                  receiver_port, controller_env=controller_env)
        env.start()
        try:
            yield env
        finally:
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
            api_client.close()
