"""Generating a kustomization.yaml for a directory of plain manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from afflux.controllers.kustomize._generate import (
    GenerateError,
    ensure_kustomization,
    generate_kustomization,
    scan_manifests,
)

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
VALUES = "replicaCount: 2\nimage:\n  tag: latest\n"
SOPS_RULES = "creation_rules:\n  - path_regex: .*.yaml\n    age: age1xyz\n"
KUSTOMIZATION = "resources:\n- cm.yaml\n"


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


SCAN_CASES = [
    ("single-file", {"cm.yaml": CM.format(name="a")}, ["./cm.yaml"]),
    ("yml-extension", {"cm.yml": CM.format(name="a")}, ["./cm.yml"]),
    ("sorted-by-name", {"b.yaml": CM.format(name="b"), "a.yaml": CM.format(name="a")},
     ["./a.yaml", "./b.yaml"]),
    ("recursive", {"apps/web/deploy.yaml": CM.format(name="w"), "ns.yaml": CM.format(name="n")},
     ["./apps/web/deploy.yaml", "./ns.yaml"]),
    ("directory-walked-where-its-name-sorts",
     {"b.yaml": CM.format(name="b"), "b/x.yaml": CM.format(name="x"), "a.yaml": CM.format(name="a")},
     ["./a.yaml", "./b/x.yaml", "./b.yaml"]),
    ("subdir-with-kustomization-listed-as-directory",
     {"base/kustomization.yaml": KUSTOMIZATION, "base/cm.yaml": CM.format(name="c"),
      "top.yaml": CM.format(name="t")},
     ["./base", "./top.yaml"]),
    ("subdir-with-capital-kustomization",
     {"base/Kustomization": KUSTOMIZATION, "base/cm.yaml": CM.format(name="c")}, ["./base"]),
    ("multi-document-file", {"all.yaml": CM.format(name="a") + "---\n" + CM.format(name="b")},
     ["./all.yaml"]),
    ("other-extensions-skipped",
     {"cm.yaml": CM.format(name="a"), "README.md": "# hi", "cm.json": "{}", "x.yaml.bak": CM},
     ["./cm.yaml"]),
    ("values-file-skipped", {"values.yaml": VALUES, "cm.yaml": CM.format(name="a")},
     ["./cm.yaml"]),
    ("sops-rules-skipped", {".sops.yaml": SOPS_RULES, "cm.yaml": CM.format(name="a")},
     ["./cm.yaml"]),
    ("empty-yaml-skipped", {"empty.yaml": "", "cm.yaml": CM.format(name="a")}, ["./cm.yaml"]),
    ("comment-only-yaml-skipped", {"notes.yaml": "# nothing\n---\n"}, []),
    ("utf16-with-bom", {"cm.yaml": CM.format(name="a").encode("utf-16")}, ["./cm.yaml"]),
    ("nothing", {}, []),
]


@pytest.mark.parametrize(
    ("files", "expected"), [c[1:] for c in SCAN_CASES], ids=[c[0] for c in SCAN_CASES]
)
def test_scan_manifests(tmp_path: Path, files: dict, expected: list[str]) -> None:
    write(tmp_path, files)
    assert scan_manifests(tmp_path) == expected


ERROR_CASES = [
    ("invalid-yaml", {"ok.yaml": CM.format(name="a"), "sub/bad.yaml": "a: [\n"},
     "sub/bad.yaml", "invalid YAML"),
    ("mixed-documents", {"mixed.yaml": CM.format(name="a") + "---\n" + VALUES},
     "mixed.yaml", "document 2 is not a Kubernetes object"),
    ("not-utf8", {"bin.yaml": b"key: \xc3\x28 garbage"}, "bin.yaml", "cannot read it"),
]


@pytest.mark.parametrize(
    ("files", "file", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_unreadable_manifest_is_an_error_naming_the_file(
    tmp_path: Path, files: dict, file: str, message: str
) -> None:
    write(tmp_path, files)
    with pytest.raises(GenerateError) as info:
        scan_manifests(tmp_path)
    assert info.value.file == file
    assert message in str(info.value)
    assert str(info.value).startswith(f"{file}: ")


def test_generated_kustomization_lists_the_resources(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": CM.format(name="a"), "b/c.yaml": CM.format(name="c")})
    assert generate_kustomization(tmp_path) == {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["./a.yaml", "./b/c.yaml"],
    }


def test_empty_directory_builds_nothing(tmp_path: Path) -> None:
    content = generate_kustomization(tmp_path)
    assert "resources" not in content
    assert content["namespace"] == "_placeholder"


@pytest.mark.parametrize("name", ["kustomization.yaml", "kustomization.yml", "Kustomization"])
def test_existing_kustomization_is_kept(tmp_path: Path, name: str) -> None:
    write(tmp_path, {name: KUSTOMIZATION, "cm.yaml": CM.format(name="a"), "x.yaml": VALUES})
    path, generated = ensure_kustomization(tmp_path)
    assert (path.name, generated) == (name, False)
    assert path.read_text() == KUSTOMIZATION
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "cm.yaml", "x.yaml"])


def test_missing_kustomization_is_written(tmp_path: Path) -> None:
    write(tmp_path, {"cm.yaml": CM.format(name="a")})
    path, generated = ensure_kustomization(tmp_path)
    assert (path.name, generated) == ("kustomization.yaml", True)
    assert yaml.safe_load(path.read_text())["resources"] == ["./cm.yaml"]
