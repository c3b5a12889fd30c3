"""The real node's configuration and clean-up, as pure functions (no I/O).

`_realnode.RealNode` writes what these return and runs what they plan; everything here
takes text or values and returns text, dicts or argument lists, so the unit tests read
like tables. What the node is made of:

- a bridge `afx<id>` whose address is the node's IP: the CNI `bridge` plugin plugs the
  Pods into it (host-local IPAM over one /24), kube-apiserver, the kubelet and CoreDNS
  listen on it, so Pods reach them directly and through Services;
- containerd (CRI) with runc, its state under the node's directory, and the CRI plugin's
  network namespaces mounted there too (`netns_mounts_under_state_dir`);
- the kubelet (cgroupfs driver under a cgroup root of its own; `failCgroupV1: false`);
- kube-proxy in iptables mode, which makes the `kubernetes` Service and every other
  ClusterIP reach their endpoints;
- CoreDNS as a host process on the bridge address, the cluster DNS the kubelet gives Pods.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: Every network interface the node makes starts with this (bridge `afx<id>`; the CNI
#: plugin names the host ends of Pod veths `veth<random>` and puts them on the bridge).
LINK_PREFIX = "afx"
#: iptables chains the node's components make: kube-proxy's and the kubelet's (KUBE-),
#: the bridge plugin's masquerade chains (CNI-).
CHAIN_PREFIXES = ("KUBE-", "CNI-")
#: Where the node's /24 is picked from: 10.(BASE + n).0.0/24 for the first free n.
SUBNET_SECOND_OCTET_BASE = 200
SUBNET_CHOICES = 50
CLUSTER_DOMAIN = "cluster.local"
DNS_PORT = 53
#: The node's name in the cluster and the label tests and the demo select it by.
NODE_NAME = "afflux-real-0"
NODE_LABEL = "afflux.dev/node"
#: What the fake nodes are tainted with when a real node is there, so that Pods without
#: a toleration (every workload of the fleet, the operators) run for real.
FAKE_NODE_TAINT = {"key": "afflux.dev/fake-node", "value": "true", "effect": "NoSchedule"}


@dataclass(frozen=True)
class NodeNetwork:
    """The node's bridge and its subnet; the gateway is the node IP."""

    bridge: str
    subnet: str

    @property
    def gateway(self) -> str:
        net = ipaddress.ip_network(self.subnet)
        return str(net.network_address + 1)

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen


def node_id(state_dir: str) -> str:
    """A short stable id for one node's state directory (names its bridge and cgroup)."""
    return hashlib.sha256(state_dir.encode()).hexdigest()[:8]


#: The longest path a unix socket may have (sun_path is 108 bytes with its NUL).
SOCKET_PATH_MAX = 107
#: The longest socket the kubelet makes under its root directory: its pod-resources
#: listener, a temporary name of up to 10 digits before the rename.
KUBELET_LONGEST_SOCKET = "pod-resources/0123456789"


def socket_room_problem(kubelet_root: str) -> str | None:
    """Why the kubelet cannot listen under `kubelet_root` (its sockets' paths would be too
    long: it exits with "bind: invalid argument"), or None."""
    longest = f"{kubelet_root.rstrip('/')}/{KUBELET_LONGEST_SOCKET}"
    if len(longest.encode()) <= SOCKET_PATH_MAX:
        return None
    excess = len(longest.encode()) - SOCKET_PATH_MAX
    return (f"the state directory's path is too long for the kubelet's unix sockets "
            f"({longest!r} is {len(longest.encode())} bytes, at most {SOCKET_PATH_MAX}): use a "
            f"state directory at least {excess} bytes shorter")


def pick_network(state_dir: str, routes: Iterable[str]) -> NodeNetwork:
    """The first 10.x.0.0/24 in the node range that no existing route overlaps.

    `routes` are destinations as `ip -4 route` prints them ("default", "10.1.0.0/16",
    "192.0.2.1"). Raises ValueError when every choice is taken.
    """
    taken = []
    for dest in routes:
        if dest == "default":
            continue
        try:
            taken.append(ipaddress.ip_network(dest, strict=False))
        except ValueError:
            continue
    for n in range(SUBNET_CHOICES):
        candidate = ipaddress.ip_network(f"10.{SUBNET_SECOND_OCTET_BASE + n}.0.0/24")
        if not any(candidate.overlaps(t) for t in taken):
            return NodeNetwork(bridge=f"{LINK_PREFIX}{node_id(state_dir)}", subnet=str(candidate))
    raise ValueError("no free 10.x.0.0/24 for the node's Pods: every candidate is routed")


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


