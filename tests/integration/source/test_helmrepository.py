"""HelmRepository end to end: source-controller as its own process, the real cluster, a
real Helm chart repository (index and packages made by the real `helm`) served over
HTTPS with basic auth."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from source_env import TIMEOUT, SourceEnv, obj_name, start_source_env

from afflux.cli.devenv import free_port
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.silent import SilentServer
from harness.wait import eventually

pytestmark = pytest.mark.integration

KIND = "HelmRepository"


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[SourceEnv]:
    yield from start_source_env(cluster, start_controller, tmp_path_factory, "helmrepo")


@pytest.fixture(scope="module")
def charts(helm_tool: HelmTool, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    src, out = tmp_path_factory.mktemp("charts-src"), tmp_path_factory.mktemp("charts")
    return {f"{name}-{version}": helm_tool.package(
        helm_tool.make_chart(src / f"{name}-{version}", name, version), out)
        for name, version in (("app", "1.0.0"), ("app", "1.1.0"), ("app", "2.0.0"),
                              ("other", "0.1.0"))}


def credentials(env: SourceEnv, server: ChartRepoServer, password: str | None = None
                ) -> dict[str, Any]:
    env.secret("repo-auth", {"username": server.username,
                             "password": password or server.password})
    env.secret("repo-ca", {"ca.crt": server.ca.ca_cert.read_bytes()})
    return {"secretRef": {"name": "repo-auth"}, "certSecretRef": {"name": "repo-ca"}}


@pytest.mark.flux_fields("HelmRepository", "spec.url", "spec.secretRef.name",
                         "spec.certSecretRef.name", "status.artifact.path",
                         "status.artifact.revision", "status.artifact.digest",
                         "status.artifact.size", "status.artifact.url", "status.url",
                         "status.lastHandledReconcileAt", "status.conditions[].type",
                         "status.conditions[].status", "status.conditions[].reason",
                         "status.conditions[].message")
def test_index_artifact_revision_and_status(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        charts: dict[str, Path]) -> None:
    url = helm_repo_server.publish(helm_tool, [charts["app-1.0.0"], charts["other-0.1.0"]])
    name = env.create(KIND, obj_name(), {"url": url, **credentials(env, helm_repo_server)})
    obj = env.wait_ready(KIND, name)
    status = obj["status"]
    artifact = status["artifact"]
    revision = artifact["revision"]
    hex_ = revision.split(":")[1]
    assert revision.startswith("sha256:") and len(hex_) == 64
    assert artifact["path"] == f"helmrepository/{env.namespace}/{name}/index-{hex_}.yaml"
    assert artifact["digest"] == revision  # the stored index is the digested bytes
    assert status["url"].endswith(f"helmrepository/{env.namespace}/{name}/index.yaml")
    ready = env.condition(obj, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "Succeeded", f"stored artifact for revision '{revision}'")
    assert env.condition(obj, "ArtifactInStorage")["message"] == ready["message"]
    index = yaml.safe_load(env.download(artifact))
    assert sorted(index["entries"]) == ["app", "other"]
    assert index["entries"]["app"][0]["version"] == "1.0.0"
    with urllib.request.urlopen(status["url"], timeout=10) as resp:
        assert hashlib.sha256(resp.read()).hexdigest() == hex_  # the legacy link
    eventually(lambda: any(e.reason == "NewArtifact" and "fetched index of size" in e.message
                           and url in e.message for e in env.events(name)), TIMEOUT)

    # the same index again: same revision, nothing new stored
    stamp = env.request_reconcile(KIND, name)
    again = eventually(lambda: (o := env.get(KIND, name))["status"].get(
        "lastHandledReconcileAt") == stamp and o, TIMEOUT)
    assert again["status"]["artifact"] == artifact

    # a new chart version: a new revision, the index lists it first
    directory = helm_repo_server.directory(url)
    (directory / charts["app-2.0.0"].name).write_bytes(charts["app-2.0.0"].read_bytes())
    helm_tool.run("repo", "index", str(directory), "--url", url.rstrip("/"))
    env.request_reconcile(KIND, name)
    obj = env.wait_ready(KIND, name, check=lambda o: o["status"]["artifact"]["revision"]
                         != revision)
    index = yaml.safe_load(env.download(obj["status"]["artifact"]))
    assert [v["version"] for v in index["entries"]["app"]] == ["2.0.0", "1.0.0"]


def test_revision_ignores_the_servers_ordering(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        charts: dict[str, Path]) -> None:
    first = helm_repo_server.publish(helm_tool, [charts["app-1.0.0"], charts["app-1.1.0"]])
    second = helm_repo_server.publish(helm_tool, [charts["app-1.0.0"], charts["app-1.1.0"]])
    # the same index (same charts, URLs, timestamps), its versions in another order
    index = yaml.safe_load((helm_repo_server.directory(first) / "index.yaml").read_text())
    index["entries"]["app"].reverse()
    # JSON is an accepted index format too
    (helm_repo_server.directory(second) / "index.yaml").write_text(json.dumps(index))
    spec = credentials(env, helm_repo_server)
    a = env.wait_ready(KIND, env.create(KIND, obj_name(), {"url": first, **spec}))
    b = env.wait_ready(KIND, env.create(KIND, obj_name(), {"url": second, **spec}))
    assert a["status"]["artifact"]["revision"] == b["status"]["artifact"]["revision"]


@pytest.mark.flux_fields("HelmRepository", "spec.secretRef.name", "spec.certSecretRef.name",
                         "spec.url")
@pytest.mark.flux_fields("HelmRepository", "status.observedGeneration",
                         "status.conditions[].observedGeneration")
def test_bad_input_keeps_the_last_good_index(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        charts: dict[str, Path]) -> None:
    url = helm_repo_server.publish(helm_tool, [charts["app-1.0.0"]])
    spec = credentials(env, helm_repo_server)
    name = env.create(KIND, obj_name(), {"url": url, **spec})
    good = env.wait_ready(KIND, name)["status"]["artifact"]

    def still_good(obj: dict[str, Any]) -> None:
        assert obj["status"]["artifact"] == good
        assert env.condition(obj, "ArtifactInStorage")["status"] == "True"
        assert env.download(good)

    env.secret("wrong-auth", {"username": helm_repo_server.username, "password": "nope"})
    env.patch_spec(KIND, name, {"secretRef": {"name": "wrong-auth"}})
    obj = env.wait_failed(KIND, name, "AuthenticationFailed")
    assert env.condition(obj, "FetchFailed")["reason"] == "AuthenticationFailed"
    still_good(obj)

    env.patch_spec(KIND, name, {"secretRef": {"name": "repo-auth"}, "url": url + "missing/"})
    obj = env.wait_failed(KIND, name, "IndexationFailed")
    assert "404" in env.condition(obj, "Ready")["message"]
    still_good(obj)

    env.patch_spec(KIND, name, {"url": f"https://127.0.0.1:{free_port()}/charts/"})
    still_good(env.wait_failed(KIND, name, "IndexationFailed"))

    env.patch(KIND, name, {"spec": {"url": url, "certSecretRef": None}})
    obj = env.wait_failed(KIND, name, "AuthenticationFailed")  # the server's CA is unknown
    assert "certificate" in env.condition(obj, "Ready")["message"].lower()
    still_good(obj)

    env.patch_spec(KIND, name, {"url": "oci://127.0.0.1/charts"})  # type default wants http
    obj = env.wait_failed(KIND, name, "URLInvalid", stalled=True)
    assert env.condition(obj, "Stalled")["reason"] == "URLInvalid"
    still_good(obj)

    env.patch_spec(KIND, name, {"url": url, "certSecretRef": {"name": "repo-ca"}})
    obj = env.wait_ready(KIND, name, good["revision"])
    assert env.condition(obj, "FetchFailed") is None and env.condition(obj, "Stalled") is None


@pytest.mark.flux_fields("HelmRepository", "spec.type")
def test_oci_type_is_static(env: SourceEnv) -> None:
    name = env.create(KIND, obj_name(), {"type": "oci", "url": "oci://127.0.0.1:1/charts"})
    obj = env.wait_ready(KIND, name)
    assert env.condition(obj, "Ready")["message"] == "Helm repository is ready"
    assert "artifact" not in obj["status"] and "url" not in obj["status"]
    assert env.stored_files(KIND, name) == []
    bad = env.create(KIND, obj_name(), {"type": "oci", "url": "https://example.com/charts"})
    env.wait_failed(KIND, bad, "URLInvalid", stalled=True)


def test_public_repository_and_deletion(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        charts: dict[str, Path]) -> None:
    url = helm_repo_server.publish(helm_tool, [charts["other-0.1.0"]], public=True)
    env.secret("repo-ca", {"ca.crt": helm_repo_server.ca.ca_cert.read_bytes()})
    name = env.create(KIND, obj_name(), {"url": url, "certSecretRef": {"name": "repo-ca"}})
    obj = env.wait_ready(KIND, name)
    assert env.stored_files(KIND, name) == [
        obj["status"]["artifact"]["path"].rsplit("/", 1)[1], "index.yaml"]
    env.delete(KIND, name)
    eventually(lambda: not env.exists(KIND, name), TIMEOUT)
    assert not (env.storage / "helmrepository" / env.namespace / name).exists()


# --- the interval and the timeout ----------------------------------------------------------


@pytest.mark.flux_fields("HelmRepository", "spec.interval", "status.artifact.lastUpdateTime",
                         "status.conditions[].lastTransitionTime")
def test_the_interval_alone_picks_up_a_new_index(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        charts: dict[str, Path]) -> None:
    url = helm_repo_server.publish(helm_tool, [charts["app-1.0.0"]])
    name = env.create(KIND, obj_name(), {"url": url, "interval": "2s",
                                         **credentials(env, helm_repo_server)})
    before = env.wait_ready(KIND, name)
    directory = helm_repo_server.directory(url)
    (directory / charts["app-1.1.0"].name).write_bytes(charts["app-1.1.0"].read_bytes())
    helm_tool.run("repo", "index", str(directory), "--url", url.rstrip("/"))  # no requestedAt
    after = env.wait_moved_by_interval(KIND, before)
    index = yaml.safe_load(env.download(after["status"]["artifact"]))
    assert [v["version"] for v in index["entries"]["app"]] == ["1.1.0", "1.0.0"]


@pytest.mark.flux_fields("HelmRepository", "spec.timeout")
def test_a_hung_server_fails_within_the_timeout(env: SourceEnv) -> None:
    server = SilentServer()
    try:
        name = env.create(KIND, obj_name(), {"url": f"http://127.0.0.1:{server.port}/charts/",
                                             "timeout": "2s"})
        # within 30s: the default timeout (60s) would not have given up yet
        obj = env.wait_failed(KIND, name, "IndexationFailed", timeout=30)
        message = env.condition(obj, "Ready")["message"]
        assert "timed out" in message, message
    finally:
        server.close()
