"""`create secret git` and `create source git` with an ssh:// URL and no key, against the
harness's real sshd Git server: a key pair of --ssh-key-algorithm / --ssh-rsa-bits /
--ssh-ecdsa-curve is generated, the server's host key is scanned into known_hosts, the
deploy key is printed, and the key (once the server trusts it) really opens the repository."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from cli_harness import Run, get_json

from afflux.cli import main
from afflux.cli.devenv import GitSSHServer
from harness.fixtures_cluster import Cluster
from harness.fixtures_servers import GitAuth, GitAuthError, git_ls_remote

pytestmark = pytest.mark.integration


def _key_info(public_key: str, tmp_path: Path) -> tuple[int, str]:
    """(bits, type) of a public key line, as `ssh-keygen -l` reads it."""
    pub = tmp_path / f"k-{uuid.uuid4().hex[:6]}.pub"
    pub.write_text(public_key + "\n")
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(pub)], capture_output=True, text=True,
                         check=True, timeout=30).stdout.split()
    return int(out[0]), out[-1].strip("()")


def _opens_repository(server: GitSSHServer, url: str, identity: str, known_hosts: str,
                      tmp_path: Path) -> bool:
    key = tmp_path / f"id-{uuid.uuid4().hex[:6]}"
    key.write_text(identity)
    key.chmod(0o600)
    key.with_name(key.name + ".pub").write_text(
        subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True,
                       check=True, timeout=30).stdout)
    try:
        git_ls_remote(url, GitAuth(username=server.user, ssh_key=key, known_hosts=known_hosts))
    except GitAuthError:
        return False
    return True


@pytest.mark.parametrize(
    ("flags", "bits", "kind"),
    [
        pytest.param([], 384, "ECDSA", id="default-ecdsa-p384"),
        pytest.param(["--ssh-key-algorithm=ecdsa", "--ssh-ecdsa-curve=p521"], 521, "ECDSA",
                     id="ecdsa-p521"),
        pytest.param(["--ssh-key-algorithm", "rsa", "--ssh-rsa-bits", "1024"], 1024, "RSA",
                     id="rsa-1024"),
        pytest.param(["--ssh-key-algorithm=ed25519"], 256, "ED25519", id="ed25519"),
    ],
)
def test_create_secret_git_generates_the_key_and_scans_the_host(
        ssh_git_server: GitSSHServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        flags: list[str], bits: int, kind: str) -> None:
    repo = f"keys/{uuid.uuid4().hex[:8]}"
    ssh_git_server.create_repo(repo)
    url = ssh_git_server.url(repo)
    capsys.readouterr()
    assert main(["create", "secret", "git", "deploy", f"--url={url}", "--export",
                 *flags]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    data = doc["stringData"]
    assert sorted(data) == ["identity", "identity.pub", "known_hosts"]
    assert data["known_hosts"].split() == ssh_git_server.known_hosts.split()
    assert _key_info(data["identity.pub"], tmp_path) == (bits, kind)
    # the key is new: the server does not know it until told
    assert not _opens_repository(ssh_git_server, url, data["identity"], data["known_hosts"],
                                 tmp_path)
    ssh_git_server.add_authorized_key(data["identity.pub"], label=f"test-{bits}-{kind}")
    assert _opens_repository(ssh_git_server, url, data["identity"], data["known_hosts"],
                             tmp_path)


def test_bad_rsa_bits_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create", "secret", "git", "s", "--url=ssh://git@127.0.0.1:9/r.git",
                 "--ssh-key-algorithm=rsa", "--ssh-rsa-bits=1000", "--export"]) == 2
    assert "multiple of 8 and at least 1024" in capsys.readouterr().err


def test_create_source_git_applies_the_generated_deploy_key(
        afflux: Run, flux_crds: Cluster, namespace: str, controller,
        ssh_git_server: GitSSHServer, tmp_path: Path) -> None:
    repo = f"keys/{uuid.uuid4().hex[:8]}"
    ssh_git_server.create_repo(repo)
    url = ssh_git_server.url(repo)
    controller("GitRepository")
    res = afflux("create", "source", "git", "app", f"--url={url}", "--branch=main",
                 "-n", namespace, "--silent", "--ssh-key-algorithm=ed25519")
    assert res.code == 0, res.err
    assert "collected public key from SSH server:" in res.err
    assert ssh_git_server.host_public_key.split()[1] in res.err
    deploy = next(line for line in res.err.splitlines() if "deploy key: " in line)
    public = deploy.split("deploy key: ", 1)[1].strip()
    assert public.startswith("ssh-ed25519 ")

    source = get_json(flux_crds, namespace, "gitrepositories", "app")
    assert source["spec"]["secretRef"] == {"name": "app"}
    secret = flux_crds.kubectl("get", "secret", "app", "-n", namespace, "-o",
                               "jsonpath={.data}").stdout
    data = {k: base64.b64decode(v).decode() for k, v in json.loads(secret).items()}
    assert data["identity.pub"].strip() == public
    assert data["known_hosts"].split() == ssh_git_server.known_hosts.split()
    ssh_git_server.add_authorized_key(public, label="source-git")
    assert _opens_repository(ssh_git_server, url, data["identity"], data["known_hosts"],
                             tmp_path)


def test_create_source_git_export_prints_no_secret(ssh_git_server: GitSSHServer,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = ssh_git_server.url("keys/export")
    assert main(["create", "source", "git", "app", f"--url={url}", "--branch=main",
                 "--export"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["GitRepository"]
    assert "secretRef" not in docs[0]["spec"]


def test_a_key_file_without_pub_gets_its_public_key(ssh_git_server: GitSSHServer,
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "id"
    key.write_bytes(Path(ssh_git_server.client_key).read_bytes())
    key.chmod(0o600)
    url = ssh_git_server.url("keys/file")
    assert main(["create", "secret", "git", "s", f"--url={url}", f"--private-key-file={key}",
                 "--export"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)["stringData"]
    assert data["identity"] == key.read_text()
    assert data["identity.pub"].split()[:2] == ssh_git_server.client_public_key.split()[:2]
    assert data["known_hosts"].split() == ssh_git_server.known_hosts.split()

    junk = tmp_path / "junk"
    junk.write_text("not a key\n")
    assert main(["create", "secret", "git", "s", f"--url={url}", f"--private-key-file={junk}",
                 "--export"]) == 1
    assert f"cannot read the SSH private key {junk}" in capsys.readouterr().err
