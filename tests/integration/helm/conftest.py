"""The HelmRelease tests drive a source-controller too: its test helpers (`source_env`) live
with the source tests; make them importable here. Each test module gets its own `env` (a
source env and a helm-controller; the module's `ENV_LABEL` names its namespace) and `repo`
(a HelmRepository serving the chart `life`, `helm_env.life_repository`)."""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "source"))

from helm_env import HelmEnv, life_repository, start_helm_env  # noqa: E402

from harness.fixtures_cluster import Cluster  # noqa: E402
from harness.fixtures_helm import ChartRepoServer, HelmTool  # noqa: E402


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, helm_tool: HelmTool,
        tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
        ) -> Iterator[HelmEnv]:
    label = getattr(request.module, "ENV_LABEL", "helm")
    args = getattr(request.module, "HELM_ARGS", ())
    yield from start_helm_env(cluster, start_controller, helm_tool, tmp_path_factory, label,
                              *args)


@pytest.fixture(scope="module")
def repo(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
         tmp_path_factory: pytest.TempPathFactory) -> str:
    return life_repository(env, helm_tool, helm_repo_server, tmp_path_factory)
