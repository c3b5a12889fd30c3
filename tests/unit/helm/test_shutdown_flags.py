"""helm-controller's stop flags wired into the operator: `--graceful-shutdown-timeout` (Go
duration; 0 at once, negative no limit) and, with `--feature-gates=OOMWatch=true`, the OOM
watch as a supervised task (files in a temporary directory; nothing is read at import)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from kubernetes import client

from afflux.controllers.helm import handlers
from afflux.controllers.helm._oomwatch import OOMWatchError
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
    assert "OOM watch" not in operator._supervised  # not without the feature gate


def test_the_oom_watch_runs_only_with_its_gate(tmp_path: Path) -> None:
    (tmp_path / "max").write_text("1000\n")
    (tmp_path / "cur").write_text("10\n")
    paths = [f"--oom-watch-max-memory-path={tmp_path / 'max'}",
             f"--oom-watch-current-memory-path={tmp_path / 'cur'}"]
    assert "OOM watch" not in _operator(paths)._supervised
    assert "OOM watch" in _operator(["--feature-gates=OOMWatch=true", *paths])._supervised


def test_an_oom_watch_without_a_limit_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "max").write_text("max\n")
    (tmp_path / "cur").write_text("10\n")
    with pytest.raises(OOMWatchError, match="set a memory limit"):
        _operator(["--feature-gates=OOMWatch=true",
                   f"--oom-watch-max-memory-path={tmp_path / 'max'}",
                   f"--oom-watch-current-memory-path={tmp_path / 'cur'}"])
