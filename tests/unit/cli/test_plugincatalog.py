"""The plugin catalog's pure parts: parsing `Plugin`/`PluginCatalog` documents and receipts,
`name@version|@digest` references, choosing a version and platform, update decisions,
search matching and the host's os/arch names."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from afflux.cli._plugincatalog import (
    CatalogEntry,
    CatalogError,
    Manifest,
    Platform,
    PluginRef,
    Receipt,
    Version,
    host_platform,
    matches_query,
    parse_catalog,
    parse_manifest,
    parse_receipt,
    parse_ref,
    plugin_name_of,
    receipt_yaml,
    resolve,
    sha256_digest,
    update_target,
)

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def _plat(os_: str, arch: str, digest: str, url: str = "") -> Platform:
    return Platform(os_, arch, url or f"https://x/{os_}-{arch}-{digest[7:9]}.tar.gz", digest)


MANIFEST = Manifest(
    name="tool", description="A tool", bin="flux-tool",
    versions=(
        Version("0.3.0", (_plat("linux", "amd64", D3), _plat("darwin", "arm64", D2))),
        Version("0.2.0", (_plat("linux", "amd64", D2),)),
        Version("0.1.0", (_plat("linux", "amd64", D1), _plat("linux", "arm64", D3))),
    ))


def _doc(**overrides: Any) -> str:
    doc: dict[str, Any] = {
        "apiVersion": "cli.fluxcd.io/v1beta1", "kind": "Plugin", "name": "tool",
        "description": "A tool", "bin": "flux-tool", "homepage": "https://h", "versions": [
            {"version": "0.3.0", "platforms": [
                {"os": "linux", "arch": "amd64", "url": "https://x/a.tgz", "checksum": D1,
                 "extractPath": "bin/flux-tool"}]}]}
    doc.update(overrides)
    return yaml.safe_dump({k: v for k, v in doc.items() if v is not None})


def test_parse_manifest_reads_every_field() -> None:
    m = parse_manifest(_doc(), "tool")
    assert (m.name, m.bin, m.description, m.homepage) == ("tool", "flux-tool", "A tool",
                                                           "https://h")
    assert m.versions == (Version("0.3.0", (
        Platform("linux", "amd64", "https://x/a.tgz", D1, "bin/flux-tool"),)),)


@pytest.mark.parametrize(("overrides", "message"), [
    pytest.param({"apiVersion": "cli.fluxcd.io/v1"}, "unsupported apiVersion 'cli.fluxcd.io/v1'",
                 id="api-version"),
    pytest.param({"kind": "PluginCatalog"}, "unexpected kind 'PluginCatalog'", id="kind"),
    pytest.param({"name": "other"}, "manifest names another plugin ('other')", id="name"),
    pytest.param({"bin": None}, "has no bin", id="no-bin"),
    pytest.param({"bin": "../flux-tool"}, "invalid bin '../flux-tool'", id="bin-path"),
    pytest.param({"bin": "flux-other"}, "invalid bin 'flux-other' (must be 'flux-tool')",
                 id="bin-other-plugin"),
    pytest.param({"versions": "0.1.0"}, "versions must be a list", id="versions-not-list"),
    pytest.param({"versions": [{"version": "1.0.0", "platforms": [{"os": "linux"}]}]},
                 "platforms[0] has no arch", id="platform-incomplete"),
    pytest.param({"versions": [{"platforms": []}]}, "versions[0] has no version",
                 id="version-missing"),
])
def test_parse_manifest_refuses(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError) as err:
        parse_manifest(_doc(**overrides), "tool")
    assert message in str(err.value)


@pytest.mark.parametrize("text", [
    pytest.param("{", id="not-yaml"), pytest.param("- a\n", id="not-a-mapping"),
])
def test_parse_manifest_refuses_what_is_no_document(text: str) -> None:
    with pytest.raises(CatalogError, match="plugin 'tool' manifest"):
        parse_manifest(text, "tool")


def test_parse_catalog() -> None:
    text = yaml.safe_dump({"apiVersion": "cli.fluxcd.io/v1beta1", "kind": "PluginCatalog",
                           "plugins": [{"name": "operator", "description": "Flux Operator CLI",
                                        "license": "AGPL-3.0"}]})
    assert parse_catalog(text).plugins == (
        CatalogEntry("operator", "Flux Operator CLI", license="AGPL-3.0"),)
    with pytest.raises(CatalogError, match="unexpected kind 'Plugin'"):
        parse_catalog(text.replace("PluginCatalog", "Plugin"))


def test_control_characters_of_a_catalog_never_reach_the_terminal() -> None:
    text = yaml.safe_dump({"apiVersion": "cli.fluxcd.io/v1beta1", "kind": "PluginCatalog",
                           "plugins": [{"name": "x", "description": "a\x1b]0;owned\x07\nb"}]})
    assert parse_catalog(text).plugins[0].description == "a\ufffd]0;owned\ufffd\ufffdb"


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("tool", PluginRef("tool"), id="latest"),
    pytest.param("my-tool@0.45.0", PluginRef("my-tool", version="0.45.0"), id="version"),
    pytest.param("tool@" + D1.upper().replace("SHA256", "sha256"), PluginRef("tool", digest=D1),
                 id="digest-upper-hex"),
])
def test_parse_ref(text: str, expected: PluginRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("../tool", "invalid plugin name '../tool'", id="path"),
    pytest.param("Tool", "invalid plugin name 'Tool'", id="upper-case"),
    pytest.param("", "invalid plugin name ''", id="empty"),
    pytest.param("tool@", "no version after '@'", id="empty-version"),
    pytest.param("tool@sha256:abc", "expected sha256:<64 hex digits>", id="short-digest"),
])
def test_parse_ref_refuses(text: str, message: str) -> None:
    with pytest.raises(CatalogError) as err:
        parse_ref(text)
    assert message in str(err.value)


@pytest.mark.parametrize(("ref", "os_arch", "version", "digest"), [
    pytest.param(PluginRef("tool"), ("linux", "amd64"), "0.3.0", D3, id="latest-is-first"),
    pytest.param(PluginRef("tool", version="0.2.0"), ("linux", "amd64"), "0.2.0", D2,
                 id="named-version"),
    pytest.param(PluginRef("tool", digest=D2), ("linux", "amd64"), "0.2.0", D2,
                 id="digest-newest-match-for-this-platform"),
    pytest.param(PluginRef("tool", digest=D3), ("linux", "arm64"), "0.1.0", D3,
                 id="digest-on-other-arch"),
    pytest.param(PluginRef("tool"), ("darwin", "arm64"), "0.3.0", D2, id="platform"),
])
def test_resolve(ref: PluginRef, os_arch: tuple[str, str], version: str, digest: str) -> None:
    chosen, plat = resolve(MANIFEST, ref, *os_arch)
    assert (chosen.version, plat.checksum, (plat.os, plat.arch)) == (version, digest, os_arch)


@pytest.mark.parametrize(("ref", "os_arch", "message"), [
    pytest.param(PluginRef("tool", version="9.0.0"), ("linux", "amd64"),
                 "version '9.0.0' not found for plugin 'tool' (the catalog has: 0.3.0, 0.2.0, "
                 "0.1.0)", id="unknown-version"),
    pytest.param(PluginRef("tool"), ("windows", "amd64"),
                 "plugin 'tool' v0.3.0 has no binary for windows/amd64", id="no-platform"),
    pytest.param(PluginRef("tool", version="0.2.0"), ("darwin", "arm64"),
                 "v0.2.0 has no binary for darwin/arm64", id="version-lacks-platform"),
    pytest.param(PluginRef("tool", digest=D1), ("darwin", "arm64"),
                 f"digest '{D1}' not found for plugin 'tool' on darwin/arm64",
                 id="digest-of-another-platform"),
])
def test_resolve_refuses(ref: PluginRef, os_arch: tuple[str, str], message: str) -> None:
    with pytest.raises(CatalogError) as err:
        resolve(MANIFEST, ref, *os_arch)
    assert message in str(err.value)


def test_resolve_refuses_a_manifest_without_versions() -> None:
    with pytest.raises(CatalogError, match="has no versions"):
        resolve(Manifest("tool", "", "flux-tool", ()), PluginRef("tool"), "linux", "amd64")


def _receipt(version: str) -> Receipt:
    return Receipt("tool", version, "2026-01-01T00:00:00Z", _plat("linux", "amd64", D1))


@pytest.mark.parametrize(("installed", "expected"), [
    pytest.param("0.1.0", "0.3.0", id="older"),
    pytest.param("0.3.0", None, id="up-to-date"),
    pytest.param("0.4.0-rc.1", "0.3.0", id="not-in-catalog-any-more"),
])
def test_update_target(installed: str, expected: str | None) -> None:
    target = update_target(_receipt(installed), MANIFEST, "linux", "amd64")
    assert (target[0].version if target else None) == expected


def test_update_target_needs_a_receipt() -> None:
    with pytest.raises(CatalogError, match="no install receipt"):
        update_target(None, MANIFEST, "linux", "amd64")


@pytest.mark.parametrize(("checksum", "expected"), [
    pytest.param(D1, D1, id="plain"),
    pytest.param(" " + D1.upper().replace("SHA256", "sha256") + "\n", D1, id="case-space"),
])
def test_sha256_digest(checksum: str, expected: str) -> None:
    assert sha256_digest(checksum) == expected


@pytest.mark.parametrize("checksum", [
    pytest.param("sha512:" + "a" * 128, id="other-algorithm"),
    pytest.param("a" * 64, id="no-algorithm"),
    pytest.param("sha256:xyz", id="not-hex"),
])
def test_sha256_digest_refuses(checksum: str) -> None:
    with pytest.raises(CatalogError, match="unsupported checksum"):
        sha256_digest(checksum)


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param("", True, id="empty"),
    pytest.param("OPER", True, id="name-any-case"),
    pytest.param("cli", True, id="description"),
    pytest.param("mirror", False, id="no-match"),
])
def test_matches_query(query: str, expected: bool) -> None:
    assert matches_query(CatalogEntry("operator", "Flux Operator CLI"), query) is expected


def test_receipt_round_trip_in_flux_field_names() -> None:
    receipt = Receipt("tool", "0.3.0", "2026-03-30T10:00:00Z",
                      Platform("linux", "amd64", "https://x/a.zip", D1, "bin/flux-tool"))
    text = receipt_yaml(receipt)
    assert yaml.safe_load(text) == {
        "name": "tool", "version": "0.3.0", "installedAt": "2026-03-30T10:00:00Z",
        "platform": {"os": "linux", "arch": "amd64", "url": "https://x/a.zip", "checksum": D1,
                     "extractPath": "bin/flux-tool"}}
    assert parse_receipt(text) == receipt


@pytest.mark.parametrize("text", [
    pytest.param("{", id="not-yaml"), pytest.param("[]", id="list"),
    pytest.param("name: [a]\n", id="bad-field"),
])
def test_an_unreadable_receipt_is_none(text: str) -> None:
    assert parse_receipt(text) is None


@pytest.mark.parametrize(("filename", "os_", "expected"), [
    pytest.param("flux-operator", "linux", "operator", id="plain"),
    pytest.param("flux-my-tool", "linux", "my-tool", id="dashes"),
    pytest.param("flux-operator.exe", "windows", "operator", id="windows-exe"),
    pytest.param("flux-local.CMD", "windows", "local", id="windows-cmd"),
    pytest.param("flux-operator.exe", "linux", "operator.exe", id="exe-kept-off-windows"),
    pytest.param("kubectl-foo", "linux", "", id="other-prefix"),
    pytest.param("flux-", "linux", "", id="prefix-only"),
])
def test_plugin_name_of(filename: str, os_: str, expected: str) -> None:
    assert plugin_name_of(filename, os_) == expected


@pytest.mark.parametrize(("sys_platform", "machine", "expected"), [
    pytest.param("linux", "x86_64", ("linux", "amd64"), id="linux-amd64"),
    pytest.param("linux", "aarch64", ("linux", "arm64"), id="linux-arm64"),
    pytest.param("darwin", "arm64", ("darwin", "arm64"), id="mac-arm64"),
    pytest.param("win32", "AMD64", ("windows", "amd64"), id="windows-amd64"),
    pytest.param("linux", "armv7l", ("linux", "arm"), id="arm"),
    pytest.param("freebsd14", "amd64", ("freebsd", "amd64"), id="freebsd"),
    pytest.param("sunos5", "sparc", ("sunos5", "sparc"), id="unknown-passed-on"),
])
def test_host_platform(sys_platform: str, machine: str, expected: tuple[str, str]) -> None:
    assert host_platform(sys_platform, machine) == expected
