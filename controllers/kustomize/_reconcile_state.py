"""What the phases of one Kustomization run share: `RunState`, `Services`, `Settings`.

The first phase, `begin(services)`, attaches a fresh `RunState` to the reconcile context;
every later phase reaches it with `run_of(ctx)`. `Services` are the controller's long-lived
helpers (the target-cluster clients, the artifact download, the settings from its flags).

`report_work(ctx)` writes the run's pending progress patch (`RunState.progress`, set by
`progress_phase`) just before the run does real work: a download, a `kustomize build`, an
apply. A run that does none of them (a no-change interval run: artifact unpacked, build
cached, apply skipped) never writes it, and costs one status write, not two.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from afflux.api import Kustomization
from afflux.api._meta import KUSTOMIZE_REVISION_METADATA, SOURCE_GROUP
from afflux.controllers.runtime import (
    ADDITIVE_CEL_DEPENDENCY_CHECK_GATE,
    ChangeSet,
    Cluster,
    ClusterClients,
    Guard,
    PhaseResult,
    ReconcileContext,
    Resource,
    RunStates,
    parse_feature_gates,
)

from ._artifacts import ArtifactCache, Checkout, Fetch
from ._buildcache import BuildCache
from ._sops import DecryptionKeys

if TYPE_CHECKING:
    from ._watches import ManagedWatches

__all__ = [
    "CONTROLLER_NAME",
    "KUSTOMIZATION",
    "SOURCE_KINDS",
    "RunState",
    "Services",
    "Settings",
    "begin",
    "event_metadata",
    "parse_feature_gates",
    "report_work",
    "run_of",
]

CONTROLLER_NAME = "kustomize-controller"
KUSTOMIZATION = Resource(Kustomization.GROUP, Kustomization.VERSION, Kustomization.KIND,
                         Kustomization.PLURAL)
#: The kinds a Kustomization can build from, by `sourceRef.kind`.
SOURCE_KINDS: dict[str, Resource] = {
    "GitRepository": Resource(SOURCE_GROUP, "v1", "GitRepository", "gitrepositories"),
    "OCIRepository": Resource(SOURCE_GROUP, "v1", "OCIRepository", "ocirepositories"),
    "Bucket": Resource(SOURCE_GROUP, "v1", "Bucket", "buckets"),
    "ExternalArtifact": Resource(SOURCE_GROUP, "v1", "ExternalArtifact", "externalartifacts"),
}

STRICT_SUBSTITUTIONS_GATE = "StrictPostBuildSubstitutions"
#: Flux's gate that makes health checks wait out their timeout even when an object failed
DISABLE_FAIL_FAST_GATE = "DisableFailFastBehavior"


@dataclasses.dataclass(frozen=True)
class Settings:
    """kustomize-controller's own knobs (from its flags)."""

    strict_substitution: bool = False
    health_poll_interval: float = 2.0
    stage_wait_timeout: float = 60.0
    http_timeout: float = 60.0
    prune_guard: Guard = Guard()
    full_apply_every: int = 6
    additive_cel_dependency_check: bool = False  # --feature-gates=AdditiveCELDependencyCheck
    fail_fast: bool = True  # not --feature-gates=DisableFailFastBehavior=true
    remote_bases: bool = True  # not --no-remote-bases=true (Flux's default: fetched)
    #: --sops-age-secret: a Secret of the runtime namespace with fallback age keys
    sops_age_secret: str = ""
    #: --override-manager: field managers whose fields the apply takes over
    override_managers: tuple[str, ...] = ()
    #: --concurrent-ssa: dry-runs at once within an apply stage
    concurrent_ssa: int = 4
    #: --custom-apply-stage-kinds: (group, kind) pairs applied in a stage of their own
    custom_stage_kinds: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def from_flags(cls, extra: argparse.Namespace) -> Settings:
        gates = parse_feature_gates(getattr(extra, "feature_gates", None))
        return cls(strict_substitution=gates.get(STRICT_SUBSTITUTIONS_GATE, False),
                   additive_cel_dependency_check=gates.get(ADDITIVE_CEL_DEPENDENCY_CHECK_GATE,
                                                           False),
                   fail_fast=not gates.get(DISABLE_FAIL_FAST_GATE, False),
                   health_poll_interval=getattr(extra, "health_poll_interval", 2.0),
                   prune_guard=Guard.from_flags(extra),
                   remote_bases=not getattr(extra, "no_remote_bases", False),
                   sops_age_secret=getattr(extra, "sops_age_secret", "") or "",
                   override_managers=tuple(getattr(extra, "override_manager", None) or ()),
                   concurrent_ssa=getattr(extra, "concurrent_ssa", 4),
                   custom_stage_kinds=getattr(extra, "custom_apply_stage_kinds", frozenset()),
                   full_apply_every=getattr(extra, "drift_full_apply_every", 6))


@dataclasses.dataclass
class Services:
    """What the phases use besides the context: target clusters, downloads (and the cache
    of unpacked artifacts), settings."""

    clusters: ClusterClients
    settings: Settings = Settings()
    fetch: Fetch | None = None
    artifacts: ArtifactCache = dataclasses.field(default_factory=ArtifactCache)
    builds: BuildCache = dataclasses.field(default_factory=BuildCache)
    drift: ManagedWatches | None = None  # --drift-watch
    on_skip: Callable[[], None] | None = None  # an apply skipped (a metric)
    #: a drift corrected: (kind, namespace, name, object kind, namespace, name) (a metric)
    on_drift: Callable[..., None] | None = None


@dataclasses.dataclass
class RunState:
    """What the phases of one run hand to each other."""

    services: Services
    started: float = dataclasses.field(default_factory=time.monotonic)
    source: Mapping[str, Any] | None = None
    artifact: Mapping[str, Any] | None = None
    revision: str = ""
    origin_revision: str | None = None
    checkout: Checkout | None = None  # the unpacked, verified artifact (leased)
    keys: DecryptionKeys | None = None
    objects: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    digest: str = ""
    cluster: Cluster | None = None
    change_set: ChangeSet = dataclasses.field(default_factory=ChangeSet)
    pruned: ChangeSet = dataclasses.field(default_factory=ChangeSet)
    entries: list[dict[str, str]] = dataclasses.field(default_factory=list)
    #: the progress message to write before the run's first real work (`report_work`)
    progress: str | None = None

    def close(self) -> None:
        """Release the lease on the unpacked artifact (idempotent)."""
        if self.checkout is not None:
            self.checkout.release()
            self.checkout = None


_RUNS: RunStates[RunState] = RunStates()


def run_of(ctx: ReconcileContext[Kustomization]) -> RunState:
    """The run's shared state (attached by `begin`)."""
    return _RUNS.of(ctx)


def begin(services: Services) -> Callable[[ReconcileContext[Kustomization]],
                                          Awaitable[PhaseResult | None]]:
    """The first phase: attach a fresh `RunState` carrying `services` to the context (its
    lease on the unpacked artifact is released when the run's context goes away)."""
    return _RUNS.begin(lambda: RunState(services), RunState.close)


async def report_work(ctx: ReconcileContext[Kustomization]) -> None:
    """The run is about to do real work: write its pending progress patch, if any (once)."""
    state = run_of(ctx)
    if state.progress is not None:
        message, state.progress = state.progress, None
        await ctx.report_progress(message)


def event_metadata(state: RunState) -> dict[str, str]:
    """Event metadata: the revision (and the origin revision, when known)."""
    meta = {KUSTOMIZE_REVISION_METADATA: state.revision}
    if state.origin_revision:
        meta["kustomize.toolkit.fluxcd.io/originRevision"] = state.origin_revision
    return meta
