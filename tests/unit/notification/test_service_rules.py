"""Every Provider type's request, run through the rules of what its service accepts
(`harness.service_rules`, written from each service's API documentation), without I/O;
and the rules themselves turn down what the service would (wrong auth, missing fields)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest

from afflux.controllers.notification._providers import (
    ConfigError,
    OutgoingRequest,
    ProviderConfig,
    build_request,
)
from afflux.controllers.notification._sender import answer_failure
from harness.service_rules import Expect, Rejected, Request, check

from .test_comments import alert_body
from .test_providers import EVENT as SAMPLE
from .test_providers import SHA

ROUTING_KEY = "r" * 32
TOKEN = "tok3n"
BASE = "https://svc.test"
#: the sample error event, with a message longer than several services take
EVENT: dict[str, Any] = {**SAMPLE, "message": "Health check failed " + "x" * 5000,
                         "metadata": {**SAMPLE["metadata"],
                                      "event.toolkit.fluxcd.io/change_request": "7"}}
INFO = {**EVENT, "severity": "info", "message": "Reconciliation finished"}
NO_TIME = {k: v for k, v in EVENT.items() if k != "timestamp"}

#: id -> (Provider config, what the service expects)
CASES: dict[str, tuple[ProviderConfig, Expect]] = {
    "slack-webhook": (ProviderConfig("slack", f"{BASE}/services/T1/B2/{TOKEN}"),
                      Expect(token=TOKEN)),
    "slack-bot": (ProviderConfig("slack", f"{BASE}/api/chat.postMessage", channel="ops",
                                 token=TOKEN), Expect(token=TOKEN)),
    "discord": (ProviderConfig("discord", f"{BASE}/api/webhooks/42/{TOKEN}"), Expect(token=TOKEN)),
    "rocket": (ProviderConfig("rocket", f"{BASE}/hooks/id1/{TOKEN}", channel="#ops"),
               Expect(token=TOKEN)),
    "msteams": (ProviderConfig("msteams", f"{BASE}/workflows/w1/triggers/manual/paths/invoke"
                               f"?api-version=2016-06-01&sig={TOKEN}"), Expect(token=TOKEN)),
    "googlechat": (ProviderConfig("googlechat", f"{BASE}/v1/spaces/S1/messages?key=k&token="
                                  f"{TOKEN}"), Expect(token=TOKEN)),
    "webex": (ProviderConfig("webex", f"{BASE}/v1/messages", channel="room1", token=TOKEN),
              Expect(token=TOKEN, channel="room1")),
    "telegram": (ProviderConfig("telegram", BASE, channel="-100", token=TOKEN),
                 Expect(token=TOKEN, channel="-100")),
    "matrix": (ProviderConfig("matrix", BASE, channel="!room:m.test", token=TOKEN),
               Expect(token=TOKEN, channel="!room:m.test")),
    "lark": (ProviderConfig("lark", f"{BASE}/open-apis/bot/v2/hook/{TOKEN}"), Expect(token=TOKEN)),
    "opsgenie": (ProviderConfig("opsgenie", f"{BASE}/v2/alerts", token=TOKEN), Expect(token=TOKEN)),
    "pagerduty": (ProviderConfig("pagerduty", BASE, channel=ROUTING_KEY),
                  Expect(channel=ROUTING_KEY)),
    "datadog": (ProviderConfig("datadog", BASE, token=TOKEN), Expect(token=TOKEN)),
    "sentry": (ProviderConfig("sentry", f"https://{TOKEN}@svc.test/42", channel="prod"),
               Expect(token=TOKEN, channel="42")),
    "grafana-token": (ProviderConfig("grafana", f"{BASE}/api/annotations", token=TOKEN),
                      Expect(token=TOKEN)),
    "grafana-basic": (ProviderConfig("grafana", f"{BASE}/api/annotations", username="u",
                                     password="p"), Expect(username="u", password="p")),
    "githubdispatch": (ProviderConfig("githubdispatch", f"{BASE}/acme/fleet", token=TOKEN),
                       Expect(token=TOKEN)),
    "github": (ProviderConfig("github", f"{BASE}/acme/fleet", token=TOKEN, uid="a-b"),
               Expect(token=TOKEN)),
    "gitlab": (ProviderConfig("gitlab", f"{BASE}/acme/sub/fleet", token=TOKEN, uid="a-b"),
               Expect(token=TOKEN)),
    "gitea": (ProviderConfig("gitea", f"{BASE}/acme/fleet", token=TOKEN, uid="a-b"),
              Expect(token=TOKEN)),
    "bitbucket": (ProviderConfig("bitbucket", f"{BASE}/acme/fleet", token="me:app", uid="a-b"),
                  Expect(username="me", password="app")),
    "bitbucketserver": (ProviderConfig("bitbucketserver", f"{BASE}/scm/ops/fleet.git",
                                       token=TOKEN, uid="a-b"), Expect(token=TOKEN)),
    "azuredevops": (ProviderConfig("azuredevops", f"{BASE}/acme/ops/_git/fleet", token=TOKEN,
                                   uid="a-b"), Expect(token=TOKEN)),
    "generic": (ProviderConfig("generic", f"{BASE}/hook"), Expect()),
    "githubpullrequestcomment": (ProviderConfig("githubpullrequestcomment", f"{BASE}/acme/fleet",
                                                token=TOKEN, uid="a-b"), Expect(token=TOKEN)),
    "gitlabmergerequestcomment": (ProviderConfig("gitlabmergerequestcomment",
                                                 f"{BASE}/acme/sub/fleet", token=TOKEN, uid="a-b"),
                                  Expect(token=TOKEN)),
    "zulip": (ProviderConfig("zulip", BASE, channel="ops/flux", username="bot@z.test",
                             password=TOKEN), Expect(username="bot@z.test", password=TOKEN,
                                                     channel="ops/flux")),
    "otel": (ProviderConfig("otel", BASE, username="u", password=TOKEN,
                            alert=alert_body("apps", "a1", "uid-1")),
             Expect(username="u", password=TOKEN)),
}


def as_request(out: OutgoingRequest) -> Request:
    parts = urlsplit(out.url)
    headers = {"User-Agent": "Python/3 aiohttp/3", **out.headers}
    return Request(out.method, parts.path, parts.query, headers, out.body or b"")


@pytest.mark.parametrize("event", [EVENT, INFO, NO_TIME], ids=["error", "info", "no-time"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_service_accepts_what_the_provider_sends(case: str, event: dict[str, Any]) -> None:
    config, expect = CASES[case]
    out = build_request(config, event)
    answer = check(config.type, as_request(out), expect)
    assert answer.status < 300
    body = answer.body if isinstance(answer.body, (dict, list)) else None
    assert answer_failure(out, json.dumps(body)) == "" or out.success is None


@pytest.mark.parametrize("case", [c for c in CASES if c != "generic" and c != "pagerduty"])
def test_the_service_refuses_wrong_credentials(case: str) -> None:
    config, expect = CASES[case]
    wrong = Expect(token="other", username="x", password="y", channel=expect.channel)
    with pytest.raises(Rejected) as err:
        check(config.type, as_request(build_request(config, EVENT)), wrong)
    assert err.value.status in (200, 203) or 400 <= err.value.status < 500


@pytest.mark.parametrize(("case", "mangle", "says"), [
    ("slack-webhook", lambda d: {"username": "x"}, "text, attachments or blocks"),
    ("opsgenie", lambda d: {**d, "message": "m" * 131}, "message is longer than 130"),
    ("pagerduty", lambda d: {**d, "payload": {"summary": "s"}}, "source is required"),
    ("datadog", lambda d: {**d, "title": "t" * 101}, "title is longer than 100"),
    ("github", lambda d: {**d, "state": "failed"}, "state must be one of"),
    ("bitbucket", lambda d: {k: v for k, v in d.items() if k != "url"}, "url is required"),
    ("githubdispatch", lambda d: {**d, "client_payload": {str(i): i for i in range(11)}},
     "at most 10 properties"),
    ("azuredevops", lambda d: {k: v for k, v in d.items() if k != "context"},
     "context is required"),
], ids=["slack-no-text", "opsgenie-long-message", "pagerduty-no-source", "datadog-long-title",
        "github-bad-state", "bitbucket-no-url", "dispatch-payload-too-wide", "azure-no-context"])
def test_the_service_refuses_a_bad_body(case: str, mangle: Any, says: str) -> None:
    config, expect = CASES[case]
    out = build_request(config, EVENT)
    bad = replace(out, body=json.dumps(mangle(json.loads(out.body or b"{}"))).encode())
    with pytest.raises(Rejected) as err:
        check(config.type, as_request(bad), expect)
    assert says in err.value.why


@pytest.mark.parametrize(("success", "answer", "failure"), [
    (None, "not json", ""),
    (("ok", True), '{"ok": true}', ""),
    (("ok", True), '{"ok": false, "error": "channel_not_found"}', "ok=false: channel_not_found"),
    (("code", 0), '{"code": 19001, "msg": "token invalid"}', "code=19001: token invalid"),
    (("code", 0), "<html>", "the answer is not JSON"),
], ids=["no-check", "slack-ok", "slack-error", "lark-error", "not-json"])
def test_answer_failure(success: Any, answer: str, failure: str) -> None:
    out = OutgoingRequest("POST", "https://x/", {}, b"{}", success=success)
    assert answer_failure(out, answer).startswith(failure)


@pytest.mark.parametrize(("config", "says"), [
    (ProviderConfig("slack", f"{BASE}/api/chat.postMessage", token=TOKEN), "spec.channel"),
    (ProviderConfig("sentry", "https://svc.test/42"), "DSN"),
    (ProviderConfig("sentry", f"https://{TOKEN}@svc.test/project"), "DSN"),
    (ProviderConfig("azureeventhub", "https://x.test"), "AMQP"),
    (ProviderConfig("googlepubsub", ""), "service-account OAuth"),
], ids=["slack-bot-without-channel", "sentry-dsn-without-key", "sentry-dsn-without-project",
        "azureeventhub", "googlepubsub"])
def test_config_errors(config: ProviderConfig, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_request(config, EVENT)
    assert says in str(err.value)


def test_sentry_dsn_key_is_redacted_and_events_are_stable() -> None:
    config = CASES["sentry"][0]
    first, again = build_request(config, EVENT), build_request(config, EVENT)
    assert TOKEN in first.secrets
    assert first.body == again.body
    assert build_request(config, INFO).body != first.body
    payload = json.loads((first.body or b"").splitlines()[2])
    assert payload["environment"] == "prod" and payload["level"] == "error"
    assert payload["extra"]["kustomize.toolkit.fluxcd.io/revision"] == f"main@sha1:{SHA}"
