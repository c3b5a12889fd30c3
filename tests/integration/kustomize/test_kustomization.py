"""Kustomization end to end: the real source-controller and kustomize-controller as their own
processes, the real cluster, a real Git server.

Every test pushes manifests to its own repository, points a GitRepository and a
Kustomization at it, and checks the cluster and the Kustomization's status: drift put back,
a deleted object coming back, a new image tag rolling out, `git revert` rolling back,
pruning, a generated kustomization.yaml, the spec overlay (targetNamespace, namePrefix,
patches, images), postBuild substitution, SOPS with a real age key, dependsOn, health checks,
a CRD with its custom resources, a build failure that applies and prunes nothing,
impersonation refused by RBAC, a remote kubeconfig, the per-object annotations, and
deletion with its policies.
"""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest

from harness.kustomize_env import (
    KS,
    TIMEOUT,
    Env,
    configmap,
    deployment,
    dump,
    image,
    replicas,
    service,
)
from harness.wait import eventually

pytestmark = pytest.mark.integration


# --- the seed scenarios ------------------------------------------------------------------------


@pytest.mark.flux_fields("Kustomization", "spec.path", "spec.sourceRef.kind", "spec.sourceRef.name",
                         "status.inventory.entries[].id", "status.lastAppliedRevision")
def test_drift_is_put_back_and_a_deleted_service_comes_back(env: Env) -> None:
    repo, sha = env.repo({"app/web.yaml": dump(deployment("web", replicas=2, namespace=env.namespace),
                                               service("web", env.namespace))})
    ks = env.kustomization("drift", env.source(repo), path="./app", interval="3s")
    status = env.wait_applied(ks, sha)
    assert {e["id"] for e in status["inventory"]["entries"]} == {
        f"{env.namespace}_web_apps_Deployment", f"{env.namespace}_web__Service"}
    web = env.get("deployment", "web")
    assert web is not None
    assert web["metadata"]["labels"] == {"kustomize.toolkit.fluxcd.io/name": ks,
                                         "kustomize.toolkit.fluxcd.io/namespace": env.namespace}

    env.kubectl("scale", "deployment/web", "--replicas=5")
    eventually(lambda: replicas(env, "web") == 2, TIMEOUT, message="replicas put back to 2")

    env.kubectl("delete", "service", "web")
    eventually(lambda: env.exists("service", "web"), TIMEOUT, message="the Service back")


@pytest.mark.flux_fields("Kustomization", "status.history[].metadata")
def test_new_image_tag_rolls_out_and_git_revert_rolls_back(env: Env, tmp_path: Any) -> None:
    repo, first = env.repo({"web.yaml": dump(deployment("roll", "example.invalid/web:1.0",
                                                        namespace=env.namespace))})
    source = env.source(repo)
    ks = env.kustomization("roll", source)
    env.wait_applied(ks, first)
    assert image(env, "roll") == "example.invalid/web:1.0"

    second = env.push(repo, source, {"web.yaml": dump(deployment(
        "roll", "example.invalid/web:1.1", namespace=env.namespace))}, "bump to 1.1")
    env.wait_applied(ks, second)
    assert image(env, "roll") == "example.invalid/web:1.1"

    # a real `git revert` of the bump, pushed with the git CLI
    auth_url = repo.url.replace("http://", f"http://{env.git.username}:{env.git.password}@")
    work = tmp_path / "clone"
    git = ["git", "-c", "user.name=afflux tests", "-c", "user.email=tests@afflux.invalid"]
    subprocess.run([*git, "clone", "-q", auth_url, str(work)], check=True, capture_output=True)
    subprocess.run([*git, "-C", str(work), "revert", "--no-edit", "HEAD"], check=True,
                   capture_output=True)
    subprocess.run([*git, "-C", str(work), "push", "-q", "origin", "main"], check=True,
                   capture_output=True)
    reverted = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    env.fetch_now(source)
    status = env.wait_applied(ks, reverted)
    assert image(env, "roll") == "example.invalid/web:1.0"
    assert [h["metadata"]["revision"] for h in status["history"]][:2] == [
        f"main@sha1:{reverted}", f"main@sha1:{second}"]


