"""Derived names: inventory ids, artifact paths and URLs, Helm release names, webhook paths."""

from __future__ import annotations

import pytest

from afflux.api import (
    ObjectRef,
    artifact_dir,
    artifact_path,
    artifact_url,
    helm_chart_name,
    helm_release_name,
    inventory_id,
    parse_inventory_id,
    receiver_webhook_path,
    storage_host,
)

INVENTORY = [
    ("default", "podinfo", "apps", "Deployment", "default_podinfo_apps_Deployment"),
    ("default", "podinfo", "", "Service", "default_podinfo__Service"),
    ("", "apps", "", "Namespace", "_apps__Namespace"),
    (
        "",
        "flux-view",
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "_flux-view_rbac.authorization.k8s.io_ClusterRole",
    ),
    (
        "",
        "system:flux:viewer",
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "_system__flux__viewer_rbac.authorization.k8s.io_ClusterRole",
    ),
    ("", "a:b", "", "Secret", "_a__b__Secret"),
    (
        "flux-system",
        "gitrepositories.source.toolkit.fluxcd.io",
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "flux-system_gitrepositories.source.toolkit.fluxcd.io_apiextensions.k8s.io_CustomResourceDefinition",
    ),
]


@pytest.mark.parametrize(
    ("ns", "name", "group", "kind", "id_"), INVENTORY, ids=[i[4] for i in INVENTORY]
)
def test_inventory_id_both_ways(ns: str, name: str, group: str, kind: str, id_: str) -> None:
    assert inventory_id(ns, name, group, kind) == id_
    assert parse_inventory_id(id_, "v1") == ObjectRef(ns, name, group, kind, "v1")
    assert ObjectRef(ns, name, group, kind).id == id_


@pytest.mark.parametrize(
    "bad",
    ["", "default_podinfo", "default__apps_Deployment", "a_b_c_"],
    ids=["empty", "two-parts", "no-name", "no-kind"],
)
def test_parse_inventory_id_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="inventory id"):
        parse_inventory_id(bad)


def test_object_ref_from_object_and_api_version() -> None:
    core = ObjectRef.from_object(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "app"}}
    )
    assert (core.id, core.api_version) == ("app_web__Service", "v1")
    apps = ObjectRef.from_object(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    )
    assert (apps.id, apps.api_version) == ("_web_apps_Deployment", "apps/v1")


def test_object_refs_sort_and_compare_without_version() -> None:
    a = ObjectRef("b", "x", "", "Service", "v1")
    b = ObjectRef("a", "x", "", "Service", "v2")
    assert sorted([a, b]) == [b, a]
    assert ObjectRef("a", "x", "", "Service", "v1") == b


ARTIFACTS = [
    (
        ("GitRepository", "flux-system", "podinfo", "abc.tar.gz"),
        "gitrepository/flux-system/podinfo/abc.tar.gz",
    ),
    (
        ("HelmChart", "default", "default-redis", "redis-18.1.0.tgz"),
        "helmchart/default/default-redis/redis-18.1.0.tgz",
    ),
    (
        ("OCIRepository", "apps", "manifests", "sha.tar.gz"),
        "ocirepository/apps/manifests/sha.tar.gz",
    ),
]


@pytest.mark.parametrize(("args", "path"), ARTIFACTS, ids=[p for _, p in ARTIFACTS])
def test_artifact_path(args: tuple[str, str, str, str], path: str) -> None:
    assert artifact_path(*args) == path
    assert artifact_dir(*args[:3]) == path.rsplit("/", 1)[0]


@pytest.mark.parametrize("filename", ["", "..", "a/b.tar.gz"], ids=["empty", "dotdot", "slash"])
def test_artifact_path_rejects_paths_as_file_names(filename: str) -> None:
    with pytest.raises(ValueError):
        artifact_path("GitRepository", "ns", "name", filename)


URLS = [
    (
        storage_host("flux-system"),
        "gitrepository/flux-system/podinfo/abc.tar.gz",
        "http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/podinfo/abc.tar.gz",
    ),
    ("localhost:9090", "/helmchart/a/b/c.tgz", "http://localhost:9090/helmchart/a/b/c.tgz"),
    ("http://127.0.0.1:9090/", "x/y/z/f", "http://127.0.0.1:9090/x/y/z/f"),
]


@pytest.mark.parametrize(("host", "path", "url"), URLS, ids=["in-cluster", "port", "scheme-given"])
def test_artifact_url(host: str, path: str, url: str) -> None:
    assert artifact_url(host, path) == url


RELEASES = [
    ("podinfo", None, None, "podinfo"),
    ("podinfo", "apps", None, "apps-podinfo"),
    ("podinfo", "apps", "custom", "custom"),
    # exactly 53 characters: kept as it is
    ("n" * 49, "ns1", None, "ns1-" + "n" * 49),
    # Flux's documented example. (Its spec prints '...-with-a-nic-97af5d7f41f3', which is 55
    # characters; the rule it states, 40 characters + '-' + 12 hex, gives the name below.)
    (
        "with-a-nice-object-name",
        "a-very-lengthy-target-namespace",
        None,
        "a-very-lengthy-target-namespace-with-a-n-97af5d7f41f3",
    ),
]


@pytest.mark.parametrize(
    ("name", "target", "release", "expected"),
    RELEASES,
    ids=["name", "target-namespace", "release-name", "53-chars", "shortened"],
)
def test_helm_release_name(
    name: str, target: str | None, release: str | None, expected: str
) -> None:
    result = helm_release_name(name, target, release)
    assert result == expected
    assert len(result) <= 53


def test_helm_release_name_just_over_the_limit_is_shortened() -> None:
    name = "n" * 54
    result = helm_release_name(name)
    assert len(result) == 53
    assert result.startswith("n" * 40 + "-")
    assert result != helm_release_name("m" * 54)


def test_helm_chart_name() -> None:
    assert helm_chart_name("apps", "redis") == "apps-redis"


def test_receiver_webhook_path() -> None:
    # printf 'my-tokengit-pushflux-system' | sha256sum
    expected = "/hook/b3e6007df20f5508d4e0bfc1a14f77c32a406a8b79d23c2edbfb995775ecfb2d"
    assert receiver_webhook_path("my-token", "git-push", "flux-system") == expected
