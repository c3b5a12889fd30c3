"""The objects `afflux create helmrelease`, `create source chart`, `create alert-provider`,
`create alert` and `create receiver` make, shaped as `flux create ... --export` prints them
(the same fields set and left out for the same flags). Pure: the command reads the values
files; these only shape dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from afflux.api import Alert, HelmChart, HelmRelease, Provider, Receiver
from afflux.controllers.helm._values import merge_maps as merge_values  # as --values merge

from ._build import BuildError, _dependency, _object, _split_list, go_duration

__all__ = [
    "CRDS_POLICIES",
    "HELM_CHART_SOURCE_KINDS",
    "RECEIVER_TYPES",
    "alert",
    "alert_provider",
    "helm_chart",
    "helm_release",
    "merge_values",
    "parse_kind_name_namespace",
    "receiver",
]

#: `--source` kinds of a chart (flux: HelmRepository, GitRepository, Bucket).
HELM_CHART_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")
#: `--chart-ref` kinds.
CHART_REF_KINDS = ("OCIRepository", "HelmChart")
#: `--values-from` kinds.
VALUES_FROM_KINDS = ("Secret", "ConfigMap")
#: `--crds`: the upgrade CRDs policy.
CRDS_POLICIES = ("Skip", "Create", "CreateReplace")
#: `--reconcile-strategy` of the chart.
RECONCILE_STRATEGIES = ("ChartVersion", "Revision")
#: `create receiver --type`, as flux lists them.
RECEIVER_TYPES = ("generic", "generic-hmac", "github", "gitlab", "bitbucket", "harbor",
                  "dockerhub", "quay", "gcr", "nexus", "acr", "cdevents")


def parse_kind_name_namespace(text: str) -> tuple[str, str, str]:
    """`<kind>/<name>[.<namespace>]` -> (kind, name, namespace) as flux splits it: the kind is
    empty without a `/`, and the namespace is what follows the last dot of the name."""
    kind, name = "", text
    parts = text.split("/")
    if len(parts) == 2:
        kind, name = parts
    namespace = ""
    if "." in name:
        name, _, namespace = name.rpartition(".")
    return kind, name, namespace


def _kind_in(kind: str, allowed: Sequence[str], flag: str, text: str) -> str:
    for candidate in allowed:
        if candidate.lower() == kind.lower():
            return candidate
    raise BuildError(f"{flag} {text!r}: the kind must be one of {', '.join(allowed)}")


def _ref(kind: str, name: str, namespace: str = "") -> dict[str, str]:
    ref = {"kind": kind, "name": name}
    if namespace:
        ref["namespace"] = namespace
    return ref


def _chart_source(text: str) -> dict[str, str]:
    kind, name, namespace = parse_kind_name_namespace(text)
    if not kind or not name:
        raise BuildError(f"--source {text!r}: expected <kind>/<name>[.<namespace>], e.g. "
                         "HelmRepository/podinfo")
    return _ref(_kind_in(kind, HELM_CHART_SOURCE_KINDS, "--source", text), name, namespace)


def helm_release(
    name: str,
    namespace: str,
    *,
    source: str | None = None,
    chart: str | None = None,
    chart_version: str | None = None,
    chart_ref: str | None = None,
    chart_interval: str | None = None,
    reconcile_strategy: str = "ChartVersion",
    release_name: str | None = None,
    target_namespace: str | None = None,
    storage_namespace: str | None = None,
    create_target_namespace: bool = False,
    depends_on: Sequence[str] | None = None,
    service_account: str | None = None,
    crds: str | None = None,
    values: Mapping[str, Any] | None = None,
    values_from: Sequence[str] | None = None,
    kubeconfig_secret_ref: str | None = None,
    interval: str = "1m",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A HelmRelease of `--chart` from `--source` (flux makes the HelmChart from it), or of the
    `--chart-ref` (an OCIRepository or HelmChart). The storage namespace defaults to the
    target namespace, as flux sets it."""
    if not chart and not chart_ref:
        raise BuildError("--chart or --chart-ref is required")
    if chart and chart_ref:
        raise BuildError("--chart cannot be combined with --chart-ref")
    if reconcile_strategy not in RECONCILE_STRATEGIES:
        raise BuildError(f"--reconcile-strategy {reconcile_strategy!r}: use "
                         f"{' or '.join(RECONCILE_STRATEGIES)}")
    spec: dict[str, Any] = {"interval": go_duration(interval)}
    if release_name:
        spec["releaseName"] = release_name
    if target_namespace:
        spec["targetNamespace"] = target_namespace
    storage_namespace = storage_namespace or target_namespace
    if storage_namespace:
        spec["storageNamespace"] = storage_namespace
    deps = _split_list(depends_on)
    if deps:
        spec["dependsOn"] = [_dependency(d) for d in deps]
    if chart:
        if not source:
            raise BuildError("--chart needs --source, e.g. --source=HelmRepository/podinfo")
        template: dict[str, Any] = {
            "chart": chart, "reconcileStrategy": reconcile_strategy,
            "sourceRef": _chart_source(source),
        }
        if chart_version:
            template["version"] = chart_version
        if chart_interval:
            template["interval"] = go_duration(chart_interval, "--chart-interval")
        spec["chart"] = {"spec": dict(sorted(template.items()))}
    else:
        kind, ref_name, ref_ns = parse_kind_name_namespace(str(chart_ref))
        if not kind or not ref_name:
            raise BuildError(f"--chart-ref {chart_ref!r}: expected <kind>/<name>[.<namespace>]")
        if kind not in CHART_REF_KINDS:
            raise BuildError(f"--chart-ref {chart_ref!r}: the kind must be one of "
                             f"{', '.join(CHART_REF_KINDS)}")
        spec["chartRef"] = _ref(kind, ref_name, ref_ns)
    if kubeconfig_secret_ref:
        spec["kubeConfig"] = {"secretRef": {"name": kubeconfig_secret_ref}}
    install: dict[str, Any] = {}
    if create_target_namespace:
        install["createNamespace"] = True
    if service_account:
        spec["serviceAccountName"] = service_account
    if crds:
        if crds not in CRDS_POLICIES:
            raise BuildError(f"--crds {crds!r}: use one of {', '.join(CRDS_POLICIES)}")
        install["crds"] = "Create"
        spec["upgrade"] = {"crds": crds}
    if install:
        spec["install"] = dict(sorted(install.items()))
    if values:
        spec["values"] = dict(values)
    refs = []
    for text in _split_list(values_from):
        kind, sep, ref_name = text.partition("/")
        if not sep or not kind or not ref_name or "/" in ref_name:
            raise BuildError(f"--values-from {text!r}: expected <kind>/<name>, e.g. "
                             "Secret/my-values")
        refs.append({"kind": _kind_in(kind, VALUES_FROM_KINDS, "--values-from", text),
                     "name": ref_name})
    if refs:
        spec["valuesFrom"] = refs
    return _object(HelmRelease, name, namespace, labels, spec)


