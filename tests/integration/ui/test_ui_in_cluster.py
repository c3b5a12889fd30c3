"""`afflux ui --in-cluster` against the real API server: two ServiceAccounts (tokens from the
TokenRequest API), each with a Role in its own namespace, use one UI server with their own
bearer tokens. Each sees only its namespace's objects (the fleet API and the page in a real
Chromium), a reconcile in the other's namespace is refused with the API server's message,
a POST without the CSRF token or from another origin is refused, a request without
credentials gets 401, sessions are bounded, and no token reaches the server's log.
With `--auth=proxy` (the UI's own token may only impersonate, config/ui/proxy's ClusterRole),
only requests carrying the proxy's secret are believed, never for a system identity, and the
named user and groups are what the API server judges.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, expect

from afflux.cli import main
from afflux.cli._manifests import DEFAULT_REGISTRY, operator_image
from afflux.cli._version import version
from afflux.controllers.runtime._events import build_event
from harness.fixtures_cluster import REPO, Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration

WAIT_MS = 15_000
ARTIFACTS = Path(os.environ.get("AFFLUX_ARTIFACTS", REPO / ".local" / "artifacts")) / "ui"


@dataclass
class Tenant:
    namespace: str
    user: str
    token: str


def _fleet(cluster: Cluster, namespace: str) -> None:
    docs = [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
             "metadata": {"name": "repo"},
             "spec": {"url": "https://example.com/repo.git", "interval": "1m"}},
            {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
             "metadata": {"name": "app"},
             "spec": {"interval": "10m", "path": "./", "prune": True,
                      "sourceRef": {"kind": "GitRepository", "name": "repo"}}}]
    cluster.kubectl("apply", "-n", namespace, "-f", "-",
                    input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))


@pytest.fixture(scope="module")
def tenants(flux_crds: Cluster) -> Iterator[tuple[Tenant, Tenant]]:
    """Two namespaces, each with a GitRepository, a Kustomization and a ServiceAccount that
    may read and patch everything there (and nothing elsewhere)."""
    suffix = uuid.uuid4().hex[:6]
    made = []
    for who in ("alice", "bob"):
        ns = f"ui-{who}-{suffix}"
        flux_crds.kubectl("create", "namespace", ns)
        flux_crds.kubectl("create", "serviceaccount", who, "-n", ns)
        flux_crds.kubectl("create", "role", "tenant", "-n", ns, "--verb=get,list,watch,patch",
                          "--resource=*.*")
        flux_crds.kubectl("create", "rolebinding", "tenant", "-n", ns, "--role=tenant",
                          f"--serviceaccount={ns}:{who}")
        _fleet(flux_crds, ns)
        token = flux_crds.kubectl("create", "token", who, "-n", ns,
                                  "--duration=1h").stdout.strip()
        made.append(Tenant(ns, f"system:serviceaccount:{ns}:{who}", token))
    yield made[0], made[1]
    for t in made:
        flux_crds.kubectl("delete", "namespace", t.namespace, "--wait=false", check=False)


def _call(url: str, method: str = "GET", headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, Any], dict[str, str]]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"{}"), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}"), dict(err.headers)


def _bearer(t: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {t.token}"}


def _keys(fleet: dict[str, Any]) -> list[str]:
    return sorted(r["key"] for g in fleet["groups"] for r in g["rows"])


@pytest.fixture
def ui(start_ui: Callable[..., Any], tenants: tuple[Tenant, Tenant]) -> Any:
    return start_ui(None, "--in-cluster")


def test_no_credentials_get_401(ui: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        code, body, sent = _call(ui.url + "/api/fleet", headers=headers)
        assert code == 401, (headers, body)
        assert sent.get("WWW-Authenticate", "").startswith("Bearer")
    code, body, _ = _call(ui.url + "/api/fleet", headers={"Authorization": "Bearer nope"})
    assert "did not accept the bearer token" in body["error"]


def test_each_user_sees_only_its_namespace(
    ui: Any, tenants: tuple[Tenant, Tenant], flux_crds: Cluster
) -> None:
    alice, bob = tenants
    code, me, _ = _call(ui.url + "/api/session", headers=_bearer(alice))
    assert (code, me["user"]) == (200, alice.user)

    def fleet_of(t: Tenant, namespace: str) -> dict[str, Any]:
        code, body, _ = _call(f"{ui.url}/api/fleet?namespace={namespace}", headers=_bearer(t))
        assert code == 200, body
        return body

    def sees_own(t: Tenant) -> bool:
        assert _keys(fleet_of(t, t.namespace)) == [f"GitRepository/{t.namespace}/repo",
                                                   f"Kustomization/{t.namespace}/app"]
        return True

    for t in tenants:
        eventually(lambda t=t: sees_own(t), timeout=30, message=f"{t.user}'s objects")

    def refused(t: Tenant, namespace: str, what: str) -> bool:
        body = fleet_of(t, namespace)
        assert _keys(body) == []
        assert f'User "{t.user}" cannot list resource "kustomizations"' in \
            body["errors"]["Kustomization"], body["errors"]
        assert what in body["errors"]["Kustomization"]
        return True

    # another namespace, and all of them, are the API server's refusals, per kind
    eventually(lambda: refused(alice, bob.namespace, f'in the namespace "{bob.namespace}"'),
               timeout=30, message="alice refused in bob's namespace")
    eventually(lambda: refused(alice, "", "at the cluster scope"), timeout=30,
               message="alice refused across namespaces")
    # the object API too: the API server's message, as kubectl gets it for that user
    code, body, _ = _call(f"{ui.url}/api/object/Kustomization/{bob.namespace}/app",
                          headers=_bearer(alice))
    got = flux_crds.kubectl("get", "kustomization", "app", "-n", bob.namespace,
                            f"--as={alice.user}", check=False)
    assert (code, body["error"]) == (
        403, got.stderr.strip().removeprefix("Error from server (Forbidden): "))


def test_the_pushes_of_an_automation_are_read_as_the_user(
    ui: Any, tenants: tuple[Tenant, Tenant], flux_crds: Cluster
) -> None:
    alice, _ = tenants
    auto = {"apiVersion": "image.toolkit.fluxcd.io/v1", "kind": "ImageUpdateAutomation",
            "metadata": {"name": "bump", "namespace": alice.namespace},
            "spec": {"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "repo"},
                     "git": {"commit": {"author": {"email": "bot@example.com"}}}}}
    flux_crds.kubectl("apply", "-f", "-", input=json.dumps(auto))
    involved = json.loads(flux_crds.kubectl("get", "imageupdateautomation", "bump", "-n",
                                            alice.namespace, "-o", "json").stdout)
    sha = "0123456789abcdef0123456789abcdef01234567"
    event = build_event(involved, "Normal", "Succeeded",
                        f"pushed commit '{sha[:7]}' to branch 'main'\nbump web",
                        component="image-automation-controller", instance="test",
                        metadata={"revision": f"main@sha1:{sha}"}, now=datetime.now(UTC))
    flux_crds.kubectl("create", "-n", alice.namespace, "-f", "-", input=json.dumps(event))
    # a user who may read the automation but not the Events: the API server's refusal
    carol = f"system:serviceaccount:{alice.namespace}:carol"
    flux_crds.kubectl("create", "serviceaccount", "carol", "-n", alice.namespace)
    flux_crds.kubectl("create", "role", "images-only", "-n", alice.namespace,
                      "--verb=get,list,watch",
                      "--resource=imageupdateautomations.image.toolkit.fluxcd.io")
    flux_crds.kubectl("create", "rolebinding", "images-only", "-n", alice.namespace,
                      "--role=images-only", f"--serviceaccount={alice.namespace}:carol")
    token = flux_crds.kubectl("create", "token", "carol", "-n", alice.namespace,
                              "--duration=1h").stdout.strip()

    def automation_of(headers: dict[str, str]) -> dict[str, Any]:
        code, body, _ = _call(f"{ui.url}/api/images?namespace={alice.namespace}",
                              headers=headers)
        assert code == 200, body
        return next(r for r in body["automations"] if r["name"] == "bump")

    def alice_sees_it() -> bool:
        row = automation_of(_bearer(alice))
        assert row["pushes"] == [{"commit": sha, "branch": "main", "subject": "bump web",
                                  "time": event["lastTimestamp"]}]
        return True

    def carol_refused() -> bool:
        row = automation_of({"Authorization": f"Bearer {token}"})
        assert row["pushes"] == []
        assert f'User "{carol}" cannot list resource "events"' in row["pushesError"]
        return True

    try:
        eventually(alice_sees_it, timeout=30, message="alice to see the push")
        eventually(carol_refused, timeout=30, message="carol refused the events")
    finally:  # the other tests of this module count alice's objects
        flux_crds.kubectl("delete", "imageupdateautomation", "bump", "-n", alice.namespace,
                          check=False)


def test_the_next_reconcile_is_computed_as_the_user(
    ui: Any, tenants: tuple[Tenant, Tenant], flux_crds: Cluster
) -> None:
    alice, bob = tenants
    # bob's Kustomization: the API server's refusal of alice's read, word for word
    code, body, _ = _call(f"{ui.url}/api/next/Kustomization/{bob.namespace}/app",
                          headers=_bearer(alice))
    got = flux_crds.kubectl("get", "kustomization", "app", "-n", bob.namespace,
                            f"--as={alice.user}", check=False)
    assert (code, body["error"]) == (
        403, got.stderr.strip().removeprefix("Error from server (Forbidden): "))
    # her own: read as her, up to the source that has no artifact yet
    code, body, _ = _call(f"{ui.url}/api/next/Kustomization/{alice.namespace}/app",
                          headers=_bearer(alice))
    assert (code, body["error"]) == (
        409, f"GitRepository {alice.namespace}/repo has no artifact yet")
    assert _call(f"{ui.url}/api/next/Kustomization/{alice.namespace}/app")[0] == 401


def _post_headers(ui: Any, t: Tenant) -> dict[str, str]:
    _, session, _ = _call(ui.url + "/api/session", headers=_bearer(t))
    return {**_bearer(t), "Origin": ui.url, "X-CSRF-Token": session["csrf"]}


def _requested_at(cluster: Cluster, namespace: str) -> str:
    return cluster.kubectl("get", "kustomization", "app", "-n", namespace, "-o",
                           "jsonpath={.metadata.annotations.reconcile\\.fluxcd\\.io/"
                           "requestedAt}").stdout


def test_a_reconcile_in_another_namespace_is_refused_with_the_api_message(
    ui: Any, tenants: tuple[Tenant, Tenant], flux_crds: Cluster
) -> None:
    alice, bob = tenants
    headers = _post_headers(ui, alice)
    code, body, _ = _call(f"{ui.url}/api/reconcile/Kustomization/{bob.namespace}/app",
                          "POST", headers)
    got = flux_crds.kubectl("get", "kustomization", "app", "-n", bob.namespace,
                            f"--as={alice.user}", check=False)
    assert (code, body["error"]) == (
        403, got.stderr.strip().removeprefix("Error from server (Forbidden): "))
    assert _requested_at(flux_crds, bob.namespace) == ""
    # in her own namespace it is done, as her
    code, body, _ = _call(f"{ui.url}/api/reconcile/Kustomization/{alice.namespace}/app",
                          "POST", headers)
    assert (code, body["message"]) == (
        200, f"reconciliation requested: Kustomization {alice.namespace}/app")
    assert _requested_at(flux_crds, alice.namespace) != ""


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param({"X-CSRF-Token": None}, "missing or stale CSRF token", id="no-csrf-token"),
        pytest.param({"X-CSRF-Token": "0" * 64}, "missing or stale CSRF token",
                     id="other-csrf-token"),
        pytest.param({"Origin": "https://evil.example"}, "cross-origin request",
                     id="other-origin"),
        pytest.param({"Origin": None}, "must carry an Origin header", id="no-origin"),
    ],
)
def test_an_action_without_the_page_s_token_is_refused(
    ui: Any, tenants: tuple[Tenant, Tenant], flux_crds: Cluster,
    change: dict[str, str | None], error: str,
) -> None:
    alice, _ = tenants
    headers = _post_headers(ui, alice)
    for key, value in change.items():
        if value is None:
            headers.pop(key)
        else:
            headers[key] = value
    code, body, _ = _call(f"{ui.url}/api/suspend/Kustomization/{alice.namespace}/app",
                          "POST", headers)
    assert (code, error in body["error"]) == (403, True), body
    suspended = flux_crds.kubectl("get", "kustomization", "app", "-n", alice.namespace, "-o",
                                  "jsonpath={.spec.suspend}").stdout
    assert suspended == ""


def test_sessions_are_bounded_and_no_token_is_logged(
    start_ui: Callable[..., Any], tenants: tuple[Tenant, Tenant]
) -> None:
    alice, bob = tenants
    ui = start_ui(None, "--in-cluster", "--max-sessions", "1")
    assert _call(ui.url + "/api/session", headers=_bearer(alice))[0] == 200
    # alice has no open page: bob's session takes her place
    assert _call(ui.url + "/api/session", headers=_bearer(bob))[0] == 200
    # bob opens the page's event stream; now alice must wait
    stream = urllib.request.urlopen(urllib.request.Request(
        f"{ui.url}/api/stream?namespace={bob.namespace}", headers=_bearer(bob)), timeout=20)
    try:
        assert stream.readline().startswith(b"event: snapshot")
        code, body, _ = _call(ui.url + "/api/session", headers=_bearer(alice))
        assert (code, "too many users at once" in body["error"]) == (503, True)
    finally:
        threading.Thread(target=stream.close, daemon=True).start()
    log = ui.log.read_text()
    assert f"session opened for {bob.user}" in log
    assert alice.token not in log and bob.token not in log


def test_an_idle_session_ends(
    start_ui: Callable[..., Any], tenants: tuple[Tenant, Tenant]
) -> None:
    alice, _ = tenants
    ui = start_ui(None, "--in-cluster", "--session-idle", "2s")
    code, body, _ = _call(f"{ui.url}/api/fleet?namespace={alice.namespace}",
                          headers=_bearer(alice))
    assert code == 200, body
    eventually(lambda: f"session of {alice.user} ended" in ui.log.read_text(), timeout=30,
               message="the idle session to end")
    # the next request opens a new one
    assert _call(ui.url + "/api/session", headers=_bearer(alice))[0] == 200
    assert ui.log.read_text().count(f"session opened for {alice.user}") == 2


def test_the_page_in_a_browser_with_the_user_s_token(
    ui: Any, tenants: tuple[Tenant, Tenant], browser: Browser, flux_crds: Cluster
) -> None:
    alice, _ = tenants
    # the authenticating proxy's part: every request carries the user's token
    context = browser.new_context(extra_http_headers=_bearer(alice))
    page = context.new_page()
    try:
        page.goto(f"{ui.url}/?namespace={alice.namespace}#/")
        expect(page.locator("#conn")).to_have_text("live", timeout=WAIT_MS)
        expect(page.locator("#user")).to_have_text(alice.user)
        rows = page.locator("tr.row")
        expect(rows).to_have_count(2, timeout=WAIT_MS)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "in-cluster-fleet.png"), full_page=True)
        assert sorted(rows.nth(i).get_attribute("data-key") or "" for i in range(2)) == [
            f"GitRepository/{alice.namespace}/repo", f"Kustomization/{alice.namespace}/app"]
        page.locator(f'tr.row[data-key="Kustomization/{alice.namespace}/app"] a').click()
        page.click("#act-suspend")  # the page's own POST: same origin, its CSRF token
        expect(page.locator("#toast")).to_contain_text("suspended", timeout=WAIT_MS)
        expect(page.locator("#act-resume")).to_be_visible(timeout=WAIT_MS)
        page.click("#act-resume")
        expect(page.locator("#act-suspend")).to_be_visible(timeout=WAIT_MS)
    finally:
        context.close()


@pytest.mark.parametrize(
    ("command", "ui"),
    [
        pytest.param(["install", "--export"], False, id="install"),
        pytest.param(["install", "--export", "--with-ui"], True, id="install-with-ui"),
    ],
)
def test_install_with_ui_exports_the_ui_and_the_api_server_accepts_it(
    flux_crds: Cluster, namespace: str, capsys: pytest.CaptureFixture[str],
    command: list[str], ui: bool,
) -> None:
    capsys.readouterr()
    assert main(["--kubeconfig", str(flux_crds.kubeconfig), *command, "-n", namespace]) == 0
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    mine = [d for d in docs if (d["metadata"].get("labels") or {}).get(
        "app.kubernetes.io/component") == "afflux-ui"]
    if not ui:
        assert mine == []
        return
    assert sorted(f"{d['kind']}/{d['metadata']['namespace']}/{d['metadata']['name']}"
                  for d in mine) == [f"Deployment/{namespace}/afflux-ui",
                                     f"Service/{namespace}/afflux-ui",
                                     f"ServiceAccount/{namespace}/afflux-ui"]
    [deployment] = [d for d in mine if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == operator_image(DEFAULT_REGISTRY, version())
    done = flux_crds.kubectl("apply", "--server-side", "--dry-run=server",
                             "--field-manager=afflux", "-f", "-",
                             input=yaml.safe_dump_all(mine), check=False)
    assert done.returncode == 0, done.stderr


# --- --auth=proxy: behind a proxy that names the user, impersonating it ---------------------

PROXY_SECRET = "s3cret-" + uuid.uuid4().hex
PEOPLE = "alice@example.com"


@pytest.fixture(scope="module")
def proxy_kubeconfig(flux_crds: Cluster, tenants: tuple[Tenant, Tenant],
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The UI's own identity: a ServiceAccount bound to config/ui/proxy's ClusterRole (it may
    impersonate, nothing else), as a kubeconfig with its token only. And the people: alice
    may use her tenant Role in the first namespace, the group team-two in the second."""
    ns = f"ui-proxy-{uuid.uuid4().hex[:6]}"
    flux_crds.kubectl("create", "namespace", ns)
    flux_crds.kubectl("create", "serviceaccount", "afflux-ui", "-n", ns)
    rbac = [d for d in yaml.safe_load_all((REPO / "config" / "ui" / "proxy" / "rbac.yaml")
                                          .read_text()) if d]
    for doc in rbac:
        doc["metadata"]["name"] += f"-{ns}"
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] += f"-{ns}"
            doc["subjects"][0]["namespace"] = ns
    flux_crds.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(rbac))
    one, two = tenants
    flux_crds.kubectl("create", "rolebinding", "people", "-n", one.namespace, "--role=tenant",
                      f"--user={PEOPLE}")
    flux_crds.kubectl("create", "rolebinding", "people", "-n", two.namespace, "--role=tenant",
                      "--group=team-two")
    token = flux_crds.kubectl("create", "token", "afflux-ui", "-n", ns,
                              "--duration=1h").stdout.strip()
    from afflux.cli._main import parse_args
    from afflux.cli.ui import cluster_entry

    cluster = cluster_entry(parse_args(["--kubeconfig", str(flux_crds.kubeconfig), "ui"]))
    path = tmp_path_factory.mktemp("ui-proxy") / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "ui",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "ui", "user": {"token": token}}],
        "contexts": [{"name": "ui", "context": {"cluster": "c", "user": "ui"}}]}))
    yield path
    for doc in rbac:
        flux_crds.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"],
                          "--wait=false", check=False)
    flux_crds.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def proxy_ui(start_ui: Callable[..., Any], proxy_kubeconfig: Path, tmp_path: Path) -> Any:
    secret = tmp_path / "proxy-secret"
    secret.write_text(PROXY_SECRET + "\n")
    return start_ui(None, "--kubeconfig", str(proxy_kubeconfig), "--in-cluster",
                    "--auth=proxy", "--proxy-secret-file", str(secret))


