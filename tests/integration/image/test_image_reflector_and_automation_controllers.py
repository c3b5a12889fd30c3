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

import json
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml

from afflux.cli.devenv import free_port
from harness.fixtures_cluster import REPO, Cluster
from harness.image_env import (
    AUTHOR_EMAIL,
    AUTHOR_NAME,
    GROUP,
    ImageEnv,
    automation,
    blob,
    condition,
    deployment,
    docker_config_secret,
    git_repository,
    image_policy,
    image_repository,
    marker,
    observed_request,
    request_reconcile,
    secret,
)
from harness.proxy import TunnelProxy
from harness.sshsign import garble, new_ssh_key, verify_commit
from harness.wait import eventually

pytestmark = pytest.mark.integration

TEMPLATE = (
    "Automated update by {{ .AutomationObject.Name }} for {{ .Values.cluster }}\n\n"
    "{{ range .Changed.Changes -}}\n- {{ .OldValue }} -> {{ .NewValue }}\n{{ end -}}"
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
def test_tags_to_policy_to_commits(images: ImageEnv, tmp_path: Path) -> None:
    cluster, namespace = images.cluster, images.namespace
    app = images.new_image("app", "1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0")
    image = app.ref

    images.apply(
        *images.registry_secrets(),
        image_repository(namespace, "app", image),
        image_policy(namespace, "app", "app", {"semver": {"range": ">=1.0.0 <2.0.0"}}),
    )
    repo = images.wait("imagerepository", "app")
    status = repo["status"]
    assert condition(repo, "Ready")["message"] == "successful scan: found 4 tags"
    assert status["canonicalImageName"] == image
    assert status["lastScanResult"]["tagCount"] == 4
    assert status["lastScanResult"]["latestTags"] == ["2.0.0", "1.2.0-rc.1", "1.1.0", "1.0.0"]
    assert status["observedExclusionList"] == ["^.*\\.sig$"]

    policy = images.wait("imagepolicy", "app")
    assert policy["status"]["latestRef"] == {"name": image, "tag": "1.1.0"}
    assert policy["status"]["latestImage"] == f"{image}:1.1.0"
    assert condition(policy, "Ready")["message"] == (
        f"Latest image tag for '{image}' resolved to 1.1.0"
    )

    # the Git side: a marked Deployment, and a marker naming a policy that does not exist
    before = deployment(
        marker(image, namespace),
        f"        - name: other\n          image: {marker(image, namespace, 'missing', '0.9.0')}\n",
    )
    git = images.git_repo("auto", {"apps/web.yaml": before, "README.md": "hello\n"})
    seed = git.seed
    images.automate(
        git.url,
        automation(
            namespace,
            "auto",
            "repo",
            messageTemplate=TEMPLATE,
            messageTemplateValues={"cluster": "prod"},
        ),
    )

    commit = images.next_commit(git, seed, message="the first automation commit")
    assert [str(p) for p in commit.parent_ids] == [seed]
    assert blob(commit, "apps/web.yaml") == before.replace(f"{image}:1.0.0 #", f"{image}:1.1.0 #")
    assert blob(commit, "README.md") == "hello\n"
    assert (commit.author.name, commit.author.email) == (AUTHOR_NAME, AUTHOR_EMAIL)
    assert commit.message == (
        f"Automated update by auto for prod\n\n- {image}:1.0.0 -> {image}:1.1.0\n"
    )

    auto = images.wait("imageupdateautomation", "auto")
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
    theirs = git.push({"NOTES.md": "by hand\n"}, message="by hand")
    images.push(app, "1.2.0")
    request_reconcile(cluster, "imagerepository", namespace, "app")

    def updated_policy() -> dict[str, Any]:
        body = images.get("imagepolicy", "app")
        assert body["status"]["latestRef"]["tag"] == "1.2.0"
        return body

    policy = eventually(updated_policy, 60, message="the policy to pick 1.2.0")
    observed_request(cluster, "imagerepository", namespace, "app")
    assert policy["status"]["observedPreviousRef"] == {"name": image, "tag": "1.1.0"}
    assert policy["status"]["observedPreviousImage"] == f"{image}:1.1.0"
    assert condition(policy, "Ready")["message"] == (
        f"Latest image tag for '{image}' updated from 1.1.0 to 1.2.0"
    )

    second = images.next_commit(git, theirs, message="the second automation commit")
    assert [str(p) for p in second.parent_ids] == [theirs]
    assert blob(second, "NOTES.md") == "by hand\n"
    assert blob(second, "apps/web.yaml") == before.replace(f"{image}:1.0.0 #", f"{image}:1.2.0 #")
    assert second.message == (
        f"Automated update by auto for prod\n\n- {image}:1.1.0 -> {image}:1.2.0\n"
    )

    def observed() -> dict[str, Any]:
        status = images.get("imageupdateautomation", "auto")["status"]
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
            images.get("imageupdateautomation", "auto")["status"].get("lastHandledReconcileAt")
            == images.get("imageupdateautomation", "auto")["metadata"]["annotations"][
                "reconcile.fluxcd.io/requestedAt"
            ]
        ),
        30,
        message="the requested run",
    )
    assert str(git.head().id) == str(second.id)


