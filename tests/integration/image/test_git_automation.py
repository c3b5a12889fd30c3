"""ImageUpdateAutomation's Git side against the real test Git server (smart HTTPS with
basic auth): setters applied to a clone, templated commit, push; the retry when the
branch moved; no commit when nothing changed; new and existing push branches; refspecs
and push options; GPG- and SSH-signed commits (checked by the real gpg and `git
verify-commit`); refused credentials."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from afflux.cli.devenv import GitHTTPServer, GitSSHServer
from afflux.controllers.image_automation._gitops import (
    CheckoutRef,
    CommitAuthor,
    InvalidSourceConfiguration,
    PushSpec,
    SigningKey,
    SSHSigningKey,
    run_automation,
)
from afflux.controllers.image_automation._setters import PolicyImage, Result, update_with_setters
from afflux.controllers.image_automation._sshsig import load_private_key
from afflux.controllers.image_automation._template import (
    NamespacedName,
    TemplateData,
    render_commit_message,
)
from afflux.controllers.runtime._gitauth import GitAuthError, GitCredentials
from harness.fixtures_servers import GitAuth, git_push_files
from harness.sshsign import new_ssh_key, verify_commit

pytestmark = pytest.mark.integration

MARKER = '# {"$imagepolicy": "flux-system:app"}'
DEPLOY = (
    "apiVersion: apps/v1\n"
    "kind: Deployment\n"
    "metadata:\n"
    "  name: web  # the web tier\n"
    "  namespace: prod\n"
    "spec:\n"
    "  template:\n"
    "    spec:\n"
    "      containers:\n"
    "        - name: web\n"
    f"          image: 'ghcr.io/org/app:1.0.0'   {MARKER}\n"
    "        - name: sidecar\n"
    "          image: ghcr.io/org/sidecar:1.0.0\n"
)
POLICIES = {"flux-system:app": PolicyImage("ghcr.io/org/app", "1.2.0")}
AUTHOR = CommitAuthor(email="bot@afflux.invalid", name="afflux bot")
TEMPLATE = (
    "Update images ({{ .AutomationObject }})\n\n"
    "{{ range .Changed.Changes -}}\n- {{ .OldValue }} -> {{ .NewValue }}\n{{ end -}}\n"
    "cluster: {{ .Values.cluster }}\n"
)


def creds(server: GitHTTPServer) -> GitCredentials:
    return GitCredentials.from_secret(
        {
            "username": server.username,
            "password": server.password,
            "ca.crt": server.ca_cert.read_bytes(),
        }
    )


def seed(server: GitHTTPServer, name: str, files: dict[str, str] | None = None) -> tuple[str, str]:
    server.create_repo(name)
    url = server.url(name, "https")
    sha = git_push_files(
        url,
        files or {"apps/deploy.yaml": DEPLOY, "README.md": "hi\n"},
        auth=GitAuth.for_server(server),
    )
    return url, sha


def bare(server: GitHTTPServer, name: str) -> pygit2.Repository:
    return pygit2.Repository(str(server.repo_path(name)))


def head(server: GitHTTPServer, name: str, branch: str = "main") -> pygit2.Commit:
    repo = bare(server, name)
    commit = repo[repo.references[f"refs/heads/{branch}"].target]
    assert isinstance(commit, pygit2.Commit)
    return commit


def blob(commit: pygit2.Commit, path: str) -> bytes:
    obj = commit.tree[path]
    return obj.data  # type: ignore[attr-defined]


def setters(path: str = "./") -> Callable[[Path], Result]:
    return lambda worktree: update_with_setters(worktree, path, POLICIES)


def templated(values: dict[str, str] | None = None) -> Callable[[Result], str]:
    return lambda result: render_commit_message(
        TEMPLATE,
        TemplateData(NamespacedName("flux-system", "auto"), result, values or {"cluster": "prod"}),
    )


def run(url: str, server: GitHTTPServer, **kwargs: object):  # type: ignore[no-untyped-def]
    options: dict[str, object] = {
        "credentials": creds(server),
        "checkout": CheckoutRef(branch="main"),
        "push": PushSpec(),
        "author": AUTHOR,
        "update": setters(),
        "message": templated(),
        "retry_delay": 0.05,
        "timeout": 60.0,
    }
    options.update(kwargs)
    return run_automation(url, **options)  # type: ignore[arg-type]


def test_marker_value_changes_commit_is_templated_and_pushed(git_server: GitHTTPServer) -> None:
    url, before = seed(git_server, "auto-basic")
    outcome = run(url, git_server)

    pushed = head(git_server, "auto-basic")
    assert outcome.commit == str(pushed.id)
    assert outcome.source_revision == f"main@sha1:{before}"
    assert [str(p) for p in pushed.parent_ids] == [before]
    assert blob(pushed, "apps/deploy.yaml").decode() == DEPLOY.replace(
        "'ghcr.io/org/app:1.0.0'", "'ghcr.io/org/app:1.2.0'"
    )
    assert blob(pushed, "README.md") == b"hi\n"
    assert (pushed.author.name, pushed.author.email) == ("afflux bot", "bot@afflux.invalid")
    assert (pushed.committer.name, pushed.committer.email) == ("afflux bot", "bot@afflux.invalid")
    assert pushed.message == (
        "Update images (flux-system/auto)\n\n- ghcr.io/org/app:1.0.0 -> ghcr.io/org/app:1.2.0\ncluster: prod\n"
    )
    changed = list(outcome.result.objects())  # type: ignore[union-attr]
    assert [(o.kind, o.name, o.namespace) for o in changed] == [("Deployment", "web", "prod")]


def test_nothing_to_change_makes_no_commit(git_server: GitHTTPServer) -> None:
    url, _ = seed(git_server, "auto-noop")
    first = run(url, git_server)
    assert first.commit is not None
    second = run(url, git_server)
    assert second.commit is None and second.message is None
    assert str(head(git_server, "auto-noop").id) == first.commit


def test_concurrent_commit_is_kept_and_the_update_reapplied(git_server: GitHTTPServer) -> None:
    url, before = seed(git_server, "auto-race")
    calls: list[str] = []

    def racing_update(worktree: Path) -> Result:
        if not calls:  # someone else pushes between our clone and our push
            calls.append(
                git_push_files(
                    url,
                    {"other.txt": "theirs\n"},
                    message="concurrent",
                    auth=GitAuth.for_server(git_server),
                )
            )
        else:
            calls.append("again")
        return update_with_setters(worktree, "./", POLICIES)

    outcome = run(url, git_server, update=racing_update)

    pushed = head(git_server, "auto-race")
    concurrent = calls[0]
    assert outcome.attempts == 2 and calls[1:] == ["again"]
    assert outcome.commit == str(pushed.id)
    assert [str(p) for p in pushed.parent_ids] == [concurrent]
    assert blob(pushed, "other.txt") == b"theirs\n"
    assert b"ghcr.io/org/app:1.2.0" in blob(pushed, "apps/deploy.yaml")
    assert outcome.source_revision == f"main@sha1:{before}"


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.push.branch")
def test_push_to_a_new_branch_creates_it_from_the_checkout(git_server: GitHTTPServer) -> None:
    url, before = seed(git_server, "auto-new-branch")
    outcome = run(url, git_server, push=PushSpec(branch="image-updates"))

    created = head(git_server, "auto-new-branch", "image-updates")
    assert outcome.push_branch == "image-updates"
    assert outcome.commit == str(created.id)
    assert [str(p) for p in created.parent_ids] == [before]
    assert str(head(git_server, "auto-new-branch").id) == before  # main untouched


def test_existing_push_branch_gets_a_commit_on_top_never_a_force_push(
    git_server: GitHTTPServer,
) -> None:
    url, _ = seed(git_server, "auto-existing-branch")
    theirs = git_push_files(  # a branch of its own history, with the marked file too
        url,
        {"apps/deploy.yaml": DEPLOY, "notes.txt": "on the branch\n"},
        branch="image-updates",
        auth=GitAuth.for_server(git_server),
    )
    outcome = run(url, git_server, push=PushSpec(branch="image-updates"))

    updated = head(git_server, "auto-existing-branch", "image-updates")
    assert outcome.commit == str(updated.id)
    assert [str(p) for p in updated.parent_ids] == [theirs]
    assert blob(updated, "notes.txt") == b"on the branch\n"


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.push.refspec",
                         "spec.git.push.options{*}")
def test_refspec_and_push_options(git_server: GitHTTPServer, tmp_path: Path) -> None:
    url, _ = seed(git_server, "auto-refspec")
    path = git_server.repo_path("auto-refspec")
    record = tmp_path / "push-options.txt"
    bare(git_server, "auto-refspec").config["receive.advertisePushOptions"] = True
    hook = path / "hooks" / "pre-receive"
    hook.write_text(
        f'#!/bin/sh\nenv | grep "^GIT_PUSH_OPTION_[0-9]" | sort >> "{record}"\nexit 0\n'
    )
    hook.chmod(0o755)

    outcome = run(
        url,
        git_server,
        push=PushSpec(
            refspec="refs/heads/main:refs/heads/release", options={"ci.skip": "", "topic": "images"}
        ),
    )

    main, release = head(git_server, "auto-refspec"), head(git_server, "auto-refspec", "release")
    assert outcome.commit == str(main.id) == str(release.id)
    assert outcome.refspecs == ["refs/heads/main:refs/heads/release"]
    assert record.read_text().splitlines()[:2] == [
        "GIT_PUSH_OPTION_0=ci.skip",
        "GIT_PUSH_OPTION_1=topic=images",
    ]


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.checkout.ref.tag")
def test_checkout_by_tag_needs_a_push_branch(git_server: GitHTTPServer) -> None:
    url, _ = seed(git_server, "auto-tag")
    tagged = git_push_files(
        url, {"v.txt": "1\n"}, tag="v1.0.0", auth=GitAuth.for_server(git_server)
    )
    with pytest.raises(InvalidSourceConfiguration, match="set spec.git.push.branch"):
        run(url, git_server, checkout=CheckoutRef(tag="v1.0.0"))

    outcome = run(
        url, git_server, checkout=CheckoutRef(semver=">=1.0.0"), push=PushSpec(branch="from-tag")
    )
    assert outcome.source_revision == f"v1.0.0@sha1:{tagged}"
    assert [str(p) for p in head(git_server, "auto-tag", "from-tag").parent_ids] == [tagged]


def test_wrong_password_is_an_authentication_failure(git_server: GitHTTPServer) -> None:
    url, _ = seed(git_server, "auto-denied")
    wrong = GitCredentials.from_secret({"username": git_server.username, "password": "nope"})
    with pytest.raises(GitAuthError, match="rejected the credentials") as info:
        run(url, git_server, credentials=wrong)
    assert info.value.reason == "AuthenticationFailed"


def gpg(home: Path, *args: str, stdin: bytes = b"") -> bytes:
    done = subprocess.run(
        ["gpg", "--batch", "--no-tty", "--yes", "--pinentry-mode", "loopback", *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, "GNUPGHOME": str(home)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.commit.signingKey.secretRef.name")
def test_commits_are_signed_with_the_key_of_the_secret(
    git_server: GitHTTPServer, tmp_path: Path
) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    gpg(
        home,
        "--passphrase",
        "s3cret",
        "--quick-gen-key",
        "afflux bot <bot@afflux.invalid>",
        "ed25519",
        "sign",
        "never",
    )
    armored = gpg(home, "--passphrase", "s3cret", "--armor", "--export-secret-keys")
    url, _ = seed(git_server, "auto-signed")

    outcome = run(url, git_server, signing_key=SigningKey(armored, "s3cret"))

    signed = head(git_server, "auto-signed")
    assert str(signed.id) == outcome.commit
    signature, payload = signed.gpg_signature
    (tmp_path / "sig.asc").write_bytes(signature)
    (tmp_path / "payload").write_bytes(payload)
    verified = subprocess.run(
        [
            "gpg",
            "--batch",
            "--status-fd",
            "1",
            "--verify",
            str(tmp_path / "sig.asc"),
            str(tmp_path / "payload"),
        ],
        capture_output=True,
        env={**os.environ, "GNUPGHOME": str(home)},
        timeout=60,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr.decode()
    assert b"[GNUPG:] GOODSIG" in verified.stdout
    subprocess.run(
        ["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(home)}, check=False
    )


def test_ssh_remote_with_identity_and_known_hosts(ssh_git_server: GitSSHServer) -> None:
    ssh_git_server.create_repo("auto-ssh")
    url = ssh_git_server.url("auto-ssh")
    before = git_push_files(
        url, {"apps/deploy.yaml": DEPLOY}, auth=GitAuth.for_server(ssh_git_server)
    )
    credentials = GitCredentials.from_secret(
        {
            "identity": ssh_git_server.client_key.read_bytes(),
            "known_hosts": ssh_git_server.known_hosts,
        }
    )

    outcome = run_automation(
        url,
        credentials=credentials,
        checkout=CheckoutRef(branch="main"),
        push=PushSpec(),
        author=AUTHOR,
        update=setters(),
        message=templated(),
    )

    repo = pygit2.Repository(str(ssh_git_server.repo_root / "auto-ssh.git"))
    pushed = repo[repo.references["refs/heads/main"].target]
    assert isinstance(pushed, pygit2.Commit)
    assert outcome.commit == str(pushed.id)
    assert [str(p) for p in pushed.parent_ids] == [before]
    assert b"ghcr.io/org/app:1.2.0" in blob(pushed, "apps/deploy.yaml")


@pytest.mark.parametrize(
    ("key_type", "passphrase"),
    [
        pytest.param("ed25519", "", id="ed25519"),
        pytest.param("ed25519", "s3cret", id="ed25519-encrypted"),
        pytest.param("ecdsa -b 256", "", id="ecdsa-p256"),
        pytest.param("ecdsa -b 521", "pw", id="ecdsa-p521-encrypted"),
        pytest.param("rsa -b 2048", "", id="rsa-2048"),
    ],
)
def test_commits_signed_with_an_ssh_key_pass_git_verify_commit(
    git_server: GitHTTPServer, tmp_path: Path, key_type: str, passphrase: str
) -> None:
    key = new_ssh_key(tmp_path, "signer", key_type, passphrase)
    signing = SSHSigningKey(load_private_key(key.private, passphrase.encode() or None))
    repo = f"auto-sshsig-{key_type.split()[0]}-{len(passphrase)}"
    url, before = seed(git_server, repo)

    outcome = run(url, git_server, signing_key=signing)

    signed = head(git_server, repo)
    assert str(signed.id) == outcome.commit
    assert [str(p) for p in signed.parent_ids] == [before]
    signature, _ = signed.gpg_signature
    assert signature.startswith(b"-----BEGIN SSH SIGNATURE-----")
    good = verify_commit(git_server.repo_path(repo), str(signed.id), {AUTHOR.email: key}, tmp_path)
    assert good.returncode == 0, good.stderr
    assert f'Good "git" signature for {AUTHOR.email}' in good.stderr
    other = new_ssh_key(tmp_path, "other", "ed25519")
    untrusted = verify_commit(
        git_server.repo_path(repo), str(signed.id), {AUTHOR.email: other}, tmp_path
    )
    assert untrusted.returncode != 0
