"""Fixtures of the Kustomization tests: `env`, the module's `harness.kustomize_env.Env` (a
namespace with a source-controller and a kustomize-controller of its own).

A module that needs kustomize-controller flags names them in `KUSTOMIZE_ARGS`, one that
needs source-controller flags in `SOURCE_ARGS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import Env, make_env


@pytest.fixture(scope="module")
def env(request: pytest.FixtureRequest, cluster: Cluster, start_controller: Any,
        git_server: GitHTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One environment per test module, with the module's `KUSTOMIZE_ARGS` and
    `SOURCE_ARGS` (if any)."""
    args = getattr(request.module, "KUSTOMIZE_ARGS", ())
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory, *args,
                        source_args=tuple(getattr(request.module, "SOURCE_ARGS", ())))
