"""The inspecting commands on real objects: `events` (with --for), `trace` from a ConfigMap
to its Kustomization and GitRepository, `tree` of an inventory (a nested Kustomization and a
HelmRelease's objects read from its Helm storage Secret), and `stats`."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import threading

import pytest
from cli_harness import Run, apply, patch_status, ready_condition

from afflux.cli._errors import EXIT_FAILURE
from harness.fixtures_cluster import Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration

REV = "main@sha1:0123456789abcdef0123456789abcdef01234567"
GIT = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
       "metadata": {"name": "repo"},
       "spec": {"url": "https://example.com/repo.git", "interval": "1m",
                "ref": {"branch": "main"}}}


def ks(name: str, **spec: object) -> dict:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name},
            "spec": {"interval": "10m", "path": f"./{name}", "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "repo"}, **spec}}


def event(namespace: str, name: str, kind: str, obj: str, reason: str, message: str,
          when: str, type_: str = "Normal", api_version: str = "") -> dict:
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": kind, "name": obj, "namespace": namespace,
                           **({"apiVersion": api_version} if api_version else {})},
        "reason": reason, "message": message, "type": type_,
        "firstTimestamp": when, "lastTimestamp": when, "count": 1,
        "source": {"component": "kustomize-controller"},
    }


def test_events(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    apply(flux_crds, namespace,
          event(namespace, "e1", "Kustomization", "apps", "ReconciliationSucceeded",
                "Reconciliation finished in 2s", "2024-05-01T12:00:00Z",
                api_version="kustomize.toolkit.fluxcd.io/v1"),
          event(namespace, "e2", "GitRepository", "repo", "GitOperationFailed",
                "failed to checkout: auth required", "2024-05-01T11:00:00Z", "Warning",
                api_version="source.toolkit.fluxcd.io/v1"),
          event(namespace, "e3", "Deployment", "web", "ScalingReplicaSet", "scaled up",
                "2024-05-01T11:30:00Z", api_version="apps/v1"))
    res = afflux("events", "-n", namespace)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert lines[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    cells = [[c.strip() for c in line.split("\t")] for line in lines[1:]]
    assert [c[1:] for c in cells] == [  # oldest first, the Deployment's left out
        ["Warning", "GitOperationFailed", "GitRepository/repo",
         "failed to checkout: auth required"],
        ["Normal", "ReconciliationSucceeded", "Kustomization/apps",
         "Reconciliation finished in 2s"],
    ]
    res = afflux("events", "-n", namespace, "--for", "ks/apps")
    assert [line.split("\t")[3].strip() for line in res.out.splitlines()[1:]] == [
        "Kustomization/apps"]
    res = afflux("events", "-A", "--for", "Deployment/web")
    assert any(namespace in line and "Deployment/web" in line for line in res.out.splitlines())


def test_events_for_a_helm_release_include_its_chart_and_source_and_types(
        afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    ns = namespace
    hr = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
          "metadata": {"name": "web"},
          "spec": {"interval": "10m", "chart": {"spec": {
              "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}}
    apply(flux_crds, ns, hr,
          event(ns, "e1", "HelmRelease", "web", "InstallSucceeded", "installed",
                "2024-05-01T12:00:00Z", api_version="helm.toolkit.fluxcd.io/v2"),
          event(ns, "e2", "HelmChart", f"{ns}-web", "ChartPullSucceeded", "pulled",
                "2024-05-01T11:00:00Z", api_version="source.toolkit.fluxcd.io/v1"),
          event(ns, "e3", "HelmRepository", "charts", "Failed", "index unreachable",
                "2024-05-01T10:00:00Z", "Warning", api_version="source.toolkit.fluxcd.io/v1"),
          event(ns, "e4", "Kustomization", "other", "ReconciliationSucceeded", "ok",
                "2024-05-01T12:30:00Z", api_version="kustomize.toolkit.fluxcd.io/v1"))
    res = afflux("events", "-n", ns, "--for", "HelmRelease/web")
    assert res.code == 0, res.err
    objects = [line.split("\t")[3].strip() for line in res.out.splitlines()[1:]]
    assert objects == ["HelmRepository/charts", f"HelmChart/{ns}-web", "HelmRelease/web"]
    res = afflux("events", "-n", ns, "--for", "hr/web", "--types", "warning")
    assert [line.split("\t")[1].strip() for line in res.out.splitlines()[1:]] == ["Warning"]
    res = afflux("events", "-n", ns, "--types", "Normal")
    assert "Warning" not in res.out and "Kustomization/other" in res.out
    res = afflux("events", "-n", ns, "--for", "Kustomization")  # a kind alone
    assert [line.split("\t")[3].strip() for line in res.out.splitlines()[1:]] == [
        "Kustomization/other"]
    res = afflux("events", "-n", ns, "--types", "Error")
    assert res.code == 1 and "type 'Error' not supported" in res.err


def test_trace_configmap_to_kustomization_and_git(afflux: Run, flux_crds: Cluster,
                                                  namespace: str) -> None:
    apply(flux_crds, namespace, GIT, ks("apps", targetNamespace=namespace))
    patch_status(flux_crds, namespace, "gitrepositories", "repo", {
        "artifact": {"path": "p", "url": "http://x/p", "revision": REV,
                     "lastUpdateTime": "2024-05-01T12:00:00Z"},
        "conditions": [ready_condition("True", f"stored artifact for revision '{REV}'", 1)]})
    patch_status(flux_crds, namespace, "kustomizations", "apps", {
        "lastAppliedRevision": REV, "lastAttemptedRevision": REV,
        "conditions": [ready_condition("True", f"Applied revision: {REV}", 1)]})
    flux_crds.kubectl("create", "configmap", "app-config", "-n", namespace, "--from-literal=a=b")
    flux_crds.kubectl("label", "configmap", "app-config", "-n", namespace,
                      "kustomize.toolkit.fluxcd.io/name=apps",
                      f"kustomize.toolkit.fluxcd.io/namespace={namespace}")
    for args in (["configmap", "app-config"], ["cm/app-config"],
                 ["app-config", "--kind", "ConfigMap", "--api-version", "v1"]):
        res = afflux("trace", *args, "-n", namespace)
        assert res.code == 0, res.err
        assert res.out == (
            "Object:          ConfigMap/app-config\n"
            f"Namespace:       {namespace}\n"
            "Status:          Managed by Flux\n"
            "---\n"
            "Kustomization:   apps\n"
            f"Namespace:       {namespace}\n"
            f"Target:          {namespace}\n"
            "Path:            ./apps\n"
            f"Revision:        {REV}\n"
            "Status:          Last reconciled at 2024-05-01 12:00:00 +0000 UTC\n"
            f"Message:         Applied revision: {REV}\n"
            "---\n"
            "GitRepository:   repo\n"
            f"Namespace:       {namespace}\n"
            "URL:             https://example.com/repo.git\n"
            "Branch:          main\n"
            f"Revision:        {REV}\n"
            "Status:          Last reconciled at 2024-05-01 12:00:00 +0000 UTC\n"
            f"Message:         stored artifact for revision '{REV}'\n"
        )


def test_trace_unmanaged_and_missing(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    flux_crds.kubectl("create", "configmap", "plain", "-n", namespace)
    res = afflux("trace", "configmap", "plain", "-n", namespace)
    assert res.code == EXIT_FAILURE
    assert "ConfigMap/plain is not managed by Flux" in res.err
    res = afflux("trace", "configmap", "nope", "-n", namespace)
    assert res.code == 3 and "ConfigMap 'nope' not found" in res.err


def _helm_secret(namespace: str, release: str, manifest: str) -> dict:
    record = {"name": release, "namespace": namespace, "version": 1, "manifest": manifest,
              "info": {"status": "deployed"}}
    helm = base64.b64encode(gzip.compress(json.dumps(record).encode())).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{release}.v1",
                         "labels": {"owner": "helm", "name": release, "status": "deployed",
                                    "version": "1"}},
            "stringData": {"release": helm}}


def test_tree_expands_nested_kustomizations_and_helm_releases(
        afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    hr = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
          "metadata": {"name": "web"},
          "spec": {"interval": "10m", "chart": {"spec": {
              "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}}
    manifest = ("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\n"
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n---\n"
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n"
                "  name: web-reader\n")
    apply(flux_crds, namespace, GIT, ks("root"), ks("apps"), hr,
          _helm_secret(namespace, "web", manifest))
    ns = namespace
    patch_status(flux_crds, ns, "kustomizations", "root", {"inventory": {"entries": [
        {"id": f"_{ns}__Namespace", "v": "v1"},
        {"id": f"{ns}_root_kustomize.toolkit.fluxcd.io_Kustomization", "v": "v1"},  # itself
        {"id": f"{ns}_apps_kustomize.toolkit.fluxcd.io_Kustomization", "v": "v1"},
        {"id": f"{ns}_repo_source.toolkit.fluxcd.io_GitRepository", "v": "v1"},
    ]}})
    patch_status(flux_crds, ns, "kustomizations", "apps", {"inventory": {"entries": [
        {"id": f"{ns}_web_helm.toolkit.fluxcd.io_HelmRelease", "v": "v2"},
        {"id": f"{ns}_settings__ConfigMap", "v": "v1"},
    ]}})
    res = afflux("tree", "kustomization", "root", "-n", ns)
    assert res.code == 0, res.err
    assert res.out == (
        f"Kustomization/{ns}/root\n"
        f"├── Namespace/{ns}\n"
        f"├── Kustomization/{ns}/apps\n"
        f"│   ├── HelmRelease/{ns}/web\n"
        f"│   │   ├── Service/{ns}/web\n"
        f"│   │   ├── Deployment/{ns}/web\n"
        "│   │   └── ClusterRole/web-reader\n"
        f"│   └── ConfigMap/{ns}/settings\n"
        f"└── GitRepository/{ns}/repo\n"
    )
    compact = afflux("tree", "ks", "root", "-n", ns, "--compact")
    assert compact.out.splitlines() == [
        f"Kustomization/{ns}/root",
        f"├── Kustomization/{ns}/apps",
        f"│   └── HelmRelease/{ns}/web",
        f"└── GitRepository/{ns}/repo",
    ]
    as_json = json.loads(afflux("tree", "ks", "root", "-n", ns, "-o", "json").out)
    assert as_json["resource"] == {"Namespace": ns, "Name": "root", "GroupKind": {
        "Group": "kustomize.toolkit.fluxcd.io", "Kind": "Kustomization"}}
    assert [r["resource"]["GroupKind"]["Kind"] for r in as_json["resources"]] == [
        "Namespace", "Kustomization", "GitRepository"]
    assert "resources" not in as_json["resources"][0]
    # the HelmRelease alone; with a history, its storage Secret is read by name (as flux)
    patch_status(flux_crds, ns, "helmreleases", "web", {
        "storageNamespace": ns, "history": [{
            "name": "web", "namespace": ns, "version": 1, "chartName": "podinfo",
            "chartVersion": "1.0.0", "configDigest": "sha256:0", "digest": "sha256:0",
            "firstDeployed": "2024-05-01T12:00:00Z", "lastDeployed": "2024-05-01T12:00:00Z",
            "status": "deployed"}]})
    res = afflux("tree", "hr", "web", "-n", ns)
    assert res.code == 0, res.err
    assert res.out == (f"HelmRelease/{ns}/web\n├── Service/{ns}/web\n"
                       f"├── Deployment/{ns}/web\n└── ClusterRole/web-reader\n")


def test_stats(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    apply(flux_crds, namespace, GIT, {**GIT, "metadata": {"name": "other"},
                                      "spec": {**GIT["spec"], "suspend": True}}, ks("apps"))
    patch_status(flux_crds, namespace, "gitrepositories", "repo", {
        "artifact": {"path": "p", "url": "http://x/p", "revision": REV, "size": 2048,
                     "lastUpdateTime": "2024-05-01T12:00:00Z"},
        "conditions": [ready_condition("True", "ok", 1)]})
    patch_status(flux_crds, namespace, "kustomizations", "apps", {
        "conditions": [ready_condition("False", "build failed", 1)]})
    res = afflux("stats", "-n", namespace)
    assert [line.split("\t")[0].strip() for line in res.out.splitlines()][1:4] == [
        "GitRepository", "OCIRepository", "HelmRepository"]
    assert res.code == 0, res.err
    rows = {line.split("\t")[0].strip(): [c.strip() for c in line.split("\t")[1:]]
            for line in res.out.splitlines()}
    assert rows["RECONCILERS"] == ["RUNNING", "FAILING", "SUSPENDED", "STORAGE"]
    assert rows["GitRepository"] == ["1", "0", "1", "2.0 KiB"]
    assert rows["Kustomization"] == ["1", "1", "0", "-"]  # failing counts as running
    assert rows["HelmRelease"] == ["0", "0", "0", "-"]
    assert rows["Bucket"] == ["0", "0", "0", "-"]


def test_events_watch_prints_new_events(flux_crds: Cluster, namespace: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "afflux.cli", "--kubeconfig", str(flux_crds.kubeconfig),
         "events", "-n", namespace, "--watch", "--timeout", "60s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        def send(name: str) -> bool:
            apply(flux_crds, namespace, event(
                namespace, name, "Kustomization", "apps", "Progressing", f"message {name}",
                "2024-05-01T12:00:00Z", api_version="kustomize.toolkit.fluxcd.io/v1"))
            return True

        # the watch may start after the first event: keep sending new ones until one shows
        counter = iter(range(1000))
        eventually(lambda: send(f"w{next(counter)}") and
                   any("Kustomization/apps" in line for line in lines),
                   timeout=30, interval=1.0, message="a watched event")
        assert lines[0].split()[:2] == ["LAST", "SEEN"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_status_less_kinds(afflux: Run, flux_crds: Cluster, namespace: str) -> None:
    apply(flux_crds, namespace, {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "slack"}, "spec": {"type": "generic",
                                               "address": "http://127.0.0.1:1/hook"}})
    res = afflux("get", "alert-providers", "-n", namespace)
    assert [c.strip() for c in res.out.splitlines()[1].split("\t")] == [
        "slack", "True", "Provider is Ready"]
    res = afflux("reconcile", "alert-provider", "slack", "-n", namespace)
    assert res.code == 0, res.err
    assert res.err.splitlines() == [f"► annotating Provider slack in {namespace} namespace",
                                    "✔ Provider annotated"]


def test_trace_through_a_helm_release_to_its_kustomization(afflux: Run, flux_crds: Cluster,
                                                           namespace: str) -> None:
    ns = namespace
    helm_repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                 "metadata": {"name": "charts"},
                 "spec": {"url": "https://charts.example.com", "interval": "10m"}}
    chart = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
             "metadata": {"name": f"{ns}-web"},
             "spec": {"chart": "podinfo", "version": "6.x", "interval": "10m",
                      "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}
    hr = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
          "metadata": {"name": "web", "labels": {
              "kustomize.toolkit.fluxcd.io/name": "apps",
              "kustomize.toolkit.fluxcd.io/namespace": ns}},
          "spec": {"interval": "10m", "chart": {"spec": {
              "chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}}}
    apply(flux_crds, ns, GIT, ks("apps"), helm_repo, chart, hr)
    patch_status(flux_crds, ns, "helmreleases", "web", {
        "helmChart": f"{ns}/{ns}-web",
        "history": [{"name": "web", "namespace": ns, "version": 1, "chartName": "podinfo",
                     "chartVersion": "6.5.4", "configDigest": "sha256:" + "0" * 64,
                     "digest": "sha256:" + "1" * 64, "status": "deployed",
                     "firstDeployed": "2024-05-01T12:00:00Z",
                     "lastDeployed": "2024-05-01T12:00:00Z"}],
        "conditions": [ready_condition("True", "Helm install succeeded", 1)]})
    flux_crds.kubectl("create", "service", "clusterip", "web", "--tcp=80:80", "-n", ns)
    flux_crds.kubectl("label", "service", "web", "-n", ns, "helm.toolkit.fluxcd.io/name=web",
                      f"helm.toolkit.fluxcd.io/namespace={ns}")
    res = afflux("trace", "service/web", "-n", ns)
    assert res.code == 0, res.err
    blocks = [b.splitlines()[0].split(":")[0] for b in res.out.split("---\n")]
    assert blocks == ["Object", "HelmRelease", "HelmChart", "HelmRepository", "Kustomization",
                      "GitRepository"]
    assert "Chart:           podinfo@6.5.4" in res.out
    assert "Version:         6.x" in res.out
