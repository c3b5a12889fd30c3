"""Flux 2.9's newer HelmRelease settings (helm-controller v1.6) against afflux's two Helm
engines. Pure: no I/O, table-tested.

Flux 2.9's helm-controller runs on the Helm 4 SDK and defaults to Helm 4's behaviour; its
`--feature-gates=UseHelm3Defaults=true` brings back Helm 3's defaults. afflux runs the
`helm` program (`_helm`), and has two: the pinned Helm 3 (`helm`, v3.20.x) and the pinned
Helm 4 (`helm4`, v4.3.x), both built by `hack/tools.sh`. `Engine.of(gates)` picks one from
the helm operator's `--feature-gates`:

- no `UseHelm3Defaults` gate, or `UseHelm3Defaults=false`: HELM4, the default, as Flux
  2.9's: Flux 2.9's defaults and every Helm 4 setting. An install applies server-side
  unless `install.serverSideApply: false`; an upgrade or rollback applies as
  `upgrade/rollback.serverSideApply` says, `auto` (the default) as the release it starts
  from was applied (its record's `apply_method`, `ssa` or `csa`; a release Helm 3 made has
  none: client-side), exactly as Flux decides it (`server_side`). Server-side apply always
  forces conflicts (Flux does; helm's `--force-conflicts`), and `force` (replace) is only
  used client-side. The wait defaults to `poller` (afflux's kstatus poll, as Flux's
  kstatus-based waiter), the post-render strategy to `combined` (`post_render_strategy`).
- `UseHelm3Defaults=true`: HELM3, the pinned Helm 3 program with Flux's Helm 3 defaults:
  client-side apply (`install.serverSideApply: false`,
  `upgrade/rollback.serverSideApply: disabled`), Helm's own wait (`waitStrategy: legacy`) and
  post-renderers that do not see hooks (`postRenderStrategy: nohooks`). `waitStrategy:
  poller` is afflux's own (helm runs without `--wait`, the release phase polls the objects
  with kstatus and `healthCheckExprs`). A HelmRelease that asks for a Helm 4 behaviour
  explicitly (`serverSideApply: true|enabled`, `postRenderStrategy: combined|separate`) is not
  silently given Helm 3's: `unsupported` names each such setting and the release phase
  stalls with `UnsupportedByEngine` until the spec changes.

Moving an installation from Helm 3 to Helm 4 (afflux's default changed with Flux 2.9's)
keeps its releases client-side: Helm 4 reads Helm 3's records, and `auto` upgrades and
rolls back a release Helm 3 made client-side, as Flux 2.9 does; only new installs apply
server-side. What does change for them is the wait (`poller`) and that hooks reach the
post-renderers (`combined`: commonMetadata and the origin labels on hooks too).

The rest of this module:
- `post_renderers_digest` / `common_metadata_digest`: `sha256:<hex>` of the JSON of
  `spec.postRenderers` / `spec.commonMetadata` (None when unset), written as
  `status.observedPostRenderersDigest` / `observedCommonMetadataDigest` when the release is
  in sync; at a new generation a digest that differs from the observed one makes the release
  out of sync (an upgrade re-renders it), as Flux does.
- `retry_interval`: `install/upgrade.strategy` RetryOnFailure -> the seconds to wait before
  the failed action is tried again (5m by default); None for RemediateOnFailure (or unset),
  where `remediation` applies.
- `release_inventory`: Flux's `status.inventory` of a release: every object of its manifest
  but the hooks (namespaced ones without a namespace get the release's), then the chart's
  CRDs, as `{id: <ns>_<name>_<group>_<kind>, v: <version>}`.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from afflux.api import parse_duration
from afflux.api._helm_v2 import STRATEGY_RETRY
from afflux.api._refs import inventory_id

from ._postrender_prog import HOOK_ANNOTATION

__all__ = [
    "DEFAULT_RETRY_INTERVAL",
    "HELM3_DEFAULTS_GATE",
    "HOOK_ANNOTATION",
    "Engine",
    "common_metadata_digest",
    "install_server_side",
    "post_render_strategy",
    "post_renderers_digest",
    "release_inventory",
    "retry_interval",
    "server_side",
    "unsupported",
    "unsupported_message",
    "wait_strategy",
]

DEFAULT_RETRY_INTERVAL = 300.0
#: Flux's feature gate: true runs Helm 3 with its defaults; false (the default) Helm 4
HELM3_DEFAULTS_GATE = "UseHelm3Defaults"
#: a release record's `apply_method` when it was applied server-side (Helm 4)
SERVER_SIDE = "ssa"


class Engine(enum.Enum):
    """The Helm that runs a release's actions (module docstring)."""

    HELM3 = "helm"
    HELM4 = "helm4"

    @property
    def program(self) -> str:
        """The name of its binary (`find_tool`)."""
        return self.value

    @classmethod
    def of(cls, gates: Mapping[str, bool]) -> Engine:
        """The engine `--feature-gates` (parsed) selects."""
        return cls.HELM3 if gates.get(HELM3_DEFAULTS_GATE, False) else cls.HELM4


