"""How each Receiver type authenticates a call and filters events (pure checks), and the
webhook path."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from afflux.api._refs import receiver_webhook_path
from afflux.controllers.notification._receivers import Ignored, Unauthorized, check, sign
from afflux.controllers.notification._sender import redact

TOKEN = "tok"
BODY = json.dumps({"ref": "refs/heads/main"}).encode()


def mac(algorithm: str, body: bytes = BODY, token: str = TOKEN) -> str:
    return hmac.new(token.encode(), body, algorithm).hexdigest()


OK = [
    ("generic", "generic", {}, BODY, None, ""),
    ("generic-hmac-sha256", "generic-hmac", {"X-Signature": f"sha256={mac('sha256')}"}, BODY, None,
     ""),
    ("generic-hmac-sha1", "generic-hmac", {"X-Signature": f"sha1={mac('sha1')}"}, BODY, None, ""),
    ("generic-hmac-sha512", "generic-hmac", {"x-signature": f"sha512={mac('sha512')}"}, BODY, None,
     ""),
    ("github-256", "github", {"X-Hub-Signature-256": f"sha256={mac('sha256')}",
                              "X-GitHub-Event": "push"}, BODY, ["push"], "push"),
    ("github-sha1", "github", {"X-Hub-Signature": f"sha1={mac('sha1')}",
                               "X-GitHub-Event": "push"}, BODY, None, "push"),
    ("gitlab", "gitlab", {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Push Hook"}, BODY,
     ["Push Hook"], "Push Hook"),
    ("bitbucket", "bitbucket", {"X-Hub-Signature": f"sha256={mac('sha256')}",
                                "X-Event-Key": "repo:refs_changed"}, BODY, None,
     "repo:refs_changed"),
    ("harbor", "harbor", {"Authorization": TOKEN}, BODY, None, ""),
    ("dockerhub", "dockerhub", {}, b'{"push_data": {"tag": "v1"}}', None, ""),
    ("quay", "quay", {}, b'{"docker_url": "quay.io/a/b"}', None, ""),
    ("nexus", "nexus", {"X-Nexus-Webhook-Signature": mac("sha1")}, BODY, None, ""),
    ("acr", "acr", {}, b'{"action": "push", "target": {"repository": "a"}}', ["push"], "push"),
    ("cdevents", "cdevents", {"Ce-Type": "dev.cdevents.change.merged.0.1.2"}, b"{}", None,
     "dev.cdevents.change.merged.0.1.2"),
]


@pytest.mark.parametrize(("type_", "headers", "body", "events", "expected"),
                         [c[1:] for c in OK], ids=[c[0] for c in OK])
def test_authentic_calls(type_: str, headers: dict[str, str], body: bytes,
                         events: list[str] | None, expected: str) -> None:
    assert check(type_, TOKEN, headers, body, events) == expected


BAD = [
    ("hmac-missing", "generic-hmac", {}, BODY),
    ("hmac-wrong-key", "generic-hmac", {"X-Signature": f"sha256={mac('sha256', token='x')}"}, BODY),
    ("hmac-unknown-algorithm", "generic-hmac", {"X-Signature": f"md5={mac('md5')}"}, BODY),
    ("hmac-tampered-body", "generic-hmac", {"X-Signature": f"sha256={mac('sha256')}"}, BODY + b" "),
    ("github-missing", "github", {"X-GitHub-Event": "push"}, BODY),
    ("github-bad", "github", {"X-Hub-Signature-256": "sha256=00", "X-GitHub-Event": "push"}, BODY),
    ("gitlab-wrong-token", "gitlab", {"X-Gitlab-Token": "nope"}, BODY),
    ("bitbucket-sha1-refused", "bitbucket", {"X-Hub-Signature": f"sha1={mac('sha1')}"}, BODY),
    ("harbor-wrong", "harbor", {"Authorization": "Bearer tok"}, BODY),
    ("dockerhub-not-push", "dockerhub", {}, b'{"x": 1}'),
    ("quay-not-json", "quay", {}, b"nope"),
    ("nexus-wrong", "nexus", {"X-Nexus-Webhook-Signature": mac("sha256")}, BODY),
    ("acr-shape", "acr", {}, b'{"action": "push"}'),
    ("cdevents-no-type", "cdevents", {}, b"{}"),
    ("oidc-type-not-token-checked", "gcr", {}, BODY),
]


@pytest.mark.parametrize(("type_", "headers", "body"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_unauthorized_calls(type_: str, headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(Unauthorized):
        check(type_, TOKEN, headers, body)


IGNORED = [
    ("github-ping", "github", {"X-Hub-Signature-256": f"sha256={mac('sha256')}",
                               "X-GitHub-Event": "ping"}, None),
    ("github-other-event", "github", {"X-Hub-Signature-256": f"sha256={mac('sha256')}",
                                      "X-GitHub-Event": "issues"}, ["push"]),
    ("gitlab-other-event", "gitlab", {"X-Gitlab-Token": TOKEN, "X-Gitlab-Event": "Tag Push Hook"},
     ["Push Hook"]),
]


@pytest.mark.parametrize(("type_", "headers", "events"), [c[1:] for c in IGNORED],
                         ids=[c[0] for c in IGNORED])
def test_ignored_calls(type_: str, headers: dict[str, str], events: list[str] | None) -> None:
    with pytest.raises(Ignored):
        check(type_, TOKEN, headers, BODY, events)


def test_sign_matches_what_receivers_check() -> None:
    assert check("generic-hmac", TOKEN, {"X-Signature": sign(TOKEN, BODY, "sha512")}, BODY) == ""


@pytest.mark.parametrize(("token", "name", "namespace"), [
    ("tok", "r", "ns"), ("", "receiver", "flux-system"), ("a b", "x", "y")])
def test_webhook_path(token: str, name: str, namespace: str) -> None:
    digest = hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()
    assert receiver_webhook_path(token, name, namespace) == f"/hook/{digest}"


@pytest.mark.parametrize(("text", "secrets", "expected"), [
    ("POST https://h/bot123/send failed", ["123"], "POST https://h/bot*****/send failed"),
    ("token abc and abcd", ["abc", "abcd"], "token ***** and *****"),
    ("nothing", ["", "zzz"], "nothing"),
], ids=["in-url", "longest-first", "nothing-to-hide"])
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected
