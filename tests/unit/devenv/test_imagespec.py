"""OCI image assembly (pure): deterministic layers, config, manifest, OCI layout, references."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest

from afflux.cli.devenv import _imagespec as spec


def _members(tar: bytes) -> list[tuple[str, str, int, int]]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return [
            (m.name, "dir" if m.isdir() else "sym" if m.issym() else "file", m.mode, m.mtime)
            for m in t.getmembers()
        ]


def test_layer_tar_adds_parents_sorts_and_zeroes_times() -> None:
    tar = spec.layer_tar(
        [spec.file("home/app/podinfo", b"x", 0o755), spec.symlink("bin/sh", "/busybox")]
    )
    assert _members(tar) == [
        ("bin", "dir", 0o755, 0),
        ("bin/sh", "sym", 0o777, 0),
        ("home", "dir", 0o755, 0),
        ("home/app", "dir", 0o755, 0),
        ("home/app/podinfo", "file", 0o755, 0),
    ]


def test_layers_are_deterministic() -> None:
    entries = [spec.file("/a", b"1"), spec.directory("d", 0o1777)]
    one, two = spec.Layer.from_tar(spec.layer_tar(entries)), spec.Layer.from_tar(spec.layer_tar(entries[::-1]))
    assert one.blob == two.blob and one.diff_id == two.diff_id
    assert spec.digest(gzip.decompress(one.blob)) == one.diff_id


@pytest.mark.parametrize(
    ("image_spec", "expected_config"),
    [
        pytest.param(spec.ImageSpec(entrypoint=["/pause"]), {"Env": [], "Entrypoint": ["/pause"]}, id="entrypoint"),
        pytest.param(
            spec.ImageSpec(cmd=["./podinfo"], workdir="/home/app", user="100:101", env={"A": "b"},
                           exposed_ports=["9898/tcp"]),
            {"Env": ["A=b"], "Cmd": ["./podinfo"], "User": "100:101", "WorkingDir": "/home/app",
             "ExposedPorts": {"9898/tcp": {}}},
            id="cmd-workdir-user-env-ports",
        ),
    ],
)
def test_image_config(image_spec, expected_config) -> None:
    cfg = json.loads(spec.image_config(image_spec, ["sha256:aa"]))
    assert cfg["config"] == expected_config
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": ["sha256:aa"]}
    assert (cfg["os"], cfg["architecture"]) == ("linux", "amd64")


def test_assemble_names_every_blob_in_the_manifest() -> None:
    layer = spec.Layer.from_tar(spec.layer_tar([spec.file("pause", b"\x7fELF")]))
    image = spec.assemble(spec.ImageSpec(entrypoint=["/pause"]), [layer])
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == spec.MANIFEST
    assert manifest["config"]["digest"] == spec.digest(image.config)
    assert manifest["layers"] == [
        {"mediaType": spec.LAYER, "digest": spec.digest(layer.blob), "size": len(layer.blob)}
    ]
    assert set(image.blobs()) == {spec.digest(image.config), spec.digest(layer.blob)}


def test_oci_layout_names_the_image_for_containerd() -> None:
    layer = spec.Layer.from_tar(spec.layer_tar([spec.file("pause", b"x")]))
    image = spec.assemble(spec.ImageSpec(), [layer])
    files = spec.oci_layout(image, "afflux.local/pause:3.10.1")
    index = json.loads(files["index.json"])
    (desc,) = index["manifests"]
    assert desc["digest"] == image.digest
    assert desc["annotations"] == {spec.CONTAINERD_NAME: "afflux.local/pause:3.10.1", spec.REF_NAME: "3.10.1"}
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    assert files["blobs/sha256/" + image.digest.split(":")[1]] == image.manifest
    assert len([f for f in files if f.startswith("blobs/")]) == 3


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param("127.0.0.1:5000/afflux/afflux:0.1.0", ("127.0.0.1:5000", "afflux/afflux", "0.1.0"), id="port-and-path"),
        pytest.param("registry.local/podinfo", ("registry.local", "podinfo", "latest"), id="no-tag"),
        pytest.param("localhost/x:1", ("localhost", "x", "1"), id="localhost"),
    ],
)
def test_split_reference(ref, expected) -> None:
    assert spec.split_reference(ref) == expected


@pytest.mark.parametrize("bad", ["podinfo:1", "afflux/afflux:1", "host.only"])
def test_split_reference_needs_a_registry(bad) -> None:
    with pytest.raises(ValueError):
        spec.split_reference(bad)
