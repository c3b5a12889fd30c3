"""What the `bootstrap <provider>` commands of hosted Git services (GitHub, GitLab, Bitbucket
Server) share.

A provider is a small interface (`Provider`) over one service's REST API: make sure the
repository exists (created when missing, reconciled with `--reconcile`, teams given access),
and that the cluster's public key is the repository's deploy key. `ProviderBootstrap` runs
`bootstrap git`'s engine (`_bootstrap.Bootstrap`: clone, generate, commit, push, install,
sync) around it: the repository's HTTPS clone URL is what the CLI pushes to with the token,
its SSH URL what the cluster syncs from (`--ssh-hostname` replaces its host), or the HTTPS
URL with `--token-auth`, or with a deploy token (`--deploy-token-auth`, GitLab: a provider
with `reconcile_deploy_token`), a read-only credential of the repository that the provider
makes for the cluster instead of a deploy key.

The token is only sent to the API and to a clone URL on the same host as `--hostname`; it
is never printed. Every answer of the API is bounded (`MAX_RESPONSE`).
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from . import _bootstrapgen as gen
from ._bootstrap import Bootstrap
from ._context import Context
from ._errors import CLIError
from ._output import Printer

__all__ = [
    "MAX_RESPONSE", "PERMISSIONS", "Provider", "add_provider_flags", "ProviderBootstrap",
    "Repository", "RestClient",
    "Transport", "check_clone_url", "check_hostname", "deploy_key_name", "parse_teams",
    "read_token", "reconcile_key", "replace_deploy_key", "run_provider", "same_key", "scp_to_ssh",
    "urllib_transport", "check_personal_owner", "grant_teams",
]

MAX_RESPONSE = 4 << 20
DEFAULT_PERMISSION = "maintain"
#: the repository permissions of Flux's `--team name:permission`, lowest first
PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")


def _teams(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_provider_flags(g: argparse.ArgumentParser, *, owner: str, hostname: str | None,
                       hostname_help: str, team_help: str, private_help: str,
                       team_flag: str = "--team", permissions: Sequence[str] = PERMISSIONS,
                       default_permission: str = DEFAULT_PERMISSION) -> None:
    """The flags of Flux's provider bootstraps (then `bootstrap git`'s common ones); a
    `hostname` of None makes `--hostname` required. The teams' flag (`team_flag`) is kept
    in `args.team` whatever its name."""
    g.add_argument("--owner", required=True, help=owner)
    g.add_argument("--repository", required=True, help="the repository's name")
    g.add_argument("--personal", action="store_true",
                   help="the owner is the token's user (default: an organization or group)")
    g.add_argument("--private", action="store_true", default=True, help=private_help)
    if hostname is None:
        g.add_argument("--hostname", required=True, help=hostname_help)
    else:
        g.add_argument("--hostname", default=hostname, help=hostname_help)
    g.add_argument(team_flag, dest="team", metavar=team_flag.lstrip("-").upper(), type=_teams,
                   action="extend", default=[],
                   help=f"{team_help}, name[:permission] (permission one of "
                        f"{', '.join(permissions)}; default {default_permission}); repeat or "
                        "separate with commas")
    g.add_argument("--read-write-key", action="store_true",
                   help="the deploy key may push (default: read-only)")
    g.add_argument("--reconcile", action="store_true",
                   help="an existing repository also gets the configured options "
                        "(visibility, team permissions)")


# --- pure helpers ---------------------------------------------------------------------------

def parse_teams(values: Sequence[str], default: str = DEFAULT_PERMISSION,
                flag: str = "--team") -> dict[str, str]:
    """`--team` (or `flag`) values as {team: permission}; CLIError for an unknown
    permission."""
    out: dict[str, str] = {}
    for value in values:
        name, _, permission = value.partition(":")
        name, permission = name.strip(), (permission.strip() or default)
        if not name:
            raise CLIError(f"{flag} {value!r} names no team", f"e.g. {flag}=platform:{default}")
        if permission not in PERMISSIONS:
            raise CLIError(f"{flag} {value!r}: unknown permission {permission!r}",
                           f"use one of {', '.join(PERMISSIONS)}")
        out[name] = permission
    return out


def deploy_key_name(namespace: str, branch: str, secret: str, path: str) -> str:
    """The deploy key's title, as Flux names it: the non-empty parts joined with `-`."""
    return "-".join(p for p in (namespace, branch, secret, path) if p)