# --- policies ------------------------------------------------------------------------------------


@pytest.mark.flux_fields("ImagePolicy", "spec.policy.numerical.order",
                         "spec.policy.alphabetical.order", "spec.filterTags.pattern",
                         "spec.filterTags.extract")
def test_alphabetical_and_numerical_policies_with_filter_tags(images: ImageEnv) -> None:
    namespace = images.namespace
    image = images.new_image(
        "builds",
        "main-abc123-1700000000",
        "main-def456-1700000500",
        "main-aaa111-1699999999",
        "dev-zzz999-1800000000",
        "latest",
    ).ref
    pattern = {"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "extract": "$ts"}
    images.apply(
        *images.registry_secrets(),
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
        body = images.wait("imagepolicy", name)
        assert body["status"]["latestRef"] == {"name": image, "tag": tag}, name


@pytest.mark.flux_fields("ImagePolicy", "spec.digestReflectionPolicy", "status.latestRef.digest")
def test_digest_reflection(images: ImageEnv) -> None:
    app = images.new_image("digests", "1.0.0", "1.1.0")
    [body] = images.scan(app, image_policy(images.namespace, "pinned", "app",
                                           {"semver": {"range": "1.x"}},
                                           digestReflectionPolicy="IfNotPresent"))
    assert body["status"]["latestRef"] == {
        "name": app.ref,
        "tag": "1.1.0",
        "digest": app.digests["1.1.0"],
    }


@pytest.mark.flux_fields("ImageRepository", "spec.interval", "spec.suspend")
@pytest.mark.flux_fields("ImagePolicy", "status.observedPreviousRef.digest")
def test_interval_rescans_and_suspend_stops_them(images: ImageEnv) -> None:
    """With spec.interval 2s a new tag is scanned without any request and the policy moves
    on, keeping the digest of the tag it left in observedPreviousRef; a suspended
    ImageRepository on the same image does not scan the next tag while its unsuspended
    sibling scans it and two more intervals pass."""
    namespace = images.namespace
    app = images.new_image("interval", "1.0.0")
    image, digests = app.ref, app.digests
    images.apply(
        *images.registry_secrets(),
        image_repository(namespace, "app", image, interval="2s"),
        image_repository(namespace, "frozen", image, interval="2s"),
        image_policy(namespace, "latest", "app", {"semver": {"range": "1.x"}},
                     digestReflectionPolicy="IfNotPresent"),
    )
    images.wait("imagepolicy", "latest")
    images.wait("imagerepository", "frozen")
    images.cluster.kubectl("patch", "imagerepository", "frozen", "-n", namespace,
                           "--type=merge", "-p", json.dumps({"spec": {"suspend": True}}))
    images.push(app, "1.1.0")

    def moved() -> dict[str, Any]:
        status = images.get("imagepolicy", "latest")["status"]
        assert status["latestRef"]["tag"] == "1.1.0", status
        return dict(status)
    status = eventually(moved, 60, message="the policy follows the scan of the interval")
    assert status["observedPreviousRef"] == {"name": image, "tag": "1.0.0",
                                             "digest": digests["1.0.0"]}

    seen = images.get("imagerepository", "app")["status"]["lastScanResult"]
    first = datetime.strptime(seen["scanTime"], "%Y-%m-%dT%H:%M:%SZ")

    def two_more_scans() -> bool:
        scan = images.get("imagerepository", "app")["status"]["lastScanResult"]
        when = datetime.strptime(scan["scanTime"], "%Y-%m-%dT%H:%M:%SZ")
        assert (when - first).total_seconds() >= 4, scan
        return True
    eventually(two_more_scans, 60, message="the unsuspended sibling scans again")
    frozen = images.get("imagerepository", "frozen")["status"]["lastScanResult"]
    assert frozen["tagCount"] == 1, frozen


@pytest.mark.flux_fields("ImagePolicy", "spec.interval", "spec.suspend")
def test_policy_interval_follows_a_moved_tag_unless_suspended(images: ImageEnv) -> None:
    """digestReflectionPolicy Always with spec.interval 2s: the tag 1.0.0 is pushed again as
    another image and the policy records the new digest on its own interval (the
    ImageRepository, interval 1h, does not rescan: its tag list is the same anyway); a
    suspended policy on the same repository keeps the old digest."""
    namespace = images.namespace
    app = images.new_image("moved", "1.0.0")
    image, first = app.ref, app.digests["1.0.0"]
    always = {"digestReflectionPolicy": "Always", "interval": "2s"}
    for body in images.scan(
        app,
        image_policy(namespace, "follows", "app", {"semver": {"range": "1.x"}}, **always),
        image_policy(namespace, "held", "app", {"semver": {"range": "1.x"}}, **always),
    ):
        assert body["status"]["latestRef"]["digest"] == first, body["metadata"]["name"]
    images.cluster.kubectl("patch", "imagepolicy", "held", "-n", namespace, "--type=merge",
                           "-p", json.dumps({"spec": {"suspend": True}}))
    # three moves, each seen by the unsuspended policy before the next: at least two of
    # its 2s intervals pass, in which the suspended one would have moved too
    for salt in ("moved", "again", "third"):
        moved = images.push(app, "1.0.0", salt=salt)["1.0.0"]
        assert moved != first

        def follows(digest: str = moved) -> bool:
            ref = images.get("imagepolicy", "follows")["status"]["latestRef"]
            assert ref == {"name": image, "tag": "1.0.0", "digest": digest}, ref
            return True
        eventually(follows, 60, message=f"the policy resolves the tag {salt} on its interval")
    held = images.get("imagepolicy", "held")["status"]["latestRef"]
    assert held["digest"] == first, held


@pytest.mark.parametrize("ref_kind", ["semver", "name", "commit"])
@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.checkout.ref.semver",
                         "spec.git.checkout.ref.name", "spec.git.checkout.ref.commit",
                         "status.observedPolicies{*}.digest")
def test_checkout_ref_by_semver_name_or_commit(images: ImageEnv, ref_kind: str) -> None:
    """The checkout is the commit tagged v1.2.0, not main's head, whether the ref names it
    by a semver range over the tags, by its full tag name, or by its SHA: the automation's
    commit on the push branch has that commit as its parent; the policy reflects digests,
    so observedPolicies carries the digest."""
    namespace = images.namespace
    app = images.new_image("ref", "1.0.0", "1.4.0")
    image, digests = app.ref, app.digests
    images.scan(app, image_policy(namespace, "app", "app", {"semver": {"range": "1.x"}},
                                  digestReflectionPolicy="IfNotPresent"))

    marked = deployment(marker(image, namespace))
    git = images.git_repo("ref", {"apps/web.yaml": marked, "v.txt": "1.0.0\n"}, tag="v1.0.0")
    tagged = git.push({"v.txt": "1.2.0\n"}, tag="v1.2.0")
    git.push({"v.txt": "unreleased\n"})
    ref = {"semver": {"semver": ">=1.0.0 <2.0.0"}, "name": {"name": "refs/tags/v1.2.0"},
           "commit": {"commit": tagged}}[ref_kind]
    auto = automation(namespace, "auto", "repo")
    auto["spec"]["git"]["checkout"] = {"ref": ref}
    auto["spec"]["git"]["push"] = {"branch": "release"}
    images.automate(git.url, auto)

    commit = eventually(lambda: git.head("release"), 90,
                        message="the automation commit on the release branch")
    assert [str(p) for p in commit.parent_ids] == [tagged]
    assert blob(commit, "v.txt") == "1.2.0\n"
    # with a digest the setter pins it: name:tag@digest
    assert f"{image}:1.4.0@{digests['1.4.0']} # {{" in blob(commit, "apps/web.yaml")
    status = images.wait("imageupdateautomation", "auto")["status"]
    assert status["observedPolicies"] == {
        "app": {"name": image, "tag": "1.4.0", "digest": digests["1.4.0"]}}


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.interval", "spec.suspend")
def test_automation_interval_reapplies_unless_suspended(images: ImageEnv) -> None:
    """Two automations with spec.interval 2s, each pushing to its own branch; someone sets
    the image back on both branches (the GitRepository, interval 1h, sees nothing new):
    the running automation sets it again on its interval, three times; the suspended one
    leaves its branch as it was over the last two (at least one whole interval)."""
    namespace = images.namespace
    image = images.policy_with_latest()
    marked = deployment(marker(image, namespace))
    git = images.git_repo("interval", {"apps/web.yaml": marked})
    autos = []
    for branch in ("running", "held"):
        auto = automation(namespace, branch, "repo")
        auto["spec"]["interval"] = "2s"
        auto["spec"]["git"]["push"] = {"branch": branch}
        autos.append(auto)
    images.automate(git.url, *autos)

    def updated(branch: str) -> str:
        commit = git.head(branch)
        assert f"{image}:1.5.0 # {{" in blob(commit, "apps/web.yaml"), branch
        return str(commit.id)
    for branch in ("running", "held"):
        eventually(lambda b=branch: updated(b), 90, message=f"the first push to {branch}")
    images.cluster.kubectl("patch", "imageupdateautomation", "held", "-n", namespace,
                           "--type=merge", "-p", json.dumps({"spec": {"suspend": True}}))
    held = ""
    for round_ in (1, 2, 3):
        if round_ == 2:  # a run of `held` that began before the suspension is over by now
            held = git.push({"apps/web.yaml": marked}, branch="held")
        reverted = git.push({"apps/web.yaml": marked}, branch="running",
                            message=f"set back {round_}")

        def fixed(before: str = reverted) -> bool:
            commit = git.head("running")
            assert [str(p) for p in commit.parent_ids] == [before], "not yet"
            updated("running")
            return True
        eventually(fixed, 60, message=f"the automation sets the image again ({round_})")
    assert str(git.head("held").id) == held


@pytest.mark.flux_fields("ImageRepository", "spec.proxySecretRef.name")
def test_scan_through_proxy_secret_ref(images: ImageEnv) -> None:
    namespace = images.namespace
    app = images.new_image("proxied", "1.0.0", "1.1.0")
    password = uuid.uuid4().hex
    with TunnelProxy("scanner", password) as proxy:
        images.apply(
            *images.registry_secrets(),
            secret(namespace, "proxy", {"address": proxy.address, "username": "scanner",
                                        "password": password}),
            image_repository(namespace, "app", app.ref, proxySecretRef={"name": "proxy"}),
        )
        body = images.wait("imagerepository", "app")
        assert body["status"]["lastScanResult"]["tagCount"] == 2
        assert images.registry.host in proxy.seen, proxy.seen


@pytest.mark.flux_fields("ImageRepository", "spec.serviceAccountName")
def test_scan_with_the_pull_secrets_of_a_service_account(images: ImageEnv) -> None:
    """No secretRef: the credentials come from the imagePullSecrets of the ServiceAccount
    (the registry refuses anonymous reads); a ServiceAccount that does not exist says so."""
    namespace = images.namespace
    image = images.new_image("sa", "1.0.0", "1.1.0", "1.2.0").ref
    images.apply(
        *images.registry_secrets(),
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "puller", "namespace": namespace},
         "imagePullSecrets": [{"name": "regcred"}]},
        image_repository(namespace, "app", image, secretRef=None, serviceAccountName="puller"),
        image_repository(namespace, "nosa", image, secretRef=None, serviceAccountName="nobody"),
    )
    body = images.wait("imagerepository", "app")
    assert body["status"]["lastScanResult"]["tagCount"] == 3
    missing = images.wait("imagerepository", "nosa", status="False")
    assert "nobody" in condition(missing, "Ready")["message"]


