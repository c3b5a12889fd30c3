"""`afflux bootstrap bitbucket-server`: `bootstrap git` against a Bitbucket Server (Data
Center) repository, through its REST API (`https://<hostname>/rest/api/1.0`, access keys under
`/rest/keys/1.0`). `--hostname` is required: there is no public Bitbucket Server.

What Flux's `bootstrap bitbucket-server` does around the engine (`_forge.ProviderBootstrap`):

1. the token: `$BITBUCKET_TOKEN` (typed at a prompt when it is unset and stdin is a
   terminal), sent as `Authorization: Bearer`; the CLI pushes over HTTPS as `--username`
   (default `git`), or as `--owner` with `--personal`, with the token as the password;
2. the repository's project: with `--personal` the personal project `~<owner>`; else the
   project named `--owner` (`GET /projects?name=<owner>`, the one with exactly that name),
   or (an afflux extension) the project whose key is `--owner`;
3. `GET /projects/<key>/repos/<slug>` (the slug: the name in lower case, other characters than
   letters, digits, `.`, `_`, `-` as `-`); when missing the repository is created by
   `POST /projects/<key>/repos` (`scmId` git, `public` with `--private=false`). An existing
   repository is left alone unless `--reconcile` (then `PUT` the same path sets `public`);
4. `--group name[:permission]` (a project's repository only): each group gets the
   repository permission pull (REPO_READ), push (REPO_WRITE, the default) or admin
   (REPO_ADMIN) with `PUT .../permissions/groups?name=&permission=`, unless it has a
   permission already (`GET .../permissions/groups?filter=`) and `--reconcile` is not given.
   Bitbucket has no triage or maintain permission: asking for one is reported, as any
   failure, and the next group tried (as in Flux);
5. the cluster's SSH key becomes the repository's access key labelled
   `<namespace>-<branch>-<secret>-<path>` (`/rest/keys/1.0/projects/<key>/repos/<slug>/ssh`,
   REPO_READ unless `--read-write-key`, then REPO_WRITE), replaced (`DELETE` then `POST`) when
   the cluster's key or its permission changed. The cluster syncs from the repository's
   `ssh` clone link (`--ssh-hostname` replaces its host), or with `--token-auth` from its
   `http` clone link (without the user name Bitbucket puts in it) as the push's user.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ._bootstrap import add_common_flags
from ._errors import CLIError
from ._forge import (
    Repository,
    RestClient,
    Transport,
    add_provider_flags,
    grant_teams,
    parse_teams,
    reconcile_key,
    run_provider,
)
from ._output import Printer

__all__ = ["GROUP_PERMISSIONS", "BitbucketServer", "clone_links", "register_bitbucket_server",
           "repository_slug", "without_user"]

TOKEN_ENV = "BITBUCKET_TOKEN"
SERVICE = "Bitbucket Server"
#: Flux's permissions Bitbucket Server has, as its repository permissions
GROUP_PERMISSIONS = {"pull": "REPO_READ", "push": "REPO_WRITE", "admin": "REPO_ADMIN"}
DEFAULT_GROUP_PERMISSION = "push"
#: the page size of Bitbucket's paged lists (`?start=&limit=`)
PAGE = 100
HINTS = {401: f"check ${TOKEN_ENV}: it must be a valid personal access token of a user "
              "allowed to do this (with --personal, --owner must be the token's user)",
         403: "the token lacks the rights for this (project admin for a new repository, "
              "repository admin for groups and access keys)",
         404: "check --owner (a project's name or key, or the token's user with --personal)",
         409: "Bitbucket Server refused the request as conflicting (see its message)"}


def register_bitbucket_server(providers: argparse._SubParsersAction,
                              parents: Sequence[argparse.ArgumentParser]) -> None:
    g = providers.add_parser(
        "bitbucket-server", parents=list(parents),
        help="bootstrap with a Bitbucket Server (Data Center) repository",
        description="Create the Bitbucket Server repository if it does not exist, commit the "
        "afflux manifests to its branch and configure the cluster to synchronise with it "
        "(over SSH with an access key, or over HTTPS with --token-auth). The token is read "
        f"from ${TOKEN_ENV}.")
    add_provider_flags(
        g, owner="the Bitbucket Server project (its name or key), or the user with --personal",
        hostname=None, hostname_help="the Bitbucket Server host[:port] (required), its API at "
        "https://<hostname>/rest/api/1.0",
        team_help="group given the repository", team_flag="--group",
        permissions=tuple(GROUP_PERMISSIONS), default_permission=DEFAULT_GROUP_PERMISSION,
        private_help="a new repository is private; =false: public (default true)")
    g.add_argument("-u", "--username", default="git",
                   help="the user the CLI pushes as over HTTPS with the token, and the cluster "
                        "syncs as with --token-auth (default git; --owner with --personal)")
    add_common_flags(g)
    g.set_defaults(func=run)


def repository_slug(name: str) -> str:
    """The slug Bitbucket gives a repository named `name`: lower case, any run of characters
    other than letters, digits, '.', '_' and '-' as one '-'."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.strip().lower())
    if not slug.strip("-."):
        raise CLIError(f"{name!r} is not a repository name for Bitbucket Server",
                       "use letters, digits, '.', '_', '-' (and spaces)")
    return slug


