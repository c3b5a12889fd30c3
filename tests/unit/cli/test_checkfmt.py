"""The judgements of `check`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from afflux.cli._checkfmt import (
    MIN_KUBERNETES,
    crd_health,
    deployment_health,
    lease_health,
    parse_kube_version,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "version"),
    [("v1.35.4", (1, 35, 4)), ("v1.28.3-gke.100", (1, 28, 3)), ("v1.29.0+k3s1", (1, 29, 0)),
     ("1.30", (1, 30, 0))],
    ids=["plain", "gke", "k3s", "no-patch"],
)
def test_parse_kube_version(text: str, version: tuple[int, int, int]) -> None:
    assert parse_kube_version(text) == version


def test_parse_kube_version_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="Kubernetes version"):
        parse_kube_version("latest")
    assert parse_kube_version("v1.27.9") < MIN_KUBERNETES <= parse_kube_version("v1.28.0")


def _dep(replicas: int | None = 1, ready: int = 1, updated: int = 1, generation: int = 2,
         observed: int = 2) -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    return {"metadata": {"generation": generation}, "spec": spec,
            "status": {"readyReplicas": ready, "updatedReplicas": updated,
                       "observedGeneration": observed}}


@pytest.mark.parametrize(
    ("dep", "ok", "message"),
    [
        pytest.param(_dep(), True, "deployment ready", id="ready"),
        pytest.param(_dep(replicas=None), True, "deployment ready", id="default-replicas"),
        pytest.param(_dep(ready=0), False, "deployment not ready (0/1 replicas ready)",
                     id="not-ready"),
        pytest.param(_dep(observed=1), False, "deployment rollout not observed yet",
                     id="old-generation"),
        pytest.param(_dep(replicas=0, ready=0, updated=0), False, "deployment scaled to zero",
                     id="scaled-down"),
    ],
)
def test_deployment_health(dep: dict[str, Any], ok: bool, message: str) -> None:
    assert deployment_health(dep) == (ok, message)


@pytest.mark.parametrize(
    ("spec", "ok", "message"),
    [
        pytest.param({"holderIdentity": "host_1", "renewTime": "2024-05-01T11:59:57.000000Z",
                      "leaseDurationSeconds": 35}, True,
                     "running (leader lease held by host_1, renewed 3s ago)", id="fresh"),
        pytest.param({"holderIdentity": "host_1", "renewTime": "2024-05-01T11:55:00.000000Z",
                      "leaseDurationSeconds": 35}, False,
                     "leader lease expired (last renewed 5m ago by host_1)", id="expired"),
        pytest.param({}, False, "leader lease not held", id="released"),
    ],
)
def test_lease_health(spec: dict[str, Any], ok: bool, message: str) -> None:
    assert lease_health({"spec": spec}, NOW) == (ok, message)


def test_crd_health() -> None:
    crd = {"metadata": {"name": "imagepolicies.image.toolkit.fluxcd.io"},
           "spec": {"versions": [{"name": "v1beta2", "storage": False},
                                 {"name": "v1", "storage": True}]},
           "status": {"conditions": [{"type": "Established", "status": "True"}]}}
    assert crd_health(crd) == (True, "imagepolicies.image.toolkit.fluxcd.io/v1")
    crd["status"]["conditions"][0]["status"] = "False"
    assert crd_health(crd)[0] is False
