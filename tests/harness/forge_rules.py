"""Stateful stand-ins for the REST APIs `afflux bootstrap github|gitlab` call, written from
the services' public API documentation: each accepts only the documented request (method,
path, authentication header, JSON fields and their types) and answers with the documented
status and fields; anything else is refused with the service's 4xx.

Pure (no I/O): a stand-in keeps the repositories, deploy keys and team permissions a test
can assert, and calls the hooks the test gives it, so the Git part stays real:
`create_repo(full_path) -> (https clone URL, SSH URL)` makes the bare repository on the
harness's Git server, `add_key(public_key)` lets a deploy key in over SSH, and
`set_reader(username, full_path, password or None)` (optional) makes a read-only HTTPS
credential of that repository valid, or (None) no longer.
`services.StrictService(..., rule=stand_in)` serves one over HTTPS.

- `GitHubAPI`: GitHub Enterprise Server's `/api/v3`, `Authorization: Bearer|token <token>`,
  a `User-Agent` required.
- `GitLabAPI`: `/api/v4`, `PRIVATE-TOKEN: <token>`, a project named by its id or its
  URL-encoded path (`group%2Fname`); deploy keys, sharing with groups, project deploy tokens
  (the value answered only at creation; one with `read_repository` is a reader of the Git
  server until it is deleted).
- `BitbucketServerAPI`: Bitbucket Server (Data Center) `/rest/api/1.0` and the access keys
  of `/rest/keys/1.0`, `Authorization: Bearer <token>`; projects by key (`~user` the
  token's user's personal project), paged lists (`start`, `limit`), repository permissions
  of groups; errors as `{"errors": [{"message": ...}]}`.
"""

from __future__ import annotations

import abc
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .service_rules import Answer, Expect, Rejected, Request, _json, _need

__all__ = ["BitbucketServerAPI", "GitHubAPI", "GitLabAPI", "InMemory"]

CreateRepo = Callable[[str], tuple[str, str]]
AddKey = Callable[[str], None]
SetReader = Callable[[str, str, str | None], None]
GITHUB_PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")
GITLAB_ACCESS = (10, 20, 30, 40, 50)
GITLAB_TOKEN_SCOPES = ("read_repository", "read_registry", "write_registry",
                       "read_package_registry", "write_package_registry",
                       "read_virtual_registry", "write_virtual_registry")
_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?")


def _route(req: Request, method: str, pattern: str) -> re.Match[str] | None:
    match = re.fullmatch(pattern, req.path)
    return match if match and req.method == method else None


def _no_reader(username: str, full: str, password: str | None) -> None:
    """The `set_reader` of a stand-in whose test has no Git server behind it."""


def _page(req: Request, items: list[Any]) -> list[Any]:
    query = parse_qs(req.query)
    size = int((query.get("per_page") or ["30"])[0])
    page = int((query.get("page") or ["1"])[0])
    _need(1 <= size <= 100 and page >= 1, "per_page must be 1..100, page at least 1", 422)
    return items[(page - 1) * size:page * size]


@dataclass
class _Base(abc.ABC):
    token: str
    user: str
    create_repo: CreateRepo
    add_key: AddKey
    set_reader: SetReader = _no_reader
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 100

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def __call__(self, req: Request, expect: Expect) -> Answer:
        with self.lock:
            return self.handle(req)

    @abc.abstractmethod
    def handle(self, req: Request) -> Answer:
        """The stand-in's answer to one request (its provider's rules)."""


# --- GitHub ---------------------------------------------------------------------------------


