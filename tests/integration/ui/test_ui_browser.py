"""`afflux ui` in a real headless Chromium against the real cluster: objects made with kubectl
(their status set through the status subresource, no operators), the page driven by
Playwright. The fleet puts the failing object first and shows a status change without a
reload; the reconcile button sets requestedAt; a user without patch rights sees the API
server's own refusal; the graph draws every node and the dependsOn edges (and the
depends-on annotation's across kinds), and pans and zooms; an object page shows the drift
corrected and the last change set from the events kustomize-controller records.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from playwright.sync_api import Page, expect

from afflux.cli import main
from afflux.controllers.runtime import (
    DRIFT_ANNOTATION,
    FieldDrift,
    ObjectDrift,
    drift_message,
    encode_drift,
)
from afflux.controllers.runtime._events import build_event
from harness.fixtures_cluster import REPO, Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration

WAIT_MS = 15_000
NOW = "2026-01-01T00:00:00Z"


def _git(name: str) -> dict[str, Any]:
    return {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": name},
            "spec": {"url": "https://example.com/repo.git", "interval": "1m",
                     "ref": {"branch": "main"}}}


def _ks(name: str, depends_on: tuple[str, ...] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"interval": "10m", "path": "./", "prune": True,
                            "sourceRef": {"kind": "GitRepository", "name": "repo"}}
    if depends_on:
        spec["dependsOn"] = [{"name": d} for d in depends_on]
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name}, "spec": spec}


def _apply(cluster: Cluster, namespace: str, *docs: dict[str, Any]) -> None:
    body = {"apiVersion": "v1", "kind": "List", "items": list(docs)}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _set_ready(cluster: Cluster, namespace: str, kind: str, name: str, ready: bool,
               message: str, **status: Any) -> None:
    condition = {"type": "Ready", "status": "True" if ready else "False",
                 "reason": "ReconciliationSucceeded" if ready else "BuildFailed",
                 "message": message, "lastTransitionTime": NOW, "observedGeneration": 1}
    patch = {"status": {"conditions": [condition], "observedGeneration": 1, **status}}
    cluster.kubectl("patch", kind, name, "-n", namespace, "--subresource=status",
                    "--type=merge", "-p", json.dumps(patch))


@pytest.fixture
def fleet(flux_crds: Cluster, namespace: str) -> str:
    """A source and two Kustomizations: `a-ok` Ready, `b-broken` failing."""
    _apply(flux_crds, namespace, _git("repo"), _ks("a-ok"), _ks("b-broken"))
    _set_ready(flux_crds, namespace, "gitrepository", "repo", True, "stored artifact")
    _set_ready(flux_crds, namespace, "kustomization", "a-ok", True, "Applied revision: main@x",
               lastAppliedRevision="main@sha1:1111111")
    _set_ready(flux_crds, namespace, "kustomization", "b-broken", False,
               "kustomize build failed: missing resource")
    return namespace


def _open_fleet(page: Page, url: str, namespace: str) -> None:
    page.goto(url + "/#/")
    expect(page.locator("#conn")).to_have_text("live", timeout=WAIT_MS)
    page.fill("#filter", namespace)


def test_fleet_lists_failing_first_and_updates_live(
    start_ui: Callable[..., Any], page: Page, fleet: str, flux_crds: Cluster
) -> None:
    ui = start_ui()
    _open_fleet(page, ui.url, fleet)
    rows = page.locator("tr.row")
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    # the failing Kustomization's group comes first (before the healthy source), itself first
    expect(rows.first).to_have_attribute("data-key", f"Kustomization/{fleet}/b-broken")
    expect(rows.first).to_contain_text("kustomize build failed: missing resource")
    keys = [rows.nth(i).get_attribute("data-key") for i in range(3)]
    assert keys == [f"Kustomization/{fleet}/b-broken", f"Kustomization/{fleet}/a-ok",
                    f"GitRepository/{fleet}/repo"]

    page.evaluate("window.__sameDocument = true")
    _set_ready(flux_crds, fleet, "kustomization", "a-ok", False, "health check failed: web")
    row = page.locator(f'tr.row[data-key="Kustomization/{fleet}/a-ok"]')
    expect(row).to_have_attribute("data-state", "failing", timeout=WAIT_MS)
    expect(row).to_contain_text("health check failed: web")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"

    page.check("#failing-only")
    expect(rows).to_have_count(2)


def test_fleet_lists_what_get_all_lists(
    start_ui: Callable[..., Any], page: Page, fleet: str, flux_crds: Cluster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    assert main(["--kubeconfig", str(flux_crds.kubeconfig), "get", "all", "-n", fleet,
                 "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["items"]
    expected = sorted(f"{o['kind']}/{fleet}/{o['metadata']['name']}" for o in listed)
    assert len(expected) == 3
    ui = start_ui()
    _open_fleet(page, ui.url, fleet)
    rows = page.locator("tr.row")
    expect(rows).to_have_count(len(expected), timeout=WAIT_MS)
    assert sorted(rows.nth(i).get_attribute("data-key") or "" for i in range(len(expected))) \
        == expected


def test_object_page_shows_conditions_and_inventory(
    start_ui: Callable[..., Any], page: Page, fleet: str, flux_crds: Cluster
) -> None:
    snapshot = {"digest": "sha256:" + "1" * 64, "firstReconciled": NOW, "lastReconciled": NOW,
                "lastReconciledDuration": "1.5s", "lastReconciledStatus": "ReconciliationSucceeded",
                "totalReconciliations": 3, "metadata": {"revision": "main@sha1:feedbeef"}}
    _set_ready(flux_crds, fleet, "kustomization", "a-ok", True, "Applied revision: main@x",
               inventory={"entries": [{"id": f"{fleet}_web_apps_Deployment", "v": "v1"},
                                      {"id": f"_{fleet}__Namespace", "v": "v1"}]},
               history=[snapshot])
    ui = start_ui()
    page.goto(f"{ui.url}/#/object/Kustomization/{fleet}/a-ok")
    expect(page.locator("#message")).to_have_text("Applied revision: main@x", timeout=WAIT_MS)
    expect(page.locator("#inventory")).to_contain_text(f"Deployment/{fleet}/web")
    expect(page.locator("#inventory")).to_contain_text(f"Namespace/{fleet}")
    expect(page.locator("#act-reconcile-with-source")).to_be_visible()
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(1)
    expect(history.locator("td").first).to_have_text("main@sha1:feedbeef")


def _record_event(cluster: Cluster, namespace: str, involved: dict[str, Any], reason: str,
                  message: str, metadata: dict[str, str],
                  component: str = "kustomize-controller", now: datetime | None = None) -> None:
    """An Event built as a controller builds it (the runtime's `build_event`)."""
    event = build_event(involved, "Normal", reason, message, component=component,
                        instance="test", metadata=metadata, now=now or datetime.now(UTC))
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(event))


