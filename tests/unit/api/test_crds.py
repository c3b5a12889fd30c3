"""The generated CRDs: up to date, deterministic, structural, and carrying Flux's names,
validation, subresources and printer columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux import api
from afflux.api import DURATION_PATTERN, KINDS, TIMEOUT_PATTERN, structural_problems
from afflux.api.crdgen import build_crd, build_crds, crd_filename, main, render, write_crds

from .conftest import REPO

BASES = REPO / "config" / "crd" / "bases"
CRDS = {crd["spec"]["names"]["kind"]: crd for crd in build_crds()}


def test_committed_crds_are_up_to_date(tmp_path: Path) -> None:
    written = write_crds(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in BASES.glob("*.yaml")), (
        "config/crd/bases has other files than the generator writes"
    )
    for path in written:
        committed = BASES / path.name
        assert committed.read_text() == path.read_text(), (
            f"{committed} is stale: run `python -m afflux.api.crdgen config/crd/bases`"
        )


def test_check_mode_reports_stale_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(BASES), "--check"]) == 0
    write_crds(tmp_path)
    victim = tmp_path / crd_filename(api.GitRepository)
    victim.write_text(victim.read_text().replace("gitrepo", "gitrepository-old"))
    (tmp_path / crd_filename(api.Bucket)).unlink()
    assert main([str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "source.toolkit.fluxcd.io_gitrepositories.yaml: out of date" in err
    assert "source.toolkit.fluxcd.io_buckets.yaml: missing" in err


def test_generation_is_deterministic() -> None:
    assert [render(c) for c in build_crds()] == [render(c) for c in build_crds()]


def test_crd_kustomization_lists_every_generated_file() -> None:
    listed = yaml.safe_load((REPO / "config" / "crd" / "kustomization.yaml").read_text())[
        "resources"
    ]
    assert sorted(listed) == sorted(f"bases/{crd_filename(k)}" for k in KINDS)


@pytest.mark.parametrize("kind", CRDS, ids=list(CRDS))
def test_schemas_are_structural(kind: str) -> None:
    for version in CRDS[kind]["spec"]["versions"]:
        assert structural_problems(version["schema"]["openAPIV3Schema"]) == []


@pytest.mark.parametrize("kind", CRDS, ids=list(CRDS))
def test_rendered_yaml_reads_back_as_the_crd(kind: str) -> None:
    cls = api.kind_for(CRDS[kind]["spec"]["group"], kind)
    assert yaml.safe_load(render(build_crd(cls))) == CRDS[kind]


NAMES = [
    ("GitRepository", "gitrepositories.source.toolkit.fluxcd.io", ["gitrepo"], "fluxcd-sources"),
    ("OCIRepository", "ocirepositories.source.toolkit.fluxcd.io", ["ocirepo"], "fluxcd-sources"),
    ("HelmRepository", "helmrepositories.source.toolkit.fluxcd.io", ["helmrepo"], "fluxcd-sources"),
    ("HelmChart", "helmcharts.source.toolkit.fluxcd.io", ["hc"], "fluxcd-sources"),
    ("Bucket", "buckets.source.toolkit.fluxcd.io", None, "fluxcd-sources"),
    ("Kustomization", "kustomizations.kustomize.toolkit.fluxcd.io", ["ks"], "fluxcd-appliers"),
    ("HelmRelease", "helmreleases.helm.toolkit.fluxcd.io", ["hr"], "fluxcd-appliers"),
    (
        "ImageRepository",
        "imagerepositories.image.toolkit.fluxcd.io",
        ["imgrepo", "imagerepo"],
        "fluxcd-images",
    ),
    (
        "ImagePolicy",
        "imagepolicies.image.toolkit.fluxcd.io",
        ["imgpol", "imagepol"],
        "fluxcd-images",
    ),
    (
        "ImageUpdateAutomation",
        "imageupdateautomations.image.toolkit.fluxcd.io",
        ["iua", "imgupd", "imgauto"],
        "fluxcd-images",
    ),
    ("Provider", "providers.notification.toolkit.fluxcd.io", None, "fluxcd-notifications"),
    ("Alert", "alerts.notification.toolkit.fluxcd.io", None, "fluxcd-notifications"),
    ("Receiver", "receivers.notification.toolkit.fluxcd.io", None, "fluxcd-notifications"),
]


@pytest.mark.parametrize(("kind", "name", "short", "category"), NAMES, ids=[n[0] for n in NAMES])
def test_names(kind: str, name: str, short: list[str] | None, category: str) -> None:
    crd = CRDS[kind]
    names = crd["spec"]["names"]
    assert crd["metadata"]["name"] == name
    assert names.get("shortNames") == short
    assert names["listKind"] == f"{kind}List"
    assert set(names["categories"]) == {"all", "fluxcd", "flux", category}
    assert crd["spec"]["scope"] == "Namespaced"


VERSIONS = [
    # the versions Flux 2.8 removed, served through the conversion webhook
    ("GitRepository", ["v1", "v1beta2"], True),
    ("Kustomization", ["v1", "v1beta2"], True),
    ("HelmRelease", ["v2", "v2beta2", "v2beta1"], True),
    ("ImageRepository", ["v1", "v1beta2"], True),
    ("ImagePolicy", ["v1", "v1beta2"], True),
    ("ImageUpdateAutomation", ["v1", "v1beta2"], True),
    # Flux serves v1beta3 Provider and Alert without status; afflux adds the common one
    ("Provider", ["v1beta3"], True),
    ("Alert", ["v1beta3"], True),
    ("Receiver", ["v1"], True),
]


@pytest.mark.parametrize(("kind", "served", "status"), VERSIONS, ids=[v[0] for v in VERSIONS])
def test_versions_and_status_subresource(kind: str, served: list[str], status: bool) -> None:
    versions = CRDS[kind]["spec"]["versions"]
    assert [v["name"] for v in versions] == served
    assert [v["storage"] for v in versions] == [True] + [False] * (len(served) - 1)
    assert all(v["served"] for v in versions)
    schemas = [v["schema"] for v in versions]
    if "conversion" not in CRDS[kind]["spec"]:
        assert all(s == schemas[0] for s in schemas), "all versions share one schema"
    for v in versions:
        assert ("subresources" in v) is status
        assert ("status" in v["schema"]["openAPIV3Schema"]["properties"]) is status


def _schema(kind: str) -> dict[str, Any]:
    return CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _node(kind: str, path: str) -> dict[str, Any]:
    node = _schema(kind)
    for part in path.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


CONSTRAINTS = [
    ("GitRepository", "spec.url", "pattern", "^(http|https|ssh)://.*$"),
    ("GitRepository", "spec.interval", "pattern", DURATION_PATTERN),
    ("GitRepository", "spec.timeout", "pattern", TIMEOUT_PATTERN),
    ("GitRepository", "spec.timeout", "default", "60s"),
    ("GitRepository", "spec.provider", "enum", ["generic", "aws", "azure", "github"]),
    ("GitRepository", "spec.verify.mode", "default", "HEAD"),
    ("OCIRepository", "spec.url", "pattern", "^oci://.*$"),
    ("OCIRepository", "spec.layerSelector.operation", "enum", ["extract", "copy"]),
    ("HelmRepository", "spec.url", "pattern", "^(http|https|oci)://.*$"),
    ("HelmRepository", "spec.type", "enum", ["default", "oci"]),
    ("HelmChart", "spec.version", "default", "*"),
    ("HelmChart", "spec.sourceRef.kind", "enum", ["HelmRepository", "GitRepository", "Bucket"]),
    ("Bucket", "spec.provider", "default", "generic"),
    (
        "Kustomization",
        "spec.deletionPolicy",
        "enum",
        ["MirrorPrune", "Delete", "WaitForTermination", "Orphan"],
    ),
    ("Kustomization", "spec.targetNamespace", "maxLength", 63),
    ("Kustomization", "spec.retryInterval", "pattern", DURATION_PATTERN),
    ("HelmRelease", "spec.releaseName", "maxLength", 53),
    ("HelmRelease", "spec.values", "x-kubernetes-preserve-unknown-fields", True),
    ("HelmRelease", "spec.upgrade.remediation.strategy", "enum", ["rollback", "uninstall"]),
    ("HelmRelease", "spec.install.crds", "enum", ["Skip", "Create", "CreateReplace"]),
    ("ImageRepository", "spec.exclusionList", "default", ["^.*\\.sig$"]),
    ("ImageRepository", "spec.exclusionList", "maxItems", 25),
    ("ImagePolicy", "spec.digestReflectionPolicy", "enum", ["Always", "IfNotPresent", "Never"]),
    ("ImageUpdateAutomation", "spec.update", "default", {"strategy": "Setters"}),
    ("Alert", "spec.eventSeverity", "enum", ["info", "error"]),
    ("Receiver", "spec.interval", "default", "10m"),
]


@pytest.mark.parametrize(
    ("kind", "path", "key", "value"),
    CONSTRAINTS,
    ids=[f"{c[0]}.{c[1]}.{c[2]}" for c in CONSTRAINTS],
)
def test_validation_constraints(kind: str, path: str, key: str, value: Any) -> None:
    assert _node(kind, path)[key] == value


REQUIRED = [
    ("GitRepository", "spec", ["interval", "url"]),
    ("Kustomization", "spec", ["interval", "prune", "sourceRef"]),
    ("HelmRelease", "spec", ["interval"]),
    ("ImagePolicy", "spec", ["imageRepositoryRef", "policy"]),
    ("ImageUpdateAutomation", "spec.git.commit.author", ["email"]),
    ("Receiver", "spec", ["resources", "type"]),  # secretRef: by rule (not generic-oidc)
    (
        "GitRepository",
        "status.conditions.[]",
        ["lastTransitionTime", "message", "reason", "status", "type"],
    ),
    ("GitRepository", "status.artifact", ["lastUpdateTime", "path", "revision", "url"]),
    ("Kustomization", "status.inventory.entries.[]", ["id", "v"]),
]


@pytest.mark.parametrize(
    ("kind", "path", "required"), REQUIRED, ids=[f"{r[0]}.{r[1]}" for r in REQUIRED]
)
def test_required_fields(kind: str, path: str, required: list[str]) -> None:
    assert _node(kind, path)["required"] == required


RULES = [
    ("HelmRelease", "spec", "spec.chart or spec.chartRef"),
    (
        "ImagePolicy",
        "spec.policy",
        "spec.policy.semver, spec.policy.alphabetical or spec.policy.numerical",
    ),
    ("ImagePolicy", "spec", "spec.interval"),
    ("GitRepository", "spec", "spec.serviceAccountName"),
    ("Bucket", "spec", "spec.secretRef and spec.serviceAccountName"),
    ("Provider", "spec", "spec.commitStatusExpr"),
]


@pytest.mark.parametrize(("kind", "path", "named"), RULES, ids=[f"{r[0]}.{r[1]}" for r in RULES])
def test_cel_rules_name_their_fields(kind: str, path: str, named: str) -> None:
    rules = _node(kind, path)["x-kubernetes-validations"]
    assert any(named in r["message"] for r in rules)
    assert all(r["rule"] and r["message"] for r in rules)


def test_status_defaults_observed_generation() -> None:
    for kind, crd in CRDS.items():
        props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        if "status" in props:
            assert props["status"]["default"] == {"observedGeneration": -1}, kind


COLUMNS = [
    ("GitRepository", ["URL", "Age", "Ready", "Status"]),
    ("OCIRepository", ["URL", "Ready", "Status", "Age"]),
    ("HelmRepository", ["URL", "Age", "Ready", "Status"]),
    ("HelmChart", ["Chart", "Version", "Source Kind", "Source Name", "Age", "Ready", "Status"]),
    ("Bucket", ["Endpoint", "Age", "Ready", "Status"]),
    ("Kustomization", ["Age", "Ready", "Status"]),
    ("HelmRelease", ["Age", "Ready", "Status"]),
    ("ImageRepository", ["Image", "Tags", "Ready", "Status", "Age"]),
    ("ImagePolicy", ["Image", "Tag", "Ready", "Status", "Age"]),
    ("ImageUpdateAutomation", ["Ready", "Status", "Age"]),
    ("Provider", ["Age", "Ready", "Status"]),
    ("Alert", ["Age", "Ready", "Status"]),
    ("Receiver", ["Age", "Ready", "Status"]),
]


@pytest.mark.parametrize(("kind", "names"), COLUMNS, ids=[c[0] for c in COLUMNS])
def test_default_printer_columns_match_flux(kind: str, names: list[str]) -> None:
    columns = CRDS[kind]["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns if not c.get("priority")] == names
    ready = [c for c in columns if c["name"] == "Ready"]
    if ready:
        assert ready[0]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