@dataclass
class GitHubAPI(_Base):
    """GitHub's REST API under `/api/v3` (GitHub Enterprise Server)."""

    orgs: set[str] = field(default_factory=set)
    #: (org, team slug) -> {repository full name: permission}
    teams: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def handle(self, req: Request) -> Answer:
        _need(bool(req.header("User-Agent")), "a User-Agent header is required", 403)
        _need(req.header("Authorization") in (f"Bearer {self.token}", f"token {self.token}"),
              "Bad credentials", 401)
        repo = r"/api/v3/repos/([^/]+)/([^/]+)"
        team = r"/api/v3/orgs/([^/]+)/teams/([^/]+)/repos/([^/]+)/([^/]+)"
        if _route(req, "GET", r"/api/v3/user"):
            return Answer(200, {"login": self.user, "type": "User"})
        if m := _route(req, "GET", repo):
            return Answer(200, self._repo(m))
        if _route(req, "POST", r"/api/v3/user/repos"):
            return self._create(req, self.user)
        if m := _route(req, "POST", r"/api/v3/orgs/([^/]+)/repos"):
            _need(m[1] in self.orgs, "Not Found", 404)
            return self._create(req, m[1])
        if m := _route(req, "PATCH", repo):
            return self._edit(req, self._repo(m))
        if m := _route(req, "GET", repo + r"/keys"):
            return Answer(200, _page(req, self.keys[self._repo(m)["full_name"]]))
        if m := _route(req, "POST", repo + r"/keys"):
            return self._add_key(req, self._repo(m)["full_name"])
        if m := _route(req, "DELETE", repo + r"/keys/(\d+)"):
            keys = self.keys[self._repo(m)["full_name"]]
            _need(any(k["id"] == int(m[3]) for k in keys), "Not Found", 404)
            keys[:] = [k for k in keys if k["id"] != int(m[3])]
            return Answer(204)
        if m := _route(req, "GET", team):
            access, full = self._team(m)
            _need(full in access, "Not Found", 404)
            if req.header("Accept") != "application/vnd.github.v3.repository+json":
                return Answer(204)
            rank = GITHUB_PERMISSIONS.index(access[full])
            return Answer(200, {**self.repos[full], "permissions": {
                p: i <= rank for i, p in enumerate(GITHUB_PERMISSIONS)}})
        if m := _route(req, "PUT", team):
            access, full = self._team(m)
            data = _json(req)
            permission = data.get("permission", "push")
            _need(permission in GITHUB_PERMISSIONS, "permission must be one of "
                  + ", ".join(GITHUB_PERMISSIONS), 422)
            access[full] = permission
            return Answer(204)
        raise Rejected(404, f"Not Found: {req.method} {req.path}")

    def _repo(self, m: re.Match[str]) -> dict[str, Any]:
        full = f"{unquote(m[1])}/{unquote(m[2])}"
        _need(full in self.repos, "Not Found", 404)
        return self.repos[full]

    def _team(self, m: re.Match[str]) -> tuple[dict[str, str], str]:
        org, slug, owner, name = (unquote(g) for g in m.groups())
        _need((org, slug) in self.teams, "Not Found", 404)
        full = f"{owner}/{name}"
        _need(owner == org and full in self.repos, "Not Found", 404)
        return self.teams[(org, slug)], full

    def _create(self, req: Request, owner: str) -> Answer:
        data = _json(req)
        name = data.get("name")
        _need(isinstance(name, str) and bool(re.fullmatch(r"[A-Za-z0-9._-]{1,100}", name)),
              "name is required (letters, digits, '.', '_', '-')", 422)
        _need(isinstance(data.get("private", False), bool), "private must be a boolean", 422)
        visibility = data.get("visibility", "private" if data.get("private") else "public")
        _need(visibility in ("public", "private", "internal"), "invalid visibility", 422)
        _need(data.get("private", visibility != "public") == (visibility != "public"),
              "private and visibility disagree", 422)
        full = f"{owner}/{name}"
        _need(full not in self.repos, "Repository creation failed: name already exists "
              "on this account", 422)
        clone, ssh = self.create_repo(full)
        self.repos[full] = {
            "id": self._id(), "name": name, "full_name": full, "owner": {"login": owner},
            "private": visibility != "public", "visibility": visibility, "clone_url": clone,
            "ssh_url": ssh, "default_branch": "main"}
        self.keys[full] = []
        return Answer(201, self.repos[full])

    def _edit(self, req: Request, repo: dict[str, Any]) -> Answer:
        data = _json(req)
        _need(set(data) <= {"private", "visibility", "name", "description", "default_branch"},
              f"unknown fields {sorted(set(data) - {'private', 'visibility'})}", 422)
        if "visibility" in data:
            _need(data["visibility"] in ("public", "private", "internal"),
                  "invalid visibility", 422)
            repo["visibility"] = data["visibility"]
            repo["private"] = data["visibility"] != "public"
        if "private" in data:
            _need(isinstance(data["private"], bool), "private must be a boolean", 422)
            _need(data["private"] == (repo["visibility"] != "public"),
                  "private and visibility disagree", 422)
        return Answer(200, repo)

    def _add_key(self, req: Request, full: str) -> Answer:
        data = _json(req)
        key = data.get("key")
        _need(isinstance(key, str) and bool(_KEY.fullmatch(key.strip())),
              "key is invalid: it must be an OpenSSH public key", 422)
        _need(isinstance(data.get("title", ""), str), "title must be a string", 422)
        _need(isinstance(data.get("read_only", False), bool), "read_only must be a boolean",
              422)
        material = key.split()[:2]
        _need(not any(k["key"].split()[:2] == material for ks in self.keys.values()
                      for k in ks), "key is already in use", 422)
        entry = {"id": self._id(), "key": " ".join(material), "title": data.get("title", ""),
                 "read_only": data.get("read_only", False), "verified": True}
        self.keys[full].append(entry)
        self.add_key(key)
        return Answer(201, entry)


