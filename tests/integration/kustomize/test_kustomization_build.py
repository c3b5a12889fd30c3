"""Kustomization end to end, what the build makes of the repository: a generated
kustomization.yaml, the spec's overlay (targetNamespace, namePrefix, patches, images),
postBuild substitution (inline, from a ConfigMap and from a Secret), SOPS decryption with a
real age key, and a build failure that applies nothing and prunes nothing.

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment).
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.kustomize_env import (
    TIMEOUT,
    Env,
    age_key,
    configmap,
    deployment,
    dump,
    image,
    sops_encrypt,
)
from harness.wait import eventually

pytestmark = pytest.mark.integration


@pytest.mark.flux_fields("Kustomization", "spec.path")
def test_generated_kustomization_covers_nested_directories(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({
        "deploy/a.yaml": dump(configmap("gen-a", namespace=ns)),
        "deploy/nested/b.yml": dump(configmap("gen-b", namespace=ns)),
        "deploy/nested/values.yaml": "replicas: 3\nimage: web\n",  # not a manifest: left out
        "deploy/own/kustomization.yaml": dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["c.yaml"]}),
        "deploy/own/c.yaml": dump(configmap("gen-c", namespace=ns)),
        "deploy/own/unlisted.yaml": dump(configmap("gen-unlisted", namespace=ns)),
        "elsewhere/d.yaml": dump(configmap("gen-d", namespace=ns)),
    })
    ks = env.kustomization("generated", env.source(repo), path="./deploy")
    status = env.wait_applied(ks, sha)
    assert sorted(e["id"] for e in status["inventory"]["entries"]) == [
        f"{ns}_gen-a__ConfigMap", f"{ns}_gen-b__ConfigMap", f"{ns}_gen-c__ConfigMap"]


@pytest.mark.flux_fields("Kustomization", "spec.targetNamespace", "spec.namePrefix",
                         "spec.patches[].patch", "spec.patches[].target.kind", "spec.images[].name",
                         "spec.images[].newTag")
def test_overlay_target_namespace_prefix_patches_and_images(env: Env) -> None:
    target = f"t-ks-target-{uuid.uuid4().hex[:6]}"
    env.cluster.kubectl("create", "namespace", target)
    try:
        repo, sha = env.repo({"app/web.yaml": dump(
            deployment("web", "ghcr.invalid/acme/web:1.0"), configmap("settings"))})
        ks = env.kustomization(
            "overlay", env.source(repo), path="./app", targetNamespace=target,
            namePrefix="pre-",
            patches=[{"target": {"kind": "Deployment"}, "patch": dump({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "any"},
                "spec": {"replicas": 3}})},
                {"target": {"kind": "ConfigMap", "name": "settings"}, "patch": yaml.safe_dump([
                    {"op": "add", "path": "/data/patched", "value": "yes"}])}],
            images=[{"name": "ghcr.invalid/acme/web", "newTag": "2.0"}],
        )
        status = env.wait_applied(ks, sha)
        assert sorted(e["id"] for e in status["inventory"]["entries"]) == [
            f"{target}_pre-settings__ConfigMap", f"{target}_pre-web_apps_Deployment"]
        web = env.get("deployment", "pre-web", target)
        assert web is not None and web["spec"]["replicas"] == 3
        assert image(env, "pre-web", target) == "ghcr.invalid/acme/web:2.0"
        settings = env.get("configmap", "pre-settings", target)
        assert settings is not None and settings["data"] == {"key": "value", "patched": "yes"}
    finally:
        env.cluster.kubectl("delete", "namespace", target, "--wait=false", check=False)


@pytest.mark.flux_fields("Kustomization", "spec.postBuild.substitute",
                         "spec.postBuild.substituteFrom[].kind",
                         "spec.postBuild.substituteFrom[].name",
                         "spec.postBuild.substituteFrom[].optional")
def test_post_build_substitution_inline_configmap_and_secret(env: Env) -> None:
    ns = env.namespace
    env.kubectl("create", "configmap", "vars-cm", "--from-literal=region=eu-west",
                "--from-literal=tier=from-configmap")
    env.kubectl("create", "secret", "generic", "vars-secret", "--from-literal=token=s3cr3t",
                "--from-literal=tier=from-secret")
    manifest = configmap("substituted", {
        "region": "${region}", "token": "${token}", "tier": "${tier}",
        "size": "${size:=small}", "literal": "$${region}", "shell": "$HOME",
    }, namespace=ns)
    repo, sha = env.repo({"cm.yaml": dump(manifest)})
    ks = env.kustomization("substitute", env.source(repo), postBuild={
        "substitute": {"tier": "inline"},
        "substituteFrom": [{"kind": "ConfigMap", "name": "vars-cm"},
                           {"kind": "Secret", "name": "vars-secret"},
                           {"kind": "ConfigMap", "name": "absent", "optional": True}],
    })
    env.wait_applied(ks, sha)
    cm = env.get("configmap", "substituted")
    assert cm is not None and cm["data"] == {
        "region": "eu-west", "token": "s3cr3t", "tier": "inline", "size": "small",
        "literal": "${region}", "shell": "$HOME"}

    # a required source that is missing is a build failure, and says which one
    env.kubectl("patch", "kustomization.kustomize.toolkit.fluxcd.io", ks, "--type=merge", "-p",
                '{"spec":{"postBuild":{"substituteFrom":[{"kind":"Secret","name":"nope"}]}}}')
    ready = env.wait_failed(ks, "BuildFailed")
    assert f"Secret/{ns}/nope" in ready["message"]


def test_watched_configmap_change_is_applied_at_once(env: Env) -> None:
    """A ConfigMap labelled reconcile.fluxcd.io/watch=Enabled that a Kustomization reads in
    substituteFrom: changing it reconciles the Kustomization at once (interval 10m)."""
    ns = env.namespace
    env.apply({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "watched-vars", "namespace": ns,
                            "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
               "data": {"colour": "blue"}})
    repo, sha = env.repo({"cm.yaml": dump(configmap("watched", {"colour": "${colour}"},
                                                    namespace=ns))})
    ks = env.kustomization("watched", env.source(repo), interval="10m", postBuild={
        "substituteFrom": [{"kind": "ConfigMap", "name": "watched-vars"}]})
    env.wait_applied(ks, sha)
    env.kubectl("patch", "configmap", "watched-vars", "--type=merge",
                "-p", '{"data":{"colour":"green"}}')

    def recoloured() -> dict[str, Any]:
        cm = env.get("configmap", "watched")
        assert cm is not None and cm["data"] == {"colour": "green"}, cm
        return cm

    eventually(recoloured, 30, message="the watched ConfigMap's new value applied")


@pytest.mark.flux_fields("Kustomization", "spec.decryption.provider",
                         "spec.decryption.secretRef.name")
def test_sops_secret_is_decrypted_with_a_real_age_key(env: Env, tmp_path: Path) -> None:
    public, key_file = age_key(tmp_path)
    plain = dump({"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "db", "namespace": env.namespace},
                  "stringData": {"password": "hunter2"}})
    encrypted = sops_encrypt(public, plain)
    assert "hunter2" not in encrypted
    env.kubectl("create", "secret", "generic", "sops-age",
                f"--from-file=identity.agekey={key_file}")
    repo, sha = env.repo({"secret.yaml": encrypted})
    source = env.source(repo)

    # without decryption the encrypted Secret is refused, and nothing is applied
    plain_ks = env.kustomization("sops-missing", source)
    ready = env.wait_failed(plain_ks, "BuildFailed")
    assert "Secret" in ready["message"] and "db" in ready["message"]

    # provider sops without a secretRef, and no --sops-age-secret on this controller: no key
    keyless = env.kustomization("sops-keyless", source, decryption={"provider": "sops"})
    ready = env.wait_failed(keyless, "BuildFailed")
    assert ("no decryption key: spec.decryption.secretRef is not set and the controller has "
            "no --sops-age-secret") in ready["message"], ready
    assert not env.exists("secret", "db")

    ks = env.kustomization("sops", source, decryption={
        "provider": "sops", "secretRef": {"name": "sops-age"}})
    env.wait_applied(ks, sha)
    secret = env.get("secret", "db")
    assert secret is not None
    assert base64.b64decode(secret["data"]["password"]) == b"hunter2"


@pytest.mark.flux_fields("Kustomization", "status.lastAttemptedRevision",
                         "status.lastAppliedRevision", "status.inventory.entries[].id")
def test_invalid_yaml_fails_the_build_and_nothing_is_applied_or_pruned(env: Env) -> None:
    ns = env.namespace
    repo, first = env.repo({"keep.yaml": dump(configmap("bf-keep", namespace=ns))})
    source = env.source(repo)
    ks = env.kustomization("broken", source)
    env.wait_applied(ks, first)

    second = env.push(repo, source, {
        "keep.yaml": None,  # would be pruned, were the build good
        "new.yaml": dump(configmap("bf-new", namespace=ns)),
        "broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n",
    })
    ready = env.wait_failed(ks, "BuildFailed")
    assert "broken.yaml" in ready["message"]
    status = env.status(ks)
    assert status["lastAttemptedRevision"] == f"main@sha1:{second}"
    assert status["lastAppliedRevision"] == f"main@sha1:{first}"
    assert env.exists("configmap", "bf-keep")
    assert not env.exists("configmap", "bf-new")
    assert [e["id"] for e in status["inventory"]["entries"]] == [f"{ns}_bf-keep__ConfigMap"]
    warnings = [e for e in env.events(ks) if e["type"] == "Warning"]
    assert any(e["reason"] == "BuildFailed" and "broken.yaml" in e["message"] for e in warnings)

    third = env.push(repo, source, {"broken.yaml": None})
    env.wait_applied(ks, third)
    eventually(lambda: not env.exists("configmap", "bf-keep"), TIMEOUT,
               message="bf-keep pruned once the build is good again")
    assert env.exists("configmap", "bf-new")


def test_components_and_spec_path_must_stay_inside_the_artifact(env: Env) -> None:
    repo, _ = env.repo({"cm.yaml": dump(configmap("outside", namespace=env.namespace))})
    ks = env.kustomization("escape", env.source(repo), path="../../etc")
    ready = env.wait_failed(ks, "BuildFailed")
    assert "outside the source artifact" in ready["message"]


def test_missing_path_is_an_artifact_failure(env: Env) -> None:
    repo, _ = env.repo({"deploy/cm.yaml": dump(configmap("nowhere", namespace=env.namespace))})
    ks = env.kustomization("no-path", env.source(repo), path="./does-not-exist")

    def path_not_found() -> bool:
        ready = env.wait_failed(ks, "ArtifactFailed")
        return bool(ready["message"] == ("kustomization path not found: './does-not-exist' is "
                                         "not a directory in the source artifact"))

    eventually(path_not_found, TIMEOUT, message="ArtifactFailed for the path")
