"""The change request comment, zulip and otel Providers: which pull request, the hidden
marker that keeps one comment per object and Provider, finding that comment again, and the
trace an otel span lands in (pure builders, no I/O)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from afflux.controllers.notification._comments import change_request_of, comment_marker
from afflux.controllers.notification._providers import (
    ConfigError,
    ProviderConfig,
    SkipEvent,
    Upsert,
    build_request,
    markdown_post,
)

from .test_providers import EVENT

CR = "event.toolkit.fluxcd.io/change_request"
PR_EVENT: dict[str, Any] = {**EVENT, "metadata": {**EVENT["metadata"], CR: "12"}}


def alert_body(namespace: str, name: str, uid: str) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "uid": uid}}


def cfg(type_: str, address: str, **kw: Any) -> ProviderConfig:
    return ProviderConfig(type=type_, address=address, token="t", uid="p-uid", **kw)


@pytest.mark.parametrize(("type_", "address", "create", "lists", "edit", "method"), [
    ("githubpullrequestcomment", "https://github.com/acme/fleet",
     "https://api.github.com/repos/acme/fleet/issues/12/comments",
     "https://api.github.com/repos/acme/fleet/issues/12/comments?per_page=100",
     "https://api.github.com/repos/acme/fleet/issues/comments/{id}", "PATCH"),
    ("giteapullrequestcomment", "https://gitea.test/acme/fleet.git",
     "https://gitea.test/api/v1/repos/acme/fleet/issues/12/comments",
     "https://gitea.test/api/v1/repos/acme/fleet/issues/12/comments",
     "https://gitea.test/api/v1/repos/acme/fleet/issues/comments/{id}", "PATCH"),
    ("gitlabmergerequestcomment", "https://gitlab.test/acme/sub/fleet",
     "https://gitlab.test/api/v4/projects/acme%2Fsub%2Ffleet/merge_requests/12/notes",
     "https://gitlab.test/api/v4/projects/acme%2Fsub%2Ffleet/merge_requests/12/notes"
     "?per_page=100",
     "https://gitlab.test/api/v4/projects/acme%2Fsub%2Ffleet/merge_requests/12/notes/{id}",
     "PUT"),
], ids=["github", "gitea", "gitlab"])
def test_comment_request(type_: str, address: str, create: str, lists: str, edit: str,
                         method: str) -> None:
    out = build_request(cfg(type_, address), PR_EVENT)
    assert (out.method, out.url) == ("POST", create)
    assert out.upsert == Upsert(lists, comment_marker(cfg(type_, address), PR_EVENT), edit, method)
    body = json.loads(out.body or b"")["body"]
    assert body.startswith("<!-- flux-pr-comment-key:p-uid/Kustomization/apps/webapp -->\n\n")
    assert "## Flux Status" in body and "Health check failed" in body
    assert "change_request" not in body  # the number is not listed as metadata
    assert "t" in out.secrets


@pytest.mark.parametrize(("metadata", "why"), [
    ({}, "no event.toolkit.fluxcd.io/change_request"),
    ({CR: "abc"}, "is not a number"),
], ids=["no-annotation", "not-a-number"])
def test_comment_skips_events_without_a_change_request(metadata: dict[str, str],
                                                        why: str) -> None:
    with pytest.raises(SkipEvent, match=why):
        change_request_of({**EVENT, "metadata": metadata})


@pytest.mark.parametrize(("answer", "found"), [
    ([], None),
    ([{"id": 3, "body": "a human comment"}], None),
    ([{"id": 3, "body": "x"}, {"id": 9, "body": "<!-- k:1 -->\n\nold"}], "9"),
    ({"message": "not a list"}, None),
], ids=["none", "other-comment", "ours", "not-a-list"])
def test_upsert_finds_the_marked_comment(answer: Any, found: str | None) -> None:
    assert Upsert("u", "<!-- k:1 -->", "e/{id}").existing(answer) == found


def test_one_marker_per_object_and_provider() -> None:
    other_object = {**PR_EVENT, "involvedObject": {**PR_EVENT["involvedObject"], "name": "x"}}
    first = cfg("giteapullrequestcomment", "https://g.test/a/b")
    other_provider = ProviderConfig("giteapullrequestcomment", "https://g.test/a/b", uid="q")
    assert comment_marker(first, PR_EVENT) == comment_marker(first, {**PR_EVENT, "message": "m"})
    assert comment_marker(first, PR_EVENT) != comment_marker(first, other_object)
    assert comment_marker(first, PR_EVENT) != comment_marker(other_provider, PR_EVENT)


def test_markdown_post_shortens_metadata_keys() -> None:
    text = markdown_post({**PR_EVENT, "severity": "info"})
    assert text.startswith("## Flux Status\n\n\u2139\ufe0f Kustomization/apps/webapp\n\n")
    assert "* `revision`: main@sha1:" in text and "* `summary`: prod" in text


def test_zulip_form() -> None:
    out = build_request(ProviderConfig("zulip", "https://z.test/ignored?x=1", channel="ops/flux",
                                       username="bot@z.test", password="key"), EVENT)
    assert out.url == "https://z.test/api/v1/messages"
    form = parse_qs((out.body or b"").decode())
    assert (form["type"], form["to"], form["topic"]) == (["stream"], ["ops"], ["flux"])
    assert out.headers["Authorization"].startswith("Basic ")


def test_zulip_needs_channel_and_topic() -> None:
    with pytest.raises(ConfigError, match="<channel>/<topic>"):
        build_request(ProviderConfig("zulip", "https://z.test", channel="ops"), EVENT)


def _trace(config: ProviderConfig, event: dict[str, Any]) -> str:
    data = json.loads(build_request(config, event).body or b"")
    return data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]


def test_otel_trace_per_alert_and_revision() -> None:
    alert1 = ProviderConfig("otel", "https://o.test", alert=alert_body("apps", "a1", "uid-1"))
    alert2 = ProviderConfig("otel", "https://o.test", alert=alert_body("apps", "a2", "uid-2"))
    later = {**EVENT, "message": "other", "involvedObject": {**EVENT["involvedObject"],
                                                             "kind": "GitRepository"}}
    other_rev = {**EVENT, "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:ff"}}
    assert _trace(alert1, EVENT) == _trace(alert1, later)
    assert _trace(alert1, EVENT) != _trace(alert2, EVENT)
    assert _trace(alert1, EVENT) != _trace(alert1, other_rev)
    out = build_request(alert1, EVENT)
    assert out.url == "https://o.test/v1/traces"
    resource = json.loads(out.body or b"")["resourceSpans"][0]["resource"]["attributes"]
    assert {"key": "service.name", "value": {"stringValue": "apps/a1"}} in resource


def test_otel_skips_helm_repositories() -> None:
    event = {**EVENT, "involvedObject": {**EVENT["involvedObject"], "kind": "HelmRepository"}}
    with pytest.raises(SkipEvent):
        build_request(ProviderConfig("otel", "https://o.test"), event)
