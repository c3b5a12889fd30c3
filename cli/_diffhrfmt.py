"""What `diff helmrelease` needs besides the cluster, as pure functions: where a
HelmRelease's chart artifact comes from, the values it composes (valuesFrom then values,
with helm-controller's own composition), which Helm helm-controller runs (`helm_engine`),
the `helm template` command line, the objects of a rendered manifest, and the objects an
upgrade would delete.

The engine: helm-controller runs Helm 4 (Flux 2.9's default) unless its Deployment's
`--feature-gates` has `UseHelm3Defaults=true` (`afflux.controllers.helm.Engine`); the
local launcher runs it with the same args, so the Deployment says it either way. The
chart is rendered by that engine's program (`helm4 template` or `helm template`) and
post-rendered as that engine would (`postRenderStrategy`, Helm 4: hooks too by default).

Values are composed by `afflux.controllers.helm.compose_values` from the ConfigMaps and
Secrets the command read (`found`: `(kind, name)` -> object, None when absent), with the
controller's rules and error words (`values_sources`): a missing reference or key fails
unless `optional`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import yaml

from afflux.api import HelmRelease
from afflux.controllers.helm import HELM3_DEFAULTS_GATE, Engine, compose_values, values_sources
from afflux.controllers.runtime import parse_feature_gates

from ._difffmt import object_id
from ._shards import deployment_args, flag_value

__all__ = [
    "HELM_CONTROLLER",
    "KEEP_POLICY",
    "chart_source",
    "engine_label",
    "helm_engine",
    "manifest_objects",
    "release_values",
    "removed_objects",
    "template_args",
    "values_refs",
]

#: The annotation that keeps an object when Helm would delete it.
KEEP_POLICY = ("helm.sh/resource-policy", "keep")
#: The Deployment whose args say which Helm helm-controller runs.
HELM_CONTROLLER = "helm-controller"
_GATES_FLAG = "--feature-gates"


def helm_engine(deployment: Mapping[str, Any] | None) -> tuple[Engine, str]:
    """The engine helm-controller runs (module docstring), and why, said for the user."""
    default = Engine.of({})
    if deployment is None:
        return default, f"no {HELM_CONTROLLER} Deployment found: Flux 2.9's default"
    text = flag_value(deployment_args(deployment), _GATES_FLAG)
    try:
        gates = parse_feature_gates(text)
    except argparse.ArgumentTypeError as err:
        return default, f"{HELM_CONTROLLER}'s {_GATES_FLAG} cannot be read ({err}): the default"
    if HELM3_DEFAULTS_GATE not in gates:
        return default, f"{HELM_CONTROLLER}'s default"
    value = "true" if gates[HELM3_DEFAULTS_GATE] else "false"
    return Engine.of(gates), f"{HELM_CONTROLLER}'s {_GATES_FLAG} {HELM3_DEFAULTS_GATE}={value}"


def engine_label(engine: Engine) -> str:
    """`Helm 4 (helm4)` or `Helm 3 (helm)`."""
    return f"Helm {4 if engine is Engine.HELM4 else 3} ({engine.program})"


def chart_source(hr: HelmRelease) -> tuple[str, str, str]:
    """(kind, namespace, name) of the object whose artifact is the release's chart: the
    HelmChart `<namespace>-<name>` helm-controller makes for `spec.chart`, or `chartRef`."""
    if hr.spec.chart is not None:
        return "HelmChart", hr.helm_chart_namespace, hr.helm_chart_name
    if hr.spec.chart_ref is None:
        raise ValueError("the HelmRelease has neither spec.chart nor spec.chartRef")
    ref = hr.spec.chart_ref
    return ref.kind, ref.namespace or hr.namespace, ref.name


def values_refs(hr: HelmRelease) -> list[tuple[str, str]]:
    """(kind, name) of each `valuesFrom` object, in order (in the HelmRelease's namespace)."""
    return [(ref.kind, ref.name) for ref in hr.spec.values_from or []]


def release_values(hr: HelmRelease, found: Mapping[tuple[str, str], Mapping[str, Any] | None]
                   ) -> dict[str, Any]:
    """The values the next upgrade installs with (see the module docstring); ValuesError
    with a message that says what to fix."""
    sources = values_sources(hr.spec.values_from or [], hr.namespace, found)
    return compose_values(sources, hr.spec.values)


def template_args(hr: HelmRelease, chart: str, values_file: str, *, upgrade: bool
                  ) -> list[str]:
    """`helm template` arguments that render what `helm upgrade` (or install) would apply:
    the release name and namespace, the values file, `--is-upgrade` when a release exists
    (templates see `.Release.IsUpgrade`); CRDs of the chart's crds/ directory are left out,
    as Helm leaves them out of a release's manifest. `disableSchemaValidation` of the action
    is `--skip-schema-validation`, as the controller runs it."""
    args = ["template", hr.release_name, chart, "--namespace", hr.release_namespace,
            "--values", values_file]
    if upgrade:
        args.append("--is-upgrade")
    action = hr.spec.upgrade if upgrade else hr.spec.install
    if action is not None and action.disable_schema_validation:
        args.append("--skip-schema-validation")
    return args


def manifest_objects(manifest: str, release_namespace: str,
                     is_namespaced: Callable[[str, str], bool | None]) -> list[dict[str, Any]]:
    """The objects of a rendered manifest; a namespaced one without a namespace is in the
    release's namespace, a cluster-scoped one loses any namespace. `is_namespaced` answers
    None for a kind the cluster does not know (left as written)."""
    out: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(manifest or ""):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        meta = doc.setdefault("metadata", {})
        scoped = is_namespaced(str(doc.get("apiVersion", "")), str(doc["kind"]))
        if scoped:
            meta.setdefault("namespace", release_namespace)
            if not meta.get("namespace"):
                meta["namespace"] = release_namespace
        elif scoped is False:
            meta.pop("namespace", None)
        out.append(doc)
    return out


def removed_objects(release: Iterable[Mapping[str, Any]], desired: Sequence[Mapping[str, Any]]
                    ) -> list[Mapping[str, Any]]:
    """The objects of the current release that the rendered chart no longer has (Helm
    deletes them on upgrade), except those annotated `helm.sh/resource-policy: keep`."""
    wanted = {object_id(o) for o in desired}
    out = []
    for obj in release:
        notes = (obj.get("metadata") or {}).get("annotations") or {}
        if object_id(obj) in wanted or notes.get(KEEP_POLICY[0]) == KEEP_POLICY[1]:
            continue
        out.append(obj)
    return out
