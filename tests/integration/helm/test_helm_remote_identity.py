"""A HelmRelease installed by the real helm on a "remote" cluster named by
`spec.kubeConfig.configMapRef` (provider generic): helm-controller asks the TokenRequest API
for a token of the ConfigMap's ServiceAccount and gives helm a kubeconfig (a private 0600
file, deleted after) for the ConfigMap's address and CA with that token. The remote is the
test cluster itself; the ServiceAccount may write ConfigMaps and Secrets (helm's records) in
the HelmRelease's namespace only, so a chart object in another namespace is refused with the
API server's words. A missing ConfigMap is retried; a cloud provider stalls."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import HelmEnv, chart_spec, cond, helm_repository, start_helm_env
from source_env import obj_name

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.remote_identity import grant_in_namespace, remote_config
from harness.wait import eventually

pytestmark = pytest.mark.integration

#: a ConfigMap in the namespace .Values.other names (if any)
OTHER = """\
{{- if .Values.other }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-other
  namespace: {{ .Values.other }}
{{- end }}
"""


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, helm_tool: HelmTool,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[HelmEnv]:
    yield from start_helm_env(cluster, start_controller, helm_tool, tmp_path_factory,
                              "helmwi", "--feature-gates=ObjectLevelWorkloadIdentity=true")


@pytest.fixture(scope="module")
def charts(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
           tmp_path_factory: pytest.TempPathFactory) -> str:
    src, out = tmp_path_factory.mktemp("wi-src"), tmp_path_factory.mktemp("wi-pkg")
    chart = helm_tool.make_chart(src, "remote", "1.0.0", values={"replicas": 1, "other": ""},
                                 files={"templates/other.yaml": OTHER})
    return helm_repository(env, helm_repo_server, [helm_tool.package(chart, out)])


def _configmap(env: HelmEnv, name: str, data: dict[str, str]) -> None:
    env.source.core.create_namespaced_config_map(
        env.namespace, {"metadata": {"name": name}, "data": data})


@pytest.mark.flux_fields("HelmRelease", "spec.kubeConfig.configMapRef.name")
def test_installs_as_the_configmaps_service_account(env: HelmEnv, charts: str) -> None:
    ns = env.namespace
    other = f"t-other-{uuid.uuid4().hex[:6]}"
    env.source.cluster.kubectl("create", "namespace", other)
    try:
        grant_in_namespace(env.source.cluster, ns, "deployer")
        _configmap(env, "remote", remote_config(env.source.cluster,
                                                serviceAccountName="deployer"))
        remote = {"kubeConfig": {"configMapRef": {"name": "remote"}}}
        allowed = env.create(obj_name("hr"), {**chart_spec(charts, "1.0.0", "remote"),
                                              **remote})
        env.ready(allowed, "InstallSucceeded")
        assert allowed in env.helm_list()
        assert env.configmap(allowed)["data"]["replicas"] == "1"

        refused = env.create(obj_name("hr"), {**chart_spec(charts, "1.0.0", "remote"),
                                              "values": {"other": other}, **remote})

        def refused_by_rbac() -> str:
            message = cond(env.get(refused), "Released")["message"]
            assert f'User "system:serviceaccount:{ns}:deployer" cannot' in message, message
            return message

        message = eventually(refused_by_rbac, 90, message="the install refused by RBAC")
        assert f'in the namespace "{other}"' in message
        ready = cond(env.get(refused), "Ready")
        assert ready["status"] == "False"
        log = env.controller.log_text(20000)
        assert "eyJ" not in log  # no JWT (header base64 of '{"') in the logs
        env.delete(refused)
        env.delete(allowed)
    finally:
        env.source.cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


@pytest.mark.parametrize(("data", "stalled", "message"), [
    pytest.param(None, False, "kubeConfig ConfigMap '{ns}/{cm}' not found",
                 id="missing-configmap"),
    pytest.param({"provider": "gcp",
                  "cluster": "projects/p/locations/europe-west1/clusters/prod"}, True,
                 "provider 'gcp' needs the gcp cloud's credentials", id="cloud-provider"),
    pytest.param({"provider": "generic"}, True, "has no key 'address'", id="no-address"),
])
@pytest.mark.flux_fields("HelmRelease", "spec.kubeConfig.configMapRef.name")
def test_configmap_that_cannot_work(env: HelmEnv, charts: str, data: dict[str, str] | None,
                                    stalled: bool, message: str) -> None:
    cm = f"kc-{uuid.uuid4().hex[:6]}"
    if data is not None:
        _configmap(env, cm, data)
    name = env.create(obj_name("hr"), {**chart_spec(charts, "1.0.0", "remote"),
                                       "kubeConfig": {"configMapRef": {"name": cm}}})
    obj = env.failing(name, "InitFailed", stalled=stalled)
    assert message.format(ns=env.namespace, cm=cm) in cond(obj, "Ready")["message"]
    assert name not in env.helm_list()
    env.delete(name)
