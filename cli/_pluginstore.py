"""The I/O of Flux's CLI plugins, shared with the `flux` binary: the plugin directory
(`$FLUXCD_PLUGINS`, else `~/.fluxcd/plugins`) holding `flux-<name>` executables and their
install receipts `flux-<name>.yaml`; the catalog (`$FLUXCD_PLUGIN_CATALOG`, else the latest
release of github.com/fluxcd/plugins), fetched over http(s) only, bounded and retried;
installing (download, sha256 check against the catalog, then the binary and the receipt
written atomically) and uninstalling.

Nothing here runs a plugin: that is `_plugin.exec_plugin`, for a name the user typed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform as _platform
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Final
from urllib.parse import urlsplit

from . import _pluginarchive as archive
from ._errors import CLIError, NotFoundError
from ._plugincatalog import (
    RESERVED_NAMES,
    Catalog,
    CatalogError,
    Manifest,
    Platform,
    Receipt,
    Version,
    binary_name,
    host_platform,
    parse_catalog,
    parse_manifest,
    parse_receipt,
    plugin_name_of,
    receipt_yaml,
    sha256_digest,
)

__all__ = [
    "DEFAULT_CATALOG",
    "ENV_CATALOG",
    "ENV_PLUGINS",
    "CatalogClient",
    "Fetcher",
    "Installed",
    "PluginDir",
    "afflux_commands",
    "builtin_commands",
    "local_dir",
    "local_platform",
]

ENV_PLUGINS: Final = "FLUXCD_PLUGINS"
ENV_CATALOG: Final = "FLUXCD_PLUGIN_CATALOG"
DEFAULT_CATALOG: Final = "https://github.com/fluxcd/plugins/releases/latest/download/"
#: a catalog document (flux's bound)
MAX_DOCUMENT: Final = 10 << 20
#: a plugin download (archive or binary)
MAX_DOWNLOAD: Final = 512 << 20
_LIMITS: Final = archive.Limits()
_RETRIES = 3


class _HTTPOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects (release downloads are redirected) to http(s) URLs only."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise CLIError(f"{req.full_url} redirects to {newurl}: only http(s) is followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _HTTPError(CLIError):
    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status


class Fetcher:
    """GETs an http(s) URL into a stream, at most `limit` bytes, retrying connection errors,
    429 and 5xx answers (3 times, with backoff), as flux's retrying client does."""

    def __init__(self, timeout: float = 300.0,
                 warn: Callable[[str], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.timeout = timeout
        self._warn = warn or (lambda _m: None)
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_HTTPOnlyRedirects)

    def get(self, url: str, out: BinaryIO, limit: int) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise CLIError(f"refusing to fetch {url!r}: only http and https URLs are fetched")
        for attempt in range(_RETRIES + 1):
            try:
                self._get_once(url, out, limit)
                return
            except _HTTPError as err:
                if (err.status != 429 and err.status < 500) or attempt == _RETRIES:
                    raise
                reason = str(err)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                if attempt == _RETRIES:
                    raise CLIError(f"cannot fetch {url}: {getattr(err, 'reason', err)}") from None
                reason = str(getattr(err, "reason", err))
            delay = 0.5 * 2**attempt
            self._warn(f"fetching {url} failed ({reason}), retrying in {delay:g}s")
            self._sleep(delay)
            out.seek(0)
            out.truncate()

    def _get_once(self, url: str, out: BinaryIO, limit: int) -> None:
        try:
            resp = self._opener.open(urllib.request.Request(url), timeout=self.timeout)
        except urllib.error.HTTPError as err:
            err.close()
            raise _HTTPError(url, err.code) from None
        with resp:
            try:
                archive.copy_bounded(resp, out, limit, url)
            except archive.ArchiveError as err:
                raise CLIError(str(err)) from None

    def get_bytes(self, url: str, limit: int = MAX_DOCUMENT) -> bytes:
        with tempfile.SpooledTemporaryFile(max_size=limit + 1) as buf:
            self.get(url, buf, limit)  # type: ignore[arg-type]
            buf.seek(0)
            return buf.read()


class CatalogClient:
    """Reads `<base>catalog.yaml` and `<base><name>.yaml`."""

    def __init__(self, base: str, fetcher: Fetcher) -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.fetcher = fetcher

    @classmethod
    def from_env(cls, env: Mapping[str, str], fetcher: Fetcher) -> CatalogClient:
        return cls(env.get(ENV_CATALOG) or DEFAULT_CATALOG, fetcher)

    def manifest(self, name: str) -> Manifest:
        url = f"{self.base}{name}.yaml"
        try:
            body = self.fetcher.get_bytes(url)
        except _HTTPError as err:
            if err.status == 404:
                raise NotFoundError(f"plugin {name!r} not found in catalog",
                                    "`afflux plugin search` lists the catalog's plugins") from None
            raise
        try:
            return parse_manifest(body, name)
        except CatalogError as err:
            raise CLIError(str(err)) from None

    def catalog(self) -> Catalog:
        try:
            return parse_catalog(self.fetcher.get_bytes(f"{self.base}catalog.yaml"))
        except CatalogError as err:
            raise CLIError(str(err)) from None
        except _HTTPError as err:
            raise CLIError(f"failed to fetch plugin catalog: {err.message}",
                           f"is {ENV_CATALOG} ({self.base}) the catalog's base URL?") from None


@dataclass(frozen=True)
class Installed:
    """A plugin found in the plugin directory; `receipt` None for one put there by hand."""

    name: str
    path: Path
    receipt: Receipt | None

    @property
    def version(self) -> str:
        return self.receipt.version if self.receipt else "manual"


@dataclass(frozen=True)
class PluginDir:
    """The plugin directory. `managed` is False when the user chose it ($FLUXCD_PLUGINS):
    then it is never created, as flux does."""

    path: Path
    os: str
    managed: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str], home: Path, os_: str) -> PluginDir:
        if env.get(ENV_PLUGINS):
            return cls(Path(env[ENV_PLUGINS]), os_, managed=False)
        return cls(home / ".fluxcd" / "plugins", os_)

    def binary(self, name: str) -> Path:
        return self.path / binary_name(name, self.os)

    def receipt_path(self, name: str) -> Path:
        return self.path / f"flux-{name}.yaml"

    def _runnable(self, path: Path) -> bool:
        try:
            st = path.stat()  # follows a symbolic link (a plugin may be one, flux's docs say)
        except OSError:
            return False
        executable = self.os == "windows" or bool(st.st_mode & 0o111)
        return path.is_file() and executable

    def find(self, name: str, builtins: Collection[str]) -> Path | None:
        """The executable `afflux <name>` runs, if the directory has one."""
        if not name or name in RESERVED_NAMES or name in builtins or "/" in name \
                or os.sep in name or name in (".", ".."):
            return None
        candidates = [self.binary(name)]
        if self.os == "windows":
            candidates += [self.path / f"flux-{name}{ext}" for ext in (".cmd", ".bat")]
        return next((c for c in candidates if self._runnable(c)), None)

    def discover(self, builtins: Collection[str]) -> list[Installed]:
        """Every plugin in the directory (flux's rules: `flux-*` regular executable files,
        links followed, not a built-in or reserved name), by name."""
        try:
            entries = sorted(os.scandir(self.path), key=lambda e: e.name)
        except OSError:
            return []
        found = []
        for entry in entries:
            name = plugin_name_of(entry.name, self.os)
            if not name or name in RESERVED_NAMES or name in builtins:
                continue
            path = Path(entry.path)
            if self._runnable(path):
                found.append(Installed(name, path, self.receipt(name)))
        return found

    def receipt(self, name: str) -> Receipt | None:
        try:
            return parse_receipt(self.receipt_path(name).read_bytes())
        except OSError:
            return None

    def ensure(self) -> None:
        if self.path.is_dir():
            return
        if not self.managed:
            raise CLIError(f"plugin directory {self.path} ({ENV_PLUGINS}) does not exist",
                           f"create it, or unset {ENV_PLUGINS} to use ~/.fluxcd/plugins")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CLIError(f"cannot create the plugin directory {self.path}: {err}") from None

    def install(self, manifest: Manifest, version: Version, platform: Platform,
                fetcher: Fetcher, *, limits: archive.Limits = _LIMITS,
                now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Path:
        """Download `platform.url`, check its sha256 against the catalog's checksum, take the
        binary out, then put it and the receipt in place (each by an atomic rename: a
        failure leaves the previous install as it was)."""
        try:
            expected = sha256_digest(platform.checksum)
        except CatalogError as err:
            raise CLIError(f"plugin {manifest.name!r} v{version.version}: {err}") from None
        self.ensure()
        with tempfile.TemporaryFile() as download:
            hasher = _Hashing(download)
            fetcher.get(platform.url, hasher, MAX_DOWNLOAD)  # type: ignore[arg-type]
            got = "sha256:" + hasher.hexdigest()
            if got != expected:
                raise CLIError(f"checksum verification failed (expected: {expected}, got: {got})",
                               "the download is not what the catalog names: nothing was "
                               "installed")
            download.seek(0)
            head = download.read(262)
            download.seek(0)
            fmt = archive.detect_format(platform.url, head)
            dest = self.binary(manifest.name)
            target = platform.extract_path or dest.name
            try:
                _write_atomic(dest, lambda out: archive.extract_binary(
                    download, fmt, target, out, limits), mode=0o755)
            except archive.ArchiveError as err:
                raise CLIError(f"plugin {manifest.name!r} v{version.version}: {err}",
                               "nothing was installed") from None
        receipt = Receipt(manifest.name, version.version,
                          now().strftime("%Y-%m-%dT%H:%M:%SZ"), platform)
        text = receipt_yaml(receipt).encode()
        _write_atomic(self.receipt_path(manifest.name), lambda out: out.write(text), mode=0o644)
        return dest

    def uninstall(self, name: str) -> None:
        """Remove the binary (or link) and its receipt; NotFoundError when not installed."""
        binary = self.binary(name)
        if not os.path.lexists(binary):
            raise NotFoundError(f"plugin {name!r} is not installed",
                                "`afflux plugin list` shows the installed plugins")
        try:
            binary.unlink()
            self.receipt_path(name).unlink(missing_ok=True)
        except OSError as err:
            raise CLIError(f"failed to remove plugin {name!r}: {err}") from None


class _Hashing:
    """A file that hashes what is written to it (and forgets on truncate, for a retry)."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        return self._inner.write(data)

    def seek(self, offset: int) -> int:
        return self._inner.seek(offset)

    def truncate(self) -> int:
        self._hash = hashlib.sha256()
        return self._inner.truncate()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _write_atomic(dest: Path, write: Callable[[BinaryIO], object], *, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def local_platform() -> tuple[str, str]:
    """This machine's os and arch, as a catalog names them (linux/amd64, darwin/arm64, ...)."""
    return host_platform(sys.platform, _platform.machine())


def local_dir() -> PluginDir:
    """The plugin directory of this user and environment."""
    return PluginDir.from_env(os.environ, Path.home(), local_platform()[0])


def builtin_commands(parser: argparse.ArgumentParser) -> frozenset[str]:
    """A parser's command names and aliases (they always win over a plugin), and the
    reserved `plugin` and `help`."""
    names: set[str] = set(RESERVED_NAMES)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            names.update(action.choices)
    return frozenset(names)


def afflux_commands() -> frozenset[str]:
    """afflux's own commands (`builtin_commands` of its parser)."""
    from ._main import build_parser  # noqa: PLC0415 - the parser registers the plugin commands

    return builtin_commands(build_parser())
