"""`afflux get` against real objects: tables, -A, -o yaml/json, --status-selector, get all,
not found, and --watch streaming a change."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import yaml
from cli_harness import Run, apply, patch_status, ready_condition

from harness.fixtures_cluster import Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration

REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"


def git(name: str, **spec: object) -> dict:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": name},
            "spec": {"url": "https://example.com/repo.git", "interval": "1m",
                     "ref": {"branch": "main"}, **spec}}


def ks(name: str, **spec: object) -> dict:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name},
            "spec": {"interval": "10m", "path": "./", "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}, **spec}}


@pytest.fixture
def objects(flux_crds: Cluster, namespace: str) -> str:
    apply(flux_crds, namespace, git("repo"), git("broken"), git("paused", suspend=True),
          ks("apps"))
    patch_status(flux_crds, namespace, "gitrepositories", "repo", {
        "artifact": {"path": "x", "url": "http://x", "revision": REV,
                     "lastUpdateTime": "2024-05-01T12:00:00Z"},
        "conditions": [ready_condition("True", f"stored artifact for revision '{REV}'", 1)]})
    patch_status(flux_crds, namespace, "gitrepositories", "broken", {
        "conditions": [ready_condition("False", "authentication required", 1)]})
    return namespace


def _rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    return {line.split("\t")[0].strip(): [c.strip() for c in line.split("\t")]
            for line in lines[1:]}


def test_get_sources_git_table(afflux: Run, objects: str) -> None:
    res = afflux("get", "sources", "git", "-n", objects)
    assert res.code == 0, res.err
    header = res.out.splitlines()[0].split()
    assert header == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    rows = _rows(res.out)
    short = "main@sha1:01234567"  # as flux prints revisions
    assert rows["repo"] == ["repo", short, "False", "True",
                            f"stored artifact for revision '{short}'"]
    assert rows["broken"] == ["broken", "", "False", "False", "authentication required"]
    assert rows["paused"] == ["paused", "", "True", "False", "waiting to be reconciled"]


def test_get_all_namespaces(afflux: Run, objects: str) -> None:
    res = afflux("get", "ks", "-A")
    assert res.code == 0, res.err
    assert res.out.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert any(line.split("\t")[0].strip() == objects and line.split("\t")[1].strip() == "apps"
               for line in res.out.splitlines())


def test_get_one_as_yaml_and_list_as_json(afflux: Run, objects: str) -> None:
    res = afflux("get", "source", "git", "repo", "-n", objects, "-o", "yaml")
    assert res.code == 0, res.err
    doc = yaml.safe_load(res.out)
    assert doc["kind"] == "GitRepository" and doc["metadata"]["name"] == "repo"
    assert doc["status"]["artifact"]["revision"] == REV
    res = afflux("get", "sources", "git", "-n", objects, "-o", "json")
    data = json.loads(res.out)
    assert data["kind"] == "List"
    assert sorted(i["metadata"]["name"] for i in data["items"]) == ["broken", "paused", "repo"]


def test_status_selector(afflux: Run, objects: str) -> None:
    res = afflux("get", "sources", "git", "-n", objects, "--status-selector", "ready=false")
    assert sorted(_rows(res.out)) == ["broken"]
    res = afflux("get", "sources", "git", "-n", objects, "--status-selector", "Ready=True")
    assert sorted(_rows(res.out)) == ["repo"]


def test_get_all_prefixes_kinds(afflux: Run, objects: str) -> None:
    res = afflux("get", "all", "-n", objects)
    assert res.code == 0, res.err
    names = [line.split("\t")[0].strip() for line in res.out.splitlines()]
    assert "gitrepository/repo" in names and "kustomization/apps" in names
    assert names.count("NAME") == 2  # one table per kind that has objects


def test_not_found_and_empty(afflux: Run, objects: str) -> None:
    res = afflux("get", "source", "git", "nope", "-n", objects)
    assert res.code == 3
    assert "✗ GitRepository object 'nope' not found" in res.err
    assert "hint: list them with `afflux get sources git -A`" in res.err
    res = afflux("get", "hr", "-n", objects)
    assert res.code == 1 and res.out == ""  # as flux: nothing found is an error
    assert f'no HelmRelease objects found in "{objects}" namespace' in res.err
    res = afflux("get", "sources", "git", "-n", objects, "-l", "team=none")
    assert res.code == 1 and "no GitRepository objects found" in res.err


def test_watch_prints_changes(flux_crds: Cluster, objects: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "afflux.cli", "--kubeconfig", str(flux_crds.kubeconfig),
         "get", "ks", "apps", "-n", objects, "--watch", "--timeout", "60s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        eventually(lambda: any(line.startswith("apps") for line in lines), timeout=30,
                   message="the first table")
        patch_status(flux_crds, objects, "kustomizations", "apps", {
            "lastAppliedRevision": REV,
            "conditions": [ready_condition("True", f"Applied revision: {REV}", 1)]})
        short = "main@sha1:01234567"
        eventually(lambda: any(short in line and "Applied revision" in line for line in lines),
                   timeout=30, message="the changed row")
        assert lines[0].split()[0] == "NAME"
        assert sum(1 for line in lines if line.startswith("NAME")) == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_label_selector_and_show_source(afflux: Run, flux_crds: Cluster, objects: str) -> None:
    flux_crds.kubectl("label", "-n", objects, "gitrepository", "repo", "team=web")
    res = afflux("get", "sources", "git", "-n", objects, "-l", "team=web")
    assert res.code == 0, res.err
    assert sorted(_rows(res.out)) == ["repo"]
    res = afflux("get", "sources", "git", "-n", objects, "--label-selector=team!=web")
    assert sorted(_rows(res.out)) == ["broken", "paused"]
    res = afflux("get", "ks", "-n", objects, "--show-source")
    assert res.out.splitlines()[0].split() == [
        "NAME", "SOURCE", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert _rows(res.out)["apps"][1] == f"GitRepository/{objects}/repo"


def test_get_helmreleases_and_notification_kinds(afflux: Run, flux_crds: Cluster,
                                                 objects: str) -> None:
    apply(flux_crds, objects, {
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "web"},
        "spec": {"interval": "5m", "chart": {"spec": {
            "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}},
    }, {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "sink"}, "spec": {"type": "generic", "address": "http://x"},
    }, {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": {"name": "all"},
        "spec": {"providerRef": {"name": "sink"},
                 "eventSources": [{"kind": "Kustomization", "name": "*"}]},
    }, {
        "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "hook"},
        "spec": {"type": "generic", "secretRef": {"name": "token"},
                 "resources": [{"kind": "GitRepository", "name": "repo"}]},
    })
    patch_status(flux_crds, objects, "helmreleases", "web", {
        "history": [{"name": "web", "namespace": objects, "version": 2, "chartName": "podinfo",
                     "chartVersion": "6.5.0", "configDigest": "sha256:00", "digest": "sha256:00",
                     "firstDeployed": "2024-05-01T12:00:00Z",
                     "lastDeployed": "2024-05-01T12:00:00Z", "status": "deployed"}],
        "conditions": [ready_condition("True", "Helm upgrade succeeded for release "
                                       f"{objects}/web.v2 with chart podinfo@6.5.0", 1)]})
    res = afflux("get", "hr", "-n", objects, "--show-source")
    assert res.code == 0, res.err
    assert _rows(res.out)["web"][:5] == ["web", f"HelmRepository/{objects}/charts", "6.5.0",
                                         "False", "True"]
    assert _rows(afflux("get", "alert-providers", "-n", objects).out)["sink"] == [
        "sink", "True", "Provider is Ready"]
    assert _rows(afflux("get", "alerts", "-n", objects).out)["all"] == [
        "all", "False", "True", "Alert is Ready"]
    assert _rows(afflux("get", "receivers", "-n", objects).out)["hook"] == [
        "hook", "False", "False", "waiting to be reconciled"]
