"""bootstrap's pure parts: --url and --path checks, the files it writes under flux-system/
(components, sync, the user's kustomization.yaml kept), --local, the Secret, the flags."""

from __future__ import annotations

import base64

import pytest
import yaml

from afflux.cli import _bootstrapgen as gen
from afflux.cli._errors import CLIError
from afflux.cli._main import parse_args
from afflux.cli._sshkeys import key_args, keyscan_types


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "user"),
    [
        ("https://example.com/org/fleet.git", "https", "example.com", 443, ""),
        ("https://127.0.0.1:8443/fleet.git", "https", "127.0.0.1", 8443, ""),
        ("ssh://git@example.com/org/fleet.git", "ssh", "example.com", 22, "git"),
        ("ssh://root@127.0.0.1:2222/fleet.git", "ssh", "127.0.0.1", 2222, "root"),
        ("ssh://example.com/fleet.git", "ssh", "example.com", 22, "git"),
    ],
)
def test_parse_git_url(url: str, scheme: str, host: str, port: int, user: str) -> None:
    parsed = gen.parse_git_url(url)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.user) == (scheme, host, port, user)


@pytest.mark.parametrize(
    ("url", "message", "hint"),
    [
        ("http://example.com/fleet.git", "plain HTTP", "--allow-insecure-http"),
        ("git@example.com:org/fleet.git", "scp-like", "ssh://"),
        ("ftp://example.com/fleet.git", "not supported", "https://"),
        ("https://example.com/", "names no repository", "repository path"),
        ("https://user:pw@example.com/fleet.git", "credentials in the URL", "--password"),
        ("ssh://git:pw@example.com/fleet.git", "must not carry a password", "--password"),
        ("", "--url is required", "e.g."),
    ],
)
def test_parse_git_url_refuses(url: str, message: str, hint: str) -> None:
    with pytest.raises(CLIError) as err:
        gen.parse_git_url(url)
    assert message in err.value.message
    assert hint in err.value.hint


def test_http_allowed_on_request() -> None:
    assert gen.parse_git_url("http://h/r.git", allow_insecure_http=True).port == 80


@pytest.mark.parametrize(
    ("url", "token_auth", "username", "ssh_hostname", "want", "host", "port"),
    [
        pytest.param("https://example.com/org/fleet.git", False, "git", "",
                     "ssh://git@example.com/org/fleet.git", "example.com", 22,
                     id="https-without-token-auth-syncs-over-ssh"),
        pytest.param("https://example.com:8443/org/fleet.git", False, "git", "",
                     "ssh://git@example.com:8443/org/fleet.git", "example.com", 8443,
                     id="https-port-kept-as-flux-does"),
        pytest.param("https://example.com:8443/org/fleet.git", False, "git",
                     "ssh.example.com:2222", "ssh://git@ssh.example.com:2222/org/fleet.git",
                     "ssh.example.com", 2222, id="ssh-hostname-with-port"),
        pytest.param("https://example.com/fleet.git", False, "git", "ssh.example.com",
                     "ssh://git@ssh.example.com/fleet.git", "ssh.example.com", 22,
                     id="ssh-hostname-without-port"),
        pytest.param("https://example.com/fleet.git", False, "alice", "",
                     "ssh://alice@example.com/fleet.git", "example.com", 22,
                     id="username-is-the-ssh-user"),
        pytest.param("ssh://deploy@example.com:2222/fleet.git", False, "git", "",
                     "ssh://deploy@example.com:2222/fleet.git", "example.com", 2222,
                     id="ssh-url-unchanged"),
        pytest.param("ssh://deploy@example.com/fleet.git", False, "bob", "",
                     "ssh://bob@example.com/fleet.git", "example.com", 22,
                     id="ssh-url-username-overrides-its-user"),
        pytest.param("ssh://git@example.com/fleet.git", False, "git", "[::1]:2222",
                     "ssh://git@[::1]:2222/fleet.git", "::1", 2222, id="ssh-hostname-ipv6"),
        pytest.param("https://example.com:8443/org/fleet.git", True, "git", "ignored:22",
                     "https://example.com:8443/org/fleet.git", "example.com", 8443,
                     id="token-auth-keeps-https"),
        pytest.param("ssh://git@example.com:2222/org/fleet.git", True, "git", "",
                     "https://example.com/org/fleet.git", "example.com", 443,
                     id="token-auth-turns-ssh-into-https"),
    ],
)
def test_sync_url(url: str, token_auth: bool, username: str, ssh_hostname: str, want: str,
                  host: str, port: int) -> None:
    got = gen.sync_url(gen.parse_git_url(url), token_auth=token_auth, username=username,
                       ssh_hostname=ssh_hostname)
    assert (got.url, got.host, got.port) == (want, host, port)
    assert got.scheme == ("https" if token_auth else "ssh")


