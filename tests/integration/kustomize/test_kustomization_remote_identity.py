"""A Kustomization applied to a "remote" cluster named by `spec.kubeConfig.configMapRef`
(provider generic): the controller asks the TokenRequest API for a token of the ConfigMap's
ServiceAccount and reaches the API server at the ConfigMap's address with its CA. The remote
is the test cluster itself, so the proof that the token (and not the controller's own
credentials) is used is RBAC: the ServiceAccount may write ConfigMaps in the Kustomization's
namespace only, and an object of another namespace is refused with the API server's words.
A ConfigMap that is missing, names an unknown provider or a cloud provider gets the right
conditions.

The real source-controller and kustomize-controller run as processes (see
`test_kustomization`), the latter with `--feature-gates=ObjectLevelWorkloadIdentity=true`.
"""

from __future__ import annotations

import uuid

import pytest

from harness.kustomize_env import Env, configmap, dump
from harness.remote_identity import grant_in_namespace, remote_config

pytestmark = pytest.mark.integration


KUSTOMIZE_ARGS = ("--feature-gates=ObjectLevelWorkloadIdentity=true",)  # conftest.py `env`


def _configmap(env: Env, name: str, data: dict[str, str]) -> None:
    env.apply({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": env.namespace}, "data": data})


@pytest.mark.flux_fields("Kustomization", "spec.kubeConfig.configMapRef.name")
def test_applies_as_the_configmaps_service_account(env: Env) -> None:
    ns = env.namespace
    other = f"t-other-{uuid.uuid4().hex[:6]}"
    env.cluster.kubectl("create", "namespace", other)
    try:
        grant_in_namespace(env.cluster, ns, "deployer")
        _configmap(env, "remote", remote_config(env.cluster, serviceAccountName="deployer"))
        repo, sha = env.repo({"cm.yaml": dump(configmap("via-token", namespace=ns))})
        allowed = env.kustomization("remote-allowed", env.source(repo),
                                    kubeConfig={"configMapRef": {"name": "remote"}})
        status = env.wait_applied(allowed, sha)
        assert [e["id"] for e in status["inventory"]["entries"]] == [
            f"{ns}_via-token__ConfigMap"]
        applied = env.get("configmap", "via-token")
        assert applied is not None
        assert applied["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == allowed

        repo2, _ = env.repo({"cm.yaml": dump(configmap("elsewhere", namespace=other))})
        refused = env.kustomization("remote-refused", env.source(repo2),
                                    kubeConfig={"configMapRef": {"name": "remote"}})
        ready = env.wait_failed(refused, "ReconciliationFailed")
        assert f'User "system:serviceaccount:{ns}:deployer" cannot' in ready["message"]
        assert f'in the namespace "{other}"' in ready["message"]
        assert not env.exists("configmap", "elsewhere", other)
        log = env.kustomize_controller.log_text(20000)
        assert "eyJ" not in log  # no JWT (header base64 of '{"') in the logs
    finally:
        env.cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.parametrize(("data", "reason", "stalled", "message"), [
    pytest.param(None, "ReconciliationFailed", False,
                 "kubeConfig ConfigMap '{ns}/{cm}' not found", id="missing-configmap"),
    pytest.param({"provider": "vault", "address": "https://127.0.0.1:1"},
                 "ReconciliationFailed", True,
                 "provider 'vault' is not one of aws, azure, gcp, generic",
                 id="unknown-provider"),
    pytest.param({"provider": "aws",
                  "cluster": "arn:aws:eks:eu-west-1:123456789012:cluster/prod"},
                 "ReconciliationFailed", True,
                 "provider 'aws' needs the aws cloud's credentials", id="cloud-provider"),
    pytest.param({"provider": "generic", "address": "https://127.0.0.1:1",
                  "ca.crt": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                  "serviceAccountName": "deployer"},
                 "ReconciliationFailed", True, "['ca.crt'] holds no valid PEM certificate",
                 id="bad-ca"),
])
def test_configmap_that_cannot_work(env: Env, data: dict[str, str] | None, reason: str,
                                    stalled: bool, message: str) -> None:
    cm = f"kc-{uuid.uuid4().hex[:6]}"
    if data is not None:
        _configmap(env, cm, data)
    repo, _ = env.repo({"cm.yaml": dump(configmap(f"never-{cm}", namespace=env.namespace))})
    ks = env.kustomization(cm, env.source(repo), kubeConfig={"configMapRef": {"name": cm}})
    ready = env.wait_failed(ks, reason)
    assert message.format(ns=env.namespace, cm=cm) in ready["message"]
    stall = env.condition(env.status(ks), "Stalled")
    assert (stall is not None and stall["status"] == "True") is stalled, stall
    assert not env.exists("configmap", f"never-{cm}")