@dataclass(frozen=True)
class RegistryTrust:
    """A registry the node's containerd pulls from: its CA, (optional) credentials, and the
    registries it stands in for (`mirror_of`: a pull of `ghcr.io/x:1` asks it for `x:1`)."""

    host: str
    ca_file: str
    username: str = ""
    password: str = ""
    mirror_of: tuple[str, ...] = ()


def containerd_config(
    *,
    root: str,
    state: str,
    socket: str,
    sandbox_image: str,
    cni_bin_dir: str,
    cni_conf_dir: str,
    runc_root: str,
    registries: Sequence[RegistryTrust] = (),
) -> str:
    """containerd's config.toml (schema version 2, as containerd 1.6 and 1.7 read it)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    lines = [
        "version = 2",
        f"root = {_toml_str(root)}",
        f"state = {_toml_str(state)}",
        "",
        "[grpc]",
        f"  address = {_toml_str(socket)}",
        "",
        "[ttrpc]",
        f"  address = {_toml_str(socket + '.ttrpc')}",
        "",
        "[metrics]",
        '  address = ""',
        "",
        f"[{cri}]",
        f"  sandbox_image = {_toml_str(sandbox_image)}",
        "  netns_mounts_under_state_dir = true",
        "  enable_selinux = false",
        "  disable_apparmor = true",
        "  restrict_oom_score_adj = true",
        "",
        f"[{cri}.cni]",
        f"  bin_dir = {_toml_str(cni_bin_dir)}",
        f"  conf_dir = {_toml_str(cni_conf_dir)}",
        "  max_conf_num = 1",
        "",
        f"[{cri}.containerd]",
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        "",
        f"[{cri}.containerd.runtimes.runc]",
        '  runtime_type = "io.containerd.runc.v2"',
        "",
        f"[{cri}.containerd.runtimes.runc.options]",
        "  SystemdCgroup = false",
        f"  Root = {_toml_str(runc_root)}",
    ]
    for reg in registries:
        key = f'{cri}.registry.configs.{_toml_str(reg.host)}'
        lines += ["", f"[{key}.tls]", f"  ca_file = {_toml_str(reg.ca_file)}"]
        if reg.username:
            lines += [
                "",
                f"[{key}.auth]",
                f"  username = {_toml_str(reg.username)}",
                f"  password = {_toml_str(reg.password)}",
            ]
        for upstream in reg.mirror_of:
            lines += [
                "",
                f"[{cri}.registry.mirrors.{_toml_str(upstream)}]",
                f"  endpoint = [{_toml_str('https://' + reg.host)}]",
            ]
    return "\n".join(lines) + "\n"


def cni_conflist(net: NodeNetwork, *, ipam_dir: str) -> dict:
    """The CNI network: Pods on the node's bridge, addresses from its /24, outbound NAT."""
    return {
        "cniVersion": "0.4.0",
        "name": f"afflux-{net.bridge}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": net.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": net.subnet, "gateway": net.gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": ipam_dir,
                },
            },
        ],
    }


def kubelet_config(
    *,
    net: NodeNetwork,
    runtime_socket: str,
    client_ca_file: str,
    port: int,
    healthz_port: int,
    cgroup_root: str,
    pod_logs_dir: str,
    resolv_conf: str = "/etc/resolv.conf",
) -> dict:
    """The KubeletConfiguration of the real node.

    cgroup v1 needs `failCgroupV1: false`; the cgroupfs driver because no systemd runs;
    eviction thresholds low, so a busy shared disk never evicts a test's Pods; no swap check.
    """
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        "address": net.gateway,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": client_ca_file},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [net.gateway],
        "resolvConf": resolv_conf,
        "failSwapOn": False,
        "enforceNodeAllocatable": [],
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        "serializeImagePulls": False,
        "registerNode": True,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusReportFrequency": "10s",
        "staticPodPath": "",
        "makeIPTablesUtilChains": True,
        "localStorageCapacityIsolation": False,
        "protectKernelDefaults": False,
        "podLogsDir": pod_logs_dir,
    }


