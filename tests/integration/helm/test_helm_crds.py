"""CRD policies against the real cluster: install creates the chart's CRDs; upgrades leave
them alone by default, create the missing ones with `Create` and replace them with
`CreateReplace`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helm_env import HelmEnv, chart_spec, helm_repository
from kubernetes import client as k8s
from source_env import obj_name

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool

pytestmark = pytest.mark.integration
ENV_LABEL = "helmcrds"


def crd(group: str, plural: str, properties: list[str]) -> str:
    props = "".join(f"                {p}: {{type: string}}\n" for p in properties)
    return f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: {plural}, singular: {plural[:-1]}, kind: {plural[:-1].capitalize()}}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
{props}"""


@pytest.fixture(scope="module")
def group(cluster: Cluster) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:6]}.afflux.dev"
    yield name
    for plural in ("widgets", "gadgets"):
        cluster.kubectl("delete", "crd", f"{plural}.{name}", "--ignore-not-found",
                        "--wait=false")


@pytest.fixture(scope="module")
def crd_repo(env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
             tmp_path_factory: pytest.TempPathFactory, group: str) -> str:
    src, out = tmp_path_factory.mktemp("crd-src"), tmp_path_factory.mktemp("crd-pkg")
    one = helm_tool.make_chart(src / "1", "crdapp", "1.0.0", files={
        "crds/widgets.yaml": crd(group, "widgets", ["size"])})
    two = helm_tool.make_chart(src / "2", "crdapp", "1.1.0", files={
        "crds/widgets.yaml": crd(group, "widgets", ["size", "color"]),
        "crds/gadgets.yaml": crd(group, "gadgets", ["name"])})
    return helm_repository(env, helm_repo_server,
                           [helm_tool.package(one, out), helm_tool.package(two, out)])


def properties(env: HelmEnv, name: str) -> list[str] | None:
    api = k8s.ApiextensionsV1Api(env.source.core.api_client)
    try:
        found = api.read_custom_resource_definition(name)
    except k8s.ApiException as err:
        if err.status == 404:
            return None
        raise
    schema = found.spec.versions[0].schema.open_apiv3_schema
    return sorted(schema.properties["spec"].properties)


@pytest.mark.flux_fields("HelmRelease", "spec.upgrade.crds")
def test_crds_created_on_install_then_by_the_upgrade_policy(
        env: HelmEnv, crd_repo: str, group: str, tmp_path: Path) -> None:
    widgets, gadgets = f"widgets.{group}", f"gadgets.{group}"
    name = env.create(obj_name("hr"), chart_spec(crd_repo, "1.0.0", chart="crdapp"))
    env.ready(name, "InstallSucceeded")
    assert properties(env, widgets) == ["size"]

    def upgraded(version: int, **spec: Any) -> None:
        env.patch_spec(name, spec)
        env.ready(name, "UpgradeSucceeded",
                  check=lambda o: o["status"]["history"][0]["version"] == version)

    # upgrade.crds Skip (the default): the new chart's CRDs are not touched
    upgraded(2, chart={"spec": {"version": "1.1.0"}})
    assert properties(env, widgets) == ["size"] and properties(env, gadgets) is None

    # Create: the missing one is created, the existing one left as it is
    upgraded(3, upgrade={"crds": "Create"}, values={"n": 1})
    assert properties(env, gadgets) == ["name"]
    assert properties(env, widgets) == ["size"]

    # CreateReplace: replaced
    upgraded(4, upgrade={"crds": "CreateReplace"}, values={"n": 2})
    assert properties(env, widgets) == ["color", "size"]
    env.delete(name)


@pytest.fixture(scope="module")
def skip_group(cluster: Cluster) -> Iterator[str]:
    """Another group (the one above's CRDs stay after its test): none of its CRDs exist."""
    name = f"s{uuid.uuid4().hex[:6]}.afflux.dev"
    yield name
    cluster.kubectl("delete", "crd", f"widgets.{name}", "--ignore-not-found", "--wait=false")


@pytest.mark.flux_fields("HelmRelease", "spec.install.crds", "spec.install.skipCRDs")
def test_install_crds_skip_and_skip_crds_leave_the_crds_out(
        env: HelmEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        tmp_path: Path, skip_group: str) -> None:
    chart = helm_tool.make_chart(tmp_path / "src", "skipcrds", "1.0.0", files={
        "crds/widgets.yaml": crd(skip_group, "widgets", ["size"])})
    repo = helm_repository(env, helm_repo_server, [helm_tool.package(chart, tmp_path)])
    widgets = f"widgets.{skip_group}"
    names = [env.create(obj_name("hr"), {**chart_spec(repo, "1.0.0", chart="skipcrds"),
                                         "install": install})
             for install in ({"crds": "Skip"}, {"skipCRDs": True})]
    for name in names:
        env.ready(name, "InstallSucceeded")
    assert properties(env, widgets) is None, "no CRD installed"

    # install.crds Create (the default): installed
    created = env.create(obj_name("hr"), {**chart_spec(repo, "1.0.0", chart="skipcrds"),
                                          "install": {"crds": "Create"}})
    env.ready(created, "InstallSucceeded")
    assert properties(env, widgets) == ["size"]
    for name in (*names, created):
        env.delete(name)
