"""The storage namespace, as Flux: the release records in `spec.storageNamespace` (else the
HelmRelease's namespace) while the objects go to `targetNamespace`; the user's `helm -n
<storage>` sees the release; a change of storage namespace is an uninstall then an install;
records an interrupted action left in the release namespace are moved back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import TIMEOUT, HelmEnv, cond, release
from kubernetes.client.rest import ApiException

from harness.fixtures_cluster import Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration
ENV_LABEL = "helmstore"


@pytest.fixture
def namespaces(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """(target, storage): two fresh namespaces, deleted afterwards."""
    suffix = uuid.uuid4().hex[:6]
    names = (f"t-helmtarget-{suffix}", f"t-helmstorage-{suffix}")
    for name in names:
        cluster.kubectl("create", "namespace", name)
    yield names
    for name in names:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def helm_in(env: HelmEnv, namespace: str, *args: str) -> Any:
    return json.loads(env.helm.run(*args, "-o", "json", "--kubeconfig",
                                   str(env.source.cluster.kubeconfig), "--namespace", namespace))


def records(env: HelmEnv, namespace: str, release_name: str) -> list[str]:
    secrets = env.source.core.list_namespaced_secret(
        namespace, label_selector=f"owner=helm,name={release_name}").items
    return sorted(s.metadata.name for s in secrets)


def configmap_in(env: HelmEnv, namespace: str, name: str) -> dict[str, str] | None:
    try:
        return env.source.core.read_namespaced_config_map(name, namespace).data
    except ApiException as err:
        if err.status == 404:
            return None
        raise


@pytest.mark.flux_fields("HelmRelease", "spec.storageNamespace", "spec.targetNamespace",
                         "status.storageNamespace", "status.observedGeneration")
def test_records_in_the_storage_namespace_objects_in_the_target(
        env: HelmEnv, repo: str, namespaces: tuple[str, str]) -> None:
    target, storage = namespaces
    name = release(env, repo, {"test": "0"}, targetNamespace=target, test={"enable": True})
    rel = f"{target}-{name}"
    obj = env.ready(name, "TestSucceeded")
    assert obj["status"]["storageNamespace"] == env.namespace  # Flux's default
    assert configmap_in(env, target, rel) == {"replicas": "1"}
    assert records(env, env.namespace, rel) == [f"sh.helm.release.v1.{rel}.v1"]
    assert records(env, target, rel) == []
    assert [r["name"] for r in helm_in(env, env.namespace, "list", "-a")] == [rel]
    assert helm_in(env, target, "list", "-a") == []
    assert helm_in(env, env.namespace, "get", "values", rel) == {"test": "0"}

    # an upgrade: the records stay in the storage namespace
    env.patch_spec(name, {"values": {"test": "0", "replicas": 2}})
    env.ready(name, check=lambda o: o["status"]["history"][0]["version"] == 2)
    assert configmap_in(env, target, rel) == {"replicas": "2"}
    assert len(records(env, env.namespace, rel)) == 2 and records(env, target, rel) == []

    # records an interrupted action left in the release namespace are moved back
    for secret in env.source.core.list_namespaced_secret(
            env.namespace, label_selector=f"owner=helm,name={rel}").items:
        body = env.source.core.api_client.sanitize_for_serialization(secret)
        body["metadata"] = {k: body["metadata"][k] for k in ("name", "labels")}
        env.source.core.create_namespaced_secret(target, body)
        env.source.core.delete_namespaced_secret(secret.metadata.name, env.namespace)
    stamp = env.request(name)
    env.ready(name, check=lambda o: o["status"].get("lastHandledReconcileAt") == stamp)
    assert len(records(env, env.namespace, rel)) == 2 and records(env, target, rel) == []
    assert [r["revision"] for r in helm_in(env, env.namespace, "history", rel)] == [1, 2]

    # spec.storageNamespace: elsewhere now (Flux: uninstall, then install there)
    env.patch_spec(name, {"storageNamespace": storage})
    obj = env.ready(name, check=lambda o: o["status"].get("storageNamespace") == storage
                    and o["status"]["observedGeneration"] == o["metadata"]["generation"])
    assert cond(obj, "Released")["reason"] == "InstallSucceeded"
    assert records(env, storage, rel) == [f"sh.helm.release.v1.{rel}.v1"]
    assert records(env, env.namespace, rel) == [] and records(env, target, rel) == []
    assert configmap_in(env, target, rel) == {"replicas": "2"}
    [history] = helm_in(env, storage, "history", rel)
    assert history["status"] == "deployed"

    # deleted: uninstalled from the target, records gone from the storage namespace
    env.delete(name)
    eventually(lambda: env.gone(name), TIMEOUT, message="HelmRelease deleted")
    assert records(env, storage, rel) == [] and records(env, target, rel) == []
    assert configmap_in(env, target, rel) is None
