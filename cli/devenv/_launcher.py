"""The local launcher: runs the operators of a `--local` install as local processes, one per
Deployment, with the args the cluster's Deployment has (mapped by `_localargs`), and
restarts a process when its Deployment's args change.

`afflux dev up` starts it as a process of its own (`python -m afflux.cli.devenv._launcher`,
log `logs/launcher.log`) that outlives the command; the operators are its children. It
watches the Deployments of its namespace; on every change (and at least every
`RESYNC` seconds) it works out the instances to run (`local_instances`) and:

- starts the ones that do not run (a new shard Deployment starts a new process);
- restarts the ones whose Deployment's args changed (a committed patch, a new
  `--watch-label-selector`), keeping their ports;
- stops the ones whose Deployment went away or stopped being local;
- restarts a process that died, after a growing delay (1 s doubling to 60 s), logging why.

Crash-only: an error reaching the API server is logged and retried with backoff; the
processes keep running meanwhile. What runs is in `launcher.json` beside the logs (pid,
ports, args, log of each instance), which `dev up` and `dev status` read; SIGTERM stops
every child and then the launcher.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._localargs import Instance, LocalSetting, Ports, local_argv, local_instances, ports_needed
from ._monitoring import TARGETS_FILE, write_targets
from ._procs import ManagedProcess, free_port, port_open

__all__ = ["Launcher", "LauncherState", "main", "plan", "read_state"]

RESYNC = 30.0
#: seconds a request to the API server may take before it counts as failed (and is retried)
REQUEST_TIMEOUT = 30
MAX_RESTART_DELAY = 60.0
STATE_FILE = "launcher.json"

_log = logging.getLogger("afflux.dev.launcher")


@dataclass
class LauncherState:
    """One running instance, as `launcher.json` records it."""

    pid: int
    controller: str
    args: list[str]
    ports: dict[str, int]
    log: str
    restarts: int = 0


@dataclass(frozen=True)
class Plan:
    """What a sync does: instances to start, to restart (args changed), to stop."""

    start: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()


def plan(desired: Mapping[str, Instance], running: Mapping[str, Instance]) -> Plan:
    """Compare the instances the Deployments ask for with the ones that run."""
    return Plan(
        start=tuple(sorted(n for n in desired if n not in running)),
        restart=tuple(sorted(n for n in desired if n in running and desired[n] != running[n])),
        stop=tuple(sorted(n for n in running if n not in desired)),
    )


def read_state(root: Path) -> dict[str, LauncherState]:
    """The instances `launcher.json` under `root` records (empty when there is none)."""
    try:
        data = json.loads((root / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for name, rec in (data.get("instances") or {}).items():
        try:
            out[name] = LauncherState(**rec)
        except TypeError:
            continue
    return out


@dataclass
class _Running:
    instance: Instance
    proc: ManagedProcess
    ports: Ports
    restarts: int = 0
    started_at: float = 0.0
    failures: int = 0
    retry_at: float = 0.0


@dataclass
class Launcher:
    """Runs the local instances of `controllers` for the Deployments in `namespace`."""

    root: Path
    kubeconfig: Path
    namespace: str
    controllers: Sequence[str]
    modules: Mapping[str, str]
    setting: LocalSetting
    defaults: Sequence[Mapping[str, Any]] = ()
    logs: Path | None = None
    env: Mapping[str, str] | None = None
    _running: dict[str, _Running] = field(default_factory=dict)
    _changed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.logs = Path(self.logs) if self.logs else self.root / "logs"
        from kubernetes import client, config  # noqa: PLC0415 - only the launcher needs it

        api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        self._apps = client.AppsV1Api(api_client)

    # --- one sync ------------------------------------------------------------------------
    def deployments(self) -> list[dict[str, Any]]:
        items = self._apps.list_namespaced_deployment(
            self.namespace, _request_timeout=REQUEST_TIMEOUT).items
        client = self._apps.api_client
        return [client.sanitize_for_serialization(d) for d in items]

    def sync(self, deployments: Sequence[Mapping[str, Any]]) -> Plan:
        """Start, restart and stop processes so that they match `deployments`."""
        desired = local_instances(deployments, self.defaults, self.controllers, self.namespace)
        todo = plan(desired, {n: r.instance for n, r in self._running.items()})
        for name in todo.stop:
            _log.info("stopping %s: its Deployment is gone or no longer local", name)
            self._running.pop(name).proc.stop()
        for name in todo.restart:
            old = self._running.pop(name)
            _log.info("restarting %s: its Deployment's args changed", name,
                      extra={"deploymentArgs": list(desired[name].args)})
            old.proc.stop()
            self._start(desired[name], old.ports, old.restarts + 1)
        for name in todo.start:
            _log.info("starting %s", name, extra={"deploymentArgs": list(desired[name].args)})
            self._start(desired[name], None, 0)
        if todo.start or todo.restart or todo.stop:
            self.save()
        return todo

    def _ports(self, instance: Instance, old: Ports | None) -> Ports:
        values: dict[str, int] = {}
        for key in ports_needed(instance.controller):
            port = getattr(old, key, 0) if old else 0
            if not port or port_open("127.0.0.1", port):
                port = free_port()
            values[key] = port
        return Ports(**values)

    def _start(self, instance: Instance, old: Ports | None, restarts: int,
               now: float = 0.0) -> None:
        ports = self._ports(instance, old)
        module = self.modules[instance.controller]
        argv = local_argv(instance, module, ports, self.setting)
        workdir = self.setting.storage_root / instance.name
        workdir.mkdir(parents=True, exist_ok=True)
        env = dict(self.env if self.env is not None else os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("KUBECONFIG", None)
        assert self.logs is not None
        proc = ManagedProcess(instance.name, argv, self.logs / f"{instance.name}.log", env=env,
                              cwd=workdir, persistent=True)
        proc.start()
        self._running[instance.name] = _Running(instance, proc, ports, restarts,
                                                started_at=now or time.monotonic())

    def revive(self, now: float) -> bool:
        """Restart the processes that died (after a growing delay); whether any was."""
        revived = False
        for name, run in list(self._running.items()):
            if run.proc.alive():
                if run.failures and now - run.started_at > MAX_RESTART_DELAY:
                    run.failures = 0  # it stayed up: the next death starts over
                continue
            if not run.retry_at:  # seen dead for the first time
                run.failures += 1
                delay = min(2.0 ** (run.failures - 1), MAX_RESTART_DELAY)
                run.retry_at = now + delay
                _log.warning("%s exited with status %s: restarting in %.0fs (see %s)", name,
                             run.proc.returncode, delay, run.proc.log_path)
            elif now >= run.retry_at:
                run.retry_at = 0.0  # a start that fails counts as another death
                self._start(run.instance, run.ports, run.restarts + 1, now)
                self._running[name].failures = run.failures
                revived = True
        if revived:
            self.save()
        return revived

    def save(self) -> None:
        instances = {
            name: asdict(LauncherState(
                pid=run.proc.pid or 0, controller=run.instance.controller,
                args=list(run.instance.args),
                ports={k: v for k, v in asdict(run.ports).items() if v},
                log=str(run.proc.log_path), restarts=run.restarts))
            for name, run in sorted(self._running.items())
        }
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "instances": instances}, indent=2,
                                  sort_keys=True) + "\n")
        os.replace(tmp, self.root / STATE_FILE)
        write_targets(self.root / TARGETS_FILE, {  # what Prometheus scrapes (_monitoring)
            name: run.ports.metrics for name, run in self._running.items() if run.ports.metrics})

    def wake(self) -> None:
        """Make the loop look again now (e.g. after its stop event was set)."""
        self._changed.set()

    def stop_all(self) -> None:
        for run in self._running.values():
            run.proc.stop()
        self._running.clear()
        self.save()

    # --- the loop ------------------------------------------------------------------------
    def _watch(self, stop: threading.Event) -> None:
        """Set `_changed` on every Deployment event in the namespace; reconnect on errors."""
        from kubernetes import watch  # noqa: PLC0415

        failures = 0
        while not stop.is_set():
            try:
                stream = watch.Watch()
                for _ in stream.stream(self._apps.list_namespaced_deployment, self.namespace,
                                       timeout_seconds=60,
                                       _request_timeout=60 + REQUEST_TIMEOUT):
                    self._changed.set()
                    failures = 0
                    if stop.is_set():
                        stream.stop()
                        break
            except Exception as err:  # noqa: BLE001 - crash-only: log and reconnect
                failures += 1
                _log.warning("watching the Deployments of %s failed (attempt %d): %s",
                             self.namespace, failures, err)
                stop.wait(min(2.0 ** failures, 30.0))

    def run(self, stop: threading.Event) -> None:
        """Sync and supervise until `stop` is set; then stop every process."""
        watcher = threading.Thread(target=self._watch, args=(stop,), daemon=True,
                                   name="deployment watch")
        watcher.start()
        failures = 0
        next_sync = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                if self._changed.is_set() or now >= next_sync:
                    self._changed.clear()
                    try:
                        self.sync(self.deployments())
                        failures = 0
                        next_sync = now + RESYNC
                    except Exception as err:  # noqa: BLE001 - crash-only: log and retry
                        failures += 1
                        delay = min(2.0 ** failures, 30.0)
                        _log.warning("following the Deployments of %s failed (attempt %d, "
                                     "retrying in %.0fs): %s", self.namespace, failures,
                                     delay, err)
                        next_sync = now + delay
                try:
                    self.revive(time.monotonic())
                except Exception as err:  # noqa: BLE001 - crash-only: log, try next round
                    _log.warning("restarting a dead operator failed: %s", err)
                self._changed.wait(0.5)
        finally:
            self.stop_all()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m afflux.cli.devenv._launcher",
                                description="run the local operators of a --local install")
    p.add_argument("--root", type=Path, required=True, help="state directory (launcher.json)")
    p.add_argument("--logs", type=Path, default=None, help="log directory (default root/logs)")
    p.add_argument("--storage", type=Path, required=True, help="the operators' storage root")
    p.add_argument("--kubeconfig", type=Path, required=True)
    p.add_argument("--namespace", default="flux-system")
    p.add_argument("--controllers", required=True, help="comma-separated controller names")
    p.add_argument("--conversion", default="{}",
                   help="JSON: controller -> its conversion webhook flags")
    p.add_argument("--pin", action="append", default=[],
                   help="an arg appended to every operator's (repeatable)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from afflux.cli._manifests import build_install_docs, find_config_dir  # noqa: PLC0415

    from ._env import OPERATOR_MODULES  # noqa: PLC0415

    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    setting = LocalSetting(python=sys.executable, kubeconfig=args.kubeconfig,
                           storage_root=args.storage,
                           conversion=json.loads(args.conversion), pinned=tuple(args.pin))
    defaults = [d for d in build_install_docs(find_config_dir(), use_kustomize=False)
                if d.get("kind") == "Deployment"]
    launcher = Launcher(root=args.root, kubeconfig=args.kubeconfig, namespace=args.namespace,
                        controllers=[c for c in args.controllers.split(",") if c],
                        modules=OPERATOR_MODULES, setting=setting, defaults=defaults,
                        logs=args.logs)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()
        launcher.wake()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    launcher.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
