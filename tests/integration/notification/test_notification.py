"""notification-controller end to end: its own process, the real cluster, a real
source-controller process reconciling a GitRepository against the harness's Git server,
and a recording HTTP sink as the Providers' endpoint.

Covers: an Event recorded by source-controller delivered to a generic Provider with Flux's
payload; generic-hmac's signature; Flux's event API; the exclusion list; an Event
recorded while notification-controller is stopped delivered once after it comes back
(and not again after another restart); a failing Provider reported on its status without
its secret address; a github Receiver setting requestedAt on a GitRepository (and a bad
signature getting 401 and touching nothing); the delivery records `afflux events` shows;
bad input reported on conditions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from kubernetes.client.rest import ApiException
from notify_env import KINDS, TIMEOUT, Env, name, notification_env

from afflux.cli import main
from afflux.cli.devenv import GitHTTPServer, free_port
from harness.fixtures_cluster import Cluster
from harness.fixtures_servers import GitAuth, git_push_files
from harness.sink import Recorded
from harness.wait import eventually

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    namespace = f"t-notify-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    storage = tmp_path_factory.mktemp("notify-storage")
    port = free_port()
    start_controller("source", f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{port}",
                     f"--storage-adv-addr=127.0.0.1:{port}", "--watch-all-namespaces=false",
                     f"--namespace={namespace}")
    with notification_env(cluster, start_controller, git_server, namespace) as env:
        yield env


def repo_with_commit(env: Env) -> tuple[str, str]:
    """A Git repository on the harness's server with one commit: (http URL, commit SHA)."""
    repo = f"notify/{uuid.uuid4().hex[:10]}"
    env.git.create_repo(repo)
    url = env.git.url(repo)
    sha = git_push_files(url, {"app.yaml": "a: 1\n"}, message="first commit",
                         auth=GitAuth.for_server(env.git))
    return url, sha


def git_repository(env: Env, url: str) -> str:
    auth = env.secret(name("git"), {"username": env.git.username, "password": env.git.password})
    return env.create("GitRepository", name("repo"), {
        "url": url, "interval": "10m", "ref": {"branch": "main"}, "secretRef": {"name": auth}})


def received(env: Env, path: str, count: int = 1) -> list[Recorded]:
    def check() -> list[Recorded]:
        got = env.sink.requests(path)
        assert len(got) >= count, f"{len(got)} requests so far"
        return got
    return eventually(check, TIMEOUT, message=f"{count} request(s) at {path}")


# --- events out --------------------------------------------------------------------------


@pytest.mark.flux_fields("Provider", "spec.type", "spec.address")
@pytest.mark.flux_fields("Alert", "spec.providerRef.name", "spec.eventSources[].kind",
                         "spec.eventSources[].name", "spec.summary", "spec.eventMetadata{*}")
def test_source_controller_event_reaches_a_generic_provider(env: Env) -> None:
    path = f"/generic/{uuid.uuid4().hex[:6]}"
    provider = env.provider({"type": "generic", "address": env.sink.url(path)})
    env.alert(provider, eventSources=[{"kind": "GitRepository", "name": "*"}],
              summary="test cluster", eventMetadata={"env": "test"})
    url, sha = repo_with_commit(env)
    repo = git_repository(env, url)

    [req] = received(env, path)
    assert req.method == "POST"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Gotk-Component"] == "source-controller"
    event = req.json()
    assert event["involvedObject"]["kind"] == "GitRepository"
    assert event["involvedObject"]["name"] == repo
    assert event["involvedObject"]["namespace"] == env.namespace
    assert event["involvedObject"]["apiVersion"] == "source.toolkit.fluxcd.io/v1"
    assert event["severity"] == "info"
    assert event["reason"] == "NewArtifact"
    assert event["message"] == "stored artifact for commit 'first commit'"
    assert event["reportingController"] == "source-controller"
    # combined as Flux's: the group prefix stripped, the Alert's metadata and summary added
    assert event["metadata"] == {"revision": f"main@sha1:{sha}", "summary": "test cluster",
                                 "env": "test"}


