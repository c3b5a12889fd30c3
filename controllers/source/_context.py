"""What every source reconciler of the operator shares: `SourceContext`.

`handlers.setup` builds one `SourceContext` per process from the flags (the artifact
`Storage`, the address the artifact server listens on and the one it advertises in
artifact URLs, the retention settings, the artifact digest algorithm, the Helm size
limits, the cache of parsed Helm indexes and the counter of its hits and misses) and hands it to each factory of
`handlers.RECONCILER_FACTORIES`, `factory(ctx: SourceContext) -> Reconciler`.

Besides the storage, a factory can use it to react to other objects' artifacts:

- `watch_artifacts(resource, callback)`: `callback(event_type, body)` runs on the
  operator's loop whenever the artifact (revision or digest) of an object of `resource`
  changes, first sight and deletion included (e.g. a GitRepository that includes another
  one, or a HelmChart whose source moved);
- `watch_secrets(resource, references)`: when a Secret's content changes (or it is
  created or deleted) after start-up, every object of `resource` in its namespace whose
  `references(body)` names it is reconciled; so fixing a Secret un-stalls an object
  without touching its spec;
- `trigger(resource, namespace, name)` asks the kind's scheduler for a reconcile soon;
- `objects(resource)` lists the latest bodies the scheduler of a registered kind knows
  (copies); `keys_where(resource, predicate)` only the keys of those `predicate` accepts,
  copying no body: what a watch callback that runs on every event of a kind must use,
  since copying every body per event made a start with N objects cost N² copies.

Nothing here does I/O by itself; it is plain shared state plus thin delegation to the
`Operator`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from afflux.controllers.runtime import Options, Resource, parse_addr

from ._helmindex import HelmIndex, HelmLimits
from ._indexcache import DEFAULT_CACHE_PURGE_INTERVAL, DEFAULT_CACHE_TTL, IndexCache
from ._storage import DEFAULT_RETENTION_RECORDS, DEFAULT_RETENTION_TTL, Storage

if TYPE_CHECKING:
    from afflux.controllers.runtime import Operator

__all__ = [
    "ArtifactCallback",
    "SourceContext",
    "SecretReferences",
    "artifact_key",
    "secret_key",
    "default_advertised_address",
    "default_storage_path",
]

ArtifactCallback = Callable[[str | None, Mapping[str, Any]], Awaitable[None] | None]
SecretReferences = Callable[[Mapping[str, Any]], Iterable[str]]
SECRETS = Resource("", "v1", "Secret", "secrets")

DEFAULT_STORAGE_ADDR = ":9090"
CONTAINER_STORAGE_PATH = "/data"


def default_storage_path() -> str:
    """`/data` when it is a writable directory (the container image), else a temp dir."""
    if os.path.isdir(CONTAINER_STORAGE_PATH) and os.access(CONTAINER_STORAGE_PATH, os.W_OK):
        return CONTAINER_STORAGE_PATH
    return os.path.join(tempfile.gettempdir(), "afflux-source-controller", "storage")


def default_advertised_address(storage_addr: str, namespace: str | None = None) -> str:
    """What artifact URLs name when `--storage-adv-addr` is not given.

    A concrete listen host gives `host:port`; a wildcard one (`:9090`, `0.0.0.0:9090`) gives
    the in-cluster Service `source-controller.<ns>.svc.cluster.local.` when `namespace`
    (default `$RUNTIME_NAMESPACE`) is known, else this host's name with the port.
    """
    addr = parse_addr(storage_addr)
    if addr is None:
        raise ValueError("--storage-addr must not be 0: the artifact server is required")
    host, port = addr
    if host not in ("0.0.0.0", "::", ""):
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    namespace = namespace or os.environ.get("RUNTIME_NAMESPACE")
    if namespace:
        return f"source-controller.{namespace}.svc.cluster.local."
    return f"{socket.gethostname()}:{port}"


def artifact_key(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """What `watch_artifacts` compares: the artifact's revision and digest."""
    artifact = (body.get("status") or {}).get("artifact") or {}
    return artifact.get("revision"), artifact.get("digest")


def secret_key(body: Mapping[str, Any]) -> str:
    """What `watch_secrets` compares: a digest of the Secret's type and data."""
    content = {"type": body.get("type"), "data": body.get("data") or {},
               "stringData": body.get("stringData") or {}}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass
