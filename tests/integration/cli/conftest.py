"""Fixtures for the CLI's integration tests: `afflux` runs the CLI in-process against the
test cluster; `controller` starts a simulated Flux controller (see cli_harness)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cli_harness import Result, Run, SimulatedController

from afflux.cli import main
from harness.fixtures_cluster import Cluster


@pytest.fixture
def afflux(flux_crds: Cluster, capsys: pytest.CaptureFixture[str]) -> Run:
    """`afflux(*args)` runs the CLI in-process against the test cluster."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(["--kubeconfig", str(flux_crds.kubeconfig), *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def controller(flux_crds: Cluster, namespace: str) -> Iterator[Callable[..., SimulatedController]]:
    """`controller(kind, mode=..., message=..., status=...)` starts a simulated controller for
    `kind` in the test's namespace (stopped at the end of the test)."""
    started: list[SimulatedController] = []

    def start(kind: str, **kwargs: Any) -> SimulatedController:
        sim = SimulatedController(flux_crds, namespace, kind, **kwargs)
        started.append(sim.__enter__())
        return sim

    yield start
    for sim in started:
        sim.__exit__()