@pytest.mark.flux_fields("Kustomization", "spec.prune")
def test_object_removed_from_git_is_pruned(env: Env) -> None:
    ns = env.namespace
    repo, first = env.repo({"a.yaml": dump(configmap("prune-a", namespace=ns)),
                            "b.yaml": dump(configmap("prune-b", namespace=ns)),
                            "c.yaml": dump(configmap("prune-c", namespace=ns, annotations={
                                "kustomize.toolkit.fluxcd.io/prune": "disabled"}))})
    source = env.source(repo)
    ks = env.kustomization("prune", source)
    env.wait_applied(ks, first)
    second = env.push(repo, source, {"b.yaml": None, "c.yaml": None}, "drop b and c")
    status = env.wait_applied(ks, second)
    eventually(lambda: not env.exists("configmap", "prune-b"), TIMEOUT, message="b pruned")
    assert env.exists("configmap", "prune-a")
    assert env.exists("configmap", "prune-c")  # prune: disabled
    assert [e["id"] for e in status["inventory"]["entries"]] == [f"{ns}_prune-a__ConfigMap"]
    messages = [e["message"] for e in env.events(ks)]
    assert f"ConfigMap/{ns}/prune-b deleted" in messages


def test_source_revision_change_is_applied_at_once(env: Env) -> None:
    """With a 10m interval on both objects, a new commit still lands within seconds: the
    fetch is requested on the GitRepository, and kustomize-controller reacts to the new
    artifact revision by itself (the Kustomization is never annotated)."""
    repo, first = env.repo({"cm.yaml": dump(configmap("react", {"v": "1"}, namespace=env.namespace))})
    source = env.source(repo)
    ks = env.kustomization("react", source, interval="10m")
    env.wait_applied(ks, first)
    second = env.push(repo, source, {"cm.yaml": dump(configmap(
        "react", {"v": "2"}, namespace=env.namespace))})
    env.wait_applied(ks, second, timeout=30)
    cm = env.get("configmap", "react")
    assert cm is not None and cm["data"] == {"v": "2"}


def test_kustomizations_of_one_revision_share_one_download(env: Env) -> None:
    """Three Kustomizations building three paths of one GitRepository: the artifact is
    downloaded and unpacked once per revision (a cache keyed by its digest), not once per
    Kustomization and interval; a new revision is downloaded once again."""
    ns = env.namespace
    files = {f"apps/{n}/cm.yaml": dump(configmap(f"shared-{n}", {"v": "1"}, namespace=ns))
             for n in ("a", "b", "c")}
    repo, first = env.repo(files)
    source = env.source(repo)
    before = env.metric("afflux_artifact_downloads_total")
    names = [env.kustomization(f"shared-{n}", source, path=f"./apps/{n}") for n in "abc"]
    for name in names:
        env.wait_applied(name, first)
    assert env.metric("afflux_artifact_downloads_total") - before == 1
    second = env.push(repo, source, {"apps/b/cm.yaml": dump(configmap(
        "shared-b", {"v": "2"}, namespace=ns))})
    for name in names:
        env.wait_applied(name, second)
    assert env.metric("afflux_artifact_downloads_total") - before == 2
    cm = env.get("configmap", "shared-b")
    assert cm is not None and cm["data"] == {"v": "2"}


@pytest.mark.flux_fields("Kustomization", "spec.namePrefix", "status.lastHandledReconcileAt")
def test_a_no_change_reconcile_reuses_the_last_build(env: Env) -> None:
    """Same artifact, spec and keys: the build is reused (no `kustomize build`), yet drift is
    still put back; a spec change builds again."""
    ns = env.namespace
    repo, sha = env.repo({"app/cm.yaml": dump(configmap("cached", {"v": "1"}, namespace=ns))})
    ks = env.kustomization("cached", env.source(repo), path="./app")
    env.wait_applied(ks, sha)
    built, hits = (env.metric("afflux_build_cache_misses_total"),
                   env.metric("afflux_build_cache_hits_total"))

    env.kubectl("patch", "configmap", "cached", "--type=merge", "-p", '{"data":{"v":"drifted"}}')
    handled = env.status(ks).get("lastHandledReconcileAt")
    env.kubectl("annotate", "--overwrite", KS, ks,
                f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")
    eventually(lambda: env.status(ks).get("lastHandledReconcileAt") != handled, TIMEOUT,
               message="the requested reconcile ran")
    eventually(lambda: env.get("configmap", "cached")["data"] == {"v": "1"}, TIMEOUT,
               message="drift put back from the cached build")
    assert env.metric("afflux_build_cache_misses_total") == built
    assert env.metric("afflux_build_cache_hits_total") > hits

    env.kubectl("patch", KS, ks, "--type=merge", "-p", '{"spec":{"namePrefix":"p-"}}')
    eventually(lambda: env.exists("configmap", "p-cached"), TIMEOUT,
               message="the new spec built and applied")
    assert env.metric("afflux_build_cache_misses_total") > built
