"""Commit status Providers: the event's revision names the commit, and the status key is
stable per object (`<kind>/<name>/<first group of the Provider's uid>`, lower case, as
Flux's, or what spec.commitStatusExpr makes of the event, the Provider and the Alert), so a later event updates the status instead of adding another. Pure, no I/O. github and
gitea statuses carry an `Unchanged` check: when the commit's combined status already shows
the key with the same state and description, nothing is posted (as Flux's).

| type            | request                                                                      |
| --------------- | ---------------------------------------------------------------------------- |
| github          | POST {api}/repos/{owner}/{repo}/statuses/{sha}, Bearer token                 |
| gitlab          | POST {host}/api/v4/projects/{url-encoded path}/statuses/{sha}, PRIVATE-TOKEN |
| gitea           | POST {host}/api/v1/repos/{owner}/{repo}/statuses/{sha}, `token` auth         |
| bitbucket       | POST api.bitbucket.org/2.0/repositories/{ws}/{repo}/commit/{sha}/statuses/build (another host than bitbucket.org: that host), basic auth from `username:app-password` in the token |
| bitbucketserver | POST {host}/rest/api/1.0/projects/{key}/repos/{repo}/commits/{sha}/builds, Bearer token or basic auth |
| azuredevops     | POST dev.azure.com/{org}/{project}/_apis/git/repositories/{repo}/commits/{sha}/statuses?api-version=6.0, basic auth with the PAT |
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlsplit

from ._cel import CELError, compile_expression, evaluate
from ._event import revision_of
from ._providers import (
    Builder,
    ConfigError,
    OutgoingRequest,
    ProviderConfig,
    SkipEvent,
    Unchanged,
    _json_request,
    _require_address,
    _require_token,
    github_repo,
)

__all__ = ["COMMIT_STATUS_BUILDERS", "COMMIT_STATUS_VARIABLES", "commit_of", "expression_key",
           "status_key"]

_SHA = re.compile(r"(?:^|[@/:])([0-9a-f]{40}|[0-9a-f]{64})$")


def commit_of(revision: str) -> str:
    """The commit SHA of a revision: `main@sha1:<hex>`, `sha1:<hex>`, `main/<hex>`, `<hex>`."""
    match = _SHA.search(revision.strip())
    if not match:
        raise SkipEvent(f"revision {revision!r} names no commit")
    return match.group(1)


def status_key(config: ProviderConfig, event: Mapping[str, Any]) -> str:
    """The commit status's key: spec.commitStatusExpr's string (CEL over `event`,
    `provider` and `alert`) when set, else `<kind>/<name>/<uid prefix>`."""
    if config.commit_status_expr:
        return expression_key(config, event)
    inv = event.get("involvedObject") or {}
    uid = config.uid.split("-", 1)[0]
    return f"{inv.get('kind', '')}/{inv.get('name', '')}/{uid}".lower()


COMMIT_STATUS_VARIABLES = ("event", "provider", "alert")


def expression_key(config: ProviderConfig, event: Mapping[str, Any]) -> str:
    """spec.commitStatusExpr's value for this event; `ConfigError` when it does not compile,
    fails, or gives something other than a non-empty string."""
    try:
        program = compile_expression(config.commit_status_expr, COMMIT_STATUS_VARIABLES)
        value = evaluate(program, {"event": dict(event), "provider": dict(config.provider),
                                   "alert": dict(config.alert)})
    except CELError as err:
        raise ConfigError(f"spec.commitStatusExpr: {err}") from None
    if not isinstance(value, str) or not value:
        raise ConfigError("spec.commitStatusExpr must give a non-empty string")
    return str(value)


def _commit(event: Mapping[str, Any]) -> str:
    revision = revision_of(event)
    if not revision:
        raise SkipEvent("the event carries no revision")
    return commit_of(revision)


def _description(event: Mapping[str, Any], limit: int = 140) -> str:
    text = str(event.get("message") or "").splitlines()[0] if event.get("message") else ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _success(event: Mapping[str, Any]) -> bool:
    return event.get("severity") != "error"


def _repo_path(address: str, parts_wanted: int | None = 2) -> tuple[str, list[str]]:
    parts = urlsplit(address)
    segments = [s for s in parts.path.strip("/").removesuffix(".git").split("/") if s]
    if parts.scheme not in ("http", "https") or not parts.netloc or (
            parts_wanted is not None and len(segments) != parts_wanted) or not segments:
        raise ConfigError("the address must be the repository's http(s) URL "
                          f"({parts_wanted or 'two or more'} path segments)")
    return f"{parts.scheme}://{parts.netloc}", segments


def _unless_same(request: OutgoingRequest, combined_url: str, state_field: str
                 ) -> OutgoingRequest:
    """`request`, skipped when the commit's combined status (the newest status per context)
    already has this context with the same state and description."""
    payload = request.json()
    unless = Unchanged(combined_url, "statuses", {"context": payload["context"]},
                       {state_field: payload["state"], "description": payload["description"]})
    return replace(request, unless=unless)


def _github(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    api, owner, repo = github_repo(_require_address(config))
    sha = _commit(event)
    payload = {"state": "success" if _success(event) else "failure",
               "context": status_key(config, event), "description": _description(event)}
    headers = {"Accept": "application/vnd.github+json",
               "Authorization": f"Bearer {_require_token(config)}"}
    base = f"{api}/repos/{owner}/{repo}"
    return _unless_same(_json_request(config, f"{base}/statuses/{sha}", payload, headers),
                        f"{base}/commits/{sha}/status", "state")


def _gitlab(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    host, segments = _repo_path(_require_address(config), None)
    if len(segments) < 2:
        raise ConfigError("the address must be the project's URL, https://<host>/<group>/<project>")
    sha = _commit(event)
    project = quote("/".join(segments), safe="")
    payload = {"state": "success" if _success(event) else "failed",
               "name": status_key(config, event), "description": _description(event, 255)}
    return _json_request(config, f"{host}/api/v4/projects/{project}/statuses/{sha}", payload,
                         {"PRIVATE-TOKEN": _require_token(config)})


def _gitea(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    host, (owner, repo) = _repo_path(_require_address(config))
    sha = _commit(event)
    payload = {"state": "success" if _success(event) else "failure",
               "context": status_key(config, event), "description": _description(event)}
    base = f"{host}/api/v1/repos/{owner}/{repo}"
    request = _json_request(config, f"{base}/statuses/{sha}", payload,
                            {"Authorization": f"token {_require_token(config)}"})
    # Gitea's combined status names the state `status`
    return _unless_same(request, f"{base}/commits/{sha}/status", "status")


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _bitbucket(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    host, (workspace, repo) = _repo_path(_require_address(config))
    # bitbucket.org's API is api.bitbucket.org; any other host (a proxy, a test double)
    # serves /2.0 itself
    api = "https://api.bitbucket.org" if urlsplit(host).hostname in (
        "bitbucket.org", "www.bitbucket.org") else host
    user, sep, password = _require_token(config, "'<username>:<app password>'").partition(":")
    if not sep:
        raise ConfigError("a bitbucket Provider's token must be '<username>:<app password>'")
    sha = _commit(event)
    key = status_key(config, event)
    payload = {"state": "SUCCESSFUL" if _success(event) else "FAILED",
               # Bitbucket keys are at most 40 characters: the SHA-1 of the readable key
               "key": hashlib.sha1(key.encode()).hexdigest(),  # noqa: S324 - an id, not security
               "name": key, "description": _description(event),
               "url": f"https://bitbucket.org/{workspace}/{repo}/commits/{sha}"}
    url = f"{api}/2.0/repositories/{workspace}/{repo}/commit/{sha}/statuses/build"
    return _json_request(config, url, payload, _basic(user, password))


def _bitbucketserver(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    host, segments = _repo_path(_require_address(config), None)
    # https://<host>/scm/<project>/<repo>.git or https://<host>/projects/<project>/repos/<repo>
    if segments[:1] == ["scm"] and len(segments) == 3:
        project, repo = segments[1], segments[2]
    elif len(segments) == 4 and segments[0] == "projects" and segments[2] == "repos":
        project, repo = segments[1], segments[3]
    else:
        raise ConfigError("the address must be https://<host>/scm/<project>/<repository>.git")
    sha = _commit(event)
    if config.token:
        auth = {"Authorization": f"Bearer {config.token}"}
    elif config.username and config.password:
        auth = _basic(config.username, config.password)
    else:
        raise ConfigError("a bitbucketserver Provider needs a 'token', or 'username' and "
                          "'password', in its Secret")
    key = status_key(config, event)
    payload = {"state": "SUCCESSFUL" if _success(event) else "FAILED", "key": key, "name": key,
               "description": _description(event), "url": f"{host}/projects/{project}/repos/"
               f"{repo}/commits/{sha}"}
    url = f"{host}/rest/api/1.0/projects/{project}/repos/{repo}/commits/{sha}/builds"
    return _json_request(config, url, payload, auth)


def _azuredevops(config: ProviderConfig, event: Mapping[str, Any]) -> OutgoingRequest:
    host, segments = _repo_path(_require_address(config), 4)
    org, project, marker, repo = segments
    if marker != "_git":
        raise ConfigError("the address must be https://dev.azure.com/<org>/<project>/_git/<repo>")
    sha = _commit(event)
    payload = {"state": "succeeded" if _success(event) else "failed",
               "description": _description(event),
               "context": {"genre": "fluxcd", "name": status_key(config, event)}}
    url = (f"{host}/{org}/{project}/_apis/git/repositories/{repo}/commits/{sha}/statuses"
           "?api-version=6.0")
    return _json_request(config, url, payload, _basic("", _require_token(config, "PAT")))


COMMIT_STATUS_BUILDERS: dict[str, Builder] = {
    "github": _github,
    "gitlab": _gitlab,
    "gitea": _gitea,
    "bitbucket": _bitbucket,
    "bitbucketserver": _bitbucketserver,
    "azuredevops": _azuredevops,
}