def test_object_page_shows_the_drift_and_the_last_change(
    start_ui: Callable[..., Any], page: Page, fleet: str, flux_crds: Cluster
) -> None:
    involved = json.loads(flux_crds.kubectl("get", "kustomization", "a-ok", "-n", fleet,
                                            "-o", "json").stdout)
    revision = {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:1111111"}
    _record_event(flux_crds, fleet, involved, "Progressing",
                  f"ConfigMap/{fleet}/settings created\nDeployment/{fleet}/web configured",
                  revision)
    drift = [ObjectDrift(f"Deployment/{fleet}/web", (
        FieldDrift("spec.replicas", "3", "1", "kubectl-edit"),
        FieldDrift("metadata.labels.team", None, '"a"', None)))]
    _record_event(flux_crds, fleet, involved, "DriftCorrected", drift_message(drift),
                  {**revision, DRIFT_ANNOTATION: encode_drift(drift)})
    ui = start_ui()
    page.goto(f"{ui.url}/#/object/Kustomization/{fleet}/a-ok")
    last = page.locator("#last-change")
    expect(last).to_contain_text("revision main@sha1:1111111", timeout=WAIT_MS)
    expect(last.locator("pre")).to_have_text(
        f"ConfigMap/{fleet}/settings created\nDeployment/{fleet}/web configured")
    rows = page.locator("#drift tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td")).to_have_text(
        [f"Deployment/{fleet}/web", "spec.replicas", "3", "1", "kubectl-edit"])
    expect(rows.nth(1).locator("td")).to_have_text(
        [f"Deployment/{fleet}/web", "metadata.labels.team", "(absent)", '"a"', "-"])


