"""The object tree: inventory ids, Helm release records and drawing."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from afflux.api import ObjectRef
from afflux.cli._treefmt import (
    Node,
    decode_helm_release,
    helm_manifest_refs,
    helm_storage_secret,
    inventory_refs,
    render_tree,
    tree_to_dict,
)

from .objects import obj


def _node(kind: str, name: str, ns: str = "", group: str = "", *children: Node) -> Node:
    return Node(ObjectRef(ns, name, group, kind, "v1"), list(children))


def test_inventory_refs_in_order_skipping_bad_ids() -> None:
    ks = obj("Kustomization", status={"inventory": {"entries": [
        {"id": "_apps__Namespace", "v": "v1"},
        {"id": "apps_web_apps_Deployment", "v": "v1"},
        {"id": "not-an-id", "v": "v1"},
        {"id": "flux-system_infra_kustomize.toolkit.fluxcd.io_Kustomization", "v": "v1"},
    ]}})
    refs = inventory_refs(ks)
    assert [(r.kind, r.namespace, r.name, r.group) for r in refs] == [
        ("Namespace", "", "apps", ""),
        ("Deployment", "apps", "web", "apps"),
        ("Kustomization", "flux-system", "infra", "kustomize.toolkit.fluxcd.io"),
    ]
    assert inventory_refs(obj("Kustomization")) == []


def test_render_tree() -> None:
    root = _node(
        "Kustomization", "flux-system", "flux-system", "kustomize.toolkit.fluxcd.io",
        _node("Namespace", "apps"),
        _node("Kustomization", "apps", "flux-system", "kustomize.toolkit.fluxcd.io",
              _node("HelmRelease", "web", "apps", "helm.toolkit.fluxcd.io",
                    _node("Service", "web", "apps"),
                    _node("Deployment", "web", "apps", "apps")),
              _node("ConfigMap", "cfg", "apps")),
        _node("GitRepository", "flux-system", "flux-system", "source.toolkit.fluxcd.io"),
    )
    assert render_tree(root) == (
        "Kustomization/flux-system/flux-system\n"
        "├── Namespace/apps\n"
        "├── Kustomization/flux-system/apps\n"
        "│   ├── HelmRelease/apps/web\n"
        "│   │   ├── Service/apps/web\n"
        "│   │   └── Deployment/apps/web\n"
        "│   └── ConfigMap/apps/cfg\n"
        "└── GitRepository/flux-system/flux-system\n"
    )


def test_render_a_lone_root_and_notes() -> None:
    root = _node("Kustomization", "a", "ns", "kustomize.toolkit.fluxcd.io")
    assert render_tree(root) == "Kustomization/ns/a\n"
    root.children.append(Node(ObjectRef("ns", "gone", "kustomize.toolkit.fluxcd.io",
                                        "Kustomization"), note="not found"))
    assert render_tree(root).splitlines()[1] == "└── Kustomization/ns/gone (not found)"


def test_tree_to_dict() -> None:
    root = _node("Kustomization", "a", "ns", "kustomize.toolkit.fluxcd.io",
                 _node("Namespace", "apps"))
    root.children[0].note = "not found"  # not part of flux's shape
    assert tree_to_dict(root) == {  # cli-utils' ObjMetadata, marshalled by Go without tags
        "resource": {"Namespace": "ns", "Name": "a",
                     "GroupKind": {"Group": "kustomize.toolkit.fluxcd.io",
                                   "Kind": "Kustomization"}},
        "resources": [{"resource": {"Namespace": "", "Name": "apps",
                                    "GroupKind": {"Group": "", "Kind": "Namespace"}}}],
    }
    assert [n.ref.name for n in root.walk()] == ["a", "apps"]


def _storage_data(record: dict, compress: bool = True) -> str:
    raw = json.dumps(record).encode()
    helm = base64.b64encode(gzip.compress(raw) if compress else raw)
    return base64.b64encode(helm).decode()


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_decode_helm_release(compress: bool) -> None:
    record = {"name": "web", "version": 3, "manifest": "---\nkind: Service\n"}
    assert decode_helm_release(_storage_data(record, compress)) == record


def test_helm_manifest_refs() -> None:
    manifest = """---
# Source: podinfo/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: other
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: web-reader
---
"""
    refs = helm_manifest_refs(manifest, "apps", lambda api_version, kind: kind != "ClusterRole")
    assert [(r.kind, r.namespace, r.name, r.group, r.version) for r in refs] == [
        ("Service", "apps", "web", "", "v1"),
        ("Deployment", "other", "web", "apps", "v1"),
        ("ClusterRole", "", "web-reader", "rbac.authorization.k8s.io", "v1"),
    ]


def test_helm_storage_secret_of_the_latest_history_entry() -> None:
    hr = obj("HelmRelease", status={"storageNamespace": "apps", "history": [
        {"name": "web", "namespace": "apps", "version": 4},
        {"name": "web", "namespace": "apps", "version": 3}]})
    assert helm_storage_secret(hr) == ("apps", "sh.helm.release.v1.web.v4")
    assert helm_storage_secret(obj("HelmRelease")) is None
    remote = obj("HelmRelease", spec={"kubeConfig": {"secretRef": {"name": "k"}}},
                 status=hr["status"])
    assert helm_storage_secret(remote) is None