def test_sync_url_keeps_http_with_token_auth() -> None:
    url = gen.parse_git_url("http://h:3000/r.git", allow_insecure_http=True)
    assert gen.sync_url(url, token_auth=True).url == "http://h:3000/r.git"


@pytest.mark.parametrize("hostname", ["ssh://h", "git@h", "h/path", "h:notaport", " "])
def test_sync_url_refuses_a_bad_ssh_hostname(hostname: str) -> None:
    with pytest.raises(CLIError) as err:
        gen.sync_url(gen.parse_git_url("https://h/r.git"), token_auth=False,
                     ssh_hostname=hostname)
    assert "--ssh-hostname" in err.value.message and "host:port" in err.value.hint


@pytest.mark.parametrize(
    ("path", "clean", "spec"),
    [("clusters/dev", "clusters/dev", "./clusters/dev"),
     ("./clusters/dev/", "clusters/dev", "./clusters/dev"),
     ("", "", "./"), (".", "", "./"), ("a//b", "a/b", "./a/b")],
)
def test_normalize_path(path: str, clean: str, spec: str) -> None:
    assert gen.normalize_path(path) == clean
    assert gen.sync_path(clean) == spec


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../../b"])
def test_normalize_path_refuses(path: str) -> None:
    with pytest.raises(CLIError):
        gen.normalize_path(path)


def test_same_sync_path() -> None:
    assert gen.same_sync_path("./clusters/dev", "clusters/dev")
    assert gen.same_sync_path("clusters/dev/", "clusters/dev")
    assert gen.same_sync_path("./", "")
    assert not gen.same_sync_path("./clusters/prod", "clusters/dev")
    assert not gen.same_sync_path("../x", "x")


def test_file_in() -> None:
    assert gen.file_in("clusters/dev", "gotk-sync.yaml") == "clusters/dev/flux-system/gotk-sync.yaml"
    assert gen.file_in("", "gotk-sync.yaml") == "flux-system/gotk-sync.yaml"


def test_commit_messages() -> None:
    assert gen.components_message("v0.1.0") == "Add Flux v0.1.0 component manifests"
    assert gen.sync_message("v0.1.0") == "Add Flux sync manifests"


def test_sync_objects() -> None:
    git, ks = gen.sync_objects(namespace="ns1", url="https://h/r.git", branch="main",
                               path="clusters/dev", interval="1m0s")
    assert git == {
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "ns1"},
        "spec": {"interval": "1m0s", "ref": {"branch": "main"},
                 "secretRef": {"name": "flux-system"}, "url": "https://h/r.git"},
    }
    assert ks["kind"] == "Kustomization"
    assert ks["spec"] == {"interval": "10m0s", "path": "./clusters/dev", "prune": True,
                          "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}
    text = gen.sync_file([git, ks])
    assert text.startswith("# This manifest was generated by afflux bootstrap")
    assert [d["kind"] for d in yaml.safe_load_all(text) if d] == ["GitRepository",
                                                                  "Kustomization"]


def test_new_kustomization_lists_both_files() -> None:
    data = yaml.safe_load(gen.kustomization_file(None))
    assert data == {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                    "resources": ["gotk-components.yaml", "gotk-sync.yaml"]}


USER_KUSTOMIZATION = """\
# my patches
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - gotk-components.yaml
  - gotk-sync.yaml
patches:
  - path: memory.yaml   # more memory
    target:
      kind: Deployment
"""


def test_user_kustomization_is_kept_verbatim() -> None:
    assert gen.kustomization_file(USER_KUSTOMIZATION) == USER_KUSTOMIZATION


def test_user_kustomization_gets_the_missing_files() -> None:
    text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n" \
           "  - extra.yaml\npatches:\n  - path: p.yaml\n"
    data = yaml.safe_load(gen.kustomization_file(text))
    assert data["resources"] == ["extra.yaml", "gotk-components.yaml", "gotk-sync.yaml"]
    assert data["patches"] == [{"path": "p.yaml"}]


def test_broken_user_kustomization_is_an_error() -> None:
    with pytest.raises(CLIError, match="not valid YAML"):
        gen.kustomization_file("resources: [\n")
    with pytest.raises(CLIError, match="not a kustomization"):
        gen.kustomization_file("- a\n- b\n")


DOCS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}},
    {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
     "metadata": {"name": "x", "labels": {gen.COMPONENT_LABEL: "source-controller"}}},
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "source-controller", "namespace": "flux-system",
                  "labels": {gen.COMPONENT_LABEL: "source-controller"}}},
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"name": "source-controller", "namespace": "flux-system",
                  "labels": {gen.COMPONENT_LABEL: "source-controller"}}},
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"name": "source-controller", "namespace": "flux-system",
                  "labels": {gen.COMPONENT_LABEL: "source-controller"}}},
]


