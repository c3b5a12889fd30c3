"""The real node's configuration and clean-up plans (pure): network choice, containerd,
CNI, kubelet, kube-proxy and CoreDNS configuration, iptables/mount/link clean-up."""

from __future__ import annotations

import json
import tomllib

import pytest

from afflux.cli.devenv import _nodeplan as plan

NET = plan.NodeNetwork(bridge="afx12345678", subnet="10.200.0.0/24")


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        pytest.param(["default", "192.0.2.0/24"], "10.200.0.0/24", id="nothing-in-the-range"),
        pytest.param(["10.200.0.0/24"], "10.201.0.0/24", id="first-taken"),
        pytest.param(["10.200.0.0/16", "10.201.0.7"], "10.202.0.0/24", id="wider-route-and-host"),
        pytest.param(["10.0.0.0/8"], None, id="all-covered"),
        pytest.param(["garbage", "default"], "10.200.0.0/24", id="unparsable-ignored"),
    ],
)
def test_pick_network(routes: list[str], expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="no free"):
            plan.pick_network("/x", routes)
        return
    net = plan.pick_network("/x", routes)
    assert net.subnet == expected
    assert net.bridge.startswith(plan.LINK_PREFIX) and len(net.bridge) <= 15


def test_network_gateway_is_the_first_address() -> None:
    assert NET.gateway == "10.200.0.1"
    assert NET.prefix_len == 24


def test_node_id_is_stable_and_short() -> None:
    assert plan.node_id("/a") == plan.node_id("/a") != plan.node_id("/b")
    assert len(plan.node_id("/a")) == 8


def _containerd(**kw) -> dict:
    args = dict(
        root="/n/root",
        state="/n/state",
        socket="/run/afflux/x/containerd.sock",
        sandbox_image="afflux.local/pause:3.10.1",
        cni_bin_dir="/usr/lib/cni",
        cni_conf_dir="/n/cni",
        runc_root="/n/runc",
    )
    args.update(kw)
    return tomllib.loads(plan.containerd_config(**args))


def test_containerd_config_keeps_everything_under_the_node() -> None:
    cfg = _containerd()
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert (cfg["root"], cfg["state"]) == ("/n/root", "/n/state")
    assert cfg["grpc"]["address"] == "/run/afflux/x/containerd.sock"
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["sandbox_image"] == "afflux.local/pause:3.10.1"
    assert cri["cni"] == {"bin_dir": "/usr/lib/cni", "conf_dir": "/n/cni", "max_conf_num": 1}
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"SystemdCgroup": False, "Root": "/n/runc"}
    assert "registry" not in cri


@pytest.mark.parametrize(
    ("trust", "auth"),
    [
        pytest.param(plan.RegistryTrust("127.0.0.1:5000", "/ca.pem"), None, id="ca-only"),
        pytest.param(
            plan.RegistryTrust("127.0.0.1:5000", "/ca.pem", "u", 'p"w\\'),
            {"username": "u", "password": 'p"w\\'},
            id="ca-and-credentials-quoted",
        ),
    ],
)
def test_containerd_config_trusts_registries(trust, auth) -> None:
    cri = _containerd(registries=[trust])["plugins"]["io.containerd.grpc.v1.cri"]
    entry = cri["registry"]["configs"]["127.0.0.1:5000"]
    assert entry["tls"] == {"ca_file": "/ca.pem"}
    assert entry.get("auth") == auth


def test_containerd_config_mirrors_upstream_registries_to_a_trusted_one() -> None:
    trust = plan.RegistryTrust("10.200.0.1:5000", "/ca.pem", "u", "p", mirror_of=("ghcr.io", "docker.io"))
    cri = _containerd(registries=[trust])["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["registry"]["mirrors"] == {
        "ghcr.io": {"endpoint": ["https://10.200.0.1:5000"]},
        "docker.io": {"endpoint": ["https://10.200.0.1:5000"]},
    }
    assert cri["registry"]["configs"]["10.200.0.1:5000"]["auth"] == {"username": "u", "password": "p"}


