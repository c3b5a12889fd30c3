"""The built-in local cluster: a real Kubernetes control plane on loopback, with no Docker.

It runs etcd, kube-apiserver (RBAC on, admin by client certificate),
kube-controller-manager, kube-scheduler and kwok (which plays the kubelet for fake
nodes, so scheduled Pods become Running and Deployments become Available; annotated Pods
succeed or fail, see `_kwok_stages`) as local processes, from the binaries `hack/tools.sh`
builds into the tool cache.

`LocalCluster(state_dir).up()` starts it (a no-op when the one recorded in `state_dir`
still answers), writes `state_dir/kubeconfig`, logs to `state_dir/logs/` and records
ports and pids in `state_dir/cluster.json`, so another process can find it or stop it
with `down()`. Ports are picked free on 127.0.0.1 at start, so a port taken by
something else is never a problem.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ._ca import TestCA
from ._kwok_stages import kwok_configuration
from ._nodeplan import FAKE_NODE_TAINT
from ._procs import free_port
from ._realnode import RealNode
from ._tools import tool_path

#: The order processes start in; they stop in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
SERVICE_CIDR = "10.0.0.0/24"
#: the issuer of the ServiceAccount tokens (also the audience the API server accepts)
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class ClusterError(RuntimeError):
    """The local cluster could not start or stop; the message says what and where the log is."""


@dataclass
class ClusterState:
    """What `cluster.json` records about a running local cluster."""

    etcd_port: int = 0
    etcd_peer_port: int = 0
    apiserver_port: int = 0
    #: The address kube-apiserver serves on: loopback, or the real node's bridge address.
    address: str = "127.0.0.1"
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cls(**data)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; read its state to tell.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


class LocalCluster:
    """A local control plane whose state (pki, etcd data, logs, kubeconfig) lives in `state_dir`."""

    def __init__(self, state_dir: Path | str, nodes: int = 2, log=print, real_node: bool = False) -> None:
        self.dir = Path(state_dir).resolve()
        #: One real node (`_realnode`) next to the kwok ones, when asked for.
        self.real_node = RealNode(self.dir, log=log) if real_node else None
        self.nodes = nodes
        self.log = log
        self.pki = self.dir / "pki"
        self.logs = self.dir / "logs"
        self.kubeconfig = self.dir / "kubeconfig"
        self.state_file = self.dir / "cluster.json"
        self.state = ClusterState.load(self.state_file) or ClusterState()

    # --- queries -------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://{self.state.address}:{self.state.apiserver_port}"

    def running(self) -> bool:
        """True when every recorded process is alive and the API server is ready."""
        if not self.state.pids or set(self.state.pids) != set(COMPONENTS):
            return False
        if not all(_alive(pid) for pid in self.state.pids.values()):
            return False
        if self.real_node is not None and not self.real_node.running():
            return False
        return self._apiserver_ready()

    def _admin_ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _get(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        req = urllib.request.Request(self.server + path)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._admin_ssl()) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    def _apiserver_ready(self) -> bool:
        try:
            status, _ = self._get("/readyz")
        except (OSError, ssl.SSLError):
            return False
        return status == 200

    # --- start ---------------------------------------------------------------------------
    def up(self, timeout: float = 120.0) -> None:
        """Start the cluster, or do nothing when the one recorded here is running."""
        if self.running():
            self.log(f"local cluster already running: {self.server} (kubeconfig {self.kubeconfig})")
            return
        # Leftovers of a crashed cluster: stop them and start clean.
        self.down(quiet=True)
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        address = self.real_node.prepare_network() if self.real_node else "127.0.0.1"
        self._make_pki(address)
        self.state = ClusterState(
            etcd_port=free_port(), etcd_peer_port=free_port(), apiserver_port=free_port(),
            address=address,
        )
        self._write_kubeconfig()
        deadline = time.monotonic() + timeout
        try:
            self._start_etcd(deadline)
            self._start_apiserver(deadline)
            self._start("kube-controller-manager", self._controller_manager_args())
            self._start("kube-scheduler", self._scheduler_args())
            self._start("kwok", self._kwok_args())
            self._create_nodes(deadline)
            if self.real_node:
                self.real_node.up(kubeconfig=self.kubeconfig, ca_file=self.pki / "ca.crt",
                                  context="afflux-local", timeout=max(deadline - time.monotonic(), 120))
        except BaseException:
            self.down(quiet=True)
            raise
        self.log(
            f"local cluster ready in {time.monotonic() - t0:.1f}s: {self.server}\n"
            f"  export KUBECONFIG={self.kubeconfig}"
        )

    def _make_pki(self, address: str = "127.0.0.1") -> None:
        marker = self.pki / "apiserver.address"
        if (self.pki / "sa.pub").exists() and (self.pki / "admin.crt").exists() and (
            address == "127.0.0.1" or (marker.exists() and marker.read_text() == address)
        ):
            return
        ca = TestCA(self.pki, name="afflux-local-cluster")
        ca.start()
        hosts = [
            "127.0.0.1",
            "localhost",
            "10.0.0.1",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            *([address] if address != "127.0.0.1" else []),
        ]
        cert, key = ca.issue_server("kube-apiserver", hosts=hosts)
        shutil.copy(cert, self.pki / "apiserver.crt")
        shutil.copy(key, self.pki / "apiserver.key")
        marker.write_text(address)
        cert, key = ca.issue_client("afflux-admin", organizations=["system:masters"])
        shutil.copy(cert, self.pki / "admin.crt")
        shutil.copy(key, self.pki / "admin.key")
        shutil.copy(ca.ca_cert, self.pki / "ca.crt")
        shutil.copy(ca.ca_key, self.pki / "ca.key")
        _openssl("genrsa", "-out", str(self.pki / "sa.key"), "2048")
        _openssl("rsa", "-in", str(self.pki / "sa.key"), "-pubout", "-out", str(self.pki / "sa.pub"))

    def _write_kubeconfig(self) -> None:
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "afflux-local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.pki / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": "afflux-admin",
                    "user": {
                        "client-certificate": str(self.pki / "admin.crt"),
                        "client-key": str(self.pki / "admin.key"),
                    },
                }
            ],
            "contexts": [
                {"name": "afflux-local", "context": {"cluster": "afflux-local", "user": "afflux-admin"}}
            ],
            "current-context": "afflux-local",
        }
        # JSON is YAML; kubectl, client-go and the Python client all read it.
        self.kubeconfig.write_text(json.dumps(cfg, indent=2) + "\n")
        self.kubeconfig.chmod(0o600)

    def _start(self, name: str, args: Sequence[str]) -> int:
        binary = tool_path(name)
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as logf:
            logf.write(f"\n--- {time.strftime('%FT%TZ', time.gmtime())} {binary} {' '.join(args)}\n".encode())
            logf.flush()
            proc = subprocess.Popen(
                [str(binary), *args],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,  # outlives `make cluster-up`; stopped by down()
            )
        self.state.pids[name] = proc.pid
        self.state.save(self.state_file)
        self.log(f"  started {name} (pid {proc.pid}, log {log_path})")
        return proc.pid

    def _check_alive(self, name: str) -> None:
        pid = self.state.pids.get(name)
        if pid is None or not _alive(pid):
            raise ClusterError(f"{name} exited during start-up.\n{self._log_tail(name)}")

    def _log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            tail = []
        return f"last lines of {path}:\n" + "\n".join("    " + line for line in tail)

    def _wait(self, name: str, ready, deadline: float) -> None:
        while True:
            self._check_alive(name)
            if ready():
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{name} did not become ready in time.\n{self._log_tail(name)}")
            time.sleep(0.2)

    def _start_etcd(self, deadline: float, *, fresh: bool = True) -> None:
        data = self.dir / "etcd-data"
        if fresh:
            shutil.rmtree(data, ignore_errors=True)
        client = f"http://127.0.0.1:{self.state.etcd_port}"
        peer = f"http://127.0.0.1:{self.state.etcd_peer_port}"
        self._start(
            "etcd",
            [
                "--name=afflux",
                f"--data-dir={data}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=afflux={peer}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(client + "/health", timeout=1) as resp:
                    return b'"true"' in resp.read()
            except OSError:
                return False

        self._wait("etcd", healthy, deadline)

    def _start_apiserver(self, deadline: float) -> None:
        p = self.pki
        self._start(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{self.state.etcd_port}",
                "--etcd-prefix=/registry",
                f"--cert-dir={p}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                # Front-proxy settings: the scheduler and controller-manager read them
                # at start and complain without them; nothing proxies through here.
                f"--requestheader-client-ca-file={p / 'ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--secure-port={self.state.apiserver_port}",
                f"--bind-address={self.state.address}",
                f"--advertise-address={self.state.address}",
                # (the real node's kubelet serves logs and exec to this client certificate)
                f"--kubelet-client-certificate={p / 'admin.crt'}",
                f"--kubelet-client-key={p / 'admin.key'}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                "--enable-priority-and-fairness=false",
                "--v=1",
            ],
        )
        self._wait("kube-apiserver", self._apiserver_ready, deadline)

    def _controller_manager_args(self) -> list[str]:
        p = self.pki
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}",
            f"--cluster-signing-cert-file={p / 'ca.crt'}",
            f"--cluster-signing-key-file={p / 'ca.key'}",
            "--use-service-account-credentials=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-route,-service",
            "--concurrent-gc-syncs=5",
            "--v=1",
        ]

    def _scheduler_args(self) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            "--v=1",
        ]

    def _kwok_args(self) -> list[str]:
        cfg = self.dir / "kwok.yaml"
        # kwok's node Stages, and afflux's Pod Stages (`_kwok_stages`: Pods run and become
        # Ready, Job Pods complete, annotated Pods succeed, fail or stay unready).
        cfg.write_text(kwok_configuration())
        return [
            f"--kubeconfig={self.kubeconfig}",
            f"--config={cfg}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
            "--cidr=10.244.0.1/16",
            "--node-ip=127.0.0.1",
            # Heartbeats by node Lease (renewed every few seconds): without them kwok posts
            # node status less often than the node monitor's grace period, so nodes flap
            # NotReady and the node lifecycle controller marks every Pod not ready for good.
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{free_port()}",
        ]

    def _create_nodes(self, deadline: float) -> None:
        for i in range(self.nodes):
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": f"afflux-node-{i}",
                    "annotations": {FAKE_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": f"afflux-node-{i}",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "type": "kwok",
                    },
                },
                "spec": {"taints": [FAKE_NODE_TAINT]} if self.real_node else {},
            }
            self._kubectl(["apply", "-f", "-"], input=json.dumps(node))

        def nodes_ready() -> bool:
            out = self._kubectl(
                ["get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type=='Ready')].status}"],
                check=False,
            )
            return out.split() == ["True"] * self.nodes

        self._wait("kwok", nodes_ready, deadline)

    def _kubectl(self, args: Sequence[str], input: str | None = None, check: bool = True) -> str:
        proc = subprocess.run(
            [str(tool_path("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    # --- one component (fault tests) -----------------------------------------------------
    def stop_component(self, name: str, *, kill: bool = False, grace: float = 10.0) -> None:
        """Stop one component (SIGTERM, or SIGKILL with `kill`); the others keep running."""
        if name not in COMPONENTS:
            raise ValueError(f"unknown component {name!r}: one of {', '.join(COMPONENTS)}")
        pid = self.state.pids.pop(name, None)
        if pid is None:
            return
        _signal_group(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
        _reap(pid)
        self.state.save(self.state_file)
        self.log(f"  stopped {name} (pid {pid})")

    def start_component(self, name: str, timeout: float = 60.0) -> None:
        """Start one stopped component again, with its state (etcd keeps its data), and wait
        until it serves (etcd healthy, kube-apiserver ready)."""
        deadline = time.monotonic() + timeout
        if name == "etcd":
            self._start_etcd(deadline, fresh=False)
        elif name == "kube-apiserver":
            self._start_apiserver(deadline)
        elif name == "kube-controller-manager":
            self._start(name, self._controller_manager_args())
        elif name == "kube-scheduler":
            self._start(name, self._scheduler_args())
        elif name == "kwok":
            self._start(name, self._kwok_args())
        else:
            raise ValueError(f"unknown component {name!r}: one of {', '.join(COMPONENTS)}")

    # --- stop ----------------------------------------------------------------------------
    def down(self, quiet: bool = False, grace: float = 10.0) -> None:
        """Stop every process this cluster started; leave none behind."""
        # One at a time, from kwok back to etcd: signalled together, kube-apiserver waits
        # for its clients and for etcd and needs the full grace period; in order, each
        # component exits within a second or two.
        node = self.real_node or (RealNode(self.dir) if (self.dir / "node" / "node.json").exists() else None)
        if node is not None:
            node.down(quiet=quiet)
        pids = dict(self.state.pids)
        for name in reversed(COMPONENTS):
            pid = pids.get(name)
            if pid is None:
                continue
            if _alive(pid):
                _signal_group(pid, signal.SIGTERM)
                deadline = time.monotonic() + grace
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _alive(pid):
                    _signal_group(pid, signal.SIGKILL)
            _reap(pid)
            if not quiet:
                self.log(f"  stopped {name} (pid {pid})")
        self.state.pids = {}
        if self.dir.exists():
            self.state.save(self.state_file)
        if not quiet:
            self.log("local cluster stopped")


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {proc.stderr.strip()}")
