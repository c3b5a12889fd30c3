"""Flux 2.9's newer HelmRelease settings (helm-controller v1.6) against afflux's Helm engine.
Pure: no I/O, table-tested.

Flux 2.9's helm-controller runs on Helm 4; afflux runs the pinned Helm 3 binary (`_helm`).
Flux keeps Helm 3's behaviour behind its `UseHelm3Defaults` feature gate, and afflux's
defaults are exactly those: client-side apply (`install.serverSideApply: false`,
`upgrade/rollback.serverSideApply: disabled`), Helm's own wait (`waitStrategy: legacy`) and
post-renderers that do not see hooks (`postRenderStrategy: nohooks`). `waitStrategy: poller`
is afflux's own (helm runs without `--wait`, the release phase polls the objects with kstatus
and `healthCheckExprs`). A HelmRelease that asks for another Helm 4 behaviour explicitly
(`serverSideApply: true|enabled`, `postRenderStrategy: combined|separate`) is not silently
given Helm 3's: `unsupported` names each such setting and the release phase stalls with
`UnsupportedByEngine` until the spec changes. `upgrade/rollback.serverSideApply: auto` means "as the release was made": every
release afflux makes or takes over is client-side (a release Helm 4 made server-side cannot
be told apart here, so it is upgraded client-side, as Helm 4 itself does with Helm 3's).

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
    "HOOK_ANNOTATION",
    "common_metadata_digest",
    "post_renderers_digest",
    "release_inventory",
    "retry_interval",
    "unsupported",
    "unsupported_message",
]

DEFAULT_RETRY_INTERVAL = 300.0


def unsupported(spec: Mapping[str, Any]) -> list[str]:
    """Each setting of the HelmRelease spec (its JSON) that afflux's Helm 3 engine cannot
    honour, said as what to change (empty: none)."""
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
    return ("afflux runs Helm 3, which cannot do what these settings ask for (Helm 4 "
            "behaviour): " + "; ".join(found))


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
