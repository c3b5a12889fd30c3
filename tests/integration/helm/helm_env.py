"""What the HelmRelease integration tests share: `HelmEnv` (a source env, helm-controller,
the test's own `helm`), a chart repository helper and `chart_spec`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException
from source_env import SourceEnv, obj_name, start_source_env

from afflux.controllers.helm._release import decode_record
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.wait import eventually

__all__ = ["TIMEOUT", "HelmEnv", "apply_methods", "chart_spec", "cond", "field_managers",
           "helm_repository", "job_succeeded", "life_repository", "release", "remediated",
           "start_helm_env"]

GROUP, VERSION, PLURAL = "helm.toolkit.fluxcd.io", "v2", "helmreleases"
TIMEOUT = 90.0


class HelmEnv:
    """The source env plus HelmRelease helpers and the test's own `helm`."""

    def __init__(self, source: SourceEnv, helm: HelmTool, controller: Any) -> None:
        self.source = source
        self.namespace = source.namespace
        self.helm = helm
        self.controller = controller

    def helm_run(self, *args: str) -> str:
        return self.helm.run(*args, "--kubeconfig", str(self.source.cluster.kubeconfig),
                             "--namespace", self.namespace)

    def helm_history(self, release: str) -> list[dict[str, Any]]:
        return json.loads(self.helm_run("history", release, "-o", "json"))

    def helm4_history(self, release: str) -> list[dict[str, Any]]:
        """`helm history` as the real helm v4 reads the records."""
        helm4 = HelmTool(self.helm.home, "helm4")
        return json.loads(helm4.run("history", release, "-o", "json", "--kubeconfig",
                                    str(self.source.cluster.kubeconfig),
                                    "--namespace", self.namespace))

    def helm_list(self) -> list[str]:
        return [r["name"] for r in json.loads(self.helm_run("list", "-a", "-o", "json"))]

    def create(self, name: str, spec: dict[str, Any]) -> str:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "HelmRelease",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"interval": "10m", **spec}}
        self.source.api.create_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                        PLURAL, body)
        return name

    def get(self, name: str) -> dict[str, Any]:
        return self.source.api.get_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                            PLURAL, name)

    def patch_spec(self, name: str, spec: dict[str, Any]) -> None:
        self.source.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                       name, {"spec": spec})

    def delete(self, name: str) -> None:
        self.source.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                        PLURAL, name)

    def gone(self, name: str) -> bool:
        try:
            self.get(name)
        except ApiException as err:
            return err.status == 404
        return False

    def request(self, name: str, *annotations: str) -> str:
        stamp = uuid.uuid4().hex
        keys = ("reconcile.fluxcd.io/requestedAt", *annotations)
        self.source.api.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name,
            {"metadata": {"annotations": dict.fromkeys(keys, stamp)}})
        return stamp

    def ready(self, name: str, reason: str | None = None, *, check: Any = None,
              timeout: float = TIMEOUT) -> dict[str, Any]:
        def is_ready() -> dict[str, Any]:
            obj = self.get(name)
            cond = SourceEnv.condition(obj, "Ready")
            assert cond and cond["status"] == "True", f"Ready: {cond}"
            assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
            if reason:
                assert cond["reason"] == reason, cond
            if check is not None:
                assert check(obj) is not False, obj["status"]
            return obj

        return eventually(is_ready, timeout, message=f"HelmRelease {name} Ready")

    def failing(self, name: str, reason: str, *, stalled: bool | None = None,
                check: Any = None, timeout: float = TIMEOUT) -> dict[str, Any]:
        def failed() -> dict[str, Any]:
            obj = self.get(name)
            cond = SourceEnv.condition(obj, "Ready")
            assert cond and cond["status"] == "False" and cond["reason"] == reason, cond
            if stalled is not None:
                stall = SourceEnv.condition(obj, "Stalled")
                assert (stall is not None and stall["status"] == "True") is stalled, stall
            if check is not None:
                assert check(obj) is not False, obj["status"]
            return obj

        return eventually(failed, timeout, message=f"HelmRelease {name} failing with {reason}")

    def configmap(self, name: str) -> dict[str, Any]:
        return self.source.core.read_namespaced_config_map(name, self.namespace).to_dict()


def start_helm_env(cluster: Cluster, start_controller: Any, helm_tool: HelmTool,
                   tmp_path_factory: pytest.TempPathFactory, label: str,
                   *controller_args: str) -> Iterator[HelmEnv]:
    """Generator for a module fixture: a source env and a helm-controller watching its
    namespace."""
    for source in start_source_env(cluster, start_controller, tmp_path_factory, label):
        controller = start_controller("helm", "--watch-all-namespaces=false",
                                      f"--namespace={source.namespace}", *controller_args)
        yield HelmEnv(source, helm_tool, controller)


