"""The image-automation test environment: tiny images pushed to the real registry, the
image objects (ImageRepository, ImagePolicy, ImageUpdateAutomation) and their Secrets,
Git repositories with setter-marked files on the real Git server, and waits on all of it
(for tests/integration/image; its conftest.py makes the fixtures of it).

`ImageEnv` is one test's view: its namespace, the registry and the Git server. The steps
most tests repeat are one call each:

- `env.new_image("app", "1.0.0", "1.1.0")`: a fresh registry repository with one distinct
  image per tag (`Image`: path, ref, digests);
- `env.scan(image, *policies)`: the registry Secrets, an ImageRepository `app` for the image
  and the policies, applied, and each policy waited for until Ready;
- `env.policy_with_latest()`: both at once, an ImagePolicy `app` whose latest tag is 1.5.0;
- `env.git_repo("auto", files)`: a fresh Git repository seeded with `files` (`GitSeed`);
- `env.automate(seed.url, *automations)`: the Git Secret, a GitRepository `repo` and the
  automations, applied;
- `env.next_commit(seed, after)`: waits until the branch moved past `after`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pygit2
import requests
import yaml

from afflux.cli.devenv import GitHTTPServer, Registry

from .fixtures_cluster import Cluster
from .fixtures_servers import GitAuth, git_push_files
from .wait import eventually

__all__ = ["AUTHOR_EMAIL", "AUTHOR_NAME", "GROUP", "GitSeed", "Image", "ImageEnv", "Pusher",
           "apply", "automation", "blob", "condition", "deployment", "get", "git_repository",
           "head", "image_policy", "image_repository", "marker", "observed_request",
           "registry_secrets", "request_reconcile", "secret", "uid", "wait_condition"]

GROUP = "image.toolkit.fluxcd.io"
AUTHOR_NAME, AUTHOR_EMAIL = "image bot", "bot@afflux.invalid"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def uid() -> str:
    return uuid.uuid4().hex[:8]


# --- registry ---------------------------------------------------------------------------------


class Pusher:
    """Pushes tiny OCI images through the registry API (blobs, then a manifest per tag)."""

    def __init__(self, registry: Registry) -> None:
        self.base = registry.url
        self.session = requests.Session()
        self.session.auth = (registry.username, registry.password)
        self.verify = str(registry.ca_cert)

    def _blob(self, repo: str, data: bytes, media_type: str) -> dict[str, Any]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = self.session.post(
            f"{self.base}/v2/{repo}/blobs/uploads/", timeout=30, verify=self.verify
        )
        assert start.status_code == 202, start.text
        location = start.headers["Location"]
        url = location if location.startswith("http") else self.base + location
        sep = "&" if "?" in url else "?"
        done = self.session.put(
            f"{url}{sep}digest={digest}", data=data, timeout=30, verify=self.verify
        )
        assert done.status_code == 201, done.text
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def push(self, repo: str, *tags: str, salt: str = "") -> dict[str, str]:
        """One distinct image per tag (another `salt` makes another image under the same
        tag); returns tag -> manifest digest."""
        digests = {}
        for tag in tags:
            config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag,
                                 "salt": salt}).encode()
            manifest = {
                "schemaVersion": 2,
                "mediaType": MANIFEST_TYPE,
                "config": self._blob(repo, config, "application/vnd.oci.image.config.v1+json"),
                "layers": [
                    self._blob(
                        repo, f"layer {tag}".encode(), "application/vnd.oci.image.layer.v1.tar"
                    )
                ],
            }
            resp = self.session.put(
                f"{self.base}/v2/{repo}/manifests/{tag}",
                data=json.dumps(manifest).encode(),
                headers={"Content-Type": MANIFEST_TYPE},
                timeout=30,
                verify=self.verify,
            )
            assert resp.status_code == 201, resp.text
            digests[tag] = resp.headers["Docker-Content-Digest"]
        return digests


# --- cluster helpers --------------------------------------------------------------------------


def apply(cluster: Cluster, *objects: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def get(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    return json.loads(out)


def condition(body: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (body.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return cond
    return None


def wait_condition(
    cluster: Cluster,
    kind: str,
    namespace: str,
    name: str,
    type_: str = "Ready",
    status: str = "True",
    reason: str | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Wait until the object has condition `type_` with `status` (and `reason`)."""

    def check() -> dict[str, Any]:
        body = get(cluster, kind, namespace, name)
        cond = condition(body, type_)
        assert cond is not None, f"no {type_} condition yet: {body.get('status')}"
        assert cond["status"] == status, cond
        assert reason is None or cond["reason"] == reason, cond
        return body

    return eventually(check, timeout, message=f"{kind} {namespace}/{name} {type_}={status}")


