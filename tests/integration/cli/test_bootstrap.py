"""`afflux bootstrap git --local` against the real cluster, Git servers and operators.

Each test bootstraps its own namespace (`-n`) from its own repository, with source- and
kustomize-controller running as local processes that watch only that namespace and keep
their leader-election Leases there (what `--local` and `check` expect). The operators are
stopped before the namespace goes, so the flux-system Kustomization is never pruned
(its inventory holds the cluster-wide CRDs)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from cli_harness import Result, Run, https_flags, local_bootstrap, new_repo

from afflux.cli._git import WorkingCopy
from afflux.cli._sshkeys import generate_key
from afflux.cli.devenv import GitHTTPServer, GitSSHServer, TestCA, free_port
from harness.fixtures_cluster import Cluster
from harness.fixtures_servers import GitAuth, git_push_files
from harness.wait import eventually

pytestmark = pytest.mark.integration

PATH = "clusters/test"
def get(cluster: Cluster, namespace: str, kind: str, name: str = "flux-system"
        ) -> dict[str, Any] | None:
    scope = ["-n", namespace] if namespace else []
    done = cluster.kubectl("get", *scope, kind, name, "-o", "json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def secret_data(cluster: Cluster, namespace: str) -> dict[str, str]:
    secret = get(cluster, namespace, "secret") or {}
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def bare(server: GitHTTPServer | GitSSHServer, repo: str) -> pygit2.Repository:
    return pygit2.Repository(str(server.repo_root / f"{repo}.git"))


def head(server: GitHTTPServer | GitSSHServer, repo: str) -> pygit2.Commit | None:
    r = bare(server, repo)
    ref = r.references.get("refs/heads/main")
    if ref is None:
        return None
    commit = r.get(ref.target)
    assert isinstance(commit, pygit2.Commit)
    return commit


def messages(commit: pygit2.Commit | None) -> list[str]:
    out = []
    while commit is not None:
        out.append(commit.message.strip())
        commit = commit.parents[0] if commit.parents else None
    return out


def blob(commit: pygit2.Commit, path: str) -> str:
    return commit.tree[path].data.decode()  # type: ignore[attr-defined]


def one_line_error(res: Result) -> str:
    """The failure line, after checking the error is one line with a hint."""
    failures = [line for line in res.err.splitlines() if line.startswith("✗")]
    hints = [line for line in res.err.splitlines() if line.startswith("  hint: ")]
    assert len(failures) == 1 and len(hints) == 1, res.err
    return failures[0] + "\n" + hints[0]


def assert_synced(cluster: Cluster, namespace: str, sha: str) -> None:
    revision = f"main@sha1:{sha}"
    git = get(cluster, namespace, "gitrepositories.source.toolkit.fluxcd.io") or {}
    assert git["status"]["artifact"]["revision"] == revision
    ks = get(cluster, namespace, "kustomizations.kustomize.toolkit.fluxcd.io") or {}
    assert ks["status"]["lastAppliedRevision"] == revision
    assert ks["spec"]["path"] == f"./{PATH}"


def test_bootstrap_over_https_is_idempotent_keeps_user_patches_and_retries_pushes(
    afflux: Run, flux_crds: Cluster, git_server: GitHTTPServer, test_ca: TestCA,
    namespace: str, operators: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = new_repo(git_server, "boot")
    args = local_bootstrap(namespace, *https_flags(git_server, repo, test_ca.ca_cert), path=PATH)

    # 1. an empty repository
    res = afflux(*args)
    assert res.code == 0, res.err
    first = head(git_server, repo)
    assert first is not None
    assert messages(first) == ["Add Flux sync manifests", "Add Flux v0.1.0 component manifests"]
    components = list(yaml.safe_load_all(blob(first, f"{PATH}/flux-system/gotk-components.yaml")))
    kinds = {d["kind"] for d in components if d}
    assert "CustomResourceDefinition" in kinds and "ClusterRole" in kinds
    # --local: the operators run as processes; their Deployments are there at zero replicas
    deployments = [d for d in components if d and d["kind"] == "Deployment"]
    assert deployments and all(d["spec"]["replicas"] == 0 for d in deployments)
    ns_doc = next(d for d in components if d and d["kind"] == "Namespace")
    assert ns_doc["metadata"]["name"] == namespace
    assert ns_doc["metadata"]["annotations"]["afflux.toolkit.fluxcd.io/local-operators"] == \
        "source-controller,kustomize-controller"
    sync = list(yaml.safe_load_all(blob(first, f"{PATH}/flux-system/gotk-sync.yaml")))
    assert [d["kind"] for d in sync if d] == ["GitRepository", "Kustomization"]
    assert yaml.safe_load(blob(first, f"{PATH}/flux-system/kustomization.yaml"))["resources"] \
        == ["gotk-components.yaml", "gotk-sync.yaml"]
    assert_synced(flux_crds, namespace, str(first.id))
    assert set(secret_data(flux_crds, namespace)) == {"username", "password", "ca.crt"}
    assert "✔ bootstrap finished" in res.err
    check = afflux("check", "-n", namespace)
    assert check.code == 0, check.err

    # 2. again: nothing to commit, nothing changes
    res = afflux(*args)
    assert res.code == 0, res.err
    assert head(git_server, repo).id == first.id  # type: ignore[union-attr]
    assert "✔ component manifests are up to date" in res.err
    assert "✔ sync manifests are up to date" in res.err
    assert_synced(flux_crds, namespace, str(first.id))

    # 3. the user's patches in flux-system/kustomization.yaml survive a re-bootstrap
    user_kustomization = (
        "# ours: label the namespace\n"
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - gotk-components.yaml\n  - gotk-sync.yaml\n"
        "patches:\n  - path: team-label.yaml\n")
    patch = (f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"
             "  labels:\n    team: platform\n")
    user_sha = git_push_files(
        git_server.url(repo, "https"),
        {f"{PATH}/flux-system/kustomization.yaml": user_kustomization,
         f"{PATH}/flux-system/team-label.yaml": patch},
        message="Label the namespace", auth=GitAuth.for_server(git_server))
    res = afflux(*args)
    assert res.code == 0, res.err
    after = head(git_server, repo)
    assert after is not None and str(after.id) == user_sha
    assert blob(after, f"{PATH}/flux-system/kustomization.yaml") == user_kustomization
    assert_synced(flux_crds, namespace, user_sha)
    labels = (get(flux_crds, "", "namespace", namespace) or {})["metadata"]["labels"]
    assert labels["team"] == "platform"

    # 4. someone pushes while bootstrap works: the push is refused (non-fast-forward), so
    #    bootstrap clones again, redoes its change on top, and pushes
    pushed: list[str] = []
    clone = WorkingCopy.clone.__func__  # type: ignore[attr-defined]

    def clone_then_race(cls, *a: Any, **kw: Any) -> WorkingCopy:
        wc = clone(cls, *a, **kw)
        if not pushed:
            pushed.append(git_push_files(git_server.url(repo, "https"),
                                         {"docs/README.md": "the fleet\n"},
                                         message="Docs", auth=GitAuth.for_server(git_server)))
        return wc

    monkeypatch.setattr(WorkingCopy, "clone", classmethod(clone_then_race))
    res = afflux(*args, "--interval=2m")
    assert res.code == 0, res.err
    assert '"main" moved on while pushing; cloning again' in res.err
    last = head(git_server, repo)
    assert last is not None
    assert messages(last)[:3] == ["Add Flux sync manifests", "Docs", "Label the namespace"]
    assert blob(last, "docs/README.md") == "the fleet\n"
    assert_synced(flux_crds, namespace, str(last.id))
    git = get(flux_crds, namespace, "gitrepositories.source.toolkit.fluxcd.io") or {}
    assert git["spec"]["interval"] == "2m0s"


@pytest.fixture
def ssh_agent(ssh_git_server: GitSSHServer, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An ssh-agent holding the key the SSH server accepts (what a user pushes with)."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        eventually(sock.exists, 10, message="ssh-agent socket")
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(ssh_git_server.client_key)], env=env, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield str(sock)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def test_bootstrap_over_ssh_generates_a_deploy_key_then_takes_a_key_file(
    afflux: Run, flux_crds: Cluster, ssh_git_server: GitSSHServer, ssh_agent: str,
    namespace: str, operators: None,
) -> None:
    repo = new_repo(ssh_git_server, "boot-ssh")
    args = local_bootstrap(namespace, f"--url={ssh_git_server.url(repo)}", path=PATH)

    # 1. no key file: push with the agent's key, generate a deploy key for the cluster; the
    #    user adds it to the server while bootstrap waits for the GitRepository
    result: dict[str, Result] = {}
    thread = threading.Thread(target=lambda: result.update(res=afflux(*args)), daemon=True)
    thread.start()
    data = eventually(lambda: secret_data(flux_crds, namespace).get("identity.pub") and
                      secret_data(flux_crds, namespace), 90, message="the generated key")
    ssh_git_server.add_authorized_key(data["identity.pub"], label="deploy-key")
    thread.join(180)
    res = result["res"]
    assert res.code == 0, res.err
    assert f"✔ public key: {data['identity.pub']}" in res.err
    assert data["identity.pub"].startswith("ssh-ed25519 ")
    assert set(data) == {"identity", "identity.pub", "known_hosts"}
    assert ssh_git_server.host_public_key.split()[1] in data["known_hosts"]
    sha = str(head(ssh_git_server, repo).id)  # type: ignore[union-attr]
    assert_synced(flux_crds, namespace, sha)
    assert any(r.user == "deploy-key" for r in ssh_git_server.requests(repo))

    # 2. again, with a key file: the cluster's Secret takes that key; no new commit
    res = afflux(*args, f"--private-key-file={ssh_git_server.client_key}")
    assert res.code == 0, res.err
    assert str(head(ssh_git_server, repo).id) == sha  # type: ignore[union-attr]
    data = secret_data(flux_crds, namespace)
    assert data["identity.pub"].split()[:2] == ssh_git_server.client_public_key.split()[:2]
    assert "public key:" not in res.err


def test_bad_input_is_one_line_and_writes_nothing(
    afflux: Run, flux_crds: Cluster, git_server: GitHTTPServer, test_ca: TestCA,
    namespace: str, tmp_path: Path,
) -> None:
    repo = new_repo(git_server, "boot-bad")
    url = git_server.url(repo, "https")
    base = ["bootstrap", "git", "-n", namespace, "--local", "--silent",
            "--components=source-controller,kustomize-controller", "--timeout=30s",
            f"--path={PATH}", f"--username={git_server.username}", "--token-auth"]
    good = [f"--password={git_server.password}", f"--ca-file={test_ca.ca_cert}"]
    dead_kubeconfig = tmp_path / "kubeconfig"
    dead_kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": f"https://127.0.0.1:{free_port()}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}))
    cases = [
        ([f"--url={url}", "--password=wrong", f"--ca-file={test_ca.ca_cert}"],
         "the server rejected the password of user", "--password"),
        ([f"--url=https://127.0.0.1:{free_port()}/{repo}.git", *good],
         "cannot reach the Git server", "--url"),
        ([f"--url={git_server.url(repo, 'http')}", f"--password={git_server.password}"],
         "plain HTTP", "--allow-insecure-http"),
        ([f"--url={url}", *good, "--components=source-controller"],
         "kustomize-controller must be among the components", "--components"),
        ([f"--url={url}", *good, f"--kubeconfig={dead_kubeconfig}"],
         "cannot reach the Kubernetes API", "cluster"),
    ]
    for extra, message, hint in cases:
        res = afflux(*base, *extra)
        assert res.code != 0, (extra, res.err)
        line = one_line_error(res)
        assert message in line and hint in line, line

    # no --ca-file for a private CA (in a process of its own: this one trusts the test CA)
    done = subprocess.run(
        [sys.executable, "-m", "afflux.cli", f"--kubeconfig={flux_crds.kubeconfig}", *base,
         f"--url={url}", f"--password={git_server.password}"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode != 0
    line = one_line_error(Result(done.returncode, done.stdout, done.stderr))
    assert "TLS certificate could not be verified" in line and "--ca-file" in line

    # a path an earlier bootstrap uses differently
    flux_crds.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "flux-system"},
        "spec": {"interval": "10m", "path": "./clusters/other", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}))
    res = afflux(*base, f"--url={url}", *good)
    assert res.code != 0
    line = one_line_error(res)
    assert "syncs path './clusters/other', not './clusters/test'" in line
    assert "--path clusters/other" in line

    # nothing was written anywhere
    assert head(git_server, repo) is None
    assert get(flux_crds, namespace, "secret") is None
    assert get(flux_crds, namespace, "gitrepositories.source.toolkit.fluxcd.io") is None
    flux_crds.kubectl("delete", "-n", namespace, "kustomizations.kustomize.toolkit.fluxcd.io",
                      "flux-system", "--wait=false")


def test_bootstrap_and_reconcile_fail_at_once_on_a_failed_build(
    afflux: Run, flux_crds: Cluster, git_server: GitHTTPServer, test_ca: TestCA,
    namespace: str, operators: None,
) -> None:
    import time

    repo = new_repo(git_server, "boot-broken")
    git_push_files(git_server.url(repo, "https"),
                   {f"{PATH}/apps/kustomization.yaml": "resources:\n  - missing.yaml\n"},
                   message="A broken app", auth=GitAuth.for_server(git_server))
    started = time.monotonic()
    res = afflux(*local_bootstrap(namespace, *https_flags(git_server, repo, test_ca.ca_cert),
                                  timeout="5m", path=PATH))
    assert res.code == 1, res.err
    assert time.monotonic() - started < 120  # not the 5m timeout
    failure = one_line_error(res)
    assert failure.startswith(f'✗ Kustomization "{namespace}/flux-system" failed: ')
    assert "missing.yaml" in failure

    started = time.monotonic()
    res = afflux("reconcile", "ks", "flux-system", "-n", namespace, "--timeout=5m")
    assert res.code == 1, res.err
    assert time.monotonic() - started < 120
    assert "✗ Kustomization reconciliation failed: " in res.err and "missing.yaml" in res.err


@pytest.fixture
def gpg_home() -> Iterator[Path]:
    """A throwaway GnuPG home with one signing key (passphrase `s3cret`); short, so the
    agent's socket path fits."""
    home = Path(tempfile.mkdtemp(prefix="gpg-"))
    home.chmod(0o700)
    try:
        gpg(home, "--quick-gen-key", "Fleet Bot <bot@example.com>", "ed25519", "sign", "never")
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
                       capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def gpg(home: Path, *args: str) -> str:
    done = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode",
                           "loopback", "--passphrase", "s3cret", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout


