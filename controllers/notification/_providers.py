"""The request each Provider type sends for an event. Pure: `build_request(config, event)`
returns an `OutgoingRequest` (method, URL, headers, body) that the sender (`_sender`)
performs; nothing here does I/O.

`ProviderConfig` is the Provider's spec merged with its Secret (`address`, `token`,
`username`, `password`, `headers`; the Secret's address wins over spec.address). Every
secret value is listed in `OutgoingRequest.secrets`, so whatever reports an error can
redact it.

Commit status types (github, gitlab, gitea, bitbucket, bitbucketserver, azuredevops) live
in `_commitstatus`; they need the event's revision and skip events without one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ._nats import NatsAuth, NatsError, parse_creds

__all__ = [
    "BUILDERS",
    "UNSUPPORTED",
    "ConfigError",
    "all_builders",
    "OutgoingRequest",
    "NatsTarget",
    "ProviderConfig",
    "SkipEvent",
    "Unchanged",
    "Upsert",
    "build_request",
    "display_metadata",
    "markdown_post",
    "object_title",
]

FLUX_AVATAR = "https://avatars.githubusercontent.com/u/52158677"


class ConfigError(ValueError):
    """The Provider cannot send: something in its spec or Secret is missing or wrong."""


class SkipEvent(Exception):  # noqa: N818 - a signal, not a failure
    """This Provider type has nothing to send for this event (e.g. no revision)."""


@dataclass(frozen=True)
class ProviderConfig:
    type: str
    address: str = ""
    channel: str = ""
    username: str = ""
    token: str = ""
    password: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    uid: str = ""  # the Provider's metadata.uid (commit status keys)
    address_from_secret: bool = False  # a webhook URL from a Secret is a secret too
    #: the Alert the event goes through (its body; otel names its service after it) and the
    #: Provider's body: what spec.commitStatusExpr sees besides the event
    alert: Mapping[str, Any] = field(default_factory=dict)
    provider: Mapping[str, Any] = field(default_factory=dict)
    commit_status_expr: str = ""
    creds: str = ""  # nats: a .creds file (user JWT and NKey seed)
    nkey: str = ""  # nats: a user NKey seed

    @property
    def alert_ident(self) -> tuple[str, str, str]:
        """The Alert's (namespace, name, uid)."""
        meta = self.alert.get("metadata") or {}
        return (str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                str(meta.get("uid") or ""))

    @property
    def secrets(self) -> tuple[str, ...]:
        values = [self.token, self.password, self.creds, self.nkey, *self.headers.values()]
        if self.address_from_secret:
            values.append(self.address)
        try:  # a password in the address (`nats://user:pw@host`), even in spec.address
            values.append(unquote(urlsplit(self.address).password or ""))
        except ValueError:
            pass
        return tuple(v for v in values if v)


@dataclass(frozen=True)
class Unchanged:
    """Skip the request when the service already shows the same thing: GET `url` (with the
    request's headers), take the JSON list at `field` of the answer, find the first entry
    with every `match` item; if it also has every `same` item, nothing is sent. (A commit
    status whose state and description did not change is not posted again, as Flux's.)"""

    url: str
    field: str
    match: Mapping[str, str]
    same: Mapping[str, str]

    def holds(self, answer: Any) -> bool:
        entries = answer.get(self.field) if isinstance(answer, dict) else None
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and all(entry.get(k) == v for k, v in self.match.items()):
                return all(entry.get(k) == v for k, v in self.same.items())
        return False


@dataclass(frozen=True)
class Upsert:
    """Update the service's existing entry instead of adding another (a pull request comment
    that Flux keeps one of per object): GET `list_url` (with the request's headers), find the
    first entry of the JSON list whose `text_field` contains `marker`, and send the request's
    body with `edit_method` to `edit_url` with `{id}` replaced by that entry's `id`; when no
    entry has the marker, the request is sent as it is (it creates one)."""

    list_url: str
    marker: str
    edit_url: str
    edit_method: str = "PATCH"
    text_field: str = "body"

    def existing(self, answer: Any) -> str | None:
        """The id of the entry that carries the marker in `answer` (the list), or None."""
        for entry in answer if isinstance(answer, list) else ():
            if isinstance(entry, dict) and self.marker in str(entry.get(self.text_field) or ""):
                return str(entry.get("id"))
        return None


