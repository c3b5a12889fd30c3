"""Every SaaS Provider type, end to end: a real Provider object of that type (its address on
a local HTTPS stand-in of the service, `certSecretRef` with the test CA, credentials from
its Secret), an Alert, and an event POSTed to notification-controller's event API; the
stand-in (`harness.services.StrictService`) accepts only the request the service documents
and rejects anything else, so the test fails on a wrong payload, path or header.

Also: mTLS (a client certificate from certSecretRef; without one the delivery fails and
the Provider says so), `proxySecretRef` through a CONNECT proxy with basic auth, and a real
Alertmanager listing the alert a Provider of type alertmanager sent.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from notify_env import KINDS, TIMEOUT, Env, name, notification_env

from afflux.cli.devenv import GitHTTPServer, TestCA
from harness.alertmanager import Alertmanager
from harness.fixtures_cluster import Cluster
from harness.leaks import find_leaks, remember
from harness.nats import NatsServer, user_seed
from harness.proxy import TunnelProxy
from harness.service_rules import Expect
from harness.services import Seen, StrictService
from harness.wait import eventually

pytestmark = pytest.mark.integration

TOKEN = "t0ken" + uuid.uuid4().hex[:12]
ROUTING_KEY = uuid.uuid4().hex  # 32 characters, as PagerDuty's
SHA = "2" * 40
remember(TOKEN)  # the session's end checks that no log, Event or status shows it


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer) -> Iterator[Env]:
    namespace = f"t-providers-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    with notification_env(cluster, start_controller, git_server, namespace) as env:
        yield env


@dataclass(frozen=True)
class Case:
    """How a Provider of one type is pointed at its stand-in `svc`."""

    address: str  # a path on the stand-in, or a template with {base} / {host}
    expect: Expect
    secret: dict[str, str] = field(default_factory=dict)  # besides the CA
    channel: str = ""
    address_in_secret: bool = False
    per_event: int = 1  # requests per event (a comment: look for ours, then post it)

    def url(self, svc: StrictService) -> str:
        base = svc.url("")
        if "{" in self.address:
            return self.address.format(base=base, host=f"127.0.0.1:{svc.port}")
        return svc.url(self.address)


CASES: dict[str, Case] = {
    "slack": Case(f"/services/T01/B02/{TOKEN}", Expect(token=TOKEN), address_in_secret=True),
    "discord": Case(f"/api/webhooks/1234/{TOKEN}", Expect(token=TOKEN), address_in_secret=True),
    "rocket": Case(f"/hooks/abc/{TOKEN}", Expect(token=TOKEN), channel="#ops",
                   address_in_secret=True),
    "msteams": Case(f"/workflows/w1/triggers/manual/paths/invoke?api-version=2016-06-01"
                    f"&sig={TOKEN}", Expect(token=TOKEN), address_in_secret=True),
    "googlechat": Case(f"/v1/spaces/S1/messages?key=k1&token={TOKEN}", Expect(token=TOKEN),
                       address_in_secret=True),
    "webex": Case("/v1/messages", Expect(token=TOKEN, channel="room-1"), {"token": TOKEN},
                  channel="room-1"),
    "telegram": Case("{base}", Expect(token=TOKEN, channel="-1001"), {"token": TOKEN},
                     channel="-1001"),
    "matrix": Case("{base}", Expect(token=TOKEN, channel="!r:m.test"), {"token": TOKEN},
                   channel="!r:m.test"),
    "lark": Case(f"/open-apis/bot/v2/hook/{TOKEN}", Expect(token=TOKEN), address_in_secret=True),
    "opsgenie": Case("/v2/alerts", Expect(token=TOKEN), {"token": TOKEN}),
    "pagerduty": Case("{base}", Expect(channel=ROUTING_KEY), channel=ROUTING_KEY),
    "datadog": Case("{base}", Expect(token=TOKEN), {"token": TOKEN}),
    "sentry": Case(f"https://{TOKEN}@{{host}}/42", Expect(token=TOKEN, channel="42"),
                   channel="staging", address_in_secret=True),
    "grafana": Case("/api/annotations", Expect(token=TOKEN), {"token": TOKEN}),
    "githubdispatch": Case("/acme/fleet", Expect(token=TOKEN), {"token": TOKEN}),
    "github": Case("/acme/fleet", Expect(token=TOKEN), {"token": TOKEN}),
    "gitlab": Case("/acme/platform/fleet", Expect(token=TOKEN), {"token": TOKEN}),
    "gitea": Case("/acme/fleet", Expect(token=TOKEN), {"token": TOKEN}),
    "bitbucket": Case("/acme/fleet", Expect(username="me", password=TOKEN),
                      {"token": f"me:{TOKEN}"}),
    "bitbucketserver": Case("/scm/ops/fleet.git", Expect(token=TOKEN), {"token": TOKEN}),
    "azuredevops": Case("/acme/ops/_git/fleet", Expect(token=TOKEN), {"token": TOKEN}),
    "githubpullrequestcomment": Case("/acme/fleet", Expect(token=TOKEN), {"token": TOKEN},
                                     per_event=2),
    "gitlabmergerequestcomment": Case("/acme/platform/fleet", Expect(token=TOKEN),
                                      {"token": TOKEN}, per_event=2),
    "zulip": Case("{base}", Expect(username="bot@zulip.test", password=TOKEN, channel="ops/flux"),
                  {"username": "bot@zulip.test", "password": TOKEN}, channel="ops/flux"),
    "otel": Case("{base}", Expect(username="collector", password=TOKEN),
                 {"username": "collector", "password": TOKEN}),
}


def post(env: Env, obj: str, message: str, severity: str = "error") -> None:
    event = env.flux_event(obj, message, severity)
    event["metadata"] = {"source.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}",
                         "event.toolkit.fluxcd.io/change_request": "7"}
    assert env.post_event(event) == 202


def alert_for(env: Env, provider: str) -> str:
    """An Alert on this Provider for events about one GitRepository name (returned)."""
    obj = name("src")
    env.alert(provider, eventSources=[{"kind": "GitRepository", "name": obj}])
    return obj


def delivered(svc: StrictService, count: int = 1) -> list[Seen]:
    def check() -> list[Seen]:
        assert not svc.rejected, [(s.status, s.why, s.request.path) for s in svc.rejected]
        assert len(svc.accepted) >= count, f"{len(svc.accepted)} accepted so far"
        return svc.accepted
    return eventually(check, TIMEOUT, message=f"{svc.kind}: {count} accepted request(s)")


def ca_secret(env: Env, ca: TestCA, **extra: str) -> str:
    return env.secret(name("ca"), {"ca.crt": ca.ca_pem, **extra})


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.flux_fields("Provider", "spec.type", "spec.address", "spec.channel",
                         "spec.secretRef.name", "spec.certSecretRef.name")
def test_provider_sends_the_documented_request(env: Env, test_ca: TestCA, kind: str) -> None:
    case = CASES[kind]
    with StrictService(kind, test_ca, case.expect) as svc:
        data = dict(case.secret)
        spec: dict[str, Any] = {"type": kind, "certSecretRef": {"name": ca_secret(env, test_ca)}}
        if case.address_in_secret:
            data["address"] = case.url(svc)
        else:
            spec["address"] = case.url(svc)
        if data:
            spec["secretRef"] = {"name": env.secret(name("cred"), data)}
        if case.channel:
            spec["channel"] = case.channel
        provider = env.provider(spec)
        obj = alert_for(env, provider)
        post(env, obj, f"{kind}: health check failed")
        post(env, obj, f"{kind}: reconciliation finished", "info")
        delivered(svc, 2 * case.per_event)
        env.ready("Provider", provider)
        if kind in ("slack", "discord", "rocket", "msteams", "googlechat", "lark", "sentry"):
            # a webhook URL (or DSN) from a Secret is a secret too
            assert TOKEN not in env.controller.log_text(400)


@pytest.mark.flux_fields("Provider", "spec.certSecretRef.name")
def test_client_certificate_from_cert_secret_ref(env: Env, test_ca: TestCA) -> None:
    client = test_ca.issue_client("notification-controller")
    with StrictService("generic", test_ca, client_ca=True) as svc:
        with_cert = env.provider({"type": "generic", "address": svc.url("/mtls"),
                                  "certSecretRef": {"name": ca_secret(
                                      env, test_ca, **{"tls.crt": client.cert_pem,
                                                       "tls.key": client.key_pem})}})
        post(env, alert_for(env, with_cert), "over mTLS")
        [seen] = delivered(svc)
        assert seen.json()["message"] == "over mTLS"

        without = env.provider({"type": "generic", "address": svc.url("/mtls"),
                                "certSecretRef": {"name": ca_secret(env, test_ca)}})
        post(env, alert_for(env, without), "no client certificate")
        cond = env.condition("Provider", without, "False", "DeliveryFailed")
        assert cond["message"].startswith("sending to the generic Provider failed: ")
        assert svc.url("") not in cond["message"], cond["message"]  # never the address
        assert len(svc.accepted) == 1


@pytest.mark.flux_fields("Provider", "spec.proxySecretRef.name")
def test_proxy_secret_ref(env: Env, test_ca: TestCA) -> None:
    with StrictService("generic", test_ca) as svc, TunnelProxy("proxy-user", TOKEN) as proxy:
        proxy_secret = env.secret(name("proxy"), {"address": proxy.address,
                                                  "username": "proxy-user", "password": TOKEN})
        provider = env.provider({"type": "generic", "address": svc.url("/proxied"),
                                 "certSecretRef": {"name": ca_secret(env, test_ca)},
                                 "proxySecretRef": {"name": proxy_secret}})
        post(env, alert_for(env, provider), "through the proxy")
        delivered(svc)
        assert proxy.seen == [f"127.0.0.1:{svc.port}"]


@pytest.mark.flux_fields("Provider", "spec.username", "spec.proxy")
def test_username_and_proxy_address(env: Env, test_ca: TestCA) -> None:
    """spec.username names the sender in the Slack payload; spec.proxy (the deprecated
    address field, credentials in its userinfo) tunnels the delivery through the proxy."""
    hook = "h" + uuid.uuid4().hex[:12]
    with StrictService("slack", test_ca, Expect(token=hook)) as svc, \
            TunnelProxy("spec-user", "spec-pass") as proxy:
        provider = env.provider({"type": "slack", "address": svc.url(f"/services/T01/B02/{hook}"),
                                 "username": "afflux-bot",
                                 "proxy": f"http://spec-user:spec-pass@127.0.0.1:{proxy.port}",
                                 "certSecretRef": {"name": ca_secret(env, test_ca)}})
        post(env, alert_for(env, provider), "as afflux-bot")
        [seen] = delivered(svc)
        assert seen.json()["username"] == "afflux-bot"
        assert proxy.seen == [f"127.0.0.1:{svc.port}"]


@pytest.mark.flux_fields("Provider", "spec.timeout")
def test_timeout_bounds_each_attempt(env: Env) -> None:
    """A service that accepts the connection and never answers: with spec.timeout 1s the
    five attempts (four retries with backoff 1+2+4+8 s) end in DeliveryFailed well within
    the wait; the 15 s default would take over 90 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)  # never answered
    threading.Thread(target=accept, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        provider = env.provider({"type": "generic", "address": f"http://127.0.0.1:{port}/hook",
                                 "timeout": "1s"})
        post(env, alert_for(env, provider), "nobody answers")
        cond = env.condition("Provider", provider, "False", "DeliveryFailed")
        assert "Timeout" in cond["message"], cond["message"]
        assert len(held) == 5, len(held)  # the first attempt and four retries, each cut off
    finally:
        listener.close()
        for conn in held:
            conn.close()


def test_alertmanager_lists_the_alert(env: Env, alertmanager: Alertmanager) -> None:
    provider = env.provider({"type": "alertmanager",
                             "address": alertmanager.url("/api/v2/alerts")})
    obj = alert_for(env, provider)
    post(env, obj, "health check failed in alertmanager test")

    def listed() -> dict[str, Any]:
        alerts = [a for a in alertmanager.alerts() if a["labels"].get("name") == obj]
        assert alerts, "not listed yet"
        return alerts[0]
    alert = eventually(listed, TIMEOUT, message="Alertmanager lists the alert")
    assert alert["labels"]["alertname"] == "FluxGitRepositoryInfo"
    assert alert["labels"]["severity"] == "error"
    assert alert["labels"]["namespace"] == env.namespace
    assert alert["annotations"]["message"] == "health check failed in alertmanager test"
    assert alert["annotations"]["revision"] == f"main@sha1:{SHA}"
    assert alert["status"]["state"] == "active"


def test_nats_subscriber_receives_the_event(env: Env, nats: NatsServer) -> None:
    """A real nats-server: the event's JSON arrives on the subject, published with a
    password or with an NKey; a subject the user may not publish on fails the delivery and
    the Provider says so, without the password."""
    remember(nats.password)
    remember(nats.seed)
    with_password = env.provider({
        "type": "nats", "address": nats.address, "channel": "flux.events",
        "secretRef": {"name": env.secret(name("nats"), {"username": "flux",
                                                         "password": nats.password})}})
    with_nkey = env.provider({
        "type": "nats", "address": nats.address, "channel": "nkey.events",
        "secretRef": {"name": env.secret(name("nats"), {"nkey": nats.seed})}})
    with nats.subscribe("flux.events") as flux_sub, nats.subscribe("nkey.events") as nkey_sub:
        post(env, alert_for(env, with_password), "nats: health check failed")
        post(env, alert_for(env, with_nkey), "nats: by nkey")

        def received(sub: Any, message: str) -> dict[str, Any]:
            assert sub.messages, "nothing yet"
            event = json.loads(sub.messages[-1][1])
            assert event["message"] == message
            return dict(event)
        event = eventually(lambda: received(flux_sub, "nats: health check failed"), TIMEOUT,
                           message="the subscriber got the event")
        assert event["involvedObject"]["kind"] == "GitRepository"
        assert event["metadata"]["revision"] == f"main@sha1:{SHA}"
        eventually(lambda: received(nkey_sub, "nats: by nkey"), TIMEOUT,
                   message="the NKey publish arrived")

    forbidden = env.provider({
        "type": "nats", "address": nats.address, "channel": "other.events",
        "secretRef": {"name": env.secret(name("nats"), {"username": "flux",
                                                         "password": nats.password})}})
    post(env, alert_for(env, forbidden), "nats: not allowed")
    cond = env.condition("Provider", forbidden, "False", "DeliveryFailed")
    assert "Permissions Violation" in cond["message"], cond


def test_nats_over_tls(env: Env, nats_tls: NatsServer, test_ca: TestCA) -> None:
    """A nats-server that requires TLS: the Provider upgrades after INFO and trusts the
    server through certSecretRef; without the CA the delivery fails and says so."""
    remember(nats_tls.password)
    creds = env.secret(name("nats"), {"username": "flux", "password": nats_tls.password})
    trusted = env.provider({"type": "nats", "address": nats_tls.address,
                            "channel": "flux.tls", "secretRef": {"name": creds},
                            "certSecretRef": {"name": ca_secret(env, test_ca)}})
    with nats_tls.subscribe("flux.tls") as sub:
        post(env, alert_for(env, trusted), "nats: over tls")
        eventually(lambda: [m for m in sub.messages if b"nats: over tls" in m[1]], TIMEOUT,
                   message="the event arrived over TLS")
    untrusted = env.provider({"type": "nats", "address": nats_tls.address,
                              "channel": "flux.tls", "secretRef": {"name": creds}})
    post(env, alert_for(env, untrusted), "nats: no ca")
    cond = env.condition("Provider", untrusted, "False", "DeliveryFailed")
    assert "SSL" in cond["message"] or "certificate" in cond["message"], cond["message"]


def said_in(env: Env) -> dict[str, str]:
    """What the notification-controller said about this module's namespace: its whole
    log, the namespace's Events, the status of its Providers and Alerts."""
    said = {"log": env.controller.log_path.read_text(errors="replace")}
    events = env.core.list_namespaced_event(env.namespace)
    said["events"] = "\n".join(f"{e.reason} {e.message} {e.metadata.annotations}"
                               for e in events.items)
    for kind in ("Provider", "Alert"):
        group, version, plural = KINDS[kind]
        for item in env.api.list_namespaced_custom_object(group, version, env.namespace,
                                                          plural)["items"]:
            said[f"status of {kind} {item['metadata']['name']}"] = json.dumps(
                item.get("status") or {})
    return said


def test_nats_credentials_never_show(env: Env, nats: NatsServer, nats_tls: NatsServer,
                                     test_ca: TestCA) -> None:
    """Credentials the NATS servers refuse (a wrong password, in the Secret, in a Secret's
    address or in spec.address; an NKey seed or a .creds file the server does not know; a TLS client key) and
    a permission violation: each Provider fails with the server's reason, and no password,
    seed, creds file or key shows in the controller's log, an Event, or a status."""
    wrong = "wr0ng-" + uuid.uuid4().hex
    stranger = user_seed()
    creds = (f"-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.{uuid.uuid4().hex}.sig\n"
             "------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n"
             f"{stranger}\n------END USER NKEY SEED------\n")
    client = test_ca.issue_client("nats-client")
    key_line = client.key_pem.strip().splitlines()[1]  # a line of the key's base64
    secrets = [wrong, stranger, nats.password, nats_tls.password, key_line]
    host = f"127.0.0.1:{nats.port}"

    def provider(secret: dict[str, str], channel: str = "flux.x", **spec: Any) -> str:
        spec.setdefault("address", nats.address)
        spec = {k: v for k, v in spec.items() if v is not None}
        return env.provider({"type": "nats", "channel": channel,
                             "secretRef": {"name": env.secret(name("nats"), secret)}, **spec})
    refused = {
        "wrong-password": provider({"username": "flux", "password": wrong}),
        "wrong-password-in-address": provider(
            {"address": f"nats://flux:{wrong}@{host}"}, address=None),
        "wrong-password-in-spec-address": provider({}, address=f"nats://flux:{wrong}@{host}"),
        "unknown-nkey": provider({"nkey": stranger}),
        "unknown-creds": provider({"creds": creds}),
        "tls-client-key": provider(
            {"username": "flux", "password": wrong}, address=nats_tls.address,
            certSecretRef={"name": ca_secret(env, test_ca, **{"tls.crt": client.cert_pem,
                                                               "tls.key": client.key_pem})}),
    }
    forbidden = provider({"username": "flux", "password": nats.password}, "other.subject")
    for provider_name in [*refused.values(), forbidden]:
        post(env, alert_for(env, provider_name), "nats: credentials")
    for why, provider_name in refused.items():
        cond = env.condition("Provider", provider_name, "False", "DeliveryFailed")
        assert "Authorization Violation" in cond["message"], (why, cond["message"])
    cond = env.condition("Provider", forbidden, "False", "DeliveryFailed")
    assert "Permissions Violation" in cond["message"], cond["message"]
    said = said_in(env)
    assert "Authorization Violation" in said["log"]  # the failures were logged, and read
    assert find_leaks(said, secrets) == []


def test_a_service_quoting_the_credentials_back_shows_none(env: Env) -> None:
    """A service that refuses the call and quotes the request's headers in its answer: the
    Basic credentials (base64 of user:password), a bearer token and a header from the
    Secret are redacted from the log, and the status and Events say only the status code."""
    password, token, api_key = (f"{what}-{uuid.uuid4().hex}" for what in ("pw", "tok", "key"))
    basic = base64.b64encode(f"grafana:{password}".encode()).decode()
    env.sink.answer("/echo", 401, echo=True)
    providers = {
        "basic": env.provider({"type": "grafana", "address": env.sink.url("/echo"),
                               "secretRef": {"name": env.secret(name("cred"), {
                                   "username": "grafana", "password": password})}}),
        "bearer": env.provider({"type": "alertmanager", "address": env.sink.url("/echo"),
                                "secretRef": {"name": env.secret(name("cred"),
                                                                 {"token": token})}}),
        "header": env.provider({"type": "generic", "address": env.sink.url("/echo"),
                                "secretRef": {"name": env.secret(name("cred"), {
                                    "headers": f"X-Api-Key: {api_key}"})}}),
    }
    for provider_name in providers.values():
        post(env, alert_for(env, provider_name), "quoted back")
    for why, provider_name in providers.items():
        cond = env.condition("Provider", provider_name, "False", "DeliveryFailed")
        assert cond["message"].endswith("the service answered 401"), (why, cond["message"])
    eventually(lambda: said_in(env)["log"].count("answered 401: ") >= 3, TIMEOUT,
               message="the three failures logged with the service's answer")
    said = said_in(env)
    assert find_leaks(said, [password, basic, token, api_key]) == []
