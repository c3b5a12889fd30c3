"""image-reflector-controller and image-automation-controller, each as its own process,
against the real cluster, the real registry (distribution over TLS with htpasswd) and the
real Git server (smart HTTPS with basic auth).

The story of the first test: tags pushed to the registry are scanned by an
ImageRepository (dockerconfigjson Secret + CA from certSecretRef), an ImagePolicy picks
the latest version in a range, and an ImageUpdateAutomation writes it into a marked YAML
file with a templated commit; a new tag in the registry then makes a second commit, on
top of a commit someone else pushed meanwhile. The other tests cover the other policies
and the ways things go wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pygit2
import pytest
import requests
import yaml

from afflux.cli.devenv import GitHTTPServer, Registry, free_port
from harness.fixtures_cluster import REPO, Cluster
from harness.fixtures_servers import GitAuth, git_push_files
from harness.proxy import TunnelProxy
from harness.sshsign import garble, new_ssh_key, verify_commit
from harness.wait import eventually

pytestmark = pytest.mark.integration

GROUP = "image.toolkit.fluxcd.io"
AUTHOR_NAME, AUTHOR_EMAIL = "image bot", "bot@afflux.invalid"
TEMPLATE = (
    "Automated update by {{ .AutomationObject.Name }} for {{ .Values.cluster }}\n\n"
    "{{ range .Changed.Changes -}}\n- {{ .OldValue }} -> {{ .NewValue }}\n{{ end -}}"
)


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
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
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
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                timeout=30,
                verify=self.verify,
            )
            assert resp.status_code == 201, resp.text
            digests[tag] = resp.headers["Docker-Content-Digest"]
        return digests


# --- cluster helpers ------------------------------------------------------------------------------


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


def secret(namespace: str, name: str, data: dict[str, str | bytes], type_: str = "Opaque"):
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


def registry_secrets(namespace: str, registry: Registry, password: str | None = None):
    auth = base64.b64encode(
        f"{registry.username}:{password or registry.password}".encode()
    ).decode()
    config = json.dumps({"auths": {registry.host: {"auth": auth}}})
    return [
        secret(
            namespace, "regcred", {".dockerconfigjson": config}, "kubernetes.io/dockerconfigjson"
        ),
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


def git_repository(namespace: str, name: str, url: str, secret_name: str | None = "git-auth"):
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


def head(server: GitHTTPServer, repo: str, branch: str = "main") -> pygit2.Commit:
    bare = pygit2.Repository(str(server.repo_path(repo)))
    commit = bare[bare.references[f"refs/heads/{branch}"].target]
    assert isinstance(commit, pygit2.Commit)
    return commit


def blob(commit: pygit2.Commit, path: str) -> str:
    return commit.tree[path].data.decode()  # type: ignore[attr-defined]


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


def ui_pushes(cluster: Cluster, namespace: str, name: str, tmp: Path) -> list[dict[str, Any]]:
    """The pushes `afflux ui` (a real process, the cluster's kubeconfig) lists for an
    ImageUpdateAutomation on its images page (`GET /api/images`)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / f"ui-{port}.log"
    argv = [sys.executable, "-m", "afflux.cli", "--kubeconfig", str(cluster.kubeconfig),
            "ui", "--addr", f"127.0.0.1:{port}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=REPO)
    try:
        def pushes() -> list[dict[str, Any]]:
            assert proc.poll() is None, f"afflux ui exited {proc.returncode}:\n{log.read_text()}"
            with urllib.request.urlopen(f"{url}/api/images?namespace={namespace}",
                                        timeout=10) as resp:
                rows = json.load(resp)["automations"]
            row = next(r for r in rows if r["namespace"] == namespace and r["name"] == name)
            assert len(row["pushes"]) >= 2, row
            return list(row["pushes"])

        return eventually(pushes, 30, message="afflux ui to list the pushes")
    finally:
        proc.terminate()
        proc.wait(10)


def uid() -> str:
    return uuid.uuid4().hex[:8]


# --- fixtures ----------------------------------------------------------------------------------------


#: The controllers watch only the namespaces of these tests, so they never put their
#: finalizer on objects of other tests sharing the cluster.
NAMESPACE_PREFIX = "afx-img-"
IMAGE_KINDS = "imageupdateautomations,imagepolicies,imagerepositories"


@pytest.fixture(scope="module")
def controllers(start_controller, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    storage = tmp_path_factory.mktemp("tag-store")
    scope = ("--watch-all-namespaces=false", f"--namespace={NAMESPACE_PREFIX}*")
    start_controller("image-reflector", *scope, f"--storage-path={storage}")
    start_controller("image-automation", *scope)
    yield


def _delete_namespace(cluster: Cluster, name: str) -> None:
    """Delete the image objects while the controllers still run (they hold finalizers),
    then the namespace."""
    cluster.kubectl(
        "delete", IMAGE_KINDS, "--all", "-n", name, "--wait=true", "--timeout=60s", check=False
    )
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace the controllers of this module watch (overrides the harness's)."""
    base = request.node.name.lower().replace("_", "-").removeprefix("test-")
    keep = "".join(c for c in base if c.isalnum() or c == "-")[:30].strip("-")
    name = f"{NAMESPACE_PREFIX}{keep}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        _delete_namespace(cluster, name)


@pytest.fixture(scope="module")
def pusher(registry: Registry) -> Pusher:
    return Pusher(registry)


@pytest.fixture
def git_secret(git_server: GitHTTPServer):
    def make(namespace: str) -> dict[str, Any]:
        return secret(
            namespace,
            "git-auth",
            {
                "username": git_server.username,
                "password": git_server.password,
                "ca.crt": Path(git_server.ca_cert).read_bytes(),
            },
        )

    return make


# --- the whole story ------------------------------------------------------------------------------


@pytest.mark.flux_fields("ImageRepository", "spec.image", "spec.secretRef.name",
                         "spec.certSecretRef.name", "status.canonicalImageName",
                         "status.lastScanResult.tagCount", "status.lastScanResult.latestTags[]",
                         "status.observedExclusionList[]", "status.conditions[].type",
                         "status.conditions[].status", "status.conditions[].message",
                         "status.lastHandledReconcileAt", "status.observedGeneration",
                         "status.conditions[].observedGeneration",
                         "status.conditions[].lastTransitionTime")
@pytest.mark.flux_fields("ImagePolicy", "spec.imageRepositoryRef.name", "spec.policy.semver.range",
                         "status.latestRef.name", "status.latestRef.tag",
                         "status.observedPreviousRef.name", "status.observedPreviousRef.tag",
                         "status.conditions[].type", "status.conditions[].status",
                         "status.conditions[].message")
@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.sourceRef.kind", "spec.sourceRef.name",
                         "spec.git.commit.author.name", "spec.git.commit.author.email",
                         "spec.git.commit.messageTemplate",
                         "spec.git.commit.messageTemplateValues{*}", "spec.git.push.branch",
                         "spec.update.path", "spec.update.strategy", "status.lastPushCommit",
                         "status.lastPushTime", "status.lastAutomationRunTime",
                         "status.observedPolicies{*}.name", "status.observedPolicies{*}.tag",
                         "status.observedSourceRevision", "status.lastHandledReconcileAt",
                         "status.observedGeneration",
                         "status.conditions[].observedGeneration",
                         "status.conditions[].lastTransitionTime",
                         "status.conditions[].type", "status.conditions[].status",
                         "status.conditions[].message")
def test_tags_to_policy_to_commits(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
    tmp_path: Path,
) -> None:
    repo_path = f"afflux/app-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(repo_path, "1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0")

    apply(
        cluster,
        *registry_secrets(namespace, registry),
        image_repository(namespace, "app", image),
        image_policy(namespace, "app", "app", {"semver": {"range": ">=1.0.0 <2.0.0"}}),
    )
    repo = wait_condition(cluster, "imagerepository", namespace, "app")
    status = repo["status"]
    assert condition(repo, "Ready")["message"] == "successful scan: found 4 tags"
    assert status["canonicalImageName"] == image
    assert status["lastScanResult"]["tagCount"] == 4
    assert status["lastScanResult"]["latestTags"] == ["2.0.0", "1.2.0-rc.1", "1.1.0", "1.0.0"]
    assert status["observedExclusionList"] == ["^.*\\.sig$"]

    policy = wait_condition(cluster, "imagepolicy", namespace, "app")
    assert policy["status"]["latestRef"] == {"name": image, "tag": "1.1.0"}
    assert policy["status"]["latestImage"] == f"{image}:1.1.0"
    assert condition(policy, "Ready")["message"] == (
        f"Latest image tag for '{image}' resolved to 1.1.0"
    )

    # the Git side: a marked Deployment, and a marker naming a policy that does not exist
    name = f"auto-{uid()}"
    git_server.create_repo(name)
    url = git_server.url(name, "https")
    auth = GitAuth.for_server(git_server)
    before = deployment(
        f'{image}:1.0.0 # {{"$imagepolicy": "{namespace}:app"}}',
        f"        - name: other\n          image: {image}:0.9.0 "
        f'# {{"$imagepolicy": "{namespace}:missing"}}\n',
    )
    seed = git_push_files(url, {"apps/web.yaml": before, "README.md": "hello\n"}, auth=auth)
    apply(
        cluster,
        git_secret(namespace),
        git_repository(namespace, "repo", url),
        automation(
            namespace,
            "auto",
            "repo",
            messageTemplate=TEMPLATE,
            messageTemplateValues={"cluster": "prod"},
        ),
    )

    def first_commit() -> pygit2.Commit:
        commit = head(git_server, name)
        assert str(commit.id) != seed
        return commit

    commit = eventually(first_commit, 90, message="the first automation commit")
    assert [str(p) for p in commit.parent_ids] == [seed]
    assert blob(commit, "apps/web.yaml") == before.replace(f"{image}:1.0.0 #", f"{image}:1.1.0 #")
    assert blob(commit, "README.md") == "hello\n"
    assert (commit.author.name, commit.author.email) == (AUTHOR_NAME, AUTHOR_EMAIL)
    assert commit.message == (
        f"Automated update by auto for prod\n\n- {image}:1.0.0 -> {image}:1.1.0\n"
    )

    auto = wait_condition(cluster, "imageupdateautomation", namespace, "auto")
    status = auto["status"]
    assert condition(auto, "Ready")["message"] == "repository up-to-date"
    assert status["lastPushCommit"] == str(commit.id)
    assert status["observedPolicies"] == {"app": {"name": image, "tag": "1.1.0"}}
    assert status["observedSourceRevision"] == f"main@sha1:{commit.id}"
    assert status["lastPushTime"] and status["lastAutomationRunTime"]
    events = json.loads(
        cluster.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            "involvedObject.kind=ImageUpdateAutomation",
            "-o",
            "json",
        ).stdout
    )["items"]
    pushed = [e for e in events if e["message"].startswith("pushed commit")]
    assert pushed and pushed[0]["message"].startswith(
        f"pushed commit '{str(commit.id)[:7]}' to branch 'main'\nAutomated update by auto"
    )
    assert pushed[0]["metadata"]["annotations"][f"{GROUP}/revision"] == (f"main@sha1:{commit.id}")

    # someone else commits to the branch; then a new release reaches the registry
    theirs = git_push_files(url, {"NOTES.md": "by hand\n"}, message="by hand", auth=auth)
    pusher.push(repo_path, "1.2.0")
    request_reconcile(cluster, "imagerepository", namespace, "app")

    def updated_policy() -> dict[str, Any]:
        body = get(cluster, "imagepolicy", namespace, "app")
        assert body["status"]["latestRef"]["tag"] == "1.2.0"
        return body

    policy = eventually(updated_policy, 60, message="the policy to pick 1.2.0")
    observed_request(cluster, "imagerepository", namespace, "app")
    assert policy["status"]["observedPreviousRef"] == {"name": image, "tag": "1.1.0"}
    assert policy["status"]["observedPreviousImage"] == f"{image}:1.1.0"
    assert condition(policy, "Ready")["message"] == (
        f"Latest image tag for '{image}' updated from 1.1.0 to 1.2.0"
    )

    def second_commit() -> pygit2.Commit:
        commit = head(git_server, name)
        assert str(commit.id) != theirs
        return commit

    second = eventually(second_commit, 90, message="the second automation commit")
    assert [str(p) for p in second.parent_ids] == [theirs]
    assert blob(second, "NOTES.md") == "by hand\n"
    assert blob(second, "apps/web.yaml") == before.replace(f"{image}:1.0.0 #", f"{image}:1.2.0 #")
    assert second.message == (
        f"Automated update by auto for prod\n\n- {image}:1.1.0 -> {image}:1.2.0\n"
    )

    def observed() -> dict[str, Any]:
        status = get(cluster, "imageupdateautomation", namespace, "auto")["status"]
        assert status["lastPushCommit"] == str(second.id)
        return status

    status = eventually(observed, 30, message="the automation status after the second push")
    assert status["observedPolicies"] == {"app": {"name": image, "tag": "1.2.0"}}

    # `afflux ui`'s images page lists both pushes, newest first, from the controller's events
    pushes = ui_pushes(cluster, namespace, "auto", tmp_path)
    assert [(p["commit"], p["branch"], p["subject"]) for p in pushes[:2]] == [
        (str(second.id), "main", "Automated update by auto for prod"),
        (str(commit.id), "main", "Automated update by auto for prod"),
    ]

    # a requested run with nothing new to write pushes nothing
    request_reconcile(cluster, "imageupdateautomation", namespace, "auto")
    observed_request(cluster, "imageupdateautomation", namespace, "auto")
    eventually(
        lambda: (
            get(cluster, "imageupdateautomation", namespace, "auto")["status"].get(
                "lastHandledReconcileAt"
            )
            == get(cluster, "imageupdateautomation", namespace, "auto")["metadata"]["annotations"][
                "reconcile.fluxcd.io/requestedAt"
            ]
        ),
        30,
        message="the requested run",
    )
    assert str(head(git_server, name).id) == str(second.id)


# --- policies ------------------------------------------------------------------------------------


@pytest.mark.flux_fields("ImagePolicy", "spec.policy.numerical.order",
                         "spec.policy.alphabetical.order", "spec.filterTags.pattern",
                         "spec.filterTags.extract")
def test_alphabetical_and_numerical_policies_with_filter_tags(
    controllers: None, cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher
) -> None:
    repo_path = f"afflux/builds-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(
        repo_path,
        "main-abc123-1700000000",
        "main-def456-1700000500",
        "main-aaa111-1699999999",
        "dev-zzz999-1800000000",
        "latest",
    )
    pattern = {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "extract": "$ts"}
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        image_repository(namespace, "builds", image),
        image_policy(
            namespace, "newest", "builds", {"numerical": {"order": "asc"}}, filterTags=pattern
        ),
        image_policy(
            namespace, "oldest", "builds", {"numerical": {"order": "desc"}}, filterTags=pattern
        ),
        image_policy(
            namespace,
            "last-name",
            "builds",
            {"alphabetical": {}},
            filterTags={"pattern": "^main-"},
        ),
        image_policy(
            namespace,
            "first-name",
            "builds",
            {"alphabetical": {"order": "desc"}},
            filterTags={"pattern": "^main-"},
        ),
    )
    expected = {
        "newest": "main-def456-1700000500",
        "oldest": "main-aaa111-1699999999",
        "last-name": "main-def456-1700000500",
        "first-name": "main-aaa111-1699999999",
    }
    for name, tag in expected.items():
        body = wait_condition(cluster, "imagepolicy", namespace, name)
        assert body["status"]["latestRef"] == {"name": image, "tag": tag}, name


