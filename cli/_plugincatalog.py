"""Flux's CLI plugin catalog (`cli.fluxcd.io/v1beta1`): the `PluginCatalog` (catalog.yaml, for
search) and one `Plugin` manifest per plugin (`<name>.yaml`: its binary name and, newest
first, its versions with one download URL and sha256 checksum per os/arch), the install
receipt (`flux-<name>.yaml` next to the binary), and the choices made from them: which
version (`name`, `name@<version>`, `name@sha256:<hex>`), which platform, whether an update is
due. Pure: parsing and deciding only, no I/O (`_pluginstore` fetches and writes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

__all__ = [
    "API_VERSION",
    "BIN_PREFIX",
    "CATALOG_KIND",
    "PLUGIN_KIND",
    "RESERVED_NAMES",
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "Manifest",
    "Platform",
    "PluginRef",
    "Receipt",
    "Version",
    "binary_name",
    "host_platform",
    "matches_query",
    "parse_catalog",
    "parse_manifest",
    "parse_receipt",
    "parse_ref",
    "plugin_name_of",
    "receipt_yaml",
    "resolve",
    "sha256_digest",
    "update_target",
    "valid_name",
]

API_VERSION: Final = "cli.fluxcd.io/v1beta1"
PLUGIN_KIND: Final = "Plugin"
CATALOG_KIND: Final = "PluginCatalog"
#: `flux-<name>` is the binary of `afflux <name>` (and `flux <name>`)
BIN_PREFIX: Final = "flux-"
#: names no plugin can take (flux reserves these two; afflux's own commands also win)
RESERVED_NAMES: Final = frozenset({"plugin", "help"})

# the catalog's own schema for plugin names (plugin-cli-v1beta1.json)
_NAME = re.compile(r"[a-z][a-z0-9-]*")
_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class CatalogError(ValueError):
    """A catalog document, reference or choice that cannot be used; the message says why."""


@dataclass(frozen=True)
class Platform:
    """One downloadable binary (or archive holding it) for an os/arch."""

    os: str
    arch: str
    url: str
    checksum: str
    extract_path: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"os": self.os, "arch": self.arch, "url": self.url, "checksum": self.checksum}
        if self.extract_path:
            out["extractPath"] = self.extract_path
        return out


@dataclass(frozen=True)
class Version:
    version: str
    platforms: tuple[Platform, ...]


@dataclass(frozen=True)
class Manifest:
    """A `Plugin` document: what `plugin install <name>` reads."""

    name: str
    description: str
    bin: str
    versions: tuple[Version, ...]
    homepage: str = ""
    source: str = ""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str = ""
    homepage: str = ""
    source: str = ""
    license: str = ""


@dataclass(frozen=True)
class Catalog:
    plugins: tuple[CatalogEntry, ...] = ()


@dataclass(frozen=True)
class Receipt:
    """What `plugin install` wrote next to a binary: flux's receipt fields."""

    name: str
    version: str
    installed_at: str
    platform: Platform


@dataclass(frozen=True)
class PluginRef:
    """`<name>`, `<name>@<version>` or `<name>@sha256:<hex>`."""

    name: str
    version: str = ""
    digest: str = ""


@dataclass(frozen=True)
class _Doc:
    """A YAML mapping and where it came from (for messages)."""

    what: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def text(self, key: str, *, required: bool = False) -> str:
        value = self.data.get(key)
        if value is None or value == "":
            if required:
                raise CatalogError(f"{self.what} has no {key}")
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise CatalogError(f"{self.what}: {key} must be a string")
        # a catalog's text reaches the terminal (search, messages): no escape sequences
        return _CONTROL.sub("\ufffd", str(value))

    def items(self, key: str) -> list[_Doc]:
        value = self.data.get(key) or []
        if not isinstance(value, list):
            raise CatalogError(f"{self.what}: {key} must be a list")
        docs = []
        for i, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise CatalogError(f"{self.what}: {key}[{i}] must be a mapping")
            docs.append(_Doc(f"{self.what} {key}[{i}]", item))
        return docs


