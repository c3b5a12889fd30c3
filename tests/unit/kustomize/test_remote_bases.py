"""Remote bases without running kustomize: which references are remote, the walk that reports
them (`--no-remote-bases=false`) or refuses them naming the flag (`true`), `file://` refused
either way, credentials stripped from every URL a message shows, and the environment
kustomize and git get."""

from __future__ import annotations

from pathlib import Path

import pytest

from afflux.controllers.kustomize._build import (
    BuildError,
    RemoteReference,
    _environment,
    check_references,
    is_remote,
    strip_userinfo,
)

REMOTE_CASES = [
    ("github-scp-without-user", "github.com:org/repo//deploy", True),
    ("scp-like-other-user", "deploy@git.example.com:org/repo.git", True),
    ("gh-shorthand", "gh:org/repo", True),
    ("file-url", "file:///etc/kubernetes", True),
    ("http-with-credentials", "https://user:token@git.example.com/o/r.git//app", True),
    ("email-like-file-name", "ops@team.yaml", False),
    ("colon-in-file-name", "config:v1.yaml", False),
]


@pytest.mark.parametrize(("ref", "remote"), [c[1:] for c in REMOTE_CASES],
                         ids=[c[0] for c in REMOTE_CASES])
def test_is_remote(ref: str, remote: bool) -> None:
    assert is_remote(ref) is remote


STRIP_CASES = [
    ("password", "fetch https://bob:s3cret@git.example/o/r.git failed",
     "fetch https://git.example/o/r.git failed"),
    ("token-only", "'https://ghp_abc123@github.com/o/r//x?ref=v1'",
     "'https://github.com/o/r//x?ref=v1'"),
    ("several-urls", "http://a:b@h1/x and ssh://git:pw@h2/y", "http://h1/x and ssh://h2/y"),
    ("no-userinfo", "https://github.com/o/r//x?ref=a@b", "https://github.com/o/r//x?ref=a@b"),
    ("scp-user-is-kept", "git@github.com:o/r.git", "git@github.com:o/r.git"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in STRIP_CASES],
                         ids=[c[0] for c in STRIP_CASES])
def test_strip_userinfo(text: str, expected: str) -> None:
    assert strip_userinfo(text) == expected


def write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)


WALK_CASES = [
    ("git-base",
     {"app/kustomization.yaml": "resources: [https://git.example/o/r//base?ref=v1]\n"},
     [RemoteReference("app/kustomization.yaml", "https://git.example/o/r//base?ref=v1")]),
    ("nested-and-local",
     {"app/kustomization.yaml": "resources: [../base, cm.yaml]\n",
      "base/kustomization.yaml": "resources: [git@github.com:o/r.git//deploy]\n"},
     [RemoteReference("base/kustomization.yaml", "git@github.com:o/r.git//deploy")]),
    ("http-file-patch-and-component",
     {"app/kustomization.yaml": "components: [github.com/o/c]\n"
                                "patches:\n- path: https://x.example/p.yaml\n"},
     [RemoteReference("app/kustomization.yaml", "github.com/o/c"),
      RemoteReference("app/kustomization.yaml", "https://x.example/p.yaml")]),
    ("credentials-stripped",
     {"app/kustomization.yaml": "resources: [https://u:tok@git.example/o/r.git//a]\n"},
     [RemoteReference("app/kustomization.yaml", "https://git.example/o/r.git//a")]),
    ("only-local", {"app/kustomization.yaml": "resources: [../base]\n",
                    "base/kustomization.yaml": "resources: [d.yaml]\n"}, []),
]


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in WALK_CASES],
                         ids=[c[0] for c in WALK_CASES])
def test_allowed_remote_references_are_reported(tmp_path: Path, files: dict[str, str],
                                                expected: list[RemoteReference]) -> None:
    write(tmp_path, files)
    assert check_references(tmp_path, tmp_path / "app", remote_bases=True) == tuple(expected)


@pytest.mark.parametrize(("files", "expected"), [c[1:] for c in WALK_CASES if c[2]],
                         ids=[c[0] for c in WALK_CASES if c[2]])
def test_refused_with_the_flag_naming_file_and_flag(tmp_path: Path, files: dict[str, str],
                                                    expected: list[RemoteReference]) -> None:
    write(tmp_path, files)
    with pytest.raises(BuildError) as info:
        check_references(tmp_path, tmp_path / "app", remote_bases=False)
    first = expected[0]
    assert info.value.file == first.file
    assert info.value.reason == "BuildFailed"
    assert info.value.message == (
        f"{first.file}: remote reference {first.reference!r} is not allowed: "
        "kustomize-controller runs with --no-remote-bases=true, so kustomizations can only "
        "refer to files in the source artifact")
    assert "tok" not in info.value.message


@pytest.mark.parametrize("remote_bases", [True, False], ids=["allowed", "refused"])
@pytest.mark.parametrize("ref", ["file:///etc/kubernetes", "git::file:///srv/repo"],
                         ids=["file-url", "getter-file-url"])
def test_file_urls_are_refused_either_way(tmp_path: Path, ref: str, remote_bases: bool) -> None:
    write(tmp_path, {"app/kustomization.yaml": f"resources: ['{ref}']\n"})
    with pytest.raises(BuildError, match="points outside the source artifact") as info:
        check_references(tmp_path, tmp_path / "app", remote_bases=remote_bases)
    assert info.value.file == "app/kustomization.yaml"


def test_kustomize_gets_no_credentials_of_the_operator(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("GIT_SSL_CAINFO", "/etc/ssl/corp-ca.pem")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("GIT_ASKPASS", "/bin/echo")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    env = _environment(tmp_path)
    assert env["HTTPS_PROXY"] == "http://proxy.internal:3128"
    assert env["GIT_SSL_CAINFO"] == "/etc/ssl/corp-ca.pem"
    assert not {"GITHUB_TOKEN", "GIT_ASKPASS", "SSH_AUTH_SOCK"} & set(env)
    assert env["HOME"] == env["TMPDIR"] == str(tmp_path)
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert sorted(env["GIT_ALLOW_PROTOCOL"].split(":")) == ["git", "http", "https", "ssh"]
