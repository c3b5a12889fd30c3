"""Paths inside an unpacked artifact, and reading the kustomization files found there."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from ._errors import BuildError
from ._generate import decode_text
from ._objects import KubeLoader

__all__ = ["inside", "load_kustomization", "relative"]


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, with symlinks resolved, is `root` or below it."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def relative(root: Path, path: Path) -> str:
    """`path` relative to `root` for messages (as given when it is not below `root`)."""
    try:
        return Path(os.path.normpath(path)).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def load_kustomization(root: Path, file: Path) -> dict[str, Any]:
    """A kustomization file's content; BuildError naming the file when it cannot be read."""
    name = relative(root, file)
    try:
        content = yaml.load(decode_text(file.read_bytes()), Loader=KubeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise BuildError(f"cannot read {name}: {err}", file=name) from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise BuildError(f"{name} is not a kustomization (not a mapping)", file=name)
    return content