@pytest.mark.flux_fields("ImagePolicy", "spec.digestReflectionPolicy", "status.latestRef.digest")
def test_digest_reflection(
    controllers: None, cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher
) -> None:
    repo_path = f"afflux/digests-{uid()}"
    image = f"{registry.host}/{repo_path}"
    digests = pusher.push(repo_path, "1.0.0", "1.1.0")
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        image_repository(namespace, "app", image),
        image_policy(
            namespace,
            "pinned",
            "app",
            {"semver": {"range": "1.x"}},
            digestReflectionPolicy="IfNotPresent",
        ),
    )
    body = wait_condition(cluster, "imagepolicy", namespace, "pinned")
    assert body["status"]["latestRef"] == {
        "name": image,
        "tag": "1.1.0",
        "digest": digests["1.1.0"],
    }


@pytest.mark.flux_fields("ImageRepository", "spec.interval", "spec.suspend")
@pytest.mark.flux_fields("ImagePolicy", "status.observedPreviousRef.digest")
def test_interval_rescans_and_suspend_stops_them(
    controllers: None, cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher
) -> None:
    """With spec.interval 2s a new tag is scanned without any request and the policy moves
    on, keeping the digest of the tag it left in observedPreviousRef; a suspended
    ImageRepository on the same image does not scan the next tag while its unsuspended
    sibling scans it and two more intervals pass."""
    repo_path = f"afflux/interval-{uid()}"
    image = f"{registry.host}/{repo_path}"
    digests = pusher.push(repo_path, "1.0.0")
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        image_repository(namespace, "app", image, interval="2s"),
        image_repository(namespace, "frozen", image, interval="2s"),
        image_policy(namespace, "latest", "app", {"semver": {"range": "1.x"}},
                     digestReflectionPolicy="IfNotPresent"),
    )
    wait_condition(cluster, "imagepolicy", namespace, "latest")
    wait_condition(cluster, "imagerepository", namespace, "frozen")
    cluster.kubectl("patch", "imagerepository", "frozen", "-n", namespace, "--type=merge",
                    "-p", json.dumps({"spec": {"suspend": True}}))
    digests.update(pusher.push(repo_path, "1.1.0"))

    def moved() -> dict[str, Any]:
        status = get(cluster, "imagepolicy", namespace, "latest")["status"]
        assert status["latestRef"]["tag"] == "1.1.0", status
        return dict(status)
    status = eventually(moved, 60, message="the policy follows the scan of the interval")
    assert status["observedPreviousRef"] == {"name": image, "tag": "1.0.0",
                                             "digest": digests["1.0.0"]}

    seen = get(cluster, "imagerepository", namespace, "app")["status"]["lastScanResult"]
    first = datetime.strptime(seen["scanTime"], "%Y-%m-%dT%H:%M:%SZ")

    def two_more_scans() -> bool:
        scan = get(cluster, "imagerepository", namespace, "app")["status"]["lastScanResult"]
        when = datetime.strptime(scan["scanTime"], "%Y-%m-%dT%H:%M:%SZ")
        assert (when - first).total_seconds() >= 4, scan
        return True
    eventually(two_more_scans, 60, message="the unsuspended sibling scans again")
    frozen = get(cluster, "imagerepository", namespace, "frozen")["status"]["lastScanResult"]
    assert frozen["tagCount"] == 1, frozen


