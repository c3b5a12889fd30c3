"""Kustomization end to end under kustomize-controller flags of Flux that change how it
decrypts and applies: `--sops-age-secret` (a controller-wide age key in the runtime
namespace, the fallback of a Kustomization without `decryption.secretRef`) and
`--override-manager` (the fields of the named field managers are taken over at apply, so
what they added is removed; other managers' fields are kept), `--custom-apply-stage-kinds`
(Roles applied in a stage before the other namespaced objects) with `--concurrent-ssa=8`.
The engine's side of the last two, with and without them, is in `tests/integration/test_ssa`.

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment); the runtime namespace (`--namespace`) is the
test's namespace. The same behaviours without these flags are in `test_kustomization_build`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from harness.kustomize_env import TIMEOUT, Env, age_key, configmap, dump, sops_encrypt
from harness.wait import eventually

pytestmark = pytest.mark.integration

AGE_SECRET = "sops-global"
OVERRIDDEN = "someone"
KUSTOMIZE_ARGS = (f"--sops-age-secret={AGE_SECRET}", f"--override-manager={OVERRIDDEN}",
                  "--custom-apply-stage-kinds=rbac.authorization.k8s.io/Role",
                  "--concurrent-ssa=8")


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

