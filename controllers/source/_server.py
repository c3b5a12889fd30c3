"""The artifact HTTP server: serves the storage root read-only, as Flux's does.

`GET /<path>` answers with the bytes of `<root>/<path>` and `HEAD` with its headers:
`Content-Length`, `Content-Type` (`application/gzip` for `.tar.gz`/`.tgz`,
`application/yaml` for `.yaml`, `application/json` for `.json`, otherwise
`application/octet-stream`; never a `Content-Encoding`, so clients do not unpack a
tarball on the fly and the bytes they hash are the stored ones), and `Last-Modified`.

Only regular files inside the root are served. Anything else is a 404: paths with
`.`/`..`/empty segments, backslashes or NUL (also when percent-encoded), hidden names
(the storage's `.tmp-*` files), directories (no listings), and symlinks that resolve
outside the root (the storage's `latest.tar.gz` link resolves inside it and is served).
Other methods get 405.

It is an aiohttp application, so it runs on the operator's event loop
(`await server.start()`); `start_in_thread()` runs it on a loop of its own for tests
and tools. Files are read in chunks in a worker thread, never whole.
"""

from __future__ import annotations

import asyncio
import os
import stat
import threading
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

__all__ = ["ArtifactServer", "content_type_for", "make_app", "resolve_request_path"]

CHUNK = 256 * 1024
ROOT_KEY = web.AppKey("artifact_root", str)

_CONTENT_TYPES = (
    (".tar.gz", "application/gzip"),
    (".tgz", "application/gzip"),
    (".gz", "application/gzip"),
    (".tar", "application/x-tar"),
    (".yaml", "application/yaml"),
    (".yml", "application/yaml"),
    (".json", "application/json"),
)


def content_type_for(name: str) -> str:
    lower = name.lower()
    for suffix, kind in _CONTENT_TYPES:
        if lower.endswith(suffix):
            return kind
    return "application/octet-stream"


def resolve_request_path(root: str | os.PathLike[str], raw_path: str) -> Path | None:
    """The file under `root` a raw (still percent-encoded) request path names, or None if
    the path is not one the server may serve (see the module docstring)."""
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return None
    decoded = unquote(path[1:], errors="strict") if "%" in path else path[1:]
    if not decoded or "\x00" in decoded or "\\" in decoded:
        return None
    parts = decoded.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(real_root, *parts))
    if not candidate.startswith(real_root.rstrip(os.sep) + os.sep):
        return None
    return Path(candidate)


async def _serve(request: web.Request) -> web.StreamResponse:
    root = request.app[ROOT_KEY]
    try:
        target = resolve_request_path(root, request.raw_path)
    except UnicodeDecodeError:
        target = None
    if target is None:
        raise web.HTTPNotFound()
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        raise web.HTTPNotFound() from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise web.HTTPNotFound()
    file = os.fdopen(fd, "rb")
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": content_type_for(target.name),
                "Last-Modified": formatdate(st.st_mtime, usegmt=True),
                "Cache-Control": "no-cache",
            }
        )
        response.content_length = st.st_size
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        remaining = st.st_size
        while remaining > 0:
            chunk = await asyncio.to_thread(file.read, min(CHUNK, remaining))
            if not chunk:
                break  # truncated under us: the client sees a short body
            remaining -= len(chunk)
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        file.close()


def make_app(root: str | os.PathLike[str]) -> web.Application:
    """The aiohttp application serving `root`."""
    app = web.Application()
    app[ROOT_KEY] = os.path.realpath(root)
    app.router.add_get("/{path:.*}", _serve, allow_head=True)
    return app


class ArtifactServer:
    """Serves a storage root on host:port (port 0: the OS picks; see `port` after start)."""

    def __init__(self, root: str | os.PathLike[str], host: str = "0.0.0.0", port: int = 9090) -> None:
        self.root = Path(root)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Start listening on the running event loop."""
        runner = web.AppRunner(make_app(self.root), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self, timeout: float = 10.0) -> ArtifactServer:
        """Run the server on its own event loop in a daemon thread; return once it listens."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as err:  # noqa: BLE001 - reported to the caller
                failure.append(err)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        self._thread = threading.Thread(target=run, name="artifact-server", daemon=True)
        self._thread.start()
        if not started.wait(timeout):
            raise TimeoutError(f"the artifact server did not start within {timeout}s")
        if failure:
            raise failure[0]
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._thread = None
            self._loop = None

    def __enter__(self) -> ArtifactServer:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()