def _proxied(user: str = PEOPLE, groups: str = "") -> dict[str, str]:
    headers = {"X-Afflux-Proxy-Secret": PROXY_SECRET, "X-Forwarded-User": user}
    if groups:
        headers["X-Forwarded-Groups"] = groups
    return headers


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        pytest.param({"X-Forwarded-User": PEOPLE}, 401, "no or wrong X-Afflux-Proxy-Secret",
                     id="not-through-the-proxy"),
        pytest.param({"X-Forwarded-User": PEOPLE, "X-Afflux-Proxy-Secret": "guess"}, 401,
                     "no or wrong X-Afflux-Proxy-Secret", id="wrong-secret"),
        pytest.param({"X-Afflux-Proxy-Secret": PROXY_SECRET}, 401, "named no user",
                     id="no-user"),
        pytest.param(_proxied("system:admin"), 403, "Kubernetes system identity",
                     id="system-user"),
        pytest.param(_proxied(PEOPLE, "team-two,system:masters"), 403,
                     "Kubernetes system identity", id="system-group"),
    ],
)
def test_proxy_mode_believes_only_its_proxy(
    proxy_ui: Any, headers: dict[str, str], status: int, error: str
) -> None:
    code, body, _ = _call(proxy_ui.url + "/api/fleet", headers=headers)
    assert (code, error in body.get("error", "")) == (status, True), body


