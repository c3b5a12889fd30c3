"""Helm charts for HelmChart: versions, values files, and packaging with the real `helm`.

Pure parts:

- `chart_path(spec_chart)`: `spec.chart` for a Git/Bucket source as a safe relative path;
- `with_metadata(version, metadata)`: `6.0.3` + `1` -> `6.0.3+1` (existing build metadata
  replaced), how Flux marks a chart packaged with values files (`+<generation>`) or built
  with the Revision strategy (`+<12 hex of the source revision>`, `revision_metadata`);
- `merge_values(base, override)`: Helm's merge of values files (maps merged key by key,
  recursively; anything else in `override` replaces);
- `select_version(versions, wanted)`: an exact version first, else the newest in the
  semver range (`*` by default), as Helm picks chart versions.

Files and the binary:

- `read_chart_dir` / `read_chart_archive`: `Chart.yaml` of a chart directory or `.tgz`;
- `load_values_files(root, paths, ignore_missing, max_file_size)`: the merged values of
  files below `root` (paths may not leave it, none larger than `max_file_size`) and which
  of them were found;
- `check_chart_files(chart_dir, max_file_size)`: no file of a chart directory that Helm
  would load (`.helmignore` honoured) is larger than `max_file_size`
  (`--helm-chart-file-max-size`);
- `Helm` runs the real `helm` (found on `$PATH`, else in the development tool cache) with
  private HELM_* directories: `dependency_build`, `package` (optionally with replacement
  values and a version), and `repackage` of a pulled `.tgz`.

Errors are `ChartError(reason, message)` with the Flux reason to report
(ChartPackageFailed, ChartPullFailed, InvalidChartReference, IllegalPath).
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from afflux.api._revision import parse_revision
from afflux.api._semver import SemverError, latest_matching, parse_constraint, try_parse_version
from afflux.controllers.runtime import UnsafeArchiveError, safe_extract

from ._helmindex import DEFAULT_MAX_CHART_FILE_SIZE
from ._ignore import Matcher, parse_patterns
from ._oci import tar_stream

__all__ = [
    "CHART_PACKAGE_FAILED",
    "CHART_PULL_FAILED",
    "ILLEGAL_PATH",
    "INVALID_CHART_REFERENCE",
    "ChartError",
    "ChartMeta",
    "Helm",
    "chart_path",
    "find_helm",
    "check_chart_files",
    "load_values_files",
    "merge_values",
    "read_chart_archive",
    "read_chart_dir",
    "revision_metadata",
    "select_version",
    "with_metadata",
]

CHART_PULL_FAILED = "ChartPullFailed"
CHART_PACKAGE_FAILED = "ChartPackageFailed"
INVALID_CHART_REFERENCE = "InvalidChartReference"
ILLEGAL_PATH = "IllegalPath"
#: what a pulled chart archive may unpack to when it is repackaged with values files
MAX_UNPACKED_CHART_SIZE = 200 << 20
_FILE_FLAG = "source-controller's --helm-chart-file-max-size"


class ChartError(Exception):
    """A chart cannot be fetched or built; `reason` is the Flux reason to report."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# --- pure ----------------------------------------------------------------------------------