@pytest.mark.flux_fields("ImagePolicy", "spec.interval", "spec.suspend")
def test_policy_interval_follows_a_moved_tag_unless_suspended(
    controllers: None, cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher
) -> None:
    """digestReflectionPolicy Always with spec.interval 2s: the tag 1.0.0 is pushed again as
    another image and the policy records the new digest on its own interval (the
    ImageRepository, interval 1h, does not rescan: its tag list is the same anyway); a
    suspended policy on the same repository keeps the old digest."""
    repo_path = f"afflux/moved-{uid()}"
    image = f"{registry.host}/{repo_path}"
    first = pusher.push(repo_path, "1.0.0")["1.0.0"]
    always = {"digestReflectionPolicy": "Always", "interval": "2s"}
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        image_repository(namespace, "app", image),
        image_policy(namespace, "follows", "app", {"semver": {"range": "1.x"}}, **always),
        image_policy(namespace, "held", "app", {"semver": {"range": "1.x"}}, **always),
    )
    for name in ("follows", "held"):
        body = wait_condition(cluster, "imagepolicy", namespace, name)
        assert body["status"]["latestRef"]["digest"] == first, name
    cluster.kubectl("patch", "imagepolicy", "held", "-n", namespace, "--type=merge",
                    "-p", json.dumps({"spec": {"suspend": True}}))
    # three moves, each seen by the unsuspended policy before the next: at least two of
    # its 2s intervals pass, in which the suspended one would have moved too
    for salt in ("moved", "again", "third"):
        moved = pusher.push(repo_path, "1.0.0", salt=salt)["1.0.0"]
        assert moved != first

        def follows(digest: str = moved) -> bool:
            ref = get(cluster, "imagepolicy", namespace, "follows")["status"]["latestRef"]
            assert ref == {"name": image, "tag": "1.0.0", "digest": digest}, ref
            return True
        eventually(follows, 60, message=f"the policy resolves the tag {salt} on its interval")
    held = get(cluster, "imagepolicy", namespace, "held")["status"]["latestRef"]
    assert held["digest"] == first, held


