"""HelmChart end to end: source-controller as its own process, the real cluster, charts made
and read by the real `helm`, from a real HTTPS chart repository (basic auth), from the real
OCI registry (`helm push`), from a real Git server and from an S3 bucket (moto)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from source_env import TIMEOUT, SourceEnv, obj_name, rfc3339, start_source_env

from afflux.cli.devenv import GitHTTPServer, Registry
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.fixtures_s3 import S3Server
from harness.fixtures_servers import GitAuth, git_push_files
from harness.wait import eventually

pytestmark = pytest.mark.integration

KIND = "HelmChart"


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[SourceEnv]:
    yield from start_source_env(cluster, start_controller, tmp_path_factory, "helmchart")


@pytest.fixture(scope="module")
def packages(helm_tool: HelmTool, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Packaged charts by `<name>-<version>`; every chart has values-prod.yaml inside."""
    src, out = tmp_path_factory.mktemp("chart-src"), tmp_path_factory.mktemp("chart-pkg")
    result = {}
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        chart = helm_tool.make_chart(
            src / version, "app", version,
            values={"replicas": 1, "image": {"repository": "app", "tag": version}},
            files={"values-prod.yaml": "replicas: 3\nimage:\n  tag: prod\n"})
        result[f"app-{version}"] = helm_tool.package(chart, out)
    return result


def helm_repository(env: SourceEnv, server: ChartRepoServer, url: str, **extra: Any) -> str:
    env.secret("charts-auth", {"username": server.username, "password": server.password})
    env.secret("charts-ca", {"ca.crt": server.ca.ca_cert.read_bytes()})
    return env.create("HelmRepository", obj_name("repo"), {
        "url": url, "secretRef": {"name": "charts-auth"},
        "certSecretRef": {"name": "charts-ca"}, **extra})


