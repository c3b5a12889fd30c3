"""`--watch-configs-label-selector` in helm-controller: started with Flux's documented
`owner!=helm` (every ConfigMap and Secret but Helm's release Secrets), it upgrades a
HelmRelease at once when a ConfigMap of its `valuesFrom` changes, though the ConfigMap does
not carry the default `reconcile.fluxcd.io/watch: Enabled` label (the interval is 10m).
The real helm-controller and source-controller run as processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import HelmEnv, life_repository, release, start_helm_env
from source_env import obj_name

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.wait import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, helm_tool: HelmTool,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmEnv]:
    yield from start_helm_env(cluster, start_controller, helm_tool, tmp_path_factory,
                              "helmcfgsel", "--watch-configs-label-selector=owner!=helm")


@pytest.fixture(scope="module")
def repo(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
         tmp_path_factory: pytest.TempPathFactory) -> str:
    return life_repository(env, helm_tool, helm_repo_server, tmp_path_factory)


def test_an_unlabelled_values_configmap_the_selector_selects_is_watched(
        env: HelmEnv, repo: str) -> None:
    cm = obj_name("values")
    env.source.core.create_namespaced_config_map(env.namespace, {
        "metadata": {"name": cm}, "data": {"values.yaml": "colour: blue\n"}})  # no label
    name = release(env, repo, {}, interval="10m",
                   valuesFrom=[{"kind": "ConfigMap", "name": cm}])
    env.ready(name, "InstallSucceeded")
    env.source.core.patch_namespaced_config_map(cm, env.namespace, {
        "data": {"values.yaml": "colour: green\n"}})

    def upgraded() -> bool:
        values = json.loads(env.helm_run("get", "values", name, "-o", "json"))
        assert values.get("colour") == "green", values
        return True

    # the interval is 10m: only the ConfigMap watch can bring the new value in this time
    eventually(upgraded, 60, message="the release upgraded with the ConfigMap's new values")
    assert [r["status"] for r in env.helm_history(name)] == ["superseded", "deployed"]
    env.delete(name)
