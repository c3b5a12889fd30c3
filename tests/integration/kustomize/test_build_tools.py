"""kustomize-controller's build against the real tools: kustomize for overlays, patches, images,
components and the spec's overlay; sops with a real age key and a real PGP key for Secrets and
secretGenerator sources; and the failures a user must be told about, naming the file."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from afflux.cli.devenv._tools import tool_path
from afflux.controllers.kustomize._build import BuildError, BuildOptions, _run_kustomize, build
from afflux.controllers.kustomize._objects import set_common_metadata, set_owner_labels
from afflux.controllers.kustomize._sops import DecryptionError, DecryptionKeys, SopsDecryptor
from afflux.controllers.kustomize._substitute import substitute_objects
from harness.wait import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def kustomize() -> str:
    return str(tool_path("kustomize"))


@pytest.fixture(scope="module")
def sops() -> str:
    return str(tool_path("sops"))


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"))
    return root


def by_id(objects: list[dict]) -> dict[str, dict]:
    return {f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}": o
            for o in objects}


DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web, tier: front}
    spec:
      replicas: 1
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec:
          containers:
          - name: web
            image: nginx:1.25
          - name: sidecar
            image: busybox:1.36
    """
SERVICE = """
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      selector: {app: web}
      ports: [{port: 80}]
    """
NAMESPACE = """
    apiVersion: v1
    kind: Namespace
    metadata:
      name: team
    """

