"""A source-controller process on the test cluster, and how tests talk to its objects.

`start_source_env(...)` creates a namespace, starts `python -m afflux.controllers.source`
watching only that namespace with its own storage directory and artifact port, and
returns a `SourceEnv`: create/get/patch/delete objects of any source kind, Secrets,
waits for Ready or a failure reason, the artifact's bytes (digest-checked) and members,
the files in storage, the object's Events. Used by the OCIRepository, HelmRepository,
HelmChart and Bucket tests (each module starts its own controller).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.request
import uuid
from base64 import b64encode
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from afflux.cli.devenv import free_port
from harness.fixtures_cluster import Cluster
from harness.wait import eventually

GROUP, VERSION = "source.toolkit.fluxcd.io", "v1"
PLURALS = {
    "GitRepository": "gitrepositories",
    "OCIRepository": "ocirepositories",
    "HelmRepository": "helmrepositories",
    "HelmChart": "helmcharts",
    "Bucket": "buckets",
}
TIMEOUT = 60.0


def obj_name(prefix: str = "s") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class SourceEnv:
    cluster: Cluster
    namespace: str
    storage: Path
    api: k8s.CustomObjectsApi
    core: k8s.CoreV1Api
    controller: Any

    # objects ------------------------------------------------------------------------

    def secret(self, name: str, data: Mapping[str, str | bytes], type_: str = "Opaque") -> str:
        body = {
            "apiVersion": "v1", "kind": "Secret", "type": type_,
            "metadata": {"name": name, "namespace": self.namespace},
            "data": {k: b64encode(v.encode() if isinstance(v, str) else v).decode()
                     for k, v in data.items()},
        }
        try:
            self.core.create_namespaced_secret(self.namespace, body)
        except ApiException as err:
            if err.status != 409:
                raise
            self.core.replace_namespaced_secret(name, self.namespace, body)
        return name

    def create(self, kind: str, name: str, spec: Mapping[str, Any]) -> str:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": kind,
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"interval": "10m", **spec},
        }
        self.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind],
                                                 body)
        return name

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                     PLURALS[kind], name)

    def exists(self, kind: str, name: str) -> bool:
        try:
            self.get(kind, name)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def patch(self, kind: str, name: str, patch: Mapping[str, Any]) -> None:
        self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind],
                                                name, patch)

    def patch_spec(self, kind: str, name: str, spec: Mapping[str, Any]) -> None:
        self.patch(kind, name, {"spec": dict(spec)})

    def delete(self, kind: str, name: str) -> None:
        self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind],
                                                 name)

    def request_reconcile(self, kind: str, name: str) -> str:
        stamp = f"{datetime.now(UTC).isoformat()}-{uuid.uuid4().hex[:6]}"
        self.patch(kind, name, {"metadata": {"annotations": {
            "reconcile.fluxcd.io/requestedAt": stamp}}})
        return stamp

    # reading ----------------------------------------------------------------------------

    @staticmethod
    def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] == type_:
                return cond
        return None

    def wait_ready(self, kind: str, name: str, revision: str | None = None,
                   check: Callable[[dict[str, Any]], Any] | None = None,
                   timeout: float = TIMEOUT) -> dict[str, Any]:
        """The object once Ready=True for its current generation (at `revision`, and
        passing `check` if given: it asserts, or returns False for "not yet")."""

        def ready() -> dict[str, Any]:
            obj = self.get(kind, name)
            cond = self.condition(obj, "Ready")
            assert cond is not None, f"no Ready condition yet: {obj.get('status')}"
            assert cond["status"] == "True", f"Ready: {cond}"
            assert obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
            if revision is not None:
                assert obj["status"]["artifact"]["revision"] == revision, obj["status"]
            if check is not None:
                assert check(obj) is not False, f"check failed on {obj['status']}"
            return obj

        return eventually(ready, timeout, message=f"{kind} {name} Ready")

    def wait_failed(self, kind: str, name: str, reason: str, *, stalled: bool | None = None,
                    after: str | None = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The object once Ready=False with `reason` for its current generation (and, with
        `after`, once it handled that requestedAt)."""

        def failed() -> dict[str, Any]:
            obj = self.get(kind, name)
            cond = self.condition(obj, "Ready")
            assert cond is not None and cond["status"] == "False", f"Ready: {cond}"
            assert cond["reason"] == reason, f"Ready: {cond}"
            assert cond.get("observedGeneration") == obj["metadata"]["generation"]
            if after is not None:
                assert obj["status"].get("lastHandledReconcileAt") == after
            if stalled is not None:
                stall = self.condition(obj, "Stalled")
                assert (stall is not None and stall["status"] == "True") is stalled, stall
            return obj

        return eventually(failed, timeout, message=f"{kind} {name} failing with {reason}")

    def check_suspend(self, kind: str, spec: Mapping[str, Any], revision: str) -> str:
        """An object of `spec` created with `suspend: true` does nothing (no conditions, no
        requestedAt handled, nothing stored) while a twin created after it becomes Ready; on
        resume it becomes Ready at `revision`. Returns the twin's name."""
        suspended = self.create(kind, obj_name(), {**spec, "suspend": True})
        marker = self.create(kind, obj_name(), spec)  # created after: once Ready, both seen
        self.wait_ready(kind, marker)
        stamp = self.request_reconcile(kind, suspended)
        marker_stamp = self.request_reconcile(kind, marker)
        eventually(lambda: self.get(kind, marker)["status"].get("lastHandledReconcileAt")
                   == marker_stamp, TIMEOUT)
        status = self.get(kind, suspended).get("status") or {}
        assert not status.get("conditions") and status.get("lastHandledReconcileAt") != stamp
        assert self.stored_files(kind, suspended) == []
        self.patch_spec(kind, suspended, {"suspend": False})
        self.wait_ready(kind, suspended, revision)
        return marker

    def wait_moved_by_interval(self, kind: str, before: Mapping[str, Any],
                               timeout: float = TIMEOUT) -> dict[str, Any]:
        """After the remote changed (and nobody asked for a reconcile): the object `before`
        (Ready, with a short `spec.interval`) once its interval alone stored a new artifact.
        The new artifact's lastUpdateTime is later, the Ready condition's lastTransitionTime
        is not earlier and not after the new artifact, and no requestedAt was handled."""
        name = before["metadata"]["name"]
        old = before["status"]["artifact"]
        after = self.wait_ready(kind, name, check=lambda o: o["status"]["artifact"]["revision"]
                                != old["revision"], timeout=timeout)
        ready_before, ready_after = self.condition(before, "Ready"), self.condition(after, "Ready")
        assert ready_before and ready_after
        assert rfc3339(ready_after["lastTransitionTime"]) >= rfc3339(
            ready_before["lastTransitionTime"])
        assert rfc3339(after["status"]["artifact"]["lastUpdateTime"]) > rfc3339(
            old["lastUpdateTime"])
        assert rfc3339(ready_after["lastTransitionTime"]) <= rfc3339(
            after["status"]["artifact"]["lastUpdateTime"])
        assert after["status"].get("lastHandledReconcileAt") == before["status"].get(
            "lastHandledReconcileAt")
        return after

    def events(self, name: str) -> list[Any]:
        return self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}").items

    def event_reasons(self, name: str) -> list[str]:
        return [e.reason for e in self.events(name)]

    @staticmethod
    def download(artifact: Mapping[str, Any]) -> bytes:
        with urllib.request.urlopen(artifact["url"], timeout=10) as resp:
            data = resp.read()
        assert f"sha256:{hashlib.sha256(data).hexdigest()}" == artifact["digest"]
        assert len(data) == artifact["size"]
        return data

    def members(self, artifact: Mapping[str, Any]) -> dict[str, bytes]:
        """The regular files of a tar.gz artifact (name -> content)."""
        return tar_members(self.download(artifact))

    def stored_files(self, kind: str, name: str) -> list[str]:
        directory = self.storage / kind.lower() / self.namespace / name
        if not directory.is_dir():
            return []
        return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def tar_members(data: bytes) -> dict[str, bytes]:
    result = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            f = tar.extractfile(member)
            assert f is not None
            result[member.name] = f.read()
    return result


def rfc3339(value: str) -> datetime:
    """A status timestamp (`2026-01-01T00:00:00Z`, as metav1.Time writes it), parsed."""
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)


def start_source_env(cluster: Cluster, start_controller: Any,
                     tmp_path_factory: pytest.TempPathFactory, label: str,
                     env: dict[str, str] | None = None, args: Sequence[str] = ()
                     ) -> Iterator[SourceEnv]:
    """Generator for a module fixture: namespace + controller (with the extra flags
    `args`) + SourceEnv."""
    namespace = f"t-{label}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    storage = tmp_path_factory.mktemp(f"{label}-storage")
    port = free_port()
    controller = start_controller(
        "source", f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{port}",
        f"--storage-adv-addr=127.0.0.1:{port}", "--watch-all-namespaces=false",
        f"--namespace={namespace}", "--artifact-retention-ttl=1s", *args, env=env,
    )
    api_client = cluster.api_client()
    try:
        yield SourceEnv(cluster, namespace, storage, k8s.CustomObjectsApi(api_client),
                        k8s.CoreV1Api(api_client), controller)
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        api_client.close()