@pytest.mark.parametrize("ref_kind", ["semver", "name", "commit"])
@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.checkout.ref.semver",
                         "spec.git.checkout.ref.name", "spec.git.checkout.ref.commit",
                         "status.observedPolicies{*}.digest")
def test_checkout_ref_by_semver_name_or_commit(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
    ref_kind: str,
) -> None:
    """The checkout is the commit tagged v1.2.0, not main's head, whether the ref names it
    by a semver range over the tags, by its full tag name, or by its SHA: the automation's
    commit on the push branch has that commit as its parent; the policy reflects digests,
    so observedPolicies carries the digest."""
    repo_path = f"afflux/ref-{uid()}"
    image = f"{registry.host}/{repo_path}"
    digests = pusher.push(repo_path, "1.0.0", "1.4.0")
    apply(cluster, *registry_secrets(namespace, registry),
          image_repository(namespace, "app", image),
          image_policy(namespace, "app", "app", {"semver": {"range": "1.x"}},
                       digestReflectionPolicy="IfNotPresent"))
    wait_condition(cluster, "imagepolicy", namespace, "app")

    name = f"ref-{uid()}"
    git_server.create_repo(name)
    url = git_server.url(name, "https")
    auth = GitAuth.for_server(git_server)
    marked = deployment(f'{image}:1.0.0 # {{"$imagepolicy": "{namespace}:app"}}')
    git_push_files(url, {"apps/web.yaml": marked, "v.txt": "1.0.0\n"}, auth=auth, tag="v1.0.0")
    tagged = git_push_files(url, {"v.txt": "1.2.0\n"}, auth=auth, tag="v1.2.0")
    git_push_files(url, {"v.txt": "unreleased\n"}, auth=auth)
    ref = {"semver": {"semver": ">=1.0.0 <2.0.0"}, "name": {"name": "refs/tags/v1.2.0"},
           "commit": {"commit": tagged}}[ref_kind]
    auto = automation(namespace, "auto", "repo")
    auto["spec"]["git"]["checkout"] = {"ref": ref}
    auto["spec"]["git"]["push"] = {"branch": "release"}
    apply(cluster, git_secret(namespace), git_repository(namespace, "repo", url), auto)

    commit = eventually(lambda: head(git_server, name, "release"), 90,
                        message="the automation commit on the release branch")
    assert [str(p) for p in commit.parent_ids] == [tagged]
    assert blob(commit, "v.txt") == "1.2.0\n"
    # with a digest the setter pins it: name:tag@digest
    assert f"{image}:1.4.0@{digests['1.4.0']} # {{" in blob(commit, "apps/web.yaml")
    status = wait_condition(cluster, "imageupdateautomation", namespace, "auto")["status"]
    assert status["observedPolicies"] == {
        "app": {"name": image, "tag": "1.4.0", "digest": digests["1.4.0"]}}


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.interval", "spec.suspend")
def test_automation_interval_reapplies_unless_suspended(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
) -> None:
    """Two automations with spec.interval 2s, each pushing to its own branch; someone sets
    the image back on both branches (the GitRepository, interval 1h, sees nothing new):
    the running automation sets it again on its interval, three times; the suspended one
    leaves its branch as it was over the last two (at least one whole interval)."""
    image = _policy_with_latest(cluster, namespace, registry, pusher)
    name = f"interval-{uid()}"
    git_server.create_repo(name)
    url = git_server.url(name, "https")
    auth = GitAuth.for_server(git_server)
    marked = deployment(f'{image}:1.0.0 # {{"$imagepolicy": "{namespace}:app"}}')
    git_push_files(url, {"apps/web.yaml": marked}, auth=auth)
    autos = []
    for branch in ("running", "held"):
        auto = automation(namespace, branch, "repo")
        auto["spec"]["interval"] = "2s"
        auto["spec"]["git"]["push"] = {"branch": branch}
        autos.append(auto)
    apply(cluster, git_secret(namespace), git_repository(namespace, "repo", url), *autos)

    def updated(branch: str) -> str:
        commit = head(git_server, name, branch)
        assert f"{image}:1.5.0 # {{" in blob(commit, "apps/web.yaml"), branch
        return str(commit.id)
    for branch in ("running", "held"):
        eventually(lambda b=branch: updated(b), 90, message=f"the first push to {branch}")
    cluster.kubectl("patch", "imageupdateautomation", "held", "-n", namespace,
                    "--type=merge", "-p", json.dumps({"spec": {"suspend": True}}))
    held = ""
    for round_ in (1, 2, 3):
        if round_ == 2:  # a run of `held` that began before the suspension is over by now
            held = git_push_files(url, {"apps/web.yaml": marked}, branch="held", auth=auth)
        reverted = git_push_files(url, {"apps/web.yaml": marked}, branch="running", auth=auth,
                                  message=f"set back {round_}")

        def fixed(before: str = reverted) -> bool:
            commit = head(git_server, name, "running")
            assert [str(p) for p in commit.parent_ids] == [before], "not yet"
            updated("running")
            return True
        eventually(fixed, 60, message=f"the automation sets the image again ({round_})")
    assert str(head(git_server, name, "held").id) == held


