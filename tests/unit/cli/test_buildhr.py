"""The objects of `create helmrelease`, `source chart`, `alert-provider`, `alert`, `receiver`,
`tenant` and `secret helm|oci|tls|proxy|notation|githubapp`: the fields flux's CLI sets for
the same flags, and a message naming the flag for bad ones."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from afflux.api import validate_object
from afflux.cli import _buildhr as hr
from afflux.cli import _buildsecrets as sec
from afflux.cli._build import BuildError


@pytest.mark.parametrize(
    ("kwargs", "spec"),
    [
        pytest.param(
            {"source": "HelmRepository/podinfo", "chart": "podinfo"},
            {"chart": {"spec": {"chart": "podinfo", "reconcileStrategy": "ChartVersion",
                                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
             "interval": "1m0s"}, id="minimal"),
        pytest.param(
            {"source": "helmrepository/podinfo.flux-system", "chart": "podinfo",
             "chart_version": ">4.0.0", "chart_interval": "5m", "interval": "10m"},
            {"chart": {"spec": {"chart": "podinfo", "interval": "5m0s",
                                "reconcileStrategy": "ChartVersion",
                                "sourceRef": {"kind": "HelmRepository", "name": "podinfo",
                                              "namespace": "flux-system"},
                                "version": ">4.0.0"}},
             "interval": "10m0s"}, id="source-namespace-and-version"),
        pytest.param(
            {"chart_ref": "OCIRepository/podinfo.flux-system"},
            {"chartRef": {"kind": "OCIRepository", "name": "podinfo",
                          "namespace": "flux-system"}, "interval": "1m0s"}, id="chart-ref"),
        pytest.param(
            {"chart_ref": "HelmChart/podinfo", "target_namespace": "test",
             "create_target_namespace": True, "release_name": "pi", "depends_on": ["a,ns/b"],
             "service_account": "sa", "crds": "CreateReplace"},
            {"chartRef": {"kind": "HelmChart", "name": "podinfo"},
             "dependsOn": [{"name": "a"}, {"name": "b", "namespace": "ns"}],
             "install": {"createNamespace": True, "crds": "Create"}, "interval": "1m0s",
             "releaseName": "pi", "serviceAccountName": "sa", "storageNamespace": "test",
             "targetNamespace": "test", "upgrade": {"crds": "CreateReplace"}},
            id="target-namespace-is-the-storage-namespace"),
        pytest.param(
            {"chart_ref": "HelmChart/c", "target_namespace": "t", "storage_namespace": "s",
             "values": {"a": 1}, "values_from": ["secret/v1", "ConfigMap/v2"]},
            {"chartRef": {"kind": "HelmChart", "name": "c"}, "interval": "1m0s",
             "storageNamespace": "s", "targetNamespace": "t", "values": {"a": 1},
             "valuesFrom": [{"kind": "Secret", "name": "v1"},
                            {"kind": "ConfigMap", "name": "v2"}]}, id="values"),
    ],
)
def test_helm_release(kwargs: dict[str, Any], spec: dict[str, Any]) -> None:
    doc = hr.helm_release("podinfo", "apps", **kwargs)
    assert doc["apiVersion"] == "helm.toolkit.fluxcd.io/v2" and doc["kind"] == "HelmRelease"
    assert doc["metadata"] == {"name": "podinfo", "namespace": "apps"}
    assert doc["spec"] == spec
    assert validate_object(doc) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "--chart or --chart-ref is required"),
        ({"chart": "c", "chart_ref": "HelmChart/c"}, "--chart cannot be combined"),
        ({"chart": "c"}, "--chart needs --source"),
        ({"chart": "c", "source": "OCIRepository/x"}, "--source 'OCIRepository/x': the kind"),
        ({"chart": "c", "source": "podinfo"}, "expected <kind>/<name>"),
        ({"chart_ref": "GitRepository/x"}, "--chart-ref 'GitRepository/x': the kind"),
        ({"chart_ref": "HelmChart/x", "values_from": ["Deployment/x"]}, "--values-from"),
        ({"chart_ref": "HelmChart/x", "crds": "Always"}, "--crds 'Always'"),
        ({"chart_ref": "HelmChart/x", "reconcile_strategy": "x"}, "--reconcile-strategy"),
    ],
)
def test_helm_release_refuses(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message.replace("(", r"\(")):
        hr.helm_release("x", "apps", **kwargs)


def test_merge_values_is_deep_and_the_last_file_wins() -> None:
    merged = hr.merge_values({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2], "e": 3}})
    assert merged == {"a": {"b": 1, "c": [2], "e": 3}, "d": 1}


@pytest.mark.parametrize(("text", "parts"), [
    ("HelmRepository/podinfo", ("HelmRepository", "podinfo", "")),
    ("HelmRepository/podinfo.flux-system", ("HelmRepository", "podinfo", "flux-system")),
    ("Kustomization/a.b.c", ("Kustomization", "a.b", "c")),
    ("podinfo", ("", "podinfo", "")),
])
def test_parse_kind_name_namespace(text: str, parts: tuple[str, str, str]) -> None:
    assert hr.parse_kind_name_namespace(text) == parts


def test_helm_chart_with_verification() -> None:
    doc = hr.helm_chart("c", "flux-system", source="HelmRepository/podinfo", chart="podinfo",
                        chart_version="6.x", verify_provider="cosign",
                        verify_issuer="https://token.actions.githubusercontent.com")
    assert doc["spec"] == {
        "chart": "podinfo", "interval": "1m0s", "reconcileStrategy": "ChartVersion",
        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}, "version": "6.x",
        "verify": {"provider": "cosign", "matchOIDCIdentity": [
            {"issuer": "https://token.actions.githubusercontent.com", "subject": ""}]},
    }
    assert validate_object(doc) == []
    with pytest.raises(BuildError, match="--verify-secret-ref needs --verify-provider"):
        hr.verification(None, "keys", None, None)


def test_alert_provider_alert_receiver() -> None:
    provider = hr.alert_provider("slack", "ns", type_="slack", channel="general",
                                 secret_ref="hook")
    assert provider["apiVersion"] == "notification.toolkit.fluxcd.io/v1beta3"
    assert provider["spec"] == {"channel": "general", "secretRef": {"name": "hook"},
                                "type": "slack"}
    alert = hr.alert("a", "ns", provider_ref="slack", event_severity="error",
                     event_sources=["Kustomization/*,HelmRelease/web.apps"])
    assert alert["spec"] == {
        "eventSeverity": "error",
        "eventSources": [{"kind": "Kustomization", "name": "*"},
                         {"kind": "HelmRelease", "name": "web", "namespace": "apps"}],
        "providerRef": {"name": "slack"},
    }
    receiver = hr.receiver("r", "ns", type_="github", secret_ref="token",
                           resources=["GitRepository/app"], events=["ping,push"])
    assert receiver["apiVersion"] == "notification.toolkit.fluxcd.io/v1"
    assert receiver["spec"] == {"events": ["ping", "push"],
                                "resources": [{"kind": "GitRepository", "name": "app"}],
                                "secretRef": {"name": "token"}, "type": "github"}
    for doc in (provider, alert, receiver):
        assert validate_object(doc) == []
    with pytest.raises(BuildError, match="at least one --event-source"):
        hr.alert("a", "ns", provider_ref="p")
    with pytest.raises(BuildError, match="at least one --resource"):
        hr.receiver("r", "ns", type_="generic", secret_ref="t")
    with pytest.raises(BuildError, match="--type 'webhook'"):
        hr.receiver("r", "ns", type_="webhook", secret_ref="t", resources=["a/b"])


# --- secrets and tenants --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "type_", "data"),
    [
        ({"username": "u", "password": "p"}, "kubernetes.io/basic-auth",
         {"username": "u", "password": "p"}),
        ({"username": "u", "password": "p", "ca_crt": "CA"}, "kubernetes.io/basic-auth",
         {"username": "u", "password": "p", "ca.crt": "CA"}),
        ({"tls_crt": "C", "tls_key": "K", "username": "u", "password": "p"},
         "kubernetes.io/tls", {"tls.crt": "C", "tls.key": "K"}),  # the client cert wins
        ({"ca_crt": "CA"}, "Opaque", {"ca.crt": "CA"}),
        ({}, None, {}),
    ],
)
def test_helm_secret(kwargs: dict[str, str], type_: str | None, data: dict[str, str]) -> None:
    doc = sec.helm_secret("creds", "ns", **kwargs)
    assert doc.get("type") == type_ and doc["stringData"] == data
    assert doc["metadata"] == {"name": "creds", "namespace": "ns"}


def test_tls_secret_needs_both_halves_of_a_pair() -> None:
    with pytest.raises(BuildError, match="go together"):
        sec.tls_secret("t", "ns", tls_crt="C")
    assert sec.tls_secret("t", "ns", tls_crt="C", tls_key="K", ca_crt="CA")["stringData"] == {
        "ca.crt": "CA", "tls.crt": "C", "tls.key": "K"}


def test_oci_secret_is_a_docker_config() -> None:
    doc = sec.oci_secret("reg", "ns", url="ghcr.io/org/charts", username="u", password="p")
    assert doc["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(doc["stringData"][".dockerconfigjson"])
    assert config == {"auths": {"ghcr.io/org/charts": {
        "username": "u", "password": "p", "auth": base64.b64encode(b"u:p").decode()}}}
    with pytest.raises(BuildError, match="without a scheme"):
        sec.oci_secret("reg", "ns", url="oci://ghcr.io/x", username="u", password="p")


def test_proxy_and_github_app_secrets() -> None:
    assert sec.proxy_secret("p", "ns", address="http://proxy:3128", username="u") == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "p", "namespace": "ns"},
        "type": "Opaque", "stringData": {"address": "http://proxy:3128", "username": "u"}}
    app = sec.github_app_secret("gh", "ns", app_id="1", private_key="KEY",
                                installation_owner="org", base_url="https://ghe/api/v3")
    assert app["type"] == "Opaque" and app["stringData"] == {
        "githubAppBaseURL": "https://ghe/api/v3", "githubAppID": "1",
        "githubAppInstallationOwner": "org", "githubAppPrivateKey": "KEY"}
    with pytest.raises(BuildError, match="exactly one of"):
        sec.github_app_secret("gh", "ns", app_id="1", private_key="K", installation_id="2",
                              installation_owner="org")


def test_notation_secret() -> None:
    policy = json.dumps({"version": "1.0", "trustPolicies": []})
    doc = sec.notation_secret("n", "ns", trust_policy=policy, ca_certs={"root.crt": "CA"})
    assert doc["stringData"] == {"root.crt": "CA", "trustpolicy.json": policy}
    with pytest.raises(BuildError, match="must end with .crt or .pem"):
        sec.notation_secret("n", "ns", trust_policy=policy, ca_certs={"root.txt": "CA"})
    with pytest.raises(BuildError, match="trustPolicies"):
        sec.notation_secret("n", "ns", trust_policy="{}", ca_certs={"root.crt": "CA"})


def test_tenant() -> None:
    docs = sec.tenant("dev", ["a,b"], service_account="robot", labels={"team": "x"})
    assert [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs] == [
        ("Namespace", None, "a"), ("ServiceAccount", "a", "robot"),
        ("RoleBinding", "a", "dev-reconciler"),
        ("Namespace", None, "b"), ("ServiceAccount", "b", "robot"),
        ("RoleBinding", "b", "dev-reconciler")]
    assert all(d["metadata"]["labels"] == {"team": "x", "toolkit.fluxcd.io/tenant": "dev"}
               for d in docs)
    binding = docs[2]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": "cluster-admin"}
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "gotk:a:reconciler"},
        {"kind": "ServiceAccount", "name": "robot", "namespace": "a"}]
    assert [d["kind"] for d in sec.tenant("dev", ["a"], skip_namespace=True)] == [
        "ServiceAccount", "RoleBinding"]
