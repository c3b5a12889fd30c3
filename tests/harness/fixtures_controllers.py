"""Controller fixtures: the Flux CRDs on the cluster, and operators run as their own processes.

- `flux_crds` (session): applies config/crd/bases server-side and waits until every CRD
  is Established.
- `start_controller` (session): a factory, `start_controller("source", *extra_args)`,
  that runs `python -m afflux.controllers.<name>` against the test cluster with metrics
  and health on free loopback ports, waits for `/readyz`, and stops it at the end of the
  session. A controller that dies shows its own log in the failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
import yaml

from afflux.api._meta import FINALIZER
from afflux.cli.devenv import free_port
from afflux.cli.devenv._conversion import ConversionEndpoints

from .daemon import Daemon
from .fixtures_cluster import REPO, Cluster
from .leaks import find_leaks

CRD_DIR = REPO / "config" / "crd" / "bases"


@pytest.fixture(scope="session")
def flux_crds(cluster: Cluster) -> Cluster:
    return apply_crds(cluster)


def apply_crds(cluster: Cluster) -> Cluster:
    """Apply the Flux CRDs to `cluster` and wait until every one is Established.

    Their conversion webhooks point at this session's loopback ports (`conversion()`),
    where the operators `start_controller` runs serve them."""
    files = sorted(CRD_DIR.glob("*.yaml"))
    assert files, f"no CRDs in {CRD_DIR}: run `make manifests`"
    docs = conversion().crds(yaml.safe_load(f.read_text()) for f in files)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=afflux-tests",
                    "-f", "-", input="\n".join(json.dumps(d) for d in docs))
    names = [f"crd/{d['metadata']['name']}" for d in docs]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    return cluster


_CONVERSION: list[ConversionEndpoints] = []


def conversion() -> ConversionEndpoints:
    """This test session's conversion webhook ports and certificate (made on first use)."""
    if not _CONVERSION:
        cert_dir = Path(tempfile.mkdtemp(prefix="afflux-conversion-"))
        _CONVERSION.append(ConversionEndpoints.create(cert_dir))
    return _CONVERSION[0]


class ControllerProcess:
    """One operator process (a `Daemon`, ready when `/readyz` answers 200); `.log_text()`
    is its output so far."""

    def __init__(self, name: str, argv: list[str], log_path: Path, health_port: int,
                 metrics_port: int, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.health_port = health_port
        self.metrics_port = metrics_port
        self.daemon = Daemon(name, argv, log_path, cwd=REPO, env=env, tail=6000)
        self.daemon.spawn()

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        assert self.daemon.proc is not None
        return self.daemon.proc

    def log_text(self, tail: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-tail:])

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read().decode()

    def probe(self, path: str = "/healthz") -> int:
        """The status code of a health endpoint (0: no answer)."""
        url = f"http://127.0.0.1:{self.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return 0

    def alive(self) -> bool:
        return self.daemon.alive()

    def kill(self) -> None:
        """SIGKILL the operator's process group (a crash: nothing runs on the way out)."""
        self.daemon.kill()

    def restart(self) -> None:
        """Start the operator again with the same arguments (after `kill()` or a crash),
        logging to the same file, and wait until it is ready."""
        self.kill()
        self.daemon.spawn()
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        self.daemon.wait(lambda: self.probe("/readyz") == 200, timeout)

    def stop(self) -> None:
        self.daemon.stop(grace=15)


def stop_all(procs: Iterable[ControllerProcess]) -> None:
    """Stop operators side by side: SIGTERM to each, then wait for each (an operator takes
    seconds to shut down; one after the other, those seconds add up)."""
    procs = list(procs)
    for proc in procs:
        proc.daemon.terminate()
    for proc in procs:
        proc.stop()


StartController = Callable[..., ControllerProcess]


def controller_factory(kubeconfig: Path, logs: Path
                       ) -> tuple[StartController, list[ControllerProcess]]:
    """`start(name, *extra, env=None)` for operators against `kubeconfig`, and the list of
    what it started (the caller stops them)."""
    started: list[ControllerProcess] = []

    def start(name: str, *extra: str, env: dict[str, str] | None = None) -> ControllerProcess:
        module = name.replace("-", "_")
        health, metrics = free_port(), free_port()
        argv = [
            sys.executable, "-m", f"afflux.controllers.{module}",
            f"--kubeconfig={kubeconfig}",
            f"--metrics-addr=127.0.0.1:{metrics}",
            f"--health-addr=127.0.0.1:{health}",
            "--log-level=debug",
            *conversion().args(f"{name}-controller"),
            *extra,
        ]
        full_env = {**os.environ, **(env or {})}
        proc = ControllerProcess(
            name, argv, logs / f"{name}-{len(started)}.log", health, metrics, full_env
        )
        started.append(proc)
        proc.wait_ready()
        return proc

    return start, started


@pytest.fixture(scope="session")
def start_controller(
    flux_crds: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartController]:
    logs = tmp_path_factory.mktemp("controller-logs")
    start, started = controller_factory(flux_crds.kubeconfig, logs)
    yield start
    stop_all(reversed(started))
    leaks = find_leaks(said_by_operators(flux_crds, logs))
    release_orphans(flux_crds)
    assert not leaks, ("secret values the tests gave the operators show up in what they "
                       "said:\n" + "\n".join(leaks))


def said_by_operators(cluster: Cluster, logs: Path) -> dict[str, str]:
    """Everything the operators said, by where: their logs, the cluster's Events, and the
    status of every Flux object."""
    said = {f"log {p.name}": p.read_text(errors="replace") for p in sorted(logs.glob("*.log"))}
    events = cluster.kubectl("get", "events", "-A", "-o", "json", check=False)
    said["events"] = events.stdout
    proc = cluster.kubectl("get", _flux_kinds(), "-A", "-o", "json", check=False)
    if proc.returncode == 0:
        for item in json.loads(proc.stdout).get("items", []):
            meta = item.get("metadata", {})
            where = f"status of {item.get('kind')} {meta.get('namespace')}/{meta.get('name')}"
            said[where] = json.dumps(item.get("status") or {})
    return said


def _flux_kinds() -> str:
    return ",".join(f.stem.split("_", 1)[1] + "." + f.stem.split("_", 1)[0]
                    for f in sorted(CRD_DIR.glob("*.yaml")))


def release_orphans(cluster: Cluster) -> None:
    """Drop `finalizers.fluxcd.io` from Flux objects that are being deleted.

    The test controllers have stopped, so nobody else will: without this, objects a test
    deleted late (and their namespaces) would stay Terminating on a shared cluster.
    """
    proc = cluster.kubectl("get", _flux_kinds(), "-A", "-o", "json", check=False)
    if proc.returncode != 0:
        return
    for item in json.loads(proc.stdout).get("items", []):
        meta = item.get("metadata", {})
        if meta.get("deletionTimestamp") and FINALIZER in (meta.get("finalizers") or []):
            kind = f"{item['kind'].lower()}.{item['apiVersion'].split('/')[0]}"
            cluster.kubectl(
                "-n", meta["namespace"], "patch", kind, meta["name"], "--type=merge",
                "-p", json.dumps({"metadata": {"finalizers": None}}), check=False,
            )