def _load(text: str | bytes, what: str, kind: str) -> _Doc:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CatalogError(f"{what} is not valid YAML: {err}") from None
    if not isinstance(data, Mapping):
        raise CatalogError(f"{what} is not a YAML mapping")
    doc = _Doc(what, data)
    api_version = doc.text("apiVersion")
    if api_version != API_VERSION:
        raise CatalogError(f"{what} has unsupported apiVersion {api_version!r} "
                           f"(expected {API_VERSION!r})")
    if doc.text("kind") != kind:
        raise CatalogError(f"{what} has unexpected kind {doc.text('kind')!r} "
                           f"(expected {kind!r})")
    return doc


def valid_name(name: str) -> bool:
    """A catalog plugin name (`^[a-z][a-z0-9-]*$`, the catalog's own schema)."""
    return bool(_NAME.fullmatch(name))


def parse_manifest(text: str | bytes, name: str) -> Manifest:
    """The `Plugin` manifest fetched for `name`. Its `bin` must be `flux-<name>`: it becomes
    the file written into the plugin directory and the command that runs it, so a manifest
    cannot install (or overwrite) another plugin's file."""
    doc = _load(text, f"plugin {name!r} manifest", PLUGIN_KIND)
    got = doc.text("name", required=True)
    if got != name:
        raise CatalogError(f"plugin {name!r} manifest names another plugin ({got!r})")
    bin_ = doc.text("bin", required=True)
    if bin_ != BIN_PREFIX + name:
        raise CatalogError(f"plugin {name!r} has invalid bin {bin_!r} "
                           f"(must be {BIN_PREFIX + name!r})")
    versions = []
    for v in doc.items("versions"):
        platforms = tuple(
            Platform(os=p.text("os", required=True), arch=p.text("arch", required=True),
                     url=p.text("url", required=True), checksum=p.text("checksum", required=True),
                     extract_path=p.text("extractPath"))
            for p in v.items("platforms"))
        versions.append(Version(v.text("version", required=True), platforms))
    return Manifest(name=name, description=doc.text("description"), bin=bin_,
                    versions=tuple(versions), homepage=doc.text("homepage"),
                    source=doc.text("source"))


def parse_catalog(text: str | bytes) -> Catalog:
    """The `PluginCatalog` (catalog.yaml)."""
    doc = _load(text, "plugin catalog", CATALOG_KIND)
    return Catalog(tuple(
        CatalogEntry(name=e.text("name", required=True), description=e.text("description"),
                     homepage=e.text("homepage"), source=e.text("source"),
                     license=e.text("license"))
        for e in doc.items("plugins")))


def parse_ref(text: str) -> PluginRef:
    """`name`, `name@version` or `name@sha256:<hex>` (flux's `plugin install` argument)."""
    name, at, ref = text.partition("@")
    if not valid_name(name):
        raise CatalogError(f"invalid plugin name {name!r}: a plugin name is lower-case letters, "
                           "digits and dashes, starting with a letter")
    if not at:
        return PluginRef(name)
    if ref.startswith("sha256:"):
        if not _SHA256.fullmatch(ref.lower()):
            raise CatalogError(f"invalid digest {ref!r}: expected sha256:<64 hex digits>")
        return PluginRef(name, digest=ref.lower())
    if not ref:
        raise CatalogError(f"no version after '@' in {text!r}")
    return PluginRef(name, version=ref)


def resolve(manifest: Manifest, ref: PluginRef, os_: str, arch: str) -> tuple[Version, Platform]:
    """The version and platform to install: the newest (first) version, the one named, or the
    newest whose os/arch binary has the digest; then this os/arch's entry."""
    if not manifest.versions:
        raise CatalogError(f"plugin {manifest.name!r} has no versions")
    if ref.digest:
        for version in manifest.versions:
            for plat in version.platforms:
                if (plat.os, plat.arch) == (os_, arch) and plat.checksum.lower() == ref.digest:
                    return version, plat
        raise CatalogError(f"digest {ref.digest!r} not found for plugin {manifest.name!r} "
                           f"on {os_}/{arch}")
    if ref.version:
        chosen = next((v for v in manifest.versions if v.version == ref.version), None)
        if chosen is None:
            known = ", ".join(v.version for v in manifest.versions[:10])
            raise CatalogError(f"version {ref.version!r} not found for plugin "
                               f"{manifest.name!r} (the catalog has: {known})")
    else:
        chosen = manifest.versions[0]
    plat = next((p for p in chosen.platforms if (p.os, p.arch) == (os_, arch)), None)
    if plat is None:
        raise CatalogError(f"plugin {manifest.name!r} v{chosen.version} has no binary for "
                           f"{os_}/{arch}")
    return chosen, plat