def test_local_components_scale_the_workloads_to_zero_and_say_so() -> None:
    out = gen.local_components(DOCS, ["source-controller", "kustomize-controller"])
    assert [d["kind"] for d in out] == ["Namespace", "CustomResourceDefinition", "Deployment",
                                        "ServiceAccount"]
    assert out[0]["metadata"]["annotations"] == {
        gen.LOCAL_ANNOTATION: "source-controller,kustomize-controller"}
    assert out[2]["spec"]["replicas"] == 0
    assert out[2]["metadata"]["annotations"] == {gen.LOCAL_DEPLOYMENT_ANNOTATION: "true"}
    assert "annotations" not in DOCS[0]["metadata"]  # the input is not changed
    assert "spec" not in DOCS[2]


def test_components_file_header() -> None:
    text = gen.components_file(DOCS[:1], "v0.1.0", ["source-controller"], local=True)
    lines = text.splitlines()
    assert lines[1] == "# Flux Version: v0.1.0"
    assert lines[2] == "# Components: source-controller"
    assert "bootstrap --local" in lines[3]
    assert list(yaml.safe_load_all(text)) == [DOCS[0]]
    assert "--local" not in gen.components_file(DOCS[:1], "v1", ["a"], local=False)


def test_secret_object() -> None:
    secret = gen.secret_object("ns", {"username": "u", "password": "p"})
    assert secret["metadata"] == {"name": "flux-system", "namespace": "ns"}
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "password": "p", "username": "u"}


@pytest.mark.parametrize(
    ("algos", "types"),
    [(["ssh-ed25519"], ["ed25519"]),
     (["ecdsa-sha2-nistp256", "rsa-sha2-512", "ssh-rsa"], ["ecdsa", "rsa"]),
     (["ed25519", ""], ["ed25519"]), ([], [])],
)
def test_keyscan_types(algos: list[str], types: list[str]) -> None:
    assert keyscan_types(algos) == types


def test_keyscan_types_refuses_unknown() -> None:
    with pytest.raises(CLIError, match="unknown SSH host key algorithm"):
        keyscan_types(["ssh-dss"])


def test_bootstrap_flags_defaults() -> None:
    args = parse_args(["bootstrap", "git", "--url", "https://h/r.git"])
    assert args.branch == "main"
    assert args.components == ["source-controller", "kustomize-controller", "helm-controller",
                               "notification-controller"]
    assert args.components_extra == []
    assert args.interval == "1m"
    assert not args.local and not args.silent
    assert not args.token_auth and args.ssh_hostname == ""
    assert parse_args(["bootstrap", "git", "--url", "https://h/r.git",
                       "--token-auth=true"]).token_auth


