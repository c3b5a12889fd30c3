"""The trace report: owners from labels, sources from refs, and the blocks' text."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.cli._tracefmt import (
    flux_owner,
    go_time,
    helmchart_ref,
    render_report,
    section_for,
    source_ref,
)

from .objects import cond, obj

REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"
KS_LABELS = {"kustomize.toolkit.fluxcd.io/name": "apps",
             "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}


@pytest.mark.parametrize(
    ("labels", "owner"),
    [
        pytest.param(KS_LABELS, ("Kustomization", "apps", "flux-system"), id="kustomization"),
        pytest.param({"helm.toolkit.fluxcd.io/name": "web",
                      "helm.toolkit.fluxcd.io/namespace": "apps"},
                     ("HelmRelease", "web", "apps"), id="helmrelease"),
        pytest.param({"kustomize.toolkit.fluxcd.io/name": "apps"}, None, id="half-labelled"),
        pytest.param({}, None, id="unmanaged"),
    ],
)
def test_flux_owner(labels: dict[str, str], owner: tuple[str, str, str] | None) -> None:
    assert flux_owner({"metadata": {"labels": labels}}) == owner


@pytest.mark.parametrize(
    ("body", "ref"),
    [
        pytest.param(obj("Kustomization", namespace="apps",
                         spec={"sourceRef": {"kind": "GitRepository", "name": "repo"}}),
                     ("GitRepository", "repo", "apps"), id="ks-same-namespace"),
        pytest.param(obj("Kustomization", spec={"sourceRef": {
            "kind": "OCIRepository", "name": "m", "namespace": "infra"}}),
                     ("OCIRepository", "m", "infra"), id="ks-other-namespace"),
        pytest.param(obj("HelmRelease", namespace="apps", spec={"chart": {"spec": {
            "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}),
                     ("HelmRepository", "charts", "apps"), id="hr-chart-template"),
        pytest.param(obj("HelmRelease", namespace="apps",
                         spec={"chartRef": {"kind": "OCIRepository", "name": "chart"}}),
                     ("OCIRepository", "chart", "apps"), id="hr-chart-ref"),
        pytest.param(obj("HelmRelease"), None, id="no-source"),
    ],
)
def test_source_ref(body: dict[str, Any], ref: tuple[str, str, str] | None) -> None:
    assert source_ref(body) == ref


def test_helmchart_ref() -> None:
    assert helmchart_ref(obj("HelmRelease", status={"helmChart": "flux-system/apps-web"})) == (
        "flux-system", "apps-web")
    assert helmchart_ref(obj("HelmRelease")) is None


def test_a_report_from_configmap_to_git() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "cfg", "namespace": "apps", "labels": KS_LABELS}}
    ks = obj("Kustomization", "apps", spec={"path": "./apps", "targetNamespace": "apps",
                                            "sourceRef": {"kind": "GitRepository",
                                                          "name": "flux-system"}},
             status={"lastAppliedRevision": REV, "lastAttemptedRevision": REV,
                     "conditions": [cond("Ready", "True", f"Applied revision: {REV}")]})
    git = obj("GitRepository", "flux-system",
              spec={"url": "ssh://git@h/r", "ref": {"branch": "main"}},
              status={"artifact": {"revision": REV},
                      "conditions": [cond("Ready", "False", "auth failed")]})
    text = render_report([section_for(cm, top=True), section_for(ks), section_for(git)])
    assert text == (
        "Object:          ConfigMap/cfg\n"
        "Namespace:       apps\n"
        "Status:          Managed by Flux\n"
        "---\n"
        "Kustomization:   apps\n"
        "Namespace:       flux-system\n"
        "Target:          apps\n"
        "Path:            ./apps\n"
        f"Revision:        {REV}\n"
        "Status:          Last reconciled at 2024-05-01 11:00:00 +0000 UTC\n"
        f"Message:         Applied revision: {REV}\n"
        "---\n"
        "GitRepository:   flux-system\n"
        "Namespace:       flux-system\n"
        "URL:             ssh://git@h/r\n"
        "Branch:          main\n"
        f"Revision:        {REV}\n"
        "Status:          Last reconciliation failed at 2024-05-01 11:00:00 +0000 UTC\n"
        "Message:         auth failed\n"
    )


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        pytest.param(obj("Kustomization", status={"lastAppliedRevision": "a",
                                                  "lastAttemptedRevision": "b"}),
                     [("Attempted", "b"), ("Status", "Unknown")], id="ks-attempted-differs"),
        pytest.param(obj("HelmRelease", spec={"suspend": True},
                         status={"history": [{"chartName": "podinfo", "chartVersion": "6.5.0"}],
                                 "conditions": [cond("Ready", "Unknown", "installing")]}),
                     [("Chart", "podinfo@6.5.0"), ("Revision", "6.5.0"),
                      ("Status", "Reconciliation in progress"), ("Suspended", "True"),
                      ("Message", "installing")], id="hr-in-progress"),
        pytest.param(obj("OCIRepository", spec={"url": "oci://r/m", "ref": {"tag": "v1"}},
                         status={"artifact": {"revision": "v1@sha256:ab", "metadata": {
                             "org.opencontainers.image.source": "https://github.com/o/r",
                             "org.opencontainers.image.revision": "main@sha1:cd"}}}),
                     [("URL", "oci://r/m"), ("Tag", "v1"), ("Revision", "v1@sha256:ab"),
                      ("Origin Source", "https://github.com/o/r"),
                      ("Origin Revision", "main@sha1:cd"), ("Status", "Unknown")],
                     id="oci-origin"),
    ],
)
def test_section_details(body: dict[str, Any], lines: list[tuple[str, str]]) -> None:
    section = section_for(body)
    assert section[:2] == [(body["kind"], "podinfo"), ("Namespace", "flux-system")]
    for line in lines:
        assert line in section


def test_helm_release_of_and_manages_release() -> None:
    from afflux.cli._tracefmt import helm_release_of, manages_release

    cm = {"kind": "ConfigMap", "metadata": {"name": "web", "annotations": {
        "meta.helm.sh/release-name": "prod-web", "meta.helm.sh/release-namespace": "prod"}}}
    assert helm_release_of(cm) == ("prod-web", "prod")
    assert helm_release_of({"kind": "ConfigMap", "metadata": {"name": "x"}}) is None
    hr = {"kind": "HelmRelease", "metadata": {"name": "web", "namespace": "apps"},
          "spec": {"targetNamespace": "prod"}}
    assert manages_release(hr, "prod-web", "prod")  # no history: the derived release name
    assert not manages_release(hr, "web", "apps")
    hr["status"] = {"history": [{"name": "other", "namespace": "prod"}]}
    assert manages_release(hr, "other", "prod") and not manages_release(hr, "prod-web", "prod")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("2024-05-01T11:00:00Z", "2024-05-01 11:00:00 +0000 UTC", id="utc"),
        pytest.param("2024-05-01T11:00:00.250Z", "2024-05-01 11:00:00.25 +0000 UTC",
                     id="fraction"),
        pytest.param("2024-05-01T13:00:00+02:00", "2024-05-01 13:00:00 +0200 +0200",
                     id="offset"),
        pytest.param("", "", id="empty"),
        pytest.param("yesterday", "yesterday", id="not-a-time"),
    ],
)
def test_times_are_printed_as_flux_prints_them(text: str, shown: str) -> None:
    assert go_time(text) == shown