def test_proxy_mode_acts_as_the_named_user_and_groups(
    proxy_ui: Any, tenants: tuple[Tenant, Tenant], flux_crds: Cluster
) -> None:
    one, two = tenants
    code, me, _ = _call(proxy_ui.url + "/api/session", headers=_proxied(PEOPLE, "team-two"))
    assert (code, me["user"], "team-two" in me["groups"]) == (200, PEOPLE, True)

    def sees(headers: dict[str, str], t: Tenant) -> bool:
        code, body, _ = _call(f"{proxy_ui.url}/api/fleet?namespace={t.namespace}",
                              headers=headers)
        assert code == 200, body
        assert _keys(body) == [f"GitRepository/{t.namespace}/repo",
                               f"Kustomization/{t.namespace}/app"], body
        return True

    eventually(lambda: sees(_proxied(), one), timeout=30, message="alice's namespace")
    # the second namespace only with the group that has a Role there
    eventually(lambda: sees(_proxied(PEOPLE, "team-two"), two), timeout=30,
               message="team-two's namespace")
    code, body, _ = _call(f"{proxy_ui.url}/api/object/Kustomization/{two.namespace}/app",
                          headers=_proxied())
    got = flux_crds.kubectl("get", "kustomization", "app", "-n", two.namespace,
                            f"--as={PEOPLE}", check=False)
    assert (code, body["error"]) == (
        403, got.stderr.strip().removeprefix("Error from server (Forbidden): "))
    # actions: same origin and the session's CSRF token, as the user
    headers = {**_proxied(), "Origin": proxy_ui.url, "X-CSRF-Token": me["csrf"]}
    code, body, _ = _call(f"{proxy_ui.url}/api/reconcile/Kustomization/{one.namespace}/app",
                          "POST", headers)
    assert (code, "missing or stale CSRF token" in body["error"]) == (403, True), \
        "the session of alice with team-two is not alice's alone"
    _, mine, _ = _call(proxy_ui.url + "/api/session", headers=_proxied())
    headers["X-CSRF-Token"] = mine["csrf"]
    code, body, _ = _call(f"{proxy_ui.url}/api/reconcile/Kustomization/{one.namespace}/app",
                          "POST", headers)
    assert code == 200, body
    assert _requested_at(flux_crds, one.namespace) != ""


def test_config_ui_proxy_builds_and_the_api_server_accepts_it(
    flux_crds: Cluster, namespace: str
) -> None:
    built = flux_crds.kubectl("kustomize", str(REPO / "config" / "ui" / "proxy")).stdout
    docs = [d for d in yaml.safe_load_all(built) if d]
    assert sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs) == [
        "ClusterRole/afflux-ui-impersonate", "ClusterRoleBinding/afflux-ui-impersonate",
        "Deployment/afflux-ui", "Service/afflux-ui", "ServiceAccount/afflux-ui"]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    args = pod["containers"][0]["args"]
    assert "--auth=proxy" in args and "--auth=token" not in args
    assert "--proxy-secret-file=/etc/afflux-ui/proxy/secret" in args
    for doc in docs:  # into the test's namespace; the cluster-wide ones as they are
        if "namespace" in doc["metadata"]:
            doc["metadata"]["namespace"] = namespace
    done = flux_crds.kubectl("apply", "--server-side", "--dry-run=server",
                             "--field-manager=afflux", "-f", "-",
                             input=yaml.safe_dump_all(docs), check=False)
    assert done.returncode == 0, done.stderr
