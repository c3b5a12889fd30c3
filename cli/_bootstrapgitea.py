"""`afflux bootstrap gitea`: `bootstrap git` against a Gitea server, through its API.

The engine is `bootstrap git`'s (`_bootstrap.Bootstrap`); this module adds what Flux's
provider bootstrap does around it:

1. the token: `$GITEA_TOKEN` (typed at a prompt when it is unset and stdin is a terminal);
2. before the clone, the repository `<owner>/<repository>` on `--hostname` (always https;
   `--ca-file` for a private CA): created when missing, under the token's user with
   `--personal` (the owner must be that user) or else under the organization `--owner`,
   private unless `--private=false`; an existing one is left as it is unless `--reconcile`
   (then its visibility is set). `--team name[:permission]` gives organization teams the
   repository (best effort: a failure is a warning, as in Flux; a Gitea team's access is
   set on the team, so a permission that differs from it is reported, not changed);
3. the push goes over https with the token; the cluster syncs over SSH from the
   repository's SSH URL (its host replaced by `--ssh-hostname`), with a key that is added to
   the repository as a deploy key named `<namespace>-<branch>-<secret>-<path>` (read-only
   unless `--read-write-key`; replaced when the cluster's key changed). With `--token-auth`
   the cluster syncs over https with the user `git` and the token, and no deploy key is made.

The token is only sent to `--hostname` and kept in the cluster's Secret with
`--token-auth`; it is never printed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import _bootstrapgen as gen
from ._bootstrap import Bootstrap, add_common_flags
from ._context import Context
from ._errors import CLIError
from ._forge import deploy_key_name, parse_teams, scp_to_ssh
from ._output import Printer

__all__ = ["GiteaAPI", "deploy_key_name", "parse_teams", "register_gitea", "scp_to_ssh"]

TOKEN_ENV = "GITEA_TOKEN"
DEFAULT_HOSTNAME = "gitea.com"
DEFAULT_PERMISSION = "maintain"
#: repository permissions of Flux's `--team name:permission`, and the Gitea team access each
#: one needs at least
PERMISSIONS = {"pull": "read", "triage": "read", "push": "write", "maintain": "write",
               "admin": "admin"}
_ACCESS_RANK = {"none": 0, "read": 1, "write": 2, "admin": 3, "owner": 4}
MAX_RESPONSE = 4 << 20


def _teams(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def register_gitea(providers: argparse._SubParsersAction,
                   parents: Sequence[argparse.ArgumentParser]) -> None:
    g = providers.add_parser(
        "gitea", parents=list(parents), help="bootstrap with a Gitea repository",
        description="Create the Gitea repository if it does not exist, commit the afflux "
        "manifests to its branch and configure the cluster to synchronise with it (over SSH "
        f"with a deploy key, or over HTTPS with --token-auth). The token is read from "
        f"${TOKEN_ENV}.")
    g.add_argument("--owner", required=True, help="the Gitea user or organization")
    g.add_argument("--repository", required=True, help="the repository's name")
    g.add_argument("--personal", action="store_true",
                   help="the owner is the token's user (default: an organization)")
    g.add_argument("--private", action="store_true", default=True,
                   help="a new repository is private; =false: public (default true)")
    g.add_argument("--hostname", default=DEFAULT_HOSTNAME,
                   help=f"the Gitea server, host[:port], reached over https (default "
                        f"{DEFAULT_HOSTNAME})")
    g.add_argument("--team", type=_teams, action="extend", default=[],
                   help="organization team given the repository, name[:permission] "
                        f"(permission one of {', '.join(PERMISSIONS)}; default "
                        f"{DEFAULT_PERMISSION}); repeat or separate with commas")
    g.add_argument("--read-write-key", action="store_true",
                   help="the deploy key may push (default: read-only)")
    g.add_argument("--reconcile", action="store_true",
                   help="an existing repository also gets the configured options "
                        "(visibility, teams)")
    add_common_flags(g)
    g.set_defaults(func=run)


# --- pure helpers ---------------------------------------------------------------------------

def check_hostname(text: str) -> str:
    clean = text.strip().rstrip("/")
    if not clean or "://" in clean or "/" in clean or "@" in clean:
        raise CLIError(f"--hostname {text!r} is not a host name",
                       "give host[:port] without a scheme, e.g. --hostname=gitea.example.com")
    return clean


# --- the API --------------------------------------------------------------------------------

class GiteaAPI:
    """The few calls of Gitea's REST API (v1) bootstrap makes, with the token."""

    def __init__(self, hostname: str, token: str, ca_file: Path | None) -> None:
        self.hostname = hostname
        self.base = f"https://{hostname}/api/v1"
        self._token = token
        cafile = str(ca_file) if ca_file is not None and ca_file.is_file() else None
        self._context = ssl.create_default_context(cafile=cafile)

    def call(self, method: str, path: str, body: Any = None, *,
             missing_ok: bool = False) -> Any:
        headers = {"Accept": "application/json", "Authorization": f"token {self._token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30, context=self._context) as resp:
                text = resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as err:
            if err.code == 404 and missing_ok:
                return None
            raise self._error(method, path, err) from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise CLIError(f"cannot reach Gitea at https://{self.hostname}: {reason}",
                           "check --hostname (and --ca-file for a private CA)") from None
        if len(text) > MAX_RESPONSE:
            raise CLIError(f"Gitea's answer to {method} {path} is larger than "
                           f"{MAX_RESPONSE >> 20} MiB", "is --hostname a Gitea server?")
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise CLIError(f"Gitea's answer to {method} {path} is not JSON",
                           "is --hostname a Gitea server?") from None

    def _error(self, method: str, path: str, err: urllib.error.HTTPError) -> CLIError:
        try:
            detail = str(json.loads(err.read(65536) or b"{}").get("message") or "")
        except (ValueError, AttributeError, OSError):
            detail = ""
        detail = " ".join(detail.split())[:200]
        hint = {401: f"check ${TOKEN_ENV}: it must be a valid personal access token",
                403: "the token's user lacks the rights for this (repository and "
                     "organization write scopes)",
                404: "check --owner (and --personal for a user's repository)",
                }.get(err.code, "see the Gitea server's log")
        return CLIError(f"Gitea API {method} {path.split('?')[0]}: HTTP {err.code}"
                        + (f": {detail}" if detail else ""), hint)

    def pages(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paged list (`?page=N&limit=50`)."""
        out: list[dict[str, Any]] = []
        for page in range(1, 101):
            sep = "&" if "?" in path else "?"
            items = self.call("GET", f"{path}{sep}page={page}&limit=50") or []
            out += [i for i in items if isinstance(i, dict)]
            if len(items) < 50:
                break
        return out


# --- the steps ------------------------------------------------------------------------------

def _q(text: str) -> str:
    return quote(text, safe="")


def reconcile_repository(api: GiteaAPI, args: argparse.Namespace,
                         printer: Printer) -> dict[str, Any]:
    owner, name = args.owner, args.repository
    label = f"{owner}/{name}"
    printer.action(f"connecting to {api.hostname}")
    repo = api.call("GET", f"/repos/{_q(owner)}/{_q(name)}", missing_ok=True)
    if repo is None:
        body = {"name": name, "private": bool(args.private), "default_branch": args.branch}
        if args.personal:
            login = str((api.call("GET", "/user") or {}).get("login") or "")
            if login.lower() != owner.lower():
                raise CLIError(f"the owner {owner!r} is not the user of the token ({login!r})",
                               "pass --owner=<the token's user> with --personal, or drop "
                               "--personal to create it in an organization")
            repo = api.call("POST", "/user/repos", body)
        else:
            repo = api.call("POST", f"/orgs/{_q(owner)}/repos", body)
        printer.success(f'repository "{label}" created')
    elif args.reconcile and bool(repo.get("private")) != bool(args.private):
        repo = api.call("PATCH", f"/repos/{_q(owner)}/{_q(name)}",
                        {"private": bool(args.private)})
        printer.success(f'repository "{label}" reconciled')
    teams = parse_teams(args.team)
    if teams and args.personal:
        printer.warning("--team is for an organization's repository; ignored with --personal")
    elif teams:
        reconcile_teams(api, owner, name, teams, printer)
    return dict(repo)


def reconcile_teams(api: GiteaAPI, org: str, name: str, teams: dict[str, str],
                    printer: Printer) -> None:
    printer.action("reconciling repository permissions")
    try:
        known = {str(t.get("name")): t for t in api.pages(f"/orgs/{_q(org)}/teams")}
    except CLIError as err:
        printer.failure(f"failed to list the teams of {org!r}: {err.message}")
        return
    for team, permission in teams.items():
        found = known.get(team)
        if found is None:
            printer.failure(f"failed to grant {permission!r} permissions to {team!r}: no such "
                            f"team in {org!r}")
            continue
        try:
            api.call("PUT", f"/teams/{found['id']}/repos/{_q(org)}/{_q(name)}")
        except CLIError as err:
            printer.failure(f"failed to grant {permission!r} permissions to {team!r}: "
                            f"{err.message}")
            continue
        access = str(found.get("permission") or "none")
        if _ACCESS_RANK.get(access, 0) < _ACCESS_RANK[PERMISSIONS[permission]]:
            printer.warning(f"team {team!r} has {access!r} access in Gitea, less than "
                            f"{permission!r}: a Gitea team's access is set on the team")
        printer.success(f"granted {permission!r} permissions to {team!r}")
    printer.success("reconciled repository permissions")


def reconcile_deploy_key(api: GiteaAPI, owner: str, name: str, title: str, public: str,
                         read_only: bool) -> bool:
    """The repository's deploy key `title` holds `public` (with that access); whether it
    changed anything."""
    base = f"/repos/{_q(owner)}/{_q(name)}/keys"
    material = public.split()[:2]
    for key in api.pages(base):
        if key.get("title") != title:
            continue
        if str(key.get("key") or "").split()[:2] == material and \
                bool(key.get("read_only")) == read_only:
            return False
        api.call("DELETE", f"{base}/{key['id']}")
    api.call("POST", base, {"title": title, "key": public, "read_only": read_only})
    return True


class GiteaBootstrap(Bootstrap):
    """`bootstrap git`'s engine with the repository and deploy key steps of Gitea."""

    def __init__(self, ctx: Context, args: argparse.Namespace, api: GiteaAPI) -> None:
        super().__init__(ctx, args)
        self.api = api

    def prepare_repository(self) -> None:
        repo = reconcile_repository(self.api, self.args, self.printer)
        if self.args.token_auth:
            return  # push and sync over https://<hostname>/<owner>/<repository>.git
        ssh_url = scp_to_ssh(str(repo.get("ssh_url") or ""))
        if not ssh_url:
            raise CLIError(f'the Gitea repository "{self.args.owner}/{self.args.repository}" '
                           "has no SSH URL (SSH is disabled on the server)",
                           "pass --token-auth to sync over HTTPS with the token")
        self.sync = gen.sync_url(gen.parse_git_url(ssh_url), token_auth=False,
                                 ssh_hostname=self.args.ssh_hostname)

    def authorize_key(self, public: str) -> None:
        self.printer.success(f"public key: {public}")
        title = deploy_key_name(self.namespace, self.branch, self.secret_name, self.path)
        if reconcile_deploy_key(self.api, self.args.owner, self.args.repository, title,
                                public, read_only=not self.args.read_write_key):
            self.printer.success(f'configured deploy key "{title}" for '
                                 f'"{self.api.hostname}/{self.args.owner}/'
                                 f'{self.args.repository}"')


def _token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    if sys.stdin.isatty():
        token = getpass.getpass("Please enter your Gitea personal access token (PAT): ").strip()
    if not token:
        raise CLIError(f"${TOKEN_ENV} is not set",
                       f"export {TOKEN_ENV}=<a Gitea personal access token with repository "
                       "rights>")
    return token


def run(args: argparse.Namespace) -> int:
    hostname = check_hostname(args.hostname)
    if not args.owner.strip() or not args.repository.strip():
        raise CLIError("--owner and --repository must not be empty",
                       "e.g. --owner=my-org --repository=fleet")
    if args.ca_file is not None and not args.ca_file.is_file():
        raise CLIError(f"--ca-file {args.ca_file} does not exist")
    token = _token()
    # the engine's own flags: push over https with the token (user `git`)
    args.url = f"https://{hostname}/{args.owner}/{args.repository}.git"
    args.username, args.password = "git", token
    args.with_bearer_token = args.allow_insecure_http = False
    ctx = Context.from_args(args)
    GiteaBootstrap(ctx, args, GiteaAPI(hostname, token, args.ca_file)).run()
    return 0
