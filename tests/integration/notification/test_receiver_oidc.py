"""generic-oidc Receivers and CEL resource filters, end to end: a real notification-controller
process trusts the test CA (SSL_CERT_FILE, as a cluster would trust its issuer's CA through
the system store), a local OIDC issuer (`harness.oidc.OIDCIssuer`: HTTPS, discovery
document, JWKS, RS256 and ES256 tokens signed with `cryptography`) authenticates the calls.

- the webhook path is /hook/ + sha256(name + namespace) (no token);
- a valid token whose claims pass the validations sets requestedAt on exactly the objects
  the filters take (spec.resourceFilter over `req` and `claims`, and the entry's `filter`);
- a bad signature, another audience, an expired token, a failed validation or no token:
  401, and nothing is touched;
- an expression that does not compile stalls the Receiver with InvalidCELExpression;
- gcr: a Pub/Sub push with a Google ID token (the local issuer standing in for
  accounts.google.com) for the Secret's audience and email; `req` of the filter is the
  registry's event inside the push.
- hostile issuers (`harness.oidc.HostileIssuer`): a 50 MiB discovery document (declared or
  chunked), one sent a byte at a time, a redirect to another host, a key set of thousands
  of keys: each call is refused with 401 saying why, the controller's memory does not grow
  by the document, and a Receiver of a good issuer answers while a slow one is pending.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notify_env import Env, name, notification_env

from afflux.cli.devenv import GitHTTPServer, TestCA
from harness.fixtures_cluster import Cluster
from harness.oidc import HostileIssuer, OIDCIssuer, Signer
from harness.wait import eventually

pytestmark = pytest.mark.integration

REQUESTED = "reconcile.fluxcd.io/requestedAt"


@pytest.fixture(scope="module")
def issuer(test_ca: TestCA) -> Iterator[OIDCIssuer]:
    with OIDCIssuer(test_ca) as served:
        yield served


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        test_ca: TestCA, issuer: OIDCIssuer) -> Iterator[Env]:
    namespace = f"t-oidc-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    # the local issuer also stands in for Google's (gcr Receivers)
    with notification_env(cluster, start_controller, git_server, namespace,
                          {"SSL_CERT_FILE": str(test_ca.ca_cert),
                           "AFFLUX_GCR_ISSUER_URL": issuer.url}) as env:
        yield env


@pytest.fixture(scope="module")
def hostile(test_ca: TestCA) -> Iterator[HostileIssuer]:
    with HostileIssuer(test_ca) as served:
        yield served


def answer(env: Env, path: str, body: dict[str, Any], token: str | None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"http://127.0.0.1:{env.receiver_port}{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def call(env: Env, path: str, body: dict[str, Any], token: str | None) -> int:
    return answer(env, path, body, token)[0]


def repository(env: Env, team: str, env_label: str) -> str:
    repo = name("repo")
    group, version, plural = "source.toolkit.fluxcd.io", "v1", "gitrepositories"
    env.api.create_namespaced_custom_object(group, version, env.namespace, plural, {
        "apiVersion": f"{group}/{version}", "kind": "GitRepository",
        "metadata": {"name": repo, "labels": {"team": team, "environment": env_label}},
        "spec": {"url": "https://git.invalid/x.git", "interval": "1h"}})
    return repo


def requested(env: Env, repo: str) -> str | None:
    annotations = env.get("GitRepository", repo)["metadata"].get("annotations") or {}
    return annotations.get(REQUESTED)


@pytest.mark.flux_fields("Receiver", "spec.oidcProviders[].issuerURL",
                         "spec.oidcProviders[].variables[].name",
                         "spec.oidcProviders[].variables[].expression",
                         "spec.oidcProviders[].validations[].expression",
                         "spec.oidcProviders[].validations[].message", "spec.resourceFilter",
                         "spec.resources[].filter", "status.webhookPath")
def test_oidc_receiver_with_filters(env: Env, issuer: OIDCIssuer) -> None:
    team_a_prod = repository(env, "a", "production")
    team_a_dev = repository(env, "a", "dev")
    team_b_prod = repository(env, "b", "production")
    receiver = env.create("Receiver", name("r"), {
        "type": "generic-oidc",
        "oidcProviders": [{
            "issuerURL": issuer.url,
            "variables": [{"name": "owner", "expression": "claims.repository_owner"}],
            "validations": [{"expression": "vars.owner == 'acme'", "message": "wrong org"}]}],
        "resourceFilter": "res.metadata.labels['team'] == req.team && "
                          "claims.repository_owner == 'acme'",
        "resources": [{"kind": "GitRepository", "name": "*",
                       "filter": "res.metadata.labels['environment'] == 'production'"}]})
    env.ready("Receiver", receiver)
    path = env.get("Receiver", receiver)["status"]["webhookPath"]
    assert path == "/hook/" + hashlib.sha256(f"{receiver}{env.namespace}".encode()).hexdigest()
    team_a = {"team": "a"}

    refused = {
        "bad-signature": Signer("rsa-1").sign(issuer.claims(repository_owner="acme")),
        "other-audience": issuer.sign(issuer.claims("someone-else", repository_owner="acme")),
        "expired": issuer.sign(issuer.claims(ttl=-600, repository_owner="acme")),
        "wrong-org": issuer.sign(issuer.claims(repository_owner="evil")),
        "not-a-jwt": "not.a.token",
    }
    for why, token in refused.items():
        assert call(env, path, team_a, token) == 401, why
    # the failed validation's message goes back to the caller, as Flux's
    assert answer(env, path, team_a, refused["wrong-org"]) == (401, "unauthorized: wrong org\n")
    assert call(env, path, team_a, None) == 401
    assert [requested(env, r) for r in (team_a_prod, team_a_dev, team_b_prod)] == [None] * 3

    token = issuer.sign(issuer.claims(repository_owner="acme"))
    assert call(env, path, team_a, token) == 200
    first = requested(env, team_a_prod)
    assert first is not None
    assert requested(env, team_a_dev) is None and requested(env, team_b_prod) is None

    # ES256 from the same issuer, for team b
    assert call(env, path, {"team": "b"}, issuer.sign(
        issuer.claims(repository_owner="acme"), "ES256")) == 200
    assert requested(env, team_b_prod) is not None
    assert requested(env, team_a_dev) is None and requested(env, team_a_prod) == first


@pytest.mark.flux_fields("Receiver", "spec.oidcProviders[].audience")
def test_oidc_audience(env: Env, issuer: OIDCIssuer) -> None:
    """With `audience` set, a token must be issued for it: the default audience
    (notification-controller) is refused, the configured one accepted."""
    repo = repository(env, "aud", "production")
    receiver = env.create("Receiver", name("r"), {
        "type": "generic-oidc",
        "oidcProviders": [{"issuerURL": issuer.url, "audience": "fleet-hooks",
                           "validations": [{"expression": "true", "message": "ok"}]}],
        "resources": [{"kind": "GitRepository", "name": repo}]})
    env.ready("Receiver", receiver)
    path = env.get("Receiver", receiver)["status"]["webhookPath"]
    assert call(env, path, {}, issuer.sign(issuer.claims())) == 401
    assert requested(env, repo) is None
    assert call(env, path, {}, issuer.sign(issuer.claims("fleet-hooks"))) == 200
    assert requested(env, repo) is not None


@pytest.mark.flux_fields("Receiver", "spec.oidcProviders[].validations[].expression",
                         "spec.resourceFilter")
def test_invalid_cel_stalls_the_receiver(env: Env, issuer: OIDCIssuer) -> None:
    receiver = env.create("Receiver", name("r"), {
        "type": "generic-oidc",
        "oidcProviders": [{"issuerURL": issuer.url, "validations": [
            {"expression": "claims.(", "message": "m"}]}],
        "resources": [{"kind": "GitRepository", "name": "*"}]})
    cond = env.condition("Receiver", receiver, "False", "InvalidCELExpression")
    assert "spec.oidcProviders[0].validations[0].expression" in cond["message"]
    secret = env.secret(name("tok"), {"token": "t"})
    other = env.create("Receiver", name("r"), {
        "type": "generic", "secretRef": {"name": secret},
        "resourceFilter": "claims.sub == 'x'",
        "resources": [{"kind": "GitRepository", "name": "*"}]})
    cond = env.condition("Receiver", other, "False", "InvalidCELExpression")
    assert "spec.resourceFilter" in cond["message"] and "claims" in cond["message"]


def test_schema_rules_for_oidc(env: Env, issuer: OIDCIssuer) -> None:
    from kubernetes.client.exceptions import ApiException

    cases = {
        "oidc-without-providers": {"type": "generic-oidc",
                                   "resources": [{"kind": "GitRepository", "name": "*"}]},
        "oidc-with-secret": {"type": "generic-oidc", "secretRef": {"name": "s"},
                             "oidcProviders": [{"issuerURL": issuer.url, "validations": []}],
                             "resources": [{"kind": "GitRepository", "name": "*"}]},
        "generic-without-secret": {"type": "generic",
                                   "resources": [{"kind": "GitRepository", "name": "*"}]},
    }
    for why, spec in cases.items():
        with pytest.raises(ApiException) as err:
            env.create("Receiver", name("r"), spec)
        assert err.value.status == 422, why


def test_gcr_receiver(env: Env, issuer: OIDCIssuer) -> None:
    matching, other = repository(env, "a", "production"), repository(env, "a", "production")
    email = "pusher@project.iam.gserviceaccount.com"
    receiver = name("gcr")
    audience = f"https://hooks.test/{receiver}"
    secret = env.secret(name("gcr"), {"token": uuid.uuid4().hex, "email": email,
                                      "audience": audience})
    env.create("Receiver", receiver, {
        "type": "gcr", "secretRef": {"name": secret},
        "resourceFilter": "req.tag.contains(res.metadata.name)",
        "resources": [{"kind": "GitRepository", "name": "*"}]})
    env.ready("Receiver", receiver)
    path = env.get("Receiver", receiver)["status"]["webhookPath"]
    event = {"action": "INSERT", "digest": "gcr.test/p/app@sha256:" + "1" * 64,
             "tag": f"gcr.test/p/{matching}:1.1"}
    push = {"message": {"data": base64.b64encode(json.dumps(event).encode()).decode(),
                        "messageId": "1"}, "subscription": "projects/p/subscriptions/flux"}

    def token(**extra: Any) -> str:
        return issuer.sign(issuer.claims(audience, **{"email": email, "email_verified": True,
                                                      **extra}))
    assert call(env, path, push, token(email="intruder@evil.test")) == 401
    assert call(env, path, push, token(email_verified=False)) == 401
    assert call(env, path, push, issuer.sign(issuer.claims("other", email=email,
                                                           email_verified=True))) == 401
    assert call(env, path, push, None) == 401
    assert requested(env, matching) is None

    assert call(env, path, push, token()) == 200
    assert requested(env, matching) is not None
    assert requested(env, other) is None  # the filter: its name is not in the pushed tag

    missing = env.secret(name("gcr"), {"token": "t"})
    incomplete = env.create("Receiver", name("gcr"), {
        "type": "gcr", "secretRef": {"name": missing},
        "resources": [{"kind": "GitRepository", "name": "*"}]})
    cond = env.condition("Receiver", incomplete, "False", "TokenNotFound")
    assert "'email', 'audience'" in cond["message"]


def oidc_receiver(env: Env, issuer_url: str) -> str:
    receiver = env.create("Receiver", name("r"), {
        "type": "generic-oidc", "oidcProviders": [{"issuerURL": issuer_url, "validations": []}],
        "resources": [{"kind": "GitRepository", "name": "*"}]})
    env.ready("Receiver", receiver)
    return str(env.get("Receiver", receiver)["status"]["webhookPath"])


def peak_memory(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.mark.parametrize(("mode", "why"), [
    ("huge", "discovery document is larger than"),
    ("huge-chunked", "discovery document is larger than"),
    ("redirect", "discovery document answered 302"),
    ("many-keys", "more than 100"),
], ids=["declared-50MiB", "chunked-50MiB", "redirect-to-another-host", "thousands-of-keys"])
def test_a_hostile_issuer_is_refused(env: Env, hostile: HostileIssuer, mode: str,
                                     why: str) -> None:
    repo = repository(env, "a", "production")
    path = oidc_receiver(env, hostile.issuer_url(mode))
    before = peak_memory(env.controller.proc.pid)
    status, text = answer(env, path, {}, hostile.sign(mode))
    assert (status, why in text) == (401, True), text
    # the 50 MiB were not taken in: the peak grew by far less than the document
    assert peak_memory(env.controller.proc.pid) - before < 16 * 1024 * 1024
    assert requested(env, repo) is None


def test_a_slow_issuer_fails_its_calls_and_holds_up_no_other(
        env: Env, issuer: OIDCIssuer, hostile: HostileIssuer) -> None:
    slow_path = oidc_receiver(env, hostile.issuer_url("slow"))
    good_path = oidc_receiver(env, issuer.url)
    answers: list[tuple[int, str]] = []
    pending = threading.Thread(target=lambda: answers.append(
        answer(env, slow_path, {}, hostile.sign("slow"))))
    pending.start()
    eventually(lambda: hostile.sent["slow"] > 0, 10, message="the slow issuer trickling")
    # while the slow issuer holds its call, another Receiver answers
    assert call(env, good_path, {}, issuer.sign(issuer.claims())) == 200
    assert pending.is_alive()
    pending.join(40)
    assert not pending.is_alive()
    status, text = answers[0]
    assert status == 401 and "could not be fetched: TimeoutError" in text, text
    # the whole document takes over a minute to send: the fetch gave up long before
    assert hostile.sent["slow"] < len(hostile.discovery("slow"))
    # a call right after is refused at once, without waiting out the timeout again
    asked = hostile.requests.count("/slow/.well-known/openid-configuration")
    assert answer(env, slow_path, {}, hostile.sign("slow"))[0] == 401
    assert hostile.requests.count("/slow/.well-known/openid-configuration") == asked


def test_a_gcr_receiver_refuses_a_hostile_stand_in_for_google(
        cluster: Cluster, start_controller: Any, git_server: GitHTTPServer, test_ca: TestCA,
        hostile: HostileIssuer) -> None:
    """gcr Receivers fetch Google's keys through the same bounded client: a stand-in for
    accounts.google.com that answers 50 MiB (chunked) gets the push refused with 401."""
    namespace = f"t-gcr-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    issuer_url = hostile.issuer_url("huge-chunked")
    with notification_env(cluster, start_controller, git_server, namespace,
                          {"SSL_CERT_FILE": str(test_ca.ca_cert),
                           "AFFLUX_GCR_ISSUER_URL": issuer_url}) as env:
        repo = repository(env, "a", "production")
        receiver, email = name("gcr"), "pusher@project.iam.gserviceaccount.com"
        audience = f"https://hooks.test/{receiver}"
        secret = env.secret(name("gcr"), {"token": uuid.uuid4().hex, "email": email,
                                          "audience": audience})
        env.create("Receiver", receiver, {"type": "gcr", "secretRef": {"name": secret},
                                          "resources": [{"kind": "GitRepository", "name": "*"}]})
        env.ready("Receiver", receiver)
        path = env.get("Receiver", receiver)["status"]["webhookPath"]
        now = int(time.time())
        token = hostile.signer.sign({"iss": issuer_url, "aud": audience, "email": email,
                                     "email_verified": True, "iat": now, "exp": now + 300})
        status, text = answer(env, path, {"message": {"data": ""}}, token)
        assert (status, "discovery document is larger than" in text) == (401, True), text
        assert requested(env, repo) is None
    # the operator keeps running (the session stops it) so that the Receiver's finalizer is
    # removed when its namespace is deleted: stopped first, the Receiver and its namespace
    # would stay Terminating, an object no operator reconciles for `afflux check` to report
