"""helm-controller's stop flags wired into the operator: `--graceful-shutdown-timeout` (Go
duration; 0 at once, negative no limit)."""

from __future__ import annotations

import math

import pytest
from kubernetes import client

from afflux.controllers.helm import handlers
from afflux.controllers.runtime import KubernetesClient, Operator, parse_options


def _operator(argv: list[str]) -> Operator:
    options = parse_options("helm-controller", ["--metrics-addr=0", "--health-addr=0", *argv],
                            handlers.add_flags)
    api_client = client.ApiClient(client.Configuration())
    operator = Operator("helm-controller", options, api_client=api_client,
                        kube=KubernetesClient(api_client, max_workers=1))
    handlers.setup(operator)
    return operator


@pytest.mark.parametrize(
    ("argv", "timeout"),
    [
        pytest.param([], 600.0, id="flux-default-10m"),
        pytest.param(["--graceful-shutdown-timeout=30s"], 30.0, id="30s"),
        pytest.param(["--graceful-shutdown-timeout=0s"], 0.0, id="zero-stops-at-once"),
        pytest.param(["--graceful-shutdown-timeout=-1s"], math.inf, id="negative-no-limit"),
    ],
)
def test_the_graceful_shutdown_timeout_is_the_operators(argv: list[str], timeout: float) -> None:
    operator = _operator(argv)
    assert operator._graceful is not None
    assert operator._graceful[0] == timeout
    assert len(operator._graceful[1]) == 1  # cancelling the helm actions in progress

