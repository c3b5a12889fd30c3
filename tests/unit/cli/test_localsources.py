"""`--recursive` and `--local-sources` of build/diff kustomization: parsing the flag, the
source key of a Kustomization, and the directory a nested Kustomization is built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.cli._localsources import (
    LocalSourceError,
    is_kustomization,
    kustomization_path,
    parse_local_sources,
    source_key,
)


@pytest.mark.parametrize(("values", "expected"), [
    pytest.param(["GitRepository/flux-system/repo=/src"],
                 {"GitRepository/flux-system/repo": Path("/src")}, id="one"),
    pytest.param(["GitRepository/a/x=/x,OCIRepository/b/y=/y"],
                 {"GitRepository/a/x": Path("/x"), "OCIRepository/b/y": Path("/y")},
                 id="comma-separated"),
    pytest.param(["GitRepository/a/x=/x", "GitRepository/a/x=/z"],
                 {"GitRepository/a/x": Path("/z")}, id="repeated-later-wins"),
    pytest.param(["GitRepository/a/x=rel/dir"], {"GitRepository/a/x": Path("/base/rel/dir")},
                 id="relative-to-base"),
    pytest.param([], {}, id="none"),
])
def test_parse_local_sources(values: list[str], expected: dict[str, Path]) -> None:
    assert parse_local_sources(values, Path("/base")) == expected


@pytest.mark.parametrize("value", [
    pytest.param("GitRepository/repo=/src", id="no-namespace"),
    pytest.param("GitRepository/ns/repo", id="no-path"),
    pytest.param("GitRepository/ns/repo=", id="empty-path"),
    pytest.param("GitRepository//repo=/x", id="empty-field"),
])
def test_parse_local_sources_rejects(value: str) -> None:
    with pytest.raises(LocalSourceError, match="expected Kind/namespace/name=path"):
        parse_local_sources([value])


def _ks(name: str = "apps", namespace: str = "flux-system", path: str = "./apps",
        ref_namespace: str | None = None) -> dict:
    ref = {"kind": "GitRepository", "name": "repo"}
    if ref_namespace:
        ref["namespace"] = ref_namespace
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"path": path, "sourceRef": ref}}


@pytest.mark.parametrize(("ks", "key"), [
    pytest.param(_ks(), "GitRepository/flux-system/repo", id="own-namespace"),
    pytest.param(_ks(ref_namespace="shared"), "GitRepository/shared/repo", id="ref-namespace"),
])
def test_source_key(ks: dict, key: str) -> None:
    assert source_key(ks) == key


@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param(_ks(), True, id="v1"),
    pytest.param({**_ks(), "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2"}, True,
                 id="v1beta2"),
    pytest.param({**_ks(), "apiVersion": "kustomize.config.k8s.io/v1beta1"}, False,
                 id="kustomize-config"),
    pytest.param({"apiVersion": "v1", "kind": "ConfigMap"}, False, id="other-kind"),
])
def test_is_kustomization(obj: dict, expected: bool) -> None:
    assert is_kustomization(obj) is expected


def test_kustomization_path_joins_the_source_and_spec_path() -> None:
    sources = {"GitRepository/flux-system/repo": Path("/src")}
    assert kustomization_path(_ks(path="./apps/dev"), sources) == \
        (Path("/src"), Path("/src/apps/dev"))
    assert kustomization_path(_ks(path=""), sources) == (Path("/src"), Path("/src"))


@pytest.mark.parametrize(("ks", "message"), [
    pytest.param(_ks(ref_namespace="other"),
                 "cannot get local path for GitRepository/other/repo of kustomization apps: "
                 "add --local-sources GitRepository/other/repo=<directory>", id="unmapped"),
    pytest.param(_ks(path="../../etc"), "leaves its source", id="path-escapes"),
])
def test_kustomization_path_errors(ks: dict, message: str) -> None:
    with pytest.raises(LocalSourceError, match=message):
        kustomization_path(ks, {"GitRepository/flux-system/repo": Path("/src")})
