"""Where kustomize-controller finds the programs it runs (`kustomize`, `sops`, `gpg`).

A caller may always pass a path. Otherwise the program is looked up on `$PATH` (how the
controller image ships them), then in the tool cache the development setup fills
(`$AFFLUX_CACHE/bin`, `~/.cache/afflux/bin` by default).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["ToolNotFoundError", "find_tool"]


class ToolNotFoundError(FileNotFoundError):
    """A program kustomize-controller needs is not installed."""


def _cache_bin() -> Path:
    cache = os.environ.get("AFFLUX_CACHE") or str(Path.home() / ".cache" / "afflux")
    return Path(cache) / "bin"


def find_tool(name: str, explicit: str | os.PathLike[str] | None = None) -> str:
    """The path of program `name`: `explicit` if given, else from $PATH, else from the cache."""
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolNotFoundError(f"{name}: {path} is not an executable file")
        return str(path)
    found = shutil.which(name)
    if found:
        return found
    cached = _cache_bin() / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    raise ToolNotFoundError(
        f"{name} is not installed: it is neither on $PATH nor in {_cache_bin()}"
    )