def without_user(url: str) -> str:
    """A clone URL without the user name (Bitbucket answers `https://<user>@host/scm/...`
    to an authenticated request)."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def clone_links(repository: dict[str, Any]) -> tuple[str, str]:
    """The repository's (http, ssh) clone links, '' for one it lacks."""
    links = repository.get("links") if isinstance(repository.get("links"), dict) else {}
    found = {str(c.get("name")): str(c.get("href") or "") for c in (links or {}).get("clone") or []
             if isinstance(c, dict)}
    http = found.get("http", "")
    return (without_user(http) if http else ""), found.get("ssh", "")


def _q(text: str) -> str:
    return quote(text, safe="")


class BitbucketServer:
    """The calls of Bitbucket Server's REST API bootstrap makes (`_forge.Provider`)."""

    service = SERVICE

    def __init__(self, hostname: str, token: str, transport: Transport) -> None:
        self.hostname = hostname
        self.api = RestClient(SERVICE, f"https://{hostname}/rest", {
            "Authorization": f"Bearer {token}", "User-Agent": "afflux"}, transport, HINTS)
        self.key = ""
        self.slug = ""

    def values(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paged list (`values`, `isLastPage`, `nextPageStart`), at most 100
        pages."""
        out: list[dict[str, Any]] = []
        sep = "&" if "?" in path else "?"
        start = 0
        for _ in range(100):
            page = self.api.call("GET", f"{path}{sep}start={start}&limit={PAGE}")
            items = page.get("values") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise CLIError(f"{SERVICE}'s answer to GET {path} is not a paged list",
                               f"is --hostname a {SERVICE} server?")
            out += [i for i in items if isinstance(i, dict)]
            following = page.get("nextPageStart")
            if page.get("isLastPage") is not False or not isinstance(following, int) \
                    or following <= start:
                break
            start = following
        return out

    def project_key(self, owner: str) -> str:
        """The key of the project named `owner` (exactly, whatever the case), else of the
        project whose key is `owner`."""
        for project in self.values(f"/api/1.0/projects?name={_q(owner)}"):
            if str(project.get("name") or "").lower() == owner.lower() and project.get("key"):
                return str(project["key"])
        found = self.api.call("GET", f"/api/1.0/projects/{_q(owner)}", missing_ok=True)
        if isinstance(found, dict) and found.get("key"):
            return str(found["key"])
        raise CLIError(f"{SERVICE} has no project named {owner!r} (nor with that key) that the "
                       "token can see", "check --owner, or pass --personal for a repository of "
                       "the token's user")

    def reconcile_repository(self, args: argparse.Namespace, printer: Printer) -> Repository:
        owner, name = args.owner, args.repository
        printer.action(f"connecting to {self.hostname}")
        self.key = f"~{owner}" if args.personal else self.project_key(owner)
        slug = repository_slug(name)
        label = f"{self.key}/{slug}"
        repos = f"/api/1.0/projects/{_q(self.key)}/repos"
        public = not args.private
        found = self.api.call("GET", f"{repos}/{_q(slug)}", missing_ok=True)
        if found is None:
            found = self.api.call("POST", repos, {"name": name, "scmId": "git",
                                                  "public": public})
            printer.success(f'repository "{label}" created')
        elif args.reconcile and bool(found.get("public")) != public:
            found = self.api.call("PUT", f"{repos}/{_q(slug)}", {"public": public})
            printer.success(f'repository "{label}" reconciled')
        found = dict(found or {})
        self.slug = str(found.get("slug") or slug)
        teams = parse_teams(args.team, DEFAULT_GROUP_PERMISSION, "--group")
        if teams and args.personal:
            printer.warning("--group is for a project's repository; ignored with --personal")
        elif teams:
            self.reconcile_groups(teams, args.reconcile, printer)
        http, ssh = clone_links(found)
        return Repository(label, http, ssh)

    def reconcile_groups(self, groups: dict[str, str], reconcile: bool,
                         printer: Printer) -> None:
        base = f"/api/1.0/projects/{_q(self.key)}/repos/{_q(self.slug)}/permissions/groups"

        def grant(group: str, permission: str) -> bool:
            wanted = GROUP_PERMISSIONS.get(permission)
            if wanted is None:
                raise CLIError(f"{SERVICE} has no {permission!r} repository permission "
                               f"(use {', '.join(GROUP_PERMISSIONS)})")
            has = [g.get("permission") for g in self.values(f"{base}?filter={_q(group)}")
                   if isinstance(g.get("group"), dict) and g["group"].get("name") == group]
            if has and (not reconcile or has[0] == wanted):
                return False
            self.api.call("PUT", f"{base}?name={_q(group)}&permission={wanted}")
            return True

        grant_teams(groups, grant, printer)

    def reconcile_deploy_key(self, repo: Repository, title: str, public: str,
                             read_only: bool) -> bool:
        base = f"/keys/1.0/projects/{_q(self.key)}/repos/{_q(self.slug)}/ssh"
        wanted = "REPO_READ" if read_only else "REPO_WRITE"
        keys = []
        for item in self.values(base):
            key = item.get("key") if isinstance(item.get("key"), dict) else {}
            keys.append((key.get("id"), str(key.get("label") or ""), str(key.get("text") or ""),
                         item.get("permission") == wanted))
        text = " ".join([*public.split()[:2], title])
        return reconcile_key(
            keys, title, public, lambda key_id: self.api.call("DELETE", f"{base}/{key_id}"),
            lambda: self.api.call("POST", base, {"key": {"text": text, "label": title},
                                                 "permission": wanted}))


def run(args: argparse.Namespace) -> int:
    repository_slug(args.repository)
    username = args.owner if args.personal else args.username
    return run_provider(args, token_env=TOKEN_ENV, service=SERVICE,
                        example="bitbucket.example.com", provider=BitbucketServer,
                        username=username)
