"""Kustomization end to end under kustomize-controller flags of Flux that change how it
decrypts and applies: `--sops-age-secret` (a controller-wide age key in the runtime
namespace, the fallback of a Kustomization without `decryption.secretRef`) and
`--override-manager` (the fields of the named field managers are taken over at apply, so
what they added is removed; other managers' fields are kept), `--custom-apply-stage-kinds`
(Roles applied in a stage before the other namespaced objects) with `--concurrent-ssa=8`,
and `--http-retry=3` (an artifact server that answers 503 twice is retried with backoff; a
404 is not).
The engine's side of the last two, with and without them, is in `tests/integration/test_ssa`.

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment); the runtime namespace (`--namespace`) is the
test's namespace. The same behaviours without these flags are in `test_kustomization_build`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from harness.archives import targz
from harness.flaky_http import flaky_artifact_server
from harness.kustomize_env import TIMEOUT, Env, age_key, configmap, dump, sops_encrypt
from harness.wait import eventually

pytestmark = pytest.mark.integration

AGE_SECRET = "sops-global"
OVERRIDDEN = "someone"
KUSTOMIZE_ARGS = (f"--sops-age-secret={AGE_SECRET}", f"--override-manager={OVERRIDDEN}",
                  "--custom-apply-stage-kinds=rbac.authorization.k8s.io/Role",
                  "--concurrent-ssa=8", "--http-retry=3")


def test_sops_age_secret_decrypts_without_a_secret_ref(env: Env, tmp_path: Path) -> None:
    public, key_file = age_key(tmp_path)
    encrypted = sops_encrypt(public, dump({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "global-db", "namespace": env.namespace},
        "stringData": {"password": "correct-horse"}}))
    repo, sha = env.repo({"secret.yaml": encrypted})
    source = env.source(repo)

    # the flag names a Secret that is not there yet: DecryptionFailed naming it
    ks = env.kustomization("global-sops", source, decryption={"provider": "sops"})
    ready = env.wait_failed(ks, "DecryptionFailed")
    assert f"'{env.namespace}/{AGE_SECRET}': not found" in ready["message"], ready
    assert "--sops-age-secret" in ready["message"]

    env.kubectl("create", "secret", "generic", AGE_SECRET,
                f"--from-file=cluster.agekey={key_file}")
    env.reconcile_now(ks)
    env.wait_applied(ks, sha)
    secret = env.get("secret", "global-db")
    assert secret is not None
    assert base64.b64decode(secret["data"]["password"]) == b"correct-horse"

    # a secretRef replaces the controller's key (a fallback, as in Flux): an empty Secret
    # of the Kustomization's own leaves it without the key that would decrypt
    env.kubectl("create", "secret", "generic", "own-keys", "--from-literal=unused=x")
    own = env.kustomization("own-sops", source, decryption={
        "provider": "sops", "secretRef": {"name": "own-keys"}})
    ready = env.wait_failed(own, "BuildFailed")
    assert f"the decryption Secret '{env.namespace}/own-keys'" in ready["message"], ready

    private = key_file.read_text()
    identity = next(line for line in private.splitlines() if line.startswith("AGE-SECRET-KEY-"))
    assert identity not in env.kustomize_controller.log_text(tail=100_000)


def test_override_manager_fields_are_taken_over_at_apply(env: Env) -> None:
    repo, sha = env.repo({"cm.yaml": dump(configmap("owned", {"key": "value"},
                                                    namespace=env.namespace))})
    ks = env.kustomization("override", env.source(repo))
    env.wait_applied(ks, sha)
    env.kubectl("patch", "configmap", "owned", "--type=merge", f"--field-manager={OVERRIDDEN}",
                "-p", '{"data":{"theirs":"x"}}')
    env.kubectl("patch", "configmap", "owned", "--type=merge", "--field-manager=another",
                "-p", '{"data":{"kept":"y"}}')
    env.reconcile_now(ks)

    def taken_over() -> dict[str, Any]:
        cm = env.get("configmap", "owned")
        assert cm is not None
        assert cm["data"] == {"key": "value", "kept": "y"}, cm["data"]
        return cm

    eventually(taken_over, TIMEOUT, message="the overridden manager's key removed")
    cm = json.loads(env.kubectl("get", "configmap", "owned", "-o", "json",
                                "--show-managed-fields").stdout)
    managers = {e["manager"] for e in cm["metadata"]["managedFields"]}
    assert OVERRIDDEN not in managers
    assert "another" in managers  # not named by the flag: its field stays its own


def test_custom_stage_kinds_are_applied_before_the_other_namespaced_objects(env: Env) -> None:
    ns = env.namespace
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "z-reader", "namespace": ns},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}
    configmaps = [configmap(f"a-{i}", namespace=ns) for i in range(6)]
    repo, sha = env.repo({"all.yaml": dump(*configmaps, role)})
    ks = env.kustomization("staged", env.source(repo))
    status = env.wait_applied(ks, sha)
    assert len(status["inventory"]["entries"]) == 7

    def stored(kind: str, name: str) -> int:
        body = env.get(kind, name)
        assert body is not None
        return int(body["metadata"]["resourceVersion"])

    # without the flag a Role goes after ConfigMaps; in its own stage it is stored first
    first_configmap = min(stored("configmap", f"a-{i}") for i in range(6))
    assert stored("role", "z-reader") < first_configmap


def _external_artifact(env: Env, name: str, url: str, body: bytes) -> None:
    """An ExternalArtifact whose producer (the test) says its artifact is at `url`."""
    env.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifact",
               "metadata": {"name": name, "namespace": env.namespace},
               "spec": {"sourceRef": {"apiVersion": "example.dev/v1", "kind": "Producer",
                                      "name": "test"}}})
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    env.kubectl("patch", "externalartifacts.source.toolkit.fluxcd.io", name,
                "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
                    "artifact": {"path": f"external/{name}.tar.gz", "url": url,
                                 "revision": f"latest@{digest}", "digest": digest,
                                 "lastUpdateTime": "2026-01-01T00:00:00Z",
                                 "size": len(body)}}}))


def test_http_retry_retries_transient_failures_and_not_a_404(env: Env) -> None:
    ns = env.namespace
    body = targz({"cm.yaml": dump(configmap("from-flaky", namespace=ns))})
    with flaky_artifact_server() as server:
        flaky = server.serve("/flaky.tar.gz", body, failures=2, status=503)
        # another artifact (the cache holds unpacked artifacts by digest)
        other = targz({"cm.yaml": dump(configmap("never", namespace=ns))})
        gone = server.serve("/gone.tar.gz", other, failures=10**6, status=404)
        _external_artifact(env, "flaky", flaky, body)
        _external_artifact(env, "gone", gone, other)
        ks = env.kustomization("flaky", "flaky", sourceRef={"kind": "ExternalArtifact",
                                                            "name": "flaky"})
        missing = env.kustomization("gone", "gone", sourceRef={"kind": "ExternalArtifact",
                                                               "name": "gone"})

        # two 503s, then the third try (after 5s and 10s) serves it, in one reconcile
        def applied() -> dict[str, Any]:
            cm = env.get("configmap", "from-flaky")
            assert cm is not None and cm["data"] == {"key": "value"}
            return cm

        eventually(applied, TIMEOUT, message="the artifact served on the third try")
        assert server.requests("/flaky.tar.gz") == 3
        ready = env.condition(env.status(ks), "Ready")
        assert ready is not None and ready["status"] == "True", ready

        failed = env.wait_failed(missing, "ArtifactFailed")
        assert "404" in failed["message"], failed
        log = env.kustomize_controller.log_text(tail=100_000)
        retried = [line for line in log.splitlines() if "artifact download failed, retrying"
                   in line]
        assert sum("/flaky.tar.gz" in line for line in retried) == 2
        assert not any("/gone.tar.gz" in line for line in retried)  # a 404 fails at once
