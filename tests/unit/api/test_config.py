"""The kustomize bases in config/: they resolve, and the pieces fit together (ServiceAccounts,
roles, bindings, Deployments, Services), with each operator's command, flags and rights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.api import KINDS

from .conftest import REPO

CONFIG = REPO / "config"


def resolve(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization lists, following directory resources (no transformers)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    out: list[dict[str, Any]] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        assert path.exists(), f"{directory / 'kustomization.yaml'} lists missing {entry}"
        if path.is_dir():
            out += resolve(path)
        else:
            out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


DEFAULT = resolve(CONFIG / "default")


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in DEFAULT if o["kind"] == kind}


OPERATORS = [
    ("source-controller", "source"),
    ("kustomize-controller", "kustomize"),
    ("helm-controller", "helm"),
    ("image-reflector-controller", "image_reflector"),
    ("image-automation-controller", "image_automation"),
    ("notification-controller", "notification"),
]


def test_default_has_everything_once() -> None:
    keys = [(o["kind"], o["metadata"]["name"]) for o in DEFAULT]
    assert len(keys) == len(set(keys))
    counts = {kind: sum(1 for k, _ in keys if k == kind) for kind, _ in keys}
    assert counts == {
        "Namespace": 1,
        "CustomResourceDefinition": len(KINDS),
        "ServiceAccount": 6,
        "ClusterRole": 6,
        "ClusterRoleBinding": 6,
        "Role": 1,  # source-controller's conversion certificate Secret
        "RoleBinding": 1,
        "Deployment": 6,
        "Service": 5,
    }
    assert objects("Namespace").keys() == {"flux-system"}


@pytest.mark.parametrize(("name", "module"), OPERATORS, ids=[o[0] for o in OPERATORS])
def test_operator_deployment(name: str, module: str) -> None:
    deployment = objects("Deployment")[name]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/afflux/afflux:latest"
    assert container["command"] == ["python", "-m", f"afflux.controllers.{module}"]
    assert container["args"][:4] == [
        "--watch-all-namespaces=true",
        "--metrics-addr=:8080",
        "--health-addr=:9440",
        "--enable-leader-election",  # as Flux's: one replica leads, a second one waits
    ]
    assert container["args"][-1] == "--log-level=info"  # as Flux's manifests
    assert pod["serviceAccountName"] == name
    assert name in objects("ServiceAccount")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http-prom"] == 8080 and ports["healthz"] == 9440
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    env = {e["name"]: e for e in container["env"]}
    assert env["RUNTIME_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_source_controller_storage_flags() -> None:
    container = objects("Deployment")["source-controller"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["args"][4:7] == [
        "--storage-path=/data",
        "--storage-addr=:9090",
        "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.",
    ]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]


SERVICES = [
    ("source-controller", "source-controller", 9090),
    ("notification-controller", "notification-controller", 9090),
    ("webhook-receiver", "notification-controller", 9292),
]


@pytest.mark.parametrize(("service", "deployment", "port"), SERVICES, ids=[s[0] for s in SERVICES])
def test_services_reach_their_pods(service: str, deployment: str, port: int) -> None:
    svc = objects("Service")[service]
    pod = objects("Deployment")[deployment]["spec"]["template"]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (svc_port,) = [p for p in svc["spec"]["ports"] if p["name"] != "conversion"]
    assert svc_port["port"] == 80
    ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    assert ports[svc_port["targetPort"]] == port


@pytest.mark.parametrize(("name", "module"), OPERATORS, ids=[o[0] for o in OPERATORS])
def test_each_operator_is_bound_to_its_role(name: str, module: str) -> None:
    binding = objects("ClusterRoleBinding")[f"afflux-{name}"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": f"afflux-{name}",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": name, "namespace": "flux-system"}
    ]
    assert f"afflux-{name}" in objects("ClusterRole")


def allowed(role: dict[str, Any], group: str, resource: str, verb: str,
            name: str | None = None) -> bool:
    for rule in role["rules"]:
        if "resources" not in rule:
            continue
        if (
            {group, "*"} & set(rule["apiGroups"])
            and {resource, "*"} & set(rule["resources"])
            and {verb, "*"} & set(rule["verbs"])
            and (not rule.get("resourceNames") or name in rule["resourceNames"])
        ):
            return True
    return False


CONVERTED = [(c["metadata"]["name"], c) for c in DEFAULT if c["kind"] == "CustomResourceDefinition"
             and "conversion" in c["spec"]]


@pytest.mark.parametrize("crd", [c for _, c in CONVERTED], ids=[n for n, _ in CONVERTED])
def test_a_converted_kind_reaches_its_operators_webhook_which_keeps_its_certificate(
        crd: dict[str, Any]) -> None:
    """CRD -> Service (port 9443) -> the owning operator's `conversion` container port, which
    --conversion-addr serves; the operator may keep its Secret and patch the CRD's caBundle."""
    config = crd["spec"]["conversion"]["webhook"]["clientConfig"]
    assert "url" not in config and "caBundle" not in config  # the operator sets the caBundle
    ref = config["service"]
    assert (ref["namespace"], ref["path"], ref["port"]) == ("flux-system", "/convert", 9443)
    svc = objects("Service")[ref["name"]]
    (port,) = [p for p in svc["spec"]["ports"] if p["port"] == 9443]
    (deployment,) = [d for d in objects("Deployment").values()
                     if svc["spec"]["selector"].items()
                     <= d["spec"]["template"]["metadata"]["labels"].items()]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": port["targetPort"], "containerPort": 9443, "protocol": "TCP"} \
        in container["ports"]
    operator = deployment["metadata"]["name"]
    secret = f"{operator}-conversion-cert"
    assert "--conversion-addr=:9443" in container["args"]
    assert f"--conversion-cert-secret={secret}" in container["args"]
    cluster_role = objects("ClusterRole")[f"afflux-{operator}"]
    for verb in ("get", "patch"):
        assert allowed(cluster_role, "apiextensions.k8s.io", "customresourcedefinitions", verb,
                       crd["metadata"]["name"])
    roles = [cluster_role, *(objects("Role")[b["roleRef"]["name"]]
                             for b in objects("RoleBinding").values()
                             if {"kind": "ServiceAccount", "name": operator,
                                 "namespace": "flux-system"} in b["subjects"])]
    for verb in ("get", "create", "update"):
        assert any(allowed(r, "", "secrets", verb, secret) for r in roles), verb


