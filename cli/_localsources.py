"""The pure parts of `build`/`diff kustomization --recursive`: which built objects are
Kustomizations to descend into, the `Kind/namespace/name` key of a Kustomization's source,
and `--local-sources` (`Kind/namespace/name=path`, comma-separated or repeated), which maps
those keys to local directories.

As flux: a Kustomization found in the build is built (or diffed) from the directory
`--local-sources` gives for its `spec.sourceRef` (the namespace defaults to the
Kustomization's own), joined with its `spec.path`; a source with no entry is an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "LocalSourceError",
    "is_kustomization",
    "kustomization_path",
    "object_namespace",
    "parse_local_sources",
    "source_key",
]

KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"


class LocalSourceError(ValueError):
    """A `--local-sources` entry that cannot be used, or a source it does not map."""


def parse_local_sources(values: Sequence[str], base: Path | None = None) -> dict[str, Path]:
    """`["GitRepository/flux-system/repo=./dir,OCIRepository/apps/x=/tmp/x"]` ->
    {key: directory}; relative directories are taken from `base` (default: the working
    directory). Later entries win, as pflag's string-to-string flags."""
    out: dict[str, Path] = {}
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            key, sep, directory = part.partition("=")
            fields = key.strip().split("/")
            if not sep or not directory.strip() or len(fields) != 3 or not all(fields):
                raise LocalSourceError(
                    f"--local-sources {part!r}: expected Kind/namespace/name=path, e.g. "
                    "GitRepository/flux-system/flux-system=./")
            path = Path(directory.strip())
            out["/".join(fields)] = path if path.is_absolute() or base is None \
                else base / path
    return out


def is_kustomization(obj: Mapping[str, Any]) -> bool:
    """Whether a built object is a Flux Kustomization (any served version)."""
    return obj.get("kind") == "Kustomization" and \
        str(obj.get("apiVersion", "")).startswith(KUSTOMIZE_GROUP + "/")


def object_namespace(obj: Mapping[str, Any], default: str) -> str:
    """The namespace of a built object, `default` when the build left it out."""
    return str((obj.get("metadata") or {}).get("namespace") or default)


def source_key(ks: Mapping[str, Any]) -> str:
    """`Kind/namespace/name` of a Kustomization's sourceRef (namespace: the
    Kustomization's own when the ref has none)."""
    ref = (ks.get("spec") or {}).get("sourceRef") or {}
    namespace = ref.get("namespace") or (ks.get("metadata") or {}).get("namespace") or ""
    return f"{ref.get('kind', '')}/{namespace}/{ref.get('name', '')}"


def kustomization_path(ks: Mapping[str, Any], sources: Mapping[str, Path]) -> tuple[Path, Path]:
    """(source root, build directory) of `ks` from `sources`; LocalSourceError, naming the
    flag to add, when its source has no entry or its path leaves the source."""
    key = source_key(ks)
    name = (ks.get("metadata") or {}).get("name", "")
    root = sources.get(key)
    if root is None:
        raise LocalSourceError(
            f"cannot get local path for {key} of kustomization {name}: add "
            f"--local-sources {key}=<directory>")
    spec_path = str((ks.get("spec") or {}).get("path") or "")
    directory = Path(os.path.normpath(root / spec_path.lstrip("/")))
    resolved_root = Path(os.path.normpath(root))
    if os.path.commonpath([resolved_root, directory]) != str(resolved_root):
        raise LocalSourceError(
            f"spec.path {spec_path!r} of kustomization {name} leaves its source {key}")
    return root, directory
