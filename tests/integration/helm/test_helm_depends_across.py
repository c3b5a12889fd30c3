"""One dependency graph across kinds: the `afflux.toolkit.fluxcd.io/depends-on` annotation
makes a Kustomization wait for a HelmRelease (and the other way round) with Flux's
DependencyNotReady, and a cycle across the kinds is Stalled with the cycle named (and shown
by `afflux tree --graph`); breaking it lets both go on.

Real source-controller, helm-controller and kustomize-controller run as processes for the
module's namespace, with the real Git server and chart repository.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helm_env import TIMEOUT, HelmEnv, chart_spec, cond
from kubernetes.client.rest import ApiException
from source_env import SourceEnv

from afflux.cli import main as afflux_main
from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_servers import GitAuth, git_push_files
from harness.wait import eventually

pytestmark = pytest.mark.integration

ENV_LABEL = "helmdeps"
KS_GROUP, KS_VERSION, KS_PLURAL = "kustomize.toolkit.fluxcd.io", "v1", "kustomizations"
HR_GROUP, HR_VERSION, HR_PLURAL = "helm.toolkit.fluxcd.io", "v2", "helmreleases"
DEPENDS_ON = "afflux.toolkit.fluxcd.io/depends-on"


@pytest.fixture(scope="module")
def kustomize(env: HelmEnv, start_controller: Any) -> Iterator[Any]:
    proc = start_controller("kustomize", "--watch-all-namespaces=false",
                            f"--namespace={env.namespace}", "--requeue-dependency=2s")
    yield proc
    # its finalizers run before it stops, so that the namespace can go
    env.source.cluster.kubectl("-n", env.namespace, "delete", KS_PLURAL, "--all",
                               "--wait=false", check=False)
    try:
        eventually(lambda: not env.source.cluster.kubectl(
            "-n", env.namespace, "get", KS_PLURAL, "-o", "name").stdout.strip(), 30,
            message="Kustomizations finalized")
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def git_source(env: HelmEnv, git_server: GitHTTPServer) -> str:
    """A GitRepository with one ConfigMap manifest per name (`cm-<name>.yaml`)."""
    name = f"deps/{uuid.uuid4().hex[:8]}"
    git_server.create_repo(name, public=True)
    url = git_server.url(name)
    files = {f"{n}/cm.yaml": configmap(f"cm-{n}", env.namespace)
             for n in ("waits", "loop", "waits-on-missing")}
    git_push_files(url, files, branch="main", message="init", auth=GitAuth.for_server(git_server))
    source = env.source.create("GitRepository", "deps-src",
                               {"url": url, "ref": {"branch": "main"}})
    env.source.wait_ready("GitRepository", source)
    return source


def configmap(name: str, namespace: str) -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
            f"  namespace: {namespace}\ndata:\n  key: value\n")


def create(env: HelmEnv, group: str, version: str, plural: str, kind: str, name: str,
           spec: dict[str, Any], depends_on: str | None = None) -> None:
    meta: dict[str, Any] = {"name": name, "namespace": env.namespace}
    if depends_on:
        meta["annotations"] = {DEPENDS_ON: depends_on}
    env.source.api.create_namespaced_custom_object(group, version, env.namespace, plural, {
        "apiVersion": f"{group}/{version}", "kind": kind, "metadata": meta,
        "spec": {"interval": "10m", **spec}})


def kustomization(env: HelmEnv, name: str, source: str, depends_on: str) -> None:
    create(env, KS_GROUP, KS_VERSION, KS_PLURAL, "Kustomization", name, {
        "prune": True, "path": f"./{name}", "sourceRef": {"kind": "GitRepository",
                                                         "name": source}}, depends_on)


def helm_release(env: HelmEnv, name: str, repo: str, depends_on: str | None = None) -> None:
    create(env, HR_GROUP, HR_VERSION, HR_PLURAL, "HelmRelease", name,
           {**chart_spec(repo, "1.0.0", chart="life"), "values": {"replicas": 1}}, depends_on)


def get_ks(env: HelmEnv, name: str) -> dict[str, Any]:
    return env.source.api.get_namespaced_custom_object(KS_GROUP, KS_VERSION, env.namespace,
                                                       KS_PLURAL, name)


def configmap_created(env: HelmEnv, name: str) -> str | None:
    try:
        return env.source.core.read_namespaced_config_map(
            name, env.namespace).metadata.creation_timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    return SourceEnv.condition(obj, "Ready")


@pytest.mark.flux_fields("HelmRelease", "status.conditions[].lastTransitionTime")
def test_a_kustomization_waits_for_a_helmrelease_and_applies_once_it_is_ready(
        env: HelmEnv, repo: str, kustomize: Any, git_source: str) -> None:
    kustomization(env, "waits", git_source, "HelmRelease/db")

    def waiting() -> dict[str, Any]:
        ready = ready_condition(get_ks(env, "waits"))
        assert ready is not None and ready["status"] == "False", ready
        assert ready["reason"] == "DependencyNotReady", ready
        assert ready["message"] == (f"dependency 'HelmRelease/{env.namespace}/db' not found")
        return ready

    eventually(waiting, TIMEOUT, message="the Kustomization waiting for the HelmRelease")
    assert configmap_created(env, "cm-waits") is None

    helm_release(env, "db", repo)
    hr = env.ready("db")
    created = eventually(lambda: configmap_created(env, "cm-waits"), TIMEOUT,
                         message="the Kustomization applied after the HelmRelease is Ready")
    assert created >= cond(hr, "Ready")["lastTransitionTime"]
    ks = eventually(lambda: get_ks(env, "waits") if (ready_condition(get_ks(env, "waits"))
                                                    or {}).get("status") == "True" else None,
                    TIMEOUT, message="the Kustomization Ready")
    assert cond(ks, "Ready")["reason"] == "ReconciliationSucceeded"


def test_a_helmrelease_waits_for_a_kustomization(env: HelmEnv, repo: str,
                                                 kustomize: Any) -> None:
    helm_release(env, "after-ks", repo, "Kustomization/missing-ks")
    hr = env.failing("after-ks", "DependencyNotReady")
    assert cond(hr, "Ready")["message"] == (
        f"dependency 'Kustomization/{env.namespace}/missing-ks' not found")
    assert env.helm_list().count("after-ks") == 0


def afflux(env: HelmEnv, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    code = afflux_main(["--kubeconfig", str(env.source.cluster.kubeconfig), *args])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_a_cycle_across_kinds_is_stalled_with_the_cycle_named_until_it_is_broken(
        env: HelmEnv, repo: str, kustomize: Any, git_source: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    ns = env.namespace
    kustomization(env, "loop", git_source, "HelmRelease/loop-hr")
    helm_release(env, "loop-hr", repo, "Kustomization/loop")

    hr = env.failing("loop-hr", "DependencyCycle", stalled=True)
    assert cond(hr, "Ready")["message"].startswith(
        f"dependency cycle: HelmRelease/{ns}/loop-hr -> Kustomization/{ns}/loop -> "
        f"HelmRelease/{ns}/loop-hr; remove one of these dependencies")

    def ks_stalled() -> dict[str, Any]:
        ks = get_ks(env, "loop")
        stalled = SourceEnv.condition(ks, "Stalled")
        assert stalled is not None and stalled["status"] == "True", stalled
        assert stalled["reason"] == "DependencyCycle", stalled
        return stalled

    stalled = eventually(ks_stalled, TIMEOUT, message="the Kustomization stalled")
    assert stalled["message"].startswith(
        f"dependency cycle: Kustomization/{ns}/loop -> HelmRelease/{ns}/loop-hr -> "
        f"Kustomization/{ns}/loop")
    assert configmap_created(env, "cm-loop") is None

    # `afflux tree --graph` shows the edges across kinds, and the cycle
    graph = afflux(env, capsys, "tree", "--graph")
    assert (f"Kustomization/{ns}/loop (failing)\n"
            f"└── HelmRelease/{ns}/loop-hr (depends-on, failing)\n") in graph
    assert (f"HelmRelease/{ns}/loop-hr -> Kustomization/{ns}/loop -> HelmRelease/{ns}/loop-hr\n"
            in graph)
    doc = json.loads(afflux(env, capsys, "tree", "--graph", "-o", "json"))
    assert {"source": f"Kustomization/{ns}/loop", "target": f"HelmRelease/{ns}/loop-hr",
            "type": "depends-on"} in doc["edges"]

    # break the cycle on the HelmRelease: it installs, and the Kustomization follows
    env.source.api.patch_namespaced_custom_object(
        HR_GROUP, HR_VERSION, ns, HR_PLURAL, "loop-hr",
        {"metadata": {"annotations": {DEPENDS_ON: None}}})
    env.ready("loop-hr")
    eventually(lambda: configmap_created(env, "cm-loop"), TIMEOUT,
               message="the Kustomization applied once the cycle is broken")


def test_a_malformed_annotation_is_stalled_with_what_to_write(
        env: HelmEnv, kustomize: Any, git_source: str) -> None:
    kustomization(env, "waits-on-missing", git_source, "GitRepository/x")

    def stalled() -> dict[str, Any]:
        ready = ready_condition(get_ks(env, "waits-on-missing"))
        assert ready is not None and ready["reason"] == "InvalidDependsOn", ready
        return ready

    ready = eventually(stalled, TIMEOUT, message="the Kustomization stalled")
    assert "kind 'GitRepository' is not one of Kustomization, HelmRelease" in ready["message"]
