"""`create ... --export`: the objects built from flags, checked against the CRD schemas
offline, and the whole command run in-process (no cluster needed with --export)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from afflux.api import validate_object
from afflux.cli import _build, main
from afflux.cli._build import BuildError


def _spec(doc: dict[str, Any]) -> dict[str, Any]:
    assert validate_object(doc) == [], doc
    return doc["spec"]


@pytest.mark.parametrize(
    ("kwargs", "spec"),
    [
        pytest.param({"url": "https://h/r"},
                     {"interval": "1m0s", "ref": {"branch": "master"}, "url": "https://h/r"},
                     id="default-branch"),
        pytest.param({"url": "ssh://git@h/r", "branch": "main", "interval": "5m",
                      "secret_ref": "auth"},
                     {"interval": "5m0s", "ref": {"branch": "main"}, "secretRef": {"name": "auth"},
                      "url": "ssh://git@h/r"}, id="ssh-branch-secret"),
        pytest.param({"url": "https://h/r", "tag": "v1", "branch": "main"},
                     {"interval": "1m0s", "ref": {"tag": "v1"}, "url": "https://h/r"},
                     id="tag-over-branch"),
        pytest.param({"url": "https://h/r", "semver": ">=1.0.0", "tag": "v1"},
                     {"interval": "1m0s", "ref": {"semver": ">=1.0.0"}, "url": "https://h/r"},
                     id="semver-over-tag"),
        pytest.param({"url": "https://h/r", "commit": "abc", "branch": "main"},
                     {"interval": "1m0s", "ref": {"branch": "main", "commit": "abc"},
                      "url": "https://h/r"}, id="commit-with-branch"),
        pytest.param({"url": "https://h/r", "ref_name": "refs/pull/1/head"},
                     {"interval": "1m0s", "ref": {"name": "refs/pull/1/head"},
                      "url": "https://h/r"}, id="ref-name"),
        pytest.param({"url": "https://h/r", "ignore_paths": ["/docs,*.md", "/tests"],
                      "recurse_submodules": True, "provider": "github"},
                     {"ignore": "/docs\n*.md\n/tests", "interval": "1m0s",
                      "provider": "github", "recurseSubmodules": True,
                      "ref": {"branch": "master"}, "url": "https://h/r"}, id="extras"),
    ],
)
def test_git_repository(kwargs: dict[str, Any], spec: dict[str, Any]) -> None:
    doc = _build.git_repository("podinfo", "flux-system", **kwargs)
    assert doc["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert doc["metadata"] == {"name": "podinfo", "namespace": "flux-system"}
    assert _spec(doc) == spec


@pytest.mark.parametrize(
    ("kwargs", "spec"),
    [
        pytest.param({"url": "oci://ghcr.io/org/manifests", "tag": "latest"},
                     {"interval": "1m0s", "ref": {"tag": "latest"},
                      "url": "oci://ghcr.io/org/manifests"}, id="tag"),
        pytest.param({"url": "oci://r/x", "semver": "1.x", "digest": "sha256:" + "a" * 64,
                      "insecure": True, "provider": "aws"},
                     {"insecure": True, "interval": "1m0s", "provider": "aws",
                      "ref": {"digest": "sha256:" + "a" * 64}, "url": "oci://r/x"},
                     id="digest-wins"),
    ],
)
def test_oci_repository(kwargs: dict[str, Any], spec: dict[str, Any]) -> None:
    assert _spec(_build.oci_repository("o", "ns", **kwargs)) == spec


@pytest.mark.parametrize(
    ("url", "spec"),
    [
        pytest.param("https://stefanprodan.github.io/podinfo",
                     {"interval": "1m0s", "url": "https://stefanprodan.github.io/podinfo"},
                     id="https"),
        pytest.param("oci://ghcr.io/stefanprodan/charts",
                     {"interval": "1m0s", "type": "oci",
                      "url": "oci://ghcr.io/stefanprodan/charts"}, id="oci"),
    ],
)
def test_helm_repository(url: str, spec: dict[str, Any]) -> None:
    assert _spec(_build.helm_repository("h", "ns", url=url)) == spec


def test_bucket() -> None:
    doc = _build.bucket("b", "ns", bucket_name="manifests", endpoint="minio.minio:9000",
                        insecure=True, region="us-east-1", secret_ref="creds")
    assert _spec(doc) == {"bucketName": "manifests", "endpoint": "minio.minio:9000",
                          "insecure": True, "interval": "1m0s", "provider": "generic",
                          "region": "us-east-1", "secretRef": {"name": "creds"}}


@pytest.mark.parametrize(
    ("kwargs", "spec"),
    [
        pytest.param({"source": "podinfo"},
                     {"interval": "1m0s", "path": "./", "prune": False,
                      "sourceRef": {"kind": "GitRepository", "name": "podinfo"}}, id="minimal"),
        pytest.param({"source": "OCIRepository/manifests.infra", "path": "./apps",
                      "prune": True, "target_namespace": "apps",
                      "depends_on": ["infra", "flux-system/crds"], "timeout": "3m",
                      "retry_interval": "30s", "wait": True, "service_account": "deployer",
                      "health_checks": ["Deployment/web.apps"], "decryption_secret": "sops-age"},
                     {"decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                      "dependsOn": [{"name": "infra"}, {"name": "crds",
                                                        "namespace": "flux-system"}],
                      "healthChecks": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web", "namespace": "apps"}],
                      "interval": "1m0s", "path": "./apps", "prune": True,
                      "retryInterval": "30s", "serviceAccountName": "deployer",
                      "sourceRef": {"kind": "OCIRepository", "name": "manifests",
                                    "namespace": "infra"},
                      "targetNamespace": "apps", "timeout": "3m0s", "wait": True},
                     id="everything"),
        pytest.param({"source": "bucket/b"},
                     {"interval": "1m0s", "path": "./", "prune": False,
                      "sourceRef": {"kind": "Bucket", "name": "b"}}, id="bucket-any-case"),
        pytest.param({"source": "repo", "wait": True},
                     {"interval": "1m0s", "path": "./", "prune": False, "timeout": "2m0s",
                      "sourceRef": {"kind": "GitRepository", "name": "repo"}, "wait": True},
                     id="wait-default-health-check-timeout"),
        pytest.param({"source": "repo", "health_checks": ["HelmRelease/web.apps"],
                      "health_check_timeout": "3m", "kubeconfig_secret_ref": "remote-kc"},
                     {"healthChecks": [{"apiVersion": "helm.toolkit.fluxcd.io/v2",
                                        "kind": "HelmRelease", "name": "web",
                                        "namespace": "apps"}],
                      "interval": "1m0s", "kubeConfig": {"secretRef": {"name": "remote-kc"}},
                      "path": "./", "prune": False, "timeout": "3m0s",
                      "sourceRef": {"kind": "GitRepository", "name": "repo"}},
                     id="health-check-timeout-kubeconfig"),
        pytest.param({"source": "repo", "health_check_timeout": "3m"},
                     {"interval": "1m0s", "path": "./", "prune": False,
                      "sourceRef": {"kind": "GitRepository", "name": "repo"}},
                     id="health-check-timeout-without-checks-unused"),
    ],
)
def test_kustomization(kwargs: dict[str, Any], spec: dict[str, Any]) -> None:
    assert _spec(_build.kustomization("apps", "flux-system", **kwargs)) == spec


def test_image_repository() -> None:
    doc = _build.image_repository("podinfo", "ns", image="ghcr.io/stefanprodan/podinfo",
                                  interval="5m", secret_ref="regcred", timeout="1m")
    assert _spec(doc) == {"image": "ghcr.io/stefanprodan/podinfo", "interval": "5m0s",
                          "secretRef": {"name": "regcred"}, "timeout": "1m0s"}


@pytest.mark.parametrize(
    ("kwargs", "spec"),
    [
        pytest.param({"select_semver": ">=1.0.0"},
                     {"imageRepositoryRef": {"name": "podinfo"},
                      "policy": {"semver": {"range": ">=1.0.0"}}}, id="semver"),
        pytest.param({"select_numeric": "asc", "filter_regex": "^main-[a-f0-9]+-(?P<ts>[0-9]+)",
                      "filter_extract": "$ts"},
                     {"filterTags": {"extract": "$ts", "pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)"},
                      "imageRepositoryRef": {"name": "podinfo"},
                      "policy": {"numerical": {"order": "asc"}}}, id="numeric-filter"),
        pytest.param({"select_alpha": "desc", "image_ref": "podinfo.images"},
                     {"imageRepositoryRef": {"name": "podinfo", "namespace": "images"},
                      "policy": {"alphabetical": {"order": "desc"}}}, id="alpha-other-ns"),
        pytest.param({"select_semver": "1.x", "reflect_digest": "IfNotPresent"},
                     {"digestReflectionPolicy": "IfNotPresent",
                      "imageRepositoryRef": {"name": "podinfo"},
                      "policy": {"semver": {"range": "1.x"}}}, id="reflect-if-not-present"),
        pytest.param({"select_semver": "1.x", "reflect_digest": "Always", "interval": "5m"},
                     {"digestReflectionPolicy": "Always", "imageRepositoryRef": {"name": "podinfo"},
                      "interval": "5m0s", "policy": {"semver": {"range": "1.x"}}},
                     id="reflect-always-with-interval"),
    ],
)
def test_image_policy(kwargs: dict[str, Any], spec: dict[str, Any]) -> None:
    kwargs = {"image_ref": "podinfo", **kwargs}
    got = _spec(_build.image_policy("p", "ns", **kwargs))
    if "filterTags" in got:
        got["filterTags"] = dict(sorted(got["filterTags"].items()))
    assert got == spec


def test_image_update() -> None:
    doc = _build.image_update("auto", "ns", git_repo_ref="flux-system", checkout_branch="main",
                              push_branch="image-updates", git_repo_path="./clusters/dev",
                              author_name="bot", author_email="bot@example.com",
                              commit_template="{{range .Changed.Changes}}{{end}}")
    assert _spec(doc) == {
        "git": {"checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"email": "bot@example.com", "name": "bot"},
                           "messageTemplate": "{{range .Changed.Changes}}{{end}}"},
                "push": {"branch": "image-updates"}},
        "interval": "1m0s",
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        "update": {"path": "./clusters/dev", "strategy": "Setters"},
    }


@pytest.mark.parametrize(("kwargs", "key"), [
    pytest.param({"signing_key_secret": "sign"}, {"secretRef": {"name": "sign"}},
                 id="default-type"),
    pytest.param({"signing_key_secret": "sign", "signing_key_type": "ssh"},
                 {"secretRef": {"name": "sign"}, "type": "ssh"}, id="ssh"),
])
def test_image_update_signing_key(kwargs: dict[str, Any], key: dict[str, Any]) -> None:
    doc = _build.image_update("auto", "ns", git_repo_ref="repo", **kwargs)
    assert _spec(doc)["git"]["commit"]["signingKey"] == key


@pytest.mark.parametrize(("text", "selector"), [
    pytest.param("application/vnd.cncf.helm.chart.content.v1.tar+gzip:copy",
                 {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                  "operation": "copy"}, id="copy"),
    pytest.param("application/x-tar:extract",
                 {"mediaType": "application/x-tar", "operation": "extract"}, id="extract"),
    pytest.param(None, None, id="none"),
])
def test_layer_selector(text: str | None, selector: dict[str, str] | None) -> None:
    assert _build.layer_selector(text) == selector


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("application/x-tar", "format '<media-type>:<operation>'", id="no-operation"),
    pytest.param("application/x-tar:unpack", "operation must be 'extract' or 'copy'",
                 id="bad-operation"),
])
def test_layer_selector_errors(text: str, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        _build.layer_selector(text)


def test_git_repository_sparse_checkout() -> None:
    doc = _build.git_repository("r", "ns", url="https://h/r",
                                sparse_checkout_paths=["apps,infra", "clusters"])
    assert _spec(doc)["sparseCheckout"] == ["apps", "infra", "clusters"]


@pytest.mark.parametrize(
    ("kwargs", "data"),
    [
        pytest.param({"url": "https://h/r", "username": "u", "password": "p"},
                     {"password": "p", "username": "u"}, id="basic"),
        pytest.param({"url": "https://h/r", "bearer_token": "t", "ca_crt": "CA"},
                     {"bearerToken": "t", "ca.crt": "CA"}, id="bearer-ca"),
        pytest.param({"url": "ssh://git@h/r", "identity": "KEY", "identity_pub": "PUB",
                      "known_hosts": "h ssh-ed25519 AAA", "password": "pass"},
                     {"identity": "KEY", "identity.pub": "PUB",
                      "known_hosts": "h ssh-ed25519 AAA", "password": "pass"}, id="ssh"),
    ],
)
def test_git_secret(kwargs: dict[str, Any], data: dict[str, str]) -> None:
    doc = _build.git_secret("auth", "ns", **kwargs)
    assert doc["kind"] == "Secret" and doc["metadata"] == {"name": "auth", "namespace": "ns"}
    assert doc["stringData"] == data


@pytest.mark.parametrize(
    ("func", "kwargs", "message"),
    [
        pytest.param(_build.git_repository, {"url": "ftp://h/r"}, "http", id="git-bad-scheme"),
        pytest.param(_build.git_repository, {"url": "https://h/r", "interval": "soon"},
                     "--interval", id="git-bad-interval"),
        pytest.param(_build.oci_repository, {"url": "https://r/x", "tag": "1"}, "oci://",
                     id="oci-needs-oci-url"),
        pytest.param(_build.oci_repository, {"url": "oci://r/x"}, "--tag", id="oci-needs-ref"),
        pytest.param(_build.kustomization, {"source": "HelmRepository/x"}, "must be one of",
                     id="ks-bad-source-kind"),
        pytest.param(_build.kustomization, {"source": "podinfo", "depends_on": ["ns/"]},
                     "--depends-on", id="ks-bad-dependency"),
        pytest.param(_build.kustomization, {"source": "podinfo", "health_checks": ["web"]},
                     "--health-check", id="ks-bad-health-check"),
        pytest.param(_build.image_repository, {"image": "ghcr.io/a/b:1.0"}, "without a tag",
                     id="image-with-tag"),
        pytest.param(_build.image_policy, {"image_ref": "r"}, "exactly one",
                     id="policy-no-selection"),
        pytest.param(_build.image_policy,
                     {"image_ref": "r", "select_semver": "1.x", "select_alpha": "asc"},
                     "exactly one", id="policy-two-selections"),
        pytest.param(_build.image_policy,
                     {"image_ref": "r", "select_semver": "1.x", "filter_regex": "("},
                     "--filter-regex", id="policy-bad-regex"),
        pytest.param(_build.image_policy,
                     {"image_ref": "r", "select_semver": "1.x", "reflect_digest": "Sometimes"},
                     "--reflect-digest, must be one of 'Never'", id="policy-bad-reflect"),
        pytest.param(_build.image_update, {"git_repo_ref": "r", "signing_key_type": "ssh"},
                     "--signing-key-type requires --signing-key-secret",
                     id="signing-type-without-secret"),
        pytest.param(_build.image_update, {"git_repo_ref": "r", "signing_key_secret": "s",
                                           "signing_key_type": "x509"},
                     "--signing-key-type must be one of: gpg, ssh", id="signing-bad-type"),
        pytest.param(_build.git_secret, {"url": "ssh://git@h/r", "identity": "K"},
                     "--known-hosts", id="ssh-secret-needs-known-hosts"),
        pytest.param(_build.git_secret, {"url": "https://h/r", "username": "u"},
                     "both --username and --password", id="basic-needs-both"),
    ],
)
def test_build_errors(func: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(BuildError, match=message.replace("(", r"\(")):
        func("x", "ns", **kwargs)


def test_parse_labels() -> None:
    assert _build.parse_labels(["a=1", "b=2,c=3"]) == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(BuildError, match="key=value"):
        _build.parse_labels(["novalue"])


# --- the command, in-process -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "kinds"),
    [
        pytest.param(["create", "source", "git", "podinfo",
                      "--url=https://github.com/stefanprodan/podinfo", "--branch=master"],
                     ["GitRepository"], id="source-git"),
        pytest.param(["create", "source", "git", "private", "--url=https://h/r", "-u", "me",
                      "-p", "pw"], ["Secret", "GitRepository"], id="source-git-with-creds"),
        pytest.param(["create", "source", "oci", "m", "--url=oci://r/m", "--tag=latest"],
                     ["OCIRepository"], id="source-oci"),
        pytest.param(["create", "source", "helm", "h", "--url=https://charts.example.com"],
                     ["HelmRepository"], id="source-helm"),
        pytest.param(["create", "source", "bucket", "b", "--bucket-name=x", "--endpoint=e:9000"],
                     ["Bucket"], id="source-bucket"),
        pytest.param(["create", "kustomization", "apps", "--source=GitRepository/podinfo",
                      "--path=./kustomize", "--prune", "--target-namespace=default"],
                     ["Kustomization"], id="kustomization"),
        pytest.param(["create", "image", "repository", "r", "--image=ghcr.io/a/b"],
                     ["ImageRepository"], id="image-repository"),
        pytest.param(["create", "image", "policy", "p", "--image-ref=r",
                      "--select-semver=>=1.0.0"], ["ImagePolicy"], id="image-policy"),
        pytest.param(["create", "image", "update", "u", "--git-repo-ref=flux-system",
                      "--checkout-branch=main", "--push-branch=main",
                      "--author-name=bot", "--author-email=bot@example.com"],
                     ["ImageUpdateAutomation"], id="image-update"),
        pytest.param(["create", "secret", "git", "s", "--url=https://h/r", "--bearer-token=t"],
                     ["Secret"], id="secret-git"),
    ],
)
def test_create_export_in_process(argv: list[str], kinds: list[str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--export", "-n", "apps", "--label", "team=web"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("---\n")
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == kinds
    for doc in docs:
        assert doc["metadata"]["namespace"] == "apps"
        assert doc["metadata"]["labels"] == {"team": "web"}
        if doc["kind"] != "Secret":
            assert validate_object(doc) == []


def test_create_secret_git_ssh_reads_files(tmp_path: Any,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("PRIVATE\n")
    (tmp_path / "id_ed25519.pub").write_text("ssh-ed25519 AAAA me\n")
    hosts = tmp_path / "known_hosts"
    hosts.write_text("[127.0.0.1]:2222 ssh-ed25519 BBBB\n")
    assert main(["create", "secret", "git", "deploy", "--url=ssh://git@127.0.0.1:2222/r.git",
                 f"--private-key-file={key}", f"--known-hosts-file={hosts}", "--export"]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["stringData"] == {"identity": "PRIVATE\n", "identity.pub": "ssh-ed25519 AAAA me\n",
                                 "known_hosts": "[127.0.0.1]:2222 ssh-ed25519 BBBB\n"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["create", "source", "oci", "m", "--url=oci://r/m"], "--tag", id="oci-ref"),
        pytest.param(["create", "ks", "k", "--source=podinfo", "--interval=1x"], "--interval",
                     id="bad-interval"),
        pytest.param(["create", "secret", "git", "s", "--url=ssh://h/r",
                      "--private-key-file=/nonexistent/key"], "/nonexistent/key",
                     id="missing-key-file"),
    ],
)
def test_create_errors_exit_1_with_hint(argv: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--export"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("✗ ") and message in err
