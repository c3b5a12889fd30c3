"""Every object of afflux's install carries the labels the flux CLI looks for (part-of flux,
instance, version) and afflux's own distribution label; the version label is afflux's."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from afflux.api._distribution import (
    DISTRIBUTION,
    DISTRIBUTION_LABEL,
    INSTANCE_LABEL,
    PART_OF_LABEL,
    VERSION,
    VERSION_LABEL,
    distribution_labels,
    distribution_of,
)
from afflux.api.crdgen import build_crds
from afflux.cli._manifests import build_install_docs, retarget_namespace

REPO = Path(__file__).resolve().parents[3]
INSTALL = build_install_docs(REPO / "config", use_kustomize=False)


def _id(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def test_version_is_the_package_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert VERSION == f"v{project['version']}"


@pytest.mark.parametrize("doc", INSTALL, ids=_id)
def test_install_object_is_labelled_for_the_flux_cli(doc: dict[str, Any]) -> None:
    labels = doc["metadata"].get("labels") or {}
    assert labels.get(PART_OF_LABEL) == "flux"
    assert labels.get(INSTANCE_LABEL) == "flux-system"
    assert labels.get(VERSION_LABEL) == VERSION
    assert labels.get(DISTRIBUTION_LABEL) == DISTRIBUTION


@pytest.mark.parametrize("crd", build_crds(), ids=lambda c: c["metadata"]["name"])
def test_generated_crd_is_labelled_for_the_flux_cli(crd: dict[str, Any]) -> None:
    labels = crd["metadata"]["labels"]
    assert {k: labels[k] for k in distribution_labels()} == distribution_labels()


def test_retarget_moves_the_instance_label() -> None:
    moved = retarget_namespace(INSTALL, "gitops")
    for doc in moved:
        assert doc["metadata"]["labels"][INSTANCE_LABEL] == "gitops", _id(doc)
        template = (doc.get("spec") or {}).get("template")
        if template:
            assert template["metadata"]["labels"][INSTANCE_LABEL] == "gitops", _id(doc)


@pytest.mark.parametrize(("labels", "expected"), [
    pytest.param(distribution_labels("kustomize-controller"), ("afflux", VERSION), id="afflux"),
    pytest.param({PART_OF_LABEL: "flux", VERSION_LABEL: "v2.9.5"}, ("flux", "v2.9.5"),
                 id="flux"),
    pytest.param({PART_OF_LABEL: "afflux"}, None, id="old-afflux-labels"),
    pytest.param({}, None, id="unlabelled"),
])
def test_distribution_of(labels: dict[str, str], expected: tuple[str, str] | None) -> None:
    assert distribution_of({"metadata": {"labels": labels}}) == expected
    assert distribution_of(None) is None
