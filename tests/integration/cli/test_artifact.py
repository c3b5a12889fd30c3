"""`push/pull/list/tag artifact` against the real registry (distribution, htpasswd auth, TLS
from the test CA): a round trip, the manifest Flux expects (read with plain HTTP requests),
reproducible digests, bad credentials and an untrusted certificate in one line, and
source-controller's OCIRepository consuming what `push artifact` made."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from cli_harness import Run, apply

from afflux.cli.devenv import Registry, free_port
from harness.fixtures_cluster import Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration


def raw_manifest(registry: Registry, repo: str, tag: str) -> dict:
    req = urllib.request.Request(
        f"{registry.url}/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json",
                 "Authorization": "Basic " + base64.b64encode(
                     f"{registry.username}:{registry.password}".encode()).decode()})
    ctx = ssl.create_default_context(cafile=str(registry.ca_cert))
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        return json.loads(resp.read())


def make_tree(root: Path) -> Path:
    (root / "apps" / "web").mkdir(parents=True)
    (root / "apps" / "web" / "deploy.yaml").write_text("kind: Deployment\n")
    (root / "apps" / "kustomization.yaml").write_text("resources: [web/deploy.yaml]\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return root


def test_push_pull_list_tag(afflux: Run, registry: Registry, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    repo = f"afflux/manifests-{uuid.uuid4().hex[:6]}"
    url = f"oci://{registry.host}/{repo}"
    auth = [f"--creds={registry.username}:{registry.password}", f"--ca-file={registry.ca_cert}"]

    res = afflux("push", "artifact", f"{url}:v1.0.0", f"--path={src}",
                 "--source=https://github.com/org/fleet", "--revision=main@sha1:0123abcd",
                 "-o", "json", *auth)
    assert res.code == 0, res.err
    pushed = json.loads(res.out)
    digest = pushed["digest"]
    assert pushed == {"repository": f"{registry.host}/{repo}", "tag": "v1.0.0",
                      "digest": digest, "url": f"{url}:v1.0.0"}
    assert f"✔ artifact successfully pushed to {registry.host}/{repo}@{digest}" in res.err

    manifest = raw_manifest(registry, repo, "v1.0.0")
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.flux.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.cncf.flux.content.v1.tar+gzip"]
    notes = manifest["annotations"]
    assert notes["org.opencontainers.image.source"] == "https://github.com/org/fleet"
    assert notes["org.opencontainers.image.revision"] == "main@sha1:0123abcd"
    assert notes["org.opencontainers.image.created"].endswith("Z")

    res = afflux("tag", "artifact", f"{url}:v1.0.0", "--tag=latest", "--tag=stable", *auth)
    assert res.code == 0, res.err
    assert f"✔ artifact tagged as {registry.host}/{repo}:stable ({digest})" in res.err

    res = afflux("pull", "artifact", f"{url}:stable", "-o", str(tmp_path / "out"), *auth)
    assert res.code == 0, res.err
    assert "✔ revision main@sha1:0123abcd" in res.err
    out = tmp_path / "out"
    assert (out / "apps" / "web" / "deploy.yaml").read_text() == "kind: Deployment\n"
    assert (out / "apps" / "kustomization.yaml").is_file()
    assert not (out / ".git").exists()

    res = afflux("list", "artifacts", url, *auth)
    assert res.code == 0, res.err
    rows = [line.split() for line in res.out.splitlines()]
    assert rows[0] == ["ARTIFACT", "DIGEST", "SOURCE", "REVISION"]
    assert sorted(r[0] for r in rows[1:]) == [f"{registry.host}/{repo}:{t}"
                                              for t in ("latest", "stable", "v1.0.0")]
    assert {tuple(r[1:]) for r in rows[1:]} == {
        (digest, "https://github.com/org/fleet", "main@sha1:0123abcd")}
    res = afflux("list", "artifacts", url, "--filter-regex=^v", "-o", "yaml", *auth)
    assert [a["tag"] for a in yaml.safe_load(res.out)["artifacts"]] == ["v1.0.0"]
    res = afflux("list", "artifacts", url, "--filter-semver=>=1.0.0", "-o", "yaml", *auth)
    assert res.code == 0, res.err
    assert [a["tag"] for a in yaml.safe_load(res.out)["artifacts"]] == ["v1.0.0"]
    res = afflux("list", "artifacts", url, "--filter-semver=<1.0.0", "-o", "yaml", *auth)
    assert yaml.safe_load(res.out)["artifacts"] == []
    res = afflux("list", "artifacts", url, "--filter-semver=not-a-range", *auth)
    assert res.code == 1 and "--filter-semver" in res.err


def test_push_resolve_symlinks(afflux: Run, registry: Registry, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "base.yaml").write_text("kind: ConfigMap\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.yaml").write_text("kind: Service\n")
    (src / "base").symlink_to(shared)
    url = f"oci://{registry.host}/afflux/links-{uuid.uuid4().hex[:6]}"
    auth = [f"--creds={registry.username}:{registry.password}", f"--ca-file={registry.ca_cert}"]
    for tag, extra in (("plain", []), ("resolved", ["--resolve-symlinks"])):
        res = afflux("push", "artifact", f"{url}:{tag}", f"--path={src}", "--source=s",
                     "--revision=r", *extra, *auth)
        assert res.code == 0, res.err
        out = tmp_path / tag
        res = afflux("pull", "artifact", f"{url}:{tag}", "-o", str(out), *auth)
        assert res.code == 0, res.err
        assert (out / "app.yaml").read_text() == "kind: Service\n"
        if extra:
            assert (out / "base" / "base.yaml").read_text() == "kind: ConfigMap\n"
            assert not (out / "base").is_symlink()
        else:
            assert not (out / "base").exists()


def test_reproducible_pushes_give_one_digest(afflux: Run, registry: Registry,
                                            tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    url = f"oci://{registry.host}/afflux/repro-{uuid.uuid4().hex[:6]}"
    auth = [f"--creds={registry.username}:{registry.password}", f"--ca-file={registry.ca_cert}"]
    digests = []
    for tag in ("a", "b"):
        res = afflux("push", "artifact", f"{url}:{tag}", f"--path={src}", "--source=s",
                     "--revision=r", "--reproducible", "-o", "json", *auth)
        assert res.code == 0, res.err
        digests.append(json.loads(res.out)["digest"])
    assert digests[0] == digests[1]


def test_bad_credentials_and_untrusted_certificates(afflux: Run, registry: Registry,
                                                   tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    url = f"oci://{registry.host}/afflux/denied"
    cases = [
        (["push", "artifact", f"{url}:v1", f"--path={src}", "--source=s", "--revision=r",
          f"--creds={registry.username}:wrong", f"--ca-file={registry.ca_cert}"],
         "authentication failed", "--creds"),
        (["list", "artifacts", url, f"--creds={registry.username}:{registry.password}"],
         "cannot verify the TLS certificate", "--ca-file"),
        (["pull", "artifact", f"{url}:missing", "-o", str(tmp_path / "o"),
          f"--creds={registry.username}:{registry.password}", f"--ca-file={registry.ca_cert}"],
         "not found", "tag"),
        (["list", "artifacts", f"oci://127.0.0.1:{free_port()}/x"],
         "cannot reach the registry", "--insecure-registry"),
        (["push", "artifact", "ghcr.io/org/app:v1", f"--path={src}", "--source=s",
          "--revision=r"], "must start with oci://", "e.g."),
    ]
    for args, message, hint in cases:
        res = afflux(*args)
        assert res.code != 0, args
        failures = [line for line in res.err.splitlines() if line.startswith("✗")]
        assert len(failures) == 1 and message in failures[0], res.err
        assert "  hint: " in res.err and hint in res.err, res.err


def test_source_controller_pulls_a_pushed_artifact(
    afflux: Run, registry: Registry, flux_crds: Cluster, start_controller, namespace: str,
    tmp_path: Path,
) -> None:
    src = make_tree(tmp_path / "src")
    repo = f"afflux/consumed-{uuid.uuid4().hex[:6]}"
    res = afflux("push", "artifact", f"oci://{registry.host}/{repo}:v1", f"--path={src}",
                 "--source=https://example.com/fleet", "--revision=main@sha1:feed", "-o", "json",
                 f"--creds={registry.username}:{registry.password}",
                 f"--ca-file={registry.ca_cert}")
    assert res.code == 0, res.err
    digest = json.loads(res.out)["digest"]
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    docker = json.dumps({"auths": {registry.host: {"auth": auth}}})
    apply(flux_crds, namespace,
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regcred"},
           "type": "kubernetes.io/dockerconfigjson",
           "data": {".dockerconfigjson": base64.b64encode(docker.encode()).decode()}},
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regca"},
           "data": {"ca.crt": base64.b64encode(registry.ca_cert.read_bytes()).decode()}},
          {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
           "metadata": {"name": "pushed"},
           "spec": {"url": f"oci://{registry.host}/{repo}", "ref": {"tag": "v1"},
                    "interval": "10m", "secretRef": {"name": "regcred"},
                    "certSecretRef": {"name": "regca"}}})
    port = free_port()
    proc = start_controller("source", "--watch-all-namespaces=false", f"--namespace={namespace}",
                            f"--storage-path={tmp_path / 'storage'}",
                            f"--storage-addr=127.0.0.1:{port}",
                            f"--storage-adv-addr=127.0.0.1:{port}")
    try:
        def ready() -> dict:
            obj = json.loads(flux_crds.kubectl("get", "-n", namespace, "ocirepository",
                                               "pushed", "-o", "json").stdout)
            status = obj.get("status") or {}
            assert any(c["type"] == "Ready" and c["status"] == "True"
                       for c in status.get("conditions") or []), status
            return status

        status = eventually(ready, 60, message="OCIRepository pushed to be Ready")
        assert status["artifact"]["revision"] == f"v1@{digest}"
        assert status["artifact"]["metadata"]["org.opencontainers.image.revision"] == \
            "main@sha1:feed"
    finally:
        flux_crds.kubectl("delete", "-n", namespace, "ocirepository", "pushed", "--wait=true",
                          "--timeout=30s", check=False)
        proc.stop()


def test_insecure_registry_over_plain_http(afflux: Run, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    with Registry(tmp_path / "plain", tls=False, auth=False) as plain:
        url = f"oci://{plain.host}/afflux/plain"
        res = afflux("push", "artifact", f"{url}:v1", f"--path={src}", "--source=s",
                     "--revision=r", "--insecure-registry")
        assert res.code == 0, res.err
        res = afflux("pull", "artifact", f"{url}:v1", "-o", str(tmp_path / "out"),
                     "--insecure-registry")
        assert res.code == 0, res.err
        assert (tmp_path / "out" / "apps" / "web" / "deploy.yaml").is_file()
        res = afflux("list", "artifacts", url)  # https against a plain-HTTP registry
        assert res.code != 0
        assert "--insecure-registry" in res.err


def test_push_debug_and_generic_provider(afflux: Run, registry: Registry,
                                         tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    repo = f"afflux/debug-{uuid.uuid4().hex[:6]}"
    url = f"oci://{registry.host}/{repo}"
    auth = [f"--creds={registry.username}:{registry.password}", f"--ca-file={registry.ca_cert}",
            "--provider=generic"]
    res = afflux("push", "artifact", f"{url}:v1", f"--path={src}", "--source=s",
                 "--revision=r", "--debug", *auth)
    assert res.code == 0, res.err
    requests = [line.strip() for line in res.err.splitlines() if line.startswith("  · ")]
    assert f"· PUT https://{registry.host}/v2/{repo}/manifests/v1 -> 201" in requests
    assert any(r.startswith("· POST ") and "/blobs/uploads/" in r for r in requests)
    assert any(r.endswith("-> 401") for r in requests)  # the auth challenge, answered
    assert registry.password not in res.err
    res = afflux("list", "artifacts", url, *auth)
    assert res.code == 0, res.err
    assert f"{registry.host}/{repo}:v1" in res.out
    res = afflux("push", "artifact", f"{url}:v2", f"--path={src}", "--source=s",
                 "--revision=r", *auth)
    assert res.code == 0 and "  · " not in res.err  # no --debug, no request lines


def test_diff_artifact_against_the_registry(afflux: Run, registry: Registry,
                                            tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    repo = f"afflux/diff-{uuid.uuid4().hex[:6]}"
    url = f"oci://{registry.host}/{repo}:v1"
    auth = [f"--creds={registry.username}:{registry.password}", f"--ca-file={registry.ca_cert}"]
    res = afflux("push", "artifact", url, f"--path={src}", "--source=s", "--revision=r", *auth)
    assert res.code == 0, res.err

    res = afflux("diff", "artifact", url, f"--path={src}", *auth)
    assert (res.code, res.out) == (0, ""), res.err
    assert "no changes detected" in res.err

    (src / "apps" / "web" / "deploy.yaml").write_text("kind: Deployment\nspec: {}\n")
    (src / "apps" / "new.yaml").write_text("kind: Service\n")
    (src / "apps" / "kustomization.yaml").unlink()
    res = afflux("diff", "artifact", url, f"--path={src}", *auth)
    assert res.code == 1
    assert res.out.splitlines() == ["- apps/kustomization.yaml", "+ apps/new.yaml",
                                    "~ apps/web/deploy.yaml"]
    assert "the remote artifact contents differs from the local one" in res.err

    # what `build artifact` writes is the layer `push artifact` pushed
    (src / "apps" / "kustomization.yaml").write_text("resources: [web/deploy.yaml]\n")
    (src / "apps" / "new.yaml").unlink()
    (src / "apps" / "web" / "deploy.yaml").write_text("kind: Deployment\n")
    res = afflux("build", "artifact", f"--path={src}", f"--output={tmp_path / 'a.tgz'}")
    assert res.code == 0, res.err
    manifest = raw_manifest(registry, repo, "v1")
    layer = next(x for x in manifest["layers"]
                 if x["mediaType"] == "application/vnd.cncf.flux.content.v1.tar+gzip")
    assert layer["digest"] == "sha256:" + hashlib.sha256(
        (tmp_path / "a.tgz").read_bytes()).hexdigest()