def save(env: SourceEnv, artifact: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / artifact["path"].rsplit("/", 1)[1]
    path.write_bytes(env.download(artifact))
    return path


# --- HelmRepository (HTTPS index) ------------------------------------------------------


@pytest.mark.flux_fields("HelmChart", "spec.chart", "spec.version", "spec.sourceRef.kind",
                         "spec.sourceRef.name", "status.artifact.path", "status.artifact.revision",
                         "status.artifact.url", "status.artifact.digest", "status.artifact.size",
                         "status.observedSourceArtifactRevision", "status.observedChartName",
                         "status.url", "status.conditions[].type", "status.conditions[].status",
                         "status.conditions[].reason", "status.conditions[].message")
def test_from_helm_repository_and_new_versions_follow_the_index(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        packages: dict[str, Path], tmp_path: Path) -> None:
    url = helm_repo_server.publish(helm_tool, [packages["app-1.0.0"], packages["app-1.1.0"]])
    repo = helm_repository(env, helm_repo_server, url)
    repo_rev = env.wait_ready("HelmRepository", repo)["status"]["artifact"]["revision"]
    name = env.create(KIND, obj_name(), {"chart": "app", "version": "1.x",
                                         "sourceRef": {"kind": "HelmRepository", "name": repo}})
    obj = env.wait_ready(KIND, name, "1.1.0")
    status = obj["status"]
    assert status["artifact"]["path"] == f"helmchart/{env.namespace}/{name}/app-1.1.0.tgz"
    assert status["observedSourceArtifactRevision"] == repo_rev
    assert status["observedChartName"] == "app"
    assert status["url"].endswith(f"helmchart/{env.namespace}/{name}/latest.tar.gz")
    ready = env.condition(obj, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "ChartPullSucceeded", "pulled 'app' chart with version '1.1.0'")
    assert env.condition(obj, "ArtifactInStorage")["message"] == ready["message"]
    # pulled as is: the very bytes helm packaged
    assert env.download(status["artifact"]) == packages["app-1.1.0"].read_bytes()
    assert ("GET", f"/{url.split('/')[-2]}/app-1.1.0.tgz", helm_repo_server.username) in (
        helm_repo_server.request_log)
    eventually(lambda: "ChartPullSucceeded" in env.event_reasons(name), TIMEOUT)

    # a new version in the repository: the HelmRepository's new revision alone (no request
    # on the chart) makes the chart follow
    directory = helm_repo_server.directory(url)
    (directory / packages["app-1.2.0"].name).write_bytes(packages["app-1.2.0"].read_bytes())
    helm_tool.run("repo", "index", str(directory), "--url", url.rstrip("/"))
    env.request_reconcile("HelmRepository", repo)
    obj = env.wait_ready(KIND, name, "1.2.0")
    assert obj["status"]["observedSourceArtifactRevision"] != repo_rev
    assert helm_tool.show_chart(save(env, obj["status"]["artifact"], tmp_path))["version"] == (
        "1.2.0")


@pytest.mark.flux_fields("HelmChart", "spec.valuesFiles", "spec.ignoreMissingValuesFiles",
                         "status.observedValuesFiles")
def test_values_files_are_merged_into_a_repackaged_chart(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        packages: dict[str, Path], tmp_path: Path) -> None:
    url = helm_repo_server.publish(helm_tool, [packages["app-1.0.0"]])
    repo = helm_repository(env, helm_repo_server, url)
    name = env.create(KIND, obj_name(), {
        "chart": "app", "version": "1.0.0", "valuesFiles": ["values.yaml", "values-prod.yaml"],
        "sourceRef": {"kind": "HelmRepository", "name": repo}})
    obj = env.wait_ready(KIND, name, "1.0.0+1")  # the generation as build metadata
    ready = env.condition(obj, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "ChartPackageSucceeded", "packaged 'app' chart with version '1.0.0+1'")
    assert obj["status"]["artifact"]["path"].endswith("/app-1.0.0+1.tgz")
    assert obj["status"]["observedValuesFiles"] == ["values.yaml", "values-prod.yaml"]
    package = save(env, obj["status"]["artifact"], tmp_path)
    assert helm_tool.show_values(package) == {"replicas": 3,
                                              "image": {"repository": "app", "tag": "prod"}}
    assert helm_tool.show_chart(package)["version"] == "1.0.0+1"
    assert "replicas: \"3\"" in helm_tool.template(package)

    # a missing values file fails (keeping the package) unless told to ignore it
    good = obj["status"]["artifact"]
    env.patch_spec(KIND, name, {"valuesFiles": ["values-prod.yaml", "values-none.yaml"]})
    obj = env.wait_failed(KIND, name, "ChartPackageFailed")
    assert "values-none.yaml" in env.condition(obj, "Ready")["message"]
    assert obj["status"]["artifact"] == good
    env.patch_spec(KIND, name, {"ignoreMissingValuesFiles": True})
    obj = env.wait_ready(KIND, name, "1.0.0+3")
    assert obj["status"]["observedValuesFiles"] == ["values-prod.yaml"]
    package = save(env, obj["status"]["artifact"], tmp_path)
    assert helm_tool.show_values(package) == {"replicas": 3, "image": {"tag": "prod"}}


@pytest.mark.flux_fields("HelmRepository", "spec.suspend")
@pytest.mark.flux_fields("HelmChart", "spec.version", "spec.chart", "spec.sourceRef.name")
@pytest.mark.flux_fields("HelmChart", "status.observedGeneration",
                         "status.conditions[].observedGeneration")
def test_bad_input_keeps_the_last_package(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        packages: dict[str, Path]) -> None:
    url = helm_repo_server.publish(helm_tool, [packages["app-1.0.0"]])
    repo = helm_repository(env, helm_repo_server, url)
    name = env.create(KIND, obj_name(), {"chart": "app",
                                         "sourceRef": {"kind": "HelmRepository", "name": repo}})
    good = env.wait_ready(KIND, name, "1.0.0")["status"]["artifact"]

    def still_good(obj: dict[str, Any]) -> str:
        assert obj["status"]["artifact"] == good
        assert env.download(good)
        assert env.condition(obj, "FetchFailed")["status"] == "True"
        return str(env.condition(obj, "Ready")["message"])

    env.patch_spec(KIND, name, {"version": "9.x"})  # a range no version satisfies
    message = still_good(env.wait_failed(KIND, name, "InvalidChartReference", stalled=True))
    assert "no 'app' chart with version matching '9.x' found" in message

    env.patch_spec(KIND, name, {"version": "*", "chart": "nope"})
    assert "'nope' is not in the index" in still_good(
        env.wait_failed(KIND, name, "InvalidChartReference", stalled=True))

    env.patch_spec(KIND, name, {"chart": "app", "sourceRef": {"kind": "HelmRepository",
                                                              "name": "missing-repo"}})
    assert "not found" in still_good(env.wait_failed(KIND, name, "SourceUnavailable"))

    no_artifact = env.create("HelmRepository", obj_name("repo"), {
        "url": url, "suspend": True})
    env.patch_spec(KIND, name, {"sourceRef": {"kind": "HelmRepository", "name": no_artifact}})
    assert "no artifact available" in still_good(
        env.wait_failed(KIND, name, "NoSourceArtifact"))

    env.patch_spec(KIND, name, {"sourceRef": {"kind": "HelmRepository", "name": repo}})
    obj = env.wait_ready(KIND, name, "1.0.0")
    assert env.condition(obj, "FetchFailed") is None and env.condition(obj, "Stalled") is None


# --- HelmRepository (OCI) ---------------------------------------------------------------


@pytest.mark.flux_fields("HelmRepository", "spec.type", "spec.secretRef.name",
                         "spec.certSecretRef.name")
def test_from_an_oci_helm_repository(
        env: SourceEnv, helm_tool: HelmTool, registry: Registry, packages: dict[str, Path],
        tmp_path: Path) -> None:
    base = f"charts-{uuid.uuid4().hex[:8]}"
    for version in ("1.0.0", "1.1.0"):
        helm_tool.push(registry, packages[f"app-{version}"], base)
    env.secret("oci-cred", {".dockerconfigjson": json.dumps({"auths": {registry.host: {
        "username": registry.username, "password": registry.password}}})},
        "kubernetes.io/dockerconfigjson")
    env.secret("oci-ca", {"ca.crt": registry.ca_cert.read_bytes()})
    repo = env.create("HelmRepository", obj_name("oci"), {
        "type": "oci", "url": f"oci://{registry.host}/{base}",
        "secretRef": {"name": "oci-cred"}, "certSecretRef": {"name": "oci-ca"}})
    name = env.create(KIND, obj_name(), {"chart": "app",
                                         "sourceRef": {"kind": "HelmRepository", "name": repo}})
    obj = env.wait_ready(KIND, name, "1.1.0")
    assert env.condition(obj, "Ready")["reason"] == "ChartPullSucceeded"
    assert env.download(obj["status"]["artifact"]) == packages["app-1.1.0"].read_bytes()

    pinned = env.create(KIND, obj_name(), {
        "chart": "app", "version": "~1.0", "valuesFiles": ["values-prod.yaml"],
        "sourceRef": {"kind": "HelmRepository", "name": repo}})
    obj = env.wait_ready(KIND, pinned, "1.0.0+1")
    package = save(env, obj["status"]["artifact"], tmp_path)
    assert helm_tool.show_values(package)["replicas"] == 3

    # credentials the registry refuses
    env.secret("oci-wrong", {".dockerconfigjson": json.dumps({"auths": {registry.host: {
        "username": registry.username, "password": "wrong"}}})},
        "kubernetes.io/dockerconfigjson")
    env.patch_spec("HelmRepository", repo, {"secretRef": {"name": "oci-wrong"}})
    env.request_reconcile(KIND, name)
    obj = env.wait_failed(KIND, name, "AuthenticationFailed")
    assert obj["status"]["artifact"]["revision"] == "1.1.0"


def test_a_cloud_provider_of_an_oci_helm_repository_is_refused_with_what_to_use(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        registry: Registry, packages: dict[str, Path]) -> None:
    """spec.provider is the registry login of an OCI HelmRepository's charts: `generic`
    (the default) logs in with spec.secretRef; aws, azure and gcp need a cloud workload
    identity afflux does not have, so the repository stalls saying to use a Secret with a
    registry token, and its charts fail (keeping the last chart) instead of pulling
    without credentials. A repository of the default type ignores the field, as Flux."""
    base = f"charts-{uuid.uuid4().hex[:8]}"
    helm_tool.push(registry, packages["app-1.1.0"], base)
    env.secret("cloud-cred", {".dockerconfigjson": json.dumps({"auths": {registry.host: {
        "username": registry.username, "password": registry.password}}})},
        "kubernetes.io/dockerconfigjson")
    env.secret("cloud-ca", {"ca.crt": registry.ca_cert.read_bytes()})
    repo = env.create("HelmRepository", obj_name("oci"), {
        "type": "oci", "url": f"oci://{registry.host}/{base}", "provider": "generic",
        "secretRef": {"name": "cloud-cred"}, "certSecretRef": {"name": "cloud-ca"}})
    env.wait_ready("HelmRepository", repo)
    chart = env.create(KIND, obj_name(), {"chart": "app",
                                          "sourceRef": {"kind": "HelmRepository", "name": repo}})
    env.wait_ready(KIND, chart, "1.1.0")

    env.patch_spec("HelmRepository", repo, {"provider": "aws"})
    stalled = env.wait_failed("HelmRepository", repo, "AuthenticationFailed", stalled=True)
    message = env.condition(stalled, "Ready")["message"]
    assert "spec.provider 'aws' is not supported" in message, message
    assert "workload identity" in message and "spec.secretRef" in message, message
    assert env.condition(stalled, "FetchFailed")["reason"] == "AuthenticationFailed"
    after = env.request_reconcile(KIND, chart)
    failed = env.wait_failed(KIND, chart, "AuthenticationFailed", after=after)
    assert f"HelmRepository '{repo}': spec.provider 'aws'" in (
        env.condition(failed, "Ready")["message"])
    assert failed["status"]["artifact"]["revision"] == "1.1.0"

    for provider in ("azure", "gcp"):
        other = env.create("HelmRepository", obj_name("oci"), {
            "type": "oci", "url": f"oci://{registry.host}/{base}", "provider": provider})
        obj = env.wait_failed("HelmRepository", other, "AuthenticationFailed", stalled=True)
        assert f"spec.provider '{provider}'" in env.condition(obj, "Ready")["message"]

    url = helm_repo_server.publish(helm_tool, [packages["app-1.0.0"]])
    index = helm_repository(env, helm_repo_server, url, provider="aws")
    assert env.wait_ready("HelmRepository", index)["status"]["artifact"]["revision"]

@pytest.mark.flux_fields("HelmRepository", "spec.passCredentials")
def test_pass_credentials_to_chart_urls_on_another_host(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        packages: dict[str, Path]) -> None:
    """The index (at 127.0.0.1) names its packages on `localhost`, another host: the
    credentials go there only with passCredentials; without it the download is refused."""
    name = uuid.uuid4().hex[:10]
    url = helm_repo_server.publish(
        helm_tool, [packages["app-1.0.0"]], name=name,
        url=f"https://localhost:{helm_repo_server.port}/{name}")
    passing = helm_repository(env, helm_repo_server, url, passCredentials=True)
    chart = env.create(KIND, obj_name(), {
        "chart": "app", "sourceRef": {"kind": "HelmRepository", "name": passing}})
    obj = env.wait_ready(KIND, chart, "1.0.0")
    assert env.download(obj["status"]["artifact"]) == packages["app-1.0.0"].read_bytes()

    keeping = helm_repository(env, helm_repo_server, url)
    refused = env.create(KIND, obj_name(), {
        "chart": "app", "sourceRef": {"kind": "HelmRepository", "name": keeping}})
    obj = env.wait_failed(KIND, refused, "ChartPullFailed")
    assert "artifact" not in (obj.get("status") or {})
    downloads = [user for method, path, user in helm_repo_server.request_log
                 if path.endswith(".tgz") and method == "GET"]
    assert None in downloads and helm_repo_server.username in downloads, downloads


@pytest.mark.flux_fields("HelmRepository", "spec.insecure")
@pytest.mark.flux_fields("HelmChart", "spec.interval")
def test_from_a_plain_http_oci_registry_with_insecure(
        env: SourceEnv, helm_tool: HelmTool, packages: dict[str, Path],
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """`insecure: true` lets the chart be pulled over plain HTTP, and the chart's interval
    picks up a new version; without `insecure` the controller speaks TLS to the same
    registry and the pull fails."""
    with Registry(tmp_path_factory.mktemp("plain-registry"), tls=False, auth=False) as plain:
        base = f"charts-{uuid.uuid4().hex[:8]}"
        helm_tool.push(plain, packages["app-1.0.0"], base, plain_http=True)
        url = f"oci://{plain.host}/{base}"
        insecure = env.create("HelmRepository", obj_name("oci"),
                              {"type": "oci", "url": url, "insecure": True})
        name = env.create(KIND, obj_name(), {
            "chart": "app", "interval": "2s",
            "sourceRef": {"kind": "HelmRepository", "name": insecure}})
        obj = env.wait_ready(KIND, name, "1.0.0")
        assert env.download(obj["status"]["artifact"]) == packages["app-1.0.0"].read_bytes()
        # an OCI HelmRepository has no artifact to follow: the chart's own spec.interval
        # looks for the new version (the default 10m would not within the wait)
        helm_tool.push(plain, packages["app-1.1.0"], base, plain_http=True)
        obj = env.wait_ready(KIND, name, "1.1.0")
        assert env.download(obj["status"]["artifact"]) == packages["app-1.1.0"].read_bytes()

        secure = env.create("HelmRepository", obj_name("oci"), {"type": "oci", "url": url})
        refused = env.create(KIND, obj_name(), {
            "chart": "app", "sourceRef": {"kind": "HelmRepository", "name": secure}})
        obj = env.wait_failed(KIND, refused, "ChartPullFailed")
        assert "artifact" not in (obj.get("status") or {})


# --- GitRepository and Bucket ------------------------------------------------------------


CHART_FILES = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "replicas: 1\nlabel: base\n",
    "charts/web/templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  replicas: {{ .Values.replicas | quote }}\n  label: {{ .Values.label }}\n"),
    "env/prod.yaml": "replicas: 5\n",
}