BASE = {
    "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
    "base/deployment.yaml": DEPLOYMENT,
    "base/service.yaml": SERVICE,
    "overlays/dev/kustomization.yaml": """
        resources: [../../base]
        namePrefix: dev-
        """,
    "overlays/production/kustomization.yaml": """
        resources: [../../base]
        namePrefix: prod-
        patches:
        - target: {kind: Deployment, name: web}
          patch: |
            - op: replace
              path: /spec/replicas
              value: 5
        """,
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write(tmp_path / "artifact", BASE)


@pytest.mark.parametrize(
    ("path", "name", "replicas"),
    [("overlays/dev", "dev-web", 1), ("./overlays/production", "prod-web", 5),
     ("overlays/production/", "prod-web", 5), ("base", "web", 1)],
    ids=["dev", "production", "trailing-slash", "base"],
)
def test_overlays(kustomize: str, source: Path, path: str, name: str, replicas: int) -> None:
    objects = by_id(build(source, BuildOptions(path=path), kustomize=kustomize))
    assert set(objects) == {f"Deployment//{name}", f"Service//{name}"}
    assert objects[f"Deployment//{name}"]["spec"]["replicas"] == replicas


@pytest.mark.flux_fields("Kustomization", "spec.targetNamespace", "spec.namePrefix",
                         "spec.nameSuffix")
def test_spec_overlay_namespace_prefix_suffix(kustomize: str, source: Path) -> None:
    write(source, {"overlays/dev/namespace.yaml": NAMESPACE})
    (source / "overlays/dev/kustomization.yaml").write_text(
        "resources: [../../base, namespace.yaml]\nnamePrefix: dev-\nnamespace: ignored\n")
    options = BuildOptions(path="overlays/dev", target_namespace="team",
                           name_prefix="spec-", name_suffix="-v2")
    objects = by_id(build(source, options, kustomize=kustomize))
    # spec.namePrefix replaces the overlay's own; targetNamespace replaces its namespace; the
    # cluster-scoped Namespace gets no namespace (and kustomize never prefixes Namespaces)
    assert set(objects) == {"Deployment/team/spec-web-v2", "Service/team/spec-web-v2",
                            "Namespace//team"}


PATCH_CASES = [
    ("strategic-merge-by-label",
     {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\n"
               "spec:\n  template:\n    metadata:\n      annotations:\n        safe: 'true'\n",
      "target": {"kind": "Deployment", "labelSelector": "tier=front"}},
     ("spec", "template", "metadata", "annotations", "safe"), "true"),
    ("json6902-by-name",
     {"patch": "- op: add\n  path: /spec/minReadySeconds\n  value: 10\n",
      "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "web"}},
     ("spec", "minReadySeconds"), 10),
    ("strategic-merge-without-target",
     {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
               "spec:\n  replicas: 7\n"},
     ("spec", "replicas"), 7),
]


@pytest.mark.parametrize(
    ("patch", "field", "value"), [c[1:] for c in PATCH_CASES], ids=[c[0] for c in PATCH_CASES]
)
@pytest.mark.flux_fields("Kustomization", "spec.patches[].patch", "spec.patches[].target.kind",
                         "spec.patches[].target.labelSelector", "spec.patches[].target.group",
                         "spec.patches[].target.version", "spec.patches[].target.name")
def test_patches(kustomize: str, source: Path, patch: dict, field: tuple, value: object) -> None:
    objects = by_id(build(source, BuildOptions(path="base", patches=(patch,)),
                          kustomize=kustomize))
    got: object = objects["Deployment//web"]
    for key in field:
        got = got[key]  # type: ignore[index]
    assert got == value


def test_patch_target_that_matches_nothing_leaves_objects_alone(
    kustomize: str, source: Path
) -> None:
    patch = {"patch": "- op: replace\n  path: /spec/replicas\n  value: 9\n",
             "target": {"kind": "Deployment", "name": "other"}}
    objects = by_id(build(source, BuildOptions(path="base", patches=(patch,)),
                          kustomize=kustomize))
    assert objects["Deployment//web"]["spec"]["replicas"] == 1


def _config_map(name: str, namespace: str, annotations: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "data": {"patched": "no"}}


@pytest.mark.flux_fields("Kustomization", "spec.patches[].target.annotationSelector",
                         "spec.patches[].target.namespace")
def test_patch_target_selects_by_annotation_and_namespace(kustomize: str, tmp_path: Path) -> None:
    objects = [_config_map("a", "team-a", {"patch-me": "true"}),
               _config_map("b", "team-a", {"patch-me": "false"}),
               _config_map("c", "team-b", {"patch-me": "true"})]
    write(tmp_path, {"app/objects.yaml": yaml.safe_dump_all(objects),
                     "app/kustomization.yaml": "resources: [objects.yaml]\n"})
    patch = {"patch": "- op: replace\n  path: /data/patched\n  value: 'yes'\n",
             "target": {"kind": "ConfigMap", "namespace": "team-a",
                        "annotationSelector": "patch-me=true"}}
    built = by_id(build(tmp_path, BuildOptions(path="app", patches=(patch,)),
                        kustomize=kustomize))
    assert {key: obj["data"]["patched"] for key, obj in built.items()} == {
        "ConfigMap/team-a/a": "yes", "ConfigMap/team-a/b": "no", "ConfigMap/team-b/c": "no"}


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ([{"name": "nginx", "newTag": "1.27"}], ["nginx:1.27", "busybox:1.36"]),
        ([{"name": "nginx", "newName": "registry.local/nginx"}],
         ["registry.local/nginx:1.25", "busybox:1.36"]),
        ([{"name": "busybox", "digest": "sha256:" + "a" * 64}],
         ["nginx:1.25", "busybox@sha256:" + "a" * 64]),
        ([{"name": "nginx", "newName": "ghcr.io/x/nginx", "newTag": "2"},
          {"name": "busybox", "newTag": "latest"}],
         ["ghcr.io/x/nginx:2", "busybox:latest"]),
    ],
    ids=["new-tag", "new-name", "digest", "two-images"],
)
@pytest.mark.flux_fields("Kustomization", "spec.images[].name", "spec.images[].newTag",
                         "spec.images[].newName", "spec.images[].digest")
def test_images(kustomize: str, source: Path, images: list, expected: list) -> None:
    objects = by_id(build(source, BuildOptions(path="base", images=tuple(images)),
                          kustomize=kustomize))
    containers = objects["Deployment//web"]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == expected


def test_spec_image_replaces_the_kustomizations_entry_of_the_same_name(
    kustomize: str, source: Path
) -> None:
    (source / "base/kustomization.yaml").write_text(
        "resources: [deployment.yaml]\nimages:\n- name: nginx\n  newTag: from-file\n"
        "- name: busybox\n  newTag: kept\n")
    options = BuildOptions(path="base", images=({"name": "nginx", "newTag": "from-spec"},))
    objects = by_id(build(source, options, kustomize=kustomize))
    containers = objects["Deployment//web"]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == ["nginx:from-spec", "busybox:kept"]


