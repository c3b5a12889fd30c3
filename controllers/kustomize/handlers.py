"""kustomize-controller's wiring: the Kustomization reconciler and the watches that trigger it.

`setup(operator)` (what `__main__` hands to `run_operator`):

1. builds the `Services` the phases share (target-cluster clients under the field manager
   `kustomize-controller`, settings from the flags);
2. registers the Kustomization `Reconciler` (`_reconcile`);
3. watches GitRepositories, OCIRepositories, Buckets and ExternalArtifacts: when a source's
   `status.artifact.revision` changes (or the source goes), every Kustomization whose
   `sourceRef` names it is reconciled at once, not at its next interval;
4. watches Kustomizations themselves: when one's readiness (Ready, observedGeneration,
   lastAppliedRevision) changes, the Kustomizations that depend on it are reconciled at once
   (not while its Ready is Unknown, a run in progress: they would only find it not ready);
   and HelmReleases likewise, for the Kustomizations whose
   `afflux.toolkit.fluxcd.io/depends-on` annotation names one;
5. watches the ConfigMaps and Secrets `--watch-configs-label-selector` selects (default:
   labelled `reconcile.fluxcd.io/watch: Enabled`; empty: all): when the data of one changes
   (or it goes), the Kustomizations of its namespace that read it
   (`postBuild.substituteFrom`, `decryption.secretRef`, `kubeConfig.secretRef` and
   `.configMapRef`) are reconciled at once. Others are read at each reconcile, as in Flux;
6. with `--drift-watch` (default on), watches the metadata of the kinds the inventories
   hold (`_watches.ManagedWatches`, supervised): a Kustomization whose object someone
   else changed or deleted is reconciled at once, and an unchanged interval reconcile may
   skip its apply (`--drift-full-apply-every`).

No handler does any work itself: the callbacks only look up the scheduler's cache (or its
index of dependents, for 4) and `trigger()`.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from typing import Any

import kopf

from afflux.controllers.runtime import (
    DEFAULT_HTTP_RETRIES,
    GRAPH_KINDS,
    ChangeFilter,
    ClusterClients,
    KubeConfigPolicy,
    Operator,
    Scheduler,
    WorkloadIdentity,
    add_guard_flags,
    add_http_retry_flag,
    add_override_manager_flag,
    add_workload_identity_flags,
    config_key,
    group_kinds_arg,
    parse_bool,
    positive_int_arg,
)

from ._artifacts import MAX_BYTES, MAX_FILES, ArtifactCache, remove_leftovers
from ._buildcache import DEFAULT_SIZE, BuildCache
from ._reconcile import kustomization_reconciler
from ._reconcile_build import CONFIGMAPS, SECRETS
from ._reconcile_source import artifact_revision, references_source
from ._reconcile_state import CONTROLLER_NAME, KUSTOMIZATION, SOURCE_KINDS, Services, Settings
from ._watches import TASK as DRIFT_TASK
from ._watches import ManagedWatches

__all__ = ["add_flags", "config_key", "reads_config", "readiness_key", "setup"]

_log = logging.getLogger("afflux.kustomize-controller")

WatchCallback = Callable[[str | None, Mapping[str, Any]], None]


def add_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--feature-gates", default="",
        help="comma-separated Name=true|false; StrictPostBuildSubstitutions=true makes an "
        "undefined ${var} without a default a build failure; ObjectLevelWorkloadIdentity=true "
        "lets a kubeConfig ConfigMap name a ServiceAccount of the object's namespace; "
        "AdditiveCELDependencyCheck=true makes a dependsOn readyExpr add to the built-in "
        "readiness check instead of replacing it; DisableFailFastBehavior=true makes health "
        "checks wait on while some objects are in progress even when another has failed")
    add_workload_identity_flags(parser)
    parser.add_argument(
        "--no-remote-bases", nargs="?", const=True, default=False, type=parse_bool,
        metavar="BOOL",
        help="refuse remote bases (Git and HTTP(S) URLs in a kustomization.yaml): a "
        "kustomization may then refer only to files in the source artifact (default false: "
        "kustomize fetches them, within the Kustomization's timeout)")
    parser.add_argument(
        "--sops-age-secret", default="", metavar="NAME",
        help="the name of a Secret in the runtime namespace (--namespace) whose *.agekey "
        "entries decrypt the SOPS data of Kustomizations with decryption provider sops and "
        "no decryption.secretRef (Flux's fallback; default none)")
    parser.add_argument(
        "--artifact-max-size", type=positive_int_arg, default=MAX_BYTES, metavar="BYTES",
        help=f"largest artifact downloaded, and largest content unpacked (default {MAX_BYTES})")
    parser.add_argument(
        "--artifact-max-files", type=positive_int_arg, default=MAX_FILES, metavar="N",
        help=f"most files an artifact may unpack to (default {MAX_FILES})")
    parser.add_argument(
        "--build-cache-size", type=int, default=DEFAULT_SIZE, metavar="BYTES",
        help="memory for the last builds (kept compressed), reused while artifact, spec and "
        f"keys are unchanged (default {DEFAULT_SIZE}; 0 turns the cache off)")
    parser.add_argument(
        "--concurrent-ssa", type=positive_int_arg, default=4, metavar="N",
        help="server-side apply dry-runs (with their GET and field take-over) run at once "
        "within an apply stage; the applies that follow go in order, and only when every "
        "dry-run of the stage passed (default 4)")
    parser.add_argument(
        "--custom-apply-stage-kinds", type=group_kinds_arg, default=frozenset(),
        metavar="GROUP/KIND,...",
        help="kinds applied in a stage of their own, after CRDs, Namespaces and the other "
        "cluster-scoped objects and before the namespaced objects, e.g. "
        "'rbac.authorization.k8s.io/Role,gateway.networking.k8s.io/Gateway' (a bare Kind "
        "is of the core group; default none)")
    add_http_retry_flag(parser, "the download of a source artifact")
    add_guard_flags(parser)
    add_override_manager_flag(parser, "at every apply (unless the object is annotated "
                              "kustomize.toolkit.fluxcd.io/ssa: Merge)")
    parser.add_argument(
        "--drift-watch", nargs="?", const=True, default=True, type=parse_bool,
        metavar="BOOL",
        help="watch the metadata of the managed objects and reconcile a Kustomization as "
        "soon as someone else changes or deletes one of its objects (default true)")
    parser.add_argument(
        "--drift-full-apply-every", type=positive_int_arg, default=6, metavar="N",
        help="with --drift-watch, an interval reconcile with unchanged inputs and objects "
        "skips the apply, but at least every N-th interval applies in full (default 6; "
        "1 never skips)")


def readiness_key(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """What dependents of a Kustomization care about: Ready, generation, applied revision."""
    status = body.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or ()
                  if c.get("type") == "Ready"), None)
    return ready, status.get("observedGeneration"), status.get("lastAppliedRevision")


def reads_config(body: Mapping[str, Any], kind: str, namespace: str, name: str) -> bool:
    """Whether the Kustomization `body` reads the ConfigMap or Secret kind/namespace/name
    (`postBuild.substituteFrom` and `kubeConfig.configMapRef`; for a Secret also
    `decryption.secretRef` and `kubeConfig.secretRef`). All of them live in the
    Kustomization's namespace."""
    meta = body.get("metadata") or {}
    if meta.get("namespace") != namespace:
        return False
    spec = body.get("spec") or {}
    for ref in (spec.get("postBuild") or {}).get("substituteFrom") or ():
        if ref.get("kind") == kind and ref.get("name") == name:
            return True
    if kind == "ConfigMap":
        return ((spec.get("kubeConfig") or {}).get("configMapRef") or {}).get("name") == name
    if kind != "Secret":
        return False
    secret_refs = [(spec.get("decryption") or {}).get("secretRef"),
                   (spec.get("kubeConfig") or {}).get("secretRef")]
    return any((ref or {}).get("name") == name for ref in secret_refs)


