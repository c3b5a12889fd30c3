"""ArtifactGenerator copy operations, planned without touching a disk (pure).

A copy operation `from: @alias/<pattern>`, `to: @artifact/<path>` works like `cp`:

| from                   | to            | result                                          |
| ---------------------- | ------------- | ----------------------------------------------- |
| `@s/config.yaml`       | `@artifact/a.yaml` | the file, renamed                          |
| `@s/config.yaml`       | `@artifact/apps/`  | `apps/config.yaml`                         |
| `@s/configs/*.yaml`    | `@artifact/apps/`  | each match under `apps/`, by its base name |
| `@s/configs/**`        | `@artifact/apps/`  | the directory's content, subdirectories kept |
| `@s/configs/`          | `@artifact/apps/`  | `apps/configs/...` (the directory itself)  |
| `@s/` (the root)       | `@artifact/`       | the whole source                           |

A glob (`*` within a path segment, `**` across segments, `?`, `[...]`) keeps each match's path
below the pattern's fixed directory prefix. `exclude` globs are matched against that same
relative path, and a glob without `/` against the base name too (`*.md` anywhere).
A pattern that matches nothing is an error, so a renamed directory does not silently
produce an empty artifact.

`plan_copy(files, op)` turns one operation and the list of a source's files into
`(source path, artifact path)` pairs; `merge_values(base, overlay)` is the Merge strategy
on parsed YAML (maps merged deeply, everything else replaced, as Helm merges values files);
`content_digest(files)` is the digest an artifact's `latest@sha256:` revision is made of.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from afflux.api._source_extensions_v1beta1 import (
    BUILD_FAILED,
    VALIDATION_FAILED,
    ArtifactGeneratorError,
)

__all__ = [
    "CopyStep",
    "content_digest",
    "glob_regex",
    "is_tarball",
    "merge_values",
    "parse_from",
    "parse_to",
    "plan_copy",
]

_GLOB_CHARS = re.compile(r"[*?\[]")
TARBALL_SUFFIXES = (".tar.gz", ".tgz")


@dataclass(frozen=True)
class CopyStep:
    """Copy the source file `src` to the artifact path `dst`."""

    src: str
    dst: str


def parse_from(text: str) -> tuple[str, str]:
    """`@alias/pattern` -> (alias, pattern)."""
    match = re.fullmatch(r"@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)", text or "")
    if match is None:
        raise ArtifactGeneratorError(VALIDATION_FAILED, f"invalid copy source '{text}': want "
                                     "@<alias>/<path or glob>")
    return match.group(1), match.group(3)


def parse_to(text: str) -> str:
    """`@artifact/path` -> path (may be '' or end in '/')."""
    match = re.fullmatch(r"@artifact/(.*)", text or "")
    if match is None:
        raise ArtifactGeneratorError(VALIDATION_FAILED, f"invalid copy destination '{text}': "
                                     "want @artifact/<path>")
    return _safe_relative(match.group(1), text)


def _safe_relative(path: str, where: str) -> str:
    trailing = path.endswith("/")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArtifactGeneratorError(VALIDATION_FAILED,
                                     f"'{where}' leaves the artifact root ('..' is not allowed)")
    joined = "/".join(parts)
    return f"{joined}/" if trailing and joined else joined


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex over '/'-separated relative paths: `**` crosses directories,
    `*` and `?` do not, `[...]` is a character class."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _excluded(rel: str, excludes: Sequence[str]) -> bool:
    base = posixpath.basename(rel)
    for pattern in excludes:
        if glob_regex(pattern).match(rel):
            return True
        if "/" not in pattern and glob_regex(pattern).match(base):
            return True
    return False


def _join(directory: str, rel: str) -> str:
    return f"{directory.rstrip('/')}/{rel}" if directory.rstrip("/") else rel


def plan_copy(files: Iterable[str], alias: str, pattern: str, to: str,
              exclude: Sequence[str] = ()) -> list[CopyStep]:
    """The file copies of one operation over a source's `files` (relative paths), in path
    order. Raises ArtifactGeneratorError(BuildFailed) when nothing matches."""
    pattern = _safe_relative(pattern, f"@{alias}/{pattern}")
    paths = sorted(set(files))
    where = f"@{alias}/{pattern}"
    steps: list[tuple[str, str]] = []  # (src, path relative to the destination directory)
    into_dir = to == "" or to.endswith("/")
    if _GLOB_CHARS.search(pattern):
        fixed = _GLOB_CHARS.split(pattern, maxsplit=1)[0]
        base = fixed[: fixed.rfind("/") + 1]
        regex = glob_regex(pattern)
        steps = [(p, p[len(base):]) for p in paths if regex.match(p)]
        into_dir = True
    elif pattern == "" or pattern.endswith("/"):
        directory = pattern
        name = posixpath.basename(directory.rstrip("/"))
        steps = [(p, _join(name, p[len(directory):])) for p in paths
                 if p.startswith(directory)]
        into_dir = True
    elif pattern in paths:
        steps = [(pattern, posixpath.basename(pattern))]
    else:  # a directory named without the trailing slash: cp -r copies it by its name
        directory = pattern + "/"
        name = posixpath.basename(pattern)
        steps = [(p, _join(name, p[len(directory):])) for p in paths
                 if p.startswith(directory)]
        into_dir = True
    steps = [(src, rel) for src, rel in steps if not _excluded(rel, exclude)]
    if not steps:
        raise ArtifactGeneratorError(BUILD_FAILED, f"no files match '{where}'")
    if not into_dir:
        return [CopyStep(steps[0][0], to)]
    return [CopyStep(src, _join(to, rel)) for src, rel in steps]


def is_tarball(path: str) -> bool:
    """Whether the Extract strategy takes this file (.tar.gz or .tgz)."""
    return path.endswith(TARBALL_SUFFIXES)


def merge_values(base: Any, overlay: Any) -> Any:
    """Merge `overlay` into `base`: maps key by key (deeply), anything else (lists, scalars,
    a map over a scalar) replaced by the overlay. Returns a new value."""
    if isinstance(base, Mapping) and isinstance(overlay, Mapping):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge_values(base[key], value) if key in base else value
        return out
    return overlay


def content_digest(files: Iterable[tuple[str, bytes | str]]) -> str:
    """`sha256:<hex>` over the (path, sha256 of content) pairs in path order: the same
    files give the same digest whatever their order or timestamps."""
    outer = hashlib.sha256()
    for path, content in sorted(files):
        inner = content if isinstance(content, str) else hashlib.sha256(content).hexdigest()
        outer.update(f"{path}\0{inner}\n".encode())
    return f"sha256:{outer.hexdigest()}"
