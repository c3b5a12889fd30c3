"""`--shards N`: the sharded Deployments and Services generated from the repository's own
install manifests (read without kustomize), as Flux's sharding guide lays them out."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from afflux.api._sharding import leader_lease_name
from afflux.cli._bootstrapgen import LOCAL_DEPLOYMENT_ANNOTATION, local_components
from afflux.cli._manifests import build_install_docs, find_config_dir
from afflux.cli._shards import (
    deployment_args,
    instance_lease,
    instance_names,
    shard_docs,
    shards_arg,
    watch_selector,
)

KEY = "sharding.fluxcd.io/key"


@pytest.fixture(scope="module")
def install() -> list[dict[str, Any]]:
    return build_install_docs(find_config_dir(), use_kustomize=False)


def _by_name(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == kind}


def test_no_shards_changes_nothing(install: list[dict[str, Any]]) -> None:
    assert shard_docs(install, 0) == install


def test_two_shards_of_source_kustomize_and_helm(install: list[dict[str, Any]]) -> None:
    docs = shard_docs(install, 2)
    deployments = _by_name(docs, "Deployment")
    before = _by_name(install, "Deployment")
    assert set(deployments) == set(before) | {
        f"{c}-shard{i}" for c in ("source-controller", "kustomize-controller",
                                  "helm-controller") for i in (1, 2)}
    for name in ("source-controller", "kustomize-controller", "helm-controller"):
        assert watch_selector(deployment_args(deployments[name])) == f"!{KEY}"
        for i in (1, 2):
            shard = deployments[f"{name}-shard{i}"]
            assert watch_selector(deployment_args(shard)) == f"{KEY} in (shard{i})"
            # each Deployment selects its own Pods
            assert shard["spec"]["selector"]["matchLabels"]["app"] == f"{name}-shard{i}"
            assert shard["spec"]["template"]["metadata"]["labels"]["app"] == f"{name}-shard{i}"
            # one selector flag, the other args as the main instance has them
            args = deployment_args(shard)
            assert sum(a.startswith("--watch-label-selector") for a in args) == 1
            assert shard["metadata"]["labels"]["app.kubernetes.io/component"] == name
    unsharded = set(before) - {"source-controller", "kustomize-controller", "helm-controller"}
    assert unsharded
    for name in unsharded:
        assert deployments[name] == before[name]


def test_a_source_shard_serves_its_artifacts_behind_its_own_service(
        install: list[dict[str, Any]]) -> None:
    docs = shard_docs(install, 1)
    services = _by_name(docs, "Service")
    shard = _by_name(docs, "Deployment")["source-controller-shard1"]
    assert services["source-controller-shard1"]["spec"]["selector"] == {
        "app": "source-controller-shard1"}
    assert ("--storage-adv-addr=source-controller-shard1.$(RUNTIME_NAMESPACE).svc.cluster."
            "local.") in deployment_args(shard)
    assert "kustomize-controller-shard1" not in services


def test_local_shards_run_outside_the_cluster(install: list[dict[str, Any]]) -> None:
    docs = local_components(shard_docs(install, 1), ["source-controller"])
    shard = _by_name(docs, "Deployment")["kustomize-controller-shard1"]
    assert shard["spec"]["replicas"] == 0
    assert shard["metadata"]["annotations"][LOCAL_DEPLOYMENT_ANNOTATION] == "true"
    assert "source-controller-shard1" not in _by_name(docs, "Service")


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param([], "", id="none"),
    pytest.param(["--watch-label-selector=a=b"], "a=b", id="equals"),
    pytest.param(["--watch-label-selector", "!a"], "!a", id="separate-value"),
    pytest.param(["--watch-label-selector=a", "--watch-label-selector=b"], "b", id="last-wins"),
])
def test_watch_selector(args: list[str], expected: str) -> None:
    assert watch_selector(args) == expected


def test_instance_names_and_leases(install: list[dict[str, Any]]) -> None:
    assert instance_names(["source-controller", "notification-controller"], 2) == [
        "source-controller", "notification-controller", "source-controller-shard1",
        "source-controller-shard2"]
    deployments = _by_name(shard_docs(install, 1), "Deployment")
    assert instance_lease("helm-controller-shard1", deployments["helm-controller-shard1"]) \
        == leader_lease_name("helm-controller", f"{KEY} in (shard1)")
    assert instance_lease("helm-controller", deployments["helm-controller"]) \
        == leader_lease_name("helm-controller", f"!{KEY}")
    assert instance_lease("helm-controller", None) == "helm-controller-leader-election"


@pytest.mark.parametrize(("text", "ok"), [
    pytest.param("0", True, id="zero"), pytest.param("4", True, id="four"),
    pytest.param("-1", False, id="negative"), pytest.param("65", False, id="too-many"),
    pytest.param("two", False, id="not-a-number"),
])
def test_shards_arg(text: str, ok: bool) -> None:
    if ok:
        assert shards_arg(text) == int(text)
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            shards_arg(text)
