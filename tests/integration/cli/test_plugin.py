"""`afflux plugin search|install|list|update|uninstall` and `afflux <plugin> args`, run as the
real CLI (a subprocess) against a real HTTP server on loopback serving a Flux plugin catalog
(`cli.fluxcd.io/v1beta1`) and plugin archives this module builds: tar.gz, zip (with an
`extractPath`) and a bare binary, plus hostile ones (a download whose sha256 is not the
catalog's, an archive with a `../` entry). The plugins are shell scripts, so running one
through afflux shows its arguments and exit code come through.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.cli._plugincatalog import host_platform
from harness.sink import Serving

pytestmark = pytest.mark.integration

OS, ARCH = host_platform(sys.platform, os.uname().machine)
OTHER_ARCH = "arm64" if ARCH != "arm64" else "amd64"


def _script(name: str, version: str) -> bytes:
    # prints its version and arguments (one per line), exits 7: both must come through afflux
    return (f'#!/bin/sh\necho "{name} {version}"\nfor a in "$@"; do echo "arg:$a"; done\n'
            "exit 7\n").encode()


def _tar_gz(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class StaticServer(Serving):
    """Serves a directory over HTTP on loopback."""

    def __init__(self, root: Path) -> None:
        super().__init__(functools.partial(_Quiet, directory=str(root)))  # type: ignore[arg-type]
        self.url = f"http://127.0.0.1:{self.port}/"


@dataclass
class Catalog:
    url: str
    digests: dict[str, str]  # "<plugin>@<version>" -> the host platform's checksum


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    root = tmp_path_factory.mktemp("catalog")
    with StaticServer(root) as server:
        base = server.url
        digests: dict[str, str] = {}

        def publish(filename: str, data: bytes) -> str:
            (root / filename).write_bytes(data)
            return base + filename

        def platform(plugin: str, version: str, filename: str, data: bytes,
                     **extra: str) -> dict[str, str]:
            digests[f"{plugin}@{version}"] = _sha(data)
            return {"os": OS, "arch": ARCH, "url": publish(filename, data),
                    "checksum": _sha(data), **extra}

        def manifest(name: str, description: str, versions: list[dict[str, Any]]) -> None:
            (root / f"{name}.yaml").write_text(yaml.safe_dump({
                "apiVersion": "cli.fluxcd.io/v1beta1", "kind": "Plugin", "name": name,
                "description": description, "bin": f"flux-{name}", "versions": versions}))

        decoy = _tar_gz({"flux-hello": _script("hello", "other-arch")})
        manifest("hello", "Greets the user", [
            {"version": "2.0.0", "platforms": [
                # a zip with the binary in a folder: found through extractPath
                platform("hello", "2.0.0", "hello_2.0.0.zip",
                         _zip({"README.md": b"hi", "bin/flux-hello": _script("hello", "2.0.0")}),
                         extractPath="bin/flux-hello"),
                {"os": OS, "arch": OTHER_ARCH, "url": publish("hello_2.0.0_other.tar.gz", decoy),
                 "checksum": _sha(decoy)},
            ]},
            {"version": "1.5.0", "platforms": [  # the binary itself, no archive
                platform("hello", "1.5.0", "hello_1.5.0_bin", _script("hello", "1.5.0"))]},
            {"version": "1.0.0", "platforms": [
                platform("hello", "1.0.0", "hello_1.0.0.tar.gz",
                         _tar_gz({"LICENSE": b"x", "flux-hello": _script("hello", "1.0.0")}))]},
        ])
        good = _tar_gz({"flux-tampered": _script("tampered", "1.0.0")})
        manifest("tampered", "Served bytes differ from the catalog", [
            {"version": "1.0.0", "platforms": [
                {"os": OS, "arch": ARCH, "url": publish("tampered.tar.gz", good + b"\0"),
                 "checksum": _sha(good)}]}])
        manifest("evil", "An archive escaping its folder", [
            {"version": "1.0.0", "platforms": [
                platform("evil", "1.0.0", "evil.tar.gz", _tar_gz({
                    "../flux-evil": _script("evil", "escaped"),
                    "flux-evil": _script("evil", "1.0.0")}))]}])
        (root / "catalog.yaml").write_text(yaml.safe_dump({
            "apiVersion": "cli.fluxcd.io/v1beta1", "kind": "PluginCatalog", "plugins": [
                {"name": "hello", "description": "Greets the user", "license": "MIT"},
                {"name": "mirror", "description": "Mirrors OCI artifacts"},
            ]}))
        yield Catalog(base, digests)


@dataclass
class Plugins:
    """Runs `afflux` with the catalog and a plugin directory of the test's own."""

    dir: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "afflux.cli", *args], env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)

    def table(self, *args: str) -> list[list[str]]:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return [line.split("\t") for line in done.stdout.splitlines()]

    def receipt(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.dir / f"flux-{name}.yaml").read_text())
        return data


