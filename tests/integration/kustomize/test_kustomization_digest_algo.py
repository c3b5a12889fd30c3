"""source-controller's `--artifact-digest-algo=sha512` end to end: the real source-controller
writes the GitRepository's artifact with a `sha512:<hex>` digest (the hash of the bytes it
serves), and the real kustomize-controller verifies the download with the algorithm the
digest names and applies it; an artifact whose bytes do not have that digest is refused.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request

import pytest

from harness.kustomize_env import GITREPO, TIMEOUT, Env, configmap, dump
from harness.wait import eventually

pytestmark = pytest.mark.integration

SOURCE_ARGS = ("--artifact-digest-algo=sha512",)


def _artifact(env: Env, source: str) -> dict[str, str]:
    def stored() -> dict[str, str]:
        body = env.get(GITREPO, source)
        artifact = ((body or {}).get("status") or {}).get("artifact")
        assert artifact, body
        return artifact

    return eventually(stored, TIMEOUT, message=f"artifact of {source}")


@pytest.mark.flux_fields("GitRepository", "status.artifact.digest")
def test_sha512_artifact_is_applied(env: Env) -> None:
    files = {"deploy/cm.yaml": dump(configmap("digest-algo", {"v": "1"}, namespace=env.namespace))}
    repo, sha = env.repo(files)
    source = env.source(repo)
    artifact = _artifact(env, source)
    algorithm, _, hex_ = artifact["digest"].partition(":")
    assert algorithm == "sha512" and len(hex_) == 128, artifact
    with urllib.request.urlopen(artifact["url"], timeout=30) as resp:  # noqa: S310
        served = resp.read()
    assert hashlib.sha512(served).hexdigest() == hex_

    ks = env.kustomization("digest-algo", source, path="./deploy")
    env.wait_applied(ks, sha)
    cm = env.get("configmap", "digest-algo")
    assert cm is not None and cm["data"] == {"v": "1"}

    # a new commit gets a new sha512 artifact, applied as well
    sha2 = env.push(
        repo,
        source,
        {"deploy/cm.yaml": dump(configmap("digest-algo", {"v": "2"}, namespace=env.namespace))},
    )
    env.wait_applied(ks, sha2)
    cm = env.get("configmap", "digest-algo")
    assert cm is not None and cm["data"] == {"v": "2"}
    assert _artifact(env, source)["digest"].startswith("sha512:")


def test_a_wrong_sha512_digest_is_refused(env: Env) -> None:
    """An ExternalArtifact-like producer that announces a sha512 digest the bytes do not
    have: the Kustomization fails with ArtifactFailed naming the sha512 mismatch."""
    files = {"deploy/cm.yaml": dump(configmap("digest-wrong", {"v": "1"}, namespace=env.namespace))}
    repo, _ = env.repo(files)
    source = env.source(repo)
    artifact = _artifact(env, source)
    # suspend the source so it does not rewrite its status, then announce a wrong digest
    env.kubectl("patch", GITREPO, source, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    wrong = dict(artifact, digest="sha512:" + "0" * 128, revision="main@sha1:" + "e" * 40)
    env.kubectl(
        "patch",
        GITREPO,
        source,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"artifact": wrong}}),
    )
    ks = env.kustomization("digest-wrong", source, path="./deploy")
    ready = env.wait_failed(ks, "ArtifactFailed")
    assert "sha512:" + "0" * 128 in ready["message"], ready
    assert not env.exists("configmap", "digest-wrong")
