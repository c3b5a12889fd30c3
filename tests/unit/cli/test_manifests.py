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
    operator_image,
    retarget_namespace,
    select_components,
    set_operator_image,
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


# --- the operators' image -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("registry", "version", "expected"),
    [
        pytest.param("ghcr.io/afflux", "0.1.0", "ghcr.io/afflux/afflux:v0.1.0", id="default"),
        pytest.param("10.200.0.1:5000/afflux/", "v0.2.0", "10.200.0.1:5000/afflux/afflux:v0.2.0",
                     id="dev-registry-trailing-slash-v-prefix"),
    ],
)
def test_operator_image(registry: str, version: str, expected: str) -> None:
    assert operator_image(registry, version) == expected


def _dep(*images: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [
                {"name": f"c{i}", "image": img} for i, img in enumerate(images)]}}}}


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        pytest.param(["ghcr.io/afflux/afflux:latest"], ["r/afflux:v1"], id="released-image"),
        pytest.param(["ghcr.io/afflux/afflux@sha256:ab"], ["r/afflux:v1"], id="by-digest"),
        pytest.param(["ghcr.io/afflux/afflux:latest", "busybox:1"], ["r/afflux:v1", "busybox:1"],
                     id="sidecar-untouched"),
        pytest.param(["example.com/afflux-helper:1"], ["example.com/afflux-helper:1"],
                     id="other-name-untouched"),
    ],
)
def test_set_operator_image(images: list[str], expected: list[str]) -> None:
    doc = _dep(*images)
    (out,) = set_operator_image([doc], "r/afflux:v1")
    assert [c["image"] for c in out["spec"]["template"]["spec"]["containers"]] == expected
    assert doc == _dep(*images)  # the input is not changed


def test_set_operator_image_leaves_other_kinds() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"image": "ghcr.io/afflux/afflux:x"}}
    assert set_operator_image([cm], "r/afflux:v1") == [cm]
