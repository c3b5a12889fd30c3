"""`afflux diff helmrelease <name>`: what the next upgrade of a HelmRelease would change.

It renders the chart the way helm-controller would install it, with the real pinned Helm
of the engine helm-controller runs (`_diffhrfmt.helm_engine`: Helm 4 unless the
helm-controller Deployment in flux-system has `--feature-gates=UseHelm3Defaults=true`; the
command says which): the artifact its HelmChart (for `spec.chart`) or `spec.chartRef`
(OCIRepository, HelmChart) serves, downloaded and checked against the artifact's digest,
`helm template` with the values composed as the controller composes them (`valuesFrom` in
order, then `values`: `afflux.controllers.helm.compose_values`) and the `postRenderers`
applied by the controller's own post-renderer, then `commonMetadata` and the origin labels
(`helm.toolkit.fluxcd.io/name|namespace`) as the controller sets them, to the objects the
engine's `postRenderStrategy` hands over (Helm 4's `combined`: hooks too; Helm 3's
`nohooks`: hooks as rendered). Then, as `diff kustomization`:

    ► Deployment/apps/web drifted          the live object against a server-side dry-run
    --- live Deployment/apps/web            apply of the rendered one (field manager
    +++ merged Deployment/apps/web          helm-controller), server fields left out,
    @@ ... @@                               Secret values masked
    ► ConfigMap/apps/new created           not in the cluster
    ► Service/apps/old deleted             in the current release's manifest (what
                                           `helm get manifest` prints, read from Helm's
                                           storage Secret) and no longer rendered, unless
                                           `helm.sh/resource-policy: keep`

Exit status, as `flux diff kustomization`: 0 no difference, 1 differences, 2 the diff
itself failed (no artifact, values that cannot be composed, a chart that does not render).
The artifact URL must be reachable from where the CLI runs (it is with the operators of
`afflux dev`; for an in-cluster source-controller, port-forward it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from afflux.api import HelmRelease, digest_bytes, parse_digest
from afflux.controllers.helm import (
    Engine,
    HelmError,
    ValuesError,
    find_tool,
    post_render,
    post_render_by_strategy,
    post_render_strategy,
    with_release_metadata,
)

from . import _difffmt as fmt
from ._context import DEFAULT_NAMESPACE, Context
from ._diff import EXIT_DIFF_FAILED, Differ
from ._diffhrfmt import (
    HELM_CONTROLLER,
    chart_source,
    engine_label,
    helm_engine,
    manifest_objects,
    release_values,
    removed_objects,
    template_args,
    values_refs,
)
from ._errors import CLIError
from ._kinds import noun_for_kind
from ._kube import DEPLOYMENTS, SECRETS, KubeError, KubeNotFound, ResourceType
from ._objects import get_object
from ._tree import release_record

__all__ = ["FIELD_MANAGER", "controller_engine", "current_chart", "plan", "register",
           "resolve_values", "run"]

FIELD_MANAGER = "helm-controller"
CONFIGMAPS = ResourceType("", "v1", "ConfigMap", "configmaps")
#: The largest chart artifact read (as the controller's limit).
_MAX_CHART = 64 << 20


def register(nouns: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]
             ) -> None:
    h = nouns.add_parser(
        "helmrelease", aliases=["hr", "helmreleases"], parents=list(parents),
        help="diff what the next upgrade of a HelmRelease would change",
        description="Render the HelmRelease's chart artifact with its values (helm template) "
        "and print what applying it would change against the cluster and the current "
        "release. Exit status: 0 no differences, 1 differences, >1 the diff failed.")
    h.add_argument("name", help="the name of the HelmRelease")
    h.set_defaults(func=run)


def _failed(message: str, hint: str = "") -> CLIError:
    return CLIError(message, hint, exit_code=EXIT_DIFF_FAILED)


def _download(url: str, digest: str | None, dest: Path, timeout: float) -> Path:
    """The chart artifact at `url` into `dest`, checked against `digest` (any algorithm)."""
    try:
        with urllib.request.urlopen(url, timeout=min(timeout, 120)) as resp:  # noqa: S310
            data = resp.read(_MAX_CHART + 1)
    except (urllib.error.URLError, OSError) as err:
        raise _failed(f"cannot download the chart artifact {url}: {err}",
                      "the artifact URL must be reachable from here: with an in-cluster "
                      "source-controller, `kubectl -n flux-system port-forward "
                      "svc/source-controller 8080:80` and run where that URL resolves") \
            from None
    if len(data) > _MAX_CHART:
        raise _failed(f"the chart artifact {url} is larger than {_MAX_CHART} bytes")
    if digest:
        try:
            actual = digest_bytes(data, parse_digest(digest)[0])
        except ValueError as err:
            raise _failed(f"the chart artifact's digest is not usable: {err}") from None
        if actual != digest.lower():
            raise _failed(f"the chart artifact's digest {actual} is not the {digest} its "
                          "source announced", "reconcile the source and try again")
    path = dest / "chart.tgz"
    path.write_bytes(data)
    return path


def _helm(engine: Engine, args: list[str], work: Path, timeout: float) -> str:
    try:
        binary = find_tool(engine.program)
    except HelmError as err:
        raise _failed(str(err), "`make tools` builds the pinned helm and helm4") from None
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)}
    for name in ("cache", "config", "data"):
        env[f"HELM_{name.upper()}_HOME"] = str(work / name)
    done = subprocess.run([binary, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise _failed(f"helm template failed: {done.stderr.strip()[-2000:]}",
                      "the chart does not render with these values; fix the values or the "
                      "chart")
    return done.stdout


def controller_engine(ctx: Context) -> tuple[Engine, str]:
    """The Helm engine helm-controller runs (`_diffhrfmt.helm_engine`), and why."""
    try:
        deployment = ctx.kube.get_or_none(DEPLOYMENTS, HELM_CONTROLLER, DEFAULT_NAMESPACE)
    except KubeError as err:
        engine, _ = helm_engine(None)
        return engine, (f"cannot read Deployment {DEFAULT_NAMESPACE}/{HELM_CONTROLLER} "
                        f"({err.message}): Flux 2.9's default")
    return helm_engine(deployment)


def _render(ctx: Context, hr: HelmRelease, chart: Path, values: dict[str, Any], work: Path,
            upgrade: bool, engine: Engine) -> str:
    values_file = work / "values.yaml"
    fd = os.open(values_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(values, f, sort_keys=True, allow_unicode=True)
    manifest = _helm(engine, template_args(hr, str(chart), str(values_file), upgrade=upgrade),
                     work, ctx.timeout)
    renderers = [r.to_dict() for r in hr.spec.post_renderers or [] if r.kustomize is not None]
    common = hr.spec.common_metadata.to_dict() if hr.spec.common_metadata else None

    def post_renderer(stream: str) -> str:  # what the controller's post-renderer does
        if renderers:
            stream = post_render(stream, renderers, find_tool("kustomize"))
        return with_release_metadata(stream, common, hr.name, hr.namespace, hooks=True)

    strategy = post_render_strategy(hr.spec.to_dict(), engine)
    try:
        return post_render_by_strategy(strategy, post_renderer, manifest)
    except (SystemExit, HelmError) as err:
        raise _failed(f"post-rendering failed: {err}") from None


def resolve_values(ctx: Context, hr: HelmRelease) -> dict[str, Any]:
    """The values the controller would install `hr` with: its `valuesFrom` objects read from
    the cluster and composed with `values` (`release_values`); ValuesError when they cannot
    be (a missing object that is not optional, a missing key, YAML that is not a map)."""
    found: dict[tuple[str, str], dict[str, Any] | None] = {}
    for kind, name in values_refs(hr):
        rt = SECRETS if kind == "Secret" else CONFIGMAPS
        found[(kind, name)] = ctx.kube.get_or_none(rt, name, hr.namespace)
    return release_values(hr, found)


def _values(ctx: Context, hr: HelmRelease) -> dict[str, Any]:
    try:
        return resolve_values(ctx, hr)
    except ValuesError as err:
        raise _failed(f"could not resolve values: {err}") from None


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    try:
        return _run(ctx, args.name)
    except CLIError as err:
        if err.exit_code == 1:
            err.exit_code = EXIT_DIFF_FAILED
        raise


def _run(ctx: Context, name: str) -> int:
    body = get_object(ctx, noun_for_kind("HelmRelease"), name, ctx.namespace)
    hr = HelmRelease.from_dict(body)
    with tempfile.TemporaryDirectory(prefix="afflux-diff-hr-") as d:
        work = Path(d)
        os.chmod(work, 0o700)
        chart = current_chart(ctx, hr, work)
        engine, why = controller_engine(ctx)
        ctx.printer.action(f"rendering with {engine_label(engine)}: {why}")
        desired, removed = plan(ctx, hr, body, chart, work, engine)
    differ = Differ(ctx, FIELD_MANAGER)
    for obj in desired:
        differ.compare(obj, hr.release_namespace)
    for obj in removed:
        label = fmt.object_label(obj)
        differ.deleted.append(label)
        differ.show(f"{label} deleted")
    return differ.finish("fix the chart or the values so the API server accepts them")


def current_chart(ctx: Context, hr: HelmRelease, work: Path) -> Path:
    """The chart artifact the HelmRelease's source serves now, downloaded into `work` and
    checked against its digest."""
    try:
        kind, source_ns, source_name = chart_source(hr)
        source_noun = noun_for_kind(kind)
    except (ValueError, KeyError) as err:
        raise _failed(f"HelmRelease '{hr.namespace}/{hr.name}': {err}") from None
    source = get_object(ctx, source_noun, source_name, source_ns)
    artifact = (source.get("status") or {}).get("artifact") or {}
    if not artifact.get("url"):
        raise _failed(f"{kind} '{source_ns}/{source_name}' has no artifact yet",
                      f"`afflux get {source_noun.get_cli} -n {source_ns}` shows why")
    ctx.printer.action(f"rendering {kind} {source_ns}/{source_name} revision "
                       f"{artifact.get('revision', '')} for release {hr.release_namespace}/"
                       f"{hr.release_name}")
    return _download(str(artifact["url"]), artifact.get("digest"), work, ctx.timeout)


def plan(ctx: Context, hr: HelmRelease, body: dict[str, Any], chart: Path, work: Path,
         engine: Engine | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """What the next upgrade of `hr` with `chart` (a packaged chart or a chart directory)
    would apply, and the live objects of the current release it would delete; rendered by
    `engine`, else by the one helm-controller runs (`controller_engine`)."""
    if engine is None:
        engine, _ = controller_engine(ctx)
    values = _values(ctx, hr)
    try:
        record = release_record(ctx.kube, body)
    except (ValueError, OSError) as err:
        raise _failed(f"cannot read the current release: {err}") from None
    manifest = _render(ctx, hr, chart, values, work, record is not None, engine)

    def namespaced(api_version: str, kind: str) -> bool | None:
        try:
            return ctx.kube.resource_for(api_version, kind).namespaced
        except KubeNotFound:
            return None

    desired = manifest_objects(manifest, hr.release_namespace, namespaced)
    current = manifest_objects(str((record or {}).get("manifest", "")),
                               str((record or {}).get("namespace") or hr.release_namespace),
                               namespaced)
    removed = []
    for obj in removed_objects(current, desired):
        m = obj.get("metadata") or {}
        try:
            rt = ctx.kube.resource_for(str(obj.get("apiVersion")), str(obj.get("kind")))
            live = ctx.kube.get_or_none(rt, str(m.get("name")), m.get("namespace"))
        except KubeError:
            continue
        if live is not None:
            removed.append(obj)
    return desired, removed