@pytest.mark.flux_fields("ImageRepository", "spec.timeout")
def test_scan_timeout_ends_a_hanging_scan(images: ImageEnv) -> None:
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
        images.apply(image_repository(images.namespace, "hangs", f"127.0.0.1:{port}/app",
                                      insecure=True, timeout="1s", secretRef=None,
                                      certSecretRef=None))
        body = images.wait("imagerepository", "hangs", status="False", timeout=40)
        message = condition(body, "Ready")["message"]
        assert "timeout" in message.lower() or "timed out" in message.lower(), message
        assert held, "the scan reached the registry"
    finally:
        listener.close()
        for conn in held:
            conn.close()


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.sourceRef.namespace")
def test_automation_with_a_source_in_another_namespace(
    images: ImageEnv, other_namespace: str
) -> None:
    """The GitRepository (and its credentials) live in another namespace: the automation
    finds it by spec.sourceRef.namespace and pushes (cross-namespace refs are allowed by
    default, as in Flux)."""
    namespace = images.namespace
    image = images.policy_with_latest()
    git = images.git_repo("xns", {"apps/web.yaml": deployment(marker(image, namespace))})
    auto = automation(namespace, "auto", "repo")
    auto["spec"]["sourceRef"]["namespace"] = other_namespace
    images.automate(git.url, auto, namespace=other_namespace)  # auto stays in `namespace`
    commit = images.next_commit(git, git.seed)
    assert f"{image}:1.5.0 # {{" in blob(commit, "apps/web.yaml")


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.commit.signingKey.type",
                         "spec.git.commit.signingKey.secretRef.name",
                         "status.conditions[].reason")