def request_reconcile(cluster: Cluster, kind: str, namespace: str, name: str) -> None:
    cluster.kubectl(
        "annotate",
        "--overwrite",
        "--field-manager=flux-client-side-apply",
        "-n",
        namespace,
        kind,
        name,
        f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}",
    )


def observed_request(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any]:
    """Wait until the object handled its requestedAt; check the status's generations and
    the conditions' transition times on the way."""

    def check() -> dict[str, Any]:
        body = get(cluster, kind, namespace, name)
        status, generation = body["status"], body["metadata"]["generation"]
        requested = body["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        assert status.get("lastHandledReconcileAt") == requested, status
        assert status["observedGeneration"] == generation, status
        for cond in status["conditions"]:
            assert cond["observedGeneration"] == generation, cond
            datetime.strptime(cond["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ")
        return body

    return eventually(check, 60, message=f"{kind} {namespace}/{name} handled the request")


# --- objects ----------------------------------------------------------------------------------


def secret(namespace: str, name: str, data: Mapping[str, str | bytes], type_: str = "Opaque"
           ) -> dict[str, Any]:
    encoded = {
        k: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()
        for k, v in data.items()
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": type_,
        "data": encoded,
    }


def docker_config_secret(namespace: str, name: str, registry: Registry,
                         password: str | None = None) -> dict[str, Any]:
    """A kubernetes.io/dockerconfigjson Secret for the registry's user (and `password`)."""
    auth = base64.b64encode(
        f"{registry.username}:{password or registry.password}".encode()
    ).decode()
    config = json.dumps({"auths": {registry.host: {"auth": auth}}})
    return secret(namespace, name, {".dockerconfigjson": config}, "kubernetes.io/dockerconfigjson")


def registry_secrets(namespace: str, registry: Registry, password: str | None = None
                     ) -> list[dict[str, Any]]:
    """`regcred` (the registry's credentials) and `registry-ca` (its CA)."""
    return [
        docker_config_secret(namespace, "regcred", registry, password),
        secret(namespace, "registry-ca", {"ca.crt": Path(registry.ca_cert).read_bytes()}),
    ]


def image_repository(namespace: str, name: str, image: str, **spec: Any) -> dict[str, Any]:
    body = {
        "image": image,
        "interval": "1h",
        "secretRef": {"name": "regcred"},
        "certSecretRef": {"name": "registry-ca"},
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ImageRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def image_policy(
    namespace: str, name: str, repository: str, policy: dict[str, Any], **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ImagePolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"imageRepositoryRef": {"name": repository}, "policy": policy, **spec},
    }


def git_repository(namespace: str, name: str, url: str, secret_name: str | None = "git-auth"
                   ) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": url, "interval": "1h", "ref": {"branch": "main"}}
    if secret_name:
        spec["secretRef"] = {"name": secret_name}
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def automation(namespace: str, name: str, source: str, **commit: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "1h",
            "sourceRef": {"kind": "GitRepository", "name": source},
            "git": {
                "commit": {"author": {"name": AUTHOR_NAME, "email": AUTHOR_EMAIL}, **commit},
                "push": {"branch": "main"},
            },
            "update": {"path": "./apps", "strategy": "Setters"},
        },
    }


# --- Git ----------------------------------------------------------------------------------------


def head(server: GitHTTPServer, repo: str, branch: str = "main") -> pygit2.Commit:
    bare = pygit2.Repository(str(server.repo_path(repo)))
    commit = bare[bare.references[f"refs/heads/{branch}"].target]
    assert isinstance(commit, pygit2.Commit)
    return commit


def blob(commit: pygit2.Commit, path: str) -> str:
    return commit.tree[path].data.decode()  # type: ignore[attr-defined]


def marker(image: str, namespace: str, policy: str = "app", tag: str = "1.0.0") -> str:
    """`<image>:<tag> # {"$imagepolicy": "<namespace>:<policy>"}`: a setter-marked value."""
    return f'{image}:{tag} # {{"$imagepolicy": "{namespace}:{policy}"}}'


def deployment(image_line: str, extra: str = "") -> str:
    return (
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: web   # keep this comment\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: web\n"
        f"          image: {image_line}\n"
        f"{extra}"
    )


@dataclass
class GitSeed:
    """A repository on the test Git server and the commit it was seeded with."""

    server: GitHTTPServer
    name: str
    url: str
    seed: str

    @property
    def auth(self) -> GitAuth:
        return GitAuth.for_server(self.server)

    def push(self, files: Mapping[str, str | None], **kwargs: Any) -> str:
        """Commit `files` on top of a branch (main unless `branch=`) and push; the SHA."""
        return git_push_files(self.url, files, auth=self.auth, **kwargs)

    def head(self, branch: str = "main") -> pygit2.Commit:
        return head(self.server, self.name, branch)


# --- one test's environment ---------------------------------------------------------------------


@dataclass
class Image:
    """A repository in the registry: its path, its reference, and tag -> digest pushed."""

    path: str
    ref: str
    digests: dict[str, str] = field(default_factory=dict)


@dataclass
class ImageEnv:
    cluster: Cluster
    namespace: str
    registry: Registry
    pusher: Pusher
    git_server: GitHTTPServer

    def apply(self, *objects: dict[str, Any]) -> None:
        apply(self.cluster, *objects)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        return get(self.cluster, kind, namespace or self.namespace, name)

    def wait(self, kind: str, name: str, type_: str = "Ready", status: str = "True",
             reason: str | None = None, timeout: float = 60.0,
             namespace: str | None = None) -> dict[str, Any]:
        """`wait_condition` in this namespace (or `namespace`)."""
        return wait_condition(self.cluster, kind, namespace or self.namespace, name, type_,
                              status, reason, timeout)

    def registry_secrets(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return registry_secrets(namespace or self.namespace, self.registry)

    def git_secret(self, namespace: str | None = None) -> dict[str, Any]:
        """`git-auth`: the Git server's user, password and CA."""
        return secret(
            namespace or self.namespace,
            "git-auth",
            {
                "username": self.git_server.username,
                "password": self.git_server.password,
                "ca.crt": Path(self.git_server.ca_cert).read_bytes(),
            },
        )

    def new_image(self, prefix: str, *tags: str) -> Image:
        """A fresh repository `afflux/<prefix>-<random>` with one image per tag pushed."""
        path = f"afflux/{prefix}-{uid()}"
        image = Image(path, f"{self.registry.host}/{path}")
        self.push(image, *tags)
        return image

    def push(self, image: Image, *tags: str, salt: str = "") -> dict[str, str]:
        """Push `tags` (again, as other images with another `salt`); tag -> digest."""
        pushed = self.pusher.push(image.path, *tags, salt=salt)
        image.digests.update(pushed)
        return pushed

    def scan(self, image: Image, *policies: dict[str, Any], **repo_spec: Any
             ) -> list[dict[str, Any]]:
        """The registry Secrets, an ImageRepository `app` for `image` (with `repo_spec`) and
        `policies`, applied; each policy waited for until Ready. The policies' bodies."""
        self.apply(*self.registry_secrets(),
                   image_repository(self.namespace, "app", image.ref, **repo_spec), *policies)
        return [self.wait("imagepolicy", p["metadata"]["name"]) for p in policies]

    def policy_with_latest(self) -> str:
        """An ImagePolicy `app` (semver 1.x) over tags 1.0.0 and 1.5.0, Ready; the image."""
        image = self.new_image("auto-bad", "1.0.0", "1.5.0")
        self.scan(image, image_policy(self.namespace, "app", "app", {"semver": {"range": "1.x"}}))
        return image.ref

    def team_policies(self, image: Image) -> None:
        """Policies `selected` (semver 1.x, label team=a) and `ignored` (2.x, team=b) on an
        ImageRepository `app` for `image`, both Ready."""
        selected = image_policy(self.namespace, "selected", "app", {"semver": {"range": "1.x"}})
        selected["metadata"]["labels"] = {"team": "a"}
        ignored = image_policy(self.namespace, "ignored", "app", {"semver": {"range": "2.x"}})
        ignored["metadata"]["labels"] = {"team": "b"}
        self.scan(image, selected, ignored)

    def git_repo(self, prefix: str, files: Mapping[str, str | None], *, public: bool = False,
                 **push: Any) -> GitSeed:
        """A fresh repository `<prefix>-<random>` seeded with `files` (over HTTPS, as the
        server's user; `push` as in `git_push_files`)."""
        name = f"{prefix}-{uid()}"
        self.git_server.create_repo(name, public=public)
        url = self.git_server.url(name, "https")
        sha = git_push_files(url, files, auth=GitAuth.for_server(self.git_server), **push)
        return GitSeed(self.git_server, name, url, sha)

    def automate(self, url: str, *automations: dict[str, Any],
                 namespace: str | None = None) -> None:
        """The Git Secret `git-auth`, a GitRepository `repo` for `url` and `automations`,
        applied (in `namespace`, by default the test's)."""
        ns = namespace or self.namespace
        self.apply(self.git_secret(ns), git_repository(ns, "repo", url), *automations)

    def next_commit(self, repo: GitSeed, after: str, branch: str = "main",
                    message: str = "the automation commit") -> pygit2.Commit:
        """Wait until `branch` is at another commit than `after`; that commit."""

        def moved() -> pygit2.Commit:
            commit = repo.head(branch)
            assert str(commit.id) != after
            return commit

        return eventually(moved, 90, message=message)
