"""The local launcher's decisions: which Deployments run as local processes, the command
line each gets (the documented mapping of the args that make no sense outside a Pod), and
what a sync starts, restarts and stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from afflux.cli.devenv._launcher import plan
from afflux.cli.devenv._localargs import (
    LOCAL_MAPPING,
    Instance,
    LocalSetting,
    Ports,
    local_argv,
    local_instances,
    ports_needed,
)

SETTING = LocalSetting(python="/py", kubeconfig=Path("/k/kubeconfig"),
                       storage_root=Path("/state/operators"),
                       conversion={"kustomize-controller": ("--conversion-addr=127.0.0.1:7",
                                                            "--conversion-cert-dir=/c")})
PORTS = Ports(metrics=1, health=2, storage=3, events=4, receiver=5)


def _argv(controller: str, *args: str, name: str = "", pinned: tuple[str, ...] = ()) -> list[str]:
    setting = LocalSetting(SETTING.python, SETTING.kubeconfig, SETTING.storage_root,
                           SETTING.conversion, pinned)
    instance = Instance(name or controller, "flux-system", controller, args)
    return local_argv(instance, "mod", PORTS, setting)[3:]


COMMON = ["--kubeconfig=/k/kubeconfig", "--namespace=flux-system",
          "--metrics-addr=127.0.0.1:1", "--health-addr=127.0.0.1:2",
          "--enable-leader-election=true", "--log-encoding=json"]


@pytest.mark.parametrize(("controller", "args", "name", "expected"), [
    pytest.param("kustomize-controller",
                 ("--watch-all-namespaces", "--metrics-addr=:8080", "--health-addr=:9440",
                  "--enable-leader-election"), "",
                 ["--watch-all-namespaces", *COMMON, "--conversion-addr=127.0.0.1:7",
                  "--conversion-cert-dir=/c"], id="afflux-deployment-main-instance"),
    pytest.param("kustomize-controller",
                 ("--no-cross-namespace-refs=true", "--default-service-account=default",
                  "--no-remote-bases=true"), "",
                 ["--no-cross-namespace-refs=true", "--default-service-account=default",
                  "--no-remote-bases=true", *COMMON, "--conversion-addr=127.0.0.1:7",
                  "--conversion-cert-dir=/c"], id="lockdown-flags-pass-through"),
    pytest.param("kustomize-controller",
                 ("--watch-label-selector=sharding.fluxcd.io/key in (shard1)",
                  "--conversion-addr=:9443"), "kustomize-controller-shard1",
                 ["--watch-label-selector=sharding.fluxcd.io/key in (shard1)", *COMMON],
                 id="shard-serves-no-webhook"),
    pytest.param("source-controller",
                 ("--storage-path=/data", "--storage-addr=:9090",
                  "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster."
                  "local."), "",
                 [*COMMON, "--storage-path=/state/operators/source-controller",
                  "--storage-addr=127.0.0.1:3", "--storage-adv-addr=127.0.0.1:3"],
                 id="source-storage"),
    pytest.param("notification-controller",
                 ("--events-addr=:9090", "--receiverAddr", ":9292"), "",
                 [*COMMON, "--events-addr=127.0.0.1:4", "--receiverAddr=127.0.0.1:5"],
                 id="notification-listeners-separate-value"),
    pytest.param("helm-controller",
                 ("--events-addr=http://notification-controller/", "--log-encoding",
                  "console", "--enable-leader-election=false", "--kubeconfig=/etc/k"), "",
                 [*COMMON], id="events-url-dropped-logs-json-election-on"),
    pytest.param("image-reflector-controller", ("--storage-path=/data",), "",
                 [*COMMON, "--storage-path=/state/operators/image-reflector-controller"],
                 id="tag-store"),
    pytest.param("helm-controller", ("--default-service-account=$(RUNTIME_NAMESPACE)-sa",),
                 "", ["--default-service-account=flux-system-sa", *COMMON],
                 id="runtime-namespace-expanded"),
])
def test_local_argv(controller: str, args: tuple[str, ...], name: str,
                    expected: list[str]) -> None:
    assert _argv(controller, *args, name=name) == expected


def test_the_program_is_the_controllers_module_and_pinned_args_come_last() -> None:
    instance = Instance("kustomize-controller", "ns", "kustomize-controller", ())
    argv = local_argv(instance, "kustomize", PORTS, LocalSetting(
        "/py", Path("/k"), Path("/s"), pinned=("--watch-all-namespaces=false",)))
    assert argv[:3] == ["/py", "-m", "afflux.controllers.kustomize"]
    assert argv[-1] == "--watch-all-namespaces=false"


def test_every_mapped_flag_is_replaced() -> None:
    args = tuple(f"{flag}=x" for flag in LOCAL_MAPPING)
    argv = _argv("helm-controller", *args)
    assert not [a for a in argv if a.endswith("=x")]


@pytest.mark.parametrize(("controller", "ports"), [
    pytest.param("source-controller", ("metrics", "health", "storage"), id="source"),
    pytest.param("notification-controller", ("metrics", "health", "events", "receiver"),
                 id="notification"),
    pytest.param("helm-controller", ("metrics", "health"), id="helm"),
])
def test_ports_needed(controller: str, ports: tuple[str, ...]) -> None:
    assert ports_needed(controller) == ports


def _dep(name: str, controller: str, *, local: bool = True, args: tuple[str, ...] = (),
         command: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"kind": "Deployment",
            "metadata": {"name": name, "namespace": "flux-system",
                         "labels": {"app.kubernetes.io/component": controller},
                         "annotations": ({"afflux.toolkit.fluxcd.io/local": "true"}
                                         if local else {})},
            "spec": {"template": {"spec": {"containers": [
                {"name": "manager", "command": list(command), "args": list(args)}]}}}}


DEFAULTS = [_dep("source-controller", "source-controller", local=False, args=("--default",)),
            _dep("kustomize-controller", "kustomize-controller", local=False,
                 args=("--default",))]
BOTH = ["source-controller", "kustomize-controller"]


@pytest.mark.parametrize(("cluster", "expected"), [
    pytest.param([], {"source-controller": ("--default",),
                      "kustomize-controller": ("--default",)}, id="before-bootstrap-defaults"),
    pytest.param([_dep("kustomize-controller", "kustomize-controller", args=("--patched",))],
                 {"source-controller": ("--default",), "kustomize-controller": ("--patched",)},
                 id="the-clusters-deployment-wins"),
    pytest.param([_dep("kustomize-controller", "kustomize-controller"),
                  _dep("kustomize-controller-shard1", "kustomize-controller", args=("--s",))],
                 {"source-controller": ("--default",), "kustomize-controller": (),
                  "kustomize-controller-shard1": ("--s",)}, id="one-process-per-shard"),
    pytest.param([_dep("kustomize-controller", "kustomize-controller", local=False)],
                 {"source-controller": ("--default",)}, id="in-cluster-runs-in-pods"),
    pytest.param([_dep("helm-controller", "helm-controller")],
                 {"source-controller": ("--default",), "kustomize-controller": ("--default",)},
                 id="other-controllers-are-not-ours"),
    pytest.param([_dep("kustomize-controller", "kustomize-controller",
                       command=("/bin/sh", "-c", "evil"))],
                 {"source-controller": ("--default",), "kustomize-controller": ()},
                 id="the-command-is-never-read"),
])
def test_local_instances(cluster: list[dict[str, Any]],
                         expected: dict[str, tuple[str, ...]]) -> None:
    found = local_instances(cluster, DEFAULTS, BOTH, "flux-system")
    assert {n: i.args for n, i in found.items()} == expected
    assert all(i.namespace == "flux-system" for i in found.values())


def _inst(name: str, *args: str) -> Instance:
    return Instance(name, "ns", "kustomize-controller", args)


@pytest.mark.parametrize(("desired", "running", "start", "restart", "stop"), [
    pytest.param([_inst("a")], [], ("a",), (), (), id="new"),
    pytest.param([_inst("a")], [_inst("a")], (), (), (), id="unchanged"),
    pytest.param([_inst("a", "--x")], [_inst("a")], (), ("a",), (), id="args-changed"),
    pytest.param([], [_inst("a")], (), (), ("a",), id="gone"),
    pytest.param([_inst("a"), _inst("a-shard1")], [_inst("a")], ("a-shard1",), (), (),
                 id="shard-added"),
])
def test_plan(desired: list[Instance], running: list[Instance], start: tuple[str, ...],
              restart: tuple[str, ...], stop: tuple[str, ...]) -> None:
    todo = plan({i.name: i for i in desired}, {i.name: i for i in running})
    assert (todo.start, todo.restart, todo.stop) == (start, restart, stop)