def verify_commit(server: GitHTTPServer, repo: str, sha: str, *config: str,
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    git_dir = str(server.repo_root / f"{repo}.git")
    return subprocess.run(["git", *config, "--git-dir", git_dir, "verify-commit", "-v", sha],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          check=False)


def test_bootstrap_with_flux_options_signs_its_commits(
    afflux: Run, flux_crds: Cluster, git_server: GitHTTPServer, test_ca: TestCA,
    namespace: str, operators: None, gpg_home: Path, tmp_path: Path,
) -> None:
    repo = new_repo(git_server, "boot-opts")
    ring = tmp_path / "ring.asc"
    ring.write_text(gpg(gpg_home, "--armor", "--export-secret-keys"))
    fingerprint = next(line.split(":")[9] for line in gpg(
        gpg_home, "--with-colons", "--list-secret-keys").splitlines() if line.startswith("fpr"))
    args = local_bootstrap(
        namespace, *https_flags(git_server, repo, test_ca.ca_cert),
        "--secret-name=git-creds", "--commit-message-appendix=[ci skip]",
        "--sparse-checkout=clusters", "--recurse-submodules=true",
        "--watch-all-namespaces=false", "--toleration-keys=dedicated", "--log-level=debug",
        "--image-pull-secret=regcred", "--registry-creds=robot:pull-token",
        "--author-email=bot@example.com", f"--gpg-key-ring={ring}",
        f"--gpg-key-id={fingerprint[-16:]}", "--gpg-passphrase=s3cret", path=PATH)

    # a wrong passphrase fails before anything is pushed
    bad = afflux(*[a for a in args if not a.startswith("--gpg-passphrase")],
                 "--gpg-passphrase=wrong")
    assert bad.code != 0 and "invalid GPG signing key" in one_line_error(bad), bad.err
    assert head(git_server, repo) is None

    res = afflux(*args)
    assert res.code == 0, res.err
    first = head(git_server, repo)
    assert first is not None
    assert messages(first) == ["Add Flux sync manifests\n\n[ci skip]",
                               "Add Flux v0.1.0 component manifests\n\n[ci skip]"]
    for commit in (first, first.parents[0]):
        done = verify_commit(git_server, repo, str(commit.id), env={"GNUPGHOME": str(gpg_home)})
        assert done.returncode == 0, done.stderr
        assert 'Good signature from "Fleet Bot <bot@example.com>"' in done.stderr
    assert_synced(flux_crds, namespace, str(first.id))
    git = get(flux_crds, namespace, "gitrepositories.source.toolkit.fluxcd.io") or {}
    assert git["spec"]["secretRef"] == {"name": "git-creds"}
    assert git["spec"]["sparseCheckout"] == ["clusters"]
    assert git["spec"]["recurseSubmodules"] is True
    assert set(secret_data(flux_crds, namespace)) == set()  # no flux-system Secret
    creds = get(flux_crds, namespace, "secret", "git-creds") or {}
    assert set(creds["data"]) == {"username", "password", "ca.crt"}
    pull = get(flux_crds, namespace, "secret", "regcred") or {}
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    dockerconfig = json.loads(base64.b64decode(pull["data"][".dockerconfigjson"]))
    assert dockerconfig["auths"]["ghcr.io/afflux"]["username"] == "robot"
    components = blob(first, f"{PATH}/flux-system/gotk-components.yaml")
    assert "pull-token" not in components  # the registry credentials stay out of Git
    docs = [d for d in yaml.safe_load_all(components) if d]
    source = next(d for d in docs if d["kind"] == "Deployment"
                  and d["metadata"]["name"] == "source-controller")
    pod = source["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert {"--watch-all-namespaces=false", "--log-level=debug"} <= set(
        pod["containers"][0]["args"])
    # the NetworkPolicies (--network-policy defaults to true), applied from Git
    policies = flux_crds.kubectl("get", "networkpolicies", "-n", namespace, "-o", "name")
    assert set(policies.stdout.split()) == {
        "networkpolicy.networking.k8s.io/allow-egress",
        "networkpolicy.networking.k8s.io/allow-scraping",
        "networkpolicy.networking.k8s.io/allow-webhooks"}

    # again with another log level, signed with an SSH key that has a passphrase
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "pw", "-C", "", "-f", str(key)],
                   check=True)
    ssh_args = [a for a in args if not a.startswith(("--gpg-", "--log-level"))]
    res = afflux(*ssh_args, "--log-level=info", f"--ssh-signing-key-file={key}",
                 "--ssh-signing-password=pw")
    assert res.code == 0, res.err
    second = head(git_server, repo)
    assert second is not None and second.parents[0].id == first.id
    assert messages(second)[0] == "Add Flux v0.1.0 component manifests\n\n[ci skip]"
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("bot@example.com " + Path(f"{key}.pub").read_text())
    done = verify_commit(git_server, repo, str(second.id), "-c", "gpg.format=ssh",
                         "-c", f"gpg.ssh.allowedSignersFile={allowed}")
    assert done.returncode == 0, done.stderr
    assert 'Good "git" signature for bot@example.com' in done.stderr
    assert_synced(flux_crds, namespace, str(second.id))


@pytest.mark.parametrize(("algorithm", "size", "fingerprint"), [
    pytest.param("rsa", 2048, "2048 SHA256:", id="ssh-rsa-bits"),
    pytest.param("ecdsa", 256, "256 SHA256:", id="ssh-ecdsa-curve-p256"),
    pytest.param("ecdsa", 521, "521 SHA256:", id="ssh-ecdsa-curve-p521"),
])
def test_generated_deploy_key_has_the_asked_size(algorithm: str, size: int, fingerprint: str,
                                                 tmp_path: Path) -> None:
    """What `--ssh-rsa-bits` / `--ssh-ecdsa-curve` ask of the real ssh-keygen."""
    _, public = generate_key(algorithm, comment="t", size=size)
    (tmp_path / "k.pub").write_text(public + "\n")
    done = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "k.pub")],
                          capture_output=True, text=True, check=True)
    assert done.stdout.startswith(fingerprint), done.stdout
