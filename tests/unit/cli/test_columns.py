"""The `get` tables: columns per kind as flux shows them, NAMESPACE with -A, kind/name in
`get all`."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.api import KINDS
from afflux.cli._columns import columns_for, headers, sort_objects, table_rows
from afflux.cli._format import render_table

from .objects import cond, obj

REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("GitRepository", ["Name", "Revision", "Suspended", "Ready", "Message"]),
        ("OCIRepository", ["Name", "Revision", "Suspended", "Ready", "Message"]),
        ("HelmRepository", ["Name", "Revision", "Suspended", "Ready", "Message"]),
        ("HelmChart", ["Name", "Revision", "Suspended", "Ready", "Message"]),
        ("Bucket", ["Name", "Revision", "Suspended", "Ready", "Message"]),
        ("Kustomization", ["Name", "Revision", "Suspended", "Ready", "Message"]),
        ("HelmRelease", ["Name", "Revision", "Suspended", "Ready", "Message"]),
        ("ImageRepository", ["Name", "Last scan", "Suspended", "Ready", "Message"]),
        ("ImagePolicy", ["Name", "Image", "Tag", "Ready", "Message"]),
        ("ImageUpdateAutomation", ["Name", "Last run", "Suspended", "Ready", "Message"]),
        ("Alert", ["Name", "Suspended", "Ready", "Message"]),
        ("Provider", ["Name", "Ready", "Message"]),
        ("Receiver", ["Name", "Suspended", "Ready", "Message"]),
        ("ExternalArtifact", ["Name", "Revision", "Source", "Ready", "Message"]),
        ("ArtifactGenerator", ["Name", "Suspended", "Ready", "Message"]),
    ],
)
def test_headers_per_kind(kind: str, expected: list[str]) -> None:
    assert headers(kind, all_namespaces=False) == expected
    assert headers(kind, all_namespaces=True) == ["Namespace", *expected]


def test_every_kind_has_columns() -> None:
    for kind in KINDS:
        assert columns_for(kind.KIND).headers


@pytest.mark.parametrize(
    ("body", "row"),
    [
        pytest.param(
            obj("GitRepository", spec={"suspend": False},
                status={"artifact": {"revision": REV},
                        "conditions": [cond("Ready", "True", f"stored artifact for '{REV}'")]}),
            ["podinfo", "main@sha1:01234567", "False", "True",
             "stored artifact for 'main@sha1:01234567'"], id="git-ready"),
        pytest.param(
            obj("Kustomization", spec={"suspend": True}),
            ["podinfo", "", "True", "False", "waiting to be reconciled"], id="ks-suspended-new"),
        pytest.param(
            obj("ImageRepository", status={"lastScanResult": {"tagCount": 3,
                                                              "scanTime": "2024-05-01T11:00:00Z"},
                                           "conditions": [cond("Ready", "True", "3 tags")]}),
            ["podinfo", "2024-05-01T11:00:00Z", "False", "True", "3 tags"], id="image-repo"),
        pytest.param(
            obj("ImagePolicy", status={"latestRef": {"name": "ghcr.io/a", "tag": "1.0.1"},
                                       "conditions": [cond("Ready", "True", "picked")]}),
            ["podinfo", "ghcr.io/a", "1.0.1", "True", "picked"], id="image-policy"),
        pytest.param(
            obj("ImageUpdateAutomation",
                status={"lastAutomationRunTime": "2024-05-01T11:00:00Z",
                        "conditions": [cond("Ready", "True", "pushed")]}),
            ["podinfo", "2024-05-01T11:00:00Z", "False", "True", "pushed"], id="image-update"),
        pytest.param(obj("Alert", spec={"suspend": True}),
                     ["podinfo", "True", "True", "Alert is Ready"], id="alert"),
        pytest.param(obj("Provider"), ["podinfo", "True", "Provider is Ready"], id="provider"),
        pytest.param(obj("Receiver", status={"conditions": [cond("Ready", "False", "no secret")]}),
                     ["podinfo", "False", "False", "no secret"], id="receiver"),
    ],
)
def test_rows(body: dict[str, Any], row: list[str]) -> None:
    assert table_rows([body]) == [row]


def test_rows_with_namespace_and_kind() -> None:
    body = obj("HelmRelease", "web", "apps")
    assert table_rows([body], all_namespaces=True, include_kind=True)[0][:2] == [
        "apps", "helmrelease/web"]


def test_sort_objects_by_namespace_then_name() -> None:
    objs = [obj("Bucket", "b", "y"), obj("Bucket", "a", "y"), obj("Bucket", "z", "x")]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in sort_objects(objs)] == [
        ("x", "z"), ("y", "a"), ("y", "b")]


def test_a_whole_table_as_flux_prints_it() -> None:
    objs = [
        obj("Kustomization", "apps", status={
            "lastAppliedRevision": REV,
            "conditions": [cond("Ready", "True", f"Applied revision: {REV}")]}),
        obj("Kustomization", "infra", spec={"suspend": True}),
    ]
    text = render_table(headers("Kustomization", False), table_rows(objs))
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert lines[1].split("\t")[0].rstrip() == "apps"
    assert lines[2].split() == ["infra", "True", "False", "waiting", "to", "be", "reconciled"]


@pytest.mark.parametrize(("text", "short"), [
    ("main@sha1:95919c72a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5", "main@sha1:95919c72"),
    ("6.0.1@sha256:" + "ab" * 32, "6.0.1@sha256:abababab"),
    ("sha1:95919c72 is short already", "sha1:95919c72 is short already"),
    ("Applied revision: main@sha1:" + "0" * 40, "Applied revision: main@sha1:00000000"),
    ("", ""),
])
def test_truncate_hex_as_flux(text: str, short: str) -> None:
    from afflux.cli._columns import truncate_hex

    assert truncate_hex(text) == short


def test_chart_and_release_revisions_are_versions_not_shortened() -> None:
    chart = obj("HelmChart", status={"artifact": {"revision": "6.0.1+" + "a" * 40}})
    assert table_rows([chart])[0][1] == "6.0.1+" + "a" * 40


def test_show_source() -> None:
    ks = obj("Kustomization", spec={"sourceRef": {"kind": "GitRepository", "name": "repo"}})
    hr = obj("HelmRelease", spec={"chart": {"spec": {"sourceRef": {
        "kind": "HelmRepository", "name": "charts", "namespace": "flux-system"}}}})
    ref = obj("HelmRelease", spec={"chartRef": {"kind": "OCIRepository", "name": "oci"}})
    assert headers("Kustomization", False, show_source=True) == [
        "Name", "Source", "Revision", "Suspended", "Ready", "Message"]
    rows = table_rows([ks, hr, ref], show_source=True)
    ns = ks["metadata"]["namespace"]
    assert [r[1] for r in rows] == [f"GitRepository/{ns}/repo",
                                    "HelmRepository/flux-system/charts",
                                    f"OCIRepository/{ns}/oci"]


def test_external_artifact_and_artifact_generator_rows() -> None:
    ea = obj("ExternalArtifact", name="app", spec={"sourceRef": {
        "apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
        "name": "gen", "namespace": "flux-system"}},
        status={"artifact": {"revision": REV},
                "conditions": [cond("Ready", "True", f"stored {REV}")]})
    assert table_rows([ea]) == [["app", "main@sha1:01234567",
                                 "ArtifactGenerator/flux-system/gen", "True",
                                 "stored main@sha1:01234567"]]
    gen = obj("ArtifactGenerator", name="gen",
              annotations={"source.extensions.fluxcd.io/reconcile": "Disabled"},
              status={"conditions": [cond("Ready", "True", "generated 1 artifact")]})
    assert table_rows([gen]) == [["gen", "True", "True", "generated 1 artifact"]]
    gen["metadata"]["annotations"] = {}
    assert table_rows([gen])[0][1] == "False"


def test_suspend_patches() -> None:
    from afflux.cli._suspend import suspend_patch

    key = "source.extensions.fluxcd.io/reconcile"
    assert suspend_patch("ArtifactGenerator", True) == {
        "metadata": {"annotations": {key: "Disabled"}}}
    assert suspend_patch("ArtifactGenerator", False, "t1") == {
        "metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "t1", key: None}}}
    assert suspend_patch("Kustomization", True) == {"spec": {"suspend": True}}