# --- GitLab ---------------------------------------------------------------------------------


@dataclass
class GitLabAPI(_Base):
    """GitLab's REST API under `/api/v4`."""

    #: group full path -> id
    groups: dict[str, int] = field(default_factory=dict)
    projects: dict[int, dict[str, Any]] = field(default_factory=dict)
    keys: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    #: project id -> its deploy tokens as GitLab keeps them (`token`, the value, is answered
    #: only by the POST that makes it)
    tokens: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def project(self, path: str) -> dict[str, Any] | None:
        return next((p for p in self.projects.values() if p["path_with_namespace"] == path),
                    None)

    def handle(self, req: Request) -> Answer:
        _need(req.header("PRIVATE-TOKEN") == self.token, "401 Unauthorized", 401)
        project = r"/api/v4/projects/([^/]+)"
        if _route(req, "GET", r"/api/v4/user"):
            return Answer(200, {"id": 1, "username": self.user})
        if m := _route(req, "GET", r"/api/v4/groups/([^/]+)"):
            path = unquote(m[1])
            _need(path in self.groups, "404 Group Not Found", 404)
            return Answer(200, {"id": self.groups[path], "full_path": path,
                                "path": path.rsplit("/", 1)[-1]})
        if m := _route(req, "GET", project):
            return Answer(200, self._project(m))
        if _route(req, "POST", r"/api/v4/projects"):
            return self._create(req)
        if m := _route(req, "PUT", project):
            return self._edit(req, self._project(m))
        if m := _route(req, "POST", project + r"/share"):
            return self._share(req, self._project(m))
        if m := _route(req, "DELETE", project + r"/share/(\d+)"):
            found = self._project(m)
            shared = found["shared_with_groups"]
            _need(any(g["group_id"] == int(m[2]) for g in shared), "404 Not found", 404)
            shared[:] = [g for g in shared if g["group_id"] != int(m[2])]
            return Answer(204)
        if m := _route(req, "GET", project + r"/deploy_keys"):
            return Answer(200, _page(req, self.keys[self._project(m)["id"]]))
        if m := _route(req, "POST", project + r"/deploy_keys"):
            return self._add_key(req, self._project(m)["id"])
        if m := _route(req, "DELETE", project + r"/deploy_keys/(\d+)"):
            keys = self.keys[self._project(m)["id"]]
            _need(any(k["id"] == int(m[2]) for k in keys), "404 Deploy Key Not Found", 404)
            keys[:] = [k for k in keys if k["id"] != int(m[2])]
            return Answer(204)
        if m := _route(req, "GET", project + r"/deploy_tokens"):
            return self._list_tokens(req, self._project(m)["id"])
        if m := _route(req, "POST", project + r"/deploy_tokens"):
            return self._add_token(req, self._project(m))
        if m := _route(req, "DELETE", project + r"/deploy_tokens/(\d+)"):
            found = self._project(m)
            tokens = self.tokens[found["id"]]
            gone = [t for t in tokens if t["id"] == int(m[2])]
            _need(bool(gone), "404 Deploy Token Not Found", 404)
            tokens[:] = [t for t in tokens if t["id"] != int(m[2])]
            self.set_reader(gone[0]["username"], found["path_with_namespace"], None)
            return Answer(204)
        raise Rejected(404, f"404 Not Found: {req.method} {req.path}")

    def _project(self, m: re.Match[str]) -> dict[str, Any]:
        ref = unquote(m[1])
        found = self.projects.get(int(ref)) if ref.isdigit() else self.project(ref)
        _need(found is not None, "404 Project Not Found", 404)
        assert found is not None
        return found

    def _create(self, req: Request) -> Answer:
        data = _json(req)
        name = data.get("name")
        _need(isinstance(name, str) and bool(name.strip()), "name is missing", 400)
        path = data.get("path", name)
        _need(isinstance(path, str) and bool(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*",
                                                          path)),
              "path can contain only letters, digits, '_', '-' and '.'", 400)
        visibility = data.get("visibility", "private")
        _need(visibility in ("private", "internal", "public"),
              "visibility does not have a valid value", 400)
        namespace = self.user
        if "namespace_id" in data:
            _need(isinstance(data["namespace_id"], int), "namespace_id is invalid", 400)
            found = [g for g, i in self.groups.items() if i == data["namespace_id"]]
            _need(bool(found), "404 Namespace Not Found", 404)
            namespace = found[0]
        full = f"{namespace}/{path}"
        _need(self.project(full) is None, "has already been taken", 400)
        clone, ssh = self.create_repo(full)
        pid = self._id()
        self.projects[pid] = {
            "id": pid, "name": name, "path": path, "path_with_namespace": full,
            "namespace": {"full_path": namespace}, "visibility": visibility,
            "http_url_to_repo": clone, "ssh_url_to_repo": ssh, "default_branch": None,
            "shared_with_groups": []}
        self.keys[pid] = []
        self.tokens[pid] = []
        return Answer(201, self.projects[pid])

    def _edit(self, req: Request, found: dict[str, Any]) -> Answer:
        data = _json(req)
        _need(set(data) <= {"visibility", "name", "description", "default_branch"},
              "unknown fields", 400)
        if "visibility" in data:
            _need(data["visibility"] in ("private", "internal", "public"),
                  "visibility does not have a valid value", 400)
            found["visibility"] = data["visibility"]
        return Answer(200, found)

    def _share(self, req: Request, found: dict[str, Any]) -> Answer:
        data = _json(req)
        group, access = data.get("group_id"), data.get("group_access")
        _need(isinstance(group, int), "group_id is missing", 400)
        _need(access in GITLAB_ACCESS, "group_access does not have a valid value", 400)
        paths = [g for g, i in self.groups.items() if i == group]
        _need(bool(paths), "404 Group Not Found", 404)
        shared = found["shared_with_groups"]
        _need(not any(g["group_id"] == group for g in shared),
              "The project is already shared with this group", 409)
        shared.append({"group_id": group, "group_full_path": paths[0],
                       "group_access_level": access})
        return Answer(201, {"id": 1, "project_id": found["id"], "group_id": group,
                            "group_access": access})

    def _add_key(self, req: Request, pid: int) -> Answer:
        data = _json(req)
        key = data.get("key")
        _need(isinstance(key, str) and bool(_KEY.fullmatch(key.strip())),
              "key is invalid", 400)
        _need(isinstance(data.get("title"), str) and bool(data["title"]),
              "title is missing", 400)
        _need(isinstance(data.get("can_push", False), bool), "can_push is invalid", 400)
        material = key.split()[:2]
        _need(not any(k["key"].split()[:2] == material for k in self.keys[pid]),
              "fingerprint has already been taken", 400)
        entry = {"id": self._id(), "title": data["title"], "key": " ".join(material),
                 "can_push": data.get("can_push", False)}
        self.keys[pid].append(entry)
        self.add_key(key)
        return Answer(201, entry)


    @staticmethod
    def _shown(token: dict[str, Any]) -> dict[str, Any]:
        """A deploy token as GitLab lists it: without its value."""
        return {k: v for k, v in token.items() if k != "token"}

    def _list_tokens(self, req: Request, pid: int) -> Answer:
        active = (parse_qs(req.query).get("active") or [None])[0]
        _need(active in (None, "true", "false"), "active is invalid", 400)
        found = [t for t in self.tokens[pid] if active is None
                 or (not (t["revoked"] or t["expired"])) == (active == "true")]
        return Answer(200, [self._shown(t) for t in _page(req, found)])

    def _add_token(self, req: Request, found: dict[str, Any]) -> Answer:
        data = _json(req)
        _need(set(data) <= {"name", "scopes", "expires_at", "username"},
              f"unknown fields {sorted(set(data) - {'name', 'scopes', 'expires_at', 'username'})}",
              400)
        _need(isinstance(data.get("name"), str) and bool(data["name"].strip()),
              "name is missing", 400)
        scopes = data.get("scopes")
        _need(isinstance(scopes, list) and bool(scopes)
              and all(s in GITLAB_TOKEN_SCOPES for s in scopes),
              "scopes does not have a valid value", 400)
        expires = data.get("expires_at")
        _need(expires is None or isinstance(expires, str), "expires_at is invalid", 400)
        tid = self._id()
        username = data.get("username") or f"gitlab+deploy-token-{tid}"
        _need(isinstance(username, str)
              and bool(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", username)),
              "username can contain only letters, digits, '_', '-', '.' and '+'", 400)
        value = "gldt-" + secrets.token_urlsafe(15)
        token = {"id": tid, "name": data["name"], "username": username, "expires_at": expires,
                 "revoked": False, "expired": False, "scopes": list(scopes), "token": value}
        self.tokens[found["id"]].append(token)
        if "read_repository" in scopes:
            self.set_reader(username, found["path_with_namespace"], value)
        return Answer(201, token)

# --- Bitbucket Server -----------------------------------------------------------------------

BITBUCKET_PERMISSIONS = ("REPO_READ", "REPO_WRITE", "REPO_ADMIN")


def _bb_need(condition: bool, why: str, status: int = 400) -> None:
    """Bitbucket Server's error answer: `{"errors": [{"context", "message", "exceptionName"}]}`."""
    if not condition:
        raise Rejected(status, why, {"errors": [{"context": None, "message": why,
                                                  "exceptionName": None}]})


def _bb_page(req: Request, items: list[Any]) -> dict[str, Any]:
    query = parse_qs(req.query)
    start = int((query.get("start") or ["0"])[0])
    limit = int((query.get("limit") or ["25"])[0])
    _bb_need(start >= 0 and 1 <= limit <= 1000, "start must be 0 or more, limit 1..1000")
    values = items[start:start + limit]
    last = start + limit >= len(items)
    page: dict[str, Any] = {"size": len(values), "limit": limit, "start": start,
                            "isLastPage": last, "values": values}
    if not last:
        page["nextPageStart"] = start + limit
    return page


@dataclass
class BitbucketServerAPI(_Base):
    """Bitbucket Server's REST API: `/rest/api/1.0` and `/rest/keys/1.0`. The token's user
    (`user`) has a personal project `~USER`; other projects are added to `projects` (key ->
    name) and groups to `groups` by the test. A personal repository is made on the Git server
    as `users/<user>/<slug>` (git over SSH would read `~user` as a home directory)."""

    projects: dict[str, str] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)
    #: (project key, slug) -> repository
    repos: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: (project key, slug) -> {group: permission}
    permissions: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    #: (project key, slug) -> access keys
    keys: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def handle(self, req: Request) -> Answer:
        _bb_need(req.header("Authorization") == f"Bearer {self.token}",
                 "Authentication failed. Please check your credentials and try again.", 401)
        api = r"/rest/api/1\.0/projects"
        repo = api + r"/([^/]+)/repos/([^/]+)"
        keys = r"/rest/keys/1\.0/projects/([^/]+)/repos/([^/]+)/ssh"
        if _route(req, "GET", api):
            name = (parse_qs(req.query).get("name") or [""])[0].lower()
            found = [self._project(k) for k, n in sorted(self.projects.items())
                     if name in n.lower()]
            return Answer(200, _bb_page(req, found))
        if m := _route(req, "GET", api + r"/([^/]+)"):
            return Answer(200, self._project(self._key(m[1])))
        if m := _route(req, "GET", repo):
            return Answer(200, self._repo(m))
        if m := _route(req, "POST", api + r"/([^/]+)/repos"):
            return self._create(req, self._key(m[1], write=True))
        if m := _route(req, "PUT", repo):
            return self._edit(req, self._repo(m))
        if m := _route(req, "GET", repo + r"/permissions/groups"):
            found = self._repo(m)
            text = (parse_qs(req.query).get("filter") or [""])[0].lower()
            access = self.permissions[self._id_of(found)]
            return Answer(200, _bb_page(req, [
                {"group": {"name": g}, "permission": p} for g, p in sorted(access.items())
                if text in g.lower()]))
        if m := _route(req, "PUT", repo + r"/permissions/groups"):
            return self._grant(req, self._repo(m))
        if m := _route(req, "GET", keys):
            return Answer(200, _bb_page(req, self.keys[self._id_of(self._repo(m))]))
        if m := _route(req, "POST", keys):
            return self._add_key(req, self._repo(m))
        if m := _route(req, "DELETE", keys + r"/(\d+)"):
            found = self.keys[self._id_of(self._repo(m))]
            _bb_need(any(k["key"]["id"] == int(m[3]) for k in found),
                     f"Access key {m[3]} does not exist", 404)
            found[:] = [k for k in found if k["key"]["id"] != int(m[3])]
            return Answer(204)
        raise Rejected(404, f"Not Found: {req.method} {req.path}",
                       {"errors": [{"message": f"{req.path} is not a resource"}]})

    def _key(self, raw: str, write: bool = False) -> str:
        """The project key of a URL: `~user` (any case) is a user's personal project, which
        only its user may write to; other keys exactly."""
        key = unquote(raw)
        if key.startswith("~"):
            mine = key[1:].lower() == self.user.lower()
            _bb_need(mine or not write, "You are not permitted to access this resource", 401)
            _bb_need(mine, f"Project {key} does not exist.", 404)
            return "~" + self.user.upper()
        _bb_need(key in self.projects, f"Project {key} does not exist.", 404)
        return key

    def _project(self, key: str) -> dict[str, Any]:
        if key.startswith("~"):
            return {"key": key, "id": 1, "name": self.user, "type": "PERSONAL",
                    "owner": {"name": self.user, "slug": self.user}}
        return {"key": key, "id": sorted(self.projects).index(key) + 10,
                "name": self.projects[key], "public": False, "type": "NORMAL"}

    def _repo(self, m: re.Match[str]) -> dict[str, Any]:
        key, slug = self._key(m[1]), unquote(m[2])
        _bb_need((key, slug) in self.repos, f"Repository {key}/{slug} does not exist.", 404)
        return self.repos[(key, slug)]

    @staticmethod
    def _id_of(repo: dict[str, Any]) -> tuple[str, str]:
        return repo["project"]["key"], repo["slug"]

    def _create(self, req: Request, key: str) -> Answer:
        data = _json(req)
        _bb_need(set(data) <= {"name", "scmId", "forkable", "public", "defaultBranch",
                               "description"}, f"unknown fields {sorted(data)}")
        name = data.get("name")
        _bb_need(isinstance(name, str) and bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}",
                                                             name)),
                 "Repository name must begin with a letter or number and contain only "
                 "letters, numbers, spaces, '-', '_' and '.'")
        _bb_need(data.get("scmId", "git") == "git", "scmId must be git")
        _bb_need(isinstance(data.get("public", False), bool), "public must be a boolean")
        slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower())
        _bb_need((key, slug) not in self.repos,
                 f"This repository URL is already taken by '{name}' in this project.", 409)
        personal = key.startswith("~")
        clone, ssh = self.create_repo(f"users/{self.user}/{slug}" if personal
                                      else f"{key}/{slug}")
        scheme, _, rest = clone.partition("://")
        self.repos[(key, slug)] = {
            "slug": slug, "id": self._id(), "name": name, "scmId": "git",
            "state": "AVAILABLE", "forkable": True, "project": self._project(key),
            "public": data.get("public", False),
            "links": {"clone": [{"href": ssh, "name": "ssh"},
                                # Bitbucket names the authenticated user in the http link
                                {"href": f"{scheme}://{self.user}@{rest}", "name": "http"}]}}
        self.permissions[(key, slug)] = {}
        self.keys[(key, slug)] = []
        return Answer(201, self.repos[(key, slug)])

    def _edit(self, req: Request, repo: dict[str, Any]) -> Answer:
        data = _json(req)
        _bb_need(set(data) <= {"name", "forkable", "public", "description", "project"},
                 f"unknown fields {sorted(data)}")
        if "public" in data:
            _bb_need(isinstance(data["public"], bool), "public must be a boolean")
            repo["public"] = data["public"]
        return Answer(201, repo)

    def _grant(self, req: Request, repo: dict[str, Any]) -> Answer:
        query = parse_qs(req.query)
        names, permission = query.get("name") or [], (query.get("permission") or [""])[0]
        _bb_need(bool(names), "at least one group name is required")
        _bb_need(permission in BITBUCKET_PERMISSIONS,
                 f"permission must be one of {', '.join(BITBUCKET_PERMISSIONS)}")
        for name in names:
            _bb_need(name in self.groups, f"No such group '{name}'.", 404)
        for name in names:
            self.permissions[self._id_of(repo)][name] = permission
        return Answer(204)

    def _add_key(self, req: Request, repo: dict[str, Any]) -> Answer:
        data = _json(req)
        key = data.get("key")
        _bb_need(isinstance(key, dict) and isinstance(key.get("text"), str)
                 and bool(_KEY.fullmatch(key["text"].strip())),
                 "key.text must be an OpenSSH public key")
        assert isinstance(key, dict)
        _bb_need(isinstance(key.get("label", ""), str), "key.label must be a string")
        _bb_need(data.get("permission") in ("REPO_READ", "REPO_WRITE"),
                 "permission must be REPO_READ or REPO_WRITE")
        text = key["text"].strip()
        found = self.keys[self._id_of(repo)]
        _bb_need(not any(k["key"]["text"].split()[:2] == text.split()[:2] for k in found),
                 "This SSH key is already added to this repository.", 409)
        label = key.get("label") or (text.split(maxsplit=2)[2:] or [""])[0]
        entry = {"key": {"id": self._id(), "text": text, "label": label},
                 "repository": {"slug": repo["slug"], "project": repo["project"]},
                 "permission": data["permission"]}
        found.append(entry)
        self.add_key(text)
        return Answer(200, entry)  # 200, not 201, for a new access key


class InMemory:
    """A stand-in as the provider's transport (`afflux.cli._forge.Transport`) for unit
    tests: no I/O; every request is kept (`sent`), and why any was refused (`refused`)."""

    def __init__(self, rule: _Base, host: str) -> None:
        self.rule = rule
        self.host = host
        self.sent: list[tuple[str, str]] = []
        self.refused: list[str] = []

    def __call__(self, method: str, url: str, headers: Mapping[str, str],
                 body: bytes | None) -> tuple[int, bytes]:
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.netloc != self.host:
            raise AssertionError(f"request to {url}, not to https://{self.host}")
        self.sent.append((method, parts.path))
        req = Request(method, parts.path, parts.query, dict(headers), body or b"")
        try:
            answer = self.rule(req, Expect())
        except Rejected as err:
            self.refused.append(f"{method} {parts.path}: {err.why}")
            return err.status, json.dumps(err.body).encode()
        return answer.status, b"" if answer.body is None else json.dumps(answer.body).encode()
