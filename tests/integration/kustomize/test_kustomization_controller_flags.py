"""Kustomization end to end under kustomize-controller flags of Flux that change how it
decrypts and applies: `--sops-age-secret` (a controller-wide age key in the runtime
namespace, the fallback of a Kustomization without `decryption.secretRef`).

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment); the runtime namespace (`--namespace`) is the
test's namespace. The same behaviours without these flags are in `test_kustomization_build`.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from harness.kustomize_env import Env, age_key, dump, sops_encrypt

pytestmark = pytest.mark.integration

AGE_SECRET = "sops-global"
KUSTOMIZE_ARGS = (f"--sops-age-secret={AGE_SECRET}",)


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

