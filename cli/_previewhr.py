"""HelmReleases in `afflux preview`: the releases whose chart, or whose spec (values), the
ref changes, rendered as helm-controller would upgrade them.

Which ones: every HelmRelease whose `spec.chart.spec.sourceRef` is the previewed
GitRepository, and every HelmRelease a previewed Kustomization renders differently at the
ref (new, or with another spec: values, valuesFrom, post-renderers, ...).

The chart: for a chart of the previewed repository, it is built from the ref's tree as
source-controller builds a HelmChart of a GitRepository, with its own library
(`afflux.controllers.source._helmchart`: the safe `spec.chart` path, `valuesFiles` merged
in order into the chart's values, `helm dependency build` when the chart declares
dependencies, `helm package`); for a chart from anywhere else, the artifact its source
serves now (`_diffhr.current_chart`), unless the ref changes the chart template itself
(that chart cannot be had before it is published: the release is reported as failed,
saying so). Then `_diffhr.plan` renders it with the Helm engine helm-controller runs (its
Deployment's `--feature-gates`: Helm 4 unless `UseHelm3Defaults=true`), the values composed
as the controller composes them and its post-renderers, and each object is dry-run as `helm-controller`
(`_diff.compare_object`); objects of the current release the upgrade would no longer
render are listed as pruned.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from afflux.api import HelmRelease
from afflux.controllers.source._helmchart import (
    ChartError,
    Helm,
    chart_path,
    load_values_files,
    read_chart_dir,
)

from . import _difffmt as fmt
from . import _diffhr
from ._context import Context
from ._diff import CHANGED, compare_object
from ._errors import CLIError
from ._kube import KubeError
from ._previewfmt import ObjectPreview

__all__ = ["chart_of", "preview_release", "same_chart", "uses_chart_source"]

Key = tuple[str, str]


def chart_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """`spec.chart.spec` of a HelmRelease body ({} with `chartRef`)."""
    return dict(((body.get("spec") or {}).get("chart") or {}).get("spec") or {})


def uses_chart_source(body: Mapping[str, Any], source: Key) -> bool:
    """Whether the HelmRelease's chart comes from the GitRepository `source`."""
    ref = chart_of(body).get("sourceRef") or {}
    namespace = ref.get("namespace") or (body.get("metadata") or {}).get("namespace") or ""
    return ref.get("kind") == "GitRepository" and (namespace, ref.get("name")) == source


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                    default=str)


def same_chart(live: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """Whether the chart template (and chartRef) of `body` is the live one's: every field
    `body` sets is the same live (fields it leaves out have the server's defaults live)."""
    live_chart, chart = chart_of(live), chart_of(body)
    return all(_same(live_chart.get(k), v) for k, v in chart.items()) and _same(
        (live.get("spec") or {}).get("chartRef"), (body.get("spec") or {}).get("chartRef"))


def _chart_from_tree(tree: Path, spec: Mapping[str, Any], work: Path, timeout: float) -> Path:
    """The chart of `spec` (a HelmChart template) packaged from the ref's tree."""
    path = chart_path(str(spec.get("chart") or ""))
    chart_dir = tree / path if path else tree
    meta = read_chart_dir(chart_dir)
    files = list(spec.get("valuesFiles") or [])
    values, found = load_values_files(tree, files, bool(spec.get("ignoreMissingValuesFiles"))) \
        if files else ({}, [])
    helm = Helm(work / "helm-home", timeout=timeout)
    if meta.dependencies or (chart_dir / "requirements.yaml").is_file():
        helm.dependency_build(chart_dir)
    return helm.package(chart_dir, work / "packaged", version=meta.version,
                        values=values if found else None)


def preview_release(ctx: Context, body: Mapping[str, Any], live: Mapping[str, Any] | None,
                    tree: Path, source: Key) -> ObjectPreview:
    """What upgrading the HelmRelease `body` (as the ref has it) would do."""
    meta = body.get("metadata") or {}
    spec = chart_of(body)
    out = ObjectPreview(str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                        str(spec.get("chart") or ""), new=live is None, kind="HelmRelease")
    if (body.get("spec") or {}).get("suspend"):
        out.skipped = "suspended (the controller would not upgrade it)"
        return out
    try:
        hr = HelmRelease.from_dict(dict(body))
        with tempfile.TemporaryDirectory(prefix="afflux-preview-hr-") as d:
            work = Path(d)
            os.chmod(work, 0o700)
            if uses_chart_source(body, source):
                chart = _chart_from_tree(tree, spec, work, ctx.timeout)
            elif live is not None and same_chart(live, body):
                chart = _diffhr.current_chart(ctx, hr, work)
            else:
                raise CLIError("its chart changes at this ref and comes from another source: "
                               "a preview renders new charts of the previewed Git repository "
                               "only")
            desired, removed = _diffhr.plan(ctx, hr, dict(body), chart, work)
        for obj in desired:
            try:
                change = compare_object(ctx.kube, obj, hr.release_namespace,
                                        _diffhr.FIELD_MANAGER, validate_new=True)
            except KubeError as err:
                raise CLIError(f"{fmt.object_label(obj)} dry-run failed: {err.message}") \
                    from None
            if change is not None and change.action == CHANGED:
                out.changed[change.label] = change.diff
            elif change is not None:
                out.created.append(change.label)
        out.pruned = [fmt.object_label(o) for o in removed]
    except ChartError as err:
        out.error = f"{err.reason}: {err.message}"
    except (CLIError, ValueError) as err:
        out.error = err.message if isinstance(err, CLIError) else str(err)
    return out
