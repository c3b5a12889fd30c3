"""The source phases: the chart's source and artifact, then the HelmReleases it depends on.

`source_phase`:
- `spec.chart`: the HelmChart `<hrNamespace>-<hrName>` in the source's namespace is made
  from the template (`helm_chart_body`, applied server-side as `helm-controller` only when
  its spec, labels or annotations differ: a reconcile that changes nothing writes nothing)
  and followed; `status.helmChart` names it. A HelmChart made for an earlier spec (another
  namespace, or `chartRef` now) is deleted.
- `spec.chartRef`: the OCIRepository or HelmChart it names (namespace defaults to the
  HelmRelease's; refused across namespaces with `--no-cross-namespace-refs`).
The source must be Ready for its current generation with an artifact; otherwise the run
waits (ArtifactFailed, the source's own Ready message included, so a chart version that
does not exist says so). The chart's name and version come from the metadata cache by
artifact digest, or from downloading and unpacking the artifact once
(`_chart.fetch_chart`). `lastAttemptedRevision` (the chart version) and, for OCI,
`lastAttemptedRevisionDigest` are recorded.

`dependencies_phase`: every `dependsOn` HelmRelease must exist and be Ready for its current
generation, or satisfy its `readyExpr` (with the built-in rule too under
`--feature-gates=AdditiveCELDependencyCheck=true`) (DependencyNotReady, retried after `--requeue-dependency`, and at once when it
becomes ready: `handlers` watches HelmReleases for that).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afflux.api import HelmRelease, helm_chart_name
from afflux.api._helm_v2 import ARTIFACT_FAILED
from afflux.api._meta import ACCESS_DENIED, HELM_GROUP, SOURCE_GROUP
from afflux.controllers.runtime import (
    ApiError,
    GenericError,
    ObjectRef,
    PhaseResult,
    ReconcileContext,
    StallingError,
    WaitingError,
    check_dependencies,
    get_condition,
    lists_dependency,
)

from ._chart import ChartError, fetch_chart
from ._state import CHART_REF_KINDS, CONTROLLER_NAME, HELMCHART, HELMRELEASE, run_of

__all__ = [
    "SourceChart",
    "chart_source",
    "delete_helm_chart",
    "dependencies_phase",
    "helm_chart_body",
    "references_source",
    "source_phase",
    "source_problem",
]

NAME_LABEL = f"{HELM_GROUP}/name"
NAMESPACE_LABEL = f"{HELM_GROUP}/namespace"


@dataclass(frozen=True)
class SourceChart:
    """Where the run's chart artifact is, to fetch it when an action needs the chart."""

    url: str
    digest: str | None
    timeout: float = 30.0
    retries: int = 0

    async def fetch(self, dest: Path) -> Path:
        """Download, check and unpack the chart into `dest`; its directory."""
        try:
            chart_dir, _ = await fetch_chart(self.url, self.digest, dest, timeout=self.timeout,
                                             retries=self.retries)
        except ChartError as err:
            raise GenericError(ARTIFACT_FAILED, str(err)) from None
        return chart_dir


def helm_chart_body(hr: HelmRelease) -> dict[str, Any]:
    """The HelmChart `spec.chart` asks for (pure)."""
    assert hr.spec.chart is not None
    template = hr.spec.chart
    tspec = template.spec
    spec: dict[str, Any] = {
        "chart": tspec.chart,
        "version": tspec.version or "*",
        "sourceRef": {"kind": tspec.source_ref.kind, "name": tspec.source_ref.name},
        "interval": tspec.interval or hr.spec.interval,
        "reconcileStrategy": tspec.reconcile_strategy or "ChartVersion",
    }
    values_files = list(tspec.values_files or [])
    if tspec.values_file:
        values_files.insert(0, tspec.values_file)
    if values_files:
        spec["valuesFiles"] = values_files
    if tspec.ignore_missing_values_files:
        spec["ignoreMissingValuesFiles"] = True
    if tspec.verify is not None:
        spec["verify"] = tspec.verify.to_dict()
    meta = template.metadata
    labels = {**(meta.labels or {} if meta else {}), NAME_LABEL: hr.name,
              NAMESPACE_LABEL: hr.namespace}
    metadata: dict[str, Any] = {"name": hr.helm_chart_name,
                                "namespace": hr.helm_chart_namespace, "labels": labels}
    if meta and meta.annotations:
        metadata["annotations"] = dict(meta.annotations)
    return {"apiVersion": f"{SOURCE_GROUP}/v1", "kind": "HelmChart", "metadata": metadata,
            "spec": spec}


def _differs(live: Mapping[str, Any] | None, want: Mapping[str, Any]) -> bool:
    if live is None:
        return True
    if any((live.get("spec") or {}).get(k) != v for k, v in want["spec"].items()):
        return True
    live_meta = live.get("metadata") or {}
    for key in ("labels", "annotations"):
        have = live_meta.get(key) or {}
        if any(have.get(k) != v for k, v in (want["metadata"].get(key) or {}).items()):
            return True
    return False


