"""What each SaaS service a Provider talks to accepts, written from the service's public API
documentation: method, path, authentication and the JSON fields (and their types and
limits) the service requires. Pure: `check(kind, request, expect)` returns the answer the
service gives to an accepted request and raises `Rejected` (with the status the service
answers and why) for anything else. `services.StrictService` serves these rules over HTTPS
for the integration tests; unit tests run the Provider builders' requests through them
without any I/O.

`Expect` carries what the test configured (the token, the user and password, the channel),
so a request with the wrong credentials or routing is rejected like the real service would.

Two services answer some errors with 200 and a flag in the body, as the real ones do:
Slack's Web API (`{"ok": false, "error": ...}`) and Lark's bot webhooks (`{"code": <not 0>}`).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

__all__ = ["RULES", "Answer", "Expect", "Rejected", "Request", "check"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # raw, still percent-encoded
    query: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), "")


@dataclass(frozen=True)
class Expect:
    token: str = ""
    username: str = ""
    password: str = ""
    channel: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None


class Rejected(Exception):  # noqa: N818 - what the service does
    def __init__(self, status: int, why: str, body: Any = None) -> None:
        super().__init__(f"{status}: {why}")
        self.status = status
        self.why = why
        self.body = body if body is not None else {"error": why}


# --- helpers ---------------------------------------------------------------------------------


def _need(condition: bool, why: str, status: int = 400) -> None:
    if not condition:
        raise Rejected(status, why)


def _method(req: Request, method: str) -> None:
    _need(req.method == method, f"method {req.method} not allowed, {method} only", 405)


def _path(req: Request, pattern: str) -> re.Match[str]:
    match = re.fullmatch(pattern, req.path)
    if match is None:
        raise Rejected(404, f"no such resource {req.path}")
    return match


def _json(req: Request, kind: type = dict) -> Any:
    content_type = req.header("Content-Type").split(";")[0].strip().lower()
    _need(content_type == "application/json", f"Content-Type {content_type!r} is not JSON", 415)
    try:
        data = json.loads(req.body)
    except ValueError as err:
        raise Rejected(400, f"body is not JSON: {err}") from None
    _need(isinstance(data, kind), f"body must be a JSON {kind.__name__}")
    return data


def _string(data: Mapping[str, Any], key: str, *, required: bool = True, limit: int = 0,
            choices: tuple[str, ...] = ()) -> None:
    if key not in data:
        _need(not required, f"{key} is required")
        return
    value = data[key]
    _need(isinstance(value, str), f"{key} must be a string, got {type(value).__name__}")
    _need(not required or value != "", f"{key} must not be empty")
    _need(not limit or len(value) <= limit, f"{key} is longer than {limit} characters")
    _need(not choices or value in choices, f"{key} must be one of {', '.join(choices)}")


def _strings(data: Mapping[str, Any], key: str, *, limit: int = 0) -> None:
    value = data.get(key, [])
    _need(isinstance(value, list) and all(isinstance(v, str) for v in value),
          f"{key} must be a list of strings")
    _need(not limit or all(len(v) <= limit for v in value),
          f"every {key} entry must be at most {limit} characters")


def _string_map(data: Mapping[str, Any], key: str) -> None:
    value = data.get(key, {})
    _need(isinstance(value, dict) and all(isinstance(v, str) for v in value.values()),
          f"{key} must be an object of strings")


def _auth(req: Request, expected: str, status: int = 401) -> None:
    _need(req.header("Authorization") == expected, "missing or wrong Authorization", status)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _token_or_basic(req: Request, expect: Expect, refusal: str) -> Any:
    """Bearer with the token if one is expected, else basic auth; then the JSON body."""
    good = f"Bearer {expect.token}" if expect.token else _basic(expect.username, expect.password)
    _need(req.header("Authorization") == good, refusal, 401)
    return _json(req)


def _user_agent(req: Request) -> None:
    _need(bool(req.header("User-Agent")), "a User-Agent header is required", 403)


# --- chat --------------------------------------------------------------------------------------


def _slack_message(data: Mapping[str, Any]) -> None:
    _need(any(k in data for k in ("text", "attachments", "blocks")),
          "one of text, attachments or blocks is required")
    _string(data, "text", required=False)
    attachments = data.get("attachments", [])
    _need(isinstance(attachments, list) and all(isinstance(a, dict) for a in attachments),
          "attachments must be a list of objects")
    for attachment in attachments:
        _string(attachment, "text", required=False)
        _string(attachment, "color", required=False)
        for f in attachment.get("fields", []):
            _need(isinstance(f, dict) and isinstance(f.get("title"), str)
                  and isinstance(f.get("value"), str), "fields need string title and value")


def slack(req: Request, expect: Expect) -> Answer:
    """Incoming webhook `POST /services/T/B/X`, or Web API `POST /api/chat.postMessage` with
    a bot token (Bearer) and a channel; the Web API answers errors with 200 and ok=false."""
    _method(req, "POST")
    if req.path == "/api/chat.postMessage":
        data = _json(req)
        if req.header("Authorization") != f"Bearer {expect.token}":
            raise Rejected(200, "invalid_auth", {"ok": False, "error": "invalid_auth"})
        if not isinstance(data.get("channel"), str) or not data["channel"]:
            raise Rejected(200, "channel_not_found", {"ok": False, "error": "channel_not_found"})
        try:
            _slack_message(data)
        except Rejected as err:
            raise Rejected(200, err.why, {"ok": False, "error": "invalid_arguments"}) from None
        return Answer(200, {"ok": True, "channel": data["channel"], "ts": "1.2"})
    _webhook(req, expect, r"/services/T[A-Z0-9]+/B[A-Z0-9]+/([A-Za-z0-9]+)", (403, "invalid_token"))
    return Answer(200, "ok")


def _webhook(req: Request, expect: Expect, pattern: str, refusal: tuple[int, str]) -> dict:
    """A Slack-style webhook whose last path group is its token: the JSON message."""
    _method(req, "POST")
    match = _path(req, pattern)
    _need(match.group(match.lastindex or 0) == expect.token, refusal[1], refusal[0])
    data = _json(req)
    _slack_message(data)
    return data


def discord(req: Request, expect: Expect) -> Answer:
    """Discord's Slack-compatible webhook: `POST /api/webhooks/{id}/{token}/slack`."""
    _webhook(req, expect, r"/api/webhooks/\d+/([^/]+)/slack", (401, "Invalid Webhook Token"))
    return Answer(200, "ok")