@dataclass(frozen=True)
class NatsTarget:
    """A publish instead of an HTTP request: the subject and the credentials."""

    subject: str
    auth: NatsAuth


@dataclass(frozen=True)
class OutgoingRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None
    secrets: tuple[str, ...] = ()
    #: services that answer some errors with 200: the JSON field that says it went well and
    #: its value on success (Slack's Web API: ("ok", True); Lark: ("code", 0))
    success: tuple[str, Any] | None = None
    #: what makes this request unnecessary (see `Unchanged`)
    unless: Unchanged | None = None
    #: the existing entry this request updates rather than duplicates (see `Upsert`)
    upsert: Upsert | None = None
    #: a NATS publish (method PUB, url the server) rather than an HTTP request
    nats: NatsTarget | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=False).encode()


def object_title(event: Mapping[str, Any]) -> str:
    """`kustomization/webapp.apps`: how messages name the object, as Flux's do."""
    inv = event.get("involvedObject") or {}
    return f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}.{inv.get('namespace', '')}"


def _metadata(event: Mapping[str, Any]) -> dict[str, str]:
    return dict(event.get("metadata") or {})


def _is_error(event: Mapping[str, Any]) -> bool:
    return event.get("severity") == "error"


def _require_address(config: ProviderConfig) -> str:
    if not config.address:
        raise ConfigError(f"a {config.type} Provider needs an address (spec.address or the "
                          "Secret's 'address' key)")
    return config.address


def _require_token(config: ProviderConfig, what: str = "token") -> str:
    if not config.token:
        raise ConfigError(f"a {config.type} Provider needs a {what} in the Secret's 'token' key")
    return config.token


def _json_request(config: ProviderConfig, url: str, payload: Any,
                  headers: Mapping[str, str] | None = None, method: str = "POST",
                  success: tuple[str, Any] | None = None) -> OutgoingRequest:
    all_headers = {"Content-Type": "application/json", **(headers or {}), **config.headers}
    return OutgoingRequest(method, url, all_headers, _dumps(payload), config.secrets, success)


def _clip(text: Any, limit: int) -> str:
    """`text` cut to `limit` characters (with an ellipsis when cut): services refuse longer."""
    value = str(text or "")
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# --- generic ----------------------------------------------------------------------------