COMPONENT = {
    "components/monitoring/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        resources: [monitor.yaml]
        patches:
        - target: {kind: Deployment}
          patch: |
            - op: add
              path: /metadata/annotations
              value: {monitored: "yes"}
        """,
    "components/monitoring/monitor.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: monitor
        data: {scrape: "true"}
        """,
}


@pytest.mark.flux_fields("Kustomization", "spec.components")
def test_components(kustomize: str, source: Path) -> None:
    write(source, COMPONENT)
    options = BuildOptions(path="overlays/dev", components=("../../components/monitoring",))
    objects = by_id(build(source, options, kustomize=kustomize))
    assert objects["ConfigMap//dev-monitor"]["data"] == {"scrape": "true"}
    assert objects["Deployment//dev-web"]["metadata"]["annotations"] == {"monitored": "yes"}


@pytest.mark.flux_fields("Kustomization", "spec.components", "spec.ignoreMissingComponents")
def test_missing_component_fails_unless_ignored(kustomize: str, source: Path) -> None:
    options = BuildOptions(path="base", components=("../components/nope",))
    with pytest.raises(BuildError):
        build(source, options, kustomize=kustomize)
    ignored = BuildOptions(path="base", components=("../components/nope",),
                           ignore_missing_components=True)
    assert len(build(source, ignored, kustomize=kustomize)) == 2


def test_remote_component_is_rejected(kustomize: str, source: Path) -> None:
    options = BuildOptions(path="base", components=("https://github.com/org/repo//c",))
    with pytest.raises(BuildError, match="must be local and relative"):
        build(source, options, kustomize=kustomize)