def helm_repository(env: HelmEnv, server: ChartRepoServer, charts: list[Path]) -> str:
    url = server.publish(env.helm, charts)
    env.source.secret("charts-auth", {"username": server.username, "password": server.password})
    env.source.secret("charts-ca", {"ca.crt": server.ca.ca_cert.read_bytes()})
    name = env.source.create("HelmRepository", obj_name("repo"), {
        "url": url, "secretRef": {"name": "charts-auth"}, "certSecretRef": {"name": "charts-ca"}})
    env.source.wait_ready("HelmRepository", name)
    return name


def chart_spec(repo: str, version: str, chart: str = "app") -> dict[str, Any]:
    return {"chart": {"spec": {"chart": chart, "version": version,
                               "sourceRef": {"kind": "HelmRepository", "name": repo}}}}


#: one Job per entry of .Values.hooks (hook event -> exit code of its Pod)
HOOKS = """\
{{- range $hook, $exit := .Values.hooks }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $.Release.Name }}-{{ $hook }}
  annotations:
    helm.sh/hook: {{ $hook }}
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        afflux.dev/exit: {{ $exit | quote }}
    spec:
      restartPolicy: Never
      containers:
      - name: hook
        image: busybox
{{- end }}
"""
#: the chart's test: a Pod that exits with .Values.test
TEST = """\
{{- if .Values.test }}
apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
    afflux.dev/exit: {{ .Values.test | quote }}
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: busybox
{{- end }}
"""
#: a Deployment (ready or not: .Values.deployment.ready) and a Job (exit .Values.job)
WORKLOADS = """\
{{- if .Values.deployment }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
      annotations:
        afflux.dev/ready: {{ .Values.deployment.ready | quote }}
    spec:
      containers:
      - name: app
        image: busybox
{{- end }}
{{- if .Values.job }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-job
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations:
        afflux.dev/exit: {{ .Values.job | quote }}
    spec:
      restartPolicy: Never
      containers:
      - name: job
        image: busybox
{{- end }}
"""


def life_repository(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
                    tmp_path_factory: pytest.TempPathFactory) -> str:
    """A HelmRepository serving the chart `life` 1.0.0 (hooks, test, workloads above)."""
    src, out = tmp_path_factory.mktemp("life-src"), tmp_path_factory.mktemp("life-pkg")
    chart = helm_tool.make_chart(src, "life", "1.0.0", values={"replicas": 1, "hooks": {}},
                                 files={"templates/hooks.yaml": HOOKS,
                                        "templates/tests/test.yaml": TEST,
                                        "templates/workloads.yaml": WORKLOADS})
    return helm_repository(env, helm_repo_server, [helm_tool.package(chart, out)])


def release(env: HelmEnv, repo: str, values: dict[str, Any], **spec: Any) -> str:
    return env.create(obj_name("hr"), {**chart_spec(repo, "1.0.0", chart="life"),
                                       "values": values, **spec})


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    found = SourceEnv.condition(obj, type_)
    assert found is not None, f"no {type_} condition in {obj['status'].get('conditions')}"
    return found


def job_succeeded(env: HelmEnv, name: str) -> bool:
    job = k8s.BatchV1Api(env.source.core.api_client).read_namespaced_job(name, env.namespace)
    return bool(job.status.succeeded)


def remediated(env: HelmEnv, name: str, reason: str) -> dict[str, Any]:
    """The HelmRelease once its Remediated condition has `reason`."""
    def check() -> dict[str, Any]:
        obj = env.get(name)
        assert cond(obj, "Remediated")["reason"] == reason, obj["status"].get("conditions")
        return obj

    return eventually(check, TIMEOUT, message=f"HelmRelease {name} remediated: {reason}")


def field_managers(env: HelmEnv, name: str) -> set[tuple[str, str]]:
    """(manager, operation) of each managedFields entry of ConfigMap `name`."""
    cm = env.source.core.read_namespaced_config_map(name, env.namespace)
    return {(f.manager, f.operation) for f in cm.metadata.managed_fields or ()}


def apply_methods(env: HelmEnv, name: str) -> dict[int, str]:
    """revision -> `apply_method` of the release's records ("" when there is none: Helm 3)."""
    secrets = env.source.core.list_namespaced_secret(
        env.namespace, label_selector=f"owner=helm,name={name}").items
    methods = {}
    for secret in secrets:
        record, _ = decode_record({"data": {"release": secret.data["release"]}})
        methods[int(record["version"])] = str(record.get("apply_method") or "")
    return methods