def same_key(a: str, b: str) -> bool:
    """Whether two OpenSSH public keys are the same key (their comments aside)."""
    return a.split()[:2] == b.split()[:2]


def scp_to_ssh(url: str) -> str:
    """An SSH clone URL as ssh://: `git@host:owner/repo.git` -> `ssh://git@host/owner/repo.git`
    (ssh:// URLs are returned as they are)."""
    text = url.strip()
    if "://" in text or "@" not in text or ":" not in text:
        return text
    user_host, _, path = text.partition(":")
    return f"ssh://{user_host}/{path.lstrip('/')}"


def check_hostname(text: str, example: str) -> str:
    """`--hostname` as host[:port]: an `https://` prefix is dropped; anything else that is
    not a host name is refused."""
    clean = text.strip().rstrip("/")
    if clean.lower().startswith("https://"):
        clean = clean[len("https://"):]
    if not clean or "://" in clean or "/" in clean or "@" in clean:
        raise CLIError(f"--hostname {text!r} is not a host name",
                       f"give host[:port] without a path, e.g. --hostname={example}")
    return clean


def check_clone_url(url: str, hostname: str, service: str) -> str:
    """The repository's HTTPS clone URL, which gets the token: it must be https and on the
    host of `--hostname` (any port), or the token would go elsewhere."""
    parts = urlsplit(url.strip())
    host = urlsplit(f"https://{hostname}").hostname
    if parts.scheme != "https" or not parts.hostname or parts.hostname != host:
        raise CLIError(f"{service} gave the clone URL {url!r}, which is not https://{host}/...: "
                       "the token is not sent there", "check --hostname")
    return url.strip()


def check_personal_owner(owner: str, login: str, group: str) -> None:
    """`--personal`: `--owner` must be the token's user (`login`, as the service says)."""
    if login.lower() != owner.lower():
        raise CLIError(f"the owner {owner!r} does not match the user of the token ({login!r})",
                       "pass --owner=<the token's user> with --personal, or drop --personal "
                       f"for {group}")


def read_token(env: str, service: str) -> str:
    """The token from `$env`, or typed at a prompt when stdin is a terminal."""
    token = os.environ.get(env, "").strip()
    if not token and sys.stdin.isatty():
        token = getpass.getpass(f"Please enter your {service} personal access token (PAT): ")
        token = token.strip()
    if not token:
        raise CLIError(f"${env} is not set",
                       f"export {env}=<a {service} personal access token with repository "
                       "rights>")
    return token


# --- the REST client ------------------------------------------------------------------------

#: (method, url, headers, body) -> (status, body read up to MAX_RESPONSE + 1 bytes)
Transport = Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, bytes]]


def urllib_transport(ca_file: Path | None, service: str) -> Transport:
    """HTTPS with the system's CAs (or `--ca-file`'s)."""
    cafile = str(ca_file) if ca_file is not None and ca_file.is_file() else None
    context = ssl.create_default_context(cafile=cafile)

    def send(method: str, url: str, headers: Mapping[str, str],
             body: bytes | None) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=body, method=method, headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as resp:
                return resp.status, resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read(65536)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            host = urlsplit(url).netloc
            raise CLIError(f"cannot reach {service} at https://{host}: {reason}",
                           "check --hostname (and --ca-file for a private CA)") from None

    return send


