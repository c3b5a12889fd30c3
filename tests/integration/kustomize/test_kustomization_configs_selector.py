"""`--watch-configs-label-selector` end to end: kustomize-controller started with Flux's
documented example `owner!=helm` (every ConfigMap and Secret but Helm's release Secrets)
re-reconciles a Kustomization at once when a ConfigMap it reads changes, though that
ConfigMap does not carry the default `reconcile.fluxcd.io/watch: Enabled` label.

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment), here with that flag.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.kustomize_env import Env, configmap, dump
from harness.wait import eventually

pytestmark = pytest.mark.integration

KUSTOMIZE_ARGS = ("--watch-configs-label-selector=owner!=helm",)  # the `env` of conftest.py


def test_an_unlabelled_configmap_the_selector_selects_is_watched(env: Env) -> None:
    ns = env.namespace
    env.apply({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "plain-vars", "namespace": ns},  # no watch label
               "data": {"colour": "blue"}})
    repo, sha = env.repo({"cm.yaml": dump(configmap("painted", {"colour": "${colour}"},
                                                    namespace=ns))})
    ks = env.kustomization("painted", env.source(repo), interval="10m", postBuild={
        "substituteFrom": [{"kind": "ConfigMap", "name": "plain-vars"}]})
    env.wait_applied(ks, sha)
    assert (env.get("configmap", "painted") or {}).get("data") == {"colour": "blue"}
    env.kubectl("patch", "configmap", "plain-vars", "--type=merge",
                "-p", '{"data":{"colour":"green"}}')

    def recoloured() -> dict[str, Any]:
        cm = env.get("configmap", "painted")
        assert cm is not None and cm["data"] == {"colour": "green"}, cm
        return cm

    # the interval is 10m: only the watch can bring the new value in this time
    eventually(recoloured, 30, message="the selected ConfigMap's new value applied")
