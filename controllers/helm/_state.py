"""What the phases of one HelmRelease run share: `RunState`, `Services`, and the kinds.

The first phase, `begin(services)`, attaches a fresh `RunState` to the reconcile context;
later phases reach it with `run_of(ctx)`. `Services` are the controller's long-lived helpers:
the target-cluster clients (impersonated or remote), the helm runner, the chart metadata
cache, the controller's own kubeconfig path (None: in-cluster) for helm.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from afflux.api import HelmRelease
from afflux.api._helm_v2 import REVISION_METADATA, TOKEN_METADATA
from afflux.api._meta import SOURCE_GROUP
from afflux.controllers.runtime import (
    DEFAULT_HTTP_RETRIES,
    Cluster,
    ClusterClients,
    Guard,
    PhaseResult,
    ReconcileContext,
    Resource,
    RunStates,
)

from ._chart import ChartCache, ChartMeta
from ._helm import HelmRunner, Target

__all__ = [
    "CHART_REF_KINDS",
    "CONFIGMAPS",
    "CONTROLLER_NAME",
    "HELMCHART",
    "HELMRELEASE",
    "SECRETS",
    "RunState",
    "Services",
    "begin",
    "event_metadata",
    "run_of",
]

CONTROLLER_NAME = "helm-controller"
HELMRELEASE = Resource(HelmRelease.GROUP, HelmRelease.VERSION, HelmRelease.KIND,
                       HelmRelease.PLURAL)
HELMCHART = Resource(SOURCE_GROUP, "v1", "HelmChart", "helmcharts")
OCIREPOSITORY = Resource(SOURCE_GROUP, "v1", "OCIRepository", "ocirepositories")
#: The kinds `spec.chartRef` may name.
CHART_REF_KINDS: dict[str, Resource] = {"HelmChart": HELMCHART, "OCIRepository": OCIREPOSITORY}
CONFIGMAPS = Resource("", "v1", "ConfigMap", "configmaps")
SECRETS = Resource("", "v1", "Secret", "secrets")


@dataclasses.dataclass
class Services:
    clusters: ClusterClients
    helm: HelmRunner
    kubeconfig: str | None = None
    charts: ChartCache = dataclasses.field(default_factory=ChartCache)
    http_timeout: float = 30.0  # --http-timeout: each try of a chart download
    http_retries: int = DEFAULT_HTTP_RETRIES  # --http-retry
    prune_guard: Guard = dataclasses.field(default_factory=Guard)
    additive_cel_dependency_check: bool = False  # --feature-gates=AdditiveCELDependencyCheck
    #: --override-manager: field managers whose fields drift detection takes over
    override_managers: tuple[str, ...] = ()


@dataclasses.dataclass
class RunState:
    """What the phases of one run hand to each other."""

    services: Services
    source_kind: str = ""
    artifact: Mapping[str, Any] | None = None
    source: Any = None  # the SourceChart to fetch the chart from
    oci_digest: str | None = None
    chart: ChartMeta | None = None
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    config_digest: str = ""
    cluster: Cluster | None = None
    target: Target | None = None


_RUNS: RunStates[RunState] = RunStates()


def run_of(ctx: ReconcileContext[HelmRelease]) -> RunState:
    """The run's shared state (attached by `begin`)."""
    return _RUNS.of(ctx)


def begin(services: Services) -> Callable[[ReconcileContext[HelmRelease]],
                                          Awaitable[PhaseResult | None]]:
    """The first phase: attach a fresh `RunState` carrying `services` to the context."""
    return _RUNS.begin(lambda: RunState(services))


def event_metadata(state: RunState) -> dict[str, str]:
    """Flux's event metadata: the chart version and the values digest as the token."""
    meta: dict[str, str] = {}
    if state.chart is not None:
        meta[REVISION_METADATA] = state.chart.version
    if state.config_digest:
        meta[TOKEN_METADATA] = state.config_digest
    return meta