def test_ssh_signing_key_signs_commits_and_a_garbled_one_stalls(
    images: ImageEnv, tmp_path: Path
) -> None:
    """signingKey.type ssh: the commit carries an SSH signature made with the Secret's
    `identity` (decrypted with its `password`) that the real `git verify-commit` accepts;
    a garbled key stalls the automation, pushes nothing, and its message says what to
    change without quoting the Secret."""
    namespace = images.namespace
    image = images.policy_with_latest()
    git = images.git_repo("sshsig", {"apps/web.yaml": deployment(marker(image, namespace))})
    key = new_ssh_key(tmp_path, "signer", "ed25519", "s3cret-passphrase")
    plain = new_ssh_key(tmp_path, "plain", "ed25519")
    bad_identity = garble(plain.private, 64)
    autos = []
    for auto_name, secret_name in (("signed", "ssh-signing"), ("garbled", "ssh-garbled")):
        auto = automation(namespace, auto_name, "repo",
                          signingKey={"type": "ssh", "secretRef": {"name": secret_name}})
        auto["spec"]["git"]["push"] = {"branch": auto_name}
        autos.append(auto)
    images.apply(
        secret(namespace, "ssh-signing", {"identity": key.private, "password": key.passphrase}),
        secret(namespace, "ssh-garbled", {"identity": bad_identity}),
    )
    images.automate(git.url, *autos)

    commit = images.next_commit(git, git.seed, branch="signed",
                                message="the signed automation commit")
    assert f"{image}:1.5.0 # {{" in blob(commit, "apps/web.yaml")
    assert commit.gpg_signature[0].startswith(b"-----BEGIN SSH SIGNATURE-----")
    verified = verify_commit(
        images.git_server.repo_path(git.name), str(commit.id), {AUTHOR_EMAIL: key}, tmp_path
    )
    assert verified.returncode == 0, verified.stderr
    assert f'Good "git" signature for {AUTHOR_EMAIL}' in verified.stderr
    images.wait("imageupdateautomation", "signed")

    stalled = images.wait("imageupdateautomation", "garbled", "Stalled",
                          reason="SourceManagerFailed", timeout=90)
    message = condition(stalled, "Stalled")["message"]
    assert f"Secret '{namespace}/ssh-garbled'" in message, message
    assert "corrupt or truncated" in message, message
    body = b"".join(bad_identity.splitlines()[1:-1]).decode()
    for i in range(0, len(body) - 8, 8):
        assert body[i : i + 8] not in message
    assert condition(stalled, "Ready")["status"] == "False"
    assert "refs/heads/garbled" not in pygit2.Repository(
        str(images.git_server.repo_path(git.name))).references
    assert "lastPushCommit" not in stalled["status"]


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.sourceRef.apiVersion")
def test_source_ref_api_version_is_not_compared_and_only_git_repository_is_admitted(
    images: ImageEnv,
) -> None:
    """As in Flux, spec.sourceRef.apiVersion is optional, has no default and is not
    compared: the GitRepository is found by kind, name and namespace whatever version is
    written there (an older one here). Any kind other than GitRepository is refused by
    the API server (the CRD's enum)."""
    namespace = images.namespace
    image = images.policy_with_latest()
    git = images.git_repo("apiversion", {"apps/web.yaml": deployment(marker(image, namespace))})
    older = automation(namespace, "older", "repo")
    older["spec"]["sourceRef"]["apiVersion"] = "source.toolkit.fluxcd.io/v1beta2"
    older["spec"]["git"]["push"] = {"branch": "older"}
    unset = automation(namespace, "unset", "repo")
    unset["spec"]["git"]["push"] = {"branch": "unset"}
    images.automate(git.url, older, unset)

    for branch in ("older", "unset"):
        commit = images.next_commit(git, git.seed, branch=branch,
                                    message=f"the push to {branch}")
        assert f"{image}:1.5.0 # {{" in blob(commit, "apps/web.yaml")
    assert images.get("imageupdateautomation", "older")["spec"]["sourceRef"][
        "apiVersion"] == "source.toolkit.fluxcd.io/v1beta2"
    assert "apiVersion" not in images.get("imageupdateautomation", "unset")["spec"]["sourceRef"]

    other_kind = automation(namespace, "oci", "repo")
    other_kind["spec"]["sourceRef"].update(
        apiVersion="source.toolkit.fluxcd.io/v1", kind="OCIRepository")
    refused = images.cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(other_kind),
                                     check=False)
    assert refused.returncode != 0
    assert "spec.sourceRef.kind" in refused.stderr and "GitRepository" in refused.stderr


