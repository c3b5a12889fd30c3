"""`RealNode`: one real Kubernetes node next to the local cluster's kwok nodes.

On this machine, as root: containerd (CRI) and runc run the Pods, the CNI bridge and
host-local plugins give them addresses on the node's bridge, the kubelet (built from the
pinned Kubernetes sources by `hack/tools.sh node`) registers the node `afflux-real-0`,
kube-proxy (iptables mode) makes Services work, and CoreDNS (a host process on the
bridge address) resolves Service names. The configuration is `_nodeplan`'s.

The sandbox (pause) image is built here from Kubernetes' own pause.c (`_images`) and
imported into containerd, so the node needs no registry to start; registries Pods pull
from are added with `trust_registry` (their CA and credentials go into containerd's
configuration, and containerd restarts; running containers keep running).

Everything lives in the node's directory (`<cluster>/node`): configs, containerd's root
and state (with the Pods' network namespaces), the kubelet's root, Pod logs, component
logs in `logs/`, and `node.json` (pids, network, the iptables chains that were there
before). `down()` stops every process (the components, the containers in the node's
cgroup, containerd's shims), unmounts everything under the directory, deletes the Pods'
veths and the bridge, removes the iptables chains the components made and the node's
cgroups, and restores `net.ipv4.ip_forward`. `leftovers()` lists whatever is still there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import _nodeplan as plan
from ._procs import free_port, pid_alive, stop_pid
from ._tools import tool_path

#: Start order; processes stop in reverse.
NODE_COMPONENTS = ("containerd", "coredns", "kubelet", "kube-proxy")
CNI_BIN_DIR = "/usr/lib/cni"
CNI_PLUGINS = ("bridge", "host-local", "loopback")
HOST_BINARIES = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "iptables-save", "ip")
CGROUP_FS = Path("/sys/fs/cgroup")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
#: Which node directory owns this machine's real node (see `RealNode._claim`).
OWNER = Path("/run/afflux/real-node.owner")


class NodeError(RuntimeError):
    """The real node could not start (or clean up); the message says what and where to look."""


@dataclass
class NodeState:
    """What `node.json` records."""

    bridge: str = ""
    subnet: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    chains_before: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    ip_forward_before: str = ""
    registries: list[dict[str, str]] = field(default_factory=list)
    kubelet_port: int = 0

    @classmethod
    def load(cls, path: Path) -> NodeState:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def _run(args: list[str], *, check: bool = True, input: str | None = None, timeout: float = 60) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise NodeError(f"{' '.join(args)} exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run the real node, each with how to get it."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root: the real node makes network namespaces, a bridge and iptables rules")
    for name in HOST_BINARIES:
        if not shutil.which(name):
            missing.append(f"{name}: install the Debian packages (make deps)")
    for name in CNI_PLUGINS:
        if not (Path(CNI_BIN_DIR) / name).is_file():
            missing.append(f"CNI plugin {CNI_BIN_DIR}/{name}: install containernetworking-plugins (make deps)")
    for tool in ("kubelet", "kube-proxy", "pause", "coredns"):
        try:
            tool_path(tool)
        except FileNotFoundError as err:
            missing.append(str(err))
    return missing


class RealNode:
    """The real node of the local cluster whose directory is `cluster_dir`."""

    def __init__(self, cluster_dir: Path, log: Callable[[str], object] = print) -> None:
        self.kubeconfig = Path(cluster_dir) / "kubeconfig"
        self.cluster_dir = Path(cluster_dir)
        self.dir = self.cluster_dir / "node"
        self.logs = self.dir / "logs"
        self.state_file = self.dir / "node.json"
        self.state = NodeState.load(self.state_file)
        self.log = log
        self.id = plan.node_id(str(self.dir))

    # --- paths -----------------------------------------------------------------------------
    @property
    def socket(self) -> Path:
        # A unix socket path is at most 107 bytes: keep it short and out of deep tmp dirs.
        return Path("/run/afflux") / self.id / "containerd.sock"

    @property
    def cgroup_name(self) -> str:
        return f"afflux-{self.id}"

    @property
    def network(self) -> plan.NodeNetwork:
        if not self.state.subnet:
            raise NodeError("the node's network is not set up (prepare_network first)")
        return plan.NodeNetwork(bridge=self.state.bridge, subnet=self.state.subnet)

    @property
    def address(self) -> str:
        """The node's IP (the bridge's address): kube-apiserver, the kubelet and CoreDNS
        listen on it, and Pods reach it."""
        return self.network.gateway

    def _save(self) -> None:
        self.state.save(self.state_file)

    # --- network (before the control plane: kube-apiserver binds the node address) --------
    def prepare_network(self) -> str:
        """Pick the node's subnet, make its bridge with the node address, enable forwarding.
        Returns the node address."""
        problems = missing_prerequisites()
        if problems:
            raise NodeError("the real node cannot start on this machine:\n  " + "\n  ".join(problems))
        too_long = plan.socket_room_problem(str(self.dir / "kubelet"))
        if too_long:
            raise NodeError(f"the real node cannot start here: {too_long}")
        self._claim()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        if not self.state.chains_before:
            self.state.chains_before = {
                tool: plan.owned_chains(_run([f"{tool}-save"], check=False))
                for tool in ("iptables", "ip6tables")
                if shutil.which(f"{tool}-save")
            }
        routes = [line.split()[0] for line in _run(["ip", "-4", "route"]).splitlines() if line.strip()]
        ours = self.state.subnet
        if ours:
            routes = [r for r in routes if r != ours]
        net = plan.NodeNetwork(self.state.bridge, ours) if ours else plan.pick_network(str(self.dir), routes)
        self.state.bridge, self.state.subnet = net.bridge, net.subnet
        if not self.state.ip_forward_before:
            self.state.ip_forward_before = IP_FORWARD.read_text().strip()
        self._save()
        if not Path(f"/sys/class/net/{net.bridge}").exists():
            _run(["ip", "link", "add", net.bridge, "type", "bridge"])
        _run(["ip", "addr", "replace", f"{net.gateway}/{net.prefix_len}", "dev", net.bridge])
        _run(["ip", "link", "set", net.bridge, "up"])
        IP_FORWARD.write_text("1\n")
        return net.gateway

    def _claim(self) -> None:
        """One real node per machine: kube-proxy's chains and the Service range are global.
        The owner file names the node directory that runs; a dead owner is taken over."""
        OWNER.parent.mkdir(parents=True, exist_ok=True)
        try:
            other = Path(OWNER.read_text().strip())
        except OSError:
            other = None
        if other and other != self.dir and RealNode(other.parent).running():
            raise NodeError(
                f"another real node runs on this machine ({other}): only one can (kube-proxy's "
                f"iptables chains are global); stop it first (`make cluster-down` or "
                f"`python -m afflux.cli.devenv cluster down --state {other.parent}`)"
            )
        OWNER.write_text(f"{self.dir}\n")

    def _release(self) -> None:
        try:
            if Path(OWNER.read_text().strip()) == self.dir:
                OWNER.unlink()
        except OSError:
            pass

    # --- start -----------------------------------------------------------------------------
    def up(self, *, kubeconfig: Path, ca_file: Path, context: str, timeout: float = 180) -> None:
        """Start containerd, CoreDNS, the kubelet and kube-proxy, and wait for the node to be
        Ready. `prepare_network` must have run (and the control plane must answer)."""
        from ._images import PAUSE_NAME, pause_image, write_archive

        net = self.network
        deadline = time.monotonic() + timeout
        self.kubeconfig = kubeconfig
        self._make_cgroups()
        cni_dir = self.dir / "cni"
        (cni_dir / "net.d").mkdir(parents=True, exist_ok=True)
        (cni_dir / "net.d" / "10-afflux.conflist").write_text(
            json.dumps(plan.cni_conflist(net, ipam_dir=str(cni_dir / "ipam")), indent=2) + "\n"
        )
        self._start_containerd(deadline)
        archive = write_archive(pause_image(), f"{PAUSE_NAME}:{_pause_tag()}", self.dir / "pause.tar")
        self._import(archive)
        ready_port = free_port()
        corefile = self.dir / "Corefile"
        corefile.write_text(plan.corefile(net=net, kubeconfig=str(kubeconfig), context=context, ready_port=ready_port))
        self._start("coredns", ["-conf", str(corefile)])
        self._wait("coredns", lambda: _http_ok(f"http://127.0.0.1:{ready_port}/ready"), deadline)
        self.state.kubelet_port = free_port()
        healthz = free_port()
        cfg = plan.kubelet_config(
            net=net,
            runtime_socket=str(self.socket),
            client_ca_file=str(ca_file),
            port=self.state.kubelet_port,
            healthz_port=healthz,
            cgroup_root=f"/{self.cgroup_name}",
            pod_logs_dir=str(self.dir / "pod-logs"),
        )
        (self.dir / "kubelet.yaml").write_text(json.dumps(cfg, indent=2) + "\n")
        self._start(
            "kubelet",
            [
                f"--config={self.dir / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.dir / 'kubelet'}",
                f"--cert-dir={self.dir / 'kubelet-pki'}",
                f"--hostname-override={plan.NODE_NAME}",
                f"--node-ip={net.gateway}",
                f"--node-labels={plan.NODE_LABEL}=real",
                "--v=1",
            ],
        )
        self._wait("kubelet", lambda: _http_ok(f"http://127.0.0.1:{healthz}/healthz"), deadline)
        proxy_healthz, metrics = free_port(), free_port()
        (self.dir / "kube-proxy.yaml").write_text(
            json.dumps(
                plan.kube_proxy_config(
                    net=net,
                    kubeconfig=str(kubeconfig),
                    node_name=plan.NODE_NAME,
                    healthz_port=proxy_healthz,
                    metrics_port=metrics,
                ),
                indent=2,
            )
            + "\n"
        )
        self._start("kube-proxy", [f"--config={self.dir / 'kube-proxy.yaml'}", "--v=1"])
        self._wait("kube-proxy", lambda: _http_ok(f"http://127.0.0.1:{proxy_healthz}/healthz"), deadline)
        self._wait("kubelet", self._node_ready, deadline)

    def running(self) -> bool:
        return set(self.state.pids) == set(NODE_COMPONENTS) and all(
            pid_alive(pid) for pid in self.state.pids.values()
        )

    def _node_ready(self) -> bool:
        out = _run(
            [
                str(tool_path("kubectl")),
                f"--kubeconfig={self.kubeconfig}",
                "get",
                "node",
                plan.NODE_NAME,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            ],
            check=False,
        )
        return out.strip() == "True"

    def _make_cgroups(self) -> None:
        """The kubelet's cgroup root, in every v1 hierarchy (cpuset seeded from its parent)."""
        for hierarchy in sorted(CGROUP_FS.iterdir()):
            if not hierarchy.is_dir() or hierarchy.name == "unified":
                continue
            path = hierarchy / self.cgroup_name
            path.mkdir(exist_ok=True)
            if hierarchy.name == "cpuset":
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    if not (path / knob).read_text().strip():
                        (path / knob).write_text((hierarchy / knob).read_text())

    def _containerd_config(self) -> str:
        return plan.containerd_config(
            root=str(self.dir / "containerd" / "root"),
            state=str(self.dir / "containerd" / "state"),
            socket=str(self.socket),
            sandbox_image=f"afflux.local/pause:{_pause_tag()}",
            cni_bin_dir=CNI_BIN_DIR,
            cni_conf_dir=str(self.dir / "cni" / "net.d"),
            runc_root=str(self.dir / "containerd" / "runc"),
            registries=[
                plan.RegistryTrust(**{**r, "mirror_of": tuple(r.get("mirror_of") or ())})
                for r in self.state.registries
            ],
        )

    def _start_containerd(self, deadline: float) -> None:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        config = self.dir / "containerd.toml"
        config.write_text(self._containerd_config())
        config.chmod(0o600)  # registry credentials
        self._start("containerd", [f"--config={config}", "--log-level=warn"], binary="containerd")
        self._wait("containerd", self._containerd_answers, deadline)

    def _ctr(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        return _run(["ctr", f"--address={self.socket}", "--namespace=k8s.io", *args], check=check, timeout=timeout)

    def _containerd_answers(self) -> bool:
        try:
            self._ctr("version", timeout=5)
        except (NodeError, subprocess.TimeoutExpired):
            return False
        return True

    def _import(self, archive: Path) -> None:
        self._ctr("images", "import", "--all-platforms", str(archive), timeout=300)

    def trust_registry(
        self, host: str, ca_file: Path, username: str = "", password: str = "",
        mirror_of: tuple[str, ...] = (),
    ) -> None:
        """Let Pods on this node pull from `host` (TLS from `ca_file`, these credentials),
        also for images named after the registries in `mirror_of`: containerd's
        configuration gets them and containerd restarts (running containers keep running)."""
        entry = {"host": host, "ca_file": str(ca_file), "username": username,
                 "password": password, "mirror_of": list(mirror_of)}
        others = [r for r in self.state.registries if r["host"] != host]
        if entry in self.state.registries:
            return
        self.state.registries = [*others, entry]
        self._save()
        pid = self.state.pids.pop("containerd", None)
        if pid:
            stop_pid(pid)
        self._start_containerd(time.monotonic() + 60)

    # --- processes -------------------------------------------------------------------------
    def _start(self, name: str, args: list[str], binary: str | None = None) -> int:
        exe = shutil.which(binary) if binary else str(tool_path(name))
        log_path = self.logs / f"{name}.log"
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as logf:
            logf.write(f"\n--- {time.strftime('%FT%TZ', time.gmtime())} {exe} {' '.join(args)}\n".encode())
            logf.flush()
            proc = subprocess.Popen(
                [str(exe), *args],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
            )
        self.state.pids[name] = proc.pid
        self._save()
        self.log(f"  started {name} (pid {proc.pid}, log {log_path})")
        return proc.pid

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        try:
            tail = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            tail = []
        return f"last lines of {path}:\n" + "\n".join("    " + line for line in tail)

    def _wait(self, name: str, ready: Callable[[], bool], deadline: float) -> None:
        while True:
            pid = self.state.pids.get(name)
            if pid is None or not pid_alive(pid):
                raise NodeError(f"{name} exited during start-up.\n{self.log_tail(name)}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise NodeError(f"{name} did not become ready in time.\n{self.log_tail(name)}")
            time.sleep(0.3)

    # --- stop ------------------------------------------------------------------------------
    def down(self, quiet: bool = False) -> None:
        """Stop everything the node runs and remove everything it made (see the docstring)."""
        say = (lambda _m: None) if quiet else self.log
        for name in ("kube-proxy", "kubelet", "coredns"):
            pid = self.state.pids.pop(name, None)
            if pid and stop_pid(pid):
                say(f"  stopped {name} (pid {pid})")
        self._kill_containers()
        pid = self.state.pids.pop("containerd", None)
        if pid and stop_pid(pid):
            say(f"  stopped containerd (pid {pid})")
        self._kill_shims()
        self._unmount_all()
        self._remove_links()
        self._remove_chains()
        self._remove_cgroups()
        if self.state.ip_forward_before:
            IP_FORWARD.write_text(self.state.ip_forward_before + "\n")
            self.state.ip_forward_before = ""
        shutil.rmtree(self.socket.parent, ignore_errors=True)
        self._release()
        self.state.pids = {}
        if self.dir.exists():
            self._save()

    def _cgroup_pids(self) -> list[int]:
        root = CGROUP_FS / "pids" / self.cgroup_name
        pids: list[int] = []
        if root.is_dir():
            for procs in root.rglob("cgroup.procs"):
                try:
                    pids += [int(p) for p in procs.read_text().split()]
                except OSError:
                    continue
        return pids

    def _kill_containers(self) -> None:
        for pid in self._cgroup_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self._cgroup_pids() and time.monotonic() < deadline:
            time.sleep(0.1)

    def _shim_pids(self) -> list[int]:
        """containerd-shim processes serving this node's containerd (found by its socket)."""
        found = []
        needle = str(self.socket).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmdline and needle in cmdline:
                found.append(int(entry.name))
        return found

    def _kill_shims(self) -> None:
        for pid in self._shim_pids():
            stop_pid(pid, timeout=5)

    def _unmount_all(self) -> None:
        for point in plan.mounts_under(Path("/proc/self/mountinfo").read_text(), str(self.dir)):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], capture_output=True)

    def _remove_links(self) -> None:
        if not self.state.bridge:
            return
        links = _run(["ip", "-j", "link"], check=False)
        for port in plan.bridge_ports(links, self.state.bridge):
            _run(["ip", "link", "del", port], check=False)
        if Path(f"/sys/class/net/{self.state.bridge}").exists():
            _run(["ip", "link", "del", self.state.bridge], check=False)

    def _remove_chains(self) -> None:
        for tool in ("iptables", "ip6tables"):
            if not shutil.which(f"{tool}-save"):
                continue
            before = self.state.chains_before.get(tool, {})
            for args in plan.iptables_cleanup_plan(_run([f"{tool}-save"], check=False), before):
                _run([tool, "-w", *args], check=False)

    def _remove_cgroups(self) -> None:
        if not CGROUP_FS.is_dir():
            return
        for hierarchy in CGROUP_FS.iterdir():
            root = hierarchy / self.cgroup_name
            if not root.is_dir():
                continue
            dirs = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
            for d in [*dirs, root]:
                for _ in range(50):
                    try:
                        d.rmdir()
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.1)

    # --- what is left ----------------------------------------------------------------------
    def leftovers(self) -> dict[str, list[str]]:
        """Whatever of the node is still there: processes, mounts (network namespaces among
        them), links, iptables chains, cgroups. Empty lists after `down()`."""
        left: dict[str, list[str]] = {}
        left["processes"] = [
            f"{name} (pid {pid})" for name, pid in self.state.pids.items() if pid_alive(pid)
        ] + [f"containerd-shim (pid {p})" for p in self._shim_pids()] + [
            f"container process (pid {p})" for p in self._cgroup_pids()
        ]
        left["mounts"] = plan.mounts_under(Path("/proc/self/mountinfo").read_text(), str(self.dir))
        links = _run(["ip", "-j", "link"], check=False)
        left["links"] = [
            name
            for name in plan.links_of(links, [self.state.bridge or plan.LINK_PREFIX + self.id])
        ] + plan.bridge_ports(links, self.state.bridge)
        left["chains"] = [
            f"{tool} {table}/{chain}"
            for tool in ("iptables", "ip6tables")
            if shutil.which(f"{tool}-save")
            for table, chains in plan.owned_chains(
                _run([f"{tool}-save"], check=False), self.state.chains_before.get(tool, {})
            ).items()
            for chain in chains
        ]
        left["cgroups"] = [
            str(h / self.cgroup_name) for h in CGROUP_FS.iterdir() if (h / self.cgroup_name).exists()
        ] if CGROUP_FS.is_dir() else []
        return {k: v for k, v in left.items() if v}


def _pause_tag() -> str:
    from ._tools import pinned_versions

    return pinned_versions().get("PAUSE_VERSION", "3.10.1")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False