def sha256_digest(checksum: str) -> str:
    """The lower-case `sha256:<hex>` of a catalog checksum (the only algorithm v1beta1 has)."""
    digest = checksum.strip().lower()
    if not _SHA256.fullmatch(digest):
        raise CatalogError(f"unsupported checksum {checksum!r}: expected sha256:<64 hex digits>")
    return digest


def update_target(receipt: Receipt | None, manifest: Manifest, os_: str, arch: str
                  ) -> tuple[Version, Platform] | None:
    """What `plugin update` installs: the catalog's newest version when the receipt records
    another one; None when it is the installed one. A plugin without a receipt is never
    updated (the caller says "manually installed")."""
    if receipt is None:
        raise CatalogError(f"plugin {manifest.name!r} has no install receipt")
    latest, plat = resolve(manifest, PluginRef(manifest.name), os_, arch)
    if latest.version == receipt.version:
        return None
    return latest, plat


def matches_query(entry: CatalogEntry, query: str) -> bool:
    """`plugin search <query>`: a case-insensitive substring of the name or description."""
    q = query.lower()
    return not q or q in entry.name.lower() or q in entry.description.lower()


def receipt_yaml(receipt: Receipt) -> str:
    return yaml.safe_dump({
        "name": receipt.name, "version": receipt.version, "installedAt": receipt.installed_at,
        "platform": receipt.platform.to_dict(),
    }, sort_keys=False)


def parse_receipt(text: str | bytes) -> Receipt | None:
    """A receipt, or None for one that cannot be read (flux treats that as no receipt)."""
    try:
        data = yaml.safe_load(text)
        if not isinstance(data, Mapping):
            return None
        doc = _Doc("receipt", data)
        plat = _Doc("receipt platform", data.get("platform") or {})
        return Receipt(
            name=doc.text("name"), version=doc.text("version"),
            installed_at=doc.text("installedAt"),
            platform=Platform(os=plat.text("os"), arch=plat.text("arch"), url=plat.text("url"),
                              checksum=plat.text("checksum"),
                              extract_path=plat.text("extractPath")))
    except (yaml.YAMLError, CatalogError, AttributeError):
        return None


def binary_name(name: str, os_: str) -> str:
    """The file of plugin `name` in the plugin directory (`.exe` appended on Windows)."""
    return BIN_PREFIX + name + (".exe" if os_ == "windows" else "")


def plugin_name_of(filename: str, os_: str) -> str:
    """The plugin name of a file in the plugin directory (`flux-my-tool` -> `my-tool`), or ""
    when the file is no plugin. On Windows `.exe`, `.cmd` and `.bat` are dropped."""
    if not filename.startswith(BIN_PREFIX):
        return ""
    name = filename[len(BIN_PREFIX):]
    if os_ == "windows":
        for ext in (".exe", ".cmd", ".bat"):
            if name.lower().endswith(ext):
                name = name[: -len(ext)]
                break
    return name


_OS = {"linux": "linux", "darwin": "darwin", "win32": "windows", "cygwin": "windows",
       "freebsd": "freebsd", "openbsd": "openbsd", "netbsd": "netbsd"}
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386", "x86": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_platform(sys_platform: str, machine: str) -> tuple[str, str]:
    """Go's GOOS/GOARCH names (what a catalog's os/arch say) for Python's `sys.platform` and
    `platform.machine()`; an unknown name is passed on lower-cased."""
    os_ = next((v for k, v in _OS.items() if sys_platform.startswith(k)), sys_platform.lower())
    return os_, _ARCH.get(machine.lower(), machine.lower())