@pytest.mark.flux_fields("ImageRepository", "spec.proxySecretRef.name")
def test_scan_through_proxy_secret_ref(
    controllers: None, cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher
) -> None:
    repo_path = f"afflux/proxied-{uid()}"
    pusher.push(repo_path, "1.0.0", "1.1.0")
    password = uuid.uuid4().hex
    with TunnelProxy("scanner", password) as proxy:
        apply(
            cluster,
            *registry_secrets(namespace, registry),
            secret(namespace, "proxy", {"address": proxy.address, "username": "scanner",
                                        "password": password}),
            image_repository(namespace, "app", f"{registry.host}/{repo_path}",
                             proxySecretRef={"name": "proxy"}),
        )
        body = wait_condition(cluster, "imagerepository", namespace, "app")
        assert body["status"]["lastScanResult"]["tagCount"] == 2
        assert registry.host in proxy.seen, proxy.seen


@pytest.mark.flux_fields("ImageRepository", "spec.serviceAccountName")
def test_scan_with_the_pull_secrets_of_a_service_account(
    controllers: None, cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher
) -> None:
    """No secretRef: the credentials come from the imagePullSecrets of the ServiceAccount
    (the registry refuses anonymous reads); a ServiceAccount that does not exist says so."""
    repo_path = f"afflux/sa-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(repo_path, "1.0.0", "1.1.0", "1.2.0")
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "puller", "namespace": namespace},
         "imagePullSecrets": [{"name": "regcred"}]},
        image_repository(namespace, "app", image, secretRef=None, serviceAccountName="puller"),
        image_repository(namespace, "nosa", image, secretRef=None, serviceAccountName="nobody"),
    )
    body = wait_condition(cluster, "imagerepository", namespace, "app")
    assert body["status"]["lastScanResult"]["tagCount"] == 3
    missing = wait_condition(cluster, "imagerepository", namespace, "nosa", status="False")
    assert "nobody" in condition(missing, "Ready")["message"]


