"""Install manifests: component selection, namespace moves, order, and the plain reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from afflux.cli._errors import CLIError
from afflux.cli._manifests import (
    build_install_docs,
    find_config_dir,
    install_order,
    retarget_namespace,
    select_components,
)


def _doc(kind: str, name: str, component: str | None = None,
         namespace: str | None = "flux-system") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if component:
        meta["labels"] = {"app.kubernetes.io/component": component}
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


DOCS = [
    _doc("Deployment", "source-controller", "source-controller"),
    _doc("Namespace", "flux-system", namespace=None),
    _doc("CustomResourceDefinition", "helmreleases.helm.toolkit.fluxcd.io", "helm-controller",
         None),
    _doc("Deployment", "helm-controller", "helm-controller"),
    {**_doc("ClusterRoleBinding", "afflux-source-controller", "source-controller", None),
     "subjects": [{"kind": "ServiceAccount", "name": "source-controller",
                   "namespace": "flux-system"}]},
    _doc("ServiceAccount", "source-controller", "source-controller"),
]


def test_select_components() -> None:
    names = [d["metadata"]["name"] for d in select_components(DOCS, ["source-controller"])]
    assert names == ["source-controller", "flux-system", "afflux-source-controller",
                     "source-controller"]


def test_retarget_namespace() -> None:
    moved = retarget_namespace(DOCS, "gitops")
    assert moved[0]["metadata"]["namespace"] == "gitops"
    assert moved[1]["metadata"] == {"name": "gitops"}
    assert moved[4]["subjects"][0]["namespace"] == "gitops"
    assert "namespace" not in moved[2]["metadata"]
    assert DOCS[0]["metadata"]["namespace"] == "flux-system"  # the input is left alone


def test_install_order() -> None:
    kinds = [d["kind"] for d in install_order(DOCS)]
    assert kinds == ["Namespace", "CustomResourceDefinition", "ServiceAccount",
                     "ClusterRoleBinding", "Deployment", "Deployment"]


def test_plain_reader_follows_resources_and_namespace(tmp_path: Path) -> None:
    (tmp_path / "default").mkdir()
    (tmp_path / "manager").mkdir()
    (tmp_path / "default" / "kustomization.yaml").write_text(
        "namespace: flux-system\nresources:\n  - ns.yaml\n  - ../manager\n")
    (tmp_path / "default" / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n")
    (tmp_path / "manager" / "kustomization.yaml").write_text("resources:\n  - m.yaml\n")
    (tmp_path / "manager" / "m.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sc\n---\n"
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n"
        "  name: b\nsubjects:\n- kind: ServiceAccount\n  name: sc\n")
    docs = build_install_docs(find_config_dir(tmp_path), use_kustomize=False)
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("Namespace", None), ("ServiceAccount", "flux-system"), ("ClusterRoleBinding", None)]
    assert docs[2]["subjects"][0]["namespace"] == "flux-system"


def test_find_config_dir_explains_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(CLIError, match="config/default") as err:
        find_config_dir(tmp_path)
    assert "--manifests" in err.value.hint


def test_the_repository_config_reads_without_kustomize() -> None:
    docs = build_install_docs(find_config_dir(), use_kustomize=False)
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "CustomResourceDefinition", "Deployment", "ClusterRole"} <= kinds
    deployments = [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"]
    assert len(deployments) == 6
    assert all(d["metadata"].get("namespace") == "flux-system" for d in docs
               if d["kind"] in ("Deployment", "ServiceAccount", "Service"))