def rocket(req: Request, expect: Expect) -> Answer:
    """Rocket.Chat incoming webhook `POST /hooks/{id}/{token}`: text and/or attachments."""
    data = _webhook(req, expect, r"/hooks/[^/]+/([^/]+)", (404, "Invalid integration"))
    if "channel" in data:
        _need(data["channel"][:1] in ("#", "@"), "channel must start with # or @")
    return Answer(200, {"success": True})


def msteams(req: Request, expect: Expect) -> Answer:
    """A Teams Workflows webhook: a `message` with Adaptive Card attachments."""
    _method(req, "POST")
    _path(req, r"/workflows/[^/]+/triggers/manual/paths/invoke")
    qs = parse_qs(req.query)
    _need(qs.get("sig") == [expect.token], "the sig query parameter is wrong", 401)
    data = _json(req)
    _need(data.get("type") == "message", "type must be 'message'")
    attachments = data.get("attachments")
    _need(isinstance(attachments, list) and bool(attachments), "attachments must be a list")
    for attachment in attachments:
        _need(attachment.get("contentType") == "application/vnd.microsoft.card.adaptive",
              "contentType must be application/vnd.microsoft.card.adaptive")
        card = attachment.get("content")
        _need(isinstance(card, dict) and card.get("type") == "AdaptiveCard",
              "content must be an AdaptiveCard")
        _string(card, "version")
        body = card.get("body")
        _need(isinstance(body, list) and all(isinstance(e, dict) and isinstance(e.get("type"),
                                                                                str) for e in body),
              "the card body must be a list of typed elements")
        for element in body:
            if element["type"] == "TextBlock":
                _string(element, "text", required=False)
            if element["type"] == "FactSet":
                _need(all(isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
                          for f in element.get("facts", [])), "facts need title and value")
    return Answer(202)


_CHAT_WIDGETS = ("textParagraph", "decoratedText", "image", "buttonList", "divider",
                 "columns", "grid", "selectionInput", "textInput")