# --- bad inputs: image-reflector -------------------------------------------------------------------


def test_a_cloud_provider_of_an_image_repository_is_refused_with_what_to_use(
    images: ImageEnv,
) -> None:
    """spec.provider generic scans with spec.secretRef; aws, azure and gcp (a cloud
    registry login through workload identity, which afflux does not have) stall before any
    scan, saying what to use instead."""
    namespace = images.namespace
    image = images.new_image("provider", "1.0.0", "1.1.0")
    clouds = ("aws", "azure", "gcp")
    images.apply(
        *images.registry_secrets(),
        image_repository(namespace, "generic", image.ref, provider="generic"),
        *(image_repository(namespace, cloud, image.ref, provider=cloud) for cloud in clouds),
    )
    scanned = images.wait("imagerepository", "generic")
    assert scanned["status"]["lastScanResult"]["tagCount"] == 2
    for cloud in clouds:
        stalled = images.wait("imagerepository", cloud, "Stalled", reason="AuthenticationFailed")
        message = condition(stalled, "Stalled")["message"]
        assert f"spec.provider '{cloud}' is not supported" in message, message
        assert "spec.provider: generic" in message and "spec.secretRef" in message, message
        assert condition(stalled, "Ready")["status"] == "False"
        assert "lastScanResult" not in stalled["status"]