def install_server_side(spec: Mapping[str, Any], engine: Engine) -> bool:
    """Whether an install applies server-side: `install.serverSideApply`, else the
    engine's default (Helm 4: yes)."""
    value = (spec.get("install") or {}).get("serverSideApply")
    if value is not None:
        return bool(value)
    return engine is Engine.HELM4


def server_side(spec: Mapping[str, Any], action: str, apply_method: str) -> bool:
    """Whether an upgrade or rollback applies server-side: `<action>.serverSideApply`
    `enabled`/`disabled`, else (`auto`, the default for both engines, as Flux) as the
    release it starts from was applied (`apply_method` of its record: "ssa", "csa", or ""
    for a release Helm 3 made)."""
    value = (spec.get(action) or {}).get("serverSideApply") or "auto"
    if value == "enabled":
        return True
    if value == "disabled":
        return False
    return apply_method == SERVER_SIDE


def wait_strategy(spec: Mapping[str, Any], engine: Engine) -> str:
    """`waitStrategy.name`, else the engine's default (Helm 4 `poller`, Helm 3 `legacy`)."""
    name = (spec.get("waitStrategy") or {}).get("name")
    if name:
        return str(name)
    return "poller" if engine is Engine.HELM4 else "legacy"


def post_render_strategy(spec: Mapping[str, Any], engine: Engine) -> str:
    """`postRenderStrategy`, else the engine's default (Helm 4 `combined`, Helm 3
    `nohooks`)."""
    value = spec.get("postRenderStrategy")
    if value:
        return str(value)
    return "combined" if engine is Engine.HELM4 else "nohooks"


def unsupported(spec: Mapping[str, Any], engine: Engine = Engine.HELM3) -> list[str]:
    """Each setting of the HelmRelease spec (its JSON) that the engine cannot honour, said
    as what to change (empty: none; Helm 4 honours them all)."""
    if engine is Engine.HELM4:
        return []
    found = []
    if (spec.get("install") or {}).get("serverSideApply") is True:
        found.append("spec.install.serverSideApply: true (set it to false or leave it out)")
    for action in ("upgrade", "rollback"):
        if (spec.get(action) or {}).get("serverSideApply") == "enabled":
            found.append(f"spec.{action}.serverSideApply: enabled (use disabled or auto, or "
                         "leave it out)")
    strategy = spec.get("postRenderStrategy")
    if strategy in ("combined", "separate"):
        found.append(f"spec.postRenderStrategy: {strategy} (use nohooks or leave it out)")
    return found


def unsupported_message(found: Iterable[str]) -> str:
    return ("the helm operator runs Helm 3 (--feature-gates="
            f"{HELM3_DEFAULTS_GATE}=true), which cannot do what these settings ask for "
            "(Helm 4 behaviour): " + "; ".join(found) + "; or start the helm operator "
            f"without {HELM3_DEFAULTS_GATE}=true (Helm 4, the default)")


def _digest(value: Any) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def post_renderers_digest(spec: Mapping[str, Any]) -> str | None:
    return _digest(spec.get("postRenderers"))


def common_metadata_digest(spec: Mapping[str, Any]) -> str | None:
    return _digest(spec.get("commonMetadata"))


def retry_interval(spec: Mapping[str, Any], action: str | None) -> float | None:
    """Seconds between retries of a failed `action` (install or upgrade) under the
    RetryOnFailure strategy; None when its failures are remediated instead."""
    if action not in ("install", "upgrade"):
        return None
    strategy = (spec.get(action) or {}).get("strategy") or {}
    if strategy.get("name") != STRATEGY_RETRY:
        return None
    interval = strategy.get("retryInterval")
    return parse_duration(interval) if interval else DEFAULT_RETRY_INTERVAL


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


#: (apiVersion, kind) -> namespaced? (None: unknown, left as written)
Namespaced = Callable[[str, str], "bool | None"]


def release_inventory(objects: Iterable[Mapping[str, Any]], release_namespace: str,
                      namespaced: Namespaced,
                      crds: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, str]]:
    """`status.inventory.entries` of a release (module docstring), in manifest order, each
    object once."""
    entries: dict[str, dict[str, str]] = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        if HOOK_ANNOTATION in (meta.get("annotations") or {}):
            continue
        api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
        name = str(meta.get("name") or "")
        if not (kind and name):
            continue
        namespace = meta.get("namespace") or (
            release_namespace if namespaced(api_version, kind) else "")
        group, version = _group_version(api_version)
        entry_id = inventory_id(namespace, name, group, kind)
        entries[entry_id] = {"id": entry_id, "v": version}
    for crd in crds:
        name = str((crd.get("metadata") or {}).get("name") or "")
        if not name:
            continue
        group, version = _group_version(str(crd.get("apiVersion") or ""))
        entry_id = inventory_id("", name, group, str(crd.get("kind") or ""))
        entries[entry_id] = {"id": entry_id, "v": version}
    return list(entries.values())
