"""`afflux bootstrap github`: `bootstrap git` against a GitHub repository, through GitHub's
REST API (api.github.com, or `https://<hostname>/api/v3` for GitHub Enterprise Server).

What Flux's `bootstrap github` does around the engine (`_forge.ProviderBootstrap`):

1. the token: `$GITHUB_TOKEN` (typed at a prompt when it is unset and stdin is a terminal),
   sent as `Authorization: Bearer`;
2. `GET /repos/{owner}/{repo}`; when missing it is created, with `--personal` by
   `POST /user/repos` (after `GET /user` says the token's user is `--owner`), else by
   `POST /orgs/{owner}/repos`: private unless `--private=false`. An existing repository is
   left alone unless `--reconcile` (then `PATCH` sets its visibility);
3. `--team slug[:permission]` (organizations only; permission pull, triage, push, maintain
   or admin, default maintain): `GET /orgs/{org}/teams/{slug}/repos/{owner}/{repo}` tells the
   team's access; a team that has access is left alone unless `--reconcile`, else
   `PUT` the same path with the permission. A failure is reported, not fatal (as in Flux);
4. the cluster's SSH key becomes the deploy key `<namespace>-<branch>-<secret>-<path>`
   (`GET/POST /repos/{owner}/{repo}/keys`, read-only unless `--read-write-key`), replaced
   (`DELETE` then `POST`) when the cluster's key or its access changed. With `--token-auth`
   the cluster syncs over HTTPS with the user `git` and the token, and no deploy key is made.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ._bootstrap import add_common_flags
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

__all__ = ["GitHub", "api_base", "register_github"]

TOKEN_ENV = "GITHUB_TOKEN"
DEFAULT_HOSTNAME = "github.com"
SERVICE = "GitHub"
HINTS = {401: f"check ${TOKEN_ENV}: it must be a valid personal access token",
         403: "the token lacks the rights for this (the repo scope, and admin:org for "
              "teams) or the rate limit was hit",
         404: "check --owner (and --personal for a user's repository)",
         422: "GitHub refused the request as written (see its message)"}
#: the media type under which GitHub answers a team's access with the repository
REPOSITORY_MEDIA = "application/vnd.github.v3.repository+json"


def register_github(providers: argparse._SubParsersAction,
                    parents: Sequence[argparse.ArgumentParser]) -> None:
    g = providers.add_parser(
        "github", parents=list(parents), help="bootstrap with a GitHub repository",
        description="Create the GitHub repository if it does not exist, commit the afflux "
        "manifests to its branch and configure the cluster to synchronise with it (over SSH "
        f"with a deploy key, or over HTTPS with --token-auth). The token is read from "
        f"${TOKEN_ENV}.")
    add_provider_flags(
        g, owner="the GitHub user or organization", hostname=DEFAULT_HOSTNAME,
        hostname_help=f"the GitHub host; another than {DEFAULT_HOSTNAME} is GitHub Enterprise "
        "Server, its API at https://<hostname>/api/v3",
        team_help="organization team given the repository (its slug)",
        private_help="a new repository is private; =false: public (default true)")
    add_common_flags(g)
    g.set_defaults(func=run)


def api_base(hostname: str) -> str:
    """api.github.com for github.com, `/api/v3` on the host for GitHub Enterprise Server."""
    if hostname.lower() == DEFAULT_HOSTNAME:
        return "https://api.github.com"
    return f"https://{hostname}/api/v3"


def _q(text: str) -> str:
    return quote(text, safe="")


def _highest(permissions: Any) -> str:
    """The highest of a repository's `permissions` flags GitHub answers for a team."""
    flags = permissions if isinstance(permissions, dict) else {}
    granted = [p for p in PERMISSIONS if flags.get(p) is True]
    return granted[-1] if granted else ""


class GitHub:
    """The calls of GitHub's REST API bootstrap makes (`_forge.Provider`)."""

    service = SERVICE

    def __init__(self, hostname: str, token: str, transport: Transport) -> None:
        self.hostname = hostname
        self.api = RestClient(SERVICE, api_base(hostname), {
            "Authorization": f"Bearer {token}", "User-Agent": "afflux",
            "X-GitHub-Api-Version": "2022-11-28", "Accept": "application/vnd.github+json",
        }, transport, HINTS)

    def _repository(self, found: dict[str, Any], label: str) -> Repository:
        return Repository(label, str(found.get("clone_url") or ""),
                          str(found.get("ssh_url") or ""))

    def reconcile_repository(self, args: argparse.Namespace, printer: Printer) -> Repository:
        owner, name = args.owner, args.repository
        label = f"{owner}/{name}"
        path = f"/repos/{_q(owner)}/{_q(name)}"
        visibility = "private" if args.private else "public"
        printer.action(f"connecting to {self.hostname}")
        found = self.api.call("GET", path, missing_ok=True)
        if found is None:
            body = {"name": name, "private": bool(args.private), "visibility": visibility}
            if args.personal:
                login = str((self.api.call("GET", "/user") or {}).get("login") or "")
                check_personal_owner(owner, login, "an organization")
                found = self.api.call("POST", "/user/repos", body)
            else:
                found = self.api.call("POST", f"/orgs/{_q(owner)}/repos", body)
            printer.success(f'repository "{label}" created')
        elif args.reconcile and found.get("visibility", visibility) != visibility:
            found = self.api.call("PATCH", path, {"private": bool(args.private),
                                                  "visibility": visibility})
            printer.success(f'repository "{label}" reconciled')
        teams = parse_teams(args.team)
        if teams and args.personal:
            printer.warning("--team is for an organization's repository; ignored with "
                            "--personal")
        elif teams:
            self.reconcile_teams(owner, name, teams, args.reconcile, printer)
        return self._repository(dict(found or {}), label)

    def reconcile_teams(self, org: str, name: str, teams: dict[str, str], reconcile: bool,
                        printer: Printer) -> None:
        def grant(team: str, permission: str) -> bool:
            path = f"/orgs/{_q(org)}/teams/{_q(team)}/repos/{_q(org)}/{_q(name)}"
            found = self.api.call("GET", path, missing_ok=True,
                                  headers={"Accept": REPOSITORY_MEDIA})
            if found is not None and (not reconcile or _highest(
                    found.get("permissions")) == permission):
                return False
            self.api.call("PUT", path, {"permission": permission})
            return True

        grant_teams(teams, grant, printer)

    def reconcile_deploy_key(self, repo: Repository, title: str, public: str,
                             read_only: bool) -> bool:
        owner, _, name = repo.label.partition("/")
        base = f"/repos/{_q(owner)}/{_q(name)}/keys"
        return replace_deploy_key(self.api, base, title, public, ("read_only", read_only))


def run(args: argparse.Namespace) -> int:
    return run_provider(args, token_env=TOKEN_ENV, service=SERVICE,
                        example="github.example.com", provider=GitHub)