def _generic(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    headers = {"Gotk-Component": str(event.get("reportingController") or "")}
    return _json_request(config, _require_address(config), dict(event), headers)


def hmac_signature(token: str, body: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}=" + hmac.new(token.encode(), body, algorithm).hexdigest()


def _generic_hmac(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    token = _require_token(config, "HMAC key")
    request = _generic(config, event)
    assert request.body is not None
    headers = {**request.headers, "X-Signature": hmac_signature(token, request.body)}
    return OutgoingRequest(request.method, request.url, headers, request.body, request.secrets)


# --- chat ---------------------------------------------------------------------------------


def _slack_payload(config: ProviderConfig, event: Mapping[str, Any]) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "color": "danger" if _is_error(event) else "good",
        "author_name": object_title(event),
        "text": event.get("message", ""),
        "mrkdwn_in": ["text"],
    }
    metadata = _metadata(event)
    if metadata:
        attachment["fields"] = [{"title": k, "value": v, "short": False}
                                for k, v in sorted(metadata.items())]
    payload: dict[str, Any] = {
        "username": config.username or str(event.get("reportingController") or "flux"),
        "icon_url": FLUX_AVATAR,
        "attachments": [attachment],
    }
    if config.channel:
        payload["channel"] = config.channel
    return payload


def _slack(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    if not config.token:  # an incoming webhook: the URL is the credential
        return _json_request(config, _require_address(config), _slack_payload(config, event))
    # a bot token: the Web API (chat.postMessage), which needs a channel and answers errors
    # with 200 and {"ok": false}
    if not config.channel:
        raise ConfigError("a slack Provider with a bot token posts through chat.postMessage, "
                          "which needs the channel in spec.channel")
    return _json_request(config, _require_address(config), _slack_payload(config, event),
                         _bearer(config.token), success=("ok", True))


def _rocket(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    return _json_request(config, _require_address(config), _slack_payload(config, event))


def _discord(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    # Discord's Slack-compatible endpoint: the webhook URL + /slack
    parts = urlsplit(_require_address(config))
    path = parts.path if parts.path.endswith("/slack") else parts.path.rstrip("/") + "/slack"
    payload = _slack_payload(config, event)
    payload.pop("icon_url", None)
    return _json_request(config, urlunsplit(parts._replace(path=path)), payload)


def _facts(event: Mapping[str, Any], name: str = "name") -> list[dict[str, str]]:
    return [{name: k, "value": v} for k, v in sorted(_metadata(event).items())]


def _msteams(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    address = _require_address(config)
    title = object_title(event)
    if (urlsplit(address).hostname or "").endswith(".webhook.office.com"):
        payload: dict[str, Any] = {  # the legacy Office 365 connector's MessageCard
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "themeColor": "FF0000" if _is_error(event) else "0076D7",
            "summary": title,
            "sections": [{"activityTitle": title, "activitySubtitle": event.get("message", ""),
                          "facts": _facts(event)}],
        }
    else:  # a Workflows webhook: an Adaptive Card in a message
        body: list[dict[str, Any]] = [
            {"type": "TextBlock", "text": title, "weight": "bolder", "size": "medium",
             "wrap": True, "color": "attention" if _is_error(event) else "good"},
            {"type": "TextBlock", "text": event.get("message", ""), "wrap": True},
        ]
        if _metadata(event):
            body.append({"type": "FactSet", "facts": _facts(event, "title")})
        payload = {"type": "message", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard", "version": "1.4", "body": body},
        }]}
    return _json_request(config, address, payload)


def _text(event: Mapping[str, Any], bold: str = "*") -> str:
    lines = [f"{bold}{object_title(event)}{bold}", str(event.get("message", ""))]
    lines += [f"{k}: {v}" for k, v in sorted(_metadata(event).items())]
    return "\n".join(lines)


def _googlechat(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    widgets: list[dict[str, Any]] = [{"textParagraph": {"text": event.get("message", "")}}]
    widgets += [{"decoratedText": {"topLabel": k, "text": v}}
                for k, v in sorted(_metadata(event).items())]
    payload = {"cardsV2": [{"cardId": "flux", "card": {
        "header": {"title": object_title(event),
                   "subtitle": str(event.get("reportingController") or "")},
        "sections": [{"widgets": widgets}],
    }}]}
    return _json_request(config, _require_address(config), payload)


def _webex(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    if not config.channel:
        raise ConfigError("a webex Provider needs the room id in spec.channel")
    payload = {"roomId": config.channel, "markdown": _text(event, "**")}
    return _json_request(config, _require_address(config), payload,
                         _bearer(_require_token(config, "bot token")))


def _telegram(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    if not config.channel:
        raise ConfigError("a telegram Provider needs the chat id in spec.channel")
    token = _require_token(config, "bot token")
    base = (config.address or "https://api.telegram.org").rstrip("/")
    payload = {"chat_id": config.channel, "text": _clip(_text(event, ""), 4096)}
    return _json_request(config, f"{base}/bot{token}/sendMessage", payload)


def _matrix(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    if not config.channel:
        raise ConfigError("a matrix Provider needs the room id in spec.channel")
    token = _require_token(config, "access token")
    body = _dumps({"msgtype": "m.text", "body": _text(event, "")})
    # the transaction id makes a retry idempotent; the event's time keeps a later repeat of
    # the same message (after the rate-limit window) from being taken for that retry
    txn = hashlib.sha256(body + str(event.get("timestamp") or "").encode()).hexdigest()[:32]
    url = (f"{_require_address(config).rstrip('/')}/_matrix/client/v3/rooms/"
           f"{quote(config.channel, safe='')}/send/m.room.message/{txn}")
    headers = {"Content-Type": "application/json", **_bearer(token), **config.headers}
    return OutgoingRequest("PUT", url, headers, body, config.secrets)


def _lark(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    payload = {"msg_type": "interactive", "card": {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": object_title(event)},
                   "template": "red" if _is_error(event) else "green"},
        "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": _text(event, "**")}}],
    }}
    return _json_request(config, _require_address(config), payload, success=("code", 0))


# --- incident and observability services ---------------------------------------------------


def _opsgenie(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    payload = {
        "message": f"{object_title(event)}: {event.get('reason', '')}"[:130],
        "description": event.get("message", ""),
        "details": _metadata(event),
        "priority": "P1" if _is_error(event) else "P5",
        "tags": [_clip(t, 50) for t in ("flux", str((event.get("involvedObject") or {}).get(
            "kind", ""))) if t],
    }
    return _json_request(config, _require_address(config), payload,
                         {"Authorization": f"GenieKey {_require_token(config, 'API key')}"})


def _pagerduty(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    if not config.channel:
        raise ConfigError("a pagerduty Provider needs the integration (routing) key in "
                          "spec.channel")
    inv = event.get("involvedObject") or {}
    dedup = f"{inv.get('kind', '')}/{inv.get('namespace', '')}/{inv.get('name', '')}"
    payload: dict[str, Any] = {
        "routing_key": config.channel,
        "event_action": "trigger" if _is_error(event) else "resolve",
        "dedup_key": dedup,
    }
    if _is_error(event):
        payload["payload"] = {
            "summary": f"{object_title(event)}: {event.get('message', '')}"[:1024],
            "source": str(event.get("reportingController") or "flux"),
            "severity": "error",
            "component": str(inv.get("name", "")),
            "group": str(inv.get("namespace", "")),
            "class": str(inv.get("kind", "")),
            "custom_details": _metadata(event),
        }
        if event.get("timestamp"):
            payload["payload"]["timestamp"] = str(event["timestamp"])
    base = (config.address or "https://events.pagerduty.com").rstrip("/")
    return _json_request(config, f"{base}/v2/enqueue", payload)


def _datadog(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    inv = event.get("involvedObject") or {}
    tags = [f"flux_reporting_controller:{event.get('reportingController', '')}",
            f"flux_involved_object_kind:{inv.get('kind', '')}",
            f"flux_involved_object_name:{inv.get('name', '')}",
            f"flux_involved_object_namespace:{inv.get('namespace', '')}",
            f"flux_reason:{event.get('reason', '')}"]
    tags += [f"{k}:{v}" for k, v in sorted(_metadata(event).items())]
    payload = {"title": _clip(object_title(event), 100),
               "text": _clip(event.get("message", ""), 4000), "tags": tags,
               "alert_type": "error" if _is_error(event) else "info",
               "source_type_name": "fluxcd"}
    base = _require_address(config).rstrip("/")
    return _json_request(config, f"{base}/api/v1/events", payload,
                         {"DD-API-KEY": _require_token(config, "API key")})


def label_name(key: str) -> str:
    """`key` as a Prometheus label name: every character outside [a-zA-Z0-9_] is `_`, and
    a leading digit gets a `_` before it."""
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return f"_{name}" if name[:1].isdigit() else name or "_"


def _label_value(text: str) -> str:
    return text[:1024]


def _alertmanager(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    inv = event.get("involvedObject") or {}
    reason = str(event.get("reason") or "")
    labels = {
        "alertname": "Flux" + str(inv.get("kind", "")) + reason[:1].upper() + reason[1:],
        "severity": str(event.get("severity") or "info"),
        "reason": reason,
        "kind": str(inv.get("kind", "")),
        "name": str(inv.get("name", "")),
        "namespace": str(inv.get("namespace", "")),
        "reportingcontroller": str(event.get("reportingController") or ""),
    }
    # Alertmanager takes only label names ([a-zA-Z_][a-zA-Z0-9_]*) as label and annotation
    # keys: metadata keys become annotations with the other characters as `_` (the
    # notification's keys are mostly plain already: `revision`; an Alert's `team.io/x`
    # -> `team_io_x`)
    annotations = {"message": str(event.get("message") or ""),
                   **{label_name(k): v for k, v in _metadata(event).items()}}
    starts = _parse_time(event.get("timestamp"))
    payload = [{
        "labels": {k: _label_value(v) for k, v in labels.items() if v},
        "annotations": annotations,
        "startsAt": _format_time(starts),
        "endsAt": _format_time(starts + timedelta(hours=1)),
    }]
    auth = _bearer(config.token)
    return _json_request(config, _require_address(config), payload, auth)


def _parse_time(text: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def _format_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _grafana(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    inv = event.get("involvedObject") or {}
    tags = ["flux", str(event.get("reportingController") or ""), str(inv.get("kind", "")),
            str(inv.get("name", "")), str(inv.get("namespace", ""))]
    tags += [f"{k}: {v}" for k, v in sorted(_metadata(event).items())]
    payload = {"time": int(_parse_time(event.get("timestamp")).timestamp() * 1000),
               "text": f"{object_title(event)}: {event.get('message', '')}",
               "tags": [t for t in tags if t]}
    headers = _bearer(config.token)
    if not headers and config.username:
        import base64  # noqa: PLC0415 - only here

        creds = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        headers = {"Authorization": f"Basic {creds}"}
    return _json_request(config, _require_address(config), payload, headers)


def sentry_dsn(dsn: str) -> tuple[str, str, str]:
    """(base URL, public key, project id) of a Sentry DSN
    `https://<public key>@<host>[/<path>]/<project id>`."""
    parts = urlsplit(dsn)
    path, _, project = parts.path.rstrip("/").rpartition("/")
    if parts.scheme not in ("http", "https") or not parts.username or not project.isdigit():
        raise ConfigError("a sentry Provider's address must be the project's DSN, "
                          "https://<key>@<host>/<project id>")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return f"{parts.scheme}://{netloc}{path}", parts.username, project


def _sentry(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    """An event in an envelope to the DSN's project (`POST /api/<project>/envelope/`); the
    level is the event's severity, spec.channel the environment; the object and reason are
    tags (keys of at most 32 characters), the metadata goes in `extra`."""
    base, key, project = sentry_dsn(_require_address(config))
    inv = event.get("involvedObject") or {}
    payload: dict[str, Any] = {
        "timestamp": _format_time(_parse_time(event.get("timestamp"))),
        "platform": "other",
        "level": "error" if _is_error(event) else "info",
        "logger": str(event.get("reportingController") or "flux"),
        "message": _clip(f"{object_title(event)}: {event.get('message', '')}", 8192),
        "tags": {k: _clip(v, 200) for k, v in {
            "flux_kind": str(inv.get("kind", "")), "flux_name": str(inv.get("name", "")),
            "flux_namespace": str(inv.get("namespace", "")),
            "flux_reason": str(event.get("reason") or "")}.items() if v},
        "extra": _metadata(event),
    }
    if config.channel:
        payload["environment"] = config.channel
    # a stable id: a retry of the same event is the same Sentry event
    payload["event_id"] = hashlib.sha256(_dumps(payload)).hexdigest()[:32]
    item = _dumps(payload)
    body = b"\n".join([_dumps({"event_id": payload["event_id"]}),
                       _dumps({"type": "event", "length": len(item)}), item]) + b"\n"
    headers = {"Content-Type": "application/x-sentry-envelope",
               "X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={key}, "
                                "sentry_client=afflux-notification/1.0", **config.headers}
    return OutgoingRequest("POST", f"{base}/api/{project}/envelope/", headers, body,
                           (*config.secrets, key))


def github_repo(address: str) -> tuple[str, str, str]:
    """(API base, owner, repository) of a GitHub (or GitHub Enterprise) repository URL."""
    parts = urlsplit(address)
    segments = [s for s in parts.path.strip("/").removesuffix(".git").split("/") if s]
    if parts.scheme not in ("http", "https") or len(segments) != 2:
        raise ConfigError(f"the address must be a repository URL like "
                          f"https://github.com/<owner>/<repository>, got {parts.scheme}://"
                          f"{parts.hostname}/...")
    host = parts.netloc
    api = "https://api.github.com" if host == "github.com" else f"{parts.scheme}://{host}/api/v3"
    return api, segments[0], segments[1]


def _githubdispatch(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    api, owner, repo = github_repo(_require_address(config))
    inv = event.get("involvedObject") or {}
    payload = {"event_type": f"{inv.get('kind', '')}/{inv.get('name', '')}.{inv.get('namespace', '')}",
               "client_payload": dict(event)}
    headers = {"Accept": "application/vnd.github+json", **_bearer(_require_token(config))}
    return _json_request(config, f"{api}/repos/{owner}/{repo}/dispatches", payload, headers)


# --- markdown posts: zulip and the change request comments ------------------------------

#: the event metadata key that names the pull (merge) request of the object
CHANGE_REQUEST_KEY = "event.toolkit.fluxcd.io/change_request"


def display_metadata(event: Mapping[str, Any]) -> dict[str, str]:
    """The event's metadata as people read it: keys without their `<group>/` prefix (the
    object's group or event.toolkit.fluxcd.io), the change request number left out."""
    result: dict[str, str] = {}
    for key, value in _metadata(event).items():
        if key in (CHANGE_REQUEST_KEY, "change_request"):
            continue
        group, sep, rest = key.partition("/")
        short = rest if sep and group.endswith("toolkit.fluxcd.io") else key
        result[short] = str(value)
    return result


def markdown_post(event: Mapping[str, Any]) -> str:
    """`## Flux Status`, the severity's sign with `Kind/namespace/name`, the message and
    the metadata as a list (the body Flux's zulip and comment providers post)."""
    inv = event.get("involvedObject") or {}
    sign = "\u26a0\ufe0f" if _is_error(event) else "\u2139\ufe0f"
    lines = "".join(f"* `{k}`: {v}\n" for k, v in sorted(display_metadata(event).items()))
    return (f"## Flux Status\n\n{sign} {inv.get('kind', '')}/{inv.get('namespace', '')}/"
            f"{inv.get('name', '')}\n\n{event.get('message', '')}\n\nMetadata:\n{lines}")


def _zulip(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    """`POST /api/v1/messages` (form-encoded: type stream, to, topic, content), basic auth
    with the bot's e-mail and API key; spec.channel is `<channel>/<topic>`."""
    from urllib.parse import urlencode  # noqa: PLC0415 - only here

    channel, _, topic = config.channel.partition("/")
    if not channel or not topic:
        raise ConfigError("a zulip Provider needs spec.channel as <channel>/<topic>, e.g. "
                          "general/alerts")
    parts = urlsplit(_require_address(config))
    url = urlunsplit(parts._replace(path="/api/v1/messages", query="", fragment=""))
    body = urlencode({"type": "stream", "to": channel, "topic": topic,
                      "content": markdown_post(event)}).encode()
    headers: dict[str, str] = {"Content-Type": "application/x-www-form-urlencoded"}
    if config.username or config.password:
        import base64  # noqa: PLC0415

        creds = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        headers["Authorization"] = f"Basic {creds}"
    return OutgoingRequest("POST", url, {**headers, **config.headers}, body, config.secrets)




def trace_revision(event: Mapping[str, Any]) -> str:
    """What ties an Alert's spans into one trace: `<app-version>@<oci-digest>` for a Helm
    chart from OCI, else the revision, else `unknown`."""
    meta = display_metadata(event)
    if meta.get("oci-digest") and meta.get("app-version"):
        return f"{meta['app-version']}@{meta['oci-digest']}"
    return meta.get("revision") or "unknown"


def _otel_value(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _otel(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    """One span per event, OTLP/HTTP with the JSON encoding (`POST <address>`, or
    `<address>/v1/traces` when the address has no path). The trace id is the first 16 bytes
    of sha256(`<Alert uid>:<revision>`), so every event of one revision through one Alert
    lands in one trace; the resource is the Alert (service.name `<namespace>/<name>`).
    HelmRepository events are skipped, as Flux's."""
    inv = event.get("involvedObject") or {}
    if inv.get("kind") == "HelmRepository":
        raise SkipEvent("HelmRepository events are not traced")
    namespace, name, uid = config.alert_ident
    trace_id = hashlib.sha256(f"{uid}:{trace_revision(event)}".encode()).hexdigest()[:32]
    started = _parse_time(event.get("timestamp"))
    nanos = str(int(started.timestamp()) * 1_000_000_000)
    span_name = f"{inv.get('kind', '')}: {inv.get('namespace', '')}/{inv.get('name', '')}"
    span_id = hashlib.sha256(f"{trace_id}:{span_name}:{event.get('timestamp')}:"
                             f"{event.get('message')}".encode()).hexdigest()[:16]
    attributes = [_otel_value("object.uid", str(inv.get("uid") or "")),
                  _otel_value("object.kind", str(inv.get("kind") or "")),
                  _otel_value("object.name", str(inv.get("name") or "")),
                  _otel_value("object.namespace", str(inv.get("namespace") or ""))]
    attributes += [_otel_value(k, v) for k, v in sorted(display_metadata(event).items())]
    span = {"traceId": trace_id, "spanId": span_id, "name": span_name, "kind": 1,
            "startTimeUnixNano": nanos, "endTimeUnixNano": nanos, "attributes": attributes,
            "status": {"code": 2 if _is_error(event) else 1,
                       "message": str(event.get("message") or "")}}
    resource = {"attributes": [_otel_value("service.name", f"{namespace}/{name}"),
                               _otel_value("service.namespace", namespace),
                               _otel_value("service.instance.id", uid)]}
    payload = {"resourceSpans": [{"resource": resource, "scopeSpans": [
        {"scope": {"name": "flux:notification-controller"}, "spans": [span]}]}]}
    parts = urlsplit(_require_address(config))
    url = urlunsplit(parts._replace(path="/v1/traces")) if parts.path in ("", "/") else (
        config.address)
    headers: dict[str, str] = {}
    if config.username and config.password:
        import base64  # noqa: PLC0415

        creds = base64.b64encode(f"{config.username}:{config.password}".encode()).decode()
        headers["Authorization"] = f"Basic {creds}"
    elif config.password or config.token:
        headers["Authorization"] = f"Bearer {config.password or config.token}"
    return _json_request(config, url, payload, headers)


def _nats(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    """The event's JSON published on the subject spec.channel of the NATS server at the
    address; credentials from the Secret's `creds`, else `nkey`, else `username` and
    `password` (or a user:password in the address)."""
    address = _require_address(config)
    subject = config.channel.strip()
    if not subject or any(c.isspace() for c in subject):
        raise ConfigError("a nats Provider needs the subject in spec.channel (no spaces)")
    jwt, seed = "", config.nkey.strip()
    if config.creds:
        try:
            jwt, seed = parse_creds(config.creds)
        except NatsError as err:
            raise ConfigError(str(err)) from None
    target = NatsTarget(subject, NatsAuth("" if seed else config.username,
                                          "" if seed else config.password, seed, jwt))
    return OutgoingRequest("PUB", address, {}, _dumps(dict(event)), config.secrets,
                           nats=target)


Builder = Callable[[ProviderConfig, Mapping[str, Any]], OutgoingRequest]

#: types Flux has that afflux does not send to, and why (a Provider of one stalls with this)
UNSUPPORTED: dict[str, str] = {
    "azureeventhub": "Event Hubs needs AMQP or Azure AD/SAS-signed HTTPS that cannot be tested "
                     "here against the real service; it is not implemented",
    "googlepubsub": "Pub/Sub needs Google service-account OAuth (signed JWTs exchanged at "
                    "Google's token endpoint), which cannot be tested here; it is not "
                    "implemented",
}

BUILDERS: dict[str, Builder] = {
    "generic": _generic,
    "generic-hmac": _generic_hmac,
    "slack": _slack,
    "rocket": _rocket,
    "discord": _discord,
    "msteams": _msteams,
    "googlechat": _googlechat,
    "webex": _webex,
    "telegram": _telegram,
    "matrix": _matrix,
    "lark": _lark,
    "opsgenie": _opsgenie,
    "pagerduty": _pagerduty,
    "datadog": _datadog,
    "alertmanager": _alertmanager,
    "grafana": _grafana,
    "sentry": _sentry,
    "githubdispatch": _githubdispatch,
    "zulip": _zulip,
    "otel": _otel,
    "nats": _nats,
}


def all_builders() -> dict[str, Builder]:
    """Every type afflux sends to, with its builder."""
    from ._comments import CHANGE_REQUEST_BUILDERS  # noqa: PLC0415 - avoids a cycle
    from ._commitstatus import COMMIT_STATUS_BUILDERS  # noqa: PLC0415

    return {**BUILDERS, **COMMIT_STATUS_BUILDERS, **CHANGE_REQUEST_BUILDERS}


def build_request(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    """The request `config`'s type sends for `event`; `ConfigError` if it cannot,
    `SkipEvent` if the type has nothing to send for this event."""
    builder = all_builders().get(config.type)
    if builder is None:
        why = UNSUPPORTED.get(config.type)
        raise ConfigError(f"provider type {config.type!r} is not supported by afflux yet"
                          + (f": {why}" if why else ""))
    return builder(config, event)
