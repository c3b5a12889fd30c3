"""Kustomization end to end under the controller's multi-tenancy and strictness flags
(`--no-cross-namespace-refs=true`, `--feature-gates=StrictPostBuildSubstitutions=true`),
plus suspend and what the events carry.

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment), here with those flags.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.kustomize_env import KS, TIMEOUT, Env, configmap, deployment, dump, replicas
from harness.wait import eventually

pytestmark = pytest.mark.integration


KUSTOMIZE_ARGS = ("--no-cross-namespace-refs=true",  # the `env` of conftest.py
                  "--feature-gates=StrictPostBuildSubstitutions=true")


@pytest.mark.flux_fields("Kustomization", "spec.sourceRef.namespace")
def test_cross_namespace_source_is_refused(env: Env) -> None:
    ks = env.kustomization("cross", "repo", sourceRef={
        "kind": "GitRepository", "name": "repo", "namespace": "somewhere-else"})
    ready = env.wait_failed(ks, "AccessDenied")
    assert "GitRepository/somewhere-else/repo" in ready["message"]
    stalled = env.condition(env.status(ks), "Stalled")
    assert stalled is not None and stalled["status"] == "True"


def test_strict_substitution_fails_on_an_undefined_variable(env: Env) -> None:
    manifest = configmap("strict", {"defined": "${defined}", "defaulted": "${other:=x}",
                                    "undefined": "${missing}"}, namespace=env.namespace)
    repo, sha = env.repo({"cm.yaml": dump(manifest)})
    source = env.source(repo)
    ks = env.kustomization("strict", source, postBuild={"substitute": {"defined": "here"}})
    ready = env.wait_failed(ks, "BuildFailed")
    assert "missing" in ready["message"]
    assert not env.exists("configmap", "strict")

    env.kubectl("patch", KS, ks, "--type=merge", "-p",
                '{"spec":{"postBuild":{"substitute":{"defined":"here","missing":"now"}}}}')
    env.wait_applied(ks, sha)
    cm = env.get("configmap", "strict")
    assert cm is not None and cm["data"] == {"defined": "here", "defaulted": "x",
                                             "undefined": "now"}


@pytest.mark.flux_fields("Kustomization", "spec.suspend")
def test_suspended_kustomization_leaves_drift_alone(env: Env) -> None:

    repo, sha = env.repo({"web.yaml": dump(deployment("paused", namespace=env.namespace))})
    source = env.source(repo)
    ks = env.kustomization("paused", source, interval="2s")
    env.wait_applied(ks, sha)
    env.kubectl("patch", KS, ks, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    env.kubectl("scale", "deployment/paused", "--replicas=4")
    # a few intervals pass without the drift being put back
    with pytest.raises(AssertionError):
        eventually(lambda: replicas(env, "paused") == 1, 6, message="not while suspended")
    env.kubectl("patch", KS, ks, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    eventually(lambda: replicas(env, "paused") == 1, TIMEOUT, message="put back on resume")


def test_events_carry_the_revision_and_the_change_set(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"cm.yaml": dump(configmap("evented", namespace=ns))})
    ks = env.kustomization("evented", env.source(repo))
    env.wait_applied(ks, sha)

    def recorded() -> dict[str, dict[str, Any]]:
        by_reason = {e["reason"]: e for e in env.events(ks)}
        assert {"Progressing", "ReconciliationSucceeded"} <= set(by_reason)
        return by_reason

    events = eventually(recorded, TIMEOUT, message="events of the first apply")
    progressing = events["Progressing"]
    assert progressing["message"] == f"ConfigMap/{ns}/evented created"
    assert progressing["type"] == "Normal"
    assert progressing["metadata"]["annotations"][
        "kustomize.toolkit.fluxcd.io/revision"] == f"main@sha1:{sha}"
    assert progressing["source"]["component"] == "kustomize-controller"
    assert events["ReconciliationSucceeded"]["message"].startswith("Reconciliation finished in ")