def test_reconcile_button_sets_requested_at(
    start_ui: Callable[..., Any], page: Page, fleet: str, flux_crds: Cluster
) -> None:
    ui = start_ui()
    page.goto(f"{ui.url}/#/object/Kustomization/{fleet}/a-ok")
    expect(page.locator("#requested-at")).to_have_text("-", timeout=WAIT_MS)
    page.click("#act-reconcile")
    expect(page.locator("#toast")).to_contain_text("reconciliation requested", timeout=WAIT_MS)

    def requested_at() -> str:
        out = flux_crds.kubectl("get", "kustomization", "a-ok", "-n", fleet, "-o",
                                "jsonpath={.metadata.annotations.reconcile\\.fluxcd\\.io/"
                                "requestedAt}").stdout
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", out), out
        return out

    value = eventually(requested_at, timeout=15, message="requestedAt on the Kustomization")
    # the page learns it from the watch, without a reload
    expect(page.locator("#requested-at")).to_have_text(value, timeout=WAIT_MS)


@pytest.fixture
def viewer(flux_crds: Cluster, fleet: str) -> Any:
    """A user who may read everything and change nothing."""
    user = f"ui-viewer-{uuid.uuid4().hex[:6]}"
    flux_crds.kubectl("create", "clusterrole", user, "--verb=get,list,watch",
                      "--resource=*.*")
    flux_crds.kubectl("create", "clusterrolebinding", user, f"--clusterrole={user}",
                      f"--user={user}")
    yield user
    flux_crds.kubectl("delete", "clusterrolebinding", user, "--wait=false", check=False)
    flux_crds.kubectl("delete", "clusterrole", user, "--wait=false", check=False)


def test_forbidden_action_shows_the_api_message(
    start_ui: Callable[..., Any], page: Page, fleet: str, viewer: str, flux_crds: Cluster
) -> None:
    ui = start_ui(as_user=viewer)
    page.goto(f"{ui.url}/#/object/Kustomization/{fleet}/a-ok")
    expect(page.locator("#act-suspend")).to_be_visible(timeout=WAIT_MS)
    page.click("#act-suspend")
    toast = page.locator("#toast.error")
    expect(toast).to_contain_text("forbidden", timeout=WAIT_MS)
    # word for word what the API server answers kubectl for the same user
    refused = flux_crds.kubectl("patch", "kustomization", "a-ok", "-n", fleet, f"--as={viewer}",
                                "--type=merge", "-p", '{"spec":{"suspend":true}}', check=False)
    assert refused.returncode != 0
    expected = refused.stderr.strip().removeprefix("Error from server (Forbidden): ")
    assert toast.text_content() == expected
    suspended = flux_crds.kubectl("get", "kustomization", "a-ok", "-n", fleet, "-o",
                                  "jsonpath={.spec.suspend}").stdout
    assert suspended == ""