@pytest.mark.flux_fields("ImageRepository", "spec.secretRef.name", "spec.exclusionList[]",
                         "status.conditions[].reason")
@pytest.mark.flux_fields("ImagePolicy", "spec.policy.semver.range", "spec.filterTags.pattern",
                         "status.conditions[].reason")
def test_bad_policies_and_repositories(images: ImageEnv) -> None:
    namespace, registry = images.namespace, images.registry
    image = images.new_image("bad", "1.0.0", "1.1.0").ref
    images.apply(
        *images.registry_secrets(),
        docker_config_secret(namespace, "wrongcred", registry, password="wrong"),
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

    refused = images.wait("imagerepository", "refused", status="False",
                          reason="AuthenticationFailed")
    message = condition(refused, "Ready")["message"]
    assert "rejected the credentials" in message and registry.host in message

    tagged = images.wait("imagerepository", "tagged", "Stalled", reason="ImageURLInvalid")
    assert "should not include a tag" in condition(tagged, "Stalled")["message"]

    bad_exclusion = images.wait("imagerepository", "bad-exclusion", "Stalled")
    assert "spec.exclusionList[0]" in condition(bad_exclusion, "Stalled")["message"]

    bad_range = images.wait("imagepolicy", "bad-range", "Stalled", reason="InvalidPolicy")
    assert "not a valid semver range" in condition(bad_range, "Stalled")["message"]
    bad_regex = images.wait("imagepolicy", "bad-regex", "Stalled", reason="InvalidPolicy")
    assert "spec.filterTags.pattern" in condition(bad_regex, "Stalled")["message"]

    no_match = images.wait("imagepolicy", "no-match", status="False", reason="Failure")
    assert ">=9.0.0" in condition(no_match, "Ready")["message"]
    assert "latestRef" not in no_match["status"]
    assert condition(no_match, "Stalled") is None

    no_repo = images.wait("imagepolicy", "no-repo", status="False", reason="DependencyNotReady")
    assert "does not exist" in condition(no_repo, "Ready")["message"]


@pytest.mark.flux_fields("ImageRepository", "spec.accessFrom.namespaceSelectors[].matchLabels{*}")
@pytest.mark.flux_fields("ImagePolicy", "spec.imageRepositoryRef.namespace",
                         "status.lastHandledReconcileAt", "status.observedGeneration",
                         "status.conditions[].observedGeneration",
                         "status.conditions[].lastTransitionTime")
def test_cross_namespace_policy_needs_access_from(
    images: ImageEnv, other_namespace: str
) -> None:
    namespace, other = images.namespace, other_namespace
    image = images.new_image("shared", "3.0.0").ref
    images.apply(*images.registry_secrets(), image_repository(namespace, "shared", image))
    policy = image_policy(other, "app", "shared", {"semver": {"range": "3.x"}})
    policy["spec"]["imageRepositoryRef"]["namespace"] = namespace
    images.apply(policy)
    denied = images.wait("imagepolicy", "app", status="False", reason="AccessDenied",
                         namespace=other)
    assert "accessFrom" in condition(denied, "Ready")["message"]

    images.apply(
        image_repository(
            namespace,
            "shared",
            image,
            accessFrom={
                "namespaceSelectors": [{"matchLabels": {"kubernetes.io/metadata.name": other}}]
            },
        ),
    )
    request_reconcile(images.cluster, "imagepolicy", other, "app")
    allowed = images.wait("imagepolicy", "app", namespace=other)
    observed_request(images.cluster, "imagepolicy", other, "app")
    assert allowed["status"]["latestRef"] == {"name": image, "tag": "3.0.0"}


# --- bad inputs: image-automation --------------------------------------------------------------------


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.commit.messageTemplate",
                         "status.conditions[].reason")
