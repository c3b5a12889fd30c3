"""`--shards N` of install and bootstrap: the sharded operator Deployments, the way Flux's
sharding guide lays them out (pure, no I/O).

For each of source-, kustomize- and helm-controller among the install objects:
- the main Deployment keeps its name and gets `--watch-label-selector=!sharding.fluxcd.io/key`
  (it reconciles the objects without the label);
- shard i (1..N) is a copy named `<controller>-shard<i>`, with
  `--watch-label-selector=sharding.fluxcd.io/key in (shard<i>)`, its own Pod label
  (`app: <controller>-shard<i>`, so each Deployment selects its own Pods) and the label
  `sharding.fluxcd.io/role: shard`;
- a source-controller shard serves its artifacts behind a Service of its own,
  `source-controller-shard<i>`, and advertises that address (`--storage-adv-addr`), so
  the artifacts of a shard's sources are fetched from the shard that made them.
The other operators are not sharded (as in Flux's guide). Every instance elects its own
leader (the runtime derives the Lease name from the selector).
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from afflux.api._distribution import COMPONENT_LABEL
from afflux.api._sharding import MAIN_SELECTOR, SHARD_KEY, leader_lease_name, shard_selector

__all__ = [
    "COMPONENT_LABEL",
    "MAIN_SELECTOR",
    "SHARDED_CONTROLLERS",
    "SHARD_KEY",
    "SHARD_ROLE_LABEL",
    "deployment_args",
    "flag_value",
    "instance_lease",
    "instance_names",
    "shard_docs",
    "shards_arg",
    "shard_selector",
    "watch_selector",
]

SHARD_ROLE_LABEL = "sharding.fluxcd.io/role"
SHARDED_CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller")
MAX_SHARDS = 64
_SELECTOR_FLAG = "--watch-label-selector"


def shards_arg(text: str) -> int:
    """argparse `type=` of `--shards`: a whole number from 0 to `MAX_SHARDS`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SHARDS}")
    return value


SHARDS_HELP = ("also run N shards of source-, kustomize- and helm-controller: Deployments "
               "<controller>-shard<i> reconciling the objects labelled "
               f"{SHARD_KEY}=shard<i>, the main ones those without the label (default 0)")


def _component(doc: Mapping[str, Any]) -> str | None:
    return ((doc.get("metadata") or {}).get("labels") or {}).get(COMPONENT_LABEL)


def _manager(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The operator container of a Deployment (named `manager`, else the first)."""
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    for container in containers:
        if container.get("name") == "manager":
            return container  # type: ignore[no-any-return]
    return containers[0] if containers else None


def deployment_args(doc: Mapping[str, Any]) -> list[str]:
    """The args of a Deployment's operator container (empty when it has none)."""
    container = _manager(dict(doc))
    return [str(a) for a in (container or {}).get("args") or []]


def flag_value(args: Sequence[str], flag: str) -> str:
    """The value of the last `flag` in `args` (`--flag=value` or `--flag value`; '' when
    none), as the operator's argument parser reads it."""
    value = ""
    items = list(args)
    for i, arg in enumerate(items):
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        elif arg == flag and i + 1 < len(items):
            value = items[i + 1]
    return value


def watch_selector(args: Sequence[str]) -> str:
    """The value of the last `--watch-label-selector` in `args` ('' when none)."""
    return flag_value(args, _SELECTOR_FLAG)


def instance_lease(name: str, deployment: Mapping[str, Any] | None) -> str:
    """The leader-election Lease the operator of Deployment `name` keeps: its controller (the
    component label; else `name`) and the `--watch-label-selector` of its args."""
    if deployment is None:
        return leader_lease_name(name)
    controller = _component(deployment) or name
    return leader_lease_name(controller, watch_selector(deployment_args(deployment)))


def instance_names(components: Sequence[str], shards: int) -> list[str]:
    """The Deployments of `components` with `shards` shards: each component's, then the
    shards of the sharded ones (`<controller>-shard<i>`)."""
    return [*components, *(f"{c}-shard{i}" for c in components if c in SHARDED_CONTROLLERS
                           for i in range(1, shards + 1))]


def _set_flag(args: list[str], flag: str, value: str) -> list[str]:
    """`args` with every `flag=...` (and `flag value`) replaced by one `flag=value`."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        if not arg.startswith(flag + "="):
            out.append(arg)
    return [*out, f"{flag}={value}"]


def _with_flags(doc: dict[str, Any], flags: Mapping[str, str]) -> None:
    container = _manager(doc)
    if container is None:
        return
    args = [str(a) for a in container.get("args") or []]
    for flag, value in flags.items():
        args = _set_flag(args, flag, value)
    container["args"] = args


def _shard_deployment(doc: Mapping[str, Any], index: int) -> dict[str, Any]:
    new = copy.deepcopy(dict(doc))
    base = str(new["metadata"]["name"])
    name = f"{base}-shard{index}"
    new["metadata"]["name"] = name
    new["metadata"].setdefault("labels", {})[SHARD_ROLE_LABEL] = "shard"
    spec = new.setdefault("spec", {})
    spec.setdefault("selector", {}).setdefault("matchLabels", {})["app"] = name
    template = spec.setdefault("template", {}).setdefault("metadata", {})
    labels = template.setdefault("labels", {})
    labels["app"] = name
    labels[SHARD_ROLE_LABEL] = "shard"
    flags = {_SELECTOR_FLAG: shard_selector(index)}
    if _component(doc) == "source-controller":
        flags["--storage-adv-addr"] = f"{name}.$(RUNTIME_NAMESPACE).svc.cluster.local."
    _with_flags(new, flags)
    return new


def _shard_service(doc: Mapping[str, Any], index: int) -> dict[str, Any]:
    new = copy.deepcopy(dict(doc))
    name = f"{new['metadata']['name']}-shard{index}"
    new["metadata"]["name"] = name
    new["metadata"].setdefault("labels", {})[SHARD_ROLE_LABEL] = "shard"
    new.setdefault("spec", {})["selector"] = {"app": name}
    return new


def shard_docs(docs: Iterable[Mapping[str, Any]], shards: int) -> list[dict[str, Any]]:
    """The install objects with `shards` shards of each sharded controller (see the module
    docstring); `shards` 0 returns them unchanged. ValueError beyond `MAX_SHARDS`."""
    if not 0 <= shards <= MAX_SHARDS:
        raise ValueError(f"--shards must be between 0 and {MAX_SHARDS}, not {shards}")
    out: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for doc in docs:
        new = copy.deepcopy(dict(doc))
        out.append(new)
        component = _component(new)
        if not shards or component not in SHARDED_CONTROLLERS:
            continue
        if new.get("kind") == "Deployment" and new["metadata"].get("name") == component:
            _with_flags(new, {_SELECTOR_FLAG: MAIN_SELECTOR})
            added += [_shard_deployment(new, i) for i in range(1, shards + 1)]
        elif (new.get("kind") == "Service" and component == "source-controller"
              and new["metadata"].get("name") == component):
            added += [_shard_service(new, i) for i in range(1, shards + 1)]
    return out + added
