"""helm-controller under Flux flags that change what it does with the cluster:
`--override-manager` (drift detection takes over the fields of the named field managers,
so a field one of them added to a release's object is a drift, corrected; the fields of
other managers are left alone).

The real source-controller and helm-controller run as processes, with the real helm
binary and the chart `life` of a real chart repository (`helm_env`).
"""

from __future__ import annotations

import pytest
from helm_env import HelmEnv, release
from source_env import SourceEnv

from harness.wait import eventually

pytestmark = pytest.mark.integration
ENV_LABEL = "helmflags"
OVERRIDDEN = "someone"
HELM_ARGS = (f"--override-manager={OVERRIDDEN}",)


def _reconciled(env: HelmEnv, name: str) -> dict:
    stamp = env.request(name)
    return env.ready(name, check=lambda o: o["status"].get("lastHandledReconcileAt") == stamp)


def test_override_manager_fields_are_taken_over_by_drift_detection(env: HelmEnv,
                                                                   repo: str) -> None:
    name = release(env, repo, {}, driftDetection={"mode": "enabled"})
    env.ready(name, "InstallSucceeded")
    ns = env.namespace
    core = env.source.core
    # a key added by the overridden manager, another by a manager the flag does not name
    core.patch_namespaced_config_map(name, ns, {"data": {"theirs": "x"}},
                                     field_manager=OVERRIDDEN)
    core.patch_namespaced_config_map(name, ns, {"data": {"kept": "y"}},
                                     field_manager="another")
    assert {"theirs", "kept"} <= set(env.configmap(name)["data"])

    obj = _reconciled(env, name)
    assert SourceEnv.condition(obj, "Drifted") is None

    def corrected() -> dict:
        data = env.configmap(name)["data"]
        assert "theirs" not in data and data.get("kept") == "y", data
        return data

    data = eventually(corrected, 60, message="the overridden manager's key removed")
    assert data["replicas"] == "1"  # the chart's own key is still there
    managers = {e["manager"] for e in env.configmap(name)["metadata"]["managed_fields"]}
    assert OVERRIDDEN not in managers and "another" in managers
    env.delete(name)
