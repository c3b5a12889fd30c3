"""The typed models: reading, defaults, writing, helpers, registry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from afflux import api
from afflux.api import (
    KINDS,
    Condition,
    GitRepository,
    HelmRelease,
    HelmRepository,
    ImagePolicy,
    ImageRef,
    ImageRepository,
    Kustomization,
    ObjectRef,
    Receiver,
    ResourceInventory,
    apply_defaults,
    kind_by_name,
    kind_for,
    kind_of,
    parse_object,
)
from afflux.api.crdgen import root_schema

from .conftest import sample_documents

SAMPLES = sample_documents()


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def obj(kind: type[api.Resource], spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": kind.API_VERSION,
        "kind": kind.KIND,
        "metadata": {"name": "x", "namespace": "ns", **meta},
        "spec": spec,
    }


GIT = {"url": "https://git.example.com/r.git", "interval": "1m"}
KS = {"interval": "10m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "r"}}
HR = {"interval": "5m", "chartRef": {"kind": "OCIRepository", "name": "c"}}
HR_TEMPLATE = {
    "interval": "5m",
    "chart": {"spec": {"chart": "p", "sourceRef": {"kind": "HelmRepository", "name": "r"}}},
}

DEFAULTS = [
    ("gitrepository-timeout", GitRepository, GIT, "spec.timeout", "60s"),
    (
        "gitrepository-verify-mode",
        GitRepository,
        {**GIT, "verify": {"secretRef": {"name": "k"}}},
        "spec.verify.mode",
        "HEAD",
    ),
    (
        "ocirepository-provider",
        api.OCIRepository,
        {"url": "oci://r/x", "interval": "1m"},
        "spec.provider",
        "generic",
    ),
    (
        "ocirepository-timeout",
        api.OCIRepository,
        {"url": "oci://r/x", "interval": "1m"},
        "spec.timeout",
        "60s",
    ),
    ("helmrepository-provider", HelmRepository, {"url": "https://c"}, "spec.provider", "generic"),
    (
        "helmchart-version",
        api.HelmChart,
        {"chart": "c", "interval": "1m", "sourceRef": {"kind": "Bucket", "name": "b"}},
        "spec.version",
        "*",
    ),
    (
        "helmchart-strategy",
        api.HelmChart,
        {"chart": "c", "interval": "1m", "sourceRef": {"kind": "Bucket", "name": "b"}},
        "spec.reconcileStrategy",
        "ChartVersion",
    ),
    (
        "bucket-provider",
        api.Bucket,
        {"bucketName": "b", "endpoint": "e", "interval": "1m"},
        "spec.provider",
        "generic",
    ),
    ("kustomization-force", Kustomization, KS, "spec.force", False),
    (
        "kustomization-substitute-optional",
        Kustomization,
        {**KS, "postBuild": {"substituteFrom": [{"kind": "Secret", "name": "s"}]}},
        "spec.postBuild.substituteFrom.0.optional",
        False,
    ),
    ("helmrelease-chart-version", HelmRelease, HR_TEMPLATE, "spec.chart.spec.version", "*"),
    (
        "helmrelease-deletion-propagation",
        HelmRelease,
        {**HR, "uninstall": {}},
        "spec.uninstall.deletionPropagation",
        "background",
    ),
    (
        "imagerepository-exclusion-list",
        ImageRepository,
        {"image": "r/x", "interval": "1m"},
        "spec.exclusionList",
        ["^.*\\.sig$"],
    ),
    (
        "imagepolicy-digest-reflection",
        ImagePolicy,
        {"imageRepositoryRef": {"name": "r"}, "policy": {"alphabetical": {}}},
        "spec.digestReflectionPolicy",
        "Never",
    ),
    (
        "imagepolicy-order",
        ImagePolicy,
        {"imageRepositoryRef": {"name": "r"}, "policy": {"alphabetical": {}}},
        "spec.policy.alphabetical.order",
        "asc",
    ),
    (
        "imageupdateautomation-update",
        api.ImageUpdateAutomation,
        {"sourceRef": {"name": "r"}, "interval": "1m"},
        "spec.update",
        {"strategy": "Setters"},
    ),
    (
        "imageupdateautomation-source-kind",
        api.ImageUpdateAutomation,
        {"sourceRef": {"name": "r"}, "interval": "1m"},
        "spec.sourceRef.kind",
        "GitRepository",
    ),
    (
        "alert-severity",
        api.Alert,
        {"providerRef": {"name": "p"}, "eventSources": []},
        "spec.eventSeverity",
        "info",
    ),
    (
        "receiver-interval",
        Receiver,
        {"type": "generic", "resources": [], "secretRef": {"name": "t"}},
        "spec.interval",
        "10m",
    ),
]


@pytest.mark.parametrize(
    ("kind", "spec", "path", "expected"), [d[1:] for d in DEFAULTS], ids=[d[0] for d in DEFAULTS]
)
def test_from_dict_applies_the_schema_defaults(
    kind: type[api.Resource], spec: dict, path: str, expected: Any
) -> None:
    body = obj(kind, spec)
    assert _get(kind.from_dict(body).to_dict(), path) == expected
    # ... which are the defaults the API server applies from the generated schema
    assert _get(apply_defaults(root_schema(kind), body), path) == expected


@pytest.mark.parametrize("doc", [d for _, d in SAMPLES], ids=[i for i, _ in SAMPLES])
def test_samples_round_trip_with_the_servers_defaults(doc: dict[str, Any]) -> None:
    model = parse_object(doc)
    expected = apply_defaults(root_schema(type(model)), doc)
    expected.pop("status", None)
    # models write the storage version (v1beta2 image objects come back as v1, as the API
    # server itself returns them to a client watching v1)
    expected["apiVersion"] = model.API_VERSION
    assert model.to_dict() == expected
    assert parse_object(model.to_dict()) == model


def test_from_dict_is_tolerant() -> None:
    body = obj(GitRepository, {**GIT, "someFutureField": {"a": 1}, "ref": None, "suspend": None})
    body["status"] = {"newStatusField": True, "artifact": None}
    repo = GitRepository.from_dict(body)
    assert repo.spec.ref is None
    assert repo.spec.suspend is None
    assert repo.status.artifact is None
    assert "someFutureField" not in repo.to_dict()["spec"]


def test_missing_spec_and_status_give_empty_models() -> None:
    repo = GitRepository.from_dict({"kind": "GitRepository", "metadata": {"name": "x"}})
    assert repo.spec.url == ""
    assert repo.status.conditions is None
    assert "status" not in repo.to_dict()


def test_from_dict_reports_wrong_types_with_the_path() -> None:
    with pytest.raises(TypeError, match=r"GitRepositorySpec\.ref: expected an object"):
        GitRepository.from_dict(obj(GitRepository, {**GIT, "ref": "main"}))
    with pytest.raises(TypeError, match=r"sparseCheckout: expected a list"):
        GitRepository.from_dict(obj(GitRepository, {**GIT, "sparseCheckout": "deploy"}))


def test_from_dict_refuses_another_kind() -> None:
    with pytest.raises(ValueError, match="expected kind GitRepository"):
        GitRepository.from_dict(obj(Kustomization, KS))


def test_to_dict_leaves_out_none_but_keeps_false_and_empty() -> None:
    spec = api.GitRepositorySpec(url="https://x", interval="1m", suspend=False, sparse_checkout=[])
    assert spec.to_dict() == {
        "url": "https://x",
        "interval": "1m",
        "timeout": "60s",
        "suspend": False,
        "sparseCheckout": [],
    }


def test_defaults_are_not_shared_between_instances() -> None:
    a, b = api.ImageRepositorySpec(), api.ImageRepositorySpec()
    assert a.exclusion_list is not None
    a.exclusion_list.append("^x$")
    assert b.exclusion_list == ["^.*\\.sig$"]


def test_values_are_free_form_and_copied() -> None:
    values = {"a": [1, {"b": None}], "c": {"d": "e"}}
    release = HelmRelease.from_dict(obj(HelmRelease, {**HR, "values": values}))
    assert release.spec.values == values
    release.spec.values["c"]["d"] = "changed"
    assert values["c"]["d"] == "e"


NOW = "2024-05-01T10:00:00Z"
REQUEST = [
    ("no-annotation", {}, None, False),
    ("new-request", {"reconcile.fluxcd.io/requestedAt": "t1"}, None, True),
    ("handled", {"reconcile.fluxcd.io/requestedAt": "t1"}, "t1", False),
    ("newer-request", {"reconcile.fluxcd.io/requestedAt": "t2"}, "t1", True),
]


@pytest.mark.parametrize(
    ("annotations", "handled", "requested"), [r[1:] for r in REQUEST], ids=[r[0] for r in REQUEST]
)
def test_reconcile_requested(annotations: dict, handled: str | None, requested: bool) -> None:
    body = obj(GitRepository, GIT, annotations=annotations)
    body["status"] = {"lastHandledReconcileAt": handled}
    repo = GitRepository.from_dict(body)
    assert repo.reconcile_requested is requested
    assert repo.requested_at == annotations.get("reconcile.fluxcd.io/requestedAt")


INTERVALS = [
    ("gitrepository", GitRepository, GIT, 60.0, 60.0),
    ("gitrepository-timeout", GitRepository, {**GIT, "timeout": "90s"}, 60.0, 90.0),
    ("helmrepository-defaults", HelmRepository, {"url": "https://c"}, 60.0, 60.0),
    ("helmrelease-timeout", HelmRelease, HR, 300.0, 300.0),
    ("kustomization-interval-less-30s", Kustomization, KS, 600.0, 570.0),
    ("kustomization-at-least-30s", Kustomization, {**KS, "interval": "40s"}, 40.0, 30.0),
    ("kustomization-explicit", Kustomization, {**KS, "timeout": "2m"}, 600.0, 120.0),
    ("imagerepository-interval", ImageRepository, {"image": "r/x", "interval": "5m"}, 300.0, 300.0),
    (
        "receiver-default",
        Receiver,
        {"type": "generic", "resources": [], "secretRef": {"name": "t"}},
        600.0,
        None,
    ),
]


@pytest.mark.parametrize(
    ("kind", "spec", "interval", "timeout"),
    [i[1:] for i in INTERVALS],
    ids=[i[0] for i in INTERVALS],
)
def test_interval_and_timeout(
    kind: type[api.Resource], spec: dict, interval: float, timeout: float | None
) -> None:
    model = kind.from_dict(obj(kind, spec))
    assert model.interval == interval
    assert model.timeout == timeout


def test_identity_and_lifecycle_helpers() -> None:
    body = obj(
        GitRepository,
        {**GIT, "suspend": True},
        uid="u-1",
        generation=3,
        finalizers=["finalizers.fluxcd.io"],
        deletionTimestamp=NOW,
    )
    repo = GitRepository.from_dict(body)
    assert (repo.name, repo.namespace, repo.key, repo.generation) == ("x", "ns", "ns/x", 3)
    assert repo.suspended and repo.deleting and repo.has_finalizer
    assert repo.object_reference() == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "name": "x",
        "namespace": "ns",
        "uid": "u-1",
    }
    assert not GitRepository.from_dict(obj(GitRepository, GIT)).suspended


def test_conditions_and_ready() -> None:
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Succeeded",
        "message": "",
        "lastTransitionTime": NOW,
    }
    body = obj(GitRepository, GIT)
    body["status"] = {"conditions": [ready, {**ready, "type": "ArtifactInStorage"}]}
    repo = GitRepository.from_dict(body)
    assert repo.ready
    assert repo.status.condition("ArtifactInStorage") == Condition.from_dict(
        {**ready, "type": "ArtifactInStorage"}
    )
    assert repo.status.condition("Stalled") is None
    body["status"]["conditions"][0]["status"] = "False"
    assert not GitRepository.from_dict(body).ready
    assert not api.Provider.from_dict(obj(api.Provider, {"type": "slack"})).ready


RELEASES = [
    ("plain", {}, "podinfo", "ns", "ns"),
    ("target-namespace", {"targetNamespace": "apps"}, "apps-podinfo", "apps", "ns"),
    ("release-name", {"releaseName": "web", "storageNamespace": "helm"}, "web", "ns", "helm"),
]


@pytest.mark.parametrize(
    ("extra", "release", "release_ns", "storage_ns"),
    [r[1:] for r in RELEASES],
    ids=[r[0] for r in RELEASES],
)
def test_helmrelease_helpers(extra: dict, release: str, release_ns: str, storage_ns: str) -> None:
    body = obj(HelmRelease, {**HR_TEMPLATE, **extra})
    body["metadata"]["name"] = "podinfo"
    hr = HelmRelease.from_dict(body)
    assert (hr.release_name, hr.release_namespace, hr.storage_namespace) == (
        release,
        release_ns,
        storage_ns,
    )
    assert (hr.helm_chart_name, hr.helm_chart_namespace, hr.max_history) == ("ns-podinfo", "ns", 5)


def test_helmrelease_chart_in_another_namespace_and_max_history_zero() -> None:
    spec = copy.deepcopy(HR_TEMPLATE)
    spec["chart"]["spec"]["sourceRef"]["namespace"] = "flux-system"
    hr = HelmRelease.from_dict(obj(HelmRelease, {**spec, "maxHistory": 0}))
    assert hr.helm_chart_namespace == "flux-system"
    assert hr.max_history == 0


def test_kustomization_inventory_helpers() -> None:
    refs = [
        ObjectRef("ns", "web", "apps", "Deployment", "v1"),
        ObjectRef("ns", "web", "", "Service", "v1"),
        ObjectRef("", "ns", "", "Namespace", "v1"),
    ]
    inventory = ResourceInventory.from_refs(refs)
    assert [e.id for e in inventory.entries] == [
        "_ns__Namespace",
        "ns_web__Service",
        "ns_web_apps_Deployment",
    ]
    assert inventory.to_dict()["entries"][0] == {"id": "_ns__Namespace", "v": "v1"}
    assert inventory.refs() == sorted(refs)
    ks = Kustomization.from_dict(obj(Kustomization, KS))
    assert (ks.deletion_policy, ks.source_namespace, ks.retry_interval) == (
        "MirrorPrune",
        "ns",
        600.0,
    )


def test_image_ref_and_receiver_path() -> None:
    assert str(ImageRef(name="ghcr.io/acme/app", tag="1.2.3")) == "ghcr.io/acme/app:1.2.3"
    assert str(ImageRef(name="app", tag="1", digest="sha256:ab")) == "app:1@sha256:ab"
    receiver = Receiver.from_dict(
        obj(Receiver, {"type": "generic", "resources": [], "secretRef": {"name": "t"}})
    )
    assert receiver.webhook_path("tok") == api.receiver_webhook_path("tok", "x", "ns")


IDENTITY = [
    (GitRepository, "source.toolkit.fluxcd.io/v1", "gitrepositories", ("gitrepo",)),
    (api.OCIRepository, "source.toolkit.fluxcd.io/v1", "ocirepositories", ("ocirepo",)),
    (HelmRepository, "source.toolkit.fluxcd.io/v1", "helmrepositories", ("helmrepo",)),
    (api.HelmChart, "source.toolkit.fluxcd.io/v1", "helmcharts", ("hc",)),
    (api.Bucket, "source.toolkit.fluxcd.io/v1", "buckets", ()),
    (api.ExternalArtifact, "source.toolkit.fluxcd.io/v1", "externalartifacts", ("ea",)),
    (api.ArtifactGenerator, "source.extensions.fluxcd.io/v1beta1", "artifactgenerators",
     ("ag",)),
    (Kustomization, "kustomize.toolkit.fluxcd.io/v1", "kustomizations", ("ks",)),
    (HelmRelease, "helm.toolkit.fluxcd.io/v2", "helmreleases", ("hr",)),
    (ImageRepository, "image.toolkit.fluxcd.io/v1", "imagerepositories", ("imgrepo", "imagerepo")),
    (ImagePolicy, "image.toolkit.fluxcd.io/v1", "imagepolicies", ("imgpol", "imagepol")),
    (
        api.ImageUpdateAutomation,
        "image.toolkit.fluxcd.io/v1",
        "imageupdateautomations",
        ("iua", "imgupd", "imgauto"),
    ),
    (api.Provider, "notification.toolkit.fluxcd.io/v1beta3", "providers", ()),
    (api.Alert, "notification.toolkit.fluxcd.io/v1beta3", "alerts", ()),
    (Receiver, "notification.toolkit.fluxcd.io/v1", "receivers", ()),
]


@pytest.mark.parametrize(
    ("kind", "api_version", "plural", "short"), IDENTITY, ids=[i[0].KIND for i in IDENTITY]
)
def test_kind_identity(
    kind: type[api.Resource], api_version: str, plural: str, short: tuple[str, ...]
) -> None:
    assert (kind.API_VERSION, kind.PLURAL, kind.SHORT_NAMES) == (api_version, plural, short)
    assert kind.SINGULAR == kind.KIND.lower()
    assert kind_for(kind.GROUP, kind.KIND) is kind


def test_registry_has_every_kind_once() -> None:
    assert len(KINDS) == 15
    assert len({k.KIND for k in KINDS}) == 15
    assert {k for k, *_ in IDENTITY} == set(KINDS)


LOOKUPS = [
    ("ks", Kustomization),
    ("hr", HelmRelease),
    ("gitrepo", GitRepository),
    ("GitRepository", GitRepository),
    ("helmreleases", HelmRelease),
    ("imagepol", ImagePolicy),
    ("iua", api.ImageUpdateAutomation),
    ("bucket", api.Bucket),
    ("kustomizations.kustomize.toolkit.fluxcd.io", Kustomization),
]


@pytest.mark.parametrize(("name", "kind"), LOOKUPS, ids=[n for n, _ in LOOKUPS])
def test_kind_by_name(name: str, kind: type[api.Resource]) -> None:
    assert kind_by_name(name) is kind


@pytest.mark.parametrize(
    "name",
    ["deployment", "kustomizations.apps", "gitrepos"],
    ids=["unknown", "wrong-group", "misspelt"],
)
def test_kind_by_name_unknown(name: str) -> None:
    with pytest.raises(KeyError):
        kind_by_name(name)


def test_kind_of_knows_the_served_versions() -> None:
    assert kind_of("image.toolkit.fluxcd.io/v1beta2", "ImagePolicy") is ImagePolicy
    assert kind_of("image.toolkit.fluxcd.io/v1", "ImagePolicy") is ImagePolicy
    with pytest.raises(KeyError, match="served as"):
        kind_of("source.toolkit.fluxcd.io/v1beta2", "GitRepository")
    with pytest.raises(KeyError, match="serves no kind"):
        kind_of("apps/v1", "Deployment")