def test_graph_draws_nodes_and_depends_on_edges(
    start_ui: Callable[..., Any], page: Page, flux_crds: Cluster, namespace: str
) -> None:
    n = 40
    # k<i> depends on k<i-1>, except every fourth: ten chains of four, 30 dependsOn edges
    docs = [_git("repo")] + [_ks(f"k{i:02}", (f"k{i - 1:02}",) if i % 4 else ())
                             for i in range(n)]
    _apply(flux_crds, namespace, *docs)
    _set_ready(flux_crds, namespace, "kustomization", "k00", False, "build failed",
               inventory={"entries": [{"id": f"{namespace}_cm-{j}__ConfigMap", "v": "v1"}
                                      for j in range(3)]})
    ui = start_ui()
    page.goto(ui.url + "/#/graph")
    mine = page.locator(f'#graph .node[data-id*="/{namespace}/"]')
    expect(mine).to_have_count(n + 1 + 3, timeout=WAIT_MS)
    page.fill("#graph-filter", namespace)  # only this namespace (the cluster has others)
    expect(page.locator("#graph .node")).to_have_count(n + 1 + 3, timeout=WAIT_MS)
    expect(page.locator("#graph-count")).to_have_text(f"{n + 4} nodes, {n + 3 + n - n // 4} edges")
    deps = page.locator(f'#graph path.edge.dependsOn[data-target^="Kustomization/{namespace}/"]')
    expect(deps).to_have_count(n - n // 4)
    edge = page.locator(f'#graph path.edge.dependsOn[data-source="Kustomization/{namespace}/k00"]'
                        f'[data-target="Kustomization/{namespace}/k01"]')
    expect(edge).to_have_count(1)
    expect(page.locator(f'#graph .node[data-id="Kustomization/{namespace}/k00"]')) \
        .to_have_class(re.compile(r"\bfailing\b"))
    expect(page.locator(f'#graph .node[data-id="ConfigMap/{namespace}/cm-0"]')) \
        .to_have_class(re.compile(r"\bapplied\b"))

    svg = page.locator("#graph")
    before = svg.get_attribute("viewBox")
    box = svg.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)  # zoom in
    expect(svg).not_to_have_attribute("viewBox", before or "")
    zoomed = svg.get_attribute("viewBox")
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 40)
    page.mouse.up()
    expect(svg).not_to_have_attribute("viewBox", zoomed or "")

    # k13 and its neighbours: its source, k12 (its dependency) and k14 (its dependent)
    page.fill("#graph-filter", f"{namespace}/k13")
    expect(page.locator("#graph .node")).to_have_count(4, timeout=WAIT_MS)
    page.locator(f'#graph .node[data-id="Kustomization/{namespace}/k13"]').click()
    expect(page.locator("h2").first).to_contain_text(f"Kustomization {namespace}/k13",
                                                     timeout=WAIT_MS)


def test_graph_shows_annotation_edges_across_kinds_and_helm_release_objects(
    start_ui: Callable[..., Any], page: Page, flux_crds: Cluster, namespace: str
) -> None:
    app = _ks("app")
    app["metadata"]["annotations"] = {"afflux.toolkit.fluxcd.io/depends-on": "HelmRelease/db"}
    db = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
          "metadata": {"name": "db", "annotations": {
              "afflux.toolkit.fluxcd.io/depends-on": "Kustomization/infra"}},
          "spec": {"interval": "10m", "chartRef": {"kind": "OCIRepository", "name": "charts"}}}
    _apply(flux_crds, namespace, _git("repo"), _ks("infra"), app, db)
    ui = start_ui()
    page.goto(ui.url + "/#/graph")
    page.fill("#graph-filter", namespace)
    across = page.locator("#graph path.edge.depends-on")
    expect(across).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator(f'#graph path.edge.depends-on[data-source="HelmRelease/{namespace}/db"]'
                        f'[data-target="Kustomization/{namespace}/app"]')).to_have_count(1)
    expect(page.locator(f'#graph path.edge.depends-on'
                        f'[data-source="Kustomization/{namespace}/infra"]'
                        f'[data-target="HelmRelease/{namespace}/db"]')).to_have_count(1)
    expect(page.locator(".legend")).to_contain_text("depends-on (across kinds)")

    # the HelmRelease's objects, from its status.inventory as helm-controller writes it
    _set_ready(flux_crds, namespace, "helmrelease", "db", True, "installed",
               inventory={"entries": [{"id": f"{namespace}_db_apps_StatefulSet", "v": "v1"}]})
    applies = page.locator(f'#graph path.edge.applies[data-source="HelmRelease/{namespace}/db"]'
                           f'[data-target="StatefulSet/{namespace}/db"]')
    expect(applies).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(f'#graph .node[data-id="StatefulSet/{namespace}/db"]')) \
        .to_have_class(re.compile(r"\bapplied\b"))