def _identity(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


class Seen:
    """Which objects a watch has shown before: the first sight of an object (the listing at
    start-up, or a new object without an artifact yet) triggers nothing, since every
    Kustomization is reconciled when it is first seen anyway; later changes do."""

    def __init__(self) -> None:
        self._known: set[tuple[str, str]] = set()

    def again(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        ident = _identity(body)
        if event_type == "DELETED":
            self._known.discard(ident)
            return True
        if ident in self._known:
            return True
        self._known.add(ident)
        return False


def _on_change(scheduler: Scheduler,
               reads: Callable[[Mapping[str, Any], str, str], bool]) -> WatchCallback:
    """A watch callback that triggers the Kustomizations for which `reads(ks, namespace,
    name)` holds of the changed object, after its first sight (`Seen`)."""
    seen = Seen()

    def callback(event_type: str | None, body: Mapping[str, Any]) -> None:
        if not seen.again(event_type, body):
            return
        namespace, name = _identity(body)
        for key in scheduler.keys_where(lambda ks: reads(ks, namespace, name)):
            scheduler.trigger(*key)

    return callback


def on_source_change(scheduler: Scheduler, kind: str) -> WatchCallback:
    """Trigger the Kustomizations that build a source whose artifact revision changed."""
    return _on_change(scheduler, lambda ks, ns, name: references_source(ks, kind, ns, name))


def on_config_change(scheduler: Scheduler, kind: str) -> WatchCallback:
    """Trigger the Kustomizations that read a watched ConfigMap or Secret that changed."""
    return _on_change(scheduler, lambda ks, ns, name: reads_config(ks, kind, ns, name))


def on_readiness_change(scheduler: Scheduler) -> WatchCallback:
    """Trigger the Kustomizations that depend on one whose readiness changed."""
    seen = Seen()

    def callback(event_type: str | None, body: Mapping[str, Any]) -> None:
        if not seen.again(event_type, body):
            return
        if event_type != "DELETED" and readiness_key(body)[0] == "Unknown":
            return  # a run in progress: its result will trigger them
        _trigger_dependents(scheduler, "Kustomization", body)

    return callback


def _trigger_dependents(scheduler: Scheduler, kind: str, body: Mapping[str, Any]) -> None:
    """Trigger the Kustomizations that depend on the `kind` object `body`: the scheduler's
    index of dependents answers, no scan of every Kustomization."""
    namespace, name = _identity(body)
    for key in scheduler.dependents(kind, namespace, name):
        scheduler.trigger(*key)


def on_helm_release_change(scheduler: Scheduler) -> WatchCallback:
    """Trigger the Kustomizations whose depends-on annotation names a HelmRelease whose
    readiness changed (after its first sight, `Seen`)."""
    seen = Seen()

    def callback(event_type: str | None, body: Mapping[str, Any]) -> None:
        if seen.again(event_type, body):
            _trigger_dependents(scheduler, "HelmRelease", body)

    return callback


def on_kustomization_change(scheduler: Scheduler, drift: ManagedWatches | None
                            ) -> WatchCallback:
    """The Kustomization watch: inventories into the drift index, and dependents
    triggered when a Kustomization's readiness changed."""
    dependents = on_readiness_change(scheduler)
    readiness = ChangeFilter(readiness_key)

    def callback(event_type: str | None, body: Mapping[str, Any]) -> None:
        if drift is not None:
            drift.observe_kustomization(event_type, body)
        if readiness.changed(event_type, body):
            dependents(event_type, body)

    return callback


def inventory_and_readiness_key(body: Mapping[str, Any]) -> tuple[Any, ...]:
    """Readiness, and a hash of the inventory (the filter keeps this per Kustomization)."""
    entries = ((body.get("status") or {}).get("inventory") or {}).get("entries") or ()
    return readiness_key(body), hash(tuple((e.get("id"), e.get("v")) for e in entries))


def setup_drift(operator: Operator, scheduler: Scheduler) -> ManagedWatches | None:
    """The drift watches (`--drift-watch`), supervised; None when turned off."""
    if not getattr(operator.options.extra, "drift_watch", True):
        return None
    drift = ManagedWatches(
        operator.api_client, operator.kube, lambda ks: scheduler.trigger(*ks),
        ours=CONTROLLER_NAME, health=operator.health,
        on_trigger=operator.metrics.counter(
            "afflux_drift_triggers_total",
            "Kustomizations reconciled at once because someone else changed or deleted "
            "one of their objects."))
    operator.supervise(DRIFT_TASK, drift.run)
    return drift


def setup(operator: Operator) -> Services:
    """Register the reconciler and the watches; returns the shared services (for tests)."""
    settings = Settings.from_flags(operator.options.extra)
    options = operator.options
    clusters = ClusterClients(operator.api_client, operator.kube, field_manager=CONTROLLER_NAME,
                              workers=max(4, options.concurrent), pool=operator.pool,
                              policy=KubeConfigPolicy(
                                  allow_exec=options.insecure_kubeconfig_exec,
                                  allow_insecure_tls=options.insecure_kubeconfig_tls),
                              identity=WorkloadIdentity.from_flags(options.extra))
    downloaded = operator.metrics.counter(
        "afflux_artifact_downloads_total",
        "Source artifacts downloaded and unpacked (the other reconciles used the cache).")
    for path in remove_leftovers():
        _log.info("removed the artifact cache of a previous process", extra={"path": str(path)})
    extra = options.extra
    services = Services(clusters, settings, artifacts=ArtifactCache(
        on_download=downloaded, max_bytes=getattr(extra, "artifact_max_size", MAX_BYTES),
        max_files=getattr(extra, "artifact_max_files", MAX_FILES),
        retries=getattr(extra, "http_retry", DEFAULT_HTTP_RETRIES)),
        builds=BuildCache(
            getattr(extra, "build_cache_size", DEFAULT_SIZE),
            on_hit=operator.metrics.counter(
                "afflux_build_cache_hits_total",
                "Reconciles that reused the last build (same artifact, spec and keys)."),
            on_miss=operator.metrics.counter(
                "afflux_build_cache_misses_total",
                "Reconciles that ran kustomize build (new artifact, spec or keys).")))
    scheduler = operator.register(kustomization_reconciler(services))
    services.drift = setup_drift(operator, scheduler)
    services.on_skip = operator.metrics.counter(
        "afflux_apply_skipped_total",
        "Interval reconciles that skipped the apply: inputs unchanged and no foreign change "
        "to their objects since the last apply (--drift-watch).")
    if services.drift is not None:
        services.drift.on_absent = operator.metrics.counter(
            "afflux_apply_create_only_total",
            "Objects applied create-only, without a GET and a dry-run: the drift watches "
            "were synced and did not hold them (an object that existed after all then "
            "took the full path).")
    services.on_drift = operator.metrics.labelled_counter(
        "afflux_drift_corrections_total",
        "Objects put back by an apply after someone else changed them, per Kustomization "
        "and object.", ("kind", "namespace", "name", "object_kind", "object_namespace",
                        "object_name"))
    for kind, resource in SOURCE_KINDS.items():
        operator.watch(resource, on_source_change(scheduler, kind), key=artifact_revision)
    operator.watch(KUSTOMIZATION, on_kustomization_change(scheduler, services.drift),
                   key=inventory_and_readiness_key)
    operator.watch(GRAPH_KINDS["HelmRelease"], on_helm_release_change(scheduler),
                   key=readiness_key)
    for resource in (CONFIGMAPS, SECRETS):
        operator.watch(resource, on_config_change(scheduler, resource.kind), key=config_key,
                       selector=operator.options.watch_configs_label_selector)

    @kopf.on.cleanup(registry=operator.registry, id="close-cluster-clients")
    async def _close_clients(**_: Any) -> None:
        clusters.close()

    return services
