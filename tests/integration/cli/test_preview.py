"""`afflux preview --ref` against the real cluster, Git server and operators: a branch of a
private repository (fetched with the GitRepository's own secretRef credentials) is
rendered, dry-run and compared with the live objects and the inventory; the report names
exactly the objects the branch changes (Secret values masked), nothing is applied by it,
and after the branch is merged the kustomize-controller applies and prunes exactly those.
Also: Kustomizations a parent adds, changes or prunes at the ref; a HelmRelease whose chart
and values the ref changes (with a real helm-controller); the guard's held prunes; a
build failure's exit code; a local checkout with uncommitted work (`--path`); SSH with the
Secret's key and known_hosts (and a host key it does not list refused)."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cli_harness import Run, private_git_source

from afflux.cli.devenv import GitSSHServer
from harness.fixtures_servers import GitAuth, git_clone, git_push_files
from harness.kustomize_env import KS, Env, configmap, dump
from harness.wait import eventually

pytestmark = pytest.mark.integration

OLD_TOKEN, NEW_TOKEN = "old-token-value", "new-token-value"


def secret(name: str, token: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "data": {"token": base64.b64encode(token.encode()).decode()}}


def app(ns: str, *docs: dict[str, Any]) -> dict[str, str | None]:
    return {"app/all.yaml": dump(*docs)}


def change_lines(env: Env, name: str, revision: str) -> set[str]:
    """The change-set lines of the Progressing events the run at `revision` recorded."""
    lines: set[str] = set()
    for event in env.events(name):
        notes = event["metadata"].get("annotations") or {}
        if event["reason"] == "Progressing" and \
                notes.get("kustomize.toolkit.fluxcd.io/revision") == revision:
            lines |= set(event["message"].splitlines())
    return lines


def test_preview_of_a_branch_reports_exactly_what_merging_it_applies(
        env: Env, afflux: Run) -> None:
    ns = env.namespace
    repo, source, _ = private_git_source(env)
    main = app(ns, configmap("a", {"v": "1"}, namespace=ns),
               configmap("b", {"v": "1"}, namespace=ns),
               configmap("c", {"v": "1"}, namespace=ns), secret("s", OLD_TOKEN, ns))
    sha = repo.push(main, "initial")
    ks = env.kustomization("app", source, path="./app")
    env.wait_applied(ks, sha)

    # the branch changes a and the Secret, adds d, drops c, leaves b alone, and adds a
    # file its .sourceignore leaves out of the artifact (so out of the build)
    feature = {**app(ns, configmap("a", {"v": "2"}, namespace=ns),
                     configmap("b", {"v": "1"}, namespace=ns), secret("s", NEW_TOKEN, ns),
                     configmap("d", {"v": "1"}, namespace=ns)),
               ".sourceignore": "app/notes.yaml\n",
               "app/notes.yaml": dump(configmap("ignored", namespace=ns))}
    feature_sha = git_push_files(repo.url, feature, branch="feature", message="feature",
                                 auth=repo.auth)

    res = afflux("preview", "--ref", "feature", "--source", source, "-n", ns, "-o", "json")
    assert res.code == 1, res.out + res.err
    report = json.loads(res.out)
    assert report["revision"] == f"feature@sha1:{feature_sha}"
    [app_ks] = report["kustomizations"]
    assert (app_ks["namespace"], app_ks["name"], app_ks["error"]) == (ns, "app", "")
    assert app_ks["created"] == [f"ConfigMap/{ns}/d"]
    assert set(app_ks["changed"]) == {f"ConfigMap/{ns}/a", f"Secret/{ns}/s"}
    assert "-  v: '1'\n" in app_ks["changed"][f"ConfigMap/{ns}/a"]
    assert "+  v: '2'\n" in app_ks["changed"][f"ConfigMap/{ns}/a"]
    assert "+  token: '***** (after)'\n" in app_ks["changed"][f"Secret/{ns}/s"]
    assert app_ks["pruned"] == [f"ConfigMap/{ns}/c"] and app_ks["held"] == ""
    assert report["summary"]["changes"] == 4
    for value in (OLD_TOKEN, NEW_TOKEN):
        assert value not in res.out and base64.b64encode(value.encode()).decode() not in res.out

    res = afflux("preview", "--ref", "feature", "--source", source, "-n", ns,
                 "-o", "markdown")
    assert res.code == 1, res.err
    assert f"| Kustomization `{ns}/app` | 1 | 2 | 1 |" in res.out and "```diff\n" in res.out

    # the preview applied nothing
    live = env.get("configmap", "a")
    assert live is not None and live["data"] == {"v": "1"}
    assert env.exists("configmap", "c") and not env.exists("configmap", "d")
    assert "ignored" not in res.out

    # merged: main gets the branch's tree; the reconcile does exactly what was previewed
    merged = env.push(repo, source, feature, "merge feature")
    env.wait_applied(ks, merged)
    expected = {f"ConfigMap/{ns}/a configured", f"Secret/{ns}/s configured",
                f"ConfigMap/{ns}/d created", f"ConfigMap/{ns}/c deleted"}

    def recorded() -> bool:
        lines = change_lines(env, ks, f"main@sha1:{merged}")
        assert lines == expected, lines
        return True

    eventually(recorded, 30, message="the change set of the merge")
    assert not env.exists("configmap", "ignored")

    res = afflux("preview", "--ref", "main", "--source", source, "-n", ns)
    assert res.code == 0, res.out + res.err
    assert f"► Kustomization {ns}/app (./app): no changes\n" in res.out
    assert res.out.endswith("Summary: 0 created, 0 changed, 0 pruned, 0 held, 0 failed\n")


def test_preview_reports_a_build_failure_with_its_own_exit_code(
        env: Env, afflux: Run) -> None:
    ns = env.namespace
    repo, source, _ = private_git_source(env)
    sha = repo.push(app(ns, configmap("x", namespace=ns)), "initial")
    ks = env.kustomization("broken", source, path="./app")
    env.wait_applied(ks, sha)
    git_push_files(repo.url, {"app/kustomization.yaml": "resources: [missing.yaml]\n"},
                   branch="bad", message="bad", auth=repo.auth)
    res = afflux("preview", "--ref", "bad", "--source", source, "-n", ns)
    assert res.code == 7, res.out + res.err
    assert f"► Kustomization {ns}/broken (./app): failed\n" in res.out
    assert "missing.yaml" in res.out

    res = afflux("preview", "--ref", "no-such-branch", "--source", source, "-n", ns)
    assert res.code == 7 and "'no-such-branch' is no branch, tag or commit" in res.err


def child(name: str, source: str, path: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"interval": "10m", "prune": True, "path": path,
                     "sourceRef": {"kind": "GitRepository", "name": source}}}


def test_preview_renders_the_kustomizations_a_parent_changes_or_adds(
        env: Env, afflux: Run) -> None:
    ns = env.namespace
    repo, source, _ = private_git_source(env)
    tree = {
        "clusters/apps.yaml": dump(child("child", source, "./apps/v1", ns),
                                   child("gone", source, "./apps/gone", ns)),
        "apps/gone/cm.yaml": dump(configmap("four", namespace=ns)),
        "apps/v1/cm.yaml": dump(configmap("one", {"v": "1"}, namespace=ns)),
        "apps/v2/cm.yaml": dump(configmap("one", {"v": "2"}, namespace=ns),
                                configmap("two", namespace=ns)),
        "apps/extra/cm.yaml": dump(configmap("three", namespace=ns)),
    }
    sha = repo.push(tree, "initial")
    parent = env.kustomization("parent", source, path="./clusters")
    env.wait_applied(parent, sha)
    env.wait_applied("child", sha)
    env.wait_applied("gone", sha)

    # the branch moves the child to apps/v2, adds a Kustomization for apps/extra and drops
    # the one of apps/gone
    moved = {**tree, "clusters/apps.yaml": dump(child("child", source, "./apps/v2", ns),
                                                child("extra", source, "./apps/extra", ns))}
    git_push_files(repo.url, moved, branch="move", message="move", auth=repo.auth)
    res = afflux("preview", "--ref", "move", "--source", source, "-n", ns, "-o", "json")
    assert res.code == 1, res.out + res.err
    found = {k["name"]: k for k in json.loads(res.out)["kustomizations"]}
    assert set(found) == {"parent", "child", "extra", "gone"}
    assert found["parent"]["created"] == [f"Kustomization/{ns}/extra"]
    assert found["parent"]["pruned"] == [f"Kustomization/{ns}/gone"]
    assert found["gone"]["skipped"].startswith("a parent prunes it at this ref")
    assert list(found["parent"]["changed"]) == [f"Kustomization/{ns}/child"]
    assert (found["child"]["path"], found["child"]["new"]) == ("./apps/v2", False)
    assert found["child"]["created"] == [f"ConfigMap/{ns}/two"]
    assert list(found["child"]["changed"]) == [f"ConfigMap/{ns}/one"]
    assert (found["extra"]["new"], found["extra"]["created"]) == (True, [f"ConfigMap/{ns}/three"])
    assert not any(k["pruned"] or k["error"] for n, k in found.items() if n != "parent")


CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "greeting: hello\n",
    "charts/web/templates/config.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
        "  who: {{ .Values.who | default \"world\" | quote }}\n"),
}
EXTRA = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\n"
         "data:\n  a: b\n")


def helm_release(source: str, ns: str, who: str) -> dict[str, Any]:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"interval": "10m", "values": {"who": who}, "chart": {"spec": {
                "chart": "./charts/web", "interval": "10m",
                "sourceRef": {"kind": "GitRepository", "name": source}}}}}


def test_preview_renders_a_helmrelease_whose_chart_and_values_the_ref_changes(
        env: Env, afflux: Run, helm_controller: Any) -> None:
    ns = env.namespace
    try:
        repo, source, _ = private_git_source(env)
        tree = {**CHART, "releases/web.yaml": dump(helm_release(source, ns, "team"))}
        sha = repo.push(tree, "initial")
        ks = env.kustomization("releases", source, path="./releases")
        env.wait_applied(ks, sha)

        def installed() -> dict[str, Any]:
            config = env.get("configmap", "web-config")
            assert config is not None and config["data"] == {"greeting": "hello",
                                                             "who": "team"}, config
            return config

        eventually(installed, 120, message="the release installed by helm-controller")

        def reported() -> dict[str, Any]:  # the install's event and history agree: 1 change
            res = afflux("report", "-n", ns, "--since", "1h", "-o", "json")
            [row] = [i for i in json.loads(res.out)["items"] if i["kind"] == "HelmRelease"]
            assert (row["deployments"], row["changes"], row["failed_changes"]) == (1, 1, 0), row
            return row

        eventually(reported, 60, message="the install in afflux report")

        # the branch changes the chart (a default value, a new template) and the values
        branch = {**tree, "charts/web/values.yaml": "greeting: hi\n",
                  "charts/web/templates/extra.yaml": EXTRA,
                  "releases/web.yaml": dump(helm_release(source, ns, "everyone"))}
        git_push_files(repo.url, branch, branch="chart", message="chart", auth=repo.auth)
        res = afflux("preview", "--ref", "chart", "--source", source, "-n", ns, "-o", "json")
        assert res.code == 1, res.out + res.err
        report = json.loads(res.out)
        [releases] = report["kustomizations"]
        assert list(releases["changed"]) == [f"HelmRelease/{ns}/web"]
        [web] = report["helm_releases"]
        assert (web["kind"], web["name"], web["path"], web["error"]) == \
            ("HelmRelease", "web", "./charts/web", "")
        assert web["created"] == [f"ConfigMap/{ns}/web-extra"]
        diff = web["changed"][f"ConfigMap/{ns}/web-config"]
        assert "+  greeting: hi\n" in diff and "+  who: everyone\n" in diff
        assert list(web["changed"]) == [f"ConfigMap/{ns}/web-config"] and web["pruned"] == []
        assert not env.exists("configmap", "web-extra")  # nothing applied
    finally:  # so that it does not apply the HelmRelease again while it is uninstalled
        env.kubectl("delete", KS, "releases", "--ignore-not-found", "--wait=false")


def test_preview_says_what_the_mass_deletion_guard_would_hold(env: Env, afflux: Run) -> None:
    ns = env.namespace
    repo, source, _ = private_git_source(env)
    names = [f"kept-{i:02d}" for i in range(12)]
    sha = repo.push(app(ns, *(configmap(n, namespace=ns) for n in names)), "initial")
    ks = env.kustomization("guarded", source, path="./app")
    env.wait_applied(ks, sha)
    wipe = git_push_files(repo.url, app(ns, configmap(names[0], namespace=ns)),
                          branch="wipe", message="wipe", auth=repo.auth)
    revision = f"wipe@sha1:{wipe}"

    res = afflux("preview", "--ref", "wipe", "--source", source, "-n", ns, "-o", "json")
    [guarded] = json.loads(res.out)["kustomizations"]
    assert sorted(guarded["pruned"]) == [f"ConfigMap/{ns}/{n}" for n in names[1:]]
    assert guarded["held"].startswith(f"prune held: revision {revision} would delete 11 of "
                                      "12 objects (ConfigMap x11)")
    assert res.code == 1, res.err  # nothing deleted, but the Kustomization goes PruneHeld
    assert json.loads(res.out)["summary"]["changes"] == 0
    res = afflux("preview", "--ref", "wipe", "--source", source, "-n", ns)
    assert f"  - ConfigMap/{ns}/{names[1]} pruned (held by the guard)\n" in res.out

    # allowed for that revision, or a looser guard: the prune would go through
    env.kubectl("annotate", KS, ks, f"afflux.toolkit.fluxcd.io/allow-prune={revision}")
    res = afflux("preview", "--ref", "wipe", "--source", source, "-n", ns, "-o", "json")
    assert res.code == 1 and json.loads(res.out)["kustomizations"][0]["held"] == ""
    env.kubectl("annotate", KS, ks, "afflux.toolkit.fluxcd.io/allow-prune-")
    res = afflux("preview", "--ref", "wipe", "--source", source, "-n", ns, "-o", "json",
                 "--prune-guard-ratio", "1")
    assert res.code == 1 and json.loads(res.out)["summary"]["pruned"] == 11


def test_preview_of_a_local_checkout_with_uncommitted_work(
        env: Env, afflux: Run, tmp_path: Path) -> None:
    ns = env.namespace
    repo, source, _ = private_git_source(env)
    sha = repo.push(app(ns, configmap("local", {"v": "1"}, namespace=ns)), "initial")
    ks = env.kustomization("local", source, path="./app")
    env.wait_applied(ks, sha)
    checkout = git_clone(repo.url, tmp_path / "checkout", auth=repo.auth)
    (tmp_path / "checkout" / "app" / "all.yaml").write_text(
        dump(configmap("local", {"v": "2"}, namespace=ns)))

    res = afflux("preview", "--path", str(tmp_path / "checkout"), "--source", source, "-n", ns,
                 "-o", "json")
    assert res.code == 1, res.out + res.err
    report = json.loads(res.out)
    assert report["revision"] == f"sha1:{checkout.head.target}"
    [local] = report["kustomizations"]
    assert list(local["changed"]) == [f"ConfigMap/{ns}/local"] and local["created"] == []


def test_preview_fetches_over_ssh_with_the_secrets_key_and_host_keys(
        env: Env, afflux: Run, ssh_git_server: GitSSHServer) -> None:
    ns = env.namespace
    name = f"cli/ssh-{uuid.uuid4().hex[:8]}"
    ssh_git_server.create_repo(name)
    url = ssh_git_server.url(name)
    git_push_files(url, app(ns, configmap("over-ssh", namespace=ns)),
                   auth=GitAuth.for_server(ssh_git_server))
    key = Path(ssh_git_server.client_key).read_text()

    def source(known_hosts: str) -> str:
        src = f"ssh-{uuid.uuid4().hex[:6]}"
        env.apply({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": src, "namespace": ns},
                   "stringData": {"identity": key, "known_hosts": known_hosts}},
                  {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                   "metadata": {"name": src, "namespace": ns},
                   "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"},
                            "suspend": True, "secretRef": {"name": src}}})
        env.kustomization(f"{src}-app", src, path="./app", suspend=False)
        return src

    good = source(ssh_git_server.known_hosts)
    res = afflux("preview", "--ref", "main", "--source", good, "-n", ns, "-o", "json")
    assert res.code == 1, res.out + res.err
    [ks] = json.loads(res.out)["kustomizations"]
    assert ks["created"] == [f"ConfigMap/{ns}/over-ssh"]
    assert key.strip().splitlines()[1] not in res.out + res.err

    # a host key the Secret does not list: refused, nothing fetched
    other = ssh_git_server.known_hosts.rsplit(" ", 1)[0] + \
        " AAAAC3NzaC1lZDI1NTE5AAAAIHVKcNtf2JfGHbMHOiT6VNBBpJIlMJpp7DXYjPJdJ7Zk"
    res = afflux("preview", "--ref", "main", "--source", source(other), "-n", ns)
    assert res.code == 7, res.out + res.err
    assert "host key" in res.err and res.out == ""
