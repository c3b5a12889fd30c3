"""The conversion between the removed API versions and the stored ones (afflux.api.conversion).

Table-driven cases for each documented rename, move and drop; property-style round trips
over seeded random objects: current -> old -> current is the identity, old -> current ->
old -> current equals old -> current (converting again changes nothing).
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
import yaml

from afflux.api.conversion import (
    CONVERTIBLE,
    ConversionError,
    convert,
    current_api_version,
    legacy_api_versions,
    review_response,
)

KS1, KS_OLD = "kustomize.toolkit.fluxcd.io/v1", "kustomize.toolkit.fluxcd.io/v1beta2"
GIT1, GIT_OLD = "source.toolkit.fluxcd.io/v1", "source.toolkit.fluxcd.io/v1beta2"
HR2 = "helm.toolkit.fluxcd.io/v2"
HR_B1, HR_B2 = "helm.toolkit.fluxcd.io/v2beta1", "helm.toolkit.fluxcd.io/v2beta2"


def obj(api_version: str, kind: str, spec: dict[str, Any],
        status: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind,
                           "metadata": {"name": "x", "namespace": "default"}, "spec": spec}
    if status is not None:
        out["status"] = status
    return out


SMP = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
       "spec": {"replicas": 2}}
OPS = [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]
TARGET = {"kind": "Deployment", "name": "web"}

# (id, input, desired apiVersion, expected spec, expected status)
CASES: list[tuple[str, dict[str, Any], str, dict[str, Any], dict[str, Any] | None]] = [
    ("kustomization-v1beta2-validation-dropped",
     obj(KS_OLD, "Kustomization", {"interval": "1m", "prune": True, "validation": "client"}),
     KS1, {"interval": "1m", "prune": True}, None),
    ("kustomization-v1beta2-strategic-merge-to-patches",
     obj(KS_OLD, "Kustomization", {"prune": True, "patchesStrategicMerge": [SMP]}),
     KS1, {"prune": True, "patches": [{"patch": yaml.safe_dump(SMP, sort_keys=False)}]}, None),
    ("kustomization-v1beta2-json6902-to-patches-before-existing",
     obj(KS_OLD, "Kustomization", {"prune": True, "patches": [{"patch": "p"}],
                                   "patchesJson6902": [{"patch": OPS, "target": TARGET}]}),
     KS1, {"prune": True, "patches": [{"patch": yaml.safe_dump(OPS, sort_keys=False),
                                       "target": TARGET}, {"patch": "p"}]}, None),
    ("kustomization-v1beta2-status-unchanged",
     obj(KS_OLD, "Kustomization", {"prune": False},
         {"lastAppliedRevision": "main@sha1:abc", "observedGeneration": 2}),
     KS1, {"prune": False}, {"lastAppliedRevision": "main@sha1:abc", "observedGeneration": 2}),
    ("kustomization-v1-to-v1beta2-unchanged",
     obj(KS1, "Kustomization", {"prune": True, "ignore": [{"paths": ["/spec/replicas"]}]}),
     KS_OLD, {"prune": True, "ignore": [{"paths": ["/spec/replicas"]}]}, None),
    ("gitrepository-v1beta2-gitimplementation-and-accessfrom-dropped",
     obj(GIT_OLD, "GitRepository", {"url": "https://h/r", "gitImplementation": "libgit2",
                                    "accessFrom": {"namespaceSelectors": [{}]}}),
     GIT1, {"url": "https://h/r"}, None),
    ("gitrepository-v1beta2-verify-head-upper-cased",
     obj(GIT_OLD, "GitRepository", {"verify": {"mode": "head", "secretRef": {"name": "k"}}}),
     GIT1, {"verify": {"mode": "HEAD", "secretRef": {"name": "k"}}}, None),
    ("gitrepository-v1beta2-checksum-to-digest",
     obj(GIT_OLD, "GitRepository", {}, {"artifact": {"checksum": "ab12", "revision": "r"},
                                        "contentConfigChecksum": "sha256:0"}),
     GIT1, {}, {"artifact": {"digest": "sha256:ab12", "revision": "r"}}),
    ("gitrepository-v1beta2-checksum-dropped-beside-digest",
     obj(GIT_OLD, "GitRepository", {}, {"includedArtifacts": [
         {"checksum": "old", "digest": "sha256:new"}]}),
     GIT1, {}, {"includedArtifacts": [{"digest": "sha256:new"}]}),
    ("gitrepository-v1-to-v1beta2-checksum-and-head-for-old-readers",
     obj(GIT1, "GitRepository", {"verify": {"mode": "HEAD"}},
         {"artifact": {"digest": "sha256:ff"}}),
     GIT_OLD, {"verify": {"mode": "head"}}, {"artifact": {"digest": "sha256:ff",
                                                          "checksum": "ff"}}),
    ("gitrepository-v1-to-v1beta2-tag-mode-kept",
     obj(GIT1, "GitRepository", {"verify": {"mode": "TagAndHEAD"}}),
     GIT_OLD, {"verify": {"mode": "TagAndHEAD"}}, None),
    ("helmrelease-v2beta1-valuesfile-to-valuesfiles",
     obj(HR_B1, "HelmRelease", {"chart": {"spec": {"chart": "c", "valuesFile": "a.yaml",
                                                   "valuesFiles": ["b.yaml"]}}}),
     HR2, {"chart": {"spec": {"chart": "c", "valuesFiles": ["a.yaml", "b.yaml"]}}}, None),
    ("helmrelease-v2beta1-valuesfile-already-first-not-repeated",
     obj(HR_B1, "HelmRelease", {"chart": {"spec": {"valuesFile": "a.yaml",
                                                   "valuesFiles": ["a.yaml"]}}}),
     HR2, {"chart": {"spec": {"valuesFiles": ["a.yaml"]}}}, None),
    ("helmrelease-v2beta1-postrenderer-patches-moved",
     obj(HR_B1, "HelmRelease", {"postRenderers": [{"kustomize": {
         "patchesStrategicMerge": [SMP], "patchesJson6902": [{"patch": OPS, "target": TARGET}],
         "images": [{"name": "a"}]}}]}),
     HR2, {"postRenderers": [{"kustomize": {"images": [{"name": "a"}], "patches": [
         {"patch": yaml.safe_dump(SMP, sort_keys=False)},
         {"patch": yaml.safe_dump(OPS, sort_keys=False), "target": TARGET}]}}]}, None),
    ("helmrelease-v2beta1-lastappliedrevision-kept-without-history",
     obj(HR_B1, "HelmRelease", {}, {"lastAppliedRevision": "1.2.3", "lastReleaseRevision": 4}),
     HR2, {}, {"lastAppliedRevision": "1.2.3", "lastReleaseRevision": 4}),
    ("helmrelease-v2beta2-lastappliedrevision-dropped-when-history-says-it",
     obj(HR_B2, "HelmRelease", {}, {"lastAppliedRevision": "1.2.3", "lastReleaseRevision": 4,
                                    "history": [{"chartVersion": "1.2.3", "version": 4}]}),
     HR2, {}, {"history": [{"chartVersion": "1.2.3", "version": 4}]}),
    ("helmrelease-v2-to-v2beta1-lastappliedrevision-from-history",
     obj(HR2, "HelmRelease", {}, {"history": [{"chartVersion": "2.0.0", "version": 7},
                                              {"chartVersion": "1.0.0", "version": 6}]}),
     HR_B1, {}, {"history": [{"chartVersion": "2.0.0", "version": 7},
                             {"chartVersion": "1.0.0", "version": 6}],
                 "lastAppliedRevision": "2.0.0", "lastReleaseRevision": 7}),
    ("helmrelease-v2beta1-to-v2beta2-through-v2",
     obj(HR_B1, "HelmRelease", {"chart": {"spec": {"valuesFile": "a.yaml"}}}),
     HR_B2, {"chart": {"spec": {"valuesFiles": ["a.yaml"]}}}, None),
]


@pytest.mark.parametrize(("given", "desired", "spec", "status"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_convert(given: dict[str, Any], desired: str, spec: dict[str, Any],
                 status: dict[str, Any] | None) -> None:
    before = copy.deepcopy(given)
    out = convert(given, desired)
    assert given == before, "the input is left alone"
    assert out["apiVersion"] == desired
    assert out["metadata"] == given["metadata"]
    assert out["spec"] == spec
    assert out.get("status") == status


ERRORS = [
    ("unknown-kind", obj("source.toolkit.fluxcd.io/v1beta2", "HelmRepository", {}), GIT1,
     "converts no HelmRepository"),
    ("unknown-version", obj("kustomize.toolkit.fluxcd.io/v1beta1", "Kustomization", {}), KS1,
     "not kustomize.toolkit.fluxcd.io/v1beta1"),
    ("other-group", obj(KS_OLD, "Kustomization", {}), GIT1, "to group"),
    ("desired-unknown", obj(KS1, "Kustomization", {}), "kustomize.toolkit.fluxcd.io/v9",
     "not kustomize.toolkit.fluxcd.io/v9"),
]


@pytest.mark.parametrize(("given", "desired", "message"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_convert_refuses(given: dict[str, Any], desired: str, message: str) -> None:
    with pytest.raises(ConversionError, match=message):
        convert(given, desired)


def test_versions_table() -> None:
    assert current_api_version("helm.toolkit.fluxcd.io", "HelmRelease") == HR2
    assert legacy_api_versions("helm.toolkit.fluxcd.io", "HelmRelease") == ("v2beta2", "v2beta1")
    assert current_api_version("source.toolkit.fluxcd.io", "Bucket") is None
    assert legacy_api_versions("source.toolkit.fluxcd.io", "Bucket") == ()


# --- ConversionReview ----------------------------------------------------------------------


def _review(desired: str, *objects: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
            "request": {"uid": "u-1", "desiredAPIVersion": desired, "objects": list(objects)}}


def test_review_converts_every_object() -> None:
    old = obj(KS_OLD, "Kustomization", {"prune": True, "validation": "none"})
    out = review_response(_review(KS1, old, old))
    assert out["kind"] == "ConversionReview"
    assert out["response"]["uid"] == "u-1"
    assert out["response"]["result"] == {"status": "Success"}
    assert [o["apiVersion"] for o in out["response"]["convertedObjects"]] == [KS1, KS1]
    assert "validation" not in out["response"]["convertedObjects"][0]["spec"]


def test_review_refuses_kinds_the_server_does_not_own() -> None:
    git = obj(GIT_OLD, "GitRepository", {})
    out = review_response(_review(GIT1, git), kinds=[("kustomize.toolkit.fluxcd.io",
                                                      "Kustomization")])
    assert out["response"]["result"]["status"] == "Failure"
    assert "converts Kustomization, not GitRepository" in out["response"]["result"]["message"]
    assert "convertedObjects" not in out["response"]


def test_review_failure_names_the_problem() -> None:
    out = review_response(_review("kustomize.toolkit.fluxcd.io/v0",
                                  obj(KS1, "Kustomization", {})))
    assert out["response"]["result"]["status"] == "Failure"
    assert "v0" in out["response"]["result"]["message"]


# --- property-style round trips ------------------------------------------------------------


def _words(rng: random.Random) -> str:
    return rng.choice(["a", "web", "main", "x-1", "podinfo", "./deploy"])


def _maybe(rng: random.Random, out: dict[str, Any], key: str, value: Any) -> None:
    if rng.random() < 0.5:
        out[key] = value


def _selector(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _maybe(rng, out, "kind", rng.choice(["Deployment", "Service"]))
    _maybe(rng, out, "name", _words(rng))
    _maybe(rng, out, "labelSelector", "app=web")
    return out


def _patches(rng: random.Random) -> list[dict[str, Any]]:
    return [{"patch": f"- op: remove\n  path: /spec/{_words(rng)}\n",
             **({"target": _selector(rng)} if rng.random() < 0.5 else {})}
            for _ in range(rng.randint(1, 3))]


def _old_patch_fields(rng: random.Random, out: dict[str, Any]) -> None:
    _maybe(rng, out, "patchesStrategicMerge", [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": _words(rng)},
         "data": {"k": _words(rng)}} for _ in range(rng.randint(1, 2))])
    _maybe(rng, out, "patchesJson6902", [
        {"patch": [{"op": "replace", "path": "/spec/replicas", "value": rng.randint(0, 5)}],
         "target": _selector(rng) or {"kind": "Deployment"}}])


def _status_common(rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"observedGeneration": rng.randint(-1, 9)}
    _maybe(rng, out, "conditions", [{"type": "Ready", "status": "True", "reason": "Succeeded",
                                     "message": "ok", "lastTransitionTime":
                                     "2024-01-01T00:00:00Z"}])
    return out


def _kustomization(rng: random.Random, old: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"interval": "5m", "prune": rng.random() < 0.5,
                            "sourceRef": {"kind": "GitRepository", "name": _words(rng)}}
    _maybe(rng, spec, "path", _words(rng))
    _maybe(rng, spec, "patches", _patches(rng))
    _maybe(rng, spec, "targetNamespace", _words(rng))
    if old:
        _maybe(rng, spec, "validation", rng.choice(["none", "client", "server"]))
        _old_patch_fields(rng, spec)
    else:
        _maybe(rng, spec, "ignore", [{"paths": ["/spec/replicas"]}])
        _maybe(rng, spec, "deletionPolicy", "Orphan")
    status = _status_common(rng)
    _maybe(rng, status, "lastAppliedRevision", f"main@sha1:{rng.getrandbits(40):x}")
    _maybe(rng, status, "inventory", {"entries": [{"id": "default_web_apps_Deployment",
                                                   "v": "v1"}]})
    return obj(KS_OLD if old else KS1, "Kustomization", spec, status)


def _artifact(rng: random.Random, old: bool) -> dict[str, Any]:
    hexa = f"{rng.getrandbits(64):016x}"
    out: dict[str, Any] = {"path": "gitrepository/d/x/a.tar.gz", "url": "http://s/a.tar.gz",
                           "revision": f"main@sha1:{hexa}", "lastUpdateTime":
                           "2024-01-01T00:00:00Z"}
    if old:
        out["checksum"] = hexa
        _maybe(rng, out, "digest", f"sha256:{hexa}")
    else:
        out["digest"] = f"sha256:{hexa}"
    return out


def _gitrepository(rng: random.Random, old: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": "https://git.example/r", "interval": "1m"}
    _maybe(rng, spec, "ref", {"branch": _words(rng)})
    _maybe(rng, spec, "ignore", "*.md\n")
    modes = ["head"] if old else ["HEAD", "Tag", "TagAndHEAD"]
    _maybe(rng, spec, "verify", {"mode": rng.choice(modes), "secretRef": {"name": "pgp"}})
    if old:
        _maybe(rng, spec, "gitImplementation", rng.choice(["go-git", "libgit2"]))
        _maybe(rng, spec, "accessFrom", {"namespaceSelectors": [{"matchLabels": {"a": "b"}}]})
    else:
        _maybe(rng, spec, "sparseCheckout", ["deploy"])
    status = _status_common(rng)
    _maybe(rng, status, "artifact", _artifact(rng, old))
    _maybe(rng, status, "includedArtifacts", [_artifact(rng, old)])
    if old:
        _maybe(rng, status, "contentConfigChecksum", "sha256:00")
    return obj(GIT_OLD if old else GIT1, "GitRepository", spec, status)


def _helmrelease(rng: random.Random, version: str) -> dict[str, Any]:
    old = version != HR2
    chart_spec: dict[str, Any] = {"chart": "podinfo",
                                  "sourceRef": {"kind": "HelmRepository", "name": "r"}}
    _maybe(rng, chart_spec, "valuesFiles", [_words(rng) + ".yaml"])
    if old:
        _maybe(rng, chart_spec, "valuesFile", "values-prod.yaml")
    spec: dict[str, Any] = {"interval": "10m", "chart": {"spec": chart_spec}}
    _maybe(rng, spec, "values", {"replicaCount": rng.randint(1, 3)})
    kustomize: dict[str, Any] = {}
    _maybe(rng, kustomize, "patches", _patches(rng))
    _maybe(rng, kustomize, "images", [{"name": "nginx", "newTag": "1"}])
    if old:
        _old_patch_fields(rng, kustomize)
    if kustomize:
        spec["postRenderers"] = [{"kustomize": kustomize}]
    status = _status_common(rng)
    _maybe(rng, status, "lastAttemptedRevision", "1.0.0")
    if version != HR_B1:
        _maybe(rng, status, "history", [
            {"chartName": "podinfo", "chartVersion": f"1.{i}.0", "version": 5 - i,
             "status": "deployed"} for i in range(rng.randint(1, 3))])
    if old:
        newest = (status.get("history") or [None])[0]
        if newest is not None and rng.random() < 0.5:
            status["lastAppliedRevision"] = newest["chartVersion"]
            status["lastReleaseRevision"] = newest["version"]
        elif newest is None:
            _maybe(rng, status, "lastAppliedRevision", "0.9.0")
            _maybe(rng, status, "lastReleaseRevision", 2)
    return obj(version, "HelmRelease", spec, status)


SEEDS = range(150)


@pytest.mark.parametrize("seed", SEEDS)
def test_current_old_current_is_identity(seed: int) -> None:
    rng = random.Random(seed)
    for current, olds in [(_kustomization(rng, False), [KS_OLD]),
                          (_gitrepository(rng, False), [GIT_OLD]),
                          (_helmrelease(rng, HR2), [HR_B1, HR_B2])]:
        for old in olds:
            down = convert(current, old)
            assert convert(down, current["apiVersion"]) == current, old


@pytest.mark.parametrize("seed", SEEDS)
def test_old_current_old_is_stable(seed: int) -> None:
    rng = random.Random(seed)
    for old_obj in [_kustomization(rng, True), _gitrepository(rng, True),
                    _helmrelease(rng, HR_B1), _helmrelease(rng, HR_B2)]:
        group = old_obj["apiVersion"].rpartition("/")[0]
        current = current_api_version(group, old_obj["kind"])
        assert current is not None
        up = convert(old_obj, current)
        back = convert(up, old_obj["apiVersion"])
        assert convert(back, current) == up, "converting again changes nothing"
        # every field the current version keeps comes back in the old one (verify.mode
        # with its old spelling)
        assert set(back["spec"]) == set(up["spec"])
        for key in ("lastAppliedRevision", "lastReleaseRevision"):
            if key in old_obj.get("status", {}):
                assert back["status"][key] == old_obj["status"][key], key


def test_every_convertible_kind_has_generators() -> None:
    assert {k for _, k in CONVERTIBLE} == {"Kustomization", "GitRepository", "HelmRelease"}
