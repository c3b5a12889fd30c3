"""config/ui: the in-cluster UI's Deployment runs `afflux ui --in-cluster` with flags the
CLI accepts, with Flux's security context, and with no rights and no token of its own."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.cli._main import parse_args
from afflux.cli.ui import IN_CLUSTER_CA, cluster_entry

UI = Path(__file__).resolve().parents[3] / "config" / "ui"


def _docs() -> list[dict[str, Any]]:
    """config/ui (the token mode's objects, in config/ui/token)."""
    assert yaml.safe_load((UI / "kustomization.yaml").read_text())["resources"] == ["token"]
    kustomization = yaml.safe_load((UI / "token" / "kustomization.yaml").read_text())
    return [d for entry in kustomization["resources"]
            for d in yaml.safe_load_all((UI / "token" / entry).read_text()) if d]


DOCS = _docs()


def _one(kind: str) -> dict[str, Any]:
    [doc] = [d for d in DOCS if d["kind"] == kind]
    return doc


def test_the_ui_has_no_rights_and_no_token() -> None:
    assert not [d for d in DOCS if d["kind"] in ("Role", "ClusterRole", "RoleBinding",
                                                 "ClusterRoleBinding")]
    assert _one("ServiceAccount")["automountServiceAccountToken"] is False
    pod = _one("Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == _one("ServiceAccount")["metadata"]["name"]
    # the CA only, from the namespace's kube-root-ca.crt, where --api-ca looks
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "kube-ca"]
    args = parse_args(pod["containers"][0]["args"])
    assert str(Path(mount["mountPath"]) / "ca.crt") == args.api_ca
    [volume] = [v for v in pod["volumes"] if v["name"] == "kube-ca"]
    assert volume["configMap"] == {"name": "kube-root-ca.crt",
                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}


def test_the_ui_runs_with_flux_s_security_context() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [container] = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
        "runAsNonRoot": True, "runAsUser": 65534, "capabilities": {"drop": ["ALL"]}}
    assert {"name": "temp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_the_ui_s_command_line_is_one_the_cli_accepts() -> None:
    [container] = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "afflux.cli"]
    args = parse_args(container["args"])
    assert (args.in_cluster, args.auth, args.addr, args.max_sessions, args.session_idle) == (
        True, "token", ("0.0.0.0", 9080), 32, 600.0)
    port = container["ports"][0]
    assert (port["containerPort"], _one("Service")["spec"]["ports"][0]["targetPort"]) == (
        9080, port["name"])


def _args(**flags: Any) -> argparse.Namespace:
    base = {"kubeconfig": None, "context": None, "server": None,
            "certificate_authority": None, "insecure_skip_tls_verify": False,
            "cluster": None, "api_ca": IN_CLUSTER_CA}
    return argparse.Namespace(**{**base, **flags})


KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: admin
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: Q0E=}
contexts:
- name: admin
  context: {cluster: local, user: admin}
users:
- name: admin
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ, token: admin-token}
"""


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        pytest.param({}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1",
                          "KUBERNETES_SERVICE_PORT": "443"},
                     {"server": "https://10.0.0.1:443", "certificate-authority": IN_CLUSTER_CA},
                     id="in-a-pod"),
        pytest.param({}, {"KUBERNETES_SERVICE_HOST": "fd00::1"},
                     {"server": "https://[fd00::1]:443", "certificate-authority": IN_CLUSTER_CA},
                     id="in-a-pod-ipv6"),
        pytest.param({"kubeconfig": "KUBECONFIG"}, {},
                     {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="},
                     id="kubeconfig-cluster-without-its-user"),
        pytest.param({"kubeconfig": "KUBECONFIG", "server": "https://other:6443"}, {},
                     {"server": "https://other:6443", "certificate-authority-data": "Q0E="},
                     id="kubeconfig-with-server-flag"),
    ],
)
def test_the_cluster_entry_carries_no_credentials(
    flags: dict[str, Any], env: dict[str, str], expected: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    if flags.get("kubeconfig"):
        (tmp_path / "kubeconfig").write_text(KUBECONFIG)
        flags = {**flags, "kubeconfig": str(tmp_path / "kubeconfig")}
    assert cluster_entry(_args(**flags), env) == expected