@pytest.mark.flux_fields("HelmChart", "spec.reconcileStrategy", "spec.sourceRef.kind",
                         "spec.valuesFiles")
def test_from_a_git_repository_path(
        env: SourceEnv, git_server: GitHTTPServer, helm_tool: HelmTool, tmp_path: Path) -> None:
    repo_name = f"charts/{uuid.uuid4().hex[:10]}"
    git_server.create_repo(repo_name)
    url = git_server.url(repo_name)
    auth = GitAuth.for_server(git_server)
    sha = git_push_files(url, CHART_FILES, auth=auth)
    env.secret("git-auth", {"username": git_server.username, "password": git_server.password})
    git = env.create("GitRepository", obj_name("git"), {
        "url": url, "ref": {"branch": "main"}, "secretRef": {"name": "git-auth"}})
    env.wait_ready("GitRepository", git, f"main@sha1:{sha}")

    by_version = env.create(KIND, obj_name(), {
        "chart": "./charts/web", "sourceRef": {"kind": "GitRepository", "name": git},
        "valuesFiles": ["charts/web/values.yaml", "env/prod.yaml"]})
    by_revision = env.create(KIND, obj_name(), {
        "chart": "charts/web", "reconcileStrategy": "Revision",
        "sourceRef": {"kind": "GitRepository", "name": git}})

    obj = env.wait_ready(KIND, by_version, "0.1.0")
    ready = env.condition(obj, "Ready")
    assert (ready["reason"], ready["message"]) == (
        "ChartPackageSucceeded", "packaged 'web' chart with version '0.1.0'")
    assert obj["status"]["observedSourceArtifactRevision"] == f"main@sha1:{sha}"
    assert obj["status"]["observedChartName"] == "web"
    package = save(env, obj["status"]["artifact"], tmp_path)
    assert helm_tool.show_values(package) == {"replicas": 5, "label": "base"}
    first_version_artifact = obj["status"]["artifact"]
    obj = env.wait_ready(KIND, by_revision, f"0.1.0+{sha[:12]}")
    assert obj["status"]["artifact"]["path"].endswith(f"/web-0.1.0+{sha[:12]}.tgz")
    assert helm_tool.show_chart(save(env, obj["status"]["artifact"], tmp_path))["version"] == (
        f"0.1.0+{sha[:12]}")

    # a new commit without a version bump: Revision follows, ChartVersion keeps its package
    sha2 = git_push_files(url, {"charts/web/values.yaml": "replicas: 1\nlabel: new\n"},
                          auth=auth)
    env.request_reconcile("GitRepository", git)
    env.wait_ready(KIND, by_revision, f"0.1.0+{sha2[:12]}")
    obj = env.wait_ready(KIND, by_version, check=lambda o: o["status"].get(
        "observedSourceArtifactRevision") == f"main@sha1:{sha2}")
    assert obj["status"]["artifact"] == first_version_artifact

    # a version bump produces a new package for ChartVersion too
    git_push_files(url, {"charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.2.0\n"},
                   auth=auth)
    env.request_reconcile("GitRepository", git)
    obj = env.wait_ready(KIND, by_version, "0.2.0")
    assert helm_tool.show_values(save(env, obj["status"]["artifact"], tmp_path)) == {
        "replicas": 5, "label": "new"}

    # a path that is no chart: the last package stays
    env.patch_spec(KIND, by_version, {"chart": "env"})
    obj = env.wait_failed(KIND, by_version, "ChartPackageFailed")
    assert "no Chart.yaml" in env.condition(obj, "Ready")["message"]
    assert obj["status"]["artifact"]["revision"] == "0.2.0"


