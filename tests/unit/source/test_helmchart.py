"""HelmChart's pure parts: chart paths, version metadata, values merging, version choice,
reading Chart.yaml and values files (local files only, no helm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.controllers.source._helmchart import (
    ChartError,
    chart_path,
    check_chart_files,
    load_values_files,
    merge_values,
    read_chart_archive,
    read_chart_dir,
    revision_metadata,
    select_version,
    with_metadata,
)
from afflux.controllers.source._reconcile_helmchart import (
    chart_artifact_name,
    charts_using,
    ready_for,
)
from harness.archives import targz


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("./charts/app", "charts/app", id="dot-slash"),
        pytest.param("charts/app/", "charts/app", id="trailing-slash"),
        pytest.param(".", "", id="root"),
        pytest.param("a//b", "a/b", id="double-slash"),
    ],
)
def test_chart_path(value: str, expected: str) -> None:
    assert chart_path(value) == expected


@pytest.mark.parametrize("value", [pytest.param("../x", id="dotdot"),
                                   pytest.param("/abs", id="absolute"),
                                   pytest.param("a/../../b", id="inner-dotdot")])
def test_chart_path_rejects(value: str) -> None:
    with pytest.raises(ChartError) as err:
        chart_path(value)
    assert err.value.reason == "IllegalPath"


@pytest.mark.parametrize(
    ("version", "metadata", "expected"),
    [
        pytest.param("6.0.3", "1", "6.0.3+1", id="generation"),
        pytest.param("6.0.3+build", "4e5cbb7b97d0", "6.0.3+4e5cbb7b97d0", id="replaces-build"),
        pytest.param("1.0.0-rc.1", "2", "1.0.0-rc.1+2", id="prerelease-kept"),
        pytest.param("1.0.0", None, "1.0.0", id="none"),
    ],
)
def test_with_metadata(version: str, metadata: str | None, expected: str) -> None:
    assert with_metadata(version, metadata) == expected


HEX40 = "4e5cbb7b97d00a8039b8810b90b922f4256fd3bd"
HEX64 = "4e5cbb7b97d00a8039b8810b90b922f4256fd3bd8f78b934b4892dae13f7ca87"


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        pytest.param(f"main@sha1:{HEX40}", "4e5cbb7b97d0", id="git-branch"),
        pytest.param(f"sha1:{HEX40}", "4e5cbb7b97d0", id="git-commit"),
        pytest.param(f"sha256:{HEX64}", "4e5cbb7b97d0", id="bucket"),
        pytest.param(f"main/{HEX40}", "4e5cbb7b97d0", id="legacy-git"),
    ],
)
def test_revision_metadata(revision: str, expected: str) -> None:
    assert revision_metadata(revision) == expected


@pytest.mark.parametrize(
    ("base", "override", "expected"),
    [
        pytest.param({"a": 1}, {"b": 2}, {"a": 1, "b": 2}, id="disjoint"),
        pytest.param({"a": {"x": 1, "y": 1}}, {"a": {"y": 2}}, {"a": {"x": 1, "y": 2}},
                     id="nested-merge"),
        pytest.param({"a": [1, 2]}, {"a": [3]}, {"a": [3]}, id="lists-replaced"),
        pytest.param({"a": {"x": 1}}, {"a": None}, {"a": None}, id="null-replaces"),
        pytest.param({"a": 1}, {"a": {"x": 1}}, {"a": {"x": 1}}, id="scalar-to-map"),
    ],
)
def test_merge_values(base, override, expected) -> None:
    before = repr(base)
    assert merge_values(base, override) == expected
    assert repr(base) == before  # inputs untouched


VERSIONS = ["2.0.0-rc.1", "1.2.0", "1.1.0", "1.0.0", "0.9.0"]


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        pytest.param(None, "1.2.0", id="default-newest-release"),
        pytest.param("*", "1.2.0", id="star"),
        pytest.param("1.1.0", "1.1.0", id="exact"),
        pytest.param("~1.0", "1.0.0", id="tilde"),
        pytest.param(">=1.0.0-0", "2.0.0-rc.1", id="prerelease-when-asked"),
        pytest.param("<1.0.0", "0.9.0", id="upper-bound"),
    ],
)
def test_select_version(wanted: str | None, expected: str) -> None:
    assert select_version(VERSIONS, wanted, "app") == expected


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        pytest.param("9.x", "no 'app' chart with version matching '9.x' found", id="no-match"),
        pytest.param("not a range", "invalid chart version", id="bad-range"),
    ],
)
def test_select_version_errors(wanted: str, message: str) -> None:
    with pytest.raises(ChartError, match=message) as err:
        select_version(VERSIONS, wanted, "app")
    assert err.value.reason == "InvalidChartReference"


def test_read_chart_dir_and_errors(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: 1.2.3\n")
    meta = read_chart_dir(tmp_path)
    assert (meta.name, meta.version, meta.dependencies) == ("app", "1.2.3", [])
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: app\nversion: latest\n")
    with pytest.raises(ChartError, match="not a semantic version"):
        read_chart_dir(tmp_path)
    with pytest.raises(ChartError, match="no Chart.yaml"):
        read_chart_dir(tmp_path / "missing")


def test_read_chart_archive(tmp_path: Path) -> None:
    archive = tmp_path / "app-1.0.0.tgz"
    archive.write_bytes(targz({
        "app/charts/sub/Chart.yaml": b"name: sub\nversion: 0.1.0\n",
        "app/Chart.yaml": b"apiVersion: v2\nname: app\nversion: 1.0.0\n",
    }))
    assert read_chart_archive(archive).name == "app"
    archive.write_bytes(targz({"README": b"no chart"}))
    with pytest.raises(ChartError, match="no Chart.yaml"):
        read_chart_archive(archive)
    archive.write_bytes(b"not a tarball")
    with pytest.raises(ChartError, match="not a chart archive"):
        read_chart_archive(archive)


def test_load_values_files(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("replicas: 1\nimage:\n  tag: v1\n  repo: app\n")
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "prod.yaml").write_text("image:\n  tag: v2\nextra: true\n")
    (tmp_path / "empty.yaml").write_text("")
    values, found = load_values_files(tmp_path, ["values.yaml", "env/prod.yaml", "empty.yaml"])
    assert values == {"replicas": 1, "image": {"tag": "v2", "repo": "app"}, "extra": True}
    assert found == ["values.yaml", "env/prod.yaml", "empty.yaml"]

    values, found = load_values_files(tmp_path, ["missing.yaml", "env/prod.yaml"],
                                      ignore_missing=True)
    assert found == ["env/prod.yaml"]
    with pytest.raises(ChartError, match="no values file found at path 'missing.yaml'"):
        load_values_files(tmp_path, ["missing.yaml"])
    with pytest.raises(ChartError) as err:
        load_values_files(tmp_path, ["../outside.yaml"])
    assert err.value.reason == "IllegalPath"
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ChartError, match="not a YAML mapping"):
        load_values_files(tmp_path, ["list.yaml"])


def test_values_file_symlink_out_of_the_source_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (tmp_path / "secret.yaml").write_text("a: 1\n")
    (root / "link.yaml").symlink_to(tmp_path / "secret.yaml")
    with pytest.raises(ChartError) as err:
        load_values_files(root, ["link.yaml"])
    assert err.value.reason == "IllegalPath"


def _chart(name: str, kind: str, source: str, namespace: str = "ns") -> dict:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"sourceRef": {"kind": kind, "name": source}}}


def test_charts_using_a_source() -> None:
    charts = [_chart("a", "GitRepository", "repo"), _chart("b", "Bucket", "repo"),
              _chart("c", "GitRepository", "repo", "other"), _chart("d", "GitRepository", "x")]
    assert charts_using(charts, "GitRepository", "ns", "repo") == ["a"]
    assert charts_using(charts, "Bucket", "ns", "repo") == ["b"]


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        pytest.param("app", "1.0.0", "app-1.0.0.tgz", id="plain"),
        pytest.param("app", "1.0.0+4e5cbb7b97d0", "app-1.0.0+4e5cbb7b97d0.tgz", id="metadata"),
    ],
)
def test_chart_artifact_name(name: str, version: str, expected: str) -> None:
    assert chart_artifact_name(name, version) == expected


@pytest.mark.parametrize(
    ("packaged", "expected"),
    [
        pytest.param(False, ("ChartPullSucceeded", "pulled 'app' chart with version '1.0.0'"),
                     id="pulled"),
        pytest.param(True, ("ChartPackageSucceeded",
                            "packaged 'app' chart with version '1.0.0'"), id="packaged"),
    ],
)
def test_ready_for(packaged: bool, expected: tuple[str, str]) -> None:
    assert ready_for("app", "1.0.0", packaged) == expected


def test_a_values_file_larger_than_the_file_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("a: " + "x" * 100 + "\n")
    values, found = load_values_files(tmp_path, ["values.yaml"], max_file_size=104)
    assert found == ["values.yaml"] and values == {"a": "x" * 100}
    with pytest.raises(ChartError, match=r"values file 'values.yaml' is 104 bytes, larger than "
                       r"the limit of 103 bytes \(source-controller's --helm-chart-file-max-size"):
        load_values_files(tmp_path, ["values.yaml"], max_file_size=103)


CHART_FILES = [
    ("all-small", {"templates/a.yaml": 10}, "", None),
    ("big-template", {"templates/a.yaml": 10, "templates/big.yaml": 101}, "",
     "templates/big.yaml"),
    ("at-the-limit", {"files/data.bin": 100}, "", None),
    ("big-file-ignored", {"files/data.bin": 101}, "files/\n", None),
    ("ignored-by-glob", {"data.bin": 101}, "*.bin\n", None),
    ("reincluded", {"data.bin": 101}, "*.bin\n!data.bin\n", "data.bin"),
    ("other-file-big", {"data.bin": 10, "README.md": 500}, "*.bin\n", "README.md"),
]


@pytest.mark.parametrize(("files", "helmignore", "refused"),
                         [c[1:] for c in CHART_FILES], ids=[c[0] for c in CHART_FILES])
def test_chart_files_larger_than_the_file_limit(tmp_path: Path, files: dict[str, int],
                                                helmignore: str, refused: str | None) -> None:
    (tmp_path / "Chart.yaml").write_text("name: c\nversion: 1.0.0\n")
    if helmignore:
        (tmp_path / ".helmignore").write_text(helmignore)
    for rel, size in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x" * size)
    if refused is None:
        check_chart_files(tmp_path, 100)
        return
    with pytest.raises(ChartError, match=f"chart file '{refused}' is") as err:
        check_chart_files(tmp_path, 100)
    assert err.value.reason == "ChartPackageFailed"
    assert "limit of 100 bytes (source-controller's --helm-chart-file-max-size)" in err.value.message
