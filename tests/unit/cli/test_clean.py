"""Export cleaning: live objects become manifests without status or server-set metadata."""

from __future__ import annotations

from typing import Any

import pytest

from afflux.cli._clean import clean_for_export, export_order
from afflux.cli._format import dump_yaml

LIVE: dict[str, Any] = {
    "apiVersion": "source.toolkit.fluxcd.io/v1",
    "kind": "GitRepository",
    "metadata": {
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "reconcile.fluxcd.io/requestedAt": "2024-05-01T12:00:00Z",
            "afflux.toolkit.fluxcd.io/last-handled": "x",
            "kopf.zalando.org/last-handled-configuration": "{}",
            "team": "web",
        },
        "creationTimestamp": "2024-05-01T11:00:00Z",
        "finalizers": ["finalizers.fluxcd.io"],
        "generation": 3,
        "labels": {"b": "2", "a": "1"},
        "managedFields": [{"manager": "kubectl"}],
        "name": "podinfo",
        "namespace": "flux-system",
        "resourceVersion": "123",
        "uid": "abc",
    },
    "spec": {"url": "https://example.com/podinfo", "interval": "1m0s",
             "ref": {"branch": "main"}, "timeout": "60s"},
    "status": {"artifact": {"revision": "main@sha1:abc"}},
}


def test_clean_for_export() -> None:
    assert clean_for_export(LIVE) == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": "podinfo",
            "namespace": "flux-system",
            "labels": {"a": "1", "b": "2"},
            "annotations": {"team": "web"},
        },
        "spec": {"interval": "1m0s", "ref": {"branch": "main"}, "timeout": "1m0s",
                 "url": "https://example.com/podinfo"},
    }


def _exported_spec(api_version: str, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "a"}, "spec": spec}
    spec_out: dict[str, Any] = clean_for_export(body)["spec"]
    return spec_out


@pytest.mark.parametrize(
    ("api_version", "kind", "spec", "expected"),
    [
        pytest.param("kustomize.toolkit.fluxcd.io/v1", "Kustomization",
                     {"interval": "10m", "retryInterval": "90s", "timeout": "1.5m", "path": "./"},
                     {"interval": "10m0s", "retryInterval": "1m30s", "timeout": "1m30s",
                      "path": "./"}, id="kustomization"),
        pytest.param("helm.toolkit.fluxcd.io/v2", "HelmRelease",
                     {"interval": "1h", "install": {"timeout": "500ms"},
                      "chart": {"spec": {"chart": "podinfo", "interval": "5m"}},
                      "values": {"interval": "5m", "timeout": "1h"}},
                     {"interval": "1h0m0s", "install": {"timeout": "500ms"},
                      "chart": {"spec": {"chart": "podinfo", "interval": "5m0s"}},
                      "values": {"interval": "5m", "timeout": "1h"}},
                     id="helmrelease-values-untouched"),
        pytest.param("source.toolkit.fluxcd.io/v1", "GitRepository",
                     {"interval": "1m0s", "url": "https://h/r"},
                     {"interval": "1m0s", "url": "https://h/r"}, id="already-go"),
        pytest.param("source.toolkit.fluxcd.io/v1", "GitRepository",
                     {"interval": "soon", "url": "https://h/r"},
                     {"interval": "soon", "url": "https://h/r"}, id="not-a-duration-kept"),
        pytest.param("example.com/v1", "Widget", {"interval": "5m"}, {"interval": "5m"},
                     id="not-a-flux-kind"),
    ],
)
def test_export_writes_durations_as_go_prints_them(
        api_version: str, kind: str, spec: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _exported_spec(api_version, kind, spec) == expected


def test_clean_keeps_the_key_order_stable_in_yaml() -> None:
    text = dump_yaml([clean_for_export(LIVE)])
    assert text.splitlines()[:4] == ["---", "apiVersion: source.toolkit.fluxcd.io/v1",
                                     "kind: GitRepository", "metadata:"]
    assert text.index("interval:") < text.index("ref:") < text.index("url:")


@pytest.mark.parametrize(
    ("annotations", "kept"),
    [
        pytest.param({"reconcile.fluxcd.io/requestedAt": "x"}, None, id="only-dropped"),
        pytest.param({}, None, id="empty"),
        pytest.param({"kustomize.toolkit.fluxcd.io/prune": "disabled"},
                     {"kustomize.toolkit.fluxcd.io/prune": "disabled"}, id="behaviour-kept"),
    ],
)
def test_annotations(annotations: dict[str, str], kept: dict[str, str] | None) -> None:
    body = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "a",
                                                         "annotations": annotations}}
    assert clean_for_export(body)["metadata"].get("annotations") == kept


def test_other_content_is_kept_and_status_dropped() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "type": "Opaque", "data": {"b": "Mg==", "a": "MQ=="}, "status": {}}
    assert clean_for_export(secret) == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "data": {"a": "MQ==", "b": "Mg=="}, "type": "Opaque"}


def test_export_order() -> None:
    objs = [{"metadata": {"name": n, "namespace": ns}} for ns, n in
            (("b", "x"), ("a", "z"), ("a", "y"))]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in export_order(objs)] == [
        ("a", "y"), ("a", "z"), ("b", "x")]


def test_credentials_for_export_keeps_name_namespace_data_type() -> None:
    from afflux.cli._clean import credentials_for_export

    live = {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "auth", "namespace": "apps", "uid": "u", "labels": {"a": "b"},
                         "resourceVersion": "1", "managedFields": []},
            "data": {"username": "Z2l0", "password": "eA=="}, "type": "Opaque"}
    assert credentials_for_export(live) == {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "auth", "namespace": "apps"},
        "data": {"password": "eA==", "username": "Z2l0"}, "type": "Opaque"}