@pytest.mark.flux_fields("HelmChart", "spec.sourceRef.kind", "spec.reconcileStrategy")
def test_from_a_bucket_path_with_a_local_dependency(
        env: SourceEnv, s3_server: S3Server, helm_tool: HelmTool, tmp_path: Path) -> None:
    bucket = f"charts-{uuid.uuid4().hex[:8]}"
    files = {
        **CHART_FILES,
        "charts/lib/Chart.yaml": "apiVersion: v2\nname: lib\nversion: 0.0.1\n",
        "charts/lib/templates/lib.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: lib\n",
        "charts/web/Chart.yaml": (
            "apiVersion: v2\nname: web\nversion: 0.1.0\ndependencies:\n"
            "  - name: lib\n    version: 0.0.1\n    repository: file://../lib\n"),
    }
    s3_server.bucket(bucket, files)
    assert s3_server.ca is not None
    env.secret("s3-keys", {"accesskey": s3_server.access_key, "secretkey": s3_server.secret_key})
    env.secret("s3-ca", {"ca.crt": s3_server.ca.ca_cert.read_bytes()})
    source = env.create("Bucket", obj_name("bucket"), {
        "bucketName": bucket, "endpoint": s3_server.host, "secretRef": {"name": "s3-keys"},
        "certSecretRef": {"name": "s3-ca"}})
    revision = env.wait_ready("Bucket", source)["status"]["artifact"]["revision"]
    name = env.create(KIND, obj_name(), {
        "chart": "charts/web", "reconcileStrategy": "Revision",
        "sourceRef": {"kind": "Bucket", "name": source}})
    obj = env.wait_ready(KIND, name, f"0.1.0+{revision[7:19]}")
    package = save(env, obj["status"]["artifact"], tmp_path)
    rendered = list(yaml.safe_load_all(helm_tool.template(package)))
    assert {d["kind"] for d in rendered if d} == {"ConfigMap", "Secret"}  # lib came along