@pytest.mark.flux_fields("Provider", "spec.type", "spec.secretRef.name")
def test_generic_hmac_signature_verifies(env: Env) -> None:
    path = f"/hmac/{uuid.uuid4().hex[:6]}"
    token = uuid.uuid4().hex
    secret = env.secret(name("hmac"), {"token": token})
    provider = env.provider({"type": "generic-hmac", "address": env.sink.url(path),
                             "secretRef": {"name": secret}})
    env.alert(provider)
    assert env.post_event(env.flux_event("signed", "a signed event")) == 202

    [req] = received(env, path)
    expected = hmac.new(token.encode(), req.body, hashlib.sha256).hexdigest()
    assert req.headers["X-Signature"] == f"sha256={expected}"
    assert req.json()["message"] == "a signed event"


@pytest.mark.flux_fields("Alert", "spec.inclusionList[]", "spec.exclusionList[]")
def test_exclusion_list_wins(env: Env) -> None:
    path = f"/excl/{uuid.uuid4().hex[:6]}"
    provider = env.provider({"type": "generic", "address": env.sink.url(path)})
    env.alert(provider, inclusionList=["deploy"], exclusionList=["^skip"])
    assert env.post_event(env.flux_event("excl", "skip this deploy")) == 202
    assert env.post_event(env.flux_event("excl", "something else")) == 202
    assert env.post_event(env.flux_event("excl", "deploy done")) == 202
    received(env, path)
    assert [r.json()["message"] for r in env.sink.requests(path)] == ["deploy done"]


def test_event_api_rate_limits_and_rejects_bad_events(env: Env) -> None:
    event = env.flux_event("limited", f"same message {uuid.uuid4().hex}")
    assert env.post_event(event) == 202
    assert env.post_event(event) == 429
    assert env.post_event({"involvedObject": {"kind": "GitRepository"}}) == 400


def test_event_recorded_while_stopped_is_delivered_once(env: Env) -> None:
    path = f"/restart/{uuid.uuid4().hex[:6]}"
    provider = env.provider({"type": "generic", "address": env.sink.url(path)})
    env.alert(provider)
    env.stop()
    try:
        event_name = env.record_event("offline", "recorded while notification was down")
    finally:
        env.start()
    [req] = received(env, path)
    assert req.json()["message"] == "recorded while notification was down"

    def marked() -> bool:
        event = env.core.read_namespaced_event(event_name, env.namespace)
        return (event.metadata.annotations or {}).get(
            "notification.toolkit.fluxcd.io/dispatched") == "1"
    eventually(marked, TIMEOUT, message="the Event marked as dispatched")

    env.stop()
    env.start()
    env.record_event("offline", "after the second restart")
    received(env, path, 2)
    assert [r.json()["message"] for r in env.sink.requests(path)] == [
        "recorded while notification was down", "after the second restart"]


@pytest.mark.flux_fields("Provider", "spec.secretRef.name")
def test_failing_provider_is_reported_without_its_secret(env: Env) -> None:
    path = f"/fail/{uuid.uuid4().hex[:6]}-secret-part"
    env.sink.answer(path, 400)
    secret = env.secret(name("addr"), {"address": env.sink.url(path)})
    provider = env.provider({"type": "generic", "secretRef": {"name": secret}})
    env.alert(provider)
    assert env.post_event(env.flux_event("failing", "goes nowhere")) == 202
    received(env, path)
    cond = env.condition("Provider", provider, "False", "DeliveryFailed")
    assert "answered 400" in cond["message"]
    assert "secret-part" not in cond["message"]
    events = env.core.list_namespaced_event(
        env.namespace, field_selector=f"involvedObject.name={provider}").items
    assert any(e.reason == "DeliveryFailed" for e in events)
    assert all("secret-part" not in (e.message or "") for e in events)
    assert "secret-part" not in env.controller.log_text(400)