def kube_proxy_config(
    *, net: NodeNetwork, kubeconfig: str, node_name: str, healthz_port: int, metrics_port: int
) -> dict:
    """kube-proxy in iptables mode; it touches no conntrack sysctl and no route_localnet."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": kubeconfig},
        "hostnameOverride": node_name,
        "bindAddress": net.gateway,
        "clusterCIDR": net.subnet,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "nodePortAddresses": [f"{net.gateway}/32"],
    }


def corefile(*, net: NodeNetwork, kubeconfig: str, context: str, ready_port: int) -> str:
    """CoreDNS's Corefile: Services and Pods of the cluster, the rest from the host's resolver."""
    return (
        f".:{DNS_PORT} {{\n"
        f"    bind {net.gateway}\n"
        "    errors\n"
        f"    ready 127.0.0.1:{ready_port}\n"
        f"    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig} {context}\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "        ttl 5\n"
        "    }\n"
        "    forward . /etc/resolv.conf\n"
        "    cache 5\n"
        "}\n"
    )


# --- clean-up ------------------------------------------------------------------------------


def parse_iptables_save(text: str) -> dict[str, tuple[list[str], list[str]]]:
    """`iptables-save` output -> {table: (chains, "-A ..." rules)}."""
    tables: dict[str, tuple[list[str], list[str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        if line.startswith("*"):
            current = line[1:].strip()
            tables[current] = ([], [])
        elif current is None:
            continue
        elif line.startswith(":"):
            tables[current][0].append(line[1:].split()[0])
        elif line.startswith("-A "):
            tables[current][1].append(line)
    return tables


def owned_chains(text: str, before: Mapping[str, Sequence[str]] = {}) -> dict[str, list[str]]:
    """Per table, the chains with one of the node's prefixes that `before` did not have."""
    out: dict[str, list[str]] = {}
    for table, (chains, _) in parse_iptables_save(text).items():
        had = set(before.get(table, ()))
        mine = [c for c in chains if c.startswith(CHAIN_PREFIXES) and c not in had]
        if mine:
            out[table] = mine
    return out


def iptables_cleanup_plan(
    text: str, before: Mapping[str, Sequence[str]] = {}
) -> list[list[str]]:
    """The iptables commands (argument lists, without the `iptables` itself) that remove
    every chain the node made and every rule that jumps to one, from `iptables-save` text.

    Order: delete the jumps from chains that stay, then flush every owned chain, then
    delete them (a chain can only go once nothing refers to it).
    """
    plan: list[list[str]] = []
    tables = parse_iptables_save(text)
    owned = owned_chains(text, before)
    for table, chains in owned.items():
        mine = set(chains)
        _, rules = tables[table]
        for rule in rules:
            args = shlex.split(rule)
            chain = args[1]
            target = args[args.index("-j") + 1] if "-j" in args else None
            if chain not in mine and target in mine:
                plan.append(["-t", table, "-D", *args[1:]])
        plan += [["-t", table, "-F", c] for c in chains]
        plan += [["-t", table, "-X", c] for c in chains]
    return plan


def mounts_under(mountinfo: str, directory: str) -> list[str]:
    """Mount points at or below `directory` from /proc/self/mountinfo text, deepest first
    (the order to unmount them in)."""
    base = directory.rstrip("/")
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = fields[4].replace("\\040", " ")
        if point == base or point.startswith(base + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def links_of(ip_link_json: str, prefixes: Sequence[str]) -> list[str]:
    """Interface names from `ip -j link` output that start with one of `prefixes`."""
    return [
        link["ifname"]
        for link in json.loads(ip_link_json or "[]")
        if any(link.get("ifname", "").startswith(p) for p in prefixes)
    ]


def bridge_ports(ip_link_json: str, bridge: str) -> list[str]:
    """The interfaces enslaved to `bridge` (the host ends of the Pods' veths)."""
    return [
        link["ifname"] for link in json.loads(ip_link_json or "[]") if link.get("master") == bridge
    ]