def googlechat(req: Request, expect: Expect) -> Answer:
    """`POST /v1/spaces/{space}/messages?key=...&token=...`: text or cardsV2."""
    _method(req, "POST")
    _path(req, r"/v1/spaces/[^/]+/messages")
    qs = parse_qs(req.query)
    _need(qs.get("token") == [expect.token] and bool(qs.get("key")),
          "the key and token query parameters are wrong", 401)
    data = _json(req)
    _need("text" in data or "cardsV2" in data, "text or cardsV2 is required")
    _string(data, "text", required=False)
    for card in data.get("cardsV2", []):
        _string(card, "cardId")
        body = card.get("card")
        _need(isinstance(body, dict), "cardsV2[].card must be an object")
        for section in body.get("sections", []):
            for widget in section.get("widgets", []):
                _need(len(widget) == 1 and next(iter(widget)) in _CHAT_WIDGETS,
                      f"unknown widget {list(widget)}")
                if "decoratedText" in widget:
                    _string(widget["decoratedText"], "text")
                if "textParagraph" in widget:
                    _string(widget["textParagraph"], "text")
    return Answer(200, {"name": "spaces/x/messages/y"})


def webex(req: Request, expect: Expect) -> Answer:
    """`POST /v1/messages`, Bearer token, roomId and text or markdown."""
    _method(req, "POST")
    _path(req, r"/v1/messages")
    _auth(req, f"Bearer {expect.token}")
    data = _json(req)
    _need(data.get("roomId") == expect.channel, "roomId is missing or not the room")
    _need(isinstance(data.get("text"), str) or isinstance(data.get("markdown"), str),
          "text or markdown is required")
    return Answer(200, {"id": "m1"})


def telegram(req: Request, expect: Expect) -> Answer:
    """`POST /bot{token}/sendMessage`: chat_id and text (at most 4096 characters)."""
    _method(req, "POST")
    match = _path(req, r"/bot([^/]+)/sendMessage")
    if match.group(1) != expect.token:
        raise Rejected(401, "Unauthorized", {"ok": False, "error_code": 401})
    data = _json(req)
    _need(str(data.get("chat_id", "")) == expect.channel, "chat not found")
    _string(data, "text", limit=4096)
    _string(data, "parse_mode", required=False, choices=("MarkdownV2", "HTML", "Markdown"))
    return Answer(200, {"ok": True, "result": {"message_id": 1}})


def matrix(req: Request, expect: Expect) -> Answer:
    """`PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}`, Bearer."""
    _method(req, "PUT")
    match = _path(req, r"/_matrix/client/v3/rooms/([^/]+)/send/m\.room\.message/([^/]+)")
    _auth(req, f"Bearer {expect.token}")
    _need(unquote(match.group(1)) == expect.channel, "unknown room", 403)
    data = _json(req)
    _string(data, "msgtype", choices=("m.text", "m.notice"))
    _string(data, "body")
    return Answer(200, {"event_id": f"${match.group(2)}"})


def lark(req: Request, expect: Expect) -> Answer:
    """`POST /open-apis/bot/v2/hook/{id}`: msg_type and its content; errors are 200 with a
    non-zero `code`."""
    _method(req, "POST")
    match = _path(req, r"/open-apis/bot/v2/hook/([^/]+)")
    if match.group(1) != expect.token:
        raise Rejected(200, "token invalid", {"code": 19001, "msg": "param invalid: incoming "
                                              "webhook access token invalid"})
    data = _json(req)
    kind = data.get("msg_type")
    ok = (kind == "text" and isinstance((data.get("content") or {}).get("text"), str)) or (
        kind == "interactive" and isinstance(data.get("card"), dict)
        and isinstance(data["card"].get("elements"), list))
    if not ok:
        raise Rejected(200, "params error", {"code": 9499, "msg": "Bad Request"})
    return Answer(200, {"code": 0, "msg": "success", "data": {}})


# --- incident and observability ------------------------------------------------------------


def opsgenie(req: Request, expect: Expect) -> Answer:
    """`POST /v2/alerts`, `GenieKey`: message (at most 130), description, details, tags,
    priority P1-P5."""
    _method(req, "POST")
    _path(req, r"/v2/alerts")
    _auth(req, f"GenieKey {expect.token}", 422)
    data = _json(req)
    _string(data, "message", limit=130)
    _string(data, "description", required=False, limit=15000)
    _string(data, "priority", required=False, choices=("P1", "P2", "P3", "P4", "P5"))
    _string_map(data, "details")
    _strings(data, "tags", limit=50)
    return Answer(202, {"result": "Request will be processed", "requestId": "r1"})


