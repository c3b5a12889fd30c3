"""`afflux bootstrap gitlab`: `bootstrap git` against a GitLab project, through GitLab's REST
API (`https://<hostname>/api/v4`, gitlab.com by default).

What Flux's `bootstrap gitlab` does around the engine (`_forge.ProviderBootstrap`):

1. the token: `$GITLAB_TOKEN` (typed at a prompt when it is unset and stdin is a terminal),
   sent in the `PRIVATE-TOKEN` header;
2. `GET /projects/<owner%2Frepository>` (the path URL-encoded); when missing the project is
   created by `POST /projects`, in the token user's namespace with `--personal` (after
   `GET /user` says it is `--owner`), else in the group `--owner` (`GET /groups/<owner>`
   gives its `namespace_id`; sub-groups as `group/sub`), with `--visibility` (private by
   default; the deprecated `--private=false` means public). An existing project is left
   alone unless `--reconcile` (then `PUT /projects/<id>` sets its visibility);
3. `--team group[:permission]` (groups only): the project is shared with each group
   (`POST /projects/<id>/share`, access level pull 10, triage 20, push 30, maintain 40 (the
   default), admin 50), unless already shared; with `--reconcile` a share with another
   level is replaced. A failure is reported, not fatal (as in Flux);
4. the cluster's SSH key becomes the deploy key `<namespace>-<branch>-<secret>-<path>`
   (`/projects/<id>/deploy_keys`, `can_push` with `--read-write-key`), replaced when the
   cluster's key or its access changed. With `--token-auth` the cluster syncs over HTTPS
   with the user `git` and the token, and no deploy key is made;
5. `--deploy-token-auth` (not with `--token-auth`): the cluster syncs over HTTPS with a
   project deploy token instead of a deploy key, named as the key would be, with the scope
   `read_repository` (`POST /projects/<id>/deploy_tokens`); its user name and value go in
   the Secret (with `ca.crt` from `--ca-file`). GitLab answers a token's value only when it
   makes it, so, as Flux does, an active token of that name (`GET .../deploy_tokens`) is
   deleted and a new one made on every run.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ._bootstrap import add_common_flags
from ._errors import CLIError
from ._forge import (
    PERMISSIONS,
    Repository,
    RestClient,
    Transport,
    add_provider_flags,
    check_personal_owner,
    grant_teams,
    parse_teams,
    replace_deploy_key,
    run_provider,
)
from ._output import Printer

__all__ = ["ACCESS_LEVELS", "DEPLOY_TOKEN_SCOPES", "GitLab", "active_token_id",
           "check_auth_flags", "check_project_name", "deploy_token_body", "register_gitlab"]

TOKEN_ENV = "GITLAB_TOKEN"
DEFAULT_HOSTNAME = "gitlab.com"
SERVICE = "GitLab"
VISIBILITIES = ("private", "internal", "public")
#: GitLab's access levels of Flux's permissions
ACCESS_LEVELS = dict(zip(PERMISSIONS, (10, 20, 30, 40, 50), strict=True))
#: what the cluster's deploy token may do: fetch, nothing else
DEPLOY_TOKEN_SCOPES = ("read_repository",)
HINTS = {401: f"check ${TOKEN_ENV}: it must be a valid personal access token (api scope)",
         403: "the token's user lacks the rights for this (api scope; Maintainer of the "
              "group or project)",
         404: "check --owner (a group's full path, or the token's user with --personal)"}
#: Flux's rule for a project name (letters, digits, emoji, '_', '.', '-'; no spaces, which a
#: project's path, the name in its URL, cannot have)
_PROJECT_NAME = re.compile(r"[\w\u00a9-\U0001f9ff][\w\u00a9-\U0001f9ff\-.]*")


def register_gitlab(providers: argparse._SubParsersAction,
                    parents: Sequence[argparse.ArgumentParser]) -> None:
    g = providers.add_parser(
        "gitlab", parents=list(parents), help="bootstrap with a GitLab project",
        description="Create the GitLab project if it does not exist, commit the afflux "
        "manifests to its branch and configure the cluster to synchronise with it (over SSH "
        "with a deploy key, or over HTTPS with --token-auth or --deploy-token-auth). The "
        f"token is read from ${TOKEN_ENV}.")
    add_provider_flags(
        g, owner="the GitLab user or group (its full path)", hostname=DEFAULT_HOSTNAME,
        hostname_help=f"the GitLab host (default {DEFAULT_HOSTNAME}), its API at "
        "https://<hostname>/api/v4",
        team_help="group the project is shared with (its full path)",
        private_help="deprecated: use --visibility; =false means --visibility=public")
    g.add_argument("--visibility", choices=VISIBILITIES, default="private",
                   help="visibility of a new project (default private)")
    g.add_argument("--deploy-token-auth", action="store_true",
                   help="the cluster syncs over HTTPS with a project deploy token "
                        "(read_repository) made for it, instead of an SSH deploy key")
    add_common_flags(g)
    g.set_defaults(func=run)


def check_project_name(name: str) -> str:
    if not _PROJECT_NAME.fullmatch(name):
        raise CLIError(f"{name!r} is an invalid project name for GitLab",
                       "it can contain only letters, digits, emoji, '_', '.' and '-', and "
                       "starts with a letter, digit, emoji or '_'")
    return name


def check_auth_flags(token_auth: bool, deploy_token_auth: bool) -> None:
    if token_auth and deploy_token_auth:
        raise CLIError("--token-auth and --deploy-token-auth cannot be set both",
                       "sync with the token (--token-auth) or with a deploy token made for "
                       "the cluster (--deploy-token-auth)")


def deploy_token_body(name: str) -> dict[str, Any]:
    """The request that makes the cluster's deploy token `name`."""
    return {"name": name, "scopes": list(DEPLOY_TOKEN_SCOPES)}