def test_afflux_events_shows_what_was_sent_where(env: Env,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Every delivery is recorded on its Alert (Delivered / DeliveryFailed, naming the
    object and the Provider, never the address); `afflux events --for Alert/<name>` and
    `--for Provider/<name>` show them."""
    good_path, bad_path = f"/ok/{uuid.uuid4().hex[:6]}", f"/bad/{uuid.uuid4().hex[:6]}-hidden"
    env.sink.answer(bad_path, 503)
    good = env.provider({"type": "generic", "address": env.sink.url(good_path)})
    bad = env.provider({"type": "generic", "address": env.sink.url(bad_path)})
    obj = name("src")
    sources = [{"kind": "GitRepository", "name": obj}]
    to_good = env.alert(good, eventSources=sources)
    to_bad = env.alert(bad, eventSources=sources)
    assert env.post_event(env.flux_event(obj, "artifact stored")) == 202
    received(env, good_path)

    def afflux_events(target: str) -> str:
        capsys.readouterr()
        code = main(["--kubeconfig", str(env.cluster.kubeconfig), "-n", env.namespace,
                     "events", "--for", target])
        out = capsys.readouterr().out
        assert code == 0, out
        return out

    what = f"GitRepository/{env.namespace}/{obj} (Info, info)"

    def sent() -> str:
        out = afflux_events(f"Alert/{to_good}")
        assert f"sent {what} to Provider '{good}' (generic)" in out, out
        return out
    eventually(sent, TIMEOUT, message="the delivery recorded on the Alert")

    def failed() -> str:
        out = afflux_events(f"Provider/{bad}")
        assert f"could not send {what} to Provider '{bad}' (generic): the service answered " \
               "503" in out, out
        assert "Alert/" + to_bad in out
        return out
    out = eventually(failed, TIMEOUT, message="the failure recorded on the Alert")
    assert "hidden" not in out and env.sink.url("") not in out
    records = [e for e in env.core.list_namespaced_event(
        env.namespace, field_selector=f"involvedObject.name={to_good}").items
        if e.reason == "Delivered"]
    assert records[0].metadata.annotations == {
        "notification.toolkit.fluxcd.io/provider": good,
        "notification.toolkit.fluxcd.io/object": f"GitRepository/{env.namespace}/{obj}",
        "notification.toolkit.fluxcd.io/reason": "Info"}



def labelled_repository(env: Env, labels: Mapping[str, str], namespace: str | None = None,
                        repo_name: str | None = None) -> str:
    """A suspended GitRepository (nothing reconciles it) with `labels`, for selectors."""
    group, version, plural = KINDS["GitRepository"]
    repo_name = repo_name or name("lab")
    env.api.create_namespaced_custom_object(group, version, namespace or env.namespace, plural, {
        "apiVersion": f"{group}/{version}", "kind": "GitRepository",
        "metadata": {"name": repo_name, "labels": dict(labels)},
        "spec": {"url": "https://git.invalid/repo", "interval": "10m", "suspend": True}})
    return repo_name


@pytest.mark.flux_fields("Alert", "spec.eventSeverity", "spec.eventSources[].namespace",
                         "spec.eventSources[].matchLabels{*}", "spec.suspend")
@pytest.mark.flux_fields("Provider", "spec.suspend")
def test_alert_takes_only_its_severity_namespace_and_labels_until_suspended(env: Env) -> None:
    path = f"/select/{uuid.uuid4().hex[:6]}"
    provider = env.provider({"type": "generic", "address": env.sink.url(path)})
    team_a, team_b = labelled_repository(env, {"team": "a"}), labelled_repository(env, {"team": "b"})
    source = {"kind": "GitRepository", "name": "*", "matchLabels": {"team": "a"}}
    env.alert(provider, eventSeverity="error", summary="here",
              eventSources=[{**source, "namespace": env.namespace}])
    env.alert(provider, summary="elsewhere",
              eventSources=[{**source, "namespace": f"{env.namespace}-elsewhere"}])
    tag = uuid.uuid4().hex[:6]
    assert env.post_event(env.flux_event(team_a, f"info {tag}")) == 202  # not an error
    assert env.post_event(env.flux_event(team_b, f"b {tag}", "error")) == 202  # not team a
    assert env.post_event(env.flux_event(team_a, f"a {tag}", "error")) == 202
    received(env, path)
    sent = [(r.json()["message"], r.json()["metadata"]["summary"])
            for r in env.sink.requests(path)]
    assert sent == [(f"a {tag}", "here")], sent

    # a suspended Alert sends nothing, nor does any Alert through a suspended Provider
    group, version, plural = KINDS["Alert"]
    for alert in env.api.list_namespaced_custom_object(group, version, env.namespace,
                                                       plural)["items"]:
        if alert["spec"]["providerRef"]["name"] == provider:
            env.api.patch_namespaced_custom_object(group, version, env.namespace, plural,
                                                   alert["metadata"]["name"],
                                                   {"spec": {"suspend": True}})
    other = f"/select-other/{uuid.uuid4().hex[:6]}"
    paused = env.provider({"type": "generic", "address": env.sink.url(other)})
    env.alert(paused, eventSources=[source])
    group, version, plural = KINDS["Provider"]
    env.api.patch_namespaced_custom_object(group, version, env.namespace, plural, paused,
                                           {"spec": {"suspend": True}})
    live = f"/select-live/{uuid.uuid4().hex[:6]}"
    env.alert(env.provider({"type": "generic", "address": env.sink.url(live)}),
              eventSources=[source])
    assert env.post_event(env.flux_event(team_a, f"later {tag}", "error")) == 202
    [late] = received(env, live)  # the event went out, to the live Alert only
    assert late.json()["message"] == f"later {tag}"
    assert len(env.sink.requests(path)) == 1 and env.sink.requests(other) == []

# --- webhooks in --------------------------------------------------------------------------


def call_hook(env: Env, path: str, body: bytes, headers: Mapping[str, str]) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{env.receiver_port}{path}", data=body,
                                     method="POST", headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.flux_fields("Receiver", "spec.type", "spec.events[]", "spec.secretRef.name",
                         "spec.resources[].kind", "spec.resources[].name", "status.webhookPath",
                         "status.conditions[].type", "status.conditions[].status",
                         "status.observedGeneration", "status.conditions[].observedGeneration",
                         "status.conditions[].lastTransitionTime")
def test_github_receiver_requests_a_reconcile(env: Env) -> None:
    url, _ = repo_with_commit(env)
    repo = git_repository(env, url)
    token = uuid.uuid4().hex
    secret = env.secret(name("hook"), {"token": token})
    receiver = env.create("Receiver", name("r"), {
        "type": "github", "events": ["push"], "secretRef": {"name": secret},
        "resources": [{"kind": "GitRepository", "name": repo}]})
    env.ready("Receiver", receiver)
    obj = env.get("Receiver", receiver)
    path = obj["status"]["webhookPath"]
    assert path == "/hook/" + hashlib.sha256(
        f"{token}{receiver}{env.namespace}".encode()).hexdigest()
    generation = obj["metadata"]["generation"]
    assert obj["status"]["observedGeneration"] == generation
    [ready] = [c for c in obj["status"]["conditions"] if c["type"] == "Ready"]
    assert ready["observedGeneration"] == generation and ready["lastTransitionTime"]
    body = json.dumps({"ref": "refs/heads/main"}).encode()

    bad = {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64,
           "Content-Type": "application/json"}
    assert call_hook(env, path, body, bad) == 401
    assert call_hook(env, "/hook/" + "0" * 64, body, bad) == 404
    annotations = env.get("GitRepository", repo)["metadata"].get("annotations") or {}
    assert "reconcile.fluxcd.io/requestedAt" not in annotations

    good = {**bad, "X-Hub-Signature-256": "sha256=" + hmac.new(
        token.encode(), body, hashlib.sha256).hexdigest()}
    assert call_hook(env, path, body, good) == 200

    def handled() -> str:
        obj = env.get("GitRepository", repo)
        requested = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        assert obj["status"].get("lastHandledReconcileAt") == requested
        return str(requested)
    eventually(handled, TIMEOUT, message="source-controller handled the requestedAt")


@pytest.mark.flux_fields("Receiver", "spec.interval")
def test_receiver_interval_picks_up_a_new_token(env: Env) -> None:
    """The Receiver is reconciled every spec.interval (2s here) with its Secret: a new
    token gives a new webhookPath without any change to the Receiver."""
    secret = env.secret(name("hook"), {"token": "first-" + uuid.uuid4().hex})
    receiver = env.create("Receiver", name("r"), {
        "type": "generic", "interval": "2s", "secretRef": {"name": secret},
        "resources": [{"kind": "GitRepository", "name": "any"}]})
    env.ready("Receiver", receiver)
    token = "second-" + uuid.uuid4().hex
    env.core.patch_namespaced_secret(secret, env.namespace, {"data": {
        "token": base64.b64encode(token.encode()).decode()}})
    expected = "/hook/" + hashlib.sha256(
        f"{token}{receiver}{env.namespace}".encode()).hexdigest()

    def moved() -> bool:
        path = env.get("Receiver", receiver)["status"]["webhookPath"]
        assert path == expected, path
        return True
    eventually(moved, TIMEOUT, message="the webhookPath of the new token")


@pytest.mark.flux_fields("Receiver", "status.lastHandledReconcileAt")
def test_receiver_handles_a_reconcile_request(env: Env) -> None:
    """`flux reconcile receiver`: the requestedAt annotation is handled and recorded."""
    secret = env.secret(name("hook"), {"token": uuid.uuid4().hex})
    receiver = env.create("Receiver", name("r"), {
        "type": "generic", "secretRef": {"name": secret},
        "resources": [{"kind": "GitRepository", "name": "any"}]})
    env.ready("Receiver", receiver)
    requested = uuid.uuid4().hex
    env.cluster.kubectl("annotate", "--overwrite", "-n", env.namespace, "receiver", receiver,
                        f"reconcile.fluxcd.io/requestedAt={requested}")

    def handled() -> bool:
        status = env.get("Receiver", receiver)["status"]
        assert status.get("lastHandledReconcileAt") == requested, status
        return True
    eventually(handled, TIMEOUT, message="the Receiver handled the requestedAt")



@pytest.mark.flux_fields("Receiver", "spec.resources[].matchLabels{*}",
                         "spec.resources[].namespace", "spec.suspend")
def test_receiver_selects_by_labels_and_namespace_and_refuses_while_suspended(
        env: Env) -> None:
    elsewhere = f"{env.namespace}-x"
    env.cluster.kubectl("create", "namespace", elsewhere)
    try:
        team_a, team_b = labelled_repository(env, {"team": "a"}), labelled_repository(
            env, {"team": "b"})
        shared = name("shared")
        labelled_repository(env, {}, repo_name=shared)
        labelled_repository(env, {}, namespace=elsewhere, repo_name=shared)
        token = uuid.uuid4().hex
        secret = env.secret(name("tok"), {"token": token})
        receiver = env.create("Receiver", name("r"), {
            "type": "generic", "secretRef": {"name": secret}, "resources": [
                {"kind": "GitRepository", "name": "*", "matchLabels": {"team": "a"}},
                {"kind": "GitRepository", "name": shared, "namespace": elsewhere}]})
        env.ready("Receiver", receiver)
        path = env.get("Receiver", receiver)["status"]["webhookPath"]
        assert call_hook(env, path, b"{}", {"Content-Type": "application/json"}) == 200

        group, version, plural = KINDS["GitRepository"]

        def requested(namespace: str, repo: str) -> bool:
            obj = env.api.get_namespaced_custom_object(group, version, namespace, plural, repo)
            return "reconcile.fluxcd.io/requestedAt" in (obj["metadata"].get("annotations")
                                                         or {})
        eventually(lambda: requested(env.namespace, team_a) and requested(elsewhere, shared),
                   TIMEOUT, message="the selected objects asked to reconcile")
        assert not requested(env.namespace, team_b), "labels do not match"
        assert not requested(env.namespace, shared), "the entry names the other namespace"

        group, version, plural = KINDS["Receiver"]
        env.api.patch_namespaced_custom_object(group, version, env.namespace, plural,
                                               receiver, {"spec": {"suspend": True}})

        def refused() -> int:
            code = call_hook(env, path, b"{}", {"Content-Type": "application/json"})
            assert code == 503, code
            return code
        eventually(refused, TIMEOUT, message="the suspended Receiver refuses calls")
    finally:
        env.cluster.kubectl("delete", "namespace", elsewhere, "--wait=false", check=False)

# --- bad input ----------------------------------------------------------------------------


@pytest.mark.flux_fields("Provider", "spec.type")
def test_unknown_provider_type_is_rejected_by_the_schema(env: Env) -> None:
    with pytest.raises(ApiException) as err:
        env.create("Provider", name("p"), {"type": "carrier-pigeon", "address": "http://x/"})
    assert err.value.status == 422
    assert "carrier-pigeon" in err.value.body


@pytest.mark.parametrize(("spec", "reason", "says"), [
    ({"type": "generic", "address": "ftp://example.com/x"}, "ValidationFailed",
     "spec.address must be an absolute http or https URL"),
    ({"type": "generic", "secretRef": {"name": "missing"}}, "ValidationFailed",
     "Secret '{ns}/missing' (spec.secretRef.name) not found"),
    ({"type": "webex", "address": "https://webexapis.com/v1/messages"}, "ValidationFailed",
     "spec.channel"),
    ({"type": "azureeventhub", "address": "https://x.servicebus.windows.net/hub"},
     "ValidationFailed", "not supported by afflux yet"),
    ({"type": "nats", "address": "https://nats.test:4222", "channel": "flux"},
     "ValidationFailed", "must be an absolute nats or tls URL"),
], ids=["bad-scheme", "missing-secret", "missing-channel", "unsupported-type", "nats-scheme"])
@pytest.mark.flux_fields("Provider", "spec.address", "spec.channel", "spec.secretRef.name")
def test_bad_provider(env: Env, spec: dict[str, Any], reason: str, says: str) -> None:
    provider = env.create("Provider", name("p"), spec)
    cond = env.condition("Provider", provider, "False", reason)
    assert says.format(ns=env.namespace) in cond["message"]


@pytest.mark.flux_fields("Alert", "spec.inclusionList[]", "spec.providerRef.name")
def test_bad_alerts(env: Env) -> None:
    provider = env.provider({"type": "generic", "address": env.sink.url("/unused")})
    bad_regex = env.create("Alert", name("a"), {
        "providerRef": {"name": provider}, "inclusionList": ["(unclosed"],
        "eventSources": [{"kind": "GitRepository", "name": "*"}]})
    cond = env.condition("Alert", bad_regex, "False", "ValidationFailed")
    assert "spec.inclusionList[0]" in cond["message"]
    orphan = env.create("Alert", name("a"), {
        "providerRef": {"name": "nowhere"},
        "eventSources": [{"kind": "GitRepository", "name": "*"}]})
    cond = env.condition("Alert", orphan, "False", "DependencyNotReady")
    assert "Provider 'nowhere' not found" in cond["message"]
    env.create("Provider", "nowhere", {"type": "generic", "address": env.sink.url("/x")})
    env.ready("Alert", orphan)  # the Provider's readiness triggers the Alert


@pytest.mark.flux_fields("Receiver", "spec.secretRef.name", "spec.resourceFilter",
                         "status.conditions[].reason", "status.conditions[].message")
def test_receiver_without_token_or_with_a_bad_cel_filter(env: Env) -> None:
    resources = [{"kind": "GitRepository", "name": "*"}]
    missing = env.create("Receiver", name("r"), {
        "type": "generic", "secretRef": {"name": "absent"}, "resources": resources})
    cond = env.condition("Receiver", missing, "False", "TokenNotFound")
    assert "Secret '" + env.namespace + "/absent'" in cond["message"]
    secret = env.secret(name("tok"), {"token": "t"})
    filtered = env.create("Receiver", name("r"), {
        "type": "generic", "secretRef": {"name": secret}, "resources": resources,
        "resourceFilter": "res.metadata.name =="})
    cond = env.condition("Receiver", filtered, "False", "InvalidCELExpression")
    assert "spec.resourceFilter" in cond["message"]