def chart_source(hr: HelmRelease) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object whose artifact is the chart."""
    if hr.spec.chart is not None:
        return "HelmChart", hr.helm_chart_namespace, hr.helm_chart_name
    assert hr.spec.chart_ref is not None
    ref = hr.spec.chart_ref
    return ref.kind, ref.namespace or hr.namespace, ref.name


def references_source(body: Mapping[str, Any], kind: str, namespace: str, name: str) -> bool:
    """Whether the HelmRelease `body` takes its chart from kind/namespace/name (pure, on the
    body: watch callbacks ask this of every HelmRelease for every source event)."""
    meta = body.get("metadata") or {}
    own = meta.get("namespace") or ""
    spec = body.get("spec") or {}
    if spec.get("chart"):
        ref = (spec["chart"].get("spec") or {}).get("sourceRef") or {}
        return (kind == "HelmChart" and name == helm_chart_name(own, meta.get("name") or "")
                and namespace == (ref.get("namespace") or own))
    ref = spec.get("chartRef") or {}
    return (ref.get("kind") == kind and ref.get("name") == name
            and (ref.get("namespace") or own) == namespace)


def source_problem(source: Mapping[str, Any] | None, subject: str) -> str | None:
    """Why the source cannot be used yet, or None (pure)."""
    if source is None:
        return f"{subject} not found"
    status = source.get("status") or {}
    ready = get_condition(status.get("conditions") or [], "Ready")
    generation = (source.get("metadata") or {}).get("generation")
    if ready is None or status.get("observedGeneration") != generation:
        return f"{subject} is not ready yet: it has not been reconciled"
    if ready.get("status") != "True":
        return f"{subject} is not ready: {ready.get('message') or ready.get('reason')}"
    artifact = status.get("artifact") or {}
    if not artifact.get("url") or not artifact.get("revision"):
        return f"{subject} is not ready: it has no artifact"
    return None


async def _ensure_helm_chart(ctx: ReconcileContext[HelmRelease]) -> None:
    hr = ctx.obj
    want = helm_chart_body(hr)
    ref = ObjectRef(HELMCHART, hr.helm_chart_namespace, hr.helm_chart_name)
    try:
        live = await ctx.kube.get(ref)
        if _differs(live, want):
            await ctx.kube.patch(ref, want, patch_type="apply", field_manager=CONTROLLER_NAME,
                                 force=True)
    except ApiError as err:
        raise GenericError(ARTIFACT_FAILED, f"could not create or update HelmChart "
                           f"'{ref.namespace}/{ref.name}': {err}") from None


async def delete_helm_chart(ctx: ReconcileContext[HelmRelease], which: str, reason: str
                            ) -> None:
    """Delete the HelmChart `<namespace>/<name>` this object made (absent is fine)."""
    namespace, _, name = which.partition("/")
    try:
        await ctx.kube.delete(ObjectRef(HELMCHART, namespace, name))
    except ApiError as err:
        raise GenericError(reason, f"could not delete HelmChart '{which}': {err}") from None


async def _drop_old_helm_chart(ctx: ReconcileContext[HelmRelease]) -> None:
    hr = ctx.obj
    old = ctx.status.get("helmChart")
    want = (f"{hr.helm_chart_namespace}/{hr.helm_chart_name}" if hr.spec.chart is not None
            else None)
    if old and old != want:
        await delete_helm_chart(ctx, str(old), ARTIFACT_FAILED)
    if want:
        ctx.status["helmChart"] = want
    else:
        ctx.status.pop("helmChart", None)


async def source_phase(ctx: ReconcileContext[HelmRelease]) -> PhaseResult | None:
    state = run_of(ctx)
    hr = ctx.obj
    kind, namespace, name = chart_source(hr)
    subject = f"{kind} '{namespace}/{name}'"
    if hr.spec.chart_ref is not None and ctx.options.no_cross_namespace_refs and (
            namespace != hr.namespace):
        raise StallingError(ACCESS_DENIED, f"cannot access {subject}: cross-namespace "
                            f"references are disabled; use a source in '{hr.namespace}'")
    resource = CHART_REF_KINDS.get(kind)
    if resource is None:
        raise StallingError(ARTIFACT_FAILED, f"chartRef kind '{kind}' is not supported; use "
                            f"one of {', '.join(sorted(CHART_REF_KINDS))}")
    await _drop_old_helm_chart(ctx)
    if hr.spec.chart is not None:
        await _ensure_helm_chart(ctx)
    try:
        source = await ctx.kube.get(ObjectRef(resource, namespace, name))
    except ApiError as err:
        raise GenericError(ARTIFACT_FAILED, f"could not read {subject}: {err}") from None
    problem = source_problem(source, subject)
    if problem is not None:
        raise WaitingError(ARTIFACT_FAILED, problem, ctx.options.requeue_dependency)
    assert source is not None
    artifact = source["status"]["artifact"]
    state.source_kind = kind
    state.artifact = artifact
    revision = str(artifact["revision"])
    if kind == "OCIRepository" and "@" in revision:
        state.oci_digest = revision.rsplit("@", 1)[1]
    digest = artifact.get("digest")
    services = state.services
    state.source = SourceChart(str(artifact["url"]), digest, services.http_timeout,
                               services.http_retries)
    meta = state.services.charts.get(digest)
    if meta is None:
        with tempfile.TemporaryDirectory(prefix="chart-", dir=state.services.helm.scratch) as d:
            try:
                _, meta = await fetch_chart(str(artifact["url"]), digest, Path(d),
                                            timeout=services.http_timeout,
                                            retries=services.http_retries)
            except ChartError as err:
                raise GenericError(ARTIFACT_FAILED, f"{subject}: {err}") from None
        state.services.charts.put(digest, meta)
    state.chart = meta
    ctx.status["lastAttemptedRevision"] = meta.version
    if state.oci_digest:
        ctx.status["lastAttemptedRevisionDigest"] = state.oci_digest
    else:
        ctx.status.pop("lastAttemptedRevisionDigest", None)
    return None


#: Whether a HelmRelease body lists namespace/name in its dependsOn (pure).
depends_on = lists_dependency


async def dependencies_phase(ctx: ReconcileContext[HelmRelease]) -> PhaseResult | None:
    await check_dependencies(ctx, HELMRELEASE, ctx.obj.spec.depends_on or [],
                             additive=run_of(ctx).services.additive_cel_dependency_check)
    return None