def active_token_id(tokens: Iterable[Mapping[str, Any]], name: str) -> int | None:
    """The id of the first deploy token named `name` that is neither revoked nor expired."""
    for token in tokens:
        if token.get("name") == name and not token.get("revoked") and not token.get("expired"):
            return int(token.get("id") or 0)
    return None


def _q(text: str) -> str:
    return quote(text, safe="")


class GitLab:
    """The calls of GitLab's REST API bootstrap makes (`_forge.Provider`)."""

    service = SERVICE

    def __init__(self, hostname: str, token: str, transport: Transport) -> None:
        self.hostname = hostname
        self.api = RestClient(SERVICE, f"https://{hostname}/api/v4",
                              {"PRIVATE-TOKEN": token, "User-Agent": "afflux"}, transport,
                              HINTS)
        self.project_id = 0

    def reconcile_repository(self, args: argparse.Namespace, printer: Printer) -> Repository:
        owner, name = args.owner.strip("/"), args.repository
        label = f"{owner}/{name}"
        printer.action(f"connecting to {self.hostname}")
        found = self.api.call("GET", f"/projects/{_q(label)}", missing_ok=True)
        if found is None:
            body: dict[str, Any] = {"name": name, "path": name,
                                    "visibility": args.visibility}
            if args.personal:
                login = str((self.api.call("GET", "/user") or {}).get("username") or "")
                check_personal_owner(owner, login, "a group")
            else:
                group = self.api.call("GET", f"/groups/{_q(owner)}")
                body["namespace_id"] = int((group or {}).get("id") or 0)
            found = self.api.call("POST", "/projects", body)
            printer.success(f'repository "{label}" created')
        elif args.reconcile and found.get("visibility") != args.visibility:
            found = self.api.call("PUT", f"/projects/{int(found['id'])}",
                                  {"visibility": args.visibility})
            printer.success(f'repository "{label}" reconciled')
        found = dict(found or {})
        self.project_id = int(found.get("id") or 0)
        teams = parse_teams(args.team)
        if teams and args.personal:
            printer.warning("--team is for a group's project; ignored with --personal")
        elif teams:
            self.reconcile_teams(found, teams, args.reconcile, printer)
        return Repository(label, str(found.get("http_url_to_repo") or ""),
                          str(found.get("ssh_url_to_repo") or ""))

    def reconcile_teams(self, project: dict[str, Any], teams: dict[str, str],
                        reconcile: bool, printer: Printer) -> None:
        shared = {int(g.get("group_id") or 0): int(g.get("group_access_level") or 0)
                  for g in project.get("shared_with_groups") or [] if isinstance(g, dict)}
        base = f"/projects/{self.project_id}/share"

        def grant(team: str, permission: str) -> bool:
            level = ACCESS_LEVELS[permission]
            group = int((self.api.call("GET", f"/groups/{_q(team)}") or {}).get("id") or 0)
            if group in shared and (not reconcile or shared[group] == level):
                return False
            if group in shared:
                self.api.call("DELETE", f"{base}/{group}")
            self.api.call("POST", base, {"group_id": group, "group_access": level})
            return True

        grant_teams(teams, grant, printer)

    def reconcile_deploy_key(self, repo: Repository, title: str, public: str,
                             read_only: bool) -> bool:
        base = f"/projects/{self.project_id}/deploy_keys"
        return replace_deploy_key(self.api, base, title, public, ("can_push", not read_only))

    def reconcile_deploy_token(self, repo: Repository, name: str) -> tuple[str, str]:
        base = f"/projects/{self.project_id}/deploy_tokens"
        found = active_token_id(self.api.pages(base, 100), name)
        if found is not None:
            self.api.call("DELETE", f"{base}/{found}")
        made = self.api.call("POST", base, deploy_token_body(name))
        made = made if isinstance(made, dict) else {}
        username, token = str(made.get("username") or ""), str(made.get("token") or "")
        if not username or not token:
            raise CLIError(f"GitLab's answer to POST {base} has no deploy token username or "
                           "value", "is --hostname a GitLab server?")
        return username, token


def run(args: argparse.Namespace) -> int:
    check_project_name(args.repository)
    check_auth_flags(args.token_auth, args.deploy_token_auth)
    if not args.private:
        args.visibility = "public"
    return run_provider(args, token_env=TOKEN_ENV, service=SERVICE,
                        example="gitlab.example.com", provider=GitLab)
