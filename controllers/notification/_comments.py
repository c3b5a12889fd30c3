"""Change request comment Providers: one comment per object and Provider on the pull (merge)
request that the object's `event.toolkit.fluxcd.io/change_request` annotation names (the
event metadata key of the same name), updated by every later event instead of adding
another, as Flux's. Events without that key are skipped. Pure, no I/O: each builder returns
the request that creates the comment, with an `Upsert` that finds an existing one by the
hidden marker `<!-- flux-pr-comment-key:<provider uid>/<kind>/<namespace>/<name> -->` at
the top of the body and edits it instead.

| type                      | list / create                                              | edit                                        |
| ------------------------- | ---------------------------------------------------------- | ------------------------------------------- |
| githubpullrequestcomment  | GET/POST {api}/repos/{owner}/{repo}/issues/{n}/comments    | PATCH .../issues/comments/{id}              |
| giteapullrequestcomment   | GET/POST {host}/api/v1/repos/{owner}/{repo}/issues/{n}/comments | PATCH .../issues/comments/{id}         |
| gitlabmergerequestcomment | GET/POST {host}/api/v4/projects/{path}/merge_requests/{iid}/notes | PUT .../notes/{id}                   |

The body is Flux's markdown post (`_providers.markdown_post`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

from ._providers import (
    CHANGE_REQUEST_KEY,
    Builder,
    ConfigError,
    OutgoingRequest,
    ProviderConfig,
    SkipEvent,
    Upsert,
    _json_request,
    _require_address,
    _require_token,
    github_repo,
    markdown_post,
)

__all__ = ["CHANGE_REQUEST_BUILDERS", "comment_marker", "change_request_of"]

MARKER_PREFIX = "flux-pr-comment-key"


def change_request_of(event: Mapping[str, Any]) -> int:
    """The pull (merge) request number the event's object names; `SkipEvent` without one."""
    metadata = event.get("metadata") or {}
    # `change_request` in a notification (its prefix stripped as Flux's), the full key in
    # an event as recorded
    value = str(metadata.get("change_request") or metadata.get(CHANGE_REQUEST_KEY) or "")
    if not value:
        raise SkipEvent(f"the object has no {CHANGE_REQUEST_KEY} annotation")
    if not value.strip().isdigit():
        raise SkipEvent(f"{CHANGE_REQUEST_KEY} {value!r} is not a number")
    return int(value)


def comment_marker(config: ProviderConfig, event: Mapping[str, Any]) -> str:
    inv = event.get("involvedObject") or {}
    key = f"{config.uid}/{inv.get('kind', '')}/{inv.get('namespace', '')}/{inv.get('name', '')}"
    return f"<!-- {MARKER_PREFIX}:{key} -->"


def _body(config: ProviderConfig, event: Mapping[str, Any]) -> dict[str, str]:
    return {"body": f"{comment_marker(config, event)}\n\n{markdown_post(event)}"}


def _with_upsert(request: OutgoingRequest, list_url: str, edit_url: str, config: ProviderConfig,
                 event: Mapping[str, Any], method: str = "PATCH") -> OutgoingRequest:
    return replace(request, upsert=Upsert(list_url, comment_marker(config, event), edit_url,
                                          method))


def _github(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    api, owner, repo = github_repo(_require_address(config))
    number = change_request_of(event)
    base = f"{api}/repos/{owner}/{repo}/issues"
    headers = {"Accept": "application/vnd.github+json",
               "Authorization": f"Bearer {_require_token(config)}"}
    request = _json_request(config, f"{base}/{number}/comments", _body(config, event), headers)
    return _with_upsert(request, f"{base}/{number}/comments?per_page=100",
                        f"{base}/comments/{{id}}", config, event)


def _repo(address: str, what: str) -> tuple[str, list[str]]:
    parts = urlsplit(address)
    segments = [s for s in parts.path.strip("/").removesuffix(".git").split("/") if s]
    if parts.scheme not in ("http", "https") or not parts.netloc or len(segments) < 2:
        raise ConfigError(f"the address must be the {what}'s URL, "
                          f"https://<host>/<owner>/<{what}>")
    return f"{parts.scheme}://{parts.netloc}", segments


def _gitea(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    host, segments = _repo(_require_address(config), "repository")
    if len(segments) != 2:
        raise ConfigError("the address must be the repository's URL, "
                          "https://<host>/<owner>/<repository>")
    owner, repo = segments
    number = change_request_of(event)
    base = f"{host}/api/v1/repos/{owner}/{repo}/issues"
    headers = {"Authorization": f"token {_require_token(config)}"}
    request = _json_request(config, f"{base}/{number}/comments", _body(config, event), headers)
    return _with_upsert(request, f"{base}/{number}/comments", f"{base}/comments/{{id}}",
                        config, event)


def _gitlab(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    host, segments = _repo(_require_address(config), "project")
    number = change_request_of(event)
    project = quote("/".join(segments), safe="")
    base = f"{host}/api/v4/projects/{project}/merge_requests/{number}/notes"
    headers = {"PRIVATE-TOKEN": _require_token(config)}
    request = _json_request(config, base, _body(config, event), headers)
    return _with_upsert(request, f"{base}?per_page=100", f"{base}/{{id}}", config, event,
                        "PUT")


CHANGE_REQUEST_BUILDERS: dict[str, Builder] = {
    "githubpullrequestcomment": _github,
    "giteapullrequestcomment": _gitea,
    "gitlabmergerequestcomment": _gitlab,
}
