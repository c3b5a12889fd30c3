"""The plugin directory (which files are plugins, which one `afflux <name>` runs, receipts,
installs that fail leaving the previous one, uninstall) with an in-memory fetcher, and the
fetcher's retry and scheme rules with a fake transport."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from typing import BinaryIO

import pytest

from afflux.cli._errors import CLIError, NotFoundError
from afflux.cli._plugincatalog import Manifest, Platform, Version
from afflux.cli._pluginstore import (
    CatalogClient,
    Fetcher,
    PluginDir,
    _HTTPError,
    builtin_commands,
)


def _exe(path: Path, text: str = "#!/bin/sh\n", mode: int = 0o755) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _tgz(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class MemoryFetcher(Fetcher):
    """Serves URLs from a dict (no network)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__()
        self.files = files

    def get(self, url: str, out: BinaryIO, limit: int) -> None:
        out.write(self.files[url])


def _install(directory: PluginDir, data: bytes, version: str, checksum: str = "") -> Path:
    url = f"https://x/tool-{version}.tar.gz"
    plat = Platform("linux", "amd64", url,
                    checksum or "sha256:" + hashlib.sha256(data).hexdigest())
    manifest = Manifest("tool", "", "flux-tool", (Version(version, (plat,)),))
    return directory.install(manifest, manifest.versions[0], plat, MemoryFetcher({url: data}))


def test_discover_follows_flux_rules(tmp_path: Path) -> None:
    d = PluginDir(tmp_path, "linux")
    real = _exe(tmp_path / "real-tool")
    (tmp_path / "flux-linked").symlink_to(real)
    _exe(tmp_path / "flux-a")
    _exe(tmp_path / "flux-noexec", mode=0o644)
    _exe(tmp_path / "flux-get")  # an afflux command: never a plugin
    _exe(tmp_path / "flux-plugin")  # reserved
    (tmp_path / "flux-dir").mkdir()
    (tmp_path / "flux-broken").symlink_to(tmp_path / "missing")
    (tmp_path / "flux-a.yaml").write_text("name: a\nversion: 1.2.3\n")
    found = d.discover({"get"})
    assert [(p.name, p.version) for p in found] == [("a", "1.2.3"), ("linked", "manual")]


@pytest.mark.parametrize(("name", "found"), [
    pytest.param("tool", True, id="installed"),
    pytest.param("get", False, id="builtin"),
    pytest.param("help", False, id="reserved"),
    pytest.param("../tool", False, id="path"),
    pytest.param("other", False, id="absent"),
])
def test_find(tmp_path: Path, name: str, found: bool) -> None:
    d = PluginDir(tmp_path / "plugins", "linux")
    d.path.mkdir()
    _exe(d.path / "flux-tool")
    _exe(tmp_path / "flux-tool")  # what ../tool would reach
    assert (d.find(name, {"get"}) is not None) is found


def test_a_failed_update_leaves_the_installed_version(tmp_path: Path) -> None:
    d = PluginDir(tmp_path, "linux")
    binary = _install(d, _tgz("flux-tool", b"v1"), "1.0.0")
    assert binary.read_bytes() == b"v1"
    assert d.receipt("tool").version == "1.0.0"  # type: ignore[union-attr]

    with pytest.raises(CLIError, match="checksum verification failed"):
        _install(d, _tgz("flux-tool", b"v2"), "2.0.0", checksum="sha256:" + "0" * 64)
    with pytest.raises(CLIError, match="binary 'flux-tool' not found"):
        _install(d, _tgz("other", b"v2"), "2.0.0")
    with pytest.raises(CLIError, match="unsupported checksum"):
        _install(d, _tgz("flux-tool", b"v2"), "2.0.0", checksum="md5:abc")
    assert binary.read_bytes() == b"v1"
    assert d.receipt("tool").version == "1.0.0"  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flux-tool", "flux-tool.yaml"]