def pagerduty(req: Request, expect: Expect) -> Answer:
    """Events API v2 `POST /v2/enqueue`: routing_key (32 characters), event_action;
    a trigger needs payload.summary, source and severity."""
    _method(req, "POST")
    _path(req, r"/v2/enqueue")
    data = _json(req)
    _need(data.get("routing_key") == expect.channel and len(expect.channel) == 32,
          "Invalid routing key", 400)
    _string(data, "event_action", choices=("trigger", "acknowledge", "resolve"))
    _string(data, "dedup_key", required=data["event_action"] != "trigger", limit=255)
    if data["event_action"] == "trigger":
        payload = data.get("payload")
        _need(isinstance(payload, dict), "payload is required for a trigger")
        _string(payload, "summary", limit=1024)
        _string(payload, "source")
        _string(payload, "severity", choices=("critical", "error", "warning", "info"))
        if "timestamp" in payload:
            _string(payload, "timestamp")
            _need(_iso8601(payload["timestamp"]), "payload.timestamp must be ISO 8601")
        _need(isinstance(payload.get("custom_details", {}), dict),
              "custom_details must be an object")
    return Answer(202, {"status": "success", "message": "Event processed",
                        "dedup_key": data.get("dedup_key", "")})


def _iso8601(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def datadog(req: Request, expect: Expect) -> Answer:
    """`POST /api/v1/events`, `DD-API-KEY`: title (at most 100), text (at most 4000)."""
    _method(req, "POST")
    _path(req, r"/api/v1/events")
    _need(req.header("DD-API-KEY") == expect.token, "Forbidden", 403)
    data = _json(req)
    _string(data, "title", limit=100)
    _string(data, "text", limit=4000)
    _strings(data, "tags")
    _string(data, "alert_type", required=False, choices=(
        "error", "warning", "info", "success", "user_update", "recommendation", "snapshot"))
    return Answer(202, {"status": "ok", "event": {"id": 1}})


def sentry(req: Request, expect: Expect) -> Answer:
    """`POST /api/{project}/envelope/` with `X-Sentry-Auth: Sentry sentry_key=...`: an
    envelope (header line, item header line, event payload line)."""
    _method(req, "POST")
    match = _path(req, r"/api/(\d+)/envelope/")
    _need(match.group(1) == expect.channel, "unknown project", 403)
    auth = req.header("X-Sentry-Auth")
    _need(auth.startswith("Sentry "), "X-Sentry-Auth is missing", 401)
    fields = dict(part.strip().split("=", 1) for part in auth[7:].split(",") if "=" in part)
    _need(fields.get("sentry_key") == expect.token, "invalid sentry_key", 401)
    _need(fields.get("sentry_version") == "7", "sentry_version must be 7")
    lines = req.body.split(b"\n")
    try:
        header, item, payload = (json.loads(line) for line in lines[:3])
    except ValueError as err:
        raise Rejected(400, f"not an envelope: {err}") from None
    _need(all(not line.strip() for line in lines[3:]), "one item only")
    _need(isinstance(header, dict) and isinstance(item, dict) and isinstance(payload, dict),
          "envelope lines must be JSON objects")
    _need(item.get("type") == "event", "the item must be an event")
    if "length" in item:
        _need(item["length"] == len(lines[2]), "the item length is wrong")
    event_id = payload.get("event_id", "")
    _need(re.fullmatch(r"[0-9a-f]{32}", event_id) is not None, "event_id must be 32 hex")
    _need(header.get("event_id", event_id) == event_id, "header and event ids differ")
    _string(payload, "level", choices=("fatal", "error", "warning", "info", "debug"))
    _string(payload, "platform")
    _need(isinstance(payload.get("timestamp"), (str, int, float)), "timestamp is required")
    message = payload.get("message")
    _need(isinstance(message, str) or (isinstance(message, dict) and isinstance(
        message.get("formatted") or message.get("message"), str)), "message is required")
    _string_map(payload, "tags")
    return Answer(200, {"id": event_id})


def grafana(req: Request, expect: Expect) -> Answer:
    """`POST /api/annotations`, a service account token (Bearer) or basic auth: text,
    time (epoch ms) and tags."""
    _method(req, "POST")
    _path(req, r"/api/annotations")
    data = _token_or_basic(req, expect, "Unauthorized")
    _string(data, "text")
    _need(isinstance(data.get("time", 0), int), "time must be epoch milliseconds")
    _strings(data, "tags")
    return Answer(200, {"message": "Annotation added", "id": 1})


# --- GitHub Enterprise (/api/v3) and the commit-status forges -------------------------------


def _github_common(req: Request, expect: Expect) -> None:
    _method(req, "POST")
    _user_agent(req)
    _need(req.header("Authorization") in (f"Bearer {expect.token}", f"token {expect.token}"),
          "Bad credentials", 401)


def githubdispatch(req: Request, expect: Expect) -> Answer:
    """`POST /api/v3/repos/{owner}/{repo}/dispatches`: event_type (at most 100) and a
    client_payload of at most 10 top-level properties; 204."""
    _github_common(req, expect)
    _path(req, r"/api/v3/repos/[^/]+/[^/]+/dispatches")
    data = _json(req)
    _string(data, "event_type", limit=100)
    payload = data.get("client_payload", {})
    _need(isinstance(payload, dict) and len(payload) <= 10,
          "client_payload must be an object of at most 10 properties", 422)
    return Answer(204)


def _combined_status(req: Request, pattern: str) -> Answer | None:
    """`GET .../commits/{sha}/status`: the combined status (none posted yet here)."""
    if req.method == "GET" and re.fullmatch(pattern, req.path):
        return Answer(200, {"state": "pending", "statuses": [], "total_count": 0})
    return None


def github(req: Request, expect: Expect) -> Answer:
    """`POST /api/v3/repos/{owner}/{repo}/statuses/{sha}`: state, context, description
    (at most 140); `GET .../commits/{sha}/status`."""
    _user_agent(req)
    _need(req.header("Authorization") in (f"Bearer {expect.token}", f"token {expect.token}"),
          "Bad credentials", 401)
    combined = _combined_status(req, r"/api/v3/repos/[^/]+/[^/]+/commits/[0-9a-f]{40}/status")
    if combined:
        return combined
    _github_common(req, expect)
    _path(req, r"/api/v3/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}")
    data = _json(req)
    _string(data, "state", choices=("error", "failure", "pending", "success"))
    _string(data, "context", required=False)
    _string(data, "description", required=False, limit=140)
    _string(data, "target_url", required=False)
    return Answer(201, {"id": 1, "state": data["state"], "context": data.get("context")})


def gitlab(req: Request, expect: Expect) -> Answer:
    """`POST /api/v4/projects/{url-encoded path}/statuses/{sha}`, `PRIVATE-TOKEN`."""
    _method(req, "POST")
    _path(req, r"/api/v4/projects/[^/]+/statuses/[0-9a-f]{40}")
    _need(req.header("PRIVATE-TOKEN") == expect.token, "401 Unauthorized", 401)
    data = _json(req)
    _string(data, "state", choices=("pending", "running", "success", "failed", "canceled",
                                    "skipped"))
    _string(data, "name", required=False, limit=255)
    _string(data, "description", required=False, limit=255)
    return Answer(201, {"id": 1, "status": data["state"]})


def gitea(req: Request, expect: Expect) -> Answer:
    """`POST /api/v1/repos/{owner}/{repo}/statuses/{sha}`, `token` auth; `GET
    .../commits/{sha}/status`."""
    _auth(req, f"token {expect.token}")
    combined = _combined_status(req, r"/api/v1/repos/[^/]+/[^/]+/commits/[0-9a-f]{40}/status")
    if combined:
        return combined
    _method(req, "POST")
    _path(req, r"/api/v1/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}")
    data = _json(req)
    _string(data, "state", choices=("pending", "success", "error", "failure", "warning"))
    _string(data, "context", required=False)
    _string(data, "description", required=False)
    return Answer(201, {"id": 1})


def bitbucket(req: Request, expect: Expect) -> Answer:
    """`POST /2.0/repositories/{ws}/{repo}/commit/{sha}/statuses/build`, basic auth: key
    (at most 40), state, url."""
    _method(req, "POST")
    _path(req, r"/2\.0/repositories/[^/]+/[^/]+/commit/[0-9a-f]{40}/statuses/build/?")
    _auth(req, _basic(expect.username, expect.password))
    data = _json(req)
    _string(data, "key", limit=40)
    _string(data, "state", choices=("INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"))
    _string(data, "url")
    _string(data, "name", required=False)
    _string(data, "description", required=False)
    return Answer(201, {"key": data["key"], "state": data["state"]})


def bitbucketserver(req: Request, expect: Expect) -> Answer:
    """`POST /rest/api/1.0/projects/{key}/repos/{slug}/commits/{sha}/builds`, Bearer or
    basic auth: key, state, url; 204."""
    _method(req, "POST")
    _path(req, r"/rest/api/(1\.0|latest)/projects/[^/]+/repos/[^/]+/commits/[0-9a-f]{40}/builds")
    data = _token_or_basic(req, expect, "Authentication failed")
    _string(data, "key", limit=255)
    _string(data, "state", choices=("INPROGRESS", "SUCCESSFUL", "FAILED", "CANCELLED",
                                    "UNKNOWN"))
    _string(data, "url")
    _string(data, "name", required=False)
    _string(data, "description", required=False)
    return Answer(204)


def azuredevops(req: Request, expect: Expect) -> Answer:
    """`POST /{org}/{project}/_apis/git/repositories/{repo}/commits/{sha}/statuses
    ?api-version=...`, basic auth with a PAT: state, context {name, genre}."""
    _method(req, "POST")
    _path(req, r"/[^/]+/[^/]+/_apis/git/repositories/[^/]+/commits/[0-9a-f]{40}/statuses")
    _need(bool(parse_qs(req.query).get("api-version")), "api-version is required")
    _auth(req, _basic("", expect.token), 203)  # Azure DevOps answers 203 with a sign-in page
    data = _json(req)
    _string(data, "state", choices=("notSet", "pending", "succeeded", "failed", "error",
                                    "notApplicable"))
    context = data.get("context")
    _need(isinstance(context, dict), "context is required")
    _string(context, "name")
    _string(context, "genre", required=False)
    _string(data, "description", required=False)
    return Answer(201, {"id": 1, "state": data["state"]})


# --- pull (merge) request comments ----------------------------------------------------------


def _comment_body(req: Request, limit: int) -> None:
    data = _json(req)
    _string(data, "body", limit=limit)
    _need(set(data) <= {"body", "internal"}, f"unexpected fields {sorted(set(data) - {'body'})}",
          422)


def githubpullrequestcomment(req: Request, expect: Expect) -> Answer:
    """Issue comments (a pull request is an issue): `GET|POST /api/v3/repos/{owner}/{repo}/
    issues/{number}/comments` (body, at most 65536 characters), `PATCH .../issues/comments/
    {id}`; none exist here, so the list is empty."""
    _user_agent(req)
    _need(req.header("Authorization") in (f"Bearer {expect.token}", f"token {expect.token}"),
          "Bad credentials", 401)
    if req.method == "GET":
        _path(req, r"/api/v3/repos/[^/]+/[^/]+/issues/[0-9]+/comments")
        return Answer(200, [])
    if req.method == "PATCH":
        _path(req, r"/api/v3/repos/[^/]+/[^/]+/issues/comments/[0-9]+")
        _comment_body(req, 65536)
        return Answer(200, {"id": 1})
    _method(req, "POST")
    _path(req, r"/api/v3/repos/[^/]+/[^/]+/issues/[0-9]+/comments")
    _comment_body(req, 65536)
    return Answer(201, {"id": 1})


def gitlabmergerequestcomment(req: Request, expect: Expect) -> Answer:
    """Merge request notes: `GET|POST /api/v4/projects/{id or url-encoded path}/
    merge_requests/{iid}/notes` (body, at most 1000000 characters), `PUT .../notes/{id}`,
    `PRIVATE-TOKEN`; none exist here."""
    _need(req.header("PRIVATE-TOKEN") == expect.token, "401 Unauthorized", 401)
    notes = r"/api/v4/projects/[^/]+/merge_requests/[0-9]+/notes"
    if req.method == "GET":
        _path(req, notes)
        return Answer(200, [])
    if req.method == "PUT":
        _path(req, notes + r"/[0-9]+")
        _comment_body(req, 1_000_000)
        return Answer(200, {"id": 1})
    _method(req, "POST")
    _path(req, notes)
    _comment_body(req, 1_000_000)
    return Answer(201, {"id": 1})


def zulip(req: Request, expect: Expect) -> Answer:
    """`POST /api/v1/messages`, basic auth (the bot's e-mail and API key), form-encoded:
    type (stream/channel/direct/private), to, topic (at most 60), content (at most 10000
    bytes)."""
    _method(req, "POST")
    _path(req, r"/api/v1/messages")
    _auth(req, _basic(expect.username, expect.password))
    _need(req.header("Content-Type").startswith("application/x-www-form-urlencoded"),
          "the body must be form-encoded")
    form = {k: v[0] for k, v in parse_qs(req.body.decode(), keep_blank_values=True).items()}
    _need(form.get("type") in ("stream", "channel", "direct", "private"),
          "Invalid message type")
    _need(form.get("to") == expect.channel.partition("/")[0], "Invalid channel")
    _need(0 < len(form.get("topic", "")) <= 60, "Topic is required (at most 60 characters)")
    _need(0 < len(form.get("content", "").encode()) <= 10000, "Message must not be empty "
          "(at most 10000 bytes)")
    return Answer(200, {"result": "success", "msg": "", "id": 42})


def otel(req: Request, expect: Expect) -> Answer:
    """OTLP/HTTP `POST /v1/traces` with the JSON encoding: resourceSpans[].scopeSpans[].
    spans[] each with a 32-hex traceId (not all zero), a 16-hex spanId, a name and a start
    time; basic auth when a user is expected."""
    _method(req, "POST")
    _path(req, r"/v1/traces")
    if expect.username:
        _auth(req, _basic(expect.username, expect.password))
    _need(req.header("Content-Type").startswith("application/json"),
          "Content-Type must be application/json (or protobuf)", 415)
    data = _json(req)
    resource_spans = data.get("resourceSpans")
    _need(isinstance(resource_spans, list) and bool(resource_spans), "resourceSpans is empty")
    for resource in resource_spans:
        for scope in resource.get("scopeSpans") or ():
            for span in scope.get("spans") or ():
                _need(bool(re.fullmatch(r"[0-9a-f]{32}", str(span.get("traceId"))))
                      and set(str(span["traceId"])) != {"0"}, "invalid traceId")
                _need(bool(re.fullmatch(r"[0-9a-f]{16}", str(span.get("spanId")))),
                      "invalid spanId")
                _string(span, "name")
                _need(str(span.get("startTimeUnixNano", "")).isdigit(),
                      "startTimeUnixNano is required")
    return Answer(200, {})


# --- generic (for the TLS and proxy cases) -------------------------------------------------


def generic(req: Request, expect: Expect) -> Answer:
    """Flux's event JSON, `Gotk-Component`."""
    _method(req, "POST")
    _need(bool(req.header("Gotk-Component")), "Gotk-Component is missing")
    data = _json(req)
    _need(isinstance(data.get("involvedObject"), dict), "involvedObject is required")
    _string(data, "message")
    return Answer(200)


Rule = Callable[[Request, Expect], Answer]

RULES: dict[str, Rule] = {
    "slack": slack, "discord": discord, "rocket": rocket, "msteams": msteams,
    "googlechat": googlechat, "webex": webex, "telegram": telegram, "matrix": matrix,
    "lark": lark, "opsgenie": opsgenie, "pagerduty": pagerduty, "datadog": datadog,
    "sentry": sentry, "grafana": grafana, "githubdispatch": githubdispatch, "github": github,
    "gitlab": gitlab, "gitea": gitea, "bitbucket": bitbucket,
    "bitbucketserver": bitbucketserver, "azuredevops": azuredevops, "generic": generic,
    "githubpullrequestcomment": githubpullrequestcomment,
    "gitlabmergerequestcomment": gitlabmergerequestcomment, "zulip": zulip, "otel": otel,
}


def check(kind: str, req: Request, expect: Expect) -> Answer:
    """The answer `kind`'s service gives `req`; `Rejected` if it does not accept it."""
    return RULES[kind](req, expect)