def chart_path(value: str) -> str:
    """`./charts/app/` -> `charts/app`; ChartError(IllegalPath) if it leaves the source."""
    text = (value or "").strip().replace("\\", "/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if text.startswith("/") or ".." in parts:
        raise ChartError(ILLEGAL_PATH, f"spec.chart '{value}' must be a relative path inside "
                         "the source (no '..', not absolute)")
    return "/".join(parts)


def with_metadata(version: str, metadata: str | None) -> str:
    """The version with its build metadata replaced by `metadata` (unchanged if None)."""
    if not metadata:
        return version
    return f"{version.split('+', 1)[0]}+{metadata}"


def revision_metadata(revision: str) -> str:
    """The first 12 hex characters of a source revision's digest (`main@sha1:<hex>`,
    `sha256:<hex>`, legacy `main/<hex>`); the revision itself, cut, if it has none."""
    try:
        parsed = parse_revision(revision)
    except ValueError:
        parsed = None
    text = parsed.hex if parsed is not None and parsed.hex else revision
    return text[:12]


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's values merge: maps merged recursively, other values of `override` win."""
    result: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = merge_values(current, value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def select_version(versions: Iterable[str], wanted: str | None, chart: str) -> str:
    """An exact version string first, else the newest version in the range (`*` when
    empty). ChartError(InvalidChartReference) when none matches."""
    available = list(versions)
    want = (wanted or "").strip() or "*"
    if want in available:
        return want
    try:
        constraint = parse_constraint(want)
    except SemverError as err:
        raise ChartError(INVALID_CHART_REFERENCE,
                         f"invalid chart version '{want}': {err}") from None
    chosen = latest_matching(constraint, available)
    if chosen is None:
        raise ChartError(INVALID_CHART_REFERENCE,
                         f"invalid chart reference: no '{chart}' chart with version matching "
                         f"'{want}' found")
    return chosen


# --- chart files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartMeta:
    """What `Chart.yaml` says."""

    name: str
    version: str
    data: dict[str, Any]

    @property
    def dependencies(self) -> list[Any]:
        return list(self.data.get("dependencies") or [])


def _meta(text: str | bytes, where: str) -> ChartMeta:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ChartError(CHART_PACKAGE_FAILED, f"{where}: Chart.yaml is not YAML: {err}") from None
    if not isinstance(data, dict):
        raise ChartError(CHART_PACKAGE_FAILED, f"{where}: Chart.yaml is not a mapping")
    name, version = str(data.get("name") or ""), str(data.get("version") or "")
    if not name:
        raise ChartError(CHART_PACKAGE_FAILED, f"{where}: Chart.yaml has no name")
    if not version or try_parse_version(version) is None:
        raise ChartError(CHART_PACKAGE_FAILED,
                         f"{where}: Chart.yaml version '{version}' is not a semantic version")
    return ChartMeta(name, version, data)


def read_chart_dir(directory: Path) -> ChartMeta:
    chart_yaml = directory / "Chart.yaml"
    if not chart_yaml.is_file() or chart_yaml.is_symlink():
        raise ChartError(CHART_PACKAGE_FAILED, f"no Chart.yaml in '{directory.name}': not a "
                         "Helm chart directory")
    return _meta(chart_yaml.read_bytes(), directory.name)


def read_chart_archive(path: Path) -> ChartMeta:
    """`<top>/Chart.yaml` of a chart `.tgz` (read without unpacking)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            best: tarfile.TarInfo | None = None
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
                    best = member
                    break
            if best is None:
                raise ChartError(CHART_PULL_FAILED,
                                 f"'{path.name}' is not a Helm chart: no Chart.yaml")
            stream = tar.extractfile(best)
            assert stream is not None
            return _meta(stream.read(1 << 20), path.name)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ChartError(CHART_PULL_FAILED,
                         f"'{path.name}' is not a chart archive: {err}") from None


def _inside(root: Path, rel: str) -> Path | None:
    """`root/rel` when it stays inside `root` (symlinks resolved), else None."""
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if rel.startswith("/") or ".." in parts:
        return None
    target = root.joinpath(*parts)
    real_root = os.path.realpath(root)
    real = os.path.realpath(target)
    if real != real_root and not real.startswith(real_root + os.sep):
        return None
    return target


def check_chart_files(chart_dir: Path, max_file_size: int) -> None:
    """ChartError (ChartPackageFailed) naming the first file of the chart directory, not
    left out by its `.helmignore`, that is larger than `max_file_size` bytes."""
    ignore = chart_dir / ".helmignore"
    matcher = Matcher(parse_patterns(ignore.read_text(errors="replace"))
                      if ignore.is_file() else [])
    for top, dirs, files in os.walk(chart_dir):
        rel_top = Path(top).relative_to(chart_dir).parts
        dirs[:] = sorted(d for d in dirs if not matcher.excluded((*rel_top, d), True))
        for name in sorted(files):
            rel = (*rel_top, name)
            if matcher.excluded(rel):
                continue
            try:
                size = os.stat(os.path.join(top, name)).st_size
            except OSError:  # a dangling link: helm package says what is wrong with it
                continue
            if size > max_file_size:
                raise ChartError(CHART_PACKAGE_FAILED, f"chart file '{'/'.join(rel)}' is "
                                 f"{size} bytes, larger than the limit of {max_file_size} "
                                 f"bytes ({_FILE_FLAG})")


def load_values_files(root: Path, paths: Sequence[str], ignore_missing: bool = False,
                      max_file_size: int = DEFAULT_MAX_CHART_FILE_SIZE
                      ) -> tuple[dict[str, Any], list[str]]:
    """(merged values, the paths that were found), merging in order."""
    merged: dict[str, Any] = {}
    found: list[str] = []
    for rel in paths:
        target = _inside(root, rel)
        if target is None:
            raise ChartError(ILLEGAL_PATH, f"values file '{rel}' is outside the source")
        if not target.is_file():
            if ignore_missing:
                continue
            raise ChartError(CHART_PACKAGE_FAILED, f"no values file found at path '{rel}' "
                             "(set spec.ignoreMissingValuesFiles to skip missing files)")
        size = target.stat().st_size
        if size > max_file_size:
            raise ChartError(CHART_PACKAGE_FAILED, f"values file '{rel}' is {size} bytes, "
                             f"larger than the limit of {max_file_size} bytes ({_FILE_FLAG})")
        try:
            data = yaml.safe_load(target.read_bytes())
        except yaml.YAMLError as err:
            raise ChartError(CHART_PACKAGE_FAILED,
                             f"values file '{rel}' is not valid YAML: {err}") from None
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ChartError(CHART_PACKAGE_FAILED, f"values file '{rel}' is not a YAML mapping")
        merged = merge_values(merged, data)
        found.append(rel)
    return merged, found


# --- the helm binary ---------------------------------------------------------------------------


def find_helm(explicit: str | None = None) -> str:
    """`explicit`, else `$AFFLUX_HELM`, else `helm` on `$PATH`, else the tool cache."""
    for candidate in (explicit, os.environ.get("AFFLUX_HELM")):
        if candidate:
            return candidate
    found = shutil.which("helm")
    if found:
        return found
    cache = Path(os.environ.get("AFFLUX_CACHE") or Path.home() / ".cache" / "afflux") / "bin"
    cached = cache / "helm"
    if cached.exists() and os.access(cached, os.X_OK):
        return str(cached)
    raise ChartError(CHART_PACKAGE_FAILED,
                     f"helm is not installed: it is neither on $PATH nor in {cache}")


class Helm:
    """The real helm with private HELM_* directories under `home`. Blocking."""

    def __init__(self, home: Path, *, binary: str | None = None, timeout: float = 300.0) -> None:
        self.binary = find_helm(binary)
        self.home = home
        self.timeout = timeout
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "HELM_REGISTRY_CONFIG": str(home / "config" / "registry.json"),
            "HELM_REPOSITORY_CONFIG": str(home / "config" / "repositories.yaml"),
            "HELM_REPOSITORY_CACHE": str(home / "cache" / "repository"),
        }
        for var in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy",
                    "no_proxy"):
            if var in os.environ:
                self.env[var] = os.environ[var]

    def run(self, *args: str, cwd: Path | None = None, reason: str = CHART_PACKAGE_FAILED) -> str:
        try:
            done = subprocess.run([self.binary, *args], env=self.env, cwd=cwd,
                                  capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise ChartError(reason, f"helm {args[0]} did not finish within "
                             f"{self.timeout:g}s") from None
        except OSError as err:
            raise ChartError(reason, f"cannot run helm: {err}") from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().replace("\n", "; ")
            raise ChartError(reason, f"helm {args[0]} failed: {detail}")
        return done.stdout

    def dependency_build(self, chart_dir: Path) -> None:
        self.run("dependency", "build", str(chart_dir))

    def package(self, chart_dir: Path, dest: Path, *, version: str | None = None,
                values: Mapping[str, Any] | None = None) -> Path:
        """`helm package`; with `values`, the chart's values.yaml is replaced by them first.
        Returns the `.tgz` (named `<name>-<version>.tgz` by helm)."""
        if values is not None:
            (chart_dir / "values.yaml").write_text(
                yaml.safe_dump(dict(values), sort_keys=False, allow_unicode=True))
        dest.mkdir(parents=True, exist_ok=True)
        args = ["package", str(chart_dir), "--destination", str(dest)]
        if version:
            args += ["--version", version]
        self.run(*args)
        meta = read_chart_dir(chart_dir)
        packaged = dest / f"{meta.name}-{version or meta.version}.tgz"
        if not packaged.is_file():
            found = sorted(dest.glob("*.tgz"))
            if len(found) != 1:
                raise ChartError(CHART_PACKAGE_FAILED, "helm package wrote no chart archive")
            packaged = found[0]
        return packaged

    def repackage(self, archive: Path, workdir: Path, *, version: str,
                  values_files: Sequence[str], ignore_missing: bool,
                  max_file_size: int = DEFAULT_MAX_CHART_FILE_SIZE
                  ) -> tuple[Path, list[str]]:
        """Unpack a pulled chart, merge `values_files` (paths inside the chart) into its
        values.yaml, package it as `version`. Returns (.tgz, the values files found)."""
        unpacked = workdir / "unpacked"
        try:
            with tar_stream(archive) as stream:
                safe_extract(stream, unpacked, max_bytes=MAX_UNPACKED_CHART_SIZE)
        except (UnsafeArchiveError, OSError, EOFError) as err:
            raise ChartError(CHART_PULL_FAILED, f"cannot unpack the chart: {err}") from None
        tops = [p for p in unpacked.iterdir() if p.is_dir() and (p / "Chart.yaml").is_file()]
        if len(tops) != 1:
            raise ChartError(CHART_PULL_FAILED, "the chart archive has no single chart directory")
        chart_dir = tops[0]
        values, found = load_values_files(chart_dir, values_files, ignore_missing,
                                          max_file_size)
        packaged = self.package(chart_dir, workdir / "packaged", version=version,
                                values=values if found else None)
        return packaged, found
