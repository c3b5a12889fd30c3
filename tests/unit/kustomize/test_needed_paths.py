"""`needed_paths`: what a build of one path copies out of the artifact (and what it leaves)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from afflux.controllers.kustomize._build import needed_paths
from afflux.controllers.kustomize._errors import BuildError

# Each tree: file -> content ("->target" makes a symbolic link); the path to build; the
# components the spec adds; the expected list, relative to the root.
TREES = {
    "plain-directory": (
        {"apps/a/cm.yaml": "", "apps/b/cm.yaml": ""},
        "apps/a", (), ["apps/a"]),
    "overlay-pulls-its-base-only": (
        {"apps/a/base/kustomization.yaml": "resources: [cm.yaml]",
         "apps/a/base/cm.yaml": "",
         "apps/a/dev/kustomization.yaml": "resources: [../base]",
         "apps/a/prod/kustomization.yaml": "resources: [../base]",
         "apps/b/cm.yaml": ""},
        "apps/a/dev", (), ["apps/a/base", "apps/a/dev"]),
    "nested-kustomization-refers-out": (
        {"clusters/dev/kustomization.yaml": "resources: [app]",
         "clusters/dev/app/kustomization.yaml": "resources: [../../../shared/base]",
         "shared/base/kustomization.yaml": "components: [../comp]",
         "shared/comp/kustomization.yaml": "kind: Component",
         "shared/unused/cm.yaml": ""},
        "clusters/dev", (), ["clusters/dev", "shared/base", "shared/comp"]),
    "spec-components": (
        {"app/kustomization.yaml": "resources: []", "comp/kustomization.yaml": "",
         "other/cm.yaml": ""},
        "app", ("../comp",), ["app", "comp"]),
    "file-references": (
        {"app/kustomization.yaml": "patches: [{path: ../patches/p.yaml}]\n"
                                   "configMapGenerator: [{name: c, files: [k=../files/f.txt]}]",
         "patches/p.yaml": "", "patches/q.yaml": "", "files/f.txt": ""},
        "app", (), ["app", "files/f.txt", "patches/p.yaml"]),
    "missing-and-remote-references-are-left-to-the-build": (
        {"app/kustomization.yaml": "resources: [../gone, 'https://example.com/x', /etc]"},
        "app", (), ["app"]),
    "link-target-is-copied-too": (
        {"app/cm.yaml": "->../shared/cm.yaml", "shared/cm.yaml": "", "shared/x.yaml": ""},
        "app", (), ["app", "shared/cm.yaml"]),
    "whole-root": (
        {"a/cm.yaml": "", "b/cm.yaml": ""},
        ".", (), ["."]),
}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("->"):
            path.symlink_to(content[2:])
        else:
            path.write_text(content)


@pytest.mark.parametrize(("files", "path", "components", "expected"), TREES.values(),
                         ids=TREES.keys())
def test_needed_paths(tmp_path: Path, files: dict[str, str], path: str,
                      components: tuple[str, ...], expected: list[str]) -> None:
    root = Path(os.path.realpath(tmp_path))
    _write(root, files)
    found = needed_paths(root, Path(os.path.normpath(root / path)), components)
    assert [p.relative_to(root).as_posix() for p in found] == expected


def test_link_out_of_the_artifact_is_refused(tmp_path: Path) -> None:
    root = Path(os.path.realpath(tmp_path))
    _write(root, {"app/passwd.yaml": "->/etc/passwd", "app/cm.yaml": ""})
    with pytest.raises(BuildError, match="symbolic link 'app/passwd.yaml' points outside"):
        needed_paths(root, root / "app")


def test_link_out_of_the_artifact_elsewhere_does_not_matter(tmp_path: Path) -> None:
    root = Path(os.path.realpath(tmp_path))
    _write(root, {"other/passwd.yaml": "->/etc/passwd", "app/cm.yaml": ""})
    assert needed_paths(root, root / "app") == [root / "app"]