def test_common_metadata_and_owner_labels(kustomize: str, source: Path) -> None:
    objects = build(source, BuildOptions(path="overlays/dev"), kustomize=kustomize)
    objects = set_common_metadata(objects, {"tier": "back", "team": "a"}, {"note": "hi"})
    objects = set_owner_labels(objects, "apps", "flux-system")
    for obj in objects:
        meta = obj["metadata"]
        assert meta["labels"]["team"] == "a"
        assert meta["annotations"] == {"note": "hi"}
        assert meta["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"
        assert meta["labels"]["kustomize.toolkit.fluxcd.io/namespace"] == "flux-system"
    # commonMetadata overrides an existing label of the same key
    assert by_id(objects)["Deployment//dev-web"]["metadata"]["labels"]["tier"] == "back"


def test_plain_manifests_get_a_generated_kustomization(kustomize: str, tmp_path: Path) -> None:
    source = write(tmp_path / "artifact", {
        "deploy/app/deployment.yaml": DEPLOYMENT,
        "deploy/app/service.yml": SERVICE,
        "deploy/namespace.yaml": NAMESPACE,
        "deploy/values.yaml": "replicaCount: 3\n",
        "deploy/README.md": "not yaml",
    })
    objects = by_id(build(source, BuildOptions(path="deploy", target_namespace="team"),
                          kustomize=kustomize))
    assert set(objects) == {"Deployment/team/web", "Service/team/web", "Namespace//team"}


def test_the_source_directory_is_not_modified(kustomize: str, tmp_path: Path) -> None:
    source = write(tmp_path / "artifact", {"deploy/deployment.yaml": DEPLOYMENT})
    before = sorted(p.relative_to(source).as_posix() for p in source.rglob("*"))
    build(source, BuildOptions(path="deploy", name_prefix="x-"), kustomize=kustomize)
    assert sorted(p.relative_to(source).as_posix() for p in source.rglob("*")) == before


def test_substitution_after_the_build(kustomize: str, source: Path) -> None:
    (source / "base/deployment.yaml").write_text(
        (source / "base/deployment.yaml").read_text().replace("replicas: 1",
                                                              "replicas: ${replicas:=2}"))
    objects = build(source, BuildOptions(path="base"), kustomize=kustomize)
    substituted = by_id(substitute_objects(objects, {"cluster": "dev"}))
    assert substituted["Deployment//web"]["spec"]["replicas"] == 2


# --- failures ---------------------------------------------------------------------------------

REMOTE_CASES = [
    ("https-url", "https://github.com/stefanprodan/podinfo//kustomize?ref=master"),
    ("git-ssh", "git@github.com:org/repo.git//deploy"),
    ("host-path", "github.com/kubernetes-sigs/kustomize/examples/multibases?ref=v1.0.6"),
]


@pytest.mark.parametrize("remote", [c[1] for c in REMOTE_CASES], ids=[c[0] for c in REMOTE_CASES])
def test_remote_base_is_rejected_naming_the_file(
    kustomize: str, source: Path, remote: str
) -> None:
    (source / "overlays/dev/kustomization.yaml").write_text(
        f"resources:\n- ../../base\n- {remote}\n")
    with pytest.raises(BuildError) as info:
        build(source, BuildOptions(path="overlays/dev"), kustomize=kustomize)
    assert info.value.file == "overlays/dev/kustomization.yaml"
    assert "remote reference" in info.value.message
    assert "--no-remote-bases=true" in info.value.message
    assert info.value.reason == "BuildFailed"


def test_remote_base_in_a_nested_kustomization_is_rejected(kustomize: str, source: Path) -> None:
    (source / "base/kustomization.yaml").write_text(
        "resources:\n- deployment.yaml\n- https://example.com/manifests.yaml\n")
    with pytest.raises(BuildError) as info:
        build(source, BuildOptions(path="overlays/production"), kustomize=kustomize)
    assert info.value.file == "base/kustomization.yaml"


@pytest.mark.parametrize("path", ["../..", "../artifact-sibling", "overlays/../../.."],
                         ids=["parent-of-parent", "sibling", "climbs-after-descending"])
def test_path_outside_the_source_is_rejected(kustomize: str, source: Path, path: str) -> None:
    with pytest.raises(BuildError, match="outside the source artifact"):
        build(source, BuildOptions(path=path), kustomize=kustomize)


def test_reference_outside_the_source_is_rejected(kustomize: str, source: Path) -> None:
    (source / "base/kustomization.yaml").write_text("resources:\n- ../../../etc\n")
    with pytest.raises(BuildError, match="points outside the source artifact") as info:
        build(source, BuildOptions(path="base"), kustomize=kustomize)
    assert info.value.file == "base/kustomization.yaml"


def test_symlink_out_of_the_source_is_rejected(kustomize: str, source: Path) -> None:
    (source / "base/passwd.yaml").symlink_to("/etc/passwd")
    with pytest.raises(BuildError, match="symbolic link") as info:
        build(source, BuildOptions(path="base"), kustomize=kustomize)
    assert info.value.file == "base/passwd.yaml"


def test_missing_path(kustomize: str, source: Path) -> None:
    with pytest.raises(BuildError, match="kustomization path not found"):
        build(source, BuildOptions(path="nope"), kustomize=kustomize)


BAD_YAML = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n data: [\n"


def test_invalid_yaml_in_a_kustomization_names_the_file(kustomize: str, source: Path) -> None:
    write(source, {"base/broken.yaml": BAD_YAML})
    (source / "base/kustomization.yaml").write_text(
        "resources: [deployment.yaml, broken.yaml]\n")
    with pytest.raises(BuildError) as info:
        build(source, BuildOptions(path="overlays/dev"), kustomize=kustomize)
    assert info.value.file == "base/broken.yaml"
    assert "broken.yaml" in info.value.message
    assert "yaml" in info.value.stderr.lower()
    assert str(source) not in info.value.message


def test_invalid_yaml_among_plain_manifests_names_the_file(
    kustomize: str, tmp_path: Path
) -> None:
    source = write(tmp_path / "artifact", {"deploy/ok.yaml": SERVICE,
                                           "deploy/sub/broken.yaml": BAD_YAML})
    with pytest.raises(BuildError) as info:
        build(source, BuildOptions(path="deploy"), kustomize=kustomize)
    assert info.value.file == "deploy/sub/broken.yaml"
    assert "invalid YAML" in info.value.message


def test_missing_resource_names_the_kustomization(kustomize: str, source: Path) -> None:
    (source / "base/kustomization.yaml").write_text("resources: [deployment.yaml, gone.yaml]\n")
    with pytest.raises(BuildError) as info:
        build(source, BuildOptions(path="base"), kustomize=kustomize)
    assert info.value.file == "base/kustomization.yaml"
    assert "gone.yaml" in info.value.message


# --- SOPS -----------------------------------------------------------------------------------------


@dataclass
class AgeKey:
    public: str
    private: str


@dataclass
class PgpKey:
    fingerprint: str
    armored: bytes
    home: Path


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, **kwargs)  # type: ignore[call-overload]
    assert proc.returncode == 0, proc.stderr
    return proc


def make_age_key(directory: Path) -> AgeKey:
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "key.txt"
    run(["age-keygen", "-o", str(key_file)])
    private = key_file.read_text()
    public = next(line.split(": ", 1)[1] for line in private.splitlines()
                  if line.startswith("# public key: "))
    return AgeKey(public, private)


@pytest.fixture(scope="module")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    return make_age_key(tmp_path_factory.mktemp("age"))


@pytest.fixture(scope="module")
def other_age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    return make_age_key(tmp_path_factory.mktemp("age-other"))


@pytest.fixture(scope="module")
def pgp_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgpKey]:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    params = textwrap.dedent("""\
        %no-protection
        Key-Type: EDDSA
        Key-Curve: ed25519
        Subkey-Type: ECDH
        Subkey-Curve: cv25519
        Name-Real: afflux test
        Name-Email: sops@afflux.invalid
        Expire-Date: 0
        %commit
        """)
    run(["gpg", "--batch", "--gen-key"], input=params.encode(), env=env)
    listing = run(["gpg", "--list-secret-keys", "--with-colons"], env=env).stdout.decode()
    fingerprint = next(line.split(":")[9] for line in listing.splitlines()
                       if line.startswith("fpr:"))
    armored = run(["gpg", "--batch", "--armor", "--export-secret-keys", fingerprint],
                  env=env).stdout
    yield PgpKey(fingerprint, armored, home)
    subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False)


