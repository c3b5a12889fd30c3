"""The removed API versions on the real cluster, through the operators' conversion webhooks.

A repository written the way Flux's older example repositories are (GitRepository and
Kustomization v1beta2 with `gitImplementation`, `validation`, `patchesStrategicMerge`;
HelmRelease v2beta1 with `valuesFile`) is applied unchanged with kubectl. The API server
converts through the webhooks of source-, kustomize- and helm-controller (on loopback,
with the session's CA as caBundle), stores v1/v2, the real controllers reconcile, and
`kubectl get <plural>.<old version>.<group>` reads the objects back converted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import TIMEOUT, Env, configmap, dump, make_env
from harness.wait import eventually

pytestmark = pytest.mark.integration

CHART = {
    "charts/app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    "charts/app/values.yaml": "color: blue\n",
    "charts/app/values-prod.yaml": "color: red\n",
    "charts/app/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  color: {{ .Values.color | quote }}\n"),
}


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    envs = make_env(cluster, start_controller, git_server, tmp_path_factory)
    env = next(envs)
    helm = start_controller("helm", "--watch-all-namespaces=false",
                            f"--namespace={env.namespace}")
    try:
        yield env
    finally:
        helm.stop()
        next(envs, None)


def _get(env: Env, resource: str, name: str) -> dict[str, Any]:
    return json.loads(env.kubectl("get", resource, name, "-o", "json").stdout)


def test_an_old_repository_applies_unchanged_and_reads_back_in_either_version(
        env: Env) -> None:
    ns = env.namespace
    patch = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old-cm"},
             "data": {"patched": "yes"}}
    repo, sha = env.repo({"app/cm.yaml": dump(configmap("old-cm", {"a": "b"})), **CHART})
    old = [
        {"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "GitRepository",
         "metadata": {"name": "old-repo", "namespace": ns},
         "spec": {"url": repo.url, "interval": "10m", "ref": {"branch": "main"},
                  "gitImplementation": "go-git"}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2", "kind": "Kustomization",
         "metadata": {"name": "old-ks", "namespace": ns},
         "spec": {"interval": "10m", "path": "./app", "prune": True, "validation": "client",
                  "targetNamespace": ns, "patchesStrategicMerge": [patch],
                  "sourceRef": {"kind": "GitRepository", "name": "old-repo"}}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2beta1", "kind": "HelmRelease",
         "metadata": {"name": "old-hr", "namespace": ns},
         "spec": {"interval": "10m", "chart": {"spec": {
             "chart": "./charts/app", "valuesFile": "charts/app/values-prod.yaml",
             "sourceRef": {"kind": "GitRepository", "name": "old-repo"}}}}},
    ]
    applied = env.kubectl("apply", "-f", "-", input=dump(*old))
    assert "deprecated" in applied.stderr

    # stored as the current versions, with the documented renames
    git = _get(env, "gitrepositories.v1.source.toolkit.fluxcd.io", "old-repo")
    assert git["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert "gitImplementation" not in git["spec"]
    ks = _get(env, "kustomizations.v1.kustomize.toolkit.fluxcd.io", "old-ks")
    assert "validation" not in ks["spec"] and "patchesStrategicMerge" not in ks["spec"]
    assert "name: old-cm" in ks["spec"]["patches"][0]["patch"]
    hr = _get(env, "helmreleases.v2.helm.toolkit.fluxcd.io", "old-hr")
    assert hr["spec"]["chart"]["spec"]["valuesFiles"] == ["charts/app/values-prod.yaml"]
    assert "valuesFile" not in hr["spec"]["chart"]["spec"]

    # the real controllers reconcile them
    status = env.wait_applied("old-ks", sha)
    cm = env.get("configmap", "old-cm")
    assert cm is not None and cm["data"] == {"a": "b", "patched": "yes"}

    def released() -> dict[str, Any]:
        body = _get(env, "helmreleases.v2.helm.toolkit.fluxcd.io", "old-hr")
        ready = env.condition(body.get("status") or {}, "Ready")
        assert ready is not None and ready["status"] == "True", ready
        return body

    eventually(released, TIMEOUT * 2, message="HelmRelease old-hr released")
    made = env.get("configmap", "old-hr-cm")
    assert made is not None and made["data"] == {"color": "red"}  # valuesFile was kept

    # and read back in the old versions, converted
    old_ks = _get(env, "kustomizations.v1beta2.kustomize.toolkit.fluxcd.io", "old-ks")
    assert old_ks["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1beta2"
    assert old_ks["status"]["lastAppliedRevision"] == status["lastAppliedRevision"]
    old_git = _get(env, "gitrepositories.v1beta2.source.toolkit.fluxcd.io", "old-repo")
    artifact = old_git["status"]["artifact"]
    assert artifact["checksum"] == artifact["digest"].removeprefix("sha256:")
    old_hr = _get(env, "helmreleases.v2beta1.helm.toolkit.fluxcd.io", "old-hr")
    assert old_hr["apiVersion"] == "helm.toolkit.fluxcd.io/v2beta1"
    assert old_hr["status"]["lastAppliedRevision"] == "0.1.0"
    listed = json.loads(env.kubectl("get", "kustomizations.v1beta2.kustomize.toolkit.fluxcd.io",
                                    "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["old-ks"]
