"""The chart a HelmRelease installs: downloaded from its source's artifact, checked, unpacked.

`fetch_chart(url, digest, dest)` downloads the artifact (at most `MAX_CHART_BYTES`; each try
within helm-controller's `--http-timeout`, a failure that may pass tried again up to
`--http-retry` times with Flux's backoff, each retry logged), checks
its digest against `status.artifact.digest` before anything is used, unpacks it with the
runtime's `safe_extract` (bounded in bytes and files) and returns the chart directory (the
one holding `Chart.yaml`: the archive's root or its single top directory) and the chart's
metadata. helm is given that directory, never the downloaded bytes.

`ChartCache` remembers the metadata (name, version, appVersion) by artifact digest, so a
reconcile that finds nothing to do downloads nothing: the artifact digest names the bytes.
"""

from __future__ import annotations

import asyncio
import collections
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from afflux.api import digest_bytes, parse_digest
from afflux.controllers.runtime import (
    HTTPStatusError,
    UnsafeArchiveError,
    safe_extract,
    with_retries,
)

__all__ = ["MAX_CHART_BYTES", "ChartCache", "ChartError", "ChartMeta", "fetch_chart",
           "read_chart_meta"]

#: What Helm accepts for a chart archive.
MAX_CHART_BYTES = 50 << 20
MAX_UNPACKED_BYTES = 4 * MAX_CHART_BYTES
MAX_FILES = 10_000
_CHUNK = 1 << 16
_log = logging.getLogger("afflux.helm-controller")


class ChartError(Exception):
    """The chart artifact cannot be had or is not a chart."""


@dataclass(frozen=True)
class ChartMeta:
    name: str
    version: str
    app_version: str = ""


def read_chart_meta(chart_dir: Path) -> ChartMeta:
    try:
        meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ChartError(f"cannot read Chart.yaml: {err}") from None
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        raise ChartError("Chart.yaml has no name or version")
    return ChartMeta(str(meta["name"]), str(meta["version"]), str(meta.get("appVersion") or ""))


async def _get(url: str, timeout: float) -> bytes:
    import aiohttp  # noqa: PLC0415 - only the controller process downloads

    buf = io.BytesIO()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s, \
            s.get(url) as response:
        if response.status != 200:
            raise HTTPStatusError(url, response.status, response.reason or "")
        async for chunk in response.content.iter_chunked(_CHUNK):
            buf.write(chunk)
            if buf.tell() > MAX_CHART_BYTES:
                raise ChartError(f"the chart artifact is larger than {MAX_CHART_BYTES} bytes")
    return buf.getvalue()


async def download(url: str, timeout: float, retries: int = 0) -> bytes:
    """GET `url`, at most MAX_CHART_BYTES, each try within `timeout`; a failure that may pass
    is tried again up to `retries` times with Flux's backoff (`runtime._httpretry`)."""
    import aiohttp  # noqa: PLC0415 - only the controller process downloads

    def retrying(retry: int, wait: float, err: BaseException) -> None:
        _log.warning("chart download failed, retrying",
                     extra={"url": url, "retry": retry, "of": retries, "wait": wait,
                            "error": str(err) or type(err).__name__})

    try:
        return await with_retries(lambda: _get(url, timeout), retries, on_retry=retrying)
    except HTTPStatusError as err:
        raise ChartError(str(err)) from None
    except (aiohttp.ClientError, TimeoutError) as err:
        raise ChartError(f"cannot download {url}: {err or type(err).__name__}") from None


def _chart_dir(root: Path) -> Path:
    if (root / "Chart.yaml").is_file():
        return root
    tops = [p for p in root.iterdir() if p.is_dir() and (p / "Chart.yaml").is_file()]
    if len(tops) != 1:
        raise ChartError("the artifact holds no single chart (no Chart.yaml at its root or in "
                         "one top directory)")
    return tops[0]


def _unpack(data: bytes, digest: str | None, dest: Path) -> tuple[Path, ChartMeta]:
    if digest:
        try:
            algorithm = parse_digest(digest)[0]
        except ValueError as err:
            raise ChartError(f"the chart artifact's digest is not usable: {err}") from None
        actual = digest_bytes(data, algorithm)
        if actual != digest.lower():
            raise ChartError(f"the chart artifact's digest {actual} is not the {digest} its "
                             "source announced")
    try:
        safe_extract(io.BytesIO(data), dest, max_bytes=MAX_UNPACKED_BYTES, max_files=MAX_FILES)
    except (UnsafeArchiveError, OSError, EOFError) as err:
        raise ChartError(f"cannot unpack the chart artifact: {err}") from None
    chart = _chart_dir(dest)
    return chart, read_chart_meta(chart)


async def fetch_chart(url: str, digest: str | None, dest: Path, *, timeout: float = 30.0,
                      retries: int = 0) -> tuple[Path, ChartMeta]:
    """Download, check and unpack the chart into `dest` (module docstring)."""
    data = await download(url, timeout, retries)
    return await asyncio.to_thread(_unpack, data, digest, dest)


class ChartCache:
    """Chart metadata by artifact digest (least recently used dropped beyond `size`)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._meta: collections.OrderedDict[str, ChartMeta] = collections.OrderedDict()

    def get(self, digest: str | None) -> ChartMeta | None:
        if not digest or digest not in self._meta:
            return None
        self._meta.move_to_end(digest)
        return self._meta[digest]

    def put(self, digest: str | None, meta: ChartMeta) -> None:
        if not digest:
            return
        self._meta[digest] = meta
        self._meta.move_to_end(digest)
        while len(self._meta) > self.size:
            self._meta.popitem(last=False)