def encrypt(sops: str, plain: bytes, *, age: AgeKey | None = None, pgp: PgpKey | None = None,
            file_type: str = "yaml", regex: str | None = "^(data|stringData)$") -> bytes:
    command = [sops, "encrypt", "--input-type", file_type, "--output-type", file_type]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    if age:
        command += ["--age", age.public]
    if pgp:
        command += ["--pgp", pgp.fingerprint]
        env["GNUPGHOME"] = str(pgp.home)
    if regex:
        command += ["--encrypted-regex", regex]
    return run(command + ["/dev/stdin"], input=plain, env=env).stdout


SECRET = b"""apiVersion: v1
kind: Secret
metadata:
  name: db
type: Opaque
stringData:
  password: hunter2
data:
  token: aGVsbG8=
"""


def secret_source(tmp_path: Path, encrypted: bytes) -> Path:
    return write(tmp_path / "artifact", {
        "app/kustomization.yaml": "resources: [secret.yaml, ../base]\n",
        "app/secret.yaml": encrypted,
        **BASE,
    })


@pytest.mark.parametrize("key_kind", ["age", "pgp"])
def test_sops_secret_is_decrypted(
    kustomize: str, sops: str, tmp_path: Path, key_kind: str, age_key: AgeKey, pgp_key: PgpKey
) -> None:
    if key_kind == "age":
        encrypted = encrypt(sops, SECRET, age=age_key)
        keys = DecryptionKeys.from_secret_data({"identity.agekey": age_key.private})
    else:
        encrypted = encrypt(sops, SECRET, pgp=pgp_key)
        keys = DecryptionKeys.from_secret_data(
            {"sops.asc": base64.b64encode(pgp_key.armored).decode()}, base64_encoded=True)
    assert b"hunter2" not in encrypted
    source = secret_source(tmp_path, encrypted)
    # targetNamespace and a name prefix change the object after it was encrypted
    options = BuildOptions(path="app", target_namespace="team", name_prefix="x-")
    with SopsDecryptor(keys, sops=sops) as decryptor:
        objects = by_id(build(source, options, kustomize=kustomize, decryptor=decryptor))
    secret = objects["Secret/team/x-db"]
    assert "sops" not in secret
    assert secret["stringData"] == {"password": "hunter2"}
    assert base64.b64decode(secret["data"]["token"]) == b"hello"
    assert objects["Deployment/team/x-web"]["spec"]["replicas"] == 1


