"""Health checks fail fast, as Flux's kustomize-controller: with `wait: true`, a custom
resource whose `healthCheckExprs` `failed` expression is true fails the Kustomization at
once, while another object is still in progress and long before `spec.timeout`; with the
operator's `--feature-gates=DisableFailFastBehavior=true` the check waits on until the
timeout (the in-progress object could still become ready)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli.devenv import GitHTTPServer
from harness.crd import custom_resource_definition
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import Env, dump, make_env

pytestmark = pytest.mark.integration

FAIL_FAST, WAIT_ON = "fail fast (default)", "DisableFailFastBehavior=true"


@pytest.fixture(scope="module", params=[FAIL_FAST, WAIT_ON])
def env(request: pytest.FixtureRequest, cluster: Cluster, start_controller: Any,
        git_server: GitHTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    args = [] if request.param == FAIL_FAST else [f"--feature-gates={WAIT_ON}"]
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory, *args)


def fails_fast(env: Env) -> bool:
    return not any(WAIT_ON in arg for arg in env.kustomize_controller.argv)


@pytest.mark.flux_fields("Kustomization", "spec.healthCheckExprs[].failed")
def test_a_failed_object_ends_the_health_check_at_once(env: Env) -> None:
    group = f"ff{uuid.uuid4().hex[:8]}.test.afflux.dev"
    env.cluster.kubectl("apply", "-f", "-", input=json.dumps(custom_resource_definition(group, "Widget")))
    env.cluster.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}")

    def widget(name: str, phase: str) -> str:
        return dump({"apiVersion": f"{group}/v1", "kind": "Widget",
                     "metadata": {"name": name, "namespace": env.namespace},
                     "status": {"phase": phase}})

    exprs = [{"apiVersion": f"{group}/v1", "kind": "Widget",
              "failed": "status.phase == 'Broken'", "current": "status.phase == 'Ready'"}]
    repo, _ = env.repo({"broken.yaml": widget("broken", "Broken"),
                        "pending.yaml": widget("pending", "Pending")})
    fast = fails_fast(env)
    try:
        # fail fast: a 10m timeout, the failure within the helper's wait (TIMEOUT);
        # waiting on: a 15s timeout, then the failure names both objects
        ks = env.kustomization("ff", env.source(repo), wait=True, healthCheckExprs=exprs,
                               timeout="10m" if fast else "15s", retryInterval="10m")
        failed = env.wait_failed(ks, "HealthCheckFailed")
        broken = (f"Widget/{env.namespace}/broken status: 'Failed': healthCheckExprs: the "
                  "failed expression is true")
        assert broken in failed["message"], failed
        pending = f"Widget/{env.namespace}/pending status: 'InProgress'"
        if fast:
            assert "failed early due to failed objects" in failed["message"], failed
            assert pending not in failed["message"], failed
        else:
            assert "timeout waiting for" in failed["message"], failed
            assert pending in failed["message"], failed
    finally:
        env.cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)
