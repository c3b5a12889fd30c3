"""notification-controller against a real Git forge: Gitea (built from Go modules by
hack/tools.sh, on loopback), with real source-, kustomize- and notification-controller
processes.

- commit status: a Kustomization applying a Gitea repository produces events that a
  `gitea` Provider turns into a commit status on the applied commit, under the stable key
  `kustomization/<name>/<provider uid prefix>`; a later event about the same commit
  updates that status (Gitea's combined status keeps one entry for the key);
- pull request comment: events about an object whose change_request names a Gitea pull
  request become one comment on it (found again by its hidden marker and edited, not
  duplicated, by the next event);
- push webhook: a `git push` to Gitea makes Gitea POST its push webhook (which carries
  GitHub's `X-GitHub-Event` and `X-Hub-Signature-256`) to a `github` Receiver, which sets
  requestedAt on the GitRepository; the Kustomization then applies the pushed change, with
  both intervals at 1h so nothing else could have triggered it.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from notify_env import TIMEOUT, Env, name, notification_env, watched_namespace

from afflux.cli.devenv import GitHTTPServer, free_port
from harness.fixtures_cluster import Cluster
from harness.fixtures_servers import git_push_files
from harness.gitea import Gitea
from harness.wait import eventually

pytestmark = pytest.mark.integration

KS = "kustomize.toolkit.fluxcd.io"


@pytest.fixture(scope="module")
def env(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    namespace, scope = watched_namespace(cluster, "t-gitea")
    storage, port = tmp_path_factory.mktemp("gitea-storage"), free_port()
    start_controller("source", f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{port}",
                     f"--storage-adv-addr=127.0.0.1:{port}", *scope)
    start_controller("kustomize", *scope)
    with notification_env(cluster, start_controller, git_server, namespace) as env:
        yield env


def configmap(value: str) -> str:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\n"
            f"data:\n  value: \"{value}\"\n")


def sync(env: Env, gitea: Gitea, repo: str) -> tuple[str, str]:
    """A GitRepository on the Gitea repository and a Kustomization applying ./deploy into the
    test namespace, both at interval 1h: (GitRepository name, Kustomization name)."""
    creds = env.secret(name("gitea"), {"username": "afflux", "password": gitea.password})
    source = env.create("GitRepository", name("src"), {
        "url": f"{gitea.url}/afflux/{repo}.git", "interval": "1h", "ref": {"branch": "main"},
        "secretRef": {"name": creds}})
    ks = env.create("Kustomization", name("ks"), {
        "interval": "1h", "path": "./deploy", "prune": True, "targetNamespace": env.namespace,
        "sourceRef": {"kind": "GitRepository", "name": source}})
    return source, ks


def applied(env: Env, ks: str, sha: str) -> None:
    def check() -> bool:
        status = env.get("Kustomization", ks).get("status") or {}
        return status.get("lastAppliedRevision") == f"main@sha1:{sha}"
    eventually(check, TIMEOUT, message=f"Kustomization {ks} applied {sha[:8]}")


def repo_with_commit(env: Env, gitea: Gitea, prefix: str) -> tuple[str, str, str]:
    """A new Gitea repository with one commit, and a Secret with the API token:
    (repository, commit SHA, Secret name)."""
    repo = f"{prefix}-{uuid.uuid4().hex[:6]}"
    url = gitea.create_repo(repo)
    sha = git_push_files(url, {"deploy/cm.yaml": configmap("1")}, message="first",
                         auth=gitea.auth)
    return repo, sha, env.secret(name("tok"), {"token": gitea.token})


@pytest.mark.flux_fields("Provider", "spec.type", "spec.address")
def test_kustomization_events_become_one_gitea_commit_status(env: Env, gitea: Gitea) -> None:
    repo, sha, token = repo_with_commit(env, gitea, "status")
    provider = env.provider({"type": "gitea", "address": gitea.repo_url(repo),
                             "secretRef": {"name": token}})
    env.alert(provider, eventSources=[{"kind": "Kustomization", "name": "*"}])
    _, ks = sync(env, gitea, repo)
    applied(env, ks, sha)

    uid = env.get("Provider", provider)["metadata"]["uid"]
    key = f"kustomization/{ks}/{uid.split('-')[0]}".lower()

    def status_of(state: str) -> dict[str, Any]:
        combined = gitea.combined_status(repo, sha)
        mine = [s for s in combined.get("statuses") or [] if s["context"] == key]
        assert len(mine) == 1, combined
        assert mine[0]["status"] == state, mine[0]
        return mine[0]
    first = eventually(lambda: status_of("success"), TIMEOUT,
                       message=f"a success status {key} on {sha[:8]}")
    assert first["description"]

    def failure(message: str) -> None:
        assert env.post_event({
            "involvedObject": {"apiVersion": f"{KS}/v1", "kind": "Kustomization", "name": ks,
                               "namespace": env.namespace},
            "severity": "error", "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": message, "reason": "HealthCheckFailed",
            "metadata": {f"{KS}/revision": f"main@sha1:{sha}"},
            "reportingController": "kustomize-controller"}) == 202

    # another event about the same object and commit: the same key, updated in place
    failure("Health check failed after 1m")
    failed = eventually(lambda: status_of("failure"), TIMEOUT, message="the status updated")
    assert failed["description"] == "Health check failed after 1m"
    posted = gitea.statuses(repo, sha)
    assert {s["context"] for s in posted} == {key}

    # an event whose status would be the same (state and first line): not posted again
    failure("Health check failed after 1m\ndeployment/web not ready")
    eventually(lambda: "notification not sent: the service already shows it"
               in env.controller.log_text(200), TIMEOUT, message="the unchanged status skipped")
    assert len(gitea.statuses(repo, sha)) == len(posted)


@pytest.mark.flux_fields("Receiver", "spec.resources[].apiVersion", "spec.resources[].kind",
                         "spec.resources[].name")
def test_gitea_push_webhook_triggers_the_apply(env: Env, gitea: Gitea) -> None:
    repo = f"push-{uuid.uuid4().hex[:6]}"
    url = gitea.create_repo(repo)
    first = git_push_files(url, {"deploy/cm.yaml": configmap("before")}, message="first",
                           auth=gitea.auth)
    source, ks = sync(env, gitea, repo)
    applied(env, ks, first)

    token = uuid.uuid4().hex
    secret = env.secret(name("hook"), {"token": token})
    receiver = env.create("Receiver", name("r"), {
        "type": "github", "events": ["push"], "secretRef": {"name": secret},
        "resources": [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                       "name": source}]})
    env.ready("Receiver", receiver)
    path = env.get("Receiver", receiver)["status"]["webhookPath"]
    gitea.add_webhook(repo, f"http://127.0.0.1:{env.receiver_port}{path}", token)

    second = git_push_files(url, {"deploy/cm.yaml": configmap("after")}, message="second",
                            auth=gitea.auth)
    applied(env, ks, second)

    def value() -> str:
        cm = env.core.read_namespaced_config_map("pushed", env.namespace)
        return str((cm.data or {}).get("value"))
    assert eventually(lambda: value() == "after", TIMEOUT, message="the pushed value applied")
    annotations = env.get("GitRepository", source)["metadata"]["annotations"]
    assert "reconcile.fluxcd.io/requestedAt" in annotations


def test_events_become_one_gitea_pull_request_comment(env: Env, gitea: Gitea) -> None:
    repo, _, token = repo_with_commit(env, gitea, "pr")
    owner = gitea.auth.username
    gitea.api("POST", f"/repos/{owner}/{repo}/contents/deploy/cm2.yaml", {
        "content": base64.b64encode(configmap("2").encode()).decode(),
        "branch": "main", "new_branch": "feature", "message": "a change"})
    pull = gitea.api("POST", f"/repos/{owner}/{repo}/pulls",
                     {"head": "feature", "base": "main", "title": "a change"})
    number = int(pull["number"])
    gitea.api("POST", f"/repos/{owner}/{repo}/issues/{number}/comments",
              {"body": "a reviewer's comment"})  # not ours: left alone
    provider = env.provider({"type": "giteapullrequestcomment",
                             "address": gitea.repo_url(repo), "secretRef": {"name": token}})
    ks = name("ks")
    env.alert(provider, eventSources=[{"kind": "Kustomization", "name": ks}])

    def event(severity: str, message: str, change_request: str | None) -> None:
        metadata = {f"{KS}/revision": "feature@sha1:" + "3" * 40}
        if change_request:
            metadata["event.toolkit.fluxcd.io/change_request"] = change_request
        assert env.post_event({
            "involvedObject": {"apiVersion": f"{KS}/v1", "kind": "Kustomization", "name": ks,
                               "namespace": env.namespace},
            "severity": severity, "message": message, "reason": "Progressing",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "metadata": metadata, "reportingController": "kustomize-controller"}) == 202

    def ours(text: str) -> dict[str, Any]:
        comments = gitea.api("GET", f"/repos/{owner}/{repo}/issues/{number}/comments")
        flux = [c for c in comments if "flux-pr-comment-key:" in c["body"]]
        assert len(flux) == 1, [c["body"][:80] for c in comments]
        assert text in flux[0]["body"], flux[0]["body"]
        assert len(comments) == 2  # the reviewer's and ours
        return dict(flux[0])

    event("info", "Applied revision feature@sha1:333", str(number))
    first = eventually(lambda: ours("Applied revision"), TIMEOUT, message="a comment posted")
    assert "## Flux Status" in first["body"] and f"Kustomization/{env.namespace}/{ks}" in (
        first["body"])
    event("error", "Health check failed after 1m", str(number))
    second = eventually(lambda: ours("Health check failed after 1m"), TIMEOUT,
                        message="the comment edited")
    assert second["id"] == first["id"]


@pytest.mark.flux_fields("Provider", "spec.commitStatusExpr")
def test_commit_status_expr_names_the_gitea_status(env: Env, gitea: Gitea) -> None:
    repo, sha, token = repo_with_commit(env, gitea, "expr")
    provider = env.provider({
        "type": "gitea", "address": gitea.repo_url(repo), "secretRef": {"name": token},
        "commitStatusExpr": "(event.involvedObject.kind + '/' + event.involvedObject.name + "
                            "'/' + alert.metadata.name).lowerAscii()"})
    ks = name("ks")
    alert = env.alert(provider, eventSources=[{"kind": "Kustomization", "name": ks}])
    assert env.post_event({
        "involvedObject": {"apiVersion": f"{KS}/v1", "kind": "Kustomization", "name": ks,
                           "namespace": env.namespace},
        "severity": "info", "message": "Applied revision", "reason": "ReconciliationSucceeded",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metadata": {f"{KS}/revision": f"main@sha1:{sha}"},
        "reportingController": "kustomize-controller"}) == 202
    expected = f"kustomization/{ks}/{alert}"

    def contexts() -> set[str]:
        found = {s["context"] for s in gitea.statuses(repo, sha)}
        assert found == {expected}, found
        return found
    eventually(contexts, TIMEOUT, message=f"a status {expected}")

    broken = env.create("Provider", name("p"), {
        "type": "gitea", "address": gitea.repo_url(repo), "secretRef": {"name": token},
        "commitStatusExpr": "event.involvedObject.("})
    cond = env.condition("Provider", broken, "False", "InvalidCELExpression")
    assert "spec.commitStatusExpr" in cond["message"]