def test_encrypted_secret_without_decryption_is_refused(
    kustomize: str, sops: str, tmp_path: Path, age_key: AgeKey
) -> None:
    source = secret_source(tmp_path, encrypt(sops, SECRET, age=age_key))
    with pytest.raises(BuildError, match="Secret/db is SOPS-encrypted"):
        build(source, BuildOptions(path="app"), kustomize=kustomize)


def test_no_matching_key_is_a_clear_error(
    kustomize: str, sops: str, tmp_path: Path, age_key: AgeKey, other_age_key: AgeKey
) -> None:
    source = secret_source(tmp_path, encrypt(sops, SECRET, age=age_key))
    keys = DecryptionKeys.from_secret_data({"wrong.agekey": other_age_key.private})
    with SopsDecryptor(keys, sops=sops) as decryptor, \
            pytest.raises(DecryptionError) as info:
        build(source, BuildOptions(path="app", target_namespace="team"), kustomize=kustomize,
              decryptor=decryptor)
    message = info.value.message
    assert "Secret/team/db" in message
    assert "none of the keys in the decryption Secret can decrypt it" in message
    assert "wrong.agekey" in message
    assert info.value.reason == "BuildFailed"


def test_encrypted_generator_file_with_no_matching_key_names_the_file(
    kustomize: str, sops: str, tmp_path: Path, age_key: AgeKey, other_age_key: AgeKey
) -> None:
    source = write(tmp_path / "artifact", {
        "app/kustomization.yaml": "secretGenerator:\n- name: creds\n  envs: [creds.env]\n",
        "app/creds.env": encrypt(sops, b"USER=admin\n", age=age_key, file_type="dotenv",
                                 regex=None),
    })
    keys = DecryptionKeys.from_secret_data({"wrong.agekey": other_age_key.private})
    with SopsDecryptor(keys, sops=sops) as decryptor, pytest.raises(DecryptionError) as info:
        build(source, BuildOptions(path="app"), kustomize=kustomize, decryptor=decryptor)
    assert "app/creds.env" in info.value.message


GENERATOR_CASES = [
    ("dotenv-envs", "creds.env", b"USER=admin\nPASSWORD=s3cret\n", "dotenv",
     "envs: [creds.env]", {"USER": b"admin", "PASSWORD": b"s3cret"}),
    ("json-file", "config.json", b'{"password": "s3cret"}', "json",
     "files: [config.json]", {"config.json": b'{\n\t"password": "s3cret"\n}\n'}),
    ("yaml-file-with-key", "settings.yaml", b"password: s3cret\n", "yaml",
     "files: [app.yaml=settings.yaml]", {"app.yaml": b"password: s3cret\n"}),
    ("ini-file", "app.ini", b"[db]\npassword = s3cret\n", "ini",
     "files: [app.ini]", {"app.ini": b"[db]\npassword = s3cret\n"}),
    ("binary-file", "token.encrypted", b"my-token\n", "binary",
     "files: [token=token.encrypted]", {"token": b"my-token\n"}),
]


@pytest.mark.parametrize(
    ("filename", "plain", "file_type", "sources", "expected"),
    [c[1:] for c in GENERATOR_CASES],
    ids=[c[0] for c in GENERATOR_CASES],
)
def test_secret_generator_sources_are_decrypted_before_the_build(
    kustomize: str, sops: str, tmp_path: Path, age_key: AgeKey,
    filename: str, plain: bytes, file_type: str, sources: str, expected: dict,
) -> None:
    encrypted = encrypt(sops, plain, age=age_key, file_type=file_type, regex=None)
    source = write(tmp_path / "artifact", {
        "app/kustomization.yaml": f"secretGenerator:\n- name: creds\n  {sources}\n"
                                  "generatorOptions:\n  disableNameSuffixHash: true\n",
        f"app/{filename}": encrypted,
    })
    keys = DecryptionKeys.from_secret_data({"identity.agekey": age_key.private})
    with SopsDecryptor(keys, sops=sops) as decryptor:
        [secret] = build(source, BuildOptions(path="app"), kustomize=kustomize,
                         decryptor=decryptor)
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert data == expected
    # the artifact still holds only ciphertext
    assert (source / "app" / filename).read_bytes() == encrypted


