"""What each Provider type sends for an event: URL, method, headers, body (pure builders)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest

from afflux.controllers.notification._commitstatus import commit_of, status_key
from afflux.controllers.notification._providers import (
    ConfigError,
    OutgoingRequest,
    ProviderConfig,
    SkipEvent,
    build_request,
    label_name,
)
from afflux.controllers.notification._sender import ProxyConfig, header_credentials

SHA = "0123456789abcdef0123456789abcdef01234567"
UID = "8f1c2b3a-1111-2222-3333-444455556666"
EVENT: dict[str, Any] = {
    "involvedObject": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                       "name": "webapp", "namespace": "apps", "uid": "u1"},
    "severity": "error", "timestamp": "2024-05-01T10:00:00Z",
    "message": "Health check failed\nmore detail", "reason": "HealthCheckFailed",
    "metadata": {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}", "summary": "prod"},
    "reportingController": "kustomize-controller", "reportingInstance": "pod-1",
}
INFO = {**EVENT, "severity": "info", "message": "Reconciliation finished"}


def cfg(type_: str, **kw: Any) -> ProviderConfig:
    return ProviderConfig(type=type_, uid=UID, **kw)


def body(req: OutgoingRequest) -> Any:
    return json.loads(req.body or b"null")


Check = Callable[[OutgoingRequest], None]


def has(**expected: Any) -> Check:
    """The JSON body has these top-level values."""
    def check(req: OutgoingRequest) -> None:
        data = body(req)
        for key, value in expected.items():
            assert data[key] == value, (key, data)
    return check


def slack_like(channel: str | None, username: str) -> Check:
    def check(req: OutgoingRequest) -> None:
        data = body(req)
        assert data.get("channel") == channel
        assert data["username"] == username
        att = data["attachments"][0]
        assert att["color"] == "danger" and att["author_name"] == "kustomization/webapp.apps"
        assert att["text"] == EVENT["message"]
        assert {f["title"] for f in att["fields"]} == set(EVENT["metadata"])
    return check


def adaptive_card(req: OutgoingRequest) -> None:
    data = body(req)
    assert data["type"] == "message"
    card = data["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    blocks = card["content"]["body"]
    assert blocks[0]["text"] == "kustomization/webapp.apps" and blocks[0]["color"] == "attention"
    assert blocks[2]["type"] == "FactSet"


def message_card(req: OutgoingRequest) -> None:
    data = body(req)
    assert data["@type"] == "MessageCard" and data["themeColor"] == "FF0000"
    assert data["sections"][0]["activitySubtitle"] == EVENT["message"]


def alertmanager(req: OutgoingRequest) -> None:
    [alert] = body(req)
    assert alert["labels"]["alertname"] == "FluxKustomizationHealthCheckFailed"
    assert alert["labels"]["severity"] == "error"
    assert all(k.replace("_", "a").isalnum() for k in alert["labels"])  # valid label names
    assert alert["annotations"]["kustomize_toolkit_fluxcd_io_revision"] == f"main@sha1:{SHA}"
    assert all(k.replace("_", "a").isalnum() for k in alert["annotations"])
    assert alert["startsAt"] == "2024-05-01T10:00:00Z"
    assert alert["endsAt"] == "2024-05-01T11:00:00Z"


def matrix(req: OutgoingRequest) -> None:
    assert body(req)["msgtype"] == "m.text"
    assert "kustomization/webapp.apps" in body(req)["body"]


def pagerduty_trigger(req: OutgoingRequest) -> None:
    data = body(req)
    assert data["routing_key"] == "rk" and data["event_action"] == "trigger"
    assert data["dedup_key"] == "Kustomization/apps/webapp"
    assert data["payload"]["severity"] == "error"
    assert data["payload"]["custom_details"]["summary"] == "prod"


def datadog(req: OutgoingRequest) -> None:
    data = body(req)
    assert data["alert_type"] == "error"
    assert "flux_involved_object_kind:Kustomization" in data["tags"]


def dispatch(req: OutgoingRequest) -> None:
    data = body(req)
    assert data["event_type"] == "Kustomization/webapp.apps"
    assert data["client_payload"]["message"] == EVENT["message"]


def status(**expected: Any) -> Check:
    key = f"kustomization/webapp/{UID.split('-')[0]}"

    def check(req: OutgoingRequest) -> None:
        data = body(req)
        for k, v in expected.items():
            assert data[k] == (key if v is KEY else v), (k, data)
        assert "\n" not in str(data)
    return check


KEY = object()
TOKEN = "s3cr3t-token"
CASES: list[tuple[str, ProviderConfig, str, str, dict[str, str], Check]] = [
    ("generic", cfg("generic", address="https://hooks.example/x", headers={"X-Team": "web"}),
     "POST", "https://hooks.example/x",
     {"Gotk-Component": "kustomize-controller", "X-Team": "web",
      "Content-Type": "application/json"}, has(message=EVENT["message"], severity="error")),
    ("slack-api", cfg("slack", address="https://slack.com/api/chat.postMessage", channel="ops",
                      token=TOKEN),
     "POST", "https://slack.com/api/chat.postMessage", {"Authorization": f"Bearer {TOKEN}"},
     slack_like("ops", "kustomize-controller")),
    ("slack-webhook", cfg("slack", address="https://hooks.slack.com/services/T/B/X",
                          username="flux"),
     "POST", "https://hooks.slack.com/services/T/B/X", {}, slack_like(None, "flux")),
    ("rocket", cfg("rocket", address="https://rocket.example/hooks/abc", channel="#ops"),
     "POST", "https://rocket.example/hooks/abc", {}, slack_like("#ops", "kustomize-controller")),
    ("discord", cfg("discord", address="https://discord.com/api/webhooks/1/tok"),
     "POST", "https://discord.com/api/webhooks/1/tok/slack", {},
     slack_like(None, "kustomize-controller")),
    ("discord-already-slack", cfg("discord", address="https://discord.com/api/webhooks/1/t/slack"),
     "POST", "https://discord.com/api/webhooks/1/t/slack", {},
     slack_like(None, "kustomize-controller")),
    ("msteams-workflow", cfg("msteams", address="https://prod.logic.azure.com/workflows/x"),
     "POST", "https://prod.logic.azure.com/workflows/x", {}, adaptive_card),
    ("msteams-connector", cfg("msteams", address="https://acme.webhook.office.com/webhookb2/x"),
     "POST", "https://acme.webhook.office.com/webhookb2/x", {}, message_card),
    ("googlechat", cfg("googlechat", address="https://chat.googleapis.com/v1/spaces/S/messages"),
     "POST", "https://chat.googleapis.com/v1/spaces/S/messages", {},
     lambda r: body(r)["cardsV2"][0]["card"]["header"]["title"] == "kustomization/webapp.apps"),
    ("webex", cfg("webex", address="https://webexapis.com/v1/messages", channel="room",
                  token=TOKEN),
     "POST", "https://webexapis.com/v1/messages", {"Authorization": f"Bearer {TOKEN}"},
     has(roomId="room")),
    ("telegram", cfg("telegram", channel="-100123", token=TOKEN),
     "POST", f"https://api.telegram.org/bot{TOKEN}/sendMessage", {}, has(chat_id="-100123")),
    ("matrix", cfg("matrix", address="https://matrix.example", channel="!room:example",
                   token=TOKEN),
     "PUT", "https://matrix.example/_matrix/client/v3/rooms/%21room%3Aexample/send/"
     "m.room.message/", {"Authorization": f"Bearer {TOKEN}"}, matrix),
    ("lark", cfg("lark", address="https://open.feishu.cn/open-apis/bot/v2/hook/x"),
     "POST", "https://open.feishu.cn/open-apis/bot/v2/hook/x", {}, has(msg_type="interactive")),
    ("opsgenie", cfg("opsgenie", address="https://api.opsgenie.com/v2/alerts", token=TOKEN),
     "POST", "https://api.opsgenie.com/v2/alerts", {"Authorization": f"GenieKey {TOKEN}"},
     has(description=EVENT["message"], details=EVENT["metadata"])),
    ("pagerduty", cfg("pagerduty", channel="rk"),
     "POST", "https://events.pagerduty.com/v2/enqueue", {}, pagerduty_trigger),
    ("datadog", cfg("datadog", address="https://api.datadoghq.eu", token=TOKEN),
     "POST", "https://api.datadoghq.eu/api/v1/events", {"DD-API-KEY": TOKEN}, datadog),
    ("alertmanager", cfg("alertmanager", address="http://am:9093/api/v2/alerts"),
     "POST", "http://am:9093/api/v2/alerts", {}, alertmanager),
    ("grafana", cfg("grafana", address="https://grafana.example/api/annotations", token=TOKEN),
     "POST", "https://grafana.example/api/annotations", {"Authorization": f"Bearer {TOKEN}"},
     has(time=1714557600000)),
    ("githubdispatch", cfg("githubdispatch", address="https://github.com/acme/fleet", token=TOKEN),
     "POST", "https://api.github.com/repos/acme/fleet/dispatches",
     {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}, dispatch),
    ("github", cfg("github", address="https://github.com/acme/fleet.git", token=TOKEN),
     "POST", f"https://api.github.com/repos/acme/fleet/statuses/{SHA}",
     {"Authorization": f"Bearer {TOKEN}"},
     status(state="failure", context=KEY, description="Health check failed")),
    ("github-enterprise", cfg("github", address="https://ghe.acme.io/acme/fleet", token=TOKEN),
     "POST", f"https://ghe.acme.io/api/v3/repos/acme/fleet/statuses/{SHA}", {},
     status(state="failure")),
    ("gitlab", cfg("gitlab", address="https://gitlab.com/acme/sub/fleet", token=TOKEN),
     "POST", f"https://gitlab.com/api/v4/projects/acme%2Fsub%2Ffleet/statuses/{SHA}",
     {"PRIVATE-TOKEN": TOKEN}, status(state="failed", name=KEY)),
    ("gitea", cfg("gitea", address="https://gitea.example/acme/fleet", token=TOKEN),
     "POST", f"https://gitea.example/api/v1/repos/acme/fleet/statuses/{SHA}",
     {"Authorization": f"token {TOKEN}"}, status(state="failure", context=KEY)),
    ("bitbucket", cfg("bitbucket", address="https://bitbucket.org/acme/fleet",
                      token="me:app-pass"),
     "POST", f"https://api.bitbucket.org/2.0/repositories/acme/fleet/commit/{SHA}/statuses/build",
     {"Authorization": "Basic bWU6YXBwLXBhc3M="}, status(state="FAILED", name=KEY)),
    ("bitbucketserver", cfg("bitbucketserver", address="https://bb.acme.io/scm/ops/fleet.git",
                            token=TOKEN),
     "POST", f"https://bb.acme.io/rest/api/1.0/projects/ops/repos/fleet/commits/{SHA}/builds",
     {"Authorization": f"Bearer {TOKEN}"}, status(state="FAILED", key=KEY)),
    ("azuredevops", cfg("azuredevops", address="https://dev.azure.com/acme/ops/_git/fleet",
                        token="pat"),
     "POST", f"https://dev.azure.com/acme/ops/_apis/git/repositories/fleet/commits/{SHA}"
     "/statuses?api-version=6.0", {"Authorization": "Basic OnBhdA=="}, status(state="failed")),
]


@pytest.mark.parametrize(("config", "method", "url", "headers", "check"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_request(config: ProviderConfig, method: str, url: str, headers: dict[str, str],
                 check: Check) -> None:
    req = build_request(config, EVENT)
    assert req.method == method
    assert req.url.startswith(url)
    for name, value in headers.items():
        assert req.headers[name] == value
    assert check(req) is not False


def test_generic_hmac_signature_verifies() -> None:
    req = build_request(cfg("generic-hmac", address="https://h.example/", token=TOKEN), EVENT)
    assert req.body is not None
    expected = "sha256=" + hmac.new(TOKEN.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Signature"] == expected
    assert json.loads(req.body)["involvedObject"]["name"] == "webapp"


def test_info_event_is_success_for_commit_status() -> None:
    github = build_request(cfg("github", address="https://github.com/a/b", token=TOKEN), INFO)
    assert body(github)["state"] == "success"
    pagerduty = build_request(cfg("pagerduty", channel="rk"), INFO)
    assert body(pagerduty)["event_action"] == "resolve" and "payload" not in body(pagerduty)


def test_status_key_is_stable_per_object_and_provider() -> None:
    config = cfg("github", address="https://github.com/a/b", token=TOKEN)
    assert status_key(config, EVENT) == status_key(config, INFO) == "kustomization/webapp/8f1c2b3a"


@pytest.mark.parametrize(("revision", "sha"), [
    (f"main@sha1:{SHA}", SHA), (f"sha1:{SHA}", SHA), (f"main/{SHA}", SHA), (SHA, SHA),
    (f"v1.0.0@sha1:{SHA}", SHA), ("refs/heads/main@sha256:" + "b" * 64, "b" * 64),
], ids=["branch", "bare-sha1", "legacy", "hex", "tag", "sha256"])
def test_commit_of(revision: str, sha: str) -> None:
    assert commit_of(revision) == sha


def test_commit_status_skips_events_without_revision() -> None:
    with pytest.raises(SkipEvent):
        build_request(cfg("github", address="https://github.com/a/b", token=TOKEN),
                      {**EVENT, "metadata": {}})
    with pytest.raises(SkipEvent):
        commit_of("1.2.3")


ERRORS = [
    ("generic-no-address", cfg("generic"), "needs an address"),
    ("hmac-no-token", cfg("generic-hmac", address="https://h/"), "HMAC key"),
    ("webex-no-room", cfg("webex", address="https://w/", token="t"), "spec.channel"),
    ("telegram-no-chat", cfg("telegram", token="t"), "chat id"),
    ("pagerduty-no-key", cfg("pagerduty"), "routing"),
    ("github-not-a-repo", cfg("github", address="https://github.com/only-owner", token="t"),
     "repository URL"),
    ("github-no-token", cfg("github", address="https://github.com/a/b"), "token"),
    ("bitbucket-token-shape", cfg("bitbucket", address="https://bitbucket.org/a/b", token="t"),
     "username"),
    ("azure-not-git", cfg("azuredevops", address="https://dev.azure.com/a/b/c/d", token="t"),
     "_git"),
    ("unsupported", cfg("azureeventhub", address="https://x"), "not supported"),
]


@pytest.mark.parametrize(("config", "match"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_config_errors_say_what_to_change(config: ProviderConfig, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_request(config, EVENT)


def test_secrets_are_listed_for_redaction() -> None:
    config = cfg("slack", address="https://hooks.slack.com/services/T/B/X", token=TOKEN,
                 channel="ops", headers={"X-Key": "hk"}, address_from_secret=True)
    assert set(build_request(config, EVENT).secrets) == {
        TOKEN, "hk", "https://hooks.slack.com/services/T/B/X"}


@pytest.mark.parametrize(("address", "secrets"), [
    ("nats://flux:s%40cret@127.0.0.1:4222", {"s@cret"}),
    ("nats://flux@127.0.0.1:4222", set()),
    ("nats://127.0.0.1:4222", set()),
    ("nats://flux:pw@[::1", set()),
], ids=["password-in-spec-address", "user-only", "no-userinfo", "unparsable"])
def test_a_password_in_the_address_is_redacted(address: str, secrets: set[str]) -> None:
    config = cfg("nats", address=address, channel="flux.events")
    assert set(config.secrets) == secrets


@pytest.mark.parametrize(("proxy", "secrets"), [
    (ProxyConfig("http://proxy:3128", "u", "pw"), ("pw",)),
    (ProxyConfig("http://u:in%20url@proxy:3128"), ("in url",)),
    (ProxyConfig("http://proxy:3128"), ()),
], ids=["password", "password-in-address", "none"])
def test_proxy_secrets(proxy: ProxyConfig, secrets: tuple[str, ...]) -> None:
    assert proxy.secrets() == secrets


@pytest.mark.parametrize(("key", "name"), [
    ("kustomize.toolkit.fluxcd.io/revision", "kustomize_toolkit_fluxcd_io_revision"),
    ("summary", "summary"), ("9lives", "_9lives"), ("a-b c", "a_b_c"), ("", "_"),
], ids=["flux-metadata", "plain", "leading-digit", "dash-and-space", "empty"])
def test_alertmanager_label_name(key: str, name: str) -> None:
    assert label_name(key) == name


def _combined(*statuses: dict[str, str]) -> dict[str, Any]:
    return {"state": "success", "statuses": list(statuses)}


@pytest.mark.parametrize(("type_", "answer", "unchanged"), [
    ("github", _combined({"context": "kustomization/webapp/8f1c2b3a", "state": "failure",
                          "description": "Health check failed"}), True),
    ("github", _combined({"context": "kustomization/webapp/8f1c2b3a", "state": "success",
                          "description": "Health check failed"}), False),
    ("github", _combined({"context": "kustomization/other/8f1c2b3a", "state": "failure",
                          "description": "Health check failed"}), False),
    ("github", _combined(), False),
    ("github", ["not", "an", "object"], False),
    ("gitea", _combined({"context": "kustomization/webapp/8f1c2b3a", "status": "failure",
                         "description": "Health check failed"}), True),
    ("gitea", _combined({"context": "kustomization/webapp/8f1c2b3a", "status": "failure",
                         "description": "another text"}), False),
], ids=["github-same", "github-other-state", "github-other-context", "github-none",
        "github-odd-answer", "gitea-same", "gitea-other-description"])
def test_commit_status_unchanged(type_: str, answer: Any, unchanged: bool) -> None:
    config = cfg(type_, address=f"https://{type_}.example/acme/fleet", token=TOKEN)
    req = build_request(config, EVENT)
    assert req.unless is not None
    assert req.unless.url.endswith(f"/repos/acme/fleet/commits/{SHA}/status")
    assert req.unless.holds(answer) is unchanged


FLUX_EXAMPLE = ("(event.involvedObject.kind + '/' + event.involvedObject.name + '/' + "
                "event.metadata.summary + '/' + provider.metadata.uid.split('-').first().value())"
                ".lowerAscii()")


@pytest.mark.parametrize(("expression", "key"), [
    (FLUX_EXAMPLE, "kustomization/webapp/prod/8f1c2b3a"),
    ("alert.metadata.name + ':' + event.involvedObject.name", "a1:webapp"),
], ids=["flux-docs-example", "alert-name"])
def test_commit_status_expr_gives_the_key(expression: str, key: str) -> None:
    config = cfg("gitea", address="https://g.test/acme/fleet", token="t",
                 commit_status_expr=expression, provider={"metadata": {"uid": UID}},
                 alert={"metadata": {"name": "a1"}})
    assert body(build_request(config, EVENT))["context"] == key


@pytest.mark.parametrize(("expression", "says"), [
    ("event.nope", "no such member"),
    ("1 + 1", "non-empty string"),
    ("res.metadata.name", "undeclared reference to res"),
], ids=["missing-field", "not-a-string", "undeclared"])
def test_commit_status_expr_errors(expression: str, says: str) -> None:
    config = cfg("github", address="https://github.com/acme/fleet", token="t",
                 commit_status_expr=expression)
    with pytest.raises(ConfigError, match=says):
        build_request(config, EVENT)


@pytest.mark.parametrize(("headers", "secrets"), [
    ({"Authorization": "Basic dTpwdw=="}, ("Basic dTpwdw==", "dTpwdw==")),
    ({"authorization": "Bearer t0k"}, ("Bearer t0k", "t0k")),
    ({"X-Sentry-Auth": "Sentry sentry_key=k"}, ("Sentry sentry_key=k", "sentry_key=k")),
    ({"Authorization": "opaque"}, ("opaque",)),
    ({"Content-Type": "application/json", "Gotk-Component": "source-controller"}, ()),
], ids=["basic", "bearer-lower-case-name", "sentry", "no-scheme", "no-credentials"])
def test_header_credentials(headers: dict[str, str], secrets: tuple[str, ...]) -> None:
    assert header_credentials(headers) == secrets
