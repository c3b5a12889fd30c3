"""source-controller's wiring: the shared `SourceContext`, the artifact server, the kinds.

`setup(operator)` is what `__main__` hands to `run_operator`:

1. builds the `SourceContext` from the flags (storage directory, advertised address,
   retention);
2. starts the `ArtifactServer` on the operator's event loop when the operator starts
   (a kopf startup activity, so `/readyz` answers only once artifacts can be served) and
   stops it when the operator stops;
3. registers one `Reconciler` per factory in `RECONCILER_FACTORIES`.

Adding a kind is appending its factory, `factory(ctx: SourceContext) -> Reconciler`, to
`RECONCILER_FACTORIES`; nothing else here changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import kopf

from afflux.controllers.runtime import LISTEN_RETRY, Operator, Reconciler

from ._context import SourceContext
from ._reconcile_artifactgen import artifactgen_reconciler
from ._reconcile_bucket import bucket_reconciler
from ._reconcile_git import git_reconciler
from ._reconcile_helmchart import helmchart_reconciler
from ._reconcile_helmrepo import helmrepo_reconciler
from ._reconcile_oci import oci_reconciler
from ._server import ArtifactServer

__all__ = ["RECONCILER_FACTORIES", "ReconcilerFactory", "setup"]

ReconcilerFactory = Callable[[SourceContext], Reconciler[Any]]

#: One factory per kind this operator reconciles.
RECONCILER_FACTORIES: list[ReconcilerFactory] = [
    git_reconciler,
    oci_reconciler,
    helmrepo_reconciler,
    bucket_reconciler,
    helmchart_reconciler,
    artifactgen_reconciler,
]

_log = logging.getLogger("afflux.source-controller")


def setup(operator: Operator) -> SourceContext:
    """Build the shared context, hook the artifact server to the operator's lifecycle and
    register every kind; returns the context (tests use it)."""
    ctx = SourceContext.from_options(operator.options, operator)
    ctx.cache_event = operator.metrics.labelled_counter(
        "gotk_cache_events_total",
        "Total number of cache retrieval events for a Gitops Toolkit resource reconciliation.",
        ("event_type", "name", "namespace"))
    host, port = ctx.storage_addr
    server = ArtifactServer(ctx.storage.root, host=host, port=port)

    # a listening address taken for a moment (e.g. by another process's outgoing connection
    # on that port) is tried again every LISTEN_RETRY seconds, not kopf's default minute
    @kopf.on.startup(registry=operator.registry, id="artifact-server-start", backoff=LISTEN_RETRY)
    async def _start_server(**_: Any) -> None:
        await server.start()
        _log.info("artifact server listening", extra={
            "address": f"{host}:{server.port}", "advertised": ctx.advertised_address,
            "storagePath": str(ctx.storage.root)})

    @kopf.on.cleanup(registry=operator.registry, id="artifact-server-stop")
    async def _stop_server(**_: Any) -> None:
        await server.stop()

    for factory in RECONCILER_FACTORIES:
        operator.register(factory(ctx))
    return ctx
