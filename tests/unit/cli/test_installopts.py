"""The options `install` and `bootstrap git` share with Flux: each flag's effect on the
install objects, `--version`, `--registry-creds` and the checks of an existing install."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from afflux.cli._errors import CLIError
from afflux.cli._installopts import (
    InstallOptions,
    bootstrapped,
    check_version,
    customize,
    other_manager,
    pull_secret,
    split_registry_creds,
)

ALL = ("source-controller", "kustomize-controller", "notification-controller")


def _deployment(component: str, args: list[str], container: str = "manager") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": component, "namespace": "gitops",
                         "labels": {"app.kubernetes.io/component": component}},
            "spec": {"template": {"spec": {"containers": [{"name": container,
                                                           "args": list(args)}]}}}}


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "gitops", "labels": {
                 "app.kubernetes.io/part-of": "flux", "app.kubernetes.io/version": "v0.1.0",
                 "app.kubernetes.io/instance": "gitops",
                 "pod-security.kubernetes.io/warn": "restricted"}}}
DOCS = [
    NAMESPACE,
    _deployment("source-controller", [
        "--watch-all-namespaces", "--metrics-addr=:8080",
        "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."]),
    _deployment("kustomize-controller", ["--watch-all-namespaces", "--log-level=info"]),
    _deployment("notification-controller", ["--watch-all-namespaces", "--events-addr=:9090"]),
    _deployment("afflux-ui", ["--listen=:8080"], container="ui"),
]


def _args(docs: list[dict[str, Any]], name: str) -> list[str]:
    dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    return dep["spec"]["template"]["spec"]["containers"][0]["args"]


def _pod(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    dep = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name)
    return dep["spec"]["template"]["spec"]


@pytest.mark.parametrize(("opts", "name", "want"), [
    pytest.param(InstallOptions(components=ALL), "kustomize-controller", [
        "--watch-all-namespaces=true", "--log-level=info",
        "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc."
        "cluster.local./"], id="defaults-kustomize"),
    pytest.param(InstallOptions(components=ALL, watch_all_namespaces=False, log_level="debug"),
                 "notification-controller", [
                     "--watch-all-namespaces=false", "--events-addr=:9090",
                     "--log-level=debug"], id="notification-keeps-its-listen-address"),
    pytest.param(InstallOptions(components=ALL, cluster_domain="corp.example"),
                 "source-controller", [
                     "--watch-all-namespaces=true", "--metrics-addr=:8080",
                     "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc."
                     "corp.example.", "--log-level=info",
                     "--events-addr=http://notification-controller.$(RUNTIME_NAMESPACE).svc."
                     "corp.example./"], id="cluster-domain-in-adverts"),
    pytest.param(InstallOptions(components=("source-controller", "kustomize-controller"),
                                log_level="error"),
                 "kustomize-controller", ["--watch-all-namespaces=true", "--log-level=error"],
                 id="no-events-addr-without-notification-controller"),
    pytest.param(InstallOptions(components=ALL, log_level="debug"), "afflux-ui",
                 ["--listen=:8080"], id="ui-untouched"),
])
def test_operator_args(opts: InstallOptions, name: str, want: list[str]) -> None:
    assert _args(customize(DOCS, "gitops", opts), name) == want


@pytest.mark.parametrize(("opts", "want"), [
    pytest.param(InstallOptions(), {}, id="nothing"),
    pytest.param(InstallOptions(toleration_keys=("dedicated", "gpu")),
                 {"tolerations": [{"key": "dedicated", "operator": "Exists"},
                                  {"key": "gpu", "operator": "Exists"}]}, id="tolerations"),
    pytest.param(InstallOptions(image_pull_secret="regcred"),
                 {"imagePullSecrets": [{"name": "regcred"}]}, id="image-pull-secret"),
])
def test_pod_spec_of_every_deployment(opts: InstallOptions, want: dict[str, Any]) -> None:
    docs = customize(DOCS, "gitops", opts)
    for name in ("source-controller", "afflux-ui"):
        pod = _pod(docs, name)
        assert {k: pod[k] for k in ("tolerations", "imagePullSecrets") if k in pod} == want


def test_network_policies_are_flux_three_with_the_install_labels() -> None:
    docs = customize(DOCS, "gitops", InstallOptions())
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    assert set(policies) == {"allow-egress", "allow-scraping", "allow-webhooks"}
    assert all(p["metadata"]["namespace"] == "gitops" for p in policies.values())
    assert policies["allow-egress"]["metadata"]["labels"] == {
        "app.kubernetes.io/part-of": "flux", "app.kubernetes.io/version": "v0.1.0",
        "app.kubernetes.io/instance": "gitops"}
    assert policies["allow-egress"]["spec"]["egress"] == [{}]
    assert policies["allow-scraping"]["spec"]["ingress"][0]["ports"] == [
        {"port": 8080, "protocol": "TCP"}]
    assert policies["allow-webhooks"]["spec"]["podSelector"] == {
        "matchLabels": {"app": "notification-controller"}}
    none = customize(DOCS, "gitops", InstallOptions(network_policy=False))
    assert not [d for d in none if d["kind"] == "NetworkPolicy"]


def test_customize_leaves_its_input_alone() -> None:
    before = json.dumps(DOCS, sort_keys=True)
    customize(DOCS, "gitops", InstallOptions(toleration_keys=("x",), image_pull_secret="s"))
    assert json.dumps(DOCS, sort_keys=True) == before


@pytest.mark.parametrize(("given", "want"), [
    pytest.param("", "v0.1.0", id="empty"),
    pytest.param("latest", "v0.1.0", id="latest"),
    pytest.param("v0.1.0", "v0.1.0", id="own"),
])
def test_version_accepted(given: str, want: str) -> None:
    assert check_version(given, "0.1.0") == want


@pytest.mark.parametrize(("given", "error"), [
    pytest.param("0.1.0", "targeted version '0.1.0' must be prefixed with 'v'", id="no-v"),
    pytest.param("v2.9.0", "targeted version 'v2.9.0' is not available: this afflux CLI "
                 "installs its own operators, afflux v0.1.0", id="another"),
])
def test_version_refused(given: str, error: str) -> None:
    with pytest.raises(CLIError) as err:
        check_version(given, "0.1.0")
    assert err.value.message == error and err.value.hint


@pytest.mark.parametrize(("creds", "secret", "error"), [
    pytest.param("u:p", "", "--registry-creds requires --image-pull-secret to be set",
                 id="no-secret-name"),
    pytest.param("user-only", "regcred", "invalid --registry-creds format, expected "
                 "'user:password'", id="no-colon"),
    pytest.param("a:b:c", "regcred", "invalid --registry-creds format, expected "
                 "'user:password'", id="two-colons"),
])
def test_registry_creds_refused(creds: str, secret: str, error: str) -> None:
    with pytest.raises(CLIError) as err:
        split_registry_creds(creds, secret)
    assert err.value.message == error


def test_pull_secret_is_a_docker_config_for_the_registry() -> None:
    user, password = split_registry_creds("robot:s3cr3t", "regcred")
    secret = pull_secret("regcred", "gitops", "registry.example/afflux", user, password)
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"] == {"name": "regcred", "namespace": "gitops"}
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert config == {"auths": {"registry.example/afflux": {
        "username": "robot", "password": "s3cr3t",
        "auth": base64.b64encode(b"robot:s3cr3t").decode()}}}


@pytest.mark.parametrize(("labels", "is_bootstrapped", "manager"), [
    pytest.param({}, False, None, id="plain"),
    pytest.param({"kustomize.toolkit.fluxcd.io/name": "flux-system"}, True, None,
                 id="bootstrapped"),
    pytest.param({"app.kubernetes.io/managed-by": "Helm"}, False, "Helm", id="helm"),
    pytest.param({"app.kubernetes.io/managed-by": "flux"}, False, None, id="flux"),
])
def test_existing_install(labels: dict[str, str], is_bootstrapped: bool,
                          manager: str | None) -> None:
    assert bootstrapped(labels) is is_bootstrapped
    assert other_manager(labels) == manager


@pytest.mark.parametrize("components", [("source-controller", "kustomize-controller"),
                                        ("source-controller", "kustomize-controller",
                                         "helm-controller", "image-reflector-controller",
                                         "image-automation-controller")],
                         ids=["source-kustomize", "all-but-notification"])
def test_default_options_leave_the_operators_args_as_config_has_them(components) -> None:
    """`install`/`bootstrap` with no option write the Deployments' args exactly as
    config/manager has them: the local launcher runs the operators with config's args
    before bootstrap and restarts any whose Deployment's args differ after it."""
    from pathlib import Path

    import yaml

    config = Path(__file__).resolve().parents[3] / "config" / "manager"
    docs = [d for f in sorted(config.glob("*-controller.yaml"))
            for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == "Deployment"]
    assert len(docs) == 6
    out = customize(docs, "flux-system", InstallOptions(components=components,
                                                        network_policy=False))
    for before, after in zip(docs, out, strict=True):
        assert (after["spec"]["template"]["spec"]["containers"][0]["args"]
                == before["spec"]["template"]["spec"]["containers"][0]["args"]), (
            before["metadata"]["name"])