def test_deletion_removes_the_package(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        packages: dict[str, Path]) -> None:
    url = helm_repo_server.publish(helm_tool, [packages["app-1.0.0"]])
    repo = helm_repository(env, helm_repo_server, url)
    name = env.create(KIND, obj_name(), {"chart": "app",
                                         "sourceRef": {"kind": "HelmRepository", "name": repo}})
    env.wait_ready(KIND, name, "1.0.0")
    assert env.stored_files(KIND, name) == ["app-1.0.0.tgz", "latest.tar.gz"]
    env.delete(KIND, name)
    eventually(lambda: not env.exists(KIND, name), TIMEOUT)
    assert not (env.storage / "helmchart" / env.namespace / name).exists()


@pytest.mark.flux_fields("HelmChart", "spec.suspend", "status.lastHandledReconcileAt",
                         "status.artifact.lastUpdateTime",
                         "status.conditions[].lastTransitionTime")
def test_suspend_then_resume_and_the_status_times(
        env: SourceEnv, helm_tool: HelmTool, helm_repo_server: ChartRepoServer,
        packages: dict[str, Path]) -> None:
    url = helm_repo_server.publish(helm_tool, [packages["app-1.0.0"]])
    repo = helm_repository(env, helm_repo_server, url)
    env.wait_ready("HelmRepository", repo)
    spec = {"chart": "app", "sourceRef": {"kind": "HelmRepository", "name": repo}}
    marker = env.check_suspend(KIND, spec, "1.0.0")
    obj = env.get(KIND, marker)
    created = rfc3339(obj["metadata"]["creationTimestamp"])
    stored = rfc3339(obj["status"]["artifact"]["lastUpdateTime"])
    since = rfc3339(env.condition(obj, "Ready")["lastTransitionTime"])
    assert created <= stored and created <= since, obj["status"]