def _post(url: str, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        pytest.param({}, 403, "missing X-Afflux-UI header", id="no-ui-header-cross-site-form"),
        pytest.param({"X-Afflux-UI": "1", "Host": "evil.example:80"}, 421, "this server answers",
                     id="foreign-host-dns-rebinding"),
    ],
)
def test_actions_refused_unless_from_the_page(
    start_ui: Callable[..., Any], fleet: str, flux_crds: Cluster, headers: dict[str, str],
    status: int, error: str,
) -> None:
    ui = start_ui()
    code, body = _post(f"{ui.url}/api/suspend/Kustomization/{fleet}/a-ok", headers)
    assert (code, error in json.loads(body)["error"]) == (status, True)
    suspended = flux_crds.kubectl("get", "kustomization", "a-ok", "-n", fleet, "-o",
                                  "jsonpath={.spec.suspend}").stdout
    assert suspended == ""


def test_graph_shows_the_depends_on_edges_of_examples_fleet(
    start_ui: Callable[..., Any], page: Page, flux_crds: Cluster, namespace: str
) -> None:
    docs = []
    for path in sorted((REPO / "examples" / "fleet" / "clusters" / "dev").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            doc["metadata"]["namespace"] = namespace
            docs.append(doc)
    kustomizations = [d for d in docs if d["kind"] == "Kustomization"]
    assert len(docs) == len(kustomizations) >= 4
    edges = {(f"Kustomization/{namespace}/{dep['name']}", f"Kustomization/{namespace}/"
              f"{d['metadata']['name']}") for d in kustomizations
             for dep in d["spec"].get("dependsOn") or []}
    assert (f"Kustomization/{namespace}/infrastructure", f"Kustomization/{namespace}/apps") \
        in edges
    _apply(flux_crds, namespace, *docs)
    ui = start_ui()
    page.goto(ui.url + "/#/graph")
    page.fill("#graph-filter", namespace)
    nodes = page.locator("#graph .node")
    # the Kustomizations and their GitRepository flux-system (not there: unknown)
    expect(nodes).to_have_count(len(kustomizations) + 1, timeout=WAIT_MS)
    expect(page.locator(f'#graph .node[data-id="GitRepository/{namespace}/flux-system"]')) \
        .to_have_class(re.compile(r"\bunknown\b"))
    deps = page.locator("#graph path.edge.dependsOn")
    expect(deps).to_have_count(len(edges))
    drawn = {(deps.nth(i).get_attribute("data-source"), deps.nth(i).get_attribute("data-target"))
             for i in range(len(edges))}
    assert drawn == edges
    expect(page.locator("#graph path.edge.source")).to_have_count(len(kustomizations))


def test_images_page_shows_latest_image_and_pushed_commit_live(
    start_ui: Callable[..., Any], page: Page, flux_crds: Cluster, namespace: str
) -> None:
    image = "ghcr.io/acme/web"
    _apply(flux_crds, namespace, _git("repo"), {
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageRepository",
        "metadata": {"name": "web"}, "spec": {"image": image, "interval": "5m"},
    }, {
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImagePolicy",
        "metadata": {"name": "web"},
        "spec": {"imageRepositoryRef": {"name": "web"}, "policy": {"semver": {"range": "1.x"}}},
    }, {
        "apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
        "metadata": {"name": "fleet"},
        "spec": {"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "repo"},
                 "git": {"commit": {"author": {"email": "bot@example.com"}}}},
    })
    _set_ready(flux_crds, namespace, "imagerepository", "web", True, "12 tags",
               canonicalImageName=image,
               lastScanResult={"tagCount": 12, "scanTime": NOW, "latestTags": ["1.2.0"]})
    _set_ready(flux_crds, namespace, "imagepolicy", "web", True, "latest 1.2.0",
               latestRef={"name": image, "tag": "1.2.0"})
    commit = "c0ffee0123456789abcdef0123456789abcdef01"
    _set_ready(flux_crds, namespace, "imageupdateautomation", "fleet", True, "pushed",
               lastPushCommit=commit, lastPushTime=NOW,
               observedPolicies={f"{namespace}/web": {"name": image, "tag": "1.2.0"}})
    ui = start_ui()
    page.goto(ui.url + "/#/images")
    policy = page.locator("#image-policies tr", has_text=f"{namespace}/web")
    expect(policy.locator("code.latest")).to_have_text(f"{image}:1.2.0", timeout=WAIT_MS)
    automation = page.locator("#image-automations tr", has_text=f"{namespace}/fleet")
    expect(automation.locator("code.commit")).to_have_text(commit[:12])
    expect(automation).to_contain_text(f"{namespace}/web: {image}:1.2.0")
    expect(page.locator("#image-repositories tr", has_text=f"{namespace}/web")).to_contain_text("12")

    page.evaluate("window.__sameDocument = true")
    _set_ready(flux_crds, namespace, "imagepolicy", "web", True, "latest 1.3.0",
               latestRef={"name": image, "tag": "1.3.0"},
               observedPreviousRef={"name": image, "tag": "1.2.0"})
    expect(policy.locator("code.latest")).to_have_text(f"{image}:1.3.0", timeout=WAIT_MS)

    # two pushes (Events as image-automation-controller records them), listed newest first
    expect(automation.locator("ol.pushes li")).to_have_count(0)
    involved = json.loads(flux_crds.kubectl("get", "imageupdateautomation", "fleet", "-n",
                                            namespace, "-o", "json").stdout)
    second = "beef0123456789abcdef0123456789abcdef0123"
    for sha, tag, ago in ((commit, "1.2.0", 120), (second, "1.3.0", 60)):
        _record_event(flux_crds, namespace, involved, "Succeeded",
                      f"pushed commit '{sha[:7]}' to branch 'main'\nbump web to {tag}\n\n- x",
                      {"revision": f"main@sha1:{sha}"}, component="image-automation-controller",
                      now=datetime.now(UTC) - timedelta(seconds=ago))
    _set_ready(flux_crds, namespace, "imageupdateautomation", "fleet", True, "pushed",
               lastPushCommit=second, lastPushTime=NOW,
               observedPolicies={f"{namespace}/web": {"name": image, "tag": "1.3.0"}})
    pushes = automation.locator("ol.pushes li")
    expect(pushes).to_have_count(2, timeout=WAIT_MS)
    expect(pushes.nth(0)).to_contain_text(f"{second[:7]} main")
    expect(pushes.nth(0).locator(".push-subject")).to_have_text("bump web to 1.3.0")
    expect(pushes.nth(1)).to_contain_text(f"{commit[:7]} main")
    expect(pushes.nth(1).locator(".push-subject")).to_have_text("bump web to 1.2.0")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"


def test_a_user_with_rights_in_one_namespace_sees_it_with_watch_namespace(
    start_ui: Callable[..., Any], browser: Any, fleet: str, flux_crds: Cluster
) -> None:
    user = f"ui-tenant-{uuid.uuid4().hex[:6]}"
    flux_crds.kubectl("create", "role", "reader", "-n", fleet, "--verb=get,list,watch",
                      "--resource=*.*")
    flux_crds.kubectl("create", "rolebinding", "reader", "-n", fleet, "--role=reader",
                      f"--user={user}")
    everywhere, mine = start_ui(user), start_ui(user, "--watch-namespace", fleet)
    page = browser.new_page()
    try:
        # across namespaces the user may list nothing: the API's refusal, per kind
        page.goto(everywhere.url + "/#/")
        expect(page.locator("#errors")).to_contain_text(
            f'User "{user}" cannot list resource "kustomizations"', timeout=WAIT_MS)
        expect(page.locator("tr.row")).to_have_count(0)
        # in its namespace it sees its objects, failing first
        page.goto(mine.url + "/#/")
        rows = page.locator("tr.row")
        expect(rows).to_have_count(3, timeout=WAIT_MS)
        expect(rows.first).to_have_attribute("data-key", f"Kustomization/{fleet}/b-broken")
        expect(page.locator("#errors")).to_be_empty()
    finally:
        page.close()
