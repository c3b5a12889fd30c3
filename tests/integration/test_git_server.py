"""The test Git servers, exercised with pygit2 (libgit2) as the controllers will use it.

Smart HTTP with basic auth and bearer tokens, HTTPS verified against the test CA, SSH
with a key and a known_hosts check, and each way of being turned down. Also: the
request log that later tests use to count fetches, gzip and chunked request bodies, and
that a server leaves no process behind and reports its own log when it cannot start.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import socket
import ssl
import subprocess
from pathlib import Path

import pygit2
import pytest

from afflux.cli.devenv import (
    GitHTTPServer,
    GitSSHServer,
    ServerStartError,
    TestCA,
    generate_ssh_key,
    known_hosts_line,
)
from harness.fixtures_servers import (
    GitAuth,
    GitAuthError,
    git_clone,
    git_ls_remote,
    git_push_files,
)
from harness.wait import eventually

pytestmark = pytest.mark.integration


def _pkt(line: str) -> bytes:
    data = line.encode()
    return b"%04x" % (len(data) + 4) + data


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z"


# --- smart HTTP -----------------------------------------------------------------------


def test_http_push_and_clone_with_basic_auth(git_server: GitHTTPServer, tmp_path: Path) -> None:
    git_server.create_repo("http-basic")
    url = git_server.url("http-basic")
    auth = GitAuth.for_server(git_server)

    first = git_push_files(url, {"README.md": "hello\n", "deploy/app.yaml": "kind: A\n"}, auth=auth)
    second = git_push_files(url, {"deploy/app.yaml": "kind: B\n", "README.md": None}, auth=auth)

    assert git_ls_remote(url, auth)["refs/heads/main"] == second
    repo = git_clone(url, tmp_path / "clone", auth)
    head = repo[repo.head.target]
    assert isinstance(head, pygit2.Commit)
    assert str(head.id) == second and [str(p) for p in head.parent_ids] == [first]
    assert (tmp_path / "clone" / "deploy" / "app.yaml").read_text() == "kind: B\n"
    assert not (tmp_path / "clone" / "README.md").exists()
    assert repo.head.shorthand == "main"

    served = [(r.method, r.path, r.service) for r in git_server.requests("http-basic")]
    assert ("POST", "/git-receive-pack", "git-receive-pack") in served
    assert ("POST", "/git-upload-pack", "git-upload-pack") in served
    ok = [r for r in git_server.requests("http-basic") if r.status == 200]
    assert ok and {r.user for r in ok} == {git_server.username}


def test_http_wrong_password_is_rejected(git_server: GitHTTPServer) -> None:
    git_server.create_repo("http-wrong-password")
    url = git_server.url("http-wrong-password")
    with pytest.raises(GitAuthError, match="rejected the password of user 'git-user'"):
        git_ls_remote(url, GitAuth(username=git_server.username, password="not-it"))
    with pytest.raises(GitAuthError, match="asks for credentials .* none were given"):
        git_ls_remote(url)
    statuses = {r.status for r in git_server.requests("http-wrong-password")}
    assert statuses == {401}


def test_http_bearer_token(git_server: GitHTTPServer) -> None:
    git_server.create_repo("http-bearer")
    url = git_server.url("http-bearer")
    sha = git_push_files(url, {"a.txt": "a"}, auth=GitAuth(bearer_token=git_server.bearer_token))
    assert git_ls_remote(url, GitAuth(bearer_token=git_server.bearer_token)) == {
        "HEAD": sha,
        "refs/heads/main": sha,
    }
    with pytest.raises(GitAuthError, match="asks for credentials"):
        git_ls_remote(url, GitAuth(bearer_token="wrong-token"))


def test_public_repo_is_readable_without_credentials_but_not_writable(
    git_server: GitHTTPServer,
) -> None:
    git_server.create_repo("http-public", public=True)
    url = git_server.url("http-public")
    sha = git_push_files(url, {"a.txt": "a"}, auth=GitAuth.for_server(git_server))
    assert git_ls_remote(url)["refs/heads/main"] == sha
    with pytest.raises(GitAuthError, match="asks for credentials .* none were given"):
        git_push_files(url, {"b.txt": "b"})


def test_https_verifies_the_test_ca(git_server: GitHTTPServer, tmp_path: Path) -> None:
    # libgit2 trusts the session's test CA (the test_ca fixture calls trust_ca_in_libgit2).
    git_server.create_repo("https-repo")
    auth = GitAuth.for_server(git_server)
    sha = git_push_files(git_server.url("https-repo", "https"), {"a.txt": "a"}, auth=auth)
    for host in ("127.0.0.1", "localhost"):  # both are SANs of the server certificate
        url = git_server.url("https-repo", "https").replace("127.0.0.1", host)
        repo = git_clone(url, tmp_path / host, auth)
        assert str(repo.head.target) == sha
    assert {r.scheme for r in git_server.requests("https-repo")} == {"https"}


def test_https_with_a_certificate_from_an_unknown_ca_fails(tmp_path: Path) -> None:
    # A server whose CA libgit2 does not trust: the handshake must fail, whatever the
    # credentials, and no request may reach the server.
    stranger = TestCA(tmp_path / "other-ca", name="not trusted").start()
    with GitHTTPServer(tmp_path / "server", ca=stranger, http_port=None) as server:
        server.create_repo("r")
        with pytest.raises(pygit2.GitError, match="certificate"):
            git_ls_remote(server.url("r", "https"), GitAuth.for_server(server))
        assert server.requests("r") == []


def test_https_client_certificate_authenticates(
    git_server: GitHTTPServer, test_ca: TestCA, tmp_path: Path
) -> None:
    git_server.create_repo("https-mtls")
    cert, key = test_ca.issue_client("flux-source", directory=tmp_path)
    path = "/https-mtls.git/info/refs?service=git-upload-pack"

    def get(with_cert: bool) -> int:
        ctx = ssl.create_default_context(cafile=str(test_ca.ca_cert))
        if with_cert:
            ctx.load_cert_chain(cert, key)
        conn = http.client.HTTPSConnection("127.0.0.1", git_server.https_port, context=ctx)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    assert get(with_cert=False) == 401
    assert get(with_cert=True) == 200
    assert git_server.requests("https-mtls")[-1].user == "flux-source"


def test_gzip_and_chunked_request_bodies_reach_http_backend(git_server: GitHTTPServer) -> None:
    # git (not libgit2) gzips upload-pack requests and chunks large bodies: send both.
    git_server.create_repo("http-gzip")
    url = git_server.url("http-gzip")
    sha = git_push_files(url, {"a.txt": "a" * 1000}, auth=GitAuth.for_server(git_server))
    body = gzip.compress(_pkt(f"want {sha} ofs-delta\n") + b"0000" + _pkt("done\n"))
    credentials = f"{git_server.username}:{git_server.password}".encode()
    auth = "Basic " + base64.b64encode(credentials).decode()

    conn = http.client.HTTPConnection("127.0.0.1", git_server.http_port, timeout=30)
    try:
        conn.request(
            "POST",
            "/http-gzip.git/git-upload-pack",
            body=iter([body[:10], body[10:]]),
            headers={
                "Authorization": auth,
                "Content-Type": "application/x-git-upload-pack-request",
                "Content-Encoding": "gzip",
                "Accept": "application/x-git-upload-pack-result",
            },
            encode_chunked=True,
        )
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, data[:300]
    assert resp.getheader("Content-Type") == "application/x-git-upload-pack-result"
    assert data.startswith(b"0008NAK\n") and b"PACK" in data


def test_git_cli_push_and_clone_of_a_large_file(git_server: GitHTTPServer, tmp_path: Path) -> None:
    # The git CLI sends gzip bodies and, above http.postBuffer, chunked ones.
    git_server.create_repo("http-large")
    auth = GitAuth.for_server(git_server)
    payload = os.urandom(3 * 1024 * 1024)
    sha = git_push_files(git_server.url("http-large"), {"blob.bin": payload}, auth=auth)
    url = git_server.url("http-large").replace(
        "://", f"://{git_server.username}:{git_server.password}@"
    )
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path))
    work = tmp_path / "work"
    done = subprocess.run(
        ["git", "clone", "-q", url, str(work)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert (work / "blob.bin").read_bytes() == payload
    (work / "more.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    for args in (
        ["add", "more.bin"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "more"],
        ["push", "-q", "origin", "main"],
    ):
        done = subprocess.run(
            ["git", "-C", str(work), *args], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
    heads = git_ls_remote(git_server.url("http-large"), auth)
    assert heads["refs/heads/main"] != sha


def test_request_log_tells_a_fetch_from_an_up_to_date_check(
    git_server: GitHTTPServer, tmp_path: Path
) -> None:
    git_server.create_repo("http-count")
    url = git_server.url("http-count")
    auth = GitAuth.for_server(git_server)
    git_push_files(url, {"a.txt": "1"}, auth=auth)
    repo = git_clone(url, tmp_path / "c", auth)
    assert git_server.fetches("http-count") == 1

    with auth.session() as callbacks:
        repo.remotes["origin"].fetch(callbacks=callbacks)  # nothing new: refs only
    assert git_server.fetches("http-count") == 1
    assert [r.service for r in git_server.requests("http-count")][-1] == "git-upload-pack"

    git_push_files(url, {"a.txt": "2"}, auth=auth)  # fetches the branch to commit on it
    git_server.clear_requests()
    assert git_server.requests("http-count") == []
    with auth.session() as callbacks:
        repo.remotes["origin"].fetch(callbacks=callbacks)
    assert git_server.fetches("http-count") == 1


# --- SSH --------------------------------------------------------------------------------


def test_ssh_push_and_clone_with_key_and_known_hosts(
    ssh_git_server: GitSSHServer, tmp_path: Path
) -> None:
    ssh_git_server.create_repo("ssh-repo")
    url = ssh_git_server.url("ssh-repo")
    assert url == f"ssh://{ssh_git_server.user}@127.0.0.1:{ssh_git_server.port}/ssh-repo.git"
    assert ssh_git_server.known_hosts.startswith(f"[127.0.0.1]:{ssh_git_server.port} ssh-ed25519 ")
    auth = GitAuth.for_server(ssh_git_server)

    sha = git_push_files(url, {"k.yaml": "x: 1\n"}, auth=auth)
    repo = git_clone(url, tmp_path / "clone", auth)
    assert str(repo.head.target) == sha
    assert (tmp_path / "clone" / "k.yaml").read_text() == "x: 1\n"
    services = [(r.service, r.user) for r in ssh_git_server.requests("ssh-repo")]
    assert ("git-receive-pack", "client") in services
    assert ("git-upload-pack", "client") in services


def test_ssh_unknown_host_key_fails(ssh_git_server: GitSSHServer, tmp_path: Path) -> None:
    ssh_git_server.create_repo("ssh-hostkey")
    url = ssh_git_server.url("ssh-hostkey")
    _, other_host_key = generate_ssh_key(tmp_path / "other_host_key")
    wrong = known_hosts_line("127.0.0.1", ssh_git_server.port or 0, other_host_key)
    right = GitAuth.for_server(ssh_git_server)
    for known_hosts in (wrong, None):
        auth = GitAuth(username=right.username, ssh_key=right.ssh_key, known_hosts=known_hosts)
        with pytest.raises(pygit2.GitError, match="invalid or unknown remote ssh hostkey"):
            git_ls_remote(url, auth)
    assert ssh_git_server.requests("ssh-hostkey") == []


def test_ssh_wrong_key_fails_and_an_added_key_works(
    ssh_git_server: GitSSHServer, tmp_path: Path
) -> None:
    ssh_git_server.create_repo("ssh-keys")
    url = ssh_git_server.url("ssh-keys")
    key, public = generate_ssh_key(tmp_path / "deploy_key")
    auth = GitAuth(
        username=ssh_git_server.user, ssh_key=key, known_hosts=ssh_git_server.known_hosts
    )
    with pytest.raises(GitAuthError, match="rejected the ssh key"):
        git_ls_remote(url, auth)

    ssh_git_server.add_authorized_key(public, label="deploy")
    sha = git_push_files(url, {"a": "a"}, auth=auth)
    assert git_ls_remote(url, auth)["refs/heads/main"] == sha
    assert {r.user for r in ssh_git_server.requests("ssh-keys")} == {"deploy"}


def test_ssh_allows_git_commands_only(ssh_git_server: GitSSHServer, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(ssh_git_server.known_hosts + "\n")
    done = subprocess.run(
        [
            "ssh", "-F", "/dev/null", "-i", str(ssh_git_server.client_key),
            "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known}",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-p", str(ssh_git_server.port), f"{ssh_git_server.user}@127.0.0.1", "id",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "only git fetch and push are served here" in done.stderr


# --- lifecycle ----------------------------------------------------------------------------


def test_servers_stop_without_leaving_processes(tmp_path: Path) -> None:
    http = GitHTTPServer(tmp_path / "http", https_port=None).start()
    ssh = GitSSHServer(tmp_path / "ssh").start()
    pids = [http.pid, ssh.pid]
    assert all(pids)
    http.stop()
    ssh.stop()
    for pid in pids:
        eventually(lambda pid=pid: _pid_gone(pid), timeout=10, message=f"pid {pid} to exit")
    assert not http.running and not ssh.running


def test_a_server_that_cannot_start_reports_its_own_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerStartError) as failed:
            GitSSHServer(tmp_path / "ssh", port=port).start()
    message = str(failed.value)
    assert "sshd" in message and "--- sshd (git over ssh) log ---" in message
    assert "Address already in use" in message or "Bind to port" in message