@pytest.mark.flux_fields("ImageRepository", "spec.timeout")
def test_scan_timeout_ends_a_hanging_scan(
    controllers: None, cluster: Cluster, namespace: str
) -> None:
    """A registry that accepts connections and never answers: with spec.timeout 1s the
    scan fails and Ready=False says so, well before the 60 s default would end it."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])  # never answered
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    try:
        port = listener.getsockname()[1]
        apply(cluster, image_repository(namespace, "hangs", f"127.0.0.1:{port}/app",
                                        insecure=True, timeout="1s", secretRef=None,
                                        certSecretRef=None))
        body = wait_condition(cluster, "imagerepository", namespace, "hangs", status="False",
                              timeout=40)
        message = condition(body, "Ready")["message"]
        assert "timeout" in message.lower() or "timed out" in message.lower(), message
        assert held, "the scan reached the registry"
    finally:
        listener.close()
        for conn in held:
            conn.close()


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.sourceRef.namespace")
def test_automation_with_a_source_in_another_namespace(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
) -> None:
    """The GitRepository (and its credentials) live in another namespace: the automation
    finds it by spec.sourceRef.namespace and pushes (cross-namespace refs are allowed by
    default, as in Flux)."""
    image = _policy_with_latest(cluster, namespace, registry, pusher)
    name, url, seed = _marked_repo(git_server, namespace, image, "xns")
    other = f"{namespace[:50]}-src"
    cluster.kubectl("create", "namespace", other)
    try:
        auto = automation(namespace, "auto", "repo")
        auto["spec"]["sourceRef"]["namespace"] = other
        apply(cluster, git_secret(other), git_repository(other, "repo", url), auto)

        def pushed() -> pygit2.Commit:
            commit = head(git_server, name)
            assert str(commit.id) != seed
            return commit
        commit = eventually(pushed, 90, message="the automation commit")
        assert f"{image}:1.5.0 # {{" in blob(commit, "apps/web.yaml")
    finally:
        _delete_namespace(cluster, other)



@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.commit.signingKey.type",
                         "spec.git.commit.signingKey.secretRef.name",
                         "status.conditions[].reason")
def test_ssh_signing_key_signs_commits_and_a_garbled_one_stalls(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
    tmp_path: Path,
) -> None:
    """signingKey.type ssh: the commit carries an SSH signature made with the Secret's
    `identity` (decrypted with its `password`) that the real `git verify-commit` accepts;
    a garbled key stalls the automation, pushes nothing, and its message says what to
    change without quoting the Secret."""
    image = _policy_with_latest(cluster, namespace, registry, pusher)
    name, url, seed = _marked_repo(git_server, namespace, image, "sshsig")
    key = new_ssh_key(tmp_path, "signer", "ed25519", "s3cret-passphrase")
    plain = new_ssh_key(tmp_path, "plain", "ed25519")
    bad_identity = garble(plain.private, 64)
    autos = []
    for auto_name, secret_name in (("signed", "ssh-signing"), ("garbled", "ssh-garbled")):
        auto = automation(namespace, auto_name, "repo",
                          signingKey={"type": "ssh", "secretRef": {"name": secret_name}})
        auto["spec"]["git"]["push"] = {"branch": auto_name}
        autos.append(auto)
    apply(
        cluster,
        git_secret(namespace),
        git_repository(namespace, "repo", url),
        secret(namespace, "ssh-signing", {"identity": key.private, "password": key.passphrase}),
        secret(namespace, "ssh-garbled", {"identity": bad_identity}),
        *autos,
    )

    def pushed() -> pygit2.Commit:
        commit = head(git_server, name, "signed")
        assert str(commit.id) != seed
        return commit
    commit = eventually(pushed, 90, message="the signed automation commit")
    assert f"{image}:1.5.0 # {{" in blob(commit, "apps/web.yaml")
    assert commit.gpg_signature[0].startswith(b"-----BEGIN SSH SIGNATURE-----")
    verified = verify_commit(
        git_server.repo_path(name), str(commit.id), {AUTHOR_EMAIL: key}, tmp_path
    )
    assert verified.returncode == 0, verified.stderr
    assert f'Good "git" signature for {AUTHOR_EMAIL}' in verified.stderr
    wait_condition(cluster, "imageupdateautomation", namespace, "signed")

    stalled = wait_condition(cluster, "imageupdateautomation", namespace, "garbled", "Stalled",
                             reason="SourceManagerFailed", timeout=90)
    message = condition(stalled, "Stalled")["message"]
    assert f"Secret '{namespace}/ssh-garbled'" in message, message
    assert "corrupt or truncated" in message, message
    body = b"".join(bad_identity.splitlines()[1:-1]).decode()
    for i in range(0, len(body) - 8, 8):
        assert body[i : i + 8] not in message
    assert condition(stalled, "Ready")["status"] == "False"
    assert "refs/heads/garbled" not in pygit2.Repository(
        str(git_server.repo_path(name))).references
    assert "lastPushCommit" not in stalled["status"]


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.sourceRef.apiVersion")
def test_source_ref_api_version_is_not_compared_and_only_git_repository_is_admitted(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
) -> None:
    """As in Flux, spec.sourceRef.apiVersion is optional, has no default and is not
    compared: the GitRepository is found by kind, name and namespace whatever version is
    written there (an older one here). Any kind other than GitRepository is refused by
    the API server (the CRD's enum)."""
    image = _policy_with_latest(cluster, namespace, registry, pusher)
    name, url, seed = _marked_repo(git_server, namespace, image, "apiversion")
    older = automation(namespace, "older", "repo")
    older["spec"]["sourceRef"]["apiVersion"] = "source.toolkit.fluxcd.io/v1beta2"
    older["spec"]["git"]["push"] = {"branch": "older"}
    unset = automation(namespace, "unset", "repo")
    unset["spec"]["git"]["push"] = {"branch": "unset"}
    apply(cluster, git_secret(namespace), git_repository(namespace, "repo", url), older, unset)

    def pushed(branch: str) -> pygit2.Commit:
        commit = head(git_server, name, branch)
        assert str(commit.id) != seed
        return commit
    for branch in ("older", "unset"):
        commit = eventually(lambda b=branch: pushed(b), 90, message=f"the push to {branch}")
        assert f"{image}:1.5.0 # {{" in blob(commit, "apps/web.yaml")
    assert get(cluster, "imageupdateautomation", namespace, "older")["spec"]["sourceRef"][
        "apiVersion"] == "source.toolkit.fluxcd.io/v1beta2"
    assert "apiVersion" not in get(
        cluster, "imageupdateautomation", namespace, "unset")["spec"]["sourceRef"]

    other_kind = automation(namespace, "oci", "repo")
    other_kind["spec"]["sourceRef"].update(
        apiVersion="source.toolkit.fluxcd.io/v1", kind="OCIRepository")
    refused = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(other_kind), check=False)
    assert refused.returncode != 0
    assert "spec.sourceRef.kind" in refused.stderr and "GitRepository" in refused.stderr

# --- bad inputs: image-reflector -------------------------------------------------------------------


def test_a_cloud_provider_of_an_image_repository_is_refused_with_what_to_use(
    controllers: None, cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher
) -> None:
    """spec.provider generic scans with spec.secretRef; aws, azure and gcp (a cloud
    registry login through workload identity, which afflux does not have) stall before any
    scan, saying what to use instead."""
    repo_path = f"afflux/provider-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(repo_path, "1.0.0", "1.1.0")
    clouds = ("aws", "azure", "gcp")
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        image_repository(namespace, "generic", image, provider="generic"),
        *(image_repository(namespace, cloud, image, provider=cloud) for cloud in clouds),
    )
    scanned = wait_condition(cluster, "imagerepository", namespace, "generic")
    assert scanned["status"]["lastScanResult"]["tagCount"] == 2
    for cloud in clouds:
        stalled = wait_condition(cluster, "imagerepository", namespace, cloud, "Stalled",
                                 reason="AuthenticationFailed")
        message = condition(stalled, "Stalled")["message"]
        assert f"spec.provider '{cloud}' is not supported" in message, message
        assert "spec.provider: generic" in message and "spec.secretRef" in message, message
        assert condition(stalled, "Ready")["status"] == "False"
        assert "lastScanResult" not in stalled["status"]


@pytest.mark.flux_fields("ImageRepository", "spec.secretRef.name", "spec.exclusionList[]",
                         "status.conditions[].reason")
@pytest.mark.flux_fields("ImagePolicy", "spec.policy.semver.range", "spec.filterTags.pattern",
                         "status.conditions[].reason")
