"""helm-controller's wiring: the HelmRelease reconciler and the watches that trigger it.

`setup(operator)` (what `__main__` hands to `run_operator`):

1. builds the `Services` (target-cluster clients under the field manager `helm-controller`,
   the helm runner of the engine `--feature-gates` selects (`_engine.Engine`), the
   controller's own kubeconfig path for helm);
2. registers the HelmRelease `Reconciler` (`_reconcile`);
3. watches HelmCharts and OCIRepositories: when a source's artifact revision or readiness
   changes, the HelmReleases that take their chart from it are reconciled at once;
4. watches HelmReleases (and Kustomizations, for the `afflux.toolkit.fluxcd.io/depends-on`
   annotation): when one's readiness changes, those that depend on it are reconciled at once;
5. watches ConfigMaps and Secrets labelled `reconcile.fluxcd.io/watch: Enabled`: when one
   changes, the HelmReleases of its namespace that read it (valuesFrom, kubeConfig) are
   reconciled at once.

No handler does any work itself: the callbacks only look up the scheduler's cache (or its
index of dependents, for 4) and `trigger()`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from afflux.api._meta import WATCH_LABEL, WATCH_LABEL_ENABLED
from afflux.controllers.runtime import (
    ADDITIVE_CEL_DEPENDENCY_CHECK_GATE,
    GRAPH_KINDS,
    ClusterClients,
    Guard,
    KubeConfigPolicy,
    Operator,
    Scheduler,
    WorkloadIdentity,
    add_guard_flags,
    add_workload_identity_flags,
    parse_feature_gates,
)

from ._engine import Engine
from ._helm import HelmRunner
from ._reconcile import helm_release_reconciler
from ._reconcile_source import references_source
from ._state import CHART_REF_KINDS, CONFIGMAPS, CONTROLLER_NAME, HELMRELEASE, SECRETS, Services

__all__ = ["add_flags", "reads_config", "setup", "source_key", "trigger_dependents"]

Reads = Callable[[Mapping[str, Any], str, str], bool]


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--helm-binary", default=None,
                        help="the helm program of the engine (default: $AFFLUX_HELM4, or "
                        "$AFFLUX_HELM with Helm 3; then helm4/helm on $PATH, then the tool "
                        "cache)")
    add_guard_flags(parser, "an uninstall (of a chart name or release name change)")
    parser.add_argument(
        "--feature-gates", default="",
        help="comma-separated Name=true|false; ObjectLevelWorkloadIdentity=true lets a "
        "kubeConfig ConfigMap name a ServiceAccount of the object's namespace; "
        "AdditiveCELDependencyCheck=true makes a dependsOn readyExpr add to the built-in "
        "readiness check instead of replacing it; UseHelm3Defaults=true runs Helm 3 with "
        "Helm 3's defaults (default: Helm 4 with Flux 2.9's defaults, as "
        "UseHelm3Defaults=false; Flux's other gates are accepted and have no effect)")
    add_workload_identity_flags(parser)


def source_key(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What HelmReleases care about in a source: artifact revision, Ready, generation."""
    status = body.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or ()
                  if c.get("type") == "Ready"), None)
    return ((status.get("artifact") or {}).get("revision"), ready,
            status.get("observedGeneration"))


def reads_config(body: Mapping[str, Any], kind: str, namespace: str, name: str) -> bool:
    """Whether the HelmRelease `body` reads the ConfigMap or Secret kind/namespace/name."""
    if (body.get("metadata") or {}).get("namespace") != namespace:
        return False
    spec = body.get("spec") or {}
    if any(ref.get("kind") == kind and ref.get("name") == name
           for ref in spec.get("valuesFrom") or ()):
        return True
    kube_config = spec.get("kubeConfig") or {}
    ref = kube_config.get("secretRef" if kind == "Secret" else "configMapRef") or {}
    return ref.get("name") == name


def config_key(body: Mapping[str, Any]) -> str:
    content = {k: body.get(k) for k in ("data", "stringData", "binaryData")}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _trigger_readers(scheduler: Scheduler, reads: Reads
                     ) -> Callable[[str | None, Mapping[str, Any]], None]:
    def callback(event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        for key in scheduler.keys_where(lambda b: reads(b, namespace, name)):
            scheduler.trigger(*key)

    return callback


def trigger_dependents(scheduler: Scheduler, kind: str
                       ) -> Callable[[str | None, Mapping[str, Any]], None]:
    """A watch callback for `kind` objects: trigger the HelmReleases that depend on the
    changed one (spec.dependsOn, or the depends-on annotation), found in the scheduler's
    index of dependents, not by scanning every HelmRelease."""
    def callback(event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        for key in scheduler.dependents(kind, meta.get("namespace") or "",
                                        meta.get("name") or ""):
            scheduler.trigger(*key)

    return callback


def setup(operator: Operator) -> Services:
    """Register the reconciler and the watches; returns the shared services."""
    extra = operator.options.extra
    options = operator.options
    clusters = ClusterClients(operator.api_client, operator.kube, field_manager=CONTROLLER_NAME,
                              workers=max(4, options.concurrent), pool=operator.pool,
                              policy=KubeConfigPolicy(
                                  allow_exec=options.insecure_kubeconfig_exec,
                                  allow_insecure_tls=options.insecure_kubeconfig_tls),
                              identity=WorkloadIdentity.from_flags(extra))
    gates = parse_feature_gates(getattr(extra, "feature_gates", None))
    engine = Engine.of(gates)
    services = Services(clusters, HelmRunner(getattr(extra, "helm_binary", None),
                                             engine=engine),
                        kubeconfig=operator.options.kubeconfig or os.environ.get("KUBECONFIG"),
                        prune_guard=Guard.from_flags(extra),
                        additive_cel_dependency_check=gates.get(
                            ADDITIVE_CEL_DEPENDENCY_CHECK_GATE, False))
    scheduler = operator.register(helm_release_reconciler(services))
    for kind, resource in CHART_REF_KINDS.items():
        operator.watch(resource, _trigger_readers(
            scheduler, lambda hr, ns, name, kind=kind: references_source(hr, kind, ns, name)),
            key=source_key)
    operator.watch(HELMRELEASE, trigger_dependents(scheduler, "HelmRelease"), key=source_key)
    operator.watch(GRAPH_KINDS["Kustomization"],  # the depends-on annotation
                   trigger_dependents(scheduler, "Kustomization"), key=source_key)
    for resource in (CONFIGMAPS, SECRETS):
        operator.watch(resource, _trigger_readers(
            scheduler, lambda hr, ns, name, kind=resource.kind: reads_config(hr, kind, ns, name)),
            key=config_key, labels={WATCH_LABEL: WATCH_LABEL_ENABLED})

    @kopf.on.cleanup(registry=operator.registry, id="close-cluster-clients")
    async def _close_clients(**_: Any) -> None:
        clusters.close()

    return services
