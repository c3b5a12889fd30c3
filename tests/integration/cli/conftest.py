"""Fixtures for the CLI's integration tests: `afflux` runs the CLI in-process against the
test cluster; `controller` starts a simulated Flux controller (see cli_harness);
`operators` runs the real source- and kustomize-controller for the test's namespace only
(what `bootstrap --local` expects); `env` is the kustomize test environment (a namespace
with its own source- and kustomize-controller and the Git server) for a whole module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Result, Run, SimulatedController, strip_finalizers

from afflux.cli import main
from afflux.cli.devenv import GitHTTPServer, free_port
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import Env, make_env
from harness.wait import eventually


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A namespace of its own watched by a real source- and kustomize-controller, for the
    module's tests (`harness.kustomize_env`)."""
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory)


@pytest.fixture
def helm_controller(env: Env, start_controller: Any) -> Iterator[Any]:
    """A helm-controller for `env`'s namespace, for one test; the namespace's HelmReleases
    are uninstalled (their finalizer) while it still runs, then it stops."""
    helm = start_controller("helm", "--watch-all-namespaces=false",
                            f"--namespace={env.namespace}")
    yield helm
    env.kubectl("delete", "helmreleases", "--all", "--wait=false")
    eventually(lambda: not env.kubectl("get", "helmreleases", "-o", "name").stdout.strip(),
               60, message="the HelmReleases uninstalled")
    helm.stop()


@pytest.fixture
def operators(start_controller: Any, flux_crds: Cluster, namespace: str,
              tmp_path: Path) -> Iterator[None]:
    """source- and kustomize-controller for this test's namespace only."""
    scope = ("--watch-all-namespaces=false", f"--namespace={namespace}",
             "--enable-leader-election")
    port = free_port()
    procs = [
        start_controller("source", *scope, f"--storage-path={tmp_path / 'storage'}",
                         f"--storage-addr=127.0.0.1:{port}",
                         f"--storage-adv-addr=127.0.0.1:{port}"),
        start_controller("kustomize", *scope),
    ]
    yield
    for proc in reversed(procs):
        proc.stop()
    strip_finalizers(flux_crds, namespace)


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