def test_bad_policies_and_repositories(
    controllers: None, cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher
) -> None:
    repo_path = f"afflux/bad-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(repo_path, "1.0.0", "1.1.0")
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        secret(
            namespace,
            "wrongcred",
            {
                ".dockerconfigjson": json.dumps(
                    {
                        "auths": {
                            registry.host: {
                                "auth": base64.b64encode(
                                    f"{registry.username}:wrong".encode()
                                ).decode()
                            }
                        }
                    }
                )
            },
            "kubernetes.io/dockerconfigjson",
        ),
        image_repository(namespace, "good", image),
        image_repository(namespace, "refused", image, secretRef={"name": "wrongcred"}),
        image_repository(namespace, "tagged", f"{image}:1.0.0"),
        image_repository(namespace, "bad-exclusion", image, exclusionList=["(unclosed"]),
        image_policy(namespace, "bad-range", "good", {"semver": {"range": ">=1.0.0 <<2"}}),
        image_policy(
            namespace,
            "bad-regex",
            "good",
            {"alphabetical": {}},
            filterTags={"pattern": "^(main"},
        ),
        image_policy(namespace, "no-match", "good", {"semver": {"range": ">=9.0.0"}}),
        image_policy(namespace, "no-repo", "absent", {"semver": {"range": "1.x"}}),
    )

    refused = wait_condition(
        cluster,
        "imagerepository",
        namespace,
        "refused",
        status="False",
        reason="AuthenticationFailed",
    )
    message = condition(refused, "Ready")["message"]
    assert "rejected the credentials" in message and registry.host in message

    tagged = wait_condition(
        cluster, "imagerepository", namespace, "tagged", "Stalled", reason="ImageURLInvalid"
    )
    assert "should not include a tag" in condition(tagged, "Stalled")["message"]

    bad_exclusion = wait_condition(
        cluster, "imagerepository", namespace, "bad-exclusion", "Stalled"
    )
    assert "spec.exclusionList[0]" in condition(bad_exclusion, "Stalled")["message"]

    bad_range = wait_condition(
        cluster, "imagepolicy", namespace, "bad-range", "Stalled", reason="InvalidPolicy"
    )
    assert "not a valid semver range" in condition(bad_range, "Stalled")["message"]
    bad_regex = wait_condition(
        cluster, "imagepolicy", namespace, "bad-regex", "Stalled", reason="InvalidPolicy"
    )
    assert "spec.filterTags.pattern" in condition(bad_regex, "Stalled")["message"]

    no_match = wait_condition(
        cluster, "imagepolicy", namespace, "no-match", status="False", reason="Failure"
    )
    assert ">=9.0.0" in condition(no_match, "Ready")["message"]
    assert "latestRef" not in no_match["status"]
    assert condition(no_match, "Stalled") is None

    no_repo = wait_condition(
        cluster, "imagepolicy", namespace, "no-repo", status="False", reason="DependencyNotReady"
    )
    assert "does not exist" in condition(no_repo, "Ready")["message"]


@pytest.mark.flux_fields("ImageRepository", "spec.accessFrom.namespaceSelectors[].matchLabels{*}")
@pytest.mark.flux_fields("ImagePolicy", "spec.imageRepositoryRef.namespace",
                         "status.lastHandledReconcileAt", "status.observedGeneration",
                         "status.conditions[].observedGeneration",
                         "status.conditions[].lastTransitionTime")
def test_cross_namespace_policy_needs_access_from(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
) -> None:
    repo_path = f"afflux/shared-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(repo_path, "3.0.0")
    other = f"{namespace[:50]}-pol"
    cluster.kubectl("create", "namespace", other)
    try:
        apply(
            cluster,
            *registry_secrets(namespace, registry),
            image_repository(namespace, "shared", image),
        )
        policy = image_policy(other, "app", "shared", {"semver": {"range": "3.x"}})
        policy["spec"]["imageRepositoryRef"]["namespace"] = namespace
        apply(cluster, policy)
        denied = wait_condition(
            cluster, "imagepolicy", other, "app", status="False", reason="AccessDenied"
        )
        assert "accessFrom" in condition(denied, "Ready")["message"]

        apply(
            cluster,
            image_repository(
                namespace,
                "shared",
                image,
                accessFrom={
                    "namespaceSelectors": [{"matchLabels": {"kubernetes.io/metadata.name": other}}]
                },
            ),
        )
        request_reconcile(cluster, "imagepolicy", other, "app")
        allowed = wait_condition(cluster, "imagepolicy", other, "app")
        observed_request(cluster, "imagepolicy", other, "app")
        assert allowed["status"]["latestRef"] == {"name": image, "tag": "3.0.0"}
    finally:
        _delete_namespace(cluster, other)


# --- bad inputs: image-automation --------------------------------------------------------------------


def _policy_with_latest(cluster: Cluster, namespace: str, registry: Registry, pusher: Pusher):
    repo_path = f"afflux/auto-bad-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(repo_path, "1.0.0", "1.5.0")
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        image_repository(namespace, "app", image),
        image_policy(namespace, "app", "app", {"semver": {"range": "1.x"}}),
    )
    wait_condition(cluster, "imagepolicy", namespace, "app")
    return image


def _marked_repo(
    git_server: GitHTTPServer, namespace: str, image: str, prefix: str
) -> tuple[str, str, str]:
    """A new repository on the Git server whose apps/web.yaml marks `image:1.0.0` with the
    policy `<namespace>:app`: its name, https URL and first commit."""
    name = f"{prefix}-{uid()}"
    git_server.create_repo(name)
    url = git_server.url(name, "https")
    marked = deployment(f'{image}:1.0.0 # {{"$imagepolicy": "{namespace}:app"}}')
    seed = git_push_files(url, {"apps/web.yaml": marked}, auth=GitAuth.for_server(git_server))
    return name, url, seed


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.commit.messageTemplate",
                         "status.conditions[].reason")
def test_template_that_does_not_render_stalls_and_pushes_nothing(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
) -> None:
    image = _policy_with_latest(cluster, namespace, registry, pusher)
    name, url, seed = _marked_repo(git_server, namespace, image, "tmpl")
    apply(
        cluster,
        git_secret(namespace),
        git_repository(namespace, "repo", url),
        automation(namespace, "auto", "repo", messageTemplate="{{ .AutomationObject.Nope }}"),
        automation(namespace, "unparsable", "repo", messageTemplate="{{ .Changed"),
    )
    stalled = wait_condition(
        cluster, "imageupdateautomation", namespace, "auto", "Stalled", reason="UpdateFailed"
    )
    assert "Nope" in condition(stalled, "Stalled")["message"]
    unparsable = wait_condition(
        cluster,
        "imageupdateautomation",
        namespace,
        "unparsable",
        "Stalled",
        reason="UpdateFailed",
    )
    assert "unable to create commit message template" in condition(unparsable, "Stalled")["message"]
    assert str(head(git_server, name).id) == seed


