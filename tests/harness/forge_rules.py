"""Stateful stand-ins for the REST APIs `afflux bootstrap github|gitlab` call, written from
the services' public API documentation: each accepts only the documented request (method,
path, authentication header, JSON fields and their types) and answers with the documented
status and fields; anything else is refused with the service's 4xx.

Pure (no I/O): a stand-in keeps the repositories, deploy keys and team permissions a test
can assert, and calls two hooks the test gives it, so the Git part stays real:
`create_repo(full_path) -> (https clone URL, SSH URL)` makes the bare repository on the
harness's Git server, and `add_key(public_key)` lets a deploy key in over SSH.
`services.StrictService(..., rule=stand_in)` serves one over HTTPS.

- `GitHubAPI`: GitHub Enterprise Server's `/api/v3`, `Authorization: Bearer|token <token>`,
  a `User-Agent` required.
- `GitLabAPI`: `/api/v4`, `PRIVATE-TOKEN: <token>`, a project named by its id or its
  URL-encoded path (`group%2Fname`); deploy keys, sharing with groups.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .service_rules import Answer, Expect, Rejected, Request, _json, _need

__all__ = ["GitHubAPI", "GitLabAPI", "InMemory"]

CreateRepo = Callable[[str], tuple[str, str]]
AddKey = Callable[[str], None]
GITHUB_PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")
GITLAB_ACCESS = (10, 20, 30, 40, 50)
_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+( .*)?")


def _route(req: Request, method: str, pattern: str) -> re.Match[str] | None:
    match = re.fullmatch(pattern, req.path)
    return match if match and req.method == method else None


def _page(req: Request, items: list[Any]) -> list[Any]:
    query = parse_qs(req.query)
    size = int((query.get("per_page") or ["30"])[0])
    page = int((query.get("page") or ["1"])[0])
    _need(1 <= size <= 100 and page >= 1, "per_page must be 1..100, page at least 1", 422)
    return items[(page - 1) * size:page * size]


@dataclass
class _Base:
    token: str
    user: str
    create_repo: CreateRepo
    add_key: AddKey
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 100

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def __call__(self, req: Request, expect: Expect) -> Answer:
        with self.lock:
            return self.handle(req)

    def handle(self, req: Request) -> Answer:
        raise NotImplementedError


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