OWN = {
    "source-controller": [
        "GitRepository",
        "OCIRepository",
        "HelmRepository",
        "HelmChart",
        "Bucket",
    ],
    "kustomize-controller": ["Kustomization"],
    "helm-controller": ["HelmRelease"],
    "image-reflector-controller": ["ImageRepository", "ImagePolicy"],
    "image-automation-controller": ["ImageUpdateAutomation"],
    "notification-controller": ["Provider", "Alert", "Receiver"],
}
KIND_BY_NAME = {k.KIND: k for k in KINDS}
RIGHTS = (
    [
        (op, KIND_BY_NAME[kind].GROUP, f"{KIND_BY_NAME[kind].PLURAL}{sub}", verb)
        for op, kinds in OWN.items()
        for kind in kinds
        for sub, verbs in (("", ["get", "list", "watch", "patch"]), ("/finalizers", ["update"]))
        for verb in verbs
    ]
    + [
        (op, KIND_BY_NAME[kind].GROUP, f"{KIND_BY_NAME[kind].PLURAL}/status", "patch")
        for op, kinds in OWN.items()
        for kind in kinds
        if KIND_BY_NAME[kind].HAS_STATUS
    ]
    + [
        (op, group, resource, verb)
        for op, _ in OPERATORS
        for group, resource, verb in (
            ("", "events", "create"),
            ("events.k8s.io", "events", "patch"),
            ("coordination.k8s.io", "leases", "update"),
            ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
            ("", "namespaces", "list"),
        )
    ]
    + [
        ("source-controller", "", "secrets", "get"),
        ("image-reflector-controller", "", "secrets", "watch"),
        ("image-automation-controller", "", "secrets", "get"),
        ("image-automation-controller", "image.toolkit.fluxcd.io", "imagepolicies", "watch"),
        ("image-automation-controller", "source.toolkit.fluxcd.io", "gitrepositories", "get"),
        ("notification-controller", "kustomize.toolkit.fluxcd.io", "kustomizations", "patch"),
        ("notification-controller", "source.toolkit.fluxcd.io", "gitrepositories", "patch"),
        ("notification-controller", "", "events", "watch"),
        ("kustomize-controller", "apps", "deployments", "create"),
        ("helm-controller", "", "secrets", "delete"),
    ]
)


@pytest.mark.parametrize(
    ("operator", "group", "resource", "verb"),
    RIGHTS,
    ids=[f"{o}:{v}:{g or 'core'}/{r}" for o, g, r, v in RIGHTS],
)
def test_operator_has_the_rights_it_needs(
    operator: str, group: str, resource: str, verb: str
) -> None:
    assert allowed(objects("ClusterRole")[f"afflux-{operator}"], group, resource, verb)


DENIED = [
    ("source-controller", "kustomize.toolkit.fluxcd.io", "kustomizations", "get"),
    ("source-controller", "", "secrets", "update"),
    ("source-controller", "apps", "deployments", "create"),
    ("image-reflector-controller", "source.toolkit.fluxcd.io", "gitrepositories", "get"),
    ("image-automation-controller", "image.toolkit.fluxcd.io", "imagepolicies", "patch"),
    ("notification-controller", "", "secrets", "create"),
    ("notification-controller", "kustomize.toolkit.fluxcd.io", "kustomizations", "delete"),
]


@pytest.mark.parametrize(
    ("operator", "group", "resource", "verb"),
    DENIED,
    ids=[f"{o}:{v}:{g or 'core'}/{r}" for o, g, r, v in DENIED],
)
def test_operator_lacks_rights_it_does_not_need(
    operator: str, group: str, resource: str, verb: str
) -> None:
    assert not allowed(objects("ClusterRole")[f"afflux-{operator}"], group, resource, verb)


def test_samples_kustomization_lists_one_sample_per_kind() -> None:
    samples = resolve(CONFIG / "samples")
    assert sorted(o["kind"] for o in samples) == sorted(k.KIND for k in KINDS)


@pytest.mark.parametrize(("name", "module"), OPERATORS, ids=[o[0] for o in OPERATORS])
def test_operator_runs_with_fluxs_security_context(name: str, module: str) -> None:
    """Non-root, read-only root filesystem, no privilege escalation, no capabilities,
    seccomp RuntimeDefault; what it writes goes to its emptyDir volumes."""
    pod = objects("Deployment")[name]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True and ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}