def test_template_that_does_not_render_stalls_and_pushes_nothing(images: ImageEnv) -> None:
    namespace = images.namespace
    image = images.policy_with_latest()
    git = images.git_repo("tmpl", {"apps/web.yaml": deployment(marker(image, namespace))})
    images.automate(
        git.url,
        automation(namespace, "auto", "repo", messageTemplate="{{ .AutomationObject.Nope }}"),
        automation(namespace, "unparsable", "repo", messageTemplate="{{ .Changed"),
    )
    stalled = images.wait("imageupdateautomation", "auto", "Stalled", reason="UpdateFailed")
    assert "Nope" in condition(stalled, "Stalled")["message"]
    unparsable = images.wait(
        "imageupdateautomation", "unparsable", "Stalled", reason="UpdateFailed"
    )
    assert "unable to create commit message template" in condition(unparsable, "Stalled")["message"]
    assert str(git.head().id) == git.seed


def test_push_without_write_access_fails_clearly_and_pushes_nothing(images: ImageEnv) -> None:
    namespace = images.namespace
    image = images.policy_with_latest()
    # anyone reads, only the user may push
    git = images.git_repo("readonly", {"apps/web.yaml": deployment(marker(image, namespace))},
                          public=True)
    images.apply(
        git_repository(namespace, "public", images.git_server.url(git.name, "http"),
                       secret_name=None),
        automation(namespace, "auto", "public"),
    )
    failed = images.wait("imageupdateautomation", "auto", status="False",
                         reason="GitOperationFailed", timeout=90)
    message = condition(failed, "Ready")["message"]
    assert message.startswith("failed to update source: push to branch 'main'"), message
    assert "requires authentication" in message and "write access" in message
    assert str(git.head().id) == git.seed
    assert "lastPushCommit" not in failed["status"]


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.sourceRef.name")
def test_missing_git_repository_is_not_ready(images: ImageEnv) -> None:
    images.apply(automation(images.namespace, "auto", "missing"))
    waiting = images.wait("imageupdateautomation", "auto", status="False",
                          reason="DependencyNotReady")
    assert "GitRepository" in condition(waiting, "Ready")["message"]