def test_a_chosen_directory_is_not_created(tmp_path: Path) -> None:
    d = PluginDir.from_env({"FLUXCD_PLUGINS": str(tmp_path / "nope")}, tmp_path, "linux")
    with pytest.raises(CLIError, match=r"\(FLUXCD_PLUGINS\) does not exist"):
        _install(d, _tgz("flux-tool", b"v1"), "1.0.0")
    default = PluginDir.from_env({}, tmp_path, "linux")
    assert default.path == tmp_path / ".fluxcd" / "plugins"
    _install(default, _tgz("flux-tool", b"v1"), "1.0.0")
    assert (default.path / "flux-tool").read_bytes() == b"v1"


def test_uninstall(tmp_path: Path) -> None:
    d = PluginDir(tmp_path, "linux")
    _install(d, _tgz("flux-tool", b"v1"), "1.0.0")
    (tmp_path / "flux-link").symlink_to(tmp_path / "gone")  # a broken link is removable
    d.uninstall("tool")
    d.uninstall("link")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(NotFoundError, match="plugin 'tool' is not installed"):
        d.uninstall("tool")


class FlakyFetcher(Fetcher):
    def __init__(self, failures: list[Exception]) -> None:
        self.warnings: list[str] = []
        self.sleeps: list[float] = []
        super().__init__(warn=self.warnings.append, sleep=self.sleeps.append)
        self.failures = failures

    def _get_once(self, url: str, out: BinaryIO, limit: int) -> None:
        out.write(b"partial")
        if self.failures:
            raise self.failures.pop(0)
        out.write(b"|done")


def test_transient_failures_are_retried_with_backoff() -> None:
    f = FlakyFetcher([_HTTPError("https://x/a", 503), ConnectionResetError("reset"),
                      _HTTPError("https://x/a", 429)])
    assert f.get_bytes("https://x/a") == b"partial|done"  # earlier partial bodies dropped
    assert f.sleeps == [0.5, 1.0, 2.0]
    assert len(f.warnings) == 3 and "HTTP 503 from https://x/a" in f.warnings[0]


@pytest.mark.parametrize(("failures", "message"), [
    pytest.param([_HTTPError("https://x/a", 404)], "HTTP 404", id="not-found-not-retried"),
    pytest.param([ConnectionRefusedError("refused")] * 4, "cannot fetch https://x/a",
                 id="gives-up-after-3-retries"),
])
def test_fetch_failures(failures: list[Exception], message: str) -> None:
    f = FlakyFetcher(list(failures))
    with pytest.raises(CLIError, match=message):
        f.get_bytes("https://x/a")
    assert len(f.sleeps) == len(failures) - 1


@pytest.mark.parametrize("url", [
    pytest.param("file:///etc/passwd", id="file"), pytest.param("ftp://x/a", id="ftp"),
    pytest.param("/etc/passwd", id="path"),
])
def test_only_http_urls_are_fetched(url: str) -> None:
    with pytest.raises(CLIError, match="only http and https"):
        Fetcher().get_bytes(url)


@pytest.mark.parametrize(("env", "base"), [
    pytest.param({}, "https://github.com/fluxcd/plugins/releases/latest/download/",
                 id="default"),
    pytest.param({"FLUXCD_PLUGIN_CATALOG": "http://127.0.0.1:8080/c"}, "http://127.0.0.1:8080/c/",
                 id="override-slash-added"),
    pytest.param({"FLUXCD_PLUGIN_CATALOG": "https://x/c/"}, "https://x/c/", id="override"),
])
def test_catalog_base(env: dict[str, str], base: str) -> None:
    assert CatalogClient.from_env(env, Fetcher()).base == base


def test_builtin_commands_include_aliases_and_reserved() -> None:
    from afflux.cli._main import build_parser

    names = builtin_commands(build_parser())
    assert {"get", "plugin", "help", "version", "bootstrap"} <= names
