"""A `kustomization.yaml` for a directory of plain manifests, as kustomize-controller makes one.

When the Kustomization's `path` has no kustomization file (`kustomization.yaml`,
`kustomization.yml` or `Kustomization`), one is generated listing, as resources:

- every `.yaml`/`.yml` file under the directory, recursively, that holds Kubernetes objects
  (documents with `apiVersion` and `kind`);
- every sub-directory that has a kustomization file of its own (its files are then not
  listed: that kustomization decides what it builds).

Paths are relative, written `./<path>`, in the order a depth-first walk visits them with each
directory's entries sorted by name. A YAML file that does not parse is an error naming it;
YAML files without Kubernetes objects (Helm values, SOPS rules, ...) are left out; a file
mixing both is an error. A directory without manifests gets a kustomization that builds
nothing.

`generate_kustomization` and `classify_manifest` only read; `ensure_kustomization` writes the
file (into a scratch copy of the artifact: the build never touches the caller's tree).
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import Any

import yaml

from ._objects import KubeLoader

__all__ = [
    "KUSTOMIZATION_FILES",
    "KUSTOMIZE_API_VERSION",
    "GenerateError",
    "classify_manifest",
    "decode_text",
    "ensure_kustomization",
    "find_kustomization",
    "generate_kustomization",
    "scan_manifests",
]

#: The file names kustomize recognises, in the order it looks for them.
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_API_VERSION = "kustomize.config.k8s.io/v1beta1"
_MANIFEST_SUFFIXES = (".yaml", ".yml")
#: Namespace of a generated kustomization that lists nothing (kustomize refuses an empty one).
_PLACEHOLDER_NAMESPACE = "_placeholder"


class GenerateError(ValueError):
    """A manifest under the path cannot be read; `file` is its path relative to the scan root."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.detail = message


def find_kustomization(directory: Path) -> Path | None:
    """The kustomization file of `directory`, or None."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def decode_text(data: bytes) -> str:
    """Bytes of a manifest as text: UTF-8, or UTF-16/UTF-8 with a byte-order mark."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding)
    return data.decode("utf-8")


def _is_object(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("apiVersion"), str)
        and isinstance(document.get("kind"), str)
    )


def classify_manifest(text: str, file: str) -> bool:
    """Whether a YAML file is a list of Kubernetes objects (True) or holds none (False).

    Raises `GenerateError` naming `file` when the YAML does not parse, or when it mixes objects
    with documents that are not objects."""
    try:
        documents = [d for d in yaml.load_all(text, Loader=KubeLoader) if d is not None]
    except yaml.YAMLError as err:
        raise GenerateError(file, f"invalid YAML: {err}") from None
    objects = [_is_object(d) for d in documents]
    if objects and all(objects):
        return True
    if any(objects):
        index = objects.index(False) + 1
        raise GenerateError(
            file, f"document {index} is not a Kubernetes object (it has no apiVersion and kind)"
        )
    return False


def _walk(directory: Path, root: Path, found: list[str]) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as err:
        raise GenerateError(directory.relative_to(root).as_posix() or ".", str(err)) from None
    for entry in entries:
        path = Path(entry.path)
        relative = path.relative_to(root).as_posix()
        if entry.is_dir(follow_symlinks=False):
            if find_kustomization(path) is not None:
                found.append(f"./{relative}")
            else:
                _walk(path, root, found)
            continue
        if not entry.name.endswith(_MANIFEST_SUFFIXES):
            continue
        try:
            text = decode_text(path.read_bytes())
        except (OSError, UnicodeDecodeError) as err:
            raise GenerateError(relative, f"cannot read it: {err}") from None
        if classify_manifest(text, relative):
            found.append(f"./{relative}")


def scan_manifests(directory: Path) -> list[str]:
    """The resources a generated kustomization lists for `directory` (module docstring)."""
    found: list[str] = []
    _walk(directory, directory, found)
    return found


def generate_kustomization(directory: Path) -> dict[str, Any]:
    """The content of the kustomization generated for `directory`."""
    kustomization: dict[str, Any] = {
        "apiVersion": KUSTOMIZE_API_VERSION,
        "kind": "Kustomization",
    }
    resources = scan_manifests(directory)
    if resources:
        kustomization["resources"] = resources
    else:
        kustomization["namespace"] = _PLACEHOLDER_NAMESPACE
    return kustomization


def ensure_kustomization(directory: Path) -> tuple[Path, bool]:
    """The kustomization file of `directory`, writing a generated `kustomization.yaml` when it
    has none. Returns the file and whether it was generated."""
    existing = find_kustomization(directory)
    if existing is not None:
        return existing, False
    content = generate_kustomization(directory)
    target = directory / KUSTOMIZATION_FILES[0]
    target.write_text(yaml.safe_dump(content, sort_keys=False))
    return target, True
