"""Git credentials: Secret parsing and validation, known_hosts matching, error mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pygit2
import pytest

from afflux.controllers.runtime._gitauth import (
    GitAuthError,
    GitCallbacks,
    GitCredentials,
    GitError,
    GitHostVerificationError,
    check_host_key,
    parse_known_hosts,
    redact_url,
    translate_git_error,
    url_transport,
)

KEY_A = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + b"A" * 32
KEY_B = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + b"B" * 32
B64_A = base64.b64encode(KEY_A).decode()
B64_B = base64.b64encode(KEY_B).decode()
SHA_A = hashlib.sha256(KEY_A).digest()
SHA_B = hashlib.sha256(KEY_B).digest()


def hashed(name: str, salt: bytes = b"0123456789abcdef0123") -> str:
    mac = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(mac).decode()}"


# (id, known_hosts, host, port, offered sha256, accepted)
HOST_KEYS = [
    ("plain-port-22", f"github.com ssh-ed25519 {B64_A}", "github.com", 22, SHA_A, True),
    ("bracketed-port", f"[127.0.0.1]:2222 ssh-ed25519 {B64_A}", "127.0.0.1", 2222, SHA_A, True),
    ("port-must-match", f"[127.0.0.1]:2222 ssh-ed25519 {B64_A}", "127.0.0.1", 2223, SHA_A, False),
    (
        "plain-entry-is-port-22-only",
        f"127.0.0.1 ssh-ed25519 {B64_A}",
        "127.0.0.1",
        2222,
        SHA_A,
        False,
    ),
    ("comma-list", f"gitlab.com,github.com ssh-ed25519 {B64_A}", "github.com", 22, SHA_A, True),
    ("wildcard", f"*.example.com ssh-ed25519 {B64_A}", "git.example.com", 22, SHA_A, True),
    (
        "negated",
        f"*.example.com,!git.example.com ssh-ed25519 {B64_A}",
        "git.example.com",
        22,
        SHA_A,
        False,
    ),
    ("hashed", f"{hashed('[git.local]:2222')} ssh-ed25519 {B64_A}", "git.local", 2222, SHA_A, True),
    ("hashed-other-host", f"{hashed('other')} ssh-ed25519 {B64_A}", "git.local", 22, SHA_A, False),
    ("wrong-key", f"github.com ssh-ed25519 {B64_B}", "github.com", 22, SHA_A, False),
    (
        "second-line-matches",
        f"github.com ssh-ed25519 {B64_B}\ngithub.com ssh-ed25519 {B64_A}",
        "github.com",
        22,
        SHA_A,
        True,
    ),
    (
        "revoked",
        f"@revoked github.com ssh-ed25519 {B64_A}\ngithub.com ssh-ed25519 {B64_A}",
        "github.com",
        22,
        SHA_A,
        False,
    ),
    (
        "cert-authority-ignored",
        f"@cert-authority github.com ssh-ed25519 {B64_A}",
        "github.com",
        22,
        SHA_A,
        False,
    ),
    (
        "comments-and-garbage",
        f"# comment\n\nnot a line\ngithub.com ssh-ed25519 {B64_A} comment",
        "github.com",
        22,
        SHA_A,
        True,
    ),
    ("case-insensitive-host", f"GitHub.com ssh-ed25519 {B64_A}", "github.com", 22, SHA_A, True),
]


@pytest.mark.parametrize(
    ("known_hosts", "host", "port", "offered", "accepted"),
    [row[1:] for row in HOST_KEYS],
    ids=[row[0] for row in HOST_KEYS],
)
def test_check_host_key(
    known_hosts: str, host: str, port: int, offered: bytes, accepted: bool
) -> None:
    if accepted:
        check_host_key(known_hosts, host, port, offered, "ssh-ed25519")
    else:
        with pytest.raises(GitHostVerificationError):
            check_host_key(known_hosts, host, port, offered, "ssh-ed25519")


def test_unknown_host_message_names_host_and_fix() -> None:
    with pytest.raises(GitHostVerificationError) as info:
        check_host_key(f"other ssh-ed25519 {B64_A}", "127.0.0.1", 2222, SHA_A, "ssh-ed25519")
    message = str(info.value)
    assert "[127.0.0.1]:2222 is not in known_hosts" in message
    assert "ssh-keyscan -p 2222 127.0.0.1" in message
    assert info.value.reason == "AuthenticationFailed"


def test_mismatch_message_shows_both_fingerprints() -> None:
    with pytest.raises(GitHostVerificationError) as info:
        check_host_key(f"github.com ssh-ed25519 {B64_B}", "github.com", 22, SHA_A, "ssh-ed25519")
    message = str(info.value)
    assert "host key mismatch for github.com" in message
    fp_a = "SHA256:" + base64.b64encode(SHA_A).decode().rstrip("=")
    fp_b = "SHA256:" + base64.b64encode(SHA_B).decode().rstrip("=")
    assert fp_a in message and fp_b in message


def test_parse_known_hosts_fields() -> None:
    (entry,) = parse_known_hosts(f"@revoked a,b ssh-ed25519 {B64_A} me@host")
    assert (entry.patterns, entry.key_type, entry.key, entry.marker) == (
        ("a", "b"),
        "ssh-ed25519",
        KEY_A,
        "@revoked",
    )


SECRETS = [
    # (id, url, secret data, error fragment or None)
    ("basic-ok", "https://h/r.git", {"username": "u", "password": "p"}, None),
    ("bytes-values", "https://h/r.git", {"username": b"u", "password": b"p"}, None),
    ("bearer-ok", "https://h/r.git", {"bearerToken": "t"}, None),
    ("no-secret", "https://h/r.git", {}, None),
    (
        "bearer-and-basic",
        "https://h/r.git",
        {"bearerToken": "t", "username": "u", "password": "p"},
        "either 'bearerToken'",
    ),
    ("password-without-user", "https://h/r.git", {"password": "p"}, "'username' is missing"),
    ("client-cert", "https://h/r.git", {"tls.crt": "x", "tls.key": "y"}, "not supported"),
    ("half-client-cert", "https://h/r.git", {"tls.crt": "x"}, "must be given together"),
    ("bad-ca", "https://h/r.git", {"ca.crt": "not a cert"}, "'ca.crt' is not a PEM certificate"),
    (
        "ssh-ok",
        "ssh://git@h:2222/r.git",
        {"identity": "k", "known_hosts": f"[h]:2222 ssh-ed25519 {B64_A}"},
        None,
    ),
    (
        "ssh-no-known-hosts",
        "ssh://git@h:2222/r.git",
        {"identity": "k"},
        "'known_hosts' is required",
    ),
    ("ssh-keyscan-hint", "ssh://git@h:2222/r.git", {"identity": "k"}, "ssh-keyscan -p 2222 h"),
    (
        "ssh-no-identity",
        "ssh://git@h/r.git",
        {"known_hosts": f"h ssh-ed25519 {B64_A}"},
        "'identity' key is missing",
    ),
    (
        "ssh-empty-known-hosts",
        "ssh://git@h/r.git",
        {"identity": "k", "known_hosts": "# nothing"},
        "no valid host key",
    ),
    ("scp-like-url", "git@github.com:org/repo.git", {}, "unsupported Git URL"),
]


@pytest.mark.parametrize(
    ("url", "data", "fragment"), [row[1:] for row in SECRETS], ids=[row[0] for row in SECRETS]
)
def test_secret_validation(url: str, data: dict, fragment: str | None) -> None:
    creds = GitCredentials.from_secret(data)
    if fragment is None:
        creds.validate(url)
    else:
        with pytest.raises(GitError) as info:
            creds.validate(url)
        assert fragment in str(info.value)


def test_secret_validation_error_reasons() -> None:
    with pytest.raises(GitAuthError) as info:
        GitCredentials.from_secret({"identity": "k"}).validate("ssh://h/r")
    assert info.value.reason == "AuthenticationFailed"
    with pytest.raises(GitError) as bad_url:
        url_transport("ftp://h/r")
    assert bad_url.value.reason == "GitOperationFailed"


def test_repr_hides_secrets() -> None:
    creds = GitCredentials.from_secret(
        {"username": "u", "password": "hunter2", "bearerToken": "tok3n", "identity": "PRIVATE"}
    )
    text = repr(creds)
    assert "hunter2" not in text and "tok3n" not in text and "PRIVATE" not in text
    assert "username='u'" in text


def test_redact_url() -> None:
    assert redact_url("https://u:hunter2@h:8443/r.git") == "https://u:***@h:8443/r.git"
    assert redact_url("https://h/r.git") == "https://h/r.git"


def test_bearer_token_header_only_over_http() -> None:
    creds = GitCredentials(bearer_token="tok")
    assert GitCallbacks(creds, "https://h/r.git").custom_headers() == ["Authorization: Bearer tok"]
    assert GitCallbacks(creds, "ssh://h/r.git").custom_headers() is None
    assert GitCallbacks(GitCredentials(), "https://h/r.git").custom_headers() is None


def test_second_credentials_request_is_a_rejection() -> None:
    cb = GitCallbacks(GitCredentials(username="u", password="p"), "https://h/r.git")
    allowed = pygit2.enums.CredentialType.USERPASS_PLAINTEXT
    assert isinstance(cb.credentials("https://h/r.git", None, allowed), pygit2.UserPass)
    with pytest.raises(GitAuthError, match="rejected the credentials of user 'u'"):
        cb.credentials("https://h/r.git", None, allowed)


def test_missing_credentials_say_what_to_set() -> None:
    cb = GitCallbacks(None, "https://h/r.git")
    with pytest.raises(GitAuthError, match="set a secretRef with 'username' and 'password'"):
        cb.credentials("https://h/r.git", None, pygit2.enums.CredentialType.USERPASS_PLAINTEXT)


def test_deadline() -> None:
    cb = GitCallbacks(None, "https://h/r.git", timeout=5, deadline=0.0)
    with pytest.raises(GitError, match="timed out after 5s"):
        cb.transfer_progress(None)


# (id, libgit2 message, error type, fragment)
TRANSLATE = [
    ("401", "unexpected http status code: 401", GitAuthError, "authentication to"),
    ("403", "unexpected http status code: 403", GitAuthError, "HTTP 403"),
    (
        "ssh-key-unusable",
        "failed to authenticate SSH session: Unable to extract public key from private key file",
        GitAuthError,
        "wrong or missing passphrase in 'password'",
    ),
    (
        "ssh-auth",
        "failed to authenticate SSH session: Username/PublicKey combination invalid",
        GitAuthError,
        "authentication to",
    ),
    ("refused", "failed to connect to 127.0.0.1: Connection refused", GitError, "cannot reach"),
    (
        "dns",
        "failed to resolve address for nowhere.invalid: Name or service not known",
        GitError,
        "cannot reach",
    ),
    ("404", "unexpected http status code: 404", GitError, "repository not found"),
    ("other", "object not found", GitError, "git operation on"),
]


@pytest.mark.parametrize(
    ("message", "error", "fragment"),
    [row[1:] for row in TRANSLATE],
    ids=[row[0] for row in TRANSLATE],
)
def test_translate_git_error(message: str, error: type[GitError], fragment: str) -> None:
    translated = translate_git_error(pygit2.GitError(message), "https://u:pw@h/r.git")
    assert type(translated) is error
    assert fragment in str(translated)
    assert "pw@" not in str(translated)


def test_translate_keeps_callback_failure() -> None:
    cb = GitCallbacks(None, "https://h/r.git")
    cb.failure = GitAuthError("specific")
    assert str(translate_git_error(pygit2.GitError("generic"), "https://h/r.git", cb)) == "specific"