@pytest.fixture
def plugins(catalog: Catalog, tmp_path: Path) -> Plugins:
    directory = tmp_path / "plugins"
    directory.mkdir()
    env = {**os.environ, "FLUXCD_PLUGINS": str(directory), "FLUXCD_PLUGIN_CATALOG": catalog.url,
           "NO_COLOR": "1", "HOME": str(tmp_path / "home")}
    return Plugins(directory, env)


def _cells(rows: list[list[str]]) -> list[list[str]]:
    return [[c.strip() for c in row] for row in rows]


def test_search_lists_the_catalog_and_filters_by_name_or_description(plugins: Plugins) -> None:
    assert _cells(plugins.table("plugin", "search")) == [
        ["NAME", "DESCRIPTION", "INSTALLED"],
        ["hello", "Greets the user"],
        ["mirror", "Mirrors OCI artifacts"],
    ]
    assert _cells(plugins.table("plugin", "search", "OCI"))[1:] == [
        ["mirror", "Mirrors OCI artifacts"]]
    none = plugins.run("plugin", "search", "nothing-like-it")
    assert (none.returncode, none.stdout) == (0, "")
    assert "No plugins matching 'nothing-like-it' found in catalog" in none.stderr


def test_install_latest_then_run_it_through_afflux(plugins: Plugins, catalog: Catalog) -> None:
    done = plugins.run("plugin", "install", "hello")
    assert done.returncode == 0, done.stderr
    assert "installed hello v2.0.0" in done.stderr
    binary = plugins.dir / "flux-hello"
    assert stat.S_IMODE(binary.stat().st_mode) == 0o755
    receipt = plugins.receipt("hello")
    assert (receipt["name"], receipt["version"]) == ("hello", "2.0.0")
    assert receipt["platform"] == {
        "os": OS, "arch": ARCH, "url": catalog.url + "hello_2.0.0.zip",
        "checksum": catalog.digests["hello@2.0.0"], "extractPath": "bin/flux-hello"}
    assert receipt["installedAt"].endswith("Z")

    ran = plugins.run("hello", "get", "two words", "--namespace=x")
    assert ran.returncode == 7, ran.stderr
    assert ran.stdout.splitlines() == ["hello 2.0.0", "arg:get", "arg:two words",
                                       "arg:--namespace=x"]
    # search shows what is installed
    assert _cells(plugins.table("plugin", "search", "hello"))[1:] == [
        ["hello", "Greets the user", "2.0.0"]]


def test_install_a_version_list_and_update(plugins: Plugins) -> None:
    assert plugins.run("plugin", "install", "hello@1.0.0").returncode == 0
    assert plugins.run("hello").stdout.splitlines() == ["hello 1.0.0"]
    manual = plugins.dir / "flux-byhand"
    manual.write_text("#!/bin/sh\necho by hand\n")
    manual.chmod(0o755)
    (plugins.dir / "flux-notexec").write_text("#!/bin/sh\n")  # not executable: no plugin

    assert _cells(plugins.table("plugin", "list")) == [
        ["NAME", "VERSION", "PATH"],
        ["byhand", "manual", str(manual)],
        ["hello", "1.0.0", str(plugins.dir / "flux-hello")],
    ]
    root_help = plugins.run("--help")
    assert root_help.returncode == 0
    assert "plugin commands (`afflux <name> --help` for a plugin's help): byhand, hello" \
        in " ".join(root_help.stdout.split())
    updated = plugins.run("plugin", "update")
    assert updated.returncode == 0, updated.stderr
    assert "skipping byhand (manually installed)" in updated.stderr
    assert "updated hello v1.0.0 → v2.0.0" in updated.stderr
    assert plugins.run("hello").stdout.splitlines() == ["hello 2.0.0"]
    assert plugins.receipt("hello")["version"] == "2.0.0"

    again = plugins.run("plugin", "upgrade", "hello")
    assert again.returncode == 0, again.stderr
    assert "hello already up to date (v2.0.0)" in again.stderr
    missing = plugins.run("plugin", "update", "nope")
    assert missing.returncode == 3
    assert "plugin 'nope' is not installed" in missing.stderr