class SourceContext:
    """Shared state of the source reconcilers (see the module docstring)."""

    storage: Storage
    options: Options
    storage_addr: tuple[str, int]
    operator: Operator | None = None
    #: --helm-index-max-size, --helm-chart-max-size, --helm-chart-file-max-size
    helm_limits: HelmLimits = field(default_factory=HelmLimits)
    #: --helm-cache-max-size, --helm-cache-ttl, --helm-cache-purge-interval (0: disabled)
    helm_index_cache: IndexCache[HelmIndex] = field(default_factory=IndexCache)
    #: `gotk_cache_events_total`: inc(event_type "hit"|"miss", name, namespace)
    cache_event: Callable[..., None] | None = None
    _artifact_watchers: dict[Resource, list[ArtifactCallback]] = field(default_factory=dict)
    _secret_referrers: list[tuple[Resource, SecretReferences]] = field(default_factory=list)

    @property
    def advertised_address(self) -> str:
        return self.storage.advertised_address

    @classmethod
    def from_options(cls, options: Options, operator: Operator | None = None) -> SourceContext:
        """Build from the parsed flags (`Options.extra` carries this operator's own)."""
        extra: argparse.Namespace = options.extra
        storage_addr = getattr(extra, "storage_addr", DEFAULT_STORAGE_ADDR)
        listen = parse_addr(storage_addr)
        if listen is None:
            raise ValueError("--storage-addr must not be 0: the artifact server is required")
        advertised = getattr(extra, "storage_adv_addr", None) or default_advertised_address(
            storage_addr)
        root = getattr(extra, "storage_path", None) or default_storage_path()
        Path(root).mkdir(parents=True, exist_ok=True)
        storage = Storage(
            root,
            advertised,
            retention_records=getattr(extra, "artifact_retention_records",
                                      DEFAULT_RETENTION_RECORDS),
            retention_ttl=getattr(extra, "artifact_retention_ttl", DEFAULT_RETENTION_TTL),
            digest_algorithm=getattr(extra, "artifact_digest_algo", "sha256"),
        )
        defaults = HelmLimits()
        limits = HelmLimits(
            index=getattr(extra, "helm_index_max_size", defaults.index),
            chart=getattr(extra, "helm_chart_max_size", defaults.chart),
            chart_file=getattr(extra, "helm_chart_file_max_size", defaults.chart_file))
        cache: IndexCache[HelmIndex] = IndexCache(
            getattr(extra, "helm_cache_max_size", 0),
            ttl=getattr(extra, "helm_cache_ttl", DEFAULT_CACHE_TTL),
            purge_interval=getattr(extra, "helm_cache_purge_interval",
                                   DEFAULT_CACHE_PURGE_INTERVAL))
        return cls(storage=storage, options=options, storage_addr=listen, operator=operator,
                   helm_limits=limits, helm_index_cache=cache)

    # --- reacting to other objects -----------------------------------------------------

    def watch_artifacts(self, resource: Resource, callback: ArtifactCallback) -> None:
        """Call `callback(event_type, body)` when an object's artifact of `resource` changes.

        One watch per resource is registered with the operator, however many callbacks;
        register before the operator runs (in a factory). Without an operator (unit
        tests) the callbacks are only remembered.
        """
        callbacks = self._artifact_watchers.get(resource)
        if callbacks is not None:
            callbacks.append(callback)
            return
        callbacks = self._artifact_watchers[resource] = [callback]
        if self.operator is None:
            return

        async def fan_out(event_type: str | None, body: Mapping[str, Any]) -> None:
            for cb in list(callbacks):
                result = cb(event_type, body)
                if result is not None:
                    await result

        self.operator.watch(resource, fan_out, key=artifact_key)

    def watch_secrets(self, resource: Resource, references: SecretReferences) -> None:
        """Reconcile the objects of `resource` that reference a Secret when it changes.

        `references(body)` returns the names of the Secrets (in the object's namespace) an
        object uses. One Secret watch serves all kinds; the initial listing at start-up
        triggers nothing (every object is reconciled then anyway).
        """
        first = not self._secret_referrers
        self._secret_referrers.append((resource, references))
        if first and self.operator is not None:
            self.operator.watch(SECRETS, self.on_secret_change, key=secret_key)

    def on_secret_change(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        if event_type is None:  # the initial listing, not a change
            return
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name")

        def uses(references: SecretReferences) -> Callable[[Mapping[str, Any]], bool]:
            return lambda obj: ((obj.get("metadata") or {}).get("namespace") == namespace
                                and name in set(references(obj)))

        for resource, references in self._secret_referrers:
            for obj_ns, obj_name in self.keys_where(resource, uses(references)):
                self.trigger(resource, obj_ns, obj_name)

    def trigger(self, resource: Resource, namespace: str | None, name: str) -> bool:
        """Ask for a reconcile of that object soon; False if it is not known (yet)."""
        if self.operator is None:
            return False
        try:
            scheduler = self.operator.scheduler(resource)
        except KeyError:
            return False
        return scheduler.trigger(namespace, name)

    def keys_where(self, resource: Resource, predicate: Callable[[Mapping[str, Any]], bool]
                   ) -> list[tuple[str, str]]:
        """(namespace, name) of the objects of a registered kind whose latest body
        `predicate` accepts (it must not change the body: it sees the scheduler's own); no
        body is copied. Empty if the kind is not registered."""
        if self.operator is None:
            return []
        try:
            scheduler = self.operator.scheduler(resource)
        except KeyError:
            return []
        return scheduler.keys_where(predicate)

    def objects(self, resource: Resource) -> list[dict[str, Any]]:
        """The latest bodies of a registered kind (empty if it is not registered)."""
        if self.operator is None:
            return []
        try:
            return self.operator.scheduler(resource).objects()
        except KeyError:
            return []