class RestClient:
    """JSON calls to one service's API, with its authentication headers."""

    def __init__(self, service: str, base: str, headers: Mapping[str, str],
                 transport: Transport, hints: Mapping[int, str]) -> None:
        self.service = service
        self.base = base
        self._headers = dict(headers)
        self._send = transport
        self._hints = dict(hints)

    def call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False,
             headers: Mapping[str, str] | None = None) -> Any:
        """The JSON answer (None when empty, or for a 404 with `missing_ok`); CLIError with
        the service's message for any other status of 400 and above."""
        sent = {"Accept": "application/json", **self._headers, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        status, text = self._send(method, self.base + path, sent, data)
        if status == 404 and missing_ok:
            return None
        if status >= 400:
            raise self._error(method, path, status, text)
        if len(text) > MAX_RESPONSE:
            raise CLIError(f"{self.service}'s answer to {method} {path} is larger than "
                           f"{MAX_RESPONSE >> 20} MiB", f"is --hostname a {self.service} server?")
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            raise CLIError(f"{self.service}'s answer to {method} {path} is not JSON",
                           f"is --hostname a {self.service} server?") from None

    def _error(self, method: str, path: str, status: int, text: bytes) -> CLIError:
        try:
            found = json.loads(text or b"{}")
        except ValueError:
            found = None
        detail: Any = ""
        if isinstance(found, dict):
            errors = found.get("errors")  # Bitbucket Server: {"errors": [{"message": ...}]}
            first = errors[0] if isinstance(errors, list) and errors else None
            detail = found.get("message") or found.get("error") or (
                first.get("message") if isinstance(first, dict) else "") or ""
        detail = " ".join(str(detail).split())[:200]
        return CLIError(f"{self.service} API {method} {path.split('?')[0]}: HTTP {status}"
                        + (f": {detail}" if detail else ""),
                        self._hints.get(status, f"see the {self.service} server's answer"))

    def pages(self, path: str, size: int, size_param: str = "per_page") -> list[dict[str, Any]]:
        """Every item of a paged list (`?<size_param>=<size>&page=N`), at most 100 pages."""
        out: list[dict[str, Any]] = []
        sep = "&" if "?" in path else "?"
        for page in range(1, 101):
            items = self.call("GET", f"{path}{sep}{size_param}={size}&page={page}") or []
            if not isinstance(items, list):
                raise CLIError(f"{self.service}'s answer to GET {path} is not a list")
            out += [i for i in items if isinstance(i, dict)]
            if len(items) < size:
                break
        return out


def grant_teams(teams: Mapping[str, str], grant: Callable[[str, str], bool],
                printer: Printer) -> None:
    """`--team`, best effort as in Flux: `grant(team, permission)` gives each team its
    permission (False: it had access already and was left alone); a failure is reported and
    the next team tried."""
    printer.action("reconciling repository permissions")
    for team, permission in teams.items():
        try:
            if not grant(team, permission):
                continue
        except CLIError as err:
            printer.failure(f"failed to grant {permission!r} permissions to {team!r}: "
                            f"{err.message}")
            continue
        printer.success(f"granted {permission!r} permissions to {team!r}")
    printer.success("reconciled repository permissions")


def reconcile_key(keys: Iterable[tuple[Any, str, str, bool]], title: str, public: str,
                  delete: Callable[[Any], None], add: Callable[[], None]) -> bool:
    """The deploy key `title` holds `public` with the access asked for: `keys` are the
    repository's as (id, title, public key, whether its access is the one asked for); one
    titled `title` that differs is deleted (`delete(id)`), then the key added (`add()`);
    whether anything changed."""
    for key_id, key_title, key, access_ok in keys:
        if key_title != title:
            continue
        if same_key(key, public) and access_ok:
            return False
        delete(key_id)
    add()
    return True


def replace_deploy_key(api: RestClient, base: str, title: str, public: str,
                       access: tuple[str, bool]) -> bool:
    """`reconcile_key` over the deploy key list at `base` (items with `id`, `title`, `key`)
    and `access` (its field and value, e.g. ("read_only", True))."""
    field, value = access
    keys = ((k.get("id"), str(k.get("title") or ""), str(k.get("key") or ""),
             bool(k.get(field)) == value) for k in api.pages(base, 100))
    return reconcile_key(keys, title, public, lambda key_id: api.call("DELETE", f"{base}/{key_id}"),
                         lambda: api.call("POST", base, {"title": title, "key": public,
                                                         field: value}))


# --- the provider interface and the engine around it ----------------------------------------

@dataclass(frozen=True)
class Repository:
    """What bootstrap needs of the service's repository."""

    label: str  # owner/name, as printed
    clone_url: str  # https, where the CLI pushes with the token
    ssh_url: str  # ssh:// or scp-like, where the cluster syncs from without --token-auth


class Provider(Protocol):
    service: str  # GitHub, GitLab, Bitbucket Server: in messages
    hostname: str

    def reconcile_repository(self, args: argparse.Namespace, printer: Printer) -> Repository:
        """The repository, created when missing, reconciled with `--reconcile`, with the
        teams of `--team` given access."""

    def reconcile_deploy_key(self, repo: Repository, title: str, public: str,
                             read_only: bool) -> bool:
        """The repository's deploy key `title` holds `public` with that access; whether
        anything changed."""

    # A provider with deploy tokens (GitLab, `--deploy-token-auth`) also has
    # `reconcile_deploy_token(repo, name) -> (username, token)`: the repository's read-only
    # deploy token `name` for the cluster's sync, made anew (a token's value is shown only
    # when it is made).


class ProviderBootstrap(Bootstrap):
    """`bootstrap git`'s engine with a provider's repository and deploy key steps."""

    def __init__(self, ctx: Context, args: argparse.Namespace, provider: Provider) -> None:
        super().__init__(ctx, args)
        self.provider = provider
        self.repository: Repository | None = None
        self.deploy_token = bool(getattr(args, "deploy_token_auth", False))

    def prepare_repository(self) -> None:
        repo = self.provider.reconcile_repository(self.args, self.printer)
        self.repository = repo
        clone = check_clone_url(repo.clone_url, self.provider.hostname, self.provider.service)
        self.url = gen.parse_git_url(clone)
        if self.args.token_auth or self.deploy_token:
            self.sync = gen.sync_url(self.url, token_auth=True)
            return
        ssh_url = scp_to_ssh(repo.ssh_url)
        if not ssh_url:
            raise CLIError(f'the {self.provider.service} repository "{repo.label}" has no SSH '
                           "URL", "pass --token-auth to sync over HTTPS with the token")
        self.sync = gen.sync_url(gen.parse_git_url(ssh_url), token_auth=False,
                                 ssh_hostname=self.args.ssh_hostname)

    def check_sync_credentials(self) -> None:
        """With a deploy token the Secret gets its credentials from the provider
        (`source_secret`), never the token this CLI pushes with; the CA is checked here."""
        if not self.deploy_token:
            super().check_sync_credentials()
        elif self.args.ca_file is not None:
            self.secret_data["ca.crt"] = self.args.ca_file.read_text()

    def source_secret(self) -> None:
        if self.deploy_token:
            assert self.repository is not None
            reconcile = getattr(self.provider, "reconcile_deploy_token", None)
            if reconcile is None:
                raise CLIError(f"{self.provider.service} has no deploy tokens")
            self.printer.action("checking to reconcile deploy token for source secret")
            name = deploy_key_name(self.namespace, self.branch, self.secret_name, self.path)
            username, token = reconcile(self.repository, name)
            self.secret_data.update(username=username, password=token)
            self.printer.success(f'configured deploy token "{name}" for '
                                 f'"{self.provider.hostname}/{self.repository.label}"')
        super().source_secret()

    def authorize_key(self, public: str) -> None:
        assert self.repository is not None
        self.printer.success(f"public key: {public}")
        title = deploy_key_name(self.namespace, self.branch, self.secret_name, self.path)
        if self.provider.reconcile_deploy_key(self.repository, title, public,
                                              read_only=not self.args.read_write_key):
            self.printer.success(f'configured deploy key "{title}" for '
                                 f'"{self.provider.hostname}/{self.repository.label}"')


def prepare_args(args: argparse.Namespace, token: str, username: str = "git") -> None:
    """`bootstrap git`'s own flags for a provider: push over https with the token (as
    `username`); the URL is the repository's clone URL, set once the provider knows it."""
    if not args.owner.strip() or not args.repository.strip():
        raise CLIError("--owner and --repository must not be empty",
                       "e.g. --owner=my-org --repository=fleet")
    if args.ca_file is not None and not args.ca_file.is_file():
        raise CLIError(f"--ca-file {args.ca_file} does not exist")
    args.url = f"https://{args.hostname}/{args.owner}/{args.repository}.git"
    args.username, args.password = username, token
    args.with_bearer_token = args.allow_insecure_http = False


def run_provider(args: argparse.Namespace, *, token_env: str, service: str, example: str,
                 provider: Callable[[str, str, Transport], Provider],
                 username: str = "git") -> int:
    """`bootstrap <provider>`: the flags checked, the token read, then the engine run with
    `provider(hostname, token, transport)`; the CLI pushes (and with `--token-auth` the
    cluster syncs) as `username` with the token."""
    args.hostname = check_hostname(args.hostname, example)
    prepare_args(args, "", username)
    token = read_token(token_env, service)
    args.password = token
    transport = urllib_transport(Path(args.ca_file) if args.ca_file else None, service)
    ctx = Context.from_args(args)
    ProviderBootstrap(ctx, args, provider(args.hostname, token, transport)).run()
    return 0