def test_bootstrap_refuses_operators_that_do_not_exist(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        parse_args(["bootstrap", "git", "--url", "https://h/r.git",
                    "--components-extra", "flux-operator"])
    assert "unknown component(s) flux-operator" in capsys.readouterr().err


@pytest.mark.parametrize(("appendix", "message"), [
    pytest.param("", "Add Flux sync manifests", id="none"),
    pytest.param("[ci skip]", "Add Flux sync manifests\n\n[ci skip]", id="paragraph"),
])
def test_commit_message_appendix(appendix: str, message: str) -> None:
    assert gen.with_appendix(gen.sync_message("v1"), appendix) == message


def test_sync_objects_with_bootstrap_only_flags() -> None:
    git, _ = gen.sync_objects(namespace="ns", url="https://h/r.git", branch="main",
                              path="clusters/a", interval="1m0s", secret="git-creds",
                              recurse_submodules=True, sparse_checkout=["clusters", "apps"])
    assert git["spec"] == {"interval": "1m0s", "ref": {"branch": "main"},
                           "recurseSubmodules": True, "secretRef": {"name": "git-creds"},
                           "sparseCheckout": ["clusters", "apps"], "url": "https://h/r.git"}
    assert gen.secret_object("ns", {"a": "b"}, "git-creds")["metadata"] == {
        "name": "git-creds", "namespace": "ns"}


@pytest.mark.parametrize(("dirs", "path", "want"), [
    pytest.param([], "clusters/a", [], id="none"),
    pytest.param(["./clusters/", "apps"], "clusters/a", ["clusters", "apps"], id="parent"),
    pytest.param(["clusters/a"], "clusters/a", ["clusters/a"], id="itself"),
])
def test_sparse_checkout(dirs: list[str], path: str, want: list[str]) -> None:
    assert gen.check_sparse_checkout(dirs, path) == want


@pytest.mark.parametrize(("dirs", "path", "error"), [
    pytest.param(["apps"], "clusters/a", "--path './clusters/a' is not inside any "
                 "--sparse-checkout directory", id="outside"),
    pytest.param(["clusters-a"], "clusters/a", "--path './clusters/a' is not inside any "
                 "--sparse-checkout directory", id="prefix-is-not-parent"),
    pytest.param(["."], "", "--sparse-checkout '.' names the repository root", id="root"),
])
def test_sparse_checkout_refused(dirs: list[str], path: str, error: str) -> None:
    with pytest.raises(CLIError) as err:
        gen.check_sparse_checkout(dirs, path)
    assert err.value.message == error


def test_bootstrap_takes_flux_install_flags() -> None:
    args = parse_args(["bootstrap", "git", "--url=https://h/r.git", "--network-policy=false",
                       "--watch-all-namespaces=false", "--toleration-keys=a,b",
                       "--log-level=debug", "--cluster-domain=corp.example",
                       "--recurse-submodules=true", "--sparse-checkout=clusters",
                       "--secret-name=creds", "--commit-message-appendix=[ci skip]",
                       "--version=v0.1.0", "--force"])
    assert (args.network_policy, args.watch_all_namespaces, args.toleration_keys,
            args.log_level, args.cluster_domain, args.recurse_submodules,
            args.sparse_checkout, args.secret_name, args.commit_message_appendix,
            args.toolkit_version, args.force) == (
        False, False, ["a", "b"], "debug", "corp.example", True, ["clusters"], "creds",
        "[ci skip]", "v0.1.0", True)


@pytest.mark.parametrize(("algorithm", "size", "args"), [
    pytest.param("rsa", None, ["-t", "rsa", "-b", "4096"], id="rsa-default"),
    pytest.param("rsa", 2048, ["-t", "rsa", "-b", "2048"], id="rsa-bits"),
    pytest.param("ecdsa", 256, ["-t", "ecdsa", "-b", "256"], id="ecdsa-p256"),
    pytest.param("ed25519", 256, ["-t", "ed25519"], id="ed25519-has-no-size"),
])
def test_deploy_key_size(algorithm: str, size: int | None, args: list[str]) -> None:
    assert key_args(algorithm, size) == args


@pytest.mark.parametrize("bits", ["512", "2049", "many"])
def test_ssh_rsa_bits_refused(bits: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["bootstrap", "git", "--url=ssh://git@h/r.git", f"--ssh-rsa-bits={bits}"])
    assert "--ssh-rsa-bits" in capsys.readouterr().err
