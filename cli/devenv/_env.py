"""`DevEnvironment`: the whole local setup of `afflux dev up`, composed from the parts.

Under one state directory (`.local` by default) it runs, as processes that outlive the
command that started them:

    cluster/      the local Kubernetes control plane (`LocalCluster`)
    ca/           the dev CA that signs the Git server's and the registry's certificates
    git/          the Git server (smart HTTP and HTTPS, basic auth; `GitHTTPServer`), with
                  an empty repository `fleet` to bootstrap from
    registry/     the OCI registry (TLS from the dev CA, htpasswd auth; `Registry`)
    charts/       a Helm chart repository: static files (index.yaml, *.tgz) served over
                  plain HTTP on loopback (the node's address with a real node), for
                  HelmRepositories (`charts_dir`, `charts_url`)
    logs/         one log per operator Deployment: `<deployment>.log` (`<controller>.log`
                  for the main instance: what `afflux logs` reads), and `launcher.log`
    operators/    the operators' storage (source-controller artifacts, image tag store)
    dev.json      pids, ports and credentials of the above, so another process can find
                  them, restart what died (`up` again) or stop everything (`down`)
    launcher.json the operator processes the launcher runs (pid, ports, Deployment args)

and prepares the cluster for afflux: the Flux CRDs, the `flux-system` namespace, and in it
the Secrets `registry-credentials` (dockerconfigjson) and `registry-ca` (`ca.crt`) and the
ConfigMap `dev-env` (`DEV_REGISTRY`, `DEV_GIT_URL`, `DEV_CHARTS_URL`) that examples/fleet
refers to.

The operators run out of cluster, under the launcher (`_launcher`): one process per operator
Deployment of a `--local` install (shards included), with that Deployment's args as the
cluster has it (mapped for a local process by `_localargs`; before bootstrap, the args of
afflux's own Deployments), restarted when those args change; with the cluster's admin
kubeconfig and leader election on, so that each keeps its Lease in `flux-system` fresh
(that is how `afflux check` sees a local operator). The local cluster's nodes are kwok's fake nodes,
which run no containers: this is why the operators are processes and why bootstrap has
`--local`.

`up()` is idempotent: what runs is kept, what is missing (or died) is started. `down()`
stops every recorded process and its children and leaves none behind.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ._ca import TestCA
from ._cluster import LocalCluster
from ._conversion import ConversionEndpoints
from ._gitserver import GitHTTPServer
from ._launcher import read_state
from ._procs import (
    DevEnvError,
    ManagedProcess,
    ServerStartError,
    free_port,
    pid_alive,
    port_open,
    stop_pid,
)
from ._registry import Registry
from ._repos import create_bare_repo
from ._tools import tool_path

__all__ = [
    "DEFAULT_OPERATORS",
    "DevEnvironment",
    "DevInfo",
    "OPERATOR_MODULES",
]

#: controller name -> the module `python -m afflux.controllers.<module>` runs (all six).
OPERATOR_MODULES: dict[str, str] = {
    "source-controller": "source",
    "kustomize-controller": "kustomize",
    "helm-controller": "helm",
    "notification-controller": "notification",
    "image-reflector-controller": "image_reflector",
    "image-automation-controller": "image_automation",
}
DEFAULT_OPERATORS: tuple[str, ...] = tuple(OPERATOR_MODULES)
NAMESPACE = "flux-system"
GIT_USER = "git-user"
#: The (empty) repository `up` creates on the Git server, for a first bootstrap.
DEFAULT_REPO = "fleet"
REGISTRY_USER = "registry-user"

_REPO = Path(__file__).resolve().parents[2]
CRD_DIR = _REPO / "config" / "crd" / "bases"


@dataclass(frozen=True)
class DevInfo:
    """How to reach a running environment (what `afflux dev up` prints)."""

    root: Path
    kubeconfig: Path
    git_http: str
    git_https: str
    git_username: str
    git_password: str
    ca_file: Path
    registry: str
    registry_username: str
    registry_password: str
    logs: Path
    charts_url: str = ""
    charts_dir: Path | None = None

    def git_url(self, repo: str, scheme: str = "https") -> str:
        base = self.git_https if scheme == "https" else self.git_http
        return f"{base}/{repo}.git"


class DevEnvironment:
    """The local environment under `root`; see the module docstring."""

    def __init__(
        self,
        root: Path | str = ".local",
        *,
        operators: Sequence[str] = DEFAULT_OPERATORS,
        log: Callable[[str], None] = print,
        python: str = sys.executable,
        real_node: bool = False,
    ) -> None:
        self.root = Path(root).resolve()
        unknown = [o for o in operators if o not in OPERATOR_MODULES]
        if unknown:
            raise DevEnvError(f"unknown operator(s) {', '.join(unknown)}; choose from "
                              f"{', '.join(OPERATOR_MODULES)}")
        self.operators = tuple(operators)
        self.log = log
        self.python = python
        self.cluster = LocalCluster(self.root / "cluster", log=lambda *_: None, real_node=real_node)
        #: With a real node (`--real-node`), the Git server and the registry listen on the
        #: node's address, which its Pods reach, and no operator runs locally: bootstrap
        #: without --local runs them in the cluster.
        if real_node:
            self.operators = ()
        self.state_file = self.root / "dev.json"
        self.logs = self.root / "logs"
        self.storage = self.root / "operators"

    # --- state ----------------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        tmp.chmod(0o600)
        os.replace(tmp, self.state_file)

    def info(self, state: dict[str, Any] | None = None) -> DevInfo:
        state = state or self.load()
        git, reg = state.get("git") or {}, state.get("registry") or {}
        if not git or not reg:
            raise DevEnvError(f"no dev environment recorded in {self.root} (run `afflux dev up`)")
        ghost, rhost = git.get("host", "127.0.0.1"), reg.get("host", "127.0.0.1")
        return DevInfo(
            root=self.root,
            kubeconfig=self.cluster.kubeconfig,
            git_http=f"http://{ghost}:{git['http_port']}",
            git_https=f"https://{ghost}:{git['https_port']}",
            git_username=git["username"],
            git_password=git["password"],
            ca_file=self.root / "ca" / "ca.pem",
            registry=f"{rhost}:{reg['port']}",
            registry_username=reg["username"],
            registry_password=reg["password"],
            logs=self.logs,
            charts_url=(f"http://{(state.get('charts') or {}).get('host', '127.0.0.1')}:"
                        f"{state['charts']['port']}"
                        if (state.get("charts") or {}).get("port") else ""),
            charts_dir=self.root / "charts",
        )

    # --- up ---------------------------------------------------------------------------------
    def up(self) -> DevInfo:
        """Start whatever is not running; return how to reach it all."""
        state = self.load()
        t0 = time.monotonic()
        was_running = self.cluster.running()
        self.cluster.up()
        self.log(f"{'✔' if was_running else '✚'} cluster: {self.cluster.server} "
                 f"({'already running' if was_running else 'started'})")
        ca = TestCA(self.root / "ca", name="afflux-dev").start()
        state["git"] = self._git_up(ca, state.get("git") or {})
        self._save(state)
        self.create_repo(DEFAULT_REPO)
        state["registry"] = self._registry_up(ca, state.get("registry") or {})
        self._save(state)
        state["conversion"] = self._conversion_up(ca, state.get("conversion") or {}).record()
        self._save(state)
        state["charts"] = self._charts_up(state.get("charts") or {})
        self._save(state)
        if self.cluster.real_node is not None:
            reg = state["registry"]
            # ghcr.io/afflux/... images (examples/fleet's) are pulled from the dev registry
            self.cluster.real_node.trust_registry(
                f"{self.host}:{reg['port']}", ca.ca_cert, reg["username"], reg["password"],
                mirror_of=("ghcr.io",))
            self._push_operator_image(ca, reg)
        self._prepare_cluster(state, ca)
        if self.operators:
            state["launcher"] = self._launcher_up(state.get("launcher") or {}, state)
            self._save(state)
        self.log(f"✔ dev environment ready in {time.monotonic() - t0:.1f}s")
        return self.info(state)

    def _push_operator_image(self, ca: TestCA, reg: dict[str, Any]) -> None:
        """The afflux image of this checkout in the dev registry, for `bootstrap --registry`
        (`_afflux_image`; its base and dependency layers are cached, so this is seconds)."""
        from ._afflux_image import IMAGE_NAME, afflux_image, version
        from ._images import push

        ref = f"{self.host}:{reg['port']}/{IMAGE_NAME}:v{version()}"
        t0 = time.monotonic()
        push(afflux_image(log=self.log), ref, ca_file=ca.ca_cert, username=reg["username"],
             password=reg["password"])
        self.log(f"✔ operator image: {ref} (built and pushed in {time.monotonic() - t0:.0f}s)")

    @property
    def host(self) -> str:
        """Where the Git server and the registry listen: the real node's address, or loopback."""
        node = self.cluster.real_node
        return node.address if node is not None else "127.0.0.1"

    def _git_up(self, ca: TestCA, rec: dict[str, Any]) -> dict[str, Any]:
        pid = int(rec.get("pid") or 0)
        if pid_alive(pid) and rec.get("host", "127.0.0.1") == self.host and port_open(
                self.host, int(rec.get("http_port") or 0)):
            self.log(f"✔ git server: http://127.0.0.1:{rec['http_port']} (already running)")
            return rec
        password = rec.get("password") or secrets.token_urlsafe(16)
        server = None
        for ports in ((rec.get("http_port") or 0, rec.get("https_port") or 0), (0, 0)):
            server = GitHTTPServer(self.root / "git", ca=ca, username=GIT_USER,
                                   password=password, http_port=ports[0], https_port=ports[1],
                                   persistent=True, host=self.host)
            try:
                server.start()
                break
            except ServerStartError:
                if ports == (0, 0):
                    raise
        assert server is not None
        self.log(f"✚ git server: {server.http_url} and {server.https_url} (started)")
        return {"pid": server.pid, "http_port": server.http_port, "host": self.host,
                "https_port": server.https_port, "username": GIT_USER, "password": password}

    def _registry_up(self, ca: TestCA, rec: dict[str, Any]) -> dict[str, Any]:
        pid = int(rec.get("pid") or 0)
        if pid_alive(pid) and rec.get("host", "127.0.0.1") == self.host and port_open(
                self.host, int(rec.get("port") or 0)):
            self.log(f"✔ registry: {self.host}:{rec['port']} (already running)")
            return rec
        password = rec.get("password") or secrets.token_urlsafe(16)
        registry = None
        for port in (rec.get("port") or 0, 0):
            registry = Registry(self.root / "registry", ca=ca, username=REGISTRY_USER,
                                password=password, port=port, persistent=True, host=self.host)
            try:
                registry.start()
                break
            except ServerStartError:
                if port == 0:
                    raise
        assert registry is not None
        self.log(f"✚ registry: {registry.host} (started)")
        return {"pid": registry.pid, "port": registry.port, "username": REGISTRY_USER,
                "password": password, "host": self.host}

    def _charts_up(self, rec: dict[str, Any]) -> dict[str, Any]:
        """The chart repository: Python's static file server (a Helm repository is nothing
        but index.yaml and the packages it lists) on `host` (the real node's address, which
        its Pods reach, or loopback)."""
        pid, host = int(rec.get("pid") or 0), self.host
        if pid_alive(pid) and rec.get("host", "127.0.0.1") == host and port_open(
                host, int(rec.get("port") or 0)):
            self.log(f"✔ chart repository: http://{host}:{rec['port']} (already running)")
            return rec
        root = self.root / "charts"
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "index.yaml").exists():
            (root / "index.yaml").write_text("apiVersion: v1\nentries: {}\n")
        port = int(rec.get("port") or 0)
        if not port or port_open(host, port):
            port = free_port()
        proc = ManagedProcess("charts", [self.python, "-m", "http.server", str(port),
                                         "--bind", host, "--directory", str(root)],
                              self.logs / "charts.log", persistent=True)
        proc.start()
        proc.wait_until(lambda: port_open(host, port), f"serving on {host}:{port}", timeout=30)
        self.log(f"✚ chart repository: http://{host}:{port} (started)")
        return {"pid": proc.pid, "port": port, "host": host}

    def create_repo(self, name: str) -> Path:
        """An empty bare repository `name` on the Git server (kept when it exists)."""
        return create_bare_repo(self.root / "git" / "repos", name)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [str(tool_path("kubectl")), f"--kubeconfig={self.cluster.kubeconfig}", *args],
            input=input, capture_output=True, text=True, timeout=120, check=False,
        )
        if check and done.returncode != 0:
            raise DevEnvError(f"kubectl {' '.join(args)} failed: "
                              f"{(done.stderr or done.stdout).strip()}")
        return done.stdout

    def _prepare_cluster(self, state: dict[str, Any], ca: TestCA) -> None:
        files = sorted(CRD_DIR.glob("*.yaml"))
        if not files:
            raise DevEnvError(f"no CRDs in {CRD_DIR}: run `make manifests`")
        docs = [yaml.safe_load(f.read_text()) for f in files]
        # With a real node the operators run in the cluster and serve the conversion
        # webhooks behind their Services (as install points them): no loopback targets.
        crds = docs if self.cluster.real_node is not None else self._conversion(state).crds(docs)
        # As afflux-dev, not as afflux: bootstrap --local applies the CRDs again as afflux
        # without a conversion webhook target (kustomize-controller keeps applying them), and
        # would otherwise take away the loopback target set here.
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=afflux-dev",
                     "-f", "-", input="\n".join(json.dumps(d) for d in crds))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                     *[f"crd/{d['metadata']['name']}" for d in crds])
        info = self.info(state)
        auth = base64.b64encode(
            f"{info.registry_username}:{info.registry_password}".encode()).decode()
        dockerconfig = json.dumps({"auths": {info.registry: {
            "username": info.registry_username, "password": info.registry_password,
            "auth": auth}}})
        docs = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            _secret("registry-credentials", {".dockerconfigjson": dockerconfig},
                    "kubernetes.io/dockerconfigjson"),
            _secret("registry-ca", {"ca.crt": ca.ca_cert.read_text()}),
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "dev-env", "namespace": NAMESPACE,
                          "labels": {"app.kubernetes.io/part-of": "afflux-dev"}},
             "data": {"DEV_REGISTRY": info.registry, "DEV_GIT_URL": info.git_https,
                      "DEV_CHARTS_URL": info.charts_url}},
        ]
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=afflux-dev",
                     "-f", "-", input="\n".join(json.dumps(d) for d in docs))
        self.log(f"✔ cluster prepared: Flux CRDs, namespace {NAMESPACE}, registry-credentials, "
                 "registry-ca, dev-env")

    def _launcher_up(self, rec: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        """The launcher (`_launcher`): one process that runs an operator process per local
        Deployment (the defaults before bootstrap) and follows the Deployments' args; then
        wait until every operator it runs answers /readyz."""
        pid = int(rec.get("pid") or 0)
        proc: ManagedProcess | None = None
        if pid_alive(pid):
            self.log(f"✔ launcher: pid {pid} (already running)")
        else:
            if pid:
                stop_pid(pid)
            conversion = self._conversion(state)
            argv = [self.python, "-m", "afflux.cli.devenv._launcher",
                    "--root", str(self.root), "--logs", str(self.logs),
                    "--storage", str(self.storage),
                    "--kubeconfig", str(self.cluster.kubeconfig), "--namespace", NAMESPACE,
                    "--controllers", ",".join(self.operators),
                    "--conversion", json.dumps({c: conversion.args(c) for c in self.operators})]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            env.pop("KUBECONFIG", None)
            proc = ManagedProcess("launcher", argv, self.logs / "launcher.log", env=env,
                                  persistent=True)
            proc.start()
            pid = proc.pid or 0
            self.log(f"✚ launcher: pid {pid}, log {self.logs / 'launcher.log'}")
        self._wait_operators(pid, proc, already=proc is None)
        return {"pid": pid}

    def _wait_operators(self, pid: int, proc: ManagedProcess | None, *, already: bool,
                        timeout: float = 300.0) -> None:
        """Until the launcher runs at least one ready process of each operator."""
        deadline = time.monotonic() + timeout
        while True:
            instances = read_state(self.root)
            ready = {n: r for n, r in instances.items() if pid_alive(r.pid)
                     and _ready(int(r.ports.get("health") or 0))}
            if {r.controller for r in ready.values()} >= set(self.operators):
                break
            if not pid_alive(pid):
                log = proc.log_text() if proc else ""
                raise ServerStartError("launcher", "exited before the operators were ready", log)
            if time.monotonic() >= deadline:
                waiting = sorted(set(self.operators) - {r.controller for r in ready.values()})
                raise ServerStartError(
                    "launcher", f"{', '.join(waiting)} not ready after {timeout:.0f}s (see "
                    f"{self.logs}/<deployment>.log)", proc.log_text() if proc else "")
            time.sleep(0.5)
        for name, rec in sorted(ready.items()):
            if already:
                self.log(f"✔ {name}: pid {rec.pid} (already running)")
            else:
                self.log(f"✚ {name}: pid {rec.pid}, log {rec.log}")

    # --- conversion webhooks ---------------------------------------------------------------
    def _conversion_up(self, ca: TestCA, rec: dict[str, Any]) -> ConversionEndpoints:
        """The operators' loopback conversion webhooks: ports kept from `rec`, a serving
        certificate from the dev CA (the CRDs' caBundle)."""
        cert = ca.issue_server("conversion-webhook", ("127.0.0.1", "localhost"),
                               directory=self.root / "conversion")
        return ConversionEndpoints.create(
            self.root / "conversion", ca_pem=ca.ca_pem, cert_pem=cert.cert_pem,
            key_pem=cert.key_pem, ports=rec.get("ports") or {})

    def _conversion(self, state: dict[str, Any]) -> ConversionEndpoints:
        rec = state.get("conversion") or {}
        ca_file = self.root / "ca" / "ca.pem"
        return ConversionEndpoints(
            cert_dir=Path(rec.get("cert_dir") or self.root / "conversion"),
            ca_pem=ca_file.read_text() if ca_file.exists() else "",
            ports={k: int(v) for k, v in (rec.get("ports") or {}).items()})

    # --- status and down --------------------------------------------------------------------
    def status(self) -> dict[str, tuple[bool, str]]:
        """part -> (running, description) for the cluster, the servers and each operator."""
        state = self.load()
        out: dict[str, tuple[bool, str]] = {}
        out["cluster"] = (self.cluster.running(),
                          f"{self.cluster.server} (kubeconfig {self.cluster.kubeconfig})")
        git = state.get("git") or {}
        ghost = git.get("host", "127.0.0.1")
        out["git server"] = (pid_alive(int(git.get("pid") or 0))
                             and port_open(ghost, int(git.get("http_port") or 0)),
                             f"http://{ghost}:{git.get('http_port')} "
                             f"https://{ghost}:{git.get('https_port')} (pid {git.get('pid')})")
        for key, label in (("registry", "registry"), ("charts", "chart repository")):
            rec = state.get(key) or {}
            host = rec.get("host", "127.0.0.1")
            if rec or key == "registry":
                out[label] = (pid_alive(int(rec.get("pid") or 0))
                              and port_open(host, int(rec.get("port") or 0)),
                              f"{host}:{rec.get('port')} (pid {rec.get('pid')})")
        launcher = int((state.get("launcher") or {}).get("pid") or 0)
        if launcher:
            out["launcher"] = (pid_alive(launcher),
                               f"pid {launcher}, log {self.logs / 'launcher.log'}")
            for name, rec in read_state(self.root).items():
                out[name] = (pid_alive(rec.pid) and _ready(int(rec.ports.get("health") or 0)),
                             f"pid {rec.pid}, log {rec.log}")
        return out

    def pids(self) -> list[int]:
        """Every pid the state file records (operators, servers, cluster)."""
        state = self.load()
        found = [int((state.get("launcher") or {}).get("pid") or 0)]
        if found[0]:
            found += [r.pid for r in read_state(self.root).values()]
        found += [int((state.get(k) or {}).get("pid") or 0)
                  for k in ("git", "registry", "charts")]
        found += list(self.cluster.state.pids.values())
        return [p for p in found if p > 0]

    def down(self) -> None:
        """Stop the operators, the servers and the cluster; leave no process behind."""
        state = self.load()
        instances = read_state(self.root)
        if stop_pid(int((state.get("launcher") or {}).get("pid") or 0)):
            self.log("✔ launcher stopped")
        for name, rec in instances.items():  # the launcher stops them; any left over:
            if stop_pid(rec.pid):
                self.log(f"✔ {name} stopped")
        for key, label in (("charts", "chart repository"), ("registry", "registry"),
                           ("git", "git server")):
            if stop_pid(int((state.get(key) or {}).get("pid") or 0)):
                self.log(f"✔ {label} stopped")
        running = self.cluster.running() or any(
            pid_alive(p) for p in self.cluster.state.pids.values())
        self.cluster.down(quiet=True)
        if running:
            self.log("✔ cluster stopped")
        state.pop("launcher", None)
        for key in ("git", "registry", "charts"):
            if state.get(key):
                state[key]["pid"] = 0
        if self.root.exists():
            self._save(state)


def _ready(port: int) -> bool:
    if not port:
        return False
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _secret(name: str, data: dict[str, str], type_: str = "Opaque") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Secret", "type": type_,
        "metadata": {"name": name, "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/part-of": "afflux-dev"}},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }
