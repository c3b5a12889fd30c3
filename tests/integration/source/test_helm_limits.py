"""source-controller's Helm size limits (`--helm-index-max-size`, `--helm-chart-max-size`,
`--helm-chart-file-max-size`) against the real parts: two source-controllers, one with small
limits and one with Flux's defaults, read the same real HTTPS chart repository and Git server.
What is over a small limit fails with Ready=False naming the limit and the flag; the default
limits accept the very same index, chart and chart directory."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from source_env import SourceEnv, obj_name, start_source_env

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool
from harness.fixtures_servers import GitAuth, git_push_files

pytestmark = pytest.mark.integration

LIMIT = 4096
FILE_LIMIT = 2048
LIMITS = (
    f"--helm-index-max-size={LIMIT}",
    f"--helm-chart-max-size={LIMIT}",
    f"--helm-chart-file-max-size={FILE_LIMIT}",
)


@pytest.fixture(scope="module")
def limited(
    cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SourceEnv]:
    yield from start_source_env(cluster, start_controller, tmp_path_factory, "limits", args=LIMITS)


@pytest.fixture(scope="module")
def default(
    cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SourceEnv]:
    yield from start_source_env(cluster, start_controller, tmp_path_factory, "nolimits")


def helm_repository(env: SourceEnv, server: ChartRepoServer, url: str) -> str:
    env.secret("charts-auth", {"username": server.username, "password": server.password})
    env.secret("charts-ca", {"ca.crt": server.ca.ca_cert.read_bytes()})
    return env.create(
        "HelmRepository",
        obj_name("repo"),
        {"url": url, "secretRef": {"name": "charts-auth"}, "certSecretRef": {"name": "charts-ca"}},
    )


def test_a_chart_over_the_chart_limit_fails(
    limited: SourceEnv,
    default: SourceEnv,
    helm_tool: HelmTool,
    helm_repo_server: ChartRepoServer,
    tmp_path: Path,
) -> None:
    blob = base64.b64encode(os.urandom(3 * LIMIT)).decode()  # does not compress below LIMIT
    chart = helm_tool.make_chart(tmp_path / "src", "big", "1.0.0", files={"files/blob.txt": blob})
    package = helm_tool.package(chart, tmp_path / "pkg")
    assert package.stat().st_size > LIMIT
    url = helm_repo_server.publish(helm_tool, [package])
    spec = {"chart": "big", "version": "1.0.0"}

    repo = helm_repository(limited, helm_repo_server, url)
    limited.wait_ready("HelmRepository", repo)  # the index itself is small
    name = limited.create(
        "HelmChart", obj_name(), {**spec, "sourceRef": {"kind": "HelmRepository", "name": repo}}
    )
    obj = limited.wait_failed("HelmChart", name, "ChartPullFailed")
    message = limited.condition(obj, "Ready")["message"]
    assert f"larger than the limit of {LIMIT} bytes" in message, message
    assert "--helm-chart-max-size" in message, message
    assert "artifact" not in obj["status"]

    repo = helm_repository(default, helm_repo_server, url)
    name = default.create(
        "HelmChart", obj_name(), {**spec, "sourceRef": {"kind": "HelmRepository", "name": repo}}
    )
    obj = default.wait_ready("HelmChart", name, "1.0.0")
    assert default.download(obj["status"]["artifact"]) == package.read_bytes()


def test_an_index_over_the_index_limit_fails(
    limited: SourceEnv,
    default: SourceEnv,
    helm_tool: HelmTool,
    helm_repo_server: ChartRepoServer,
    tmp_path: Path,
) -> None:
    chart = helm_tool.make_chart(tmp_path / "src", "small", "1.0.0")
    url = helm_repo_server.publish(helm_tool, [helm_tool.package(chart, tmp_path / "pkg")])
    index = helm_repo_server.directory(url) / "index.yaml"
    with index.open("a") as f:  # a YAML comment: the same charts, more bytes
        f.write("# " + "x" * LIMIT + "\n")

    repo = helm_repository(limited, helm_repo_server, url)
    obj = limited.wait_failed("HelmRepository", repo, "IndexationFailed")
    message = limited.condition(obj, "Ready")["message"]
    assert f"larger than the limit of {LIMIT} bytes" in message, message
    assert "--helm-index-max-size" in message, message

    repo = helm_repository(default, helm_repo_server, url)
    default.wait_ready("HelmRepository", repo)


def test_a_chart_file_over_the_file_limit_fails(
    limited: SourceEnv, default: SourceEnv, git_server: GitHTTPServer
) -> None:
    big = "x" * (FILE_LIMIT + 1)
    files = {
        "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "charts/web/values.yaml": "replicas: 1\n",
        "charts/web/templates/cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
            "data:\n  big: " + big + "\n"
        ),
        # left out by .helmignore: does not count against the limit
        "charts/web/.helmignore": "docs/\n",
        "charts/web/docs/notes.txt": big,
    }
    repo_name = f"charts/{uuid.uuid4().hex[:10]}"
    git_server.create_repo(repo_name)
    url = git_server.url(repo_name)
    sha = git_push_files(url, files, auth=GitAuth.for_server(git_server))

    def chart_from_git(env: SourceEnv) -> str:
        env.secret("git-auth", {"username": git_server.username, "password": git_server.password})
        git = env.create(
            "GitRepository",
            obj_name("git"),
            {"url": url, "ref": {"branch": "main"}, "secretRef": {"name": "git-auth"}},
        )
        env.wait_ready("GitRepository", git, f"main@sha1:{sha}")
        return env.create(
            "HelmChart",
            obj_name(),
            {"chart": "./charts/web", "sourceRef": {"kind": "GitRepository", "name": git}},
        )

    name = chart_from_git(limited)
    obj = limited.wait_failed("HelmChart", name, "ChartPackageFailed")
    message = limited.condition(obj, "Ready")["message"]
    assert "chart file 'templates/cm.yaml'" in message, message
    assert f"limit of {FILE_LIMIT} bytes" in message and "--helm-chart-file-max-size" in message

    name = chart_from_git(default)
    default.wait_ready("HelmChart", name, "0.1.0")