def test_encrypted_secret_data_value_is_decrypted_after_the_build(
    kustomize: str, sops: str, tmp_path: Path, age_key: AgeKey
) -> None:
    # A Secret whose data value is an encrypted JSON document (e.g. generated elsewhere).
    encrypted = encrypt(sops, b'{"auths": {}}', age=age_key, file_type="json", regex=None)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"},
              "type": "kubernetes.io/dockerconfigjson",
              "data": {".dockerconfigjson": base64.b64encode(encrypted).decode()}}
    source = write(tmp_path / "artifact", {"app/secret.yaml": yaml.safe_dump(secret)})
    keys = DecryptionKeys.from_secret_data({"identity.agekey": age_key.private})
    with SopsDecryptor(keys, sops=sops) as decryptor:
        [out] = build(source, BuildOptions(path="app"), kustomize=kustomize,
                      decryptor=decryptor)
    assert json.loads(base64.b64decode(out["data"][".dockerconfigjson"])) == {"auths": {}}


def test_decrypt_disabled_annotation_leaves_the_object(
    sops: str, age_key: AgeKey
) -> None:
    obj = yaml.safe_load(encrypt(sops, SECRET, age=age_key))
    obj["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/decrypt": "disabled"}
    keys = DecryptionKeys.from_secret_data({"identity.agekey": age_key.private})
    with SopsDecryptor(keys, sops=sops) as decryptor:
        assert decryptor.decrypt_object(obj) == obj


def test_invalid_age_key_names_the_secret_key(sops: str) -> None:
    keys = DecryptionKeys.from_secret_data({"broken.agekey": "not a key"})
    with pytest.raises(DecryptionError, match="'broken.agekey'"):
        SopsDecryptor(keys, sops=sops).open()


def test_invalid_pgp_key_names_the_secret_key(sops: str) -> None:
    keys = DecryptionKeys.from_secret_data({"broken.asc": b"-----BEGIN nonsense-----"})
    with pytest.raises(DecryptionError, match="'broken.asc'"):
        SopsDecryptor(keys, sops=sops).open()


def test_key_store_is_deleted_on_close(sops: str, age_key: AgeKey, pgp_key: PgpKey) -> None:
    keys = DecryptionKeys.from_secret_data({"a.agekey": age_key.private,
                                            "b.asc": pgp_key.armored, "other": "ignored"})
    assert [n for n, _ in keys.age] == ["a.agekey"] and [n for n, _ in keys.pgp] == ["b.asc"]
    decryptor = SopsDecryptor(keys, sops=sops)
    decryptor.open()
    home = decryptor.home
    assert (home / "age-keys.txt").stat().st_mode & 0o077 == 0
    decryptor.close()
    assert not home.exists()


# --- bounds of the kustomize process ------------------------------------------------------------


def _fake_kustomize(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "fake-kustomize"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(0o755)
    return script


def test_a_timeout_kills_what_kustomize_started(tmp_path: Path) -> None:
    """kustomize runs git for a remote base: at the timeout the whole process group goes."""
    pids = tmp_path / "pids"
    fake = _fake_kustomize(tmp_path, f"""
        sleep 300 &
        echo $! > {pids}
        wait
        """)
    source = write(tmp_path / "artifact", {"app/cm.yaml": "kind: ConfigMap\n"})
    with pytest.raises(BuildError, match="timed out after 1s"):
        build(source, BuildOptions(path="app"), kustomize=str(fake), timeout=1)
    child = int(pids.read_text())

    def gone() -> bool:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return True
        with open(f"/proc/{child}/stat") as stat:  # killed, maybe not yet reaped by init
            assert stat.read().split(") ", 1)[1].startswith("Z"), f"{child} still runs"
        return True

    eventually(gone, 10, message="the child of kustomize killed")


def test_output_beyond_the_bound_is_refused(tmp_path: Path) -> None:
    fake = _fake_kustomize(tmp_path, "head -c 200000 /dev/zero | tr '\\0' a\n")
    root = write(tmp_path / "src", {"app/kustomization.yaml": "resources: []\n"})
    with pytest.raises(BuildError, match="printed more than 65536 bytes"):
        _run_kustomize(str(fake), root, root / "app", tmp_path, timeout=30, max_output=65536)