def test_install_a_bare_binary_version(plugins: Plugins) -> None:
    assert plugins.run("plugin", "install", "hello@1.5.0").returncode == 0
    assert plugins.run("hello").stdout.splitlines() == ["hello 1.5.0"]


def test_install_by_digest_and_a_wrong_digest_is_refused(plugins: Plugins,
                                                         catalog: Catalog) -> None:
    wrong = plugins.run("plugin", "install", "hello@sha256:" + "0" * 64)
    assert wrong.returncode == 1
    assert f"digest 'sha256:{'0' * 64}' not found for plugin 'hello' on {OS}/{ARCH}" \
        in wrong.stderr
    assert list(plugins.dir.iterdir()) == []

    done = plugins.run("plugin", "install", "hello@" + catalog.digests["hello@1.0.0"])
    assert done.returncode == 0, done.stderr
    assert "installed hello v1.0.0" in done.stderr
    assert plugins.run("hello").stdout.splitlines() == ["hello 1.0.0"]


def test_a_download_that_is_not_what_the_catalog_says_is_not_installed(
        plugins: Plugins) -> None:
    done = plugins.run("plugin", "install", "tampered")
    assert done.returncode == 1
    assert "checksum verification failed" in done.stderr
    assert list(plugins.dir.iterdir()) == []


def test_an_archive_with_a_path_out_of_it_is_refused(plugins: Plugins) -> None:
    done = plugins.run("plugin", "install", "evil")
    assert done.returncode == 1
    assert "archive entry '../flux-evil' points outside the archive" in done.stderr
    assert list(plugins.dir.iterdir()) == []
    assert not (plugins.dir.parent / "flux-evil").exists()


def test_unknown_plugins_and_versions_say_what_exists(plugins: Plugins) -> None:
    unknown = plugins.run("plugin", "install", "nosuch")
    assert unknown.returncode == 3
    assert "plugin 'nosuch' not found in catalog" in unknown.stderr
    version = plugins.run("plugin", "install", "hello@9.9.9")
    assert version.returncode == 1
    assert "version '9.9.9' not found for plugin 'hello' (the catalog has: 2.0.0, 1.5.0, " \
        "1.0.0)" in version.stderr


def test_uninstall_removes_binary_and_receipt(plugins: Plugins) -> None:
    assert plugins.run("plugin", "install", "hello").returncode == 0
    done = plugins.run("plugin", "uninstall", "hello")
    assert done.returncode == 0, done.stderr
    assert "uninstalled hello" in done.stderr
    assert list(plugins.dir.iterdir()) == []
    gone = plugins.run("hello")
    assert gone.returncode == 2  # no such command any more
    assert "invalid choice: 'hello'" in gone.stderr
    again = plugins.run("plugin", "delete", "hello")
    assert again.returncode == 3
    assert "plugin 'hello' is not installed" in again.stderr


def test_afflux_commands_win_over_plugins_of_the_same_name(plugins: Plugins,
                                                            tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    shadow = plugins.dir / "flux-version"
    shadow.write_text(f"#!/bin/sh\ntouch {marker}\n")
    shadow.chmod(0o755)
    done = plugins.run("version", "--client")
    assert done.returncode == 0, done.stderr
    assert "afflux" in done.stdout
    assert not marker.exists()
    assert _cells(plugins.table("plugin", "list")) == []  # and it is no plugin either


def test_a_plugin_that_cannot_run_says_so(plugins: Plugins) -> None:
    broken = plugins.dir / "flux-noshebang"
    broken.write_text("echo hi\n")  # executable, but no #! line: exec fails (ENOEXEC)
    broken.chmod(0o755)
    done = plugins.run("noshebang", "x")
    assert done.returncode == 1
    assert f"cannot run plugin {broken}: Exec format error" in done.stderr
    assert "hint: a script needs a #! line" in done.stderr


def test_the_default_plugin_directory_is_created_under_home(plugins: Plugins,
                                                            tmp_path: Path) -> None:
    env = {k: v for k, v in plugins.env.items() if k != "FLUXCD_PLUGINS"}
    home_plugins = Plugins(tmp_path / "home" / ".fluxcd" / "plugins", env)
    done = home_plugins.run("plugin", "install", "hello@1.0.0")
    assert done.returncode == 0, done.stderr
    assert home_plugins.run("hello").stdout.splitlines() == ["hello 1.0.0"]
    assert home_plugins.receipt("hello")["version"] == "1.0.0"
