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
5. watches the ConfigMaps and Secrets `--watch-configs-label-selector` selects (default:
   labelled `reconcile.fluxcd.io/watch: Enabled`; empty: all; Flux's example
   `owner!=helm` is all but Helm's release Secrets): when one changes, the HelmReleases of
   its namespace that read it (valuesFrom, kubeConfig) are reconciled at once.

No handler does any work itself: the callbacks only look up the scheduler's cache (or its
index of dependents, for 4) and `trigger()`.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from afflux.api import ARTIFACT_DIGEST_ALGORITHMS
from afflux.controllers.runtime import (
    ADDITIVE_CEL_DEPENDENCY_CHECK_GATE,
    DEFAULT_HTTP_RETRIES,
    GRAPH_KINDS,
    ClusterClients,
    Guard,
    KubeConfigPolicy,
    Operator,
    Scheduler,
    WorkloadIdentity,
    add_guard_flags,
    add_http_retry_flag,
    add_override_manager_flag,
    add_workload_identity_flags,
    config_key,
    duration_arg,
    parse_duration,
    parse_feature_gates,
    trigger_readers,
)

from ._engine import Engine
from ._helm import HelmRunner
from ._oomwatch import OOM_WATCH_GATE, OOMWatch, memory_paths
from ._reconcile import helm_release_reconciler
from ._reconcile_source import references_source
from ._state import CHART_REF_KINDS, CONFIGMAPS, CONTROLLER_NAME, HELMRELEASE, SECRETS, Services

__all__ = ["add_flags", "reads_config", "setup", "source_key", "trigger_dependents"]


_log = logging.getLogger("afflux.helm-controller")


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--snapshot-digest-algo", default="sha256",
                        choices=ARTIFACT_DIGEST_ALGORITHMS, metavar="ALGORITHM",
                        help="the algorithm of the digest of Helm release storage snapshots "
                        "(status.history[].digest), one of "
                        + ", ".join(ARTIFACT_DIGEST_ALGORITHMS) + " (default sha256)")
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
        "UseHelm3Defaults=false); OOMWatch=true stops the controller gracefully near its "
        "memory limit (--oom-watch-*); Flux's other gates are accepted and have no effect")
    add_workload_identity_flags(parser)
    add_http_retry_flag(parser, "the download of a chart artifact")
    parser.add_argument(
        "--http-timeout", type=duration_arg, default=30.0, metavar="DURATION",
        help="the time each try of a chart artifact download may take (default 30s)")
    add_override_manager_flag(parser, "by drift detection (driftDetection.mode enabled or "
                              "warn) before it compares the release's objects")
    parser.add_argument(
        "--graceful-shutdown-timeout", type=shutdown_timeout_arg, default=600.0,
        metavar="DURATION",
        help="on SIGTERM (or the OOM watch), the helm actions in progress are cancelled (helm "
        "records their releases failed, not pending) and the runs in progress get this long "
        "to end before the rest is cancelled (default 10m; 0: stop at once; negative: no "
        "limit)")
    parser.add_argument(
        "--oom-watch-memory-threshold", type=int, default=95, metavar="PERCENT",
        help="with --feature-gates=OOMWatch=true: the percentage of the memory limit at which "
        "the controller stops gracefully (default 95)")
    parser.add_argument(
        "--oom-watch-interval", type=duration_arg, default=0.5, metavar="DURATION",
        help="with OOMWatch: how often the memory usage is read (default 500ms)")
    parser.add_argument(
        "--oom-watch-max-memory-path", default="", metavar="PATH",
        help="with OOMWatch: the cgroup file of the memory limit (default: cgroup v2's "
        "/sys/fs/cgroup/memory.max, else v1's memory.limit_in_bytes)")
    parser.add_argument(
        "--oom-watch-current-memory-path", default="", metavar="PATH",
        help="with OOMWatch: the cgroup file of the memory usage (default: cgroup v2's "
        "/sys/fs/cgroup/memory.current, else v1's memory.usage_in_bytes)")


def shutdown_timeout_arg(text: str) -> float:
    """`--graceful-shutdown-timeout`: a Go duration; negative means no limit (infinity)."""
    try:
        value = parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return math.inf if value < 0 else value


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


def setup_shutdown(operator: Operator, runner: HelmRunner, gates: Mapping[str, bool]) -> None:
    """`--graceful-shutdown-timeout` and, with `OOMWatch=true`, the OOM watch (`_oomwatch`):
    a stop cancels the helm actions in progress first (`HelmRunner.cancel_actions`)."""
    extra = operator.options.extra

    def cancel_helm() -> None:
        signalled = runner.cancel_actions()
        if signalled:
            _log.info("cancelled %d helm action(s) in progress", signalled)

    operator.graceful_shutdown(getattr(extra, "graceful_shutdown_timeout", 600.0),
                               on_stopping=cancel_helm)
    if not gates.get(OOM_WATCH_GATE, False):
        return
    paths = memory_paths(getattr(extra, "oom_watch_max_memory_path", ""),
                         getattr(extra, "oom_watch_current_memory_path", ""))
    watch = OOMWatch(paths, getattr(extra, "oom_watch_memory_threshold", 95),
                     getattr(extra, "oom_watch_interval", 0.5), operator.graceful_stop)
    operator.supervise("OOM watch", watch.run)


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
                            ADDITIVE_CEL_DEPENDENCY_CHECK_GATE, False),
                        override_managers=tuple(getattr(extra, "override_manager", None) or ()),
                        http_timeout=getattr(extra, "http_timeout", 30.0),
                        http_retries=getattr(extra, "http_retry", DEFAULT_HTTP_RETRIES))
    scheduler = operator.register(helm_release_reconciler(services))
    setup_shutdown(operator, services.helm, gates)
    for kind, resource in CHART_REF_KINDS.items():
        operator.watch(resource, trigger_readers(
            scheduler, lambda hr, ns, name, kind=kind: references_source(hr, kind, ns, name)),
            key=source_key)
    operator.watch(HELMRELEASE, trigger_dependents(scheduler, "HelmRelease"), key=source_key)
    operator.watch(GRAPH_KINDS["Kustomization"],  # the depends-on annotation
                   trigger_dependents(scheduler, "Kustomization"), key=source_key)
    for resource in (CONFIGMAPS, SECRETS):
        operator.watch(resource, trigger_readers(
            scheduler, lambda hr, ns, name, kind=resource.kind: reads_config(hr, kind, ns, name)),
            key=config_key, selector=operator.options.watch_configs_label_selector)

    @kopf.on.cleanup(registry=operator.registry, id="close-cluster-clients")
    async def _close_clients(**_: Any) -> None:
        clusters.close()

    return services
