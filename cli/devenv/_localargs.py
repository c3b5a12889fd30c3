"""What the local launcher runs for each operator Deployment (pure, no I/O).

A `--local` install keeps the operators' Deployments in the cluster at zero replicas,
annotated `afflux.toolkit.fluxcd.io/local: "true"`; the launcher (`_launcher`) runs one
local process per such Deployment, with the args of that Deployment as the cluster has it,
so a patch the user commits to `flux-system/kustomization.yaml` (e.g. Flux's multi-tenancy
lockdown, `--no-cross-namespace-refs=true`) and the shards of `--shards N` (each with its
`--watch-label-selector`) act on the local processes as they would in the cluster.

The program comes from the Deployment's `app.kubernetes.io/component` label (the module
of that controller), never from its `command` or `image`: a Deployment cannot make the
launcher run another program. The args that make no sense outside a Pod are mapped
(`LOCAL_MAPPING`, also in docs/sharding.md):

| Deployment arg | locally |
|---|---|
| `--metrics-addr`, `--health-addr` | `127.0.0.1:<a free port>` (kept across restarts) |
| `--storage-path` | `<state-dir>/operators/<deployment>` |
| `--storage-addr`, `--storage-adv-addr` | `127.0.0.1:<a free port>` |
| `--events-addr`, `--receiverAddr` (notification-controller) | `127.0.0.1:<a free port>` |
| `--events-addr` (the others: where to post events) | dropped |
| `--conversion-addr`, `--conversion-cert-dir`, `--conversion-cert-secret` | the dev environment's loopback webhook (main instance only; a shard serves none) |
| `--kubeconfig` | the local cluster's admin kubeconfig |
| `--namespace` | the Deployment's namespace (`$(RUNTIME_NAMESPACE)` is expanded to it) |
| `--enable-leader-election` | always on: `afflux check` sees a local operator by its Lease |
| `--log-encoding` | `json`: `afflux logs` reads the JSON lines |

Every other arg is passed as written. The Deployment's env, resources and probes do not
apply to a local process.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afflux.api._distribution import COMPONENT_LABEL
from afflux.cli._bootstrapgen import LOCAL_DEPLOYMENT_ANNOTATION
from afflux.cli._shards import deployment_args

__all__ = [
    "LOCAL_ANNOTATION",
    "LOCAL_MAPPING",
    "Instance",
    "LocalSetting",
    "Ports",
    "local_argv",
    "local_instances",
    "ports_needed",
]

#: on a Deployment of a `--local` install: its operator runs outside the cluster
LOCAL_ANNOTATION = LOCAL_DEPLOYMENT_ANNOTATION
RUNTIME_NAMESPACE = "$(RUNTIME_NAMESPACE)"

#: the flags of a Deployment the launcher replaces, and what with (the docs' table)
LOCAL_MAPPING: dict[str, str] = {
    "--metrics-addr": "127.0.0.1:<free port>",
    "--health-addr": "127.0.0.1:<free port>",
    "--storage-path": "<state-dir>/operators/<deployment>",
    "--storage-addr": "127.0.0.1:<free port>",
    "--storage-adv-addr": "127.0.0.1:<the storage port>",
    "--events-addr": "notification-controller: 127.0.0.1:<free port>; others: dropped",
    "--receiverAddr": "127.0.0.1:<free port>",
    "--receiver-addr": "127.0.0.1:<free port>",
    "--conversion-addr": "the dev environment's loopback webhook (main instance only)",
    "--conversion-cert-dir": "the dev environment's certificate directory",
    "--conversion-cert-secret": "dropped (the dev environment's certificate directory)",
    "--kubeconfig": "the local cluster's kubeconfig",
    "--namespace": "the Deployment's namespace",
    "--enable-leader-election": "always on",
    "--log-encoding": "json",
}

#: controller -> the ports a local process of it needs besides metrics and health
_EXTRA_PORTS: dict[str, tuple[str, ...]] = {
    "source-controller": ("storage",),
    "notification-controller": ("events", "receiver"),
}
_STORAGE = frozenset({"source-controller", "image-reflector-controller"})


@dataclass(frozen=True)
class Instance:
    """One operator process to run: a Deployment's name, namespace, controller and args."""

    name: str
    namespace: str
    controller: str
    args: tuple[str, ...]

    @property
    def main(self) -> bool:
        """The controller's main instance (not a shard): named after the controller."""
        return self.name == self.controller


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one instance (0: not needed)."""

    metrics: int
    health: int
    storage: int = 0
    events: int = 0
    receiver: int = 0


@dataclass(frozen=True)
class LocalSetting:
    """What every local process shares."""

    python: str
    kubeconfig: Path
    storage_root: Path
    #: controller -> the flags that make it serve its conversion webhook on loopback
    conversion: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: appended last, after the mapped args (tests pin `--watch-all-namespaces=false`)
    pinned: tuple[str, ...] = ()


def ports_needed(controller: str) -> tuple[str, ...]:
    """The names of the `Ports` fields an instance of `controller` uses."""
    return ("metrics", "health", *_EXTRA_PORTS.get(controller, ()))


def _flag(arg: str) -> str:
    return arg.split("=", 1)[0]


def _without_mapped(args: Sequence[str]) -> list[str]:
    """`args` without the mapped flags (`--flag=value`, `--flag value` and bare `--flag`)."""
    out: list[str] = []
    items = list(args)
    i = 0
    while i < len(items):
        arg = items[i]
        if _flag(arg) in LOCAL_MAPPING:
            takes_next = ("=" not in arg and arg != "--enable-leader-election"
                          and i + 1 < len(items) and not items[i + 1].startswith("-"))
            i += 2 if takes_next else 1
            continue
        out.append(arg)
        i += 1
    return out


def local_argv(instance: Instance, module: str, ports: Ports,
               setting: LocalSetting) -> list[str]:
    """The command line of the local process of `instance` (see the module docstring)."""
    kept = [a.replace(RUNTIME_NAMESPACE, instance.namespace)
            for a in _without_mapped(instance.args)]
    argv = [setting.python, "-m", f"afflux.controllers.{module}", *kept,
            f"--kubeconfig={setting.kubeconfig}",
            f"--namespace={instance.namespace}",
            f"--metrics-addr=127.0.0.1:{ports.metrics}",
            f"--health-addr=127.0.0.1:{ports.health}",
            "--enable-leader-election=true",
            "--log-encoding=json"]
    if instance.controller in _STORAGE:
        argv.append(f"--storage-path={setting.storage_root / instance.name}")
    if instance.controller == "source-controller":
        argv += [f"--storage-addr=127.0.0.1:{ports.storage}",
                 f"--storage-adv-addr=127.0.0.1:{ports.storage}"]
    if instance.controller == "notification-controller":
        argv += [f"--events-addr=127.0.0.1:{ports.events}",
                 f"--receiverAddr=127.0.0.1:{ports.receiver}"]
    if instance.main:
        argv += list(setting.conversion.get(instance.controller, ()))
    return [*argv, *setting.pinned]


def _labels(doc: Mapping[str, Any]) -> Mapping[str, str]:
    return (doc.get("metadata") or {}).get("labels") or {}


def _instance(doc: Mapping[str, Any], namespace: str) -> Instance:
    meta = doc.get("metadata") or {}
    return Instance(name=str(meta.get("name")), namespace=meta.get("namespace") or namespace,
                    controller=str(_labels(doc).get(COMPONENT_LABEL)),
                    args=tuple(deployment_args(doc)))


def _is_local(doc: Mapping[str, Any]) -> bool:
    return ((doc.get("metadata") or {}).get("annotations") or {}).get(LOCAL_ANNOTATION) == "true"


def local_instances(cluster: Iterable[Mapping[str, Any]], defaults: Iterable[Mapping[str, Any]],
                    controllers: Sequence[str], namespace: str) -> dict[str, Instance]:
    """Deployment name -> `Instance` for each of `controllers`: the Deployments of it the
    cluster has in `namespace` that are annotated local (none when it has only in-cluster
    ones: those run in Pods); when the cluster has no Deployment of it at all (before
    bootstrap), its Deployment from `defaults` (afflux's install manifests)."""
    wanted = set(controllers)
    seen: set[str] = set()
    out: dict[str, Instance] = {}
    for doc in cluster:
        controller = _labels(doc).get(COMPONENT_LABEL)
        if doc.get("kind", "Deployment") != "Deployment" or controller not in wanted:
            continue
        seen.add(str(controller))
        if _is_local(doc):
            inst = _instance(doc, namespace)
            out[inst.name] = inst
    for doc in defaults:
        controller = _labels(doc).get(COMPONENT_LABEL)
        if doc.get("kind") != "Deployment" or controller not in wanted or controller in seen:
            continue
        inst = _instance(copy.deepcopy(dict(doc)), namespace)
        inst = Instance(inst.name, namespace, inst.controller, inst.args)
        out[inst.name] = inst
    return out
