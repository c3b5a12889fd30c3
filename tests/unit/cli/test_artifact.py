"""The artifact commands' pure parts: oci:// references, the reproducible layer, the manifest
Flux expects, the files packed, and envsubst (Flux's substitution on text)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from afflux.cli import _ociref as oci
from afflux.cli._artifact import collect_files
from afflux.cli._envsubst import envsubst
from afflux.cli._errors import CLIError
from afflux.cli._oci import parse_creds


@pytest.mark.parametrize(
    ("url", "host", "repo", "tag", "digest"),
    [
        ("oci://ghcr.io/org/app:v1.0.0", "ghcr.io", "org/app", "v1.0.0", ""),
        ("oci://127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "", ""),
        ("oci://r.io/app@sha256:" + "a" * 64, "r.io", "app", "", "sha256:" + "a" * 64),
    ],
)
def test_parse_oci_url(url: str, host: str, repo: str, tag: str, digest: str) -> None:
    ref = oci.parse_oci_url(url)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == (host, repo, tag, digest)


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("ghcr.io/org/app:v1", {}, "must start with oci://"),
        ("oci://ghcr.io", {}, "names no repository"),
        ("oci://ghcr.io/Org/App:v1", {}, "not a valid repository name"),
        ("oci://ghcr.io/app:bad tag", {}, "not a valid tag"),
        ("oci://ghcr.io/app@sha256:123", {}, "not a sha256 digest"),
        ("oci://ghcr.io/app", {"need_tag": True}, "has no tag"),
        ("oci://ghcr.io/app:v1", {"allow_tag": False}, "without a tag"),
    ],
)
def test_parse_oci_url_refuses(url: str, kwargs: dict, message: str) -> None:
    with pytest.raises(CLIError, match=message):
        oci.parse_oci_url(url, **kwargs)


def test_ref_text() -> None:
    ref = oci.parse_oci_url("oci://r.io/app:v1")
    assert str(ref) == "r.io/app:v1"
    assert ref.reference == "v1"
    assert str(ref.with_tag("v2")) == "r.io/app:v2"


def test_tar_gzip_is_reproducible() -> None:
    files = [("a", None, True), ("a/x.yaml", b"kind: A\n", False), ("run.sh", b"#!", True)]
    first, second = oci.tar_gzip(files), oci.tar_gzip(files)
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"a", "a/x.yaml", "run.sh"}
        assert members["a"].isdir()
        assert members["run.sh"].mode == 0o755 and members["a/x.yaml"].mode == 0o644
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members.values())
        assert tar.extractfile("a/x.yaml").read() == b"kind: A\n"  # type: ignore[union-attr]


def test_artifact_manifest() -> None:
    notes = {oci.SOURCE: "https://h/r.git", oci.REVISION: "main@sha1:abc", oci.CREATED: "t"}
    raw = oci.artifact_manifest(b"{}", b"layer", notes)
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"] == {"mediaType": "application/vnd.cncf.flux.config.v1+json",
                                  "digest": oci.digest_of(b"{}"), "size": 2}
    assert manifest["layers"] == [{
        "mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip",
        "digest": oci.digest_of(b"layer"), "size": 5}]
    assert manifest["annotations"] == notes
    assert oci.content_layer(manifest)["digest"] == oci.digest_of(b"layer")
    assert oci.list_row("v1", "sha256:x", manifest, "r.io/app") == [
        "r.io/app:v1", "sha256:x", "https://h/r.git", "main@sha1:abc"]


def test_content_layer_falls_back_to_the_first() -> None:
    assert oci.content_layer({"layers": [{"mediaType": "x", "digest": "d"}]})["digest"] == "d"
    with pytest.raises(CLIError, match="no layers"):
        oci.content_layer({"layers": []})


def test_parse_annotations_and_creds() -> None:
    assert oci.parse_annotations(["a=b", "c=d=e"]) == {"a": "b", "c": "d=e"}
    with pytest.raises(CLIError):
        oci.parse_annotations(["nope"])
    assert parse_creds("u:p:q") == ("u", "p:q")
    assert parse_creds("u") == ("u", "")
    assert parse_creds(None) is None
    with pytest.raises(CLIError):
        parse_creds(":p")


def test_collect_files(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "a.yaml").write_text("a")
    (tmp_path / "apps" / "skip.tmp").write_text("x")
    (tmp_path / "top.yaml").write_text("t")
    found = collect_files(tmp_path, ["*.tmp"])
    assert [(name, content) for name, content, _ in found] == [
        ("apps", None), ("apps/a.yaml", b"a"), ("top.yaml", b"t")]
    assert [n for n, _, _ in collect_files(tmp_path / "top.yaml")] == ["top.yaml"]
    with pytest.raises(CLIError, match="does not exist"):
        collect_files(tmp_path / "nope")


def test_collect_files_resolves_symlinks_only_when_asked(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "s.yaml").write_text("s")
    src = tmp_path / "src"
    (src / "apps").mkdir(parents=True)
    (src / "apps" / "a.yaml").write_text("a")
    (src / "link.yaml").symlink_to(src / "apps" / "a.yaml")
    (src / "shared").symlink_to(shared)
    (src / "apps" / "loop").symlink_to(src)  # back up: not followed again
    (src / "broken.yaml").symlink_to(tmp_path / "missing")
    assert [(n, c) for n, c, _ in collect_files(src)] == [("apps", None),
                                                          ("apps/a.yaml", b"a")]
    assert [(n, c) for n, c, _ in collect_files(src, resolve_symlinks=True)] == [
        ("apps", None), ("apps/a.yaml", b"a"), ("link.yaml", b"a"), ("shared", None),
        ("shared/s.yaml", b"s")]


def test_envsubst() -> None:
    env = {"NAME": "podinfo", "EMPTY": ""}
    text = "a: ${NAME}\nb: ${MISSING:=def}\nc: $${NAME}\nd: $NAME\ne: ${NAME/pod/web}\nf: ${X}\n"
    assert envsubst(text, env) == "a: podinfo\nb: def\nc: ${NAME}\nd: $NAME\ne: webinfo\nf: \n"
    with pytest.raises(CLIError) as err:
        envsubst("${X}", env, strict=True)
    assert "'X'" in err.value.message and "default" in err.value.hint
    assert envsubst("${X:=ok}", env, strict=True) == "ok"


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["list", "artifacts", "oci://127.0.0.1:9/app", "--provider", "aws"],
                     id="list-aws"),
        pytest.param(["pull", "artifact", "oci://127.0.0.1:9/app:v1", "-o", "out",
                      "--provider=azure"], id="pull-azure"),
        pytest.param(["tag", "artifact", "oci://127.0.0.1:9/app:v1", "--tag", "v2",
                      "--provider", "gcp"], id="tag-gcp"),
    ],
)
def test_cloud_providers_are_refused_before_any_request(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from afflux.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "is not supported by afflux" in err and "--provider generic" in err
    assert "cannot reach" not in err  # refused, not tried (port 9 answers nothing)


@pytest.mark.parametrize(
    ("local", "remote", "lines"),
    [
        pytest.param({"a": b"1"}, {"a": b"1"}, [], id="same"),
        pytest.param({"a": b"1", "b": b"2"}, {"a": b"1"}, ["+ b"], id="only-local"),
        pytest.param({"a": b"1"}, {"a": b"1", "c/d": b"x"}, ["- c/d"], id="only-remote"),
        pytest.param({"a": b"1", "z": b""}, {"a": b"2", "z": b""}, ["~ a"], id="changed"),
        pytest.param({"b": b"", "a": b"1"}, {"c": b"", "a": b"0"}, ["~ a", "+ b", "- c"],
                     id="sorted-by-path"),
    ],
)
def test_compare_files(local: dict[str, bytes], remote: dict[str, bytes],
                       lines: list[str]) -> None:
    assert oci.compare_files(local, remote) == lines


def test_build_artifact_writes_the_push_layer(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from afflux.cli import main

    src = tmp_path / "src"
    (src / "apps").mkdir(parents=True)
    (src / "apps" / "deploy.yaml").write_text("kind: Deployment\n")
    (src / ".hidden.yaml").write_text("kind: ConfigMap\n")
    (src / "skip.md").write_text("notes\n")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref\n")
    out = tmp_path / "a.tgz"
    assert main(["build", "artifact", "-p", str(src), "-o", str(out),
                 "--ignore-paths", "*.md"]) == 0
    assert f"artifact created at {out}" in capsys.readouterr().err
    assert out.read_bytes() == oci.tar_gzip(collect_files(src, ["*.md"]))
    assert oci.files_of_layer(out.read_bytes()) == {
        ".hidden.yaml": b"kind: ConfigMap\n", "apps/deploy.yaml": b"kind: Deployment\n"}
    assert main(["build", "artifact", "--path", str(tmp_path / "nope")]) == 1
    assert "must point to an existing directory or file" in capsys.readouterr().err


def test_files_of_layer_is_bounded() -> None:
    layer = oci.tar_gzip([("big", b"x" * 1000, False), ("more", b"y" * 1000, False)])
    assert oci.files_of_layer(layer, limit=2000) == {"big": b"x" * 1000, "more": b"y" * 1000}
    with pytest.raises(CLIError, match="unpacks to more than 1500 bytes"):
        oci.files_of_layer(layer, limit=1500)
    with pytest.raises(CLIError, match="not a tar archive"):
        oci.files_of_layer(b"not a tarball")