def test_push_without_write_access_fails_clearly_and_pushes_nothing(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
) -> None:
    image = _policy_with_latest(cluster, namespace, registry, pusher)
    name = f"readonly-{uid()}"
    git_server.create_repo(name, public=True)  # anyone reads, only the user may push
    marked = deployment(f'{image}:1.0.0 # {{"$imagepolicy": "{namespace}:app"}}')
    seed = git_push_files(
        git_server.url(name, "https"),
        {"apps/web.yaml": marked},
        auth=GitAuth.for_server(git_server),
    )
    apply(
        cluster,
        git_repository(namespace, "public", git_server.url(name, "http"), secret_name=None),
        automation(namespace, "auto", "public"),
    )
    failed = wait_condition(
        cluster,
        "imageupdateautomation",
        namespace,
        "auto",
        status="False",
        reason="GitOperationFailed",
        timeout=90,
    )
    message = condition(failed, "Ready")["message"]
    assert message.startswith("failed to update source: push to branch 'main'"), message
    assert "requires authentication" in message and "write access" in message
    assert str(head(git_server, name).id) == seed
    assert "lastPushCommit" not in failed["status"]


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.sourceRef.name")
def test_missing_git_repository_is_not_ready(
    controllers: None, cluster: Cluster, namespace: str
) -> None:
    body = automation(namespace, "auto", "missing")
    apply(cluster, body)
    waiting = wait_condition(
        cluster,
        "imageupdateautomation",
        namespace,
        "auto",
        status="False",
        reason="DependencyNotReady",
    )
    assert "GitRepository" in condition(waiting, "Ready")["message"]


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.policySelector.matchExpressions[].key",
                         "spec.policySelector.matchExpressions[].operator",
                         "spec.policySelector.matchExpressions[].values[]")
def test_policy_selector_limits_the_policies_applied(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
) -> None:
    repo_path = f"afflux/selected-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(repo_path, "1.0.0", "1.3.0", "2.1.0")
    selected = image_policy(namespace, "selected", "app", {"semver": {"range": "1.x"}})
    selected["metadata"]["labels"] = {"team": "a"}
    ignored = image_policy(namespace, "ignored", "app", {"semver": {"range": "2.x"}})
    ignored["metadata"]["labels"] = {"team": "b"}
    apply(
        cluster,
        *registry_secrets(namespace, registry),
        image_repository(namespace, "app", image),
        selected,
        ignored,
    )
    wait_condition(cluster, "imagepolicy", namespace, "selected")
    wait_condition(cluster, "imagepolicy", namespace, "ignored")

    name = f"selector-{uid()}"
    git_server.create_repo(name)
    url = git_server.url(name, "https")
    before = deployment(
        f'{image}:1.0.0 # {{"$imagepolicy": "{namespace}:selected"}}',
        f"        - name: other\n          image: {image}:1.0.0 "
        f'# {{"$imagepolicy": "{namespace}:ignored"}}\n',
    )
    seed = git_push_files(url, {"apps/web.yaml": before}, auth=GitAuth.for_server(git_server))
    auto = automation(namespace, "auto", "repo")
    auto["spec"]["policySelector"] = {
        "matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]
    }
    apply(cluster, git_secret(namespace), git_repository(namespace, "repo", url), auto)

    def pushed() -> pygit2.Commit:
        commit = head(git_server, name)
        assert str(commit.id) != seed
        return commit

    commit = eventually(pushed, 90, message="the automation commit")
    assert blob(commit, "apps/web.yaml") == before.replace(
        f"{image}:1.0.0 # {{", f"{image}:1.3.0 # {{", 1
    )
    assert commit.message == "Update from image update automation"
    status = wait_condition(cluster, "imageupdateautomation", namespace, "auto")["status"]
    assert status["observedPolicies"] == {"selected": {"name": image, "tag": "1.3.0"}}


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.checkout.ref.branch",
                         "spec.policySelector.matchLabels{*}")
def test_checkout_branch_and_policy_labels(
    controllers: None,
    cluster: Cluster,
    namespace: str,
    registry: Registry,
    pusher: Pusher,
    git_server: GitHTTPServer,
    git_secret,
) -> None:
    repo_path = f"afflux/branch-{uid()}"
    image = f"{registry.host}/{repo_path}"
    pusher.push(repo_path, "1.0.0", "1.3.0", "2.1.0")
    selected = image_policy(namespace, "selected", "app", {"semver": {"range": "1.x"}})
    selected["metadata"]["labels"] = {"team": "a"}
    ignored = image_policy(namespace, "ignored", "app", {"semver": {"range": "2.x"}})
    ignored["metadata"]["labels"] = {"team": "b"}
    apply(cluster, *registry_secrets(namespace, registry),
          image_repository(namespace, "app", image), selected, ignored)
    wait_condition(cluster, "imagepolicy", namespace, "selected")
    wait_condition(cluster, "imagepolicy", namespace, "ignored")

    name = f"branch-{uid()}"
    git_server.create_repo(name)
    url = git_server.url(name, "https")
    auth = GitAuth.for_server(git_server)
    on_main = git_push_files(url, {"README.md": "main only\n"}, auth=auth)
    before = deployment(
        f'{image}:1.0.0 # {{"$imagepolicy": "{namespace}:selected"}}',
        f"        - name: other\n          image: {image}:1.0.0 "
        f'# {{"$imagepolicy": "{namespace}:ignored"}}\n',
    )
    seed = git_push_files(url, {"apps/web.yaml": before}, branch="staging", auth=auth)
    auto = automation(namespace, "auto", "repo")
    auto["spec"]["git"]["checkout"] = {"ref": {"branch": "staging"}}
    auto["spec"]["git"]["push"] = {"branch": "staging"}
    auto["spec"]["policySelector"] = {"matchLabels": {"team": "a"}}
    apply(cluster, git_secret(namespace), git_repository(namespace, "repo", url), auto)

    def pushed() -> pygit2.Commit:
        commit = head(git_server, name, "staging")
        assert str(commit.id) != seed
        return commit

    commit = eventually(pushed, 90, message="the automation commit on the checkout branch")
    assert [str(p) for p in commit.parent_ids] == [seed]
    assert blob(commit, "apps/web.yaml") == before.replace(
        f"{image}:1.0.0 # {{", f"{image}:1.3.0 # {{", 1
    )
    assert str(head(git_server, name).id) == on_main, "main untouched"
    status = wait_condition(cluster, "imageupdateautomation", namespace, "auto")["status"]
    assert status["observedPolicies"] == {"selected": {"name": image, "tag": "1.3.0"}}
