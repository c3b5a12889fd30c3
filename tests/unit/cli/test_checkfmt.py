"""The judgements of `check`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from afflux.cli._checkfmt import (
    MIN_KUBERNETES,
    crd_health,
    deployment_health,
    distribution_text,
    lease_health,
    parse_kube_version,
    unserved_kinds,
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


def _controller(kind: str) -> str:
    return {"Kustomization": "kustomize-controller", "GitRepository": "source-controller",
            "HelmRelease": "helm-controller"}[kind]


@pytest.mark.parametrize(("objects", "running", "expected"), [
    pytest.param({"Kustomization": ["a/x"]}, {"kustomize-controller": True}, [],
                 id="operator-running"),
    pytest.param({"Kustomization": []}, {}, [], id="no-objects"),
    pytest.param({"Kustomization": ["a/x"]}, {"kustomize-controller": False},
                 ["Kustomization: 1 object (a/x) and kustomize-controller is not running: "
                  "nothing reconciles them"], id="one-object-operator-down"),
    pytest.param({"HelmRelease": ["a/1", "a/2", "b/3", "b/4"]}, {},
                 ["HelmRelease: 4 objects (a/1, a/2, b/3, ...) and helm-controller is not "
                  "running: nothing reconciles them"], id="many-objects-operator-unknown"),
    pytest.param({"GitRepository": ["a/g"], "Kustomization": ["a/k"]},
                 {"source-controller": True},
                 ["Kustomization: 1 object (a/k) and kustomize-controller is not running: "
                  "nothing reconciles them"], id="only-the-idle-kind-named"),
])
def test_unserved_kinds(objects: dict[str, list[str]], running: dict[str, bool],
                        expected: list[str]) -> None:
    assert unserved_kinds(objects, running, _controller) == expected


@pytest.mark.parametrize(("distribution", "text"), [
    pytest.param(("afflux", "v0.1.0"), "distribution: afflux-v0.1.0", id="afflux"),
    pytest.param(("flux", "v2.9.5"), "distribution: flux-v2.9.5", id="flux"),
    pytest.param(("flux", ""), "distribution: flux", id="no-version"),
    pytest.param(None, "distribution: unknown (the CRDs carry no distribution labels)",
                 id="unlabelled"),
])
def test_distribution_text(distribution: tuple[str, str] | None, text: str) -> None:
    assert distribution_text(distribution) == text
