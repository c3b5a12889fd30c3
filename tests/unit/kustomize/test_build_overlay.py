"""The parts of the build that run no program: the spec's overlay, `path` resolution, remote
reference detection, the reference check over kustomization files, and SOPS' format rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.controllers.kustomize._build import (
    BuildError,
    BuildOptions,
    check_references,
    is_remote,
    overlay_kustomization,
    resolve_path,
)
from afflux.controllers.kustomize._sops import (
    DecryptionError,
    DecryptionKeys,
    detect_format,
    format_for_path,
)

USER = {"resources": ["deploy.yaml"], "namePrefix": "user-", "namespace": "user-ns",
        "images": [{"name": "nginx", "newTag": "1"}, {"name": "redis", "newTag": "7"}],
        "patches": [{"path": "mine.yaml"}], "components": ["../c1"]}

OVERLAY_CASES = [
    ("nothing-set", BuildOptions(), USER),
    ("target-namespace-replaces", BuildOptions(target_namespace="team"),
     {**USER, "namespace": "team"}),
    ("prefix-and-suffix-replace", BuildOptions(name_prefix="p-", name_suffix="-s"),
     {**USER, "namePrefix": "p-", "nameSuffix": "-s"}),
    ("patches-appended-with-targets",
     BuildOptions(patches=({"patch": "p1", "target": {"kind": "Deployment", "name": "",
                                                      "labelSelector": "a=b"}},
                           {"patch": "p2"})),
     {**USER, "patches": [{"path": "mine.yaml"},
                          {"patch": "p1", "target": {"kind": "Deployment",
                                                     "labelSelector": "a=b"}},
                          {"patch": "p2"}]}),
    ("images-replace-by-name-or-append",
     BuildOptions(images=({"name": "nginx", "newName": "my/nginx", "newTag": ""},
                          {"name": "busybox", "digest": "sha256:abc"})),
     {**USER, "images": [{"name": "nginx", "newName": "my/nginx"},
                         {"name": "redis", "newTag": "7"},
                         {"name": "busybox", "digest": "sha256:abc"}]}),
    ("components-appended", BuildOptions(components=("../c2",)),
     {**USER, "components": ["../c1", "../c2"]}),
    ("missing-component-ignored",
     BuildOptions(components=("../gone", "../c2"), ignore_missing_components=True),
     {**USER, "components": ["../c1", "../c2"]}),
    ("build-metadata-set",
     BuildOptions(build_metadata=("originAnnotations", "transformerAnnotations")),
     {**USER, "buildMetadata": ["originAnnotations", "transformerAnnotations"]}),
]


@pytest.mark.parametrize(
    ("options", "expected"), [c[1:] for c in OVERLAY_CASES], ids=[c[0] for c in OVERLAY_CASES]
)
def test_overlay_kustomization(options: BuildOptions, expected: dict) -> None:
    out = overlay_kustomization(USER, options, component_exists=lambda c: c != "../gone")
    assert out == expected


def test_build_metadata_joins_the_users_own_once() -> None:
    out = overlay_kustomization({**USER, "buildMetadata": ["originAnnotations"]},
                                BuildOptions(build_metadata=("originAnnotations",
                                                             "transformerAnnotations")))
    assert out["buildMetadata"] == ["originAnnotations", "transformerAnnotations"]


def test_build_options_read_build_metadata_from_the_spec() -> None:
    spec = {"buildMetadata": ["originAnnotations"]}
    assert BuildOptions.from_spec(spec).build_metadata == ("originAnnotations",)


def test_overlay_does_not_modify_its_input() -> None:
    before = repr(USER)
    overlay_kustomization(USER, BuildOptions(images=({"name": "nginx", "newTag": "x"},),
                                             patches=({"patch": "p"},)))
    assert repr(USER) == before


@pytest.mark.parametrize(
    "component", ["https://github.com/org/repo//c", "/abs/component", "git@github.com:o/r.git"],
    ids=["url", "absolute", "scp-like"],
)
def test_components_must_be_local_and_relative(component: str) -> None:
    with pytest.raises(BuildError, match="must be local and relative"):
        overlay_kustomization({}, BuildOptions(components=(component,)))


def test_options_from_spec() -> None:
    spec = {"path": "./apps", "targetNamespace": "team", "namePrefix": "a-", "nameSuffix": "-b",
            "patches": [{"patch": "x"}], "images": [{"name": "n"}], "components": ["../c"],
            "ignoreMissingComponents": True, "prune": True, "interval": "5m"}
    assert BuildOptions.from_spec(spec) == BuildOptions(
        path="./apps", target_namespace="team", name_prefix="a-", name_suffix="-b",
        patches=({"patch": "x"},), images=({"name": "n"},), components=("../c",),
        ignore_missing_components=True)
    assert BuildOptions.from_spec({"prune": True}) == BuildOptions()


PATH_CASES = [
    ("empty-is-root", "", ""),
    ("dot", ".", ""),
    ("dot-slash", "./apps/dev", "apps/dev"),
    ("trailing-slash", "apps/", "apps"),
    ("leading-slash-is-relative", "/apps", "apps"),
    ("dot-dot-inside", "apps/../base", "base"),
]


@pytest.mark.parametrize(
    ("path", "expected"), [c[1:] for c in PATH_CASES], ids=[c[0] for c in PATH_CASES]
)
def test_resolve_path(tmp_path: Path, path: str, expected: str) -> None:
    assert resolve_path(tmp_path, path) == tmp_path / expected


@pytest.mark.parametrize("path", ["..", "../..", "apps/../../x", "./../sibling"],
                         ids=["parent", "grandparent", "climbs-out", "sibling"])
def test_resolve_path_refuses_escapes(tmp_path: Path, path: str) -> None:
    with pytest.raises(BuildError, match="outside the source artifact"):
        resolve_path(tmp_path, path)


REMOTE_CASES = [
    ("https", "https://github.com/o/r//deploy?ref=v1", True),
    ("http-file", "http://example.com/all.yaml", True),
    ("ssh-url", "ssh://git@example.com/o/r.git", True),
    ("scp-like", "git@github.com:o/r.git", True),
    ("go-getter", "git::https://example.com/o/r", True),
    ("host-path", "github.com/o/r/deploy?ref=main", True),
    ("host-with-port", "gitlab.local:8443/o/r", True),
    ("relative-dir", "../base", False),
    ("file", "deployment.yaml", False),
    ("dotted-dir", "v1.2/app", False),
    ("dir-with-dot-and-slash", "apps.d/web", False),
]


@pytest.mark.parametrize(
    ("ref", "remote"), [c[1:] for c in REMOTE_CASES], ids=[c[0] for c in REMOTE_CASES]
)
def test_is_remote(ref: str, remote: bool) -> None:
    assert is_remote(ref) is remote


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)


CHECK_CASES = [
    ("remote-resource", {"app/kustomization.yaml": "resources: [https://x.io/a.yaml]\n"},
     "app/kustomization.yaml", "remote reference"),
    ("remote-in-nested-base",
     {"app/kustomization.yaml": "resources: [../base]\n",
      "base/kustomization.yaml": "resources: [github.com/o/r/deploy]\n"},
     "base/kustomization.yaml", "remote reference"),
    ("remote-component", {"app/kustomization.yaml": "components: [https://x.io/c]\n"},
     "app/kustomization.yaml", "remote reference"),
    ("generator-file-outside",
     {"app/kustomization.yaml": "configMapGenerator:\n- name: c\n  files: [k=../../../etc/x]\n"},
     "app/kustomization.yaml", "outside the source artifact"),
    ("patch-path-absolute",
     {"app/kustomization.yaml": "patches:\n- path: /etc/passwd\n"},
     "app/kustomization.yaml", "outside the source artifact"),
    ("base-outside", {"app/kustomization.yaml": "resources: [../../elsewhere]\n"},
     "app/kustomization.yaml", "outside the source artifact"),
    ("unreadable-kustomization", {"app/kustomization.yaml": "resources: [\n"},
     "app/kustomization.yaml", "cannot read"),
]


@pytest.mark.parametrize(
    ("files", "file", "message"), [c[1:] for c in CHECK_CASES], ids=[c[0] for c in CHECK_CASES]
)
def test_check_references_refuses(tmp_path: Path, files: dict, file: str, message: str) -> None:
    write(tmp_path, files)
    with pytest.raises(BuildError, match=message) as info:
        check_references(tmp_path, tmp_path / "app")
    assert info.value.file == file


def test_check_references_accepts_local_trees(tmp_path: Path) -> None:
    write(tmp_path, {
        "app/kustomization.yaml": "resources: [../base, cm.yaml]\ncomponents: [../comp]\n"
                                  "secretGenerator:\n- name: s\n  envs: [s.env]\n",
        "base/kustomization.yaml": "resources: [deploy.yaml]\n",
        "comp/kustomization.yaml": "kind: Component\n",
        # a local directory named like a host is local
        "app/github.com/kustomization.yaml": "resources: []\n",
    })
    check_references(tmp_path, tmp_path / "app")


FORMAT_CASES = [
    ("json", "config.json", "json"),
    ("yaml", "values.yaml", "yaml"),
    ("yml", "values.yml", "yaml"),
    ("dotenv", "app.env", "dotenv"),
    ("ini", "app.ini", "ini"),
    ("docker-config", ".dockerconfigjson", "json"),
    ("no-extension", "token", "binary"),
    ("other-extension", "token.encrypted", "binary"),
    ("upper-case-extension-is-binary", "CONFIG.JSON", "binary"),
]


@pytest.mark.parametrize(
    ("path", "expected"), [c[1:] for c in FORMAT_CASES], ids=[c[0] for c in FORMAT_CASES]
)
def test_format_for_path(path: str, expected: str) -> None:
    assert format_for_path(path) == expected


DETECT_CASES = [
    ("yaml", b"a: ENC[x]\nsops:\n    mac: ENC[AES256_GCM,data:x]\n", "yaml"),
    ("json", b'{"a": "ENC[x]", "sops": {"mac": "ENC[AES256_GCM,data:x]"}}', "json"),
    ("dotenv", b"A=ENC[x]\nsops_mac=ENC[AES256_GCM,data:x]\n", "dotenv"),
    ("ini", b"[db]\na = ENC[x]\n[sops]\nmac = ENC[x]\n", "ini"),
    ("plain-yaml", b"password: hunter2\n", None),
    ("plain-json", b'{"mac": "not encrypted"}', None),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in DETECT_CASES], ids=[c[0] for c in DETECT_CASES]
)
def test_detect_format(data: bytes, expected: str | None) -> None:
    assert detect_format(data) == expected


def test_keys_from_secret_data() -> None:
    keys = DecryptionKeys.from_secret_data({
        "z.agekey": b"AGE-SECRET-KEY-1Z", "a.agekey": "AGE-SECRET-KEY-1A", "k.asc": b"PGP",
        "sops.vault-token": "t", "identity.pub": "x"})
    assert keys.age == (("a.agekey", "AGE-SECRET-KEY-1A"), ("z.agekey", "AGE-SECRET-KEY-1Z"))
    assert keys.pgp == (("k.asc", b"PGP"),)
    assert keys
    assert not DecryptionKeys.from_secret_data(None)


def test_keys_from_base64_secret_data() -> None:
    keys = DecryptionKeys.from_secret_data({"a.agekey": "QUdFLVNFQ1JFVA=="},
                                           base64_encoded=True)
    assert keys.age == (("a.agekey", "AGE-SECRET"),)
    with pytest.raises(DecryptionError, match="'b.asc' is not valid base64"):
        DecryptionKeys.from_secret_data({"b.asc": "%%%"}, base64_encoded=True)


@pytest.mark.parametrize(
    ("post_build", "wanted"),
    [
        pytest.param(None, False, id="no-postbuild"),
        pytest.param({}, False, id="empty-postbuild"),
        pytest.param({"substitute": {"a": "1"}}, True, id="inline-variables"),
        pytest.param({"substituteFrom": [{"kind": "ConfigMap", "name": "v"}]}, True,
                     id="variables-from-configmap"),
        pytest.param({"substituteStrategy": "WithVariables"}, False, id="with-variables-none"),
        pytest.param({"substituteStrategy": "Always"}, True, id="always-without-variables"),
    ],
)
def test_substitution_wanted(post_build: dict | None, wanted: bool) -> None:
    from afflux.api import PostBuild
    from afflux.controllers.kustomize._reconcile_build import substitution_wanted

    post = PostBuild.from_dict(post_build) if post_build is not None else None
    assert substitution_wanted(post) is wanted