def helm_chart(
    name: str,
    namespace: str,
    *,
    source: str,
    chart: str,
    chart_version: str | None = None,
    reconcile_strategy: str = "ChartVersion",
    verify_provider: str | None = None,
    verify_secret_ref: str | None = None,
    verify_issuer: str | None = None,
    verify_subject: str | None = None,
    interval: str = "1m",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A HelmChart of `chart` in a source of its own namespace (`<kind>/<name>`)."""
    if not source:
        raise BuildError("--source is required, e.g. --source=HelmRepository/podinfo")
    if not chart:
        raise BuildError("--chart is required (the chart name, or its path in the source)")
    if reconcile_strategy not in RECONCILE_STRATEGIES:
        raise BuildError(f"--reconcile-strategy {reconcile_strategy!r}: use "
                         f"{' or '.join(RECONCILE_STRATEGIES)}")
    kind, sep, source_name = source.partition("/")
    if not sep or not kind or not source_name:
        raise BuildError(f"--source {source!r}: expected <kind>/<name>")
    spec: dict[str, Any] = {
        "chart": chart, "interval": go_duration(interval),
        "reconcileStrategy": reconcile_strategy,
        "sourceRef": _ref(_kind_in(kind, HELM_CHART_SOURCE_KINDS, "--source", source),
                          source_name),
    }
    if chart_version:
        spec["version"] = chart_version
    verify = verification(verify_provider, verify_secret_ref, verify_issuer, verify_subject)
    if verify:
        spec["verify"] = verify
    return _object(HelmChart, name, namespace, labels, spec)


#: `--verify-provider` values.
VERIFY_PROVIDERS = ("cosign", "notation")


def verification(provider: str | None, secret_ref: str | None, issuer: str | None,
                 subject: str | None) -> dict[str, Any] | None:
    """`spec.verify` of an OCIRepository or HelmChart from the `--verify-*` flags."""
    if not provider:
        if secret_ref:
            raise BuildError("--verify-secret-ref needs --verify-provider")
        if issuer or subject:
            raise BuildError("--verify-issuer/--verify-subject need --verify-provider")
        return None
    if provider not in VERIFY_PROVIDERS:
        raise BuildError(f"--verify-provider {provider!r}: use one of "
                         f"{', '.join(VERIFY_PROVIDERS)}")
    verify: dict[str, Any] = {"provider": provider}
    if secret_ref:
        verify["secretRef"] = {"name": secret_ref}
    if issuer or subject:
        verify["matchOIDCIdentity"] = [{"issuer": issuer or "", "subject": subject or ""}]
    return verify


# --- notification ---------------------------------------------------------------------------------


def alert_provider(
    name: str,
    namespace: str,
    *,
    type_: str,
    channel: str | None = None,
    username: str | None = None,
    address: str | None = None,
    secret_ref: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Provider (notification v1beta3) of `--type`."""
    if not type_:
        raise BuildError("--type is required, e.g. --type=slack or --type=generic")
    spec: dict[str, Any] = {"type": type_}
    for key, value in (("channel", channel), ("username", username), ("address", address)):
        if value:
            spec[key] = value
    if secret_ref:
        spec["secretRef"] = {"name": secret_ref}
    return _object(Provider, name, namespace, labels, spec)


def alert(
    name: str,
    namespace: str,
    *,
    provider_ref: str,
    event_sources: Sequence[str] | None = None,
    event_severity: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An Alert (notification v1beta3) of the `--event-source` objects to `--provider-ref`."""
    if not provider_ref:
        raise BuildError("--provider-ref is required (the name of a Provider)")
    sources = []
    for text in _split_list(event_sources):
        kind, ref_name, ref_ns = parse_kind_name_namespace(text)
        if not kind:
            raise BuildError(f"--event-source {text!r}: expected <kind>/<name>[.<namespace>], "
                             "e.g. Kustomization/*")
        sources.append(_ref(kind, ref_name, ref_ns))
    if not sources:
        raise BuildError("at least one --event-source is required, e.g. "
                         "--event-source=Kustomization/*")
    if event_severity and event_severity not in ("info", "error"):
        raise BuildError(f"--event-severity {event_severity!r}: use info or error")
    spec: dict[str, Any] = {"eventSources": sources, "providerRef": {"name": provider_ref}}
    if event_severity:
        spec["eventSeverity"] = event_severity
    return _object(Alert, name, namespace, labels, spec)


def receiver(
    name: str,
    namespace: str,
    *,
    type_: str,
    secret_ref: str,
    resources: Sequence[str] | None = None,
    events: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Receiver (notification v1) of `--type` that reconciles the `--resource` objects."""
    if not type_:
        raise BuildError(f"--type is required, one of {', '.join(RECEIVER_TYPES)}")
    if type_ not in RECEIVER_TYPES:
        raise BuildError(f"--type {type_!r}: use one of {', '.join(RECEIVER_TYPES)}")
    if not secret_ref:
        raise BuildError("--secret-ref is required (a Secret with the webhook `token`)")
    refs = []
    for text in _split_list(resources):
        kind, sep, ref_name = text.partition("/")
        if not sep or not kind or "/" in ref_name:
            raise BuildError(f"--resource {text!r}: expected <kind>/<name>, e.g. "
                             "GitRepository/webapp")
        refs.append({"kind": kind, "name": ref_name})
    if not refs:
        raise BuildError("at least one --resource is required, e.g. --resource=GitRepository/app")
    spec: dict[str, Any] = {"resources": refs, "secretRef": {"name": secret_ref},
                            "type": type_}
    evs = _split_list(events)
    if evs:
        spec["events"] = evs
    return _object(Receiver, name, namespace, labels, spec)