def _two_marked_containers(image: str, namespace: str) -> str:
    """A Deployment whose two containers are marked with the policies `selected` and
    `ignored` of `ImageEnv.team_policies`."""
    return deployment(
        marker(image, namespace, "selected"),
        f"        - name: other\n          image: {marker(image, namespace, 'ignored')}\n",
    )


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.policySelector.matchExpressions[].key",
                         "spec.policySelector.matchExpressions[].operator",
                         "spec.policySelector.matchExpressions[].values[]")
def test_policy_selector_limits_the_policies_applied(images: ImageEnv) -> None:
    namespace = images.namespace
    app = images.new_image("selected", "1.0.0", "1.3.0", "2.1.0")
    image = app.ref
    images.team_policies(app)

    before = _two_marked_containers(image, namespace)
    git = images.git_repo("selector", {"apps/web.yaml": before})
    auto = automation(namespace, "auto", "repo")
    auto["spec"]["policySelector"] = {
        "matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]
    }
    images.automate(git.url, auto)

    commit = images.next_commit(git, git.seed)
    assert blob(commit, "apps/web.yaml") == before.replace(
        f"{image}:1.0.0 # {{", f"{image}:1.3.0 # {{", 1
    )
    assert commit.message == "Update from image update automation"
    status = images.wait("imageupdateautomation", "auto")["status"]
    assert status["observedPolicies"] == {"selected": {"name": image, "tag": "1.3.0"}}


@pytest.mark.flux_fields("ImageUpdateAutomation", "spec.git.checkout.ref.branch",
                         "spec.policySelector.matchLabels{*}")
def test_checkout_branch_and_policy_labels(images: ImageEnv) -> None:
    namespace = images.namespace
    app = images.new_image("branch", "1.0.0", "1.3.0", "2.1.0")
    image = app.ref
    images.team_policies(app)

    git = images.git_repo("branch", {"README.md": "main only\n"})
    on_main = git.seed
    before = _two_marked_containers(image, namespace)
    seed = git.push({"apps/web.yaml": before}, branch="staging")
    auto = automation(namespace, "auto", "repo")
    auto["spec"]["git"]["checkout"] = {"ref": {"branch": "staging"}}
    auto["spec"]["git"]["push"] = {"branch": "staging"}
    auto["spec"]["policySelector"] = {"matchLabels": {"team": "a"}}
    images.automate(git.url, auto)

    commit = images.next_commit(git, seed, "staging",
                                message="the automation commit on the checkout branch")
    assert [str(p) for p in commit.parent_ids] == [seed]
    assert blob(commit, "apps/web.yaml") == before.replace(
        f"{image}:1.0.0 # {{", f"{image}:1.3.0 # {{", 1
    )
    assert str(git.head().id) == on_main, "main untouched"
    status = images.wait("imageupdateautomation", "auto")["status"]
    assert status["observedPolicies"] == {"selected": {"name": image, "tag": "1.3.0"}}