def test_cni_conflist_is_a_bridge_with_host_local_addresses() -> None:
    conf = plan.cni_conflist(NET, ipam_dir="/n/ipam")
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "afx12345678"
    assert bridge["isGateway"] and bridge["ipMasq"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.200.0.0/24", "gateway": "10.200.0.1"}]]
    assert bridge["ipam"]["dataDir"] == "/n/ipam"
    json.dumps(conf)


def test_kubelet_config() -> None:
    cfg = plan.kubelet_config(
        net=NET,
        runtime_socket="/run/x.sock",
        client_ca_file="/ca.crt",
        port=10250,
        healthz_port=10248,
        cgroup_root="/afflux-1",
        pod_logs_dir="/n/pod-logs",
    )
    assert cfg["failCgroupV1"] is False
    assert cfg["cgroupDriver"] == "cgroupfs" and cfg["cgroupRoot"] == "/afflux-1"
    assert cfg["containerRuntimeEndpoint"] == "unix:///run/x.sock"
    assert cfg["clusterDNS"] == ["10.200.0.1"] and cfg["address"] == "10.200.0.1"
    assert cfg["authentication"]["anonymous"] == {"enabled": False}
    assert cfg["readOnlyPort"] == 0
    assert cfg["podLogsDir"] == "/n/pod-logs"


def test_kube_proxy_config_touches_no_sysctl() -> None:
    cfg = plan.kube_proxy_config(
        net=NET, kubeconfig="/k", node_name="n", healthz_port=1, metrics_port=2
    )
    assert cfg["mode"] == "iptables" and cfg["clusterCIDR"] == "10.200.0.0/24"
    assert cfg["conntrack"]["maxPerCore"] == 0
    assert cfg["iptables"]["localhostNodePorts"] is False
    assert cfg["healthzBindAddress"] == "127.0.0.1:1"


def test_corefile_serves_the_cluster_on_the_node_address() -> None:
    text = plan.corefile(net=NET, kubeconfig="/k", context="c", ready_port=8181)
    assert "bind 10.200.0.1" in text
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in text
    assert "kubeconfig /k c" in text
    assert "ready 127.0.0.1:8181" in text
    assert text.count("{") == text.count("}")


SAVE = """# Generated by iptables-save
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:CNI-abc - [0:0]
:DOCKER - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -s 10.200.0.5/32 -m comment --comment "name: \\"afflux\\" id: \\"x\\"" -j CNI-abc
-A POSTROUTING -j DOCKER
-A KUBE-SERVICES -d 10.0.0.1/32 -j KUBE-POSTROUTING
-A CNI-abc -d 10.200.0.0/24 -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
-A INPUT -j KUBE-FIREWALL
COMMIT
"""


def test_owned_chains_are_new_chains_with_the_node_prefixes() -> None:
    assert plan.owned_chains(SAVE) == {
        "nat": ["KUBE-SERVICES", "KUBE-POSTROUTING", "CNI-abc"],
        "filter": ["KUBE-FIREWALL"],
    }
    before = {"filter": ["KUBE-FIREWALL"]}
    assert plan.owned_chains(SAVE, before) == {"nat": ["KUBE-SERVICES", "KUBE-POSTROUTING", "CNI-abc"]}


def test_iptables_cleanup_plan_removes_jumps_then_flushes_then_deletes() -> None:
    steps = plan.iptables_cleanup_plan(SAVE)
    assert steps == [
        ["-t", "nat", "-D", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"],
        ["-t", "nat", "-D", "POSTROUTING", "-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"],
        ["-t", "nat", "-D", "POSTROUTING", "-s", "10.200.0.5/32", "-m", "comment", "--comment", 'name: "afflux" id: "x"', "-j", "CNI-abc"],
        ["-t", "nat", "-F", "KUBE-SERVICES"],
        ["-t", "nat", "-F", "KUBE-POSTROUTING"],
        ["-t", "nat", "-F", "CNI-abc"],
        ["-t", "nat", "-X", "KUBE-SERVICES"],
        ["-t", "nat", "-X", "KUBE-POSTROUTING"],
        ["-t", "nat", "-X", "CNI-abc"],
        ["-t", "filter", "-D", "INPUT", "-j", "KUBE-FIREWALL"],
        ["-t", "filter", "-F", "KUBE-FIREWALL"],
        ["-t", "filter", "-X", "KUBE-FIREWALL"],
    ]


def test_iptables_cleanup_plan_of_a_clean_host_is_empty() -> None:
    assert plan.iptables_cleanup_plan("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n") == []


MOUNTINFO = """\
22 1 8:1 / / rw - ext4 /dev/vda rw
90 22 0:50 / /n/node/state/netns/cni-1 rw - nsfs nsfs rw
91 22 0:51 / /n/node/kubelet/pods/u/volumes/kubernetes.io~projected/kube-api-access rw - tmpfs tmpfs rw
92 22 0:52 / /n/node/state/task/abc/rootfs rw - overlay overlay rw
93 22 0:53 / /n/node-other/x rw - tmpfs tmpfs rw
94 22 0:54 / /n/node/with\\040space rw - tmpfs tmpfs rw
"""


def test_mounts_under_lists_deepest_first_and_only_below() -> None:
    assert plan.mounts_under(MOUNTINFO, "/n/node/") == [
        "/n/node/kubelet/pods/u/volumes/kubernetes.io~projected/kube-api-access",
        "/n/node/state/task/abc/rootfs",
        "/n/node/state/netns/cni-1",
        "/n/node/with space",
    ]


LINKS = json.dumps(
    [
        {"ifname": "lo"},
        {"ifname": "afx12345678"},
        {"ifname": "veth1", "master": "afx12345678"},
        {"ifname": "veth2", "master": "other"},
        {"ifname": "afxdeadbeef"},
    ]
)


@pytest.mark.parametrize(
    ("prefixes", "expected"),
    [
        pytest.param(["afx12345678"], ["afx12345678"], id="this-node"),
        pytest.param(["afx"], ["afx12345678", "afxdeadbeef"], id="every-node"),
        pytest.param(["nope"], [], id="none"),
    ],
)
def test_links_of(prefixes, expected) -> None:
    assert plan.links_of(LINKS, prefixes) == expected


def test_bridge_ports() -> None:
    assert plan.bridge_ports(LINKS, "afx12345678") == ["veth1"]
    assert plan.bridge_ports("", "afx12345678") == []


@pytest.mark.parametrize(
    ("root", "fits"),
    [
        pytest.param("/work/repo/.local/cluster/node/kubelet", True, id="checkout-state-dir"),
        pytest.param("/" + "d" * 81, True, id="at-the-limit"),
        pytest.param("/" + "d" * 82, False, id="one-byte-over"),
        pytest.param("/tmp/pytest-of-root/pytest-372/test_dev_up_real_node_serves_f0/dev/"
                     "cluster/node/kubelet", False, id="deep-test-directory"),
    ],
)
def test_socket_room_problem(root: str, fits: bool) -> None:
    problem = plan.socket_room_problem(root)
    assert (problem is None) == fits
    if problem:
        assert "too long for the kubelet's unix sockets" in problem
        assert "shorter" in problem
