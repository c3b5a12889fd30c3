"""Kustomization end to end, how and where it applies: dependsOn, health checks, a CRD with
its custom resources, impersonation refused (then allowed) by RBAC, a remote cluster through
a kubeconfig Secret (and a kubeConfig ConfigMap that needs the feature gate this controller
lacks), cross-namespace references refused by flag, the per-object annotations,
and deletion with its policies.

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment).
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from afflux.cli.devenv import LocalCluster
from harness.crd import custom_resource_definition
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import (
    KS,
    TIMEOUT,
    Env,
    configmap,
    deployment,
    dump,
    replicas,
    self_contained_kubeconfig,
)
from harness.wait import eventually

pytestmark = pytest.mark.integration


# --- ordering and health -----------------------------------------------------------------------


@pytest.mark.flux_fields("Kustomization", "spec.dependsOn[].name")
def test_depends_on_waits_until_the_dependency_is_ready(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"base/cm.yaml": dump(configmap("dep-base", namespace=ns)),
                          "app/cm.yaml": dump(configmap("dep-app", namespace=ns))})
    source = env.source(repo)
    app = env.kustomization("dep-app", source, path="./app", dependsOn=[{"name": "dep-base"}])
    ready = env.wait_failed(app, "DependencyNotReady")
    assert f"'{ns}/dep-base'" in ready["message"]
    assert not env.exists("configmap", "dep-app")
    reconciling = env.condition(env.status(app), "Reconciling")
    assert reconciling is not None and reconciling["reason"] == "ProgressingWithRetry"

    env.kustomization("dep-base", source, path="./base")
    env.wait_applied("dep-base", sha)
    env.wait_applied(app, sha)
    assert env.exists("configmap", "dep-app")


#: ready once the dependency carries the label stage=done (and sits in this namespace)
STAGE_DONE = ("has(dep.metadata.labels) && 'stage' in dep.metadata.labels && "
              "dep.metadata.labels['stage'] == 'done' && "
              "self.metadata.namespace == dep.metadata.namespace")


@pytest.mark.flux_fields("Kustomization", "spec.dependsOn[].readyExpr")
def test_ready_expr_replaces_the_readiness_check(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"app/cm.yaml": dump(configmap("expr-app", namespace=ns))})
    source = env.source(repo)
    # the dependency never becomes Ready (its source does not exist): only the expression
    # decides
    env.kustomization("expr-base", "no-such-source", path="./base")
    env.wait_failed("expr-base", "ArtifactFailed")
    app = env.kustomization("expr-app", source, path="./app",
                            dependsOn=[{"name": "expr-base", "readyExpr": STAGE_DONE}])
    ready = env.wait_failed(app, "DependencyNotReady")
    assert ready["message"].startswith(
        f"dependency '{ns}/expr-base' is not ready according to its readyExpr"), ready
    assert not env.exists("configmap", "expr-app")

    env.kubectl("label", KS, "expr-base", "stage=done")
    env.wait_applied(app, sha)
    assert env.exists("configmap", "expr-app")


@pytest.mark.flux_fields("Kustomization", "spec.dependsOn[].readyExpr")
def test_ready_expr_that_does_not_compile_stalls(env: Env) -> None:
    repo, _ = env.repo({"app/cm.yaml": dump(configmap("expr-bad", namespace=env.namespace))})
    app = env.kustomization("expr-bad", env.source(repo), path="./app",
                            dependsOn=[{"name": "expr-base", "readyExpr": "dep.metadata.("}])
    ready = env.wait_failed(app, "InvalidCELExpression")
    assert "spec.dependsOn[0].readyExpr: invalid CEL expression" in ready["message"]
    stalled = env.condition(env.status(app), "Stalled")
    assert stalled is not None and stalled["status"] == "True", stalled


@pytest.mark.flux_fields("Kustomization", "spec.healthChecks[].apiVersion",
                         "spec.healthChecks[].kind", "spec.healthChecks[].name", "spec.timeout",
                         "status.conditions[].type", "status.conditions[].status",
                         "status.conditions[].reason", "status.conditions[].message",
                         "status.lastAttemptedRevision", "status.history[].lastReconciledStatus")
def test_failing_health_check_is_reported_within_the_timeout(env: Env) -> None:
    ns = env.namespace
    stuck = deployment("stuck", namespace=ns, nodeSelector={"afflux.dev/no-such-node": "x"})
    repo, sha = env.repo({"app.yaml": dump(stuck, deployment("fine", namespace=ns))})
    ks = env.kustomization("health", env.source(repo), timeout="30s", retryInterval="1m",
                           healthChecks=[{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": "stuck"},
                                         {"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": "fine"}])
    ready = env.wait_failed(ks, "HealthCheckFailed", timeout=TIMEOUT + 30)
    assert f"Deployment/{ns}/stuck status: 'InProgress'" in ready["message"]
    assert f"Deployment/{ns}/fine" not in ready["message"]
    status = env.status(ks)
    healthy = env.condition(status, "Healthy")
    assert healthy is not None and healthy["status"] == "False"
    assert healthy["reason"] == "HealthCheckFailed"
    assert status["lastAttemptedRevision"] == f"main@sha1:{sha}"
    assert "lastAppliedRevision" not in status
    assert status["history"][0]["lastReconciledStatus"] == "HealthCheckFailed"
    # what was applied stays tracked although the run failed
    assert {e["id"] for e in status["inventory"]["entries"]} == {
        f"{ns}_stuck_apps_Deployment", f"{ns}_fine_apps_Deployment"}


@pytest.mark.flux_fields("Kustomization", "spec.wait")
def test_wait_checks_everything_applied(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"app.yaml": dump(deployment("waited", namespace=ns),
                                           configmap("waited", namespace=ns))})
    ks = env.kustomization("wait", env.source(repo), wait=True)
    status = env.wait_applied(ks, sha)
    healthy = env.condition(status, "Healthy")
    assert healthy is not None and healthy["status"] == "True"
    assert healthy["message"].startswith("Health check passed in ")
    body = env.get("deployment", "waited")
    assert body is not None and body["status"].get("availableReplicas") == 1


def test_crd_and_custom_resources_in_one_kustomization(env: Env) -> None:
    group = f"ks{uuid.uuid4().hex[:8]}.test.afflux.dev"
    crd = custom_resource_definition(group, "Gizmo")
    gizmo = {"apiVersion": f"{group}/v1", "kind": "Gizmo",
             "metadata": {"name": "g1", "namespace": env.namespace}, "spec": {"size": 2}}
    repo, sha = env.repo({"crd.yaml": dump(crd), "gizmo.yaml": dump(gizmo)})
    try:
        ks = env.kustomization("crds", env.source(repo))
        status = env.wait_applied(ks, sha)
        assert [e["id"] for e in status["inventory"]["entries"]] == [
            f"_gizmos.{group}_apiextensions.k8s.io_CustomResourceDefinition",
            f"{env.namespace}_g1_{group}_Gizmo"]
        assert env.get(f"gizmos.{group}", "g1") is not None
        progressing = [e["message"] for e in env.events(ks) if e["reason"] == "Progressing"]
        assert (f"CustomResourceDefinition/gizmos.{group} created\n"
                f"Gizmo/{env.namespace}/g1 created") in progressing
    finally:
        env.cluster.kubectl("delete", "crd", f"gizmos.{group}", "--wait=false", check=False)


@pytest.mark.flux_fields("Kustomization", "spec.healthCheckExprs[].failed",
                         "spec.healthCheckExprs[].apiVersion",
                         "spec.healthCheckExprs[].kind", "spec.healthCheckExprs[].current",
                         "spec.healthCheckExprs[].inProgress")
def test_health_check_exprs_decide_a_custom_resource_health(env: Env) -> None:
    """wait: true with healthCheckExprs for a custom kind: the health check fails while the
    CEL `current` expression is not true of an object, while `inProgress` is true (it wins
    over a true `current`), and when `failed` is true, and passes once `current` alone is
    true of every object (their status set by hand here, as their operator would); an
    expression that does not compile stalls the Kustomization.

    The three failing cases are three Widgets of one Kustomization: the `failed` one fails
    the check at once (fail-fast, as Flux's kustomize-controller), then, once it is
    repaired, one health-check timeout (at least 30s, as in Flux) names the other two."""
    group = f"cel{uuid.uuid4().hex[:8]}.test.afflux.dev"
    crd = custom_resource_definition(group, "Widget", status_subresource=True)
    widgets = [{"apiVersion": f"{group}/v1", "kind": "Widget",
                "metadata": {"name": name, "namespace": env.namespace}, "spec": {"size": 1}}
               for name in ("pending", "migrating", "broken")]
    exprs = [{"apiVersion": f"{group}/v1", "kind": "Widget",
              "failed": "has(status.phase) && status.phase == 'Broken'",
              "current": "has(status.phase) && status.phase == 'Ready'",
              "inProgress": "has(status.migrating) && status.migrating"}]
    repo, sha = env.repo({"crd.yaml": dump(crd), "widgets.yaml": dump(*widgets)})

    def set_status(name: str, status: dict[str, Any]) -> None:
        env.kubectl("patch", f"widgets.{group}", name, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": status}))

    try:
        ks = env.kustomization("cel", env.source(repo), wait=True, timeout="30s",
                               retryInterval="2s", healthCheckExprs=exprs)
        eventually(lambda: all(env.exists(f"widgets.{group}", w["metadata"]["name"])
                               for w in widgets), TIMEOUT, message="the Widgets applied")
        # `pending` keeps no status: kstatus alone would call a Widget without conditions
        # Current at once; `migrating`: `inProgress` and `current` both true;
        # `broken`: `failed` true
        set_status("migrating", {"phase": "Ready", "migrating": True})
        set_status("broken", {"phase": "Broken"})
        def failed(*expected: str, absent: str = "") -> dict[str, Any]:
            ready = env.condition(env.status(ks), "Ready")
            assert ready is not None and ready["reason"] == "HealthCheckFailed", ready
            assert all(part in ready["message"] for part in expected), ready
            assert not absent or absent not in ready["message"], ready
            return ready

        # a run that began before the status patches may fail on older statuses first;
        # the retry (2s later) sees these. `broken` fails the check without waiting out
        # the timeout, naming only itself
        early = eventually(
            lambda: failed("failed early", f"Widget/{env.namespace}/broken status: 'Failed'",
                           "healthCheckExprs: the failed expression is true"),
            TIMEOUT + 45, message="HealthCheckFailed at once on the failed Widget")
        assert "pending" not in early["message"], early
        set_status("broken", {"phase": "Ready", "migrating": False})
        eventually(lambda: failed(f"Widget/{env.namespace}/pending status: 'InProgress'",
                                  f"Widget/{env.namespace}/migrating status: 'InProgress'",
                                  "healthCheckExprs:", absent="/broken "),
                   TIMEOUT + 45, message="HealthCheckFailed naming the two in progress")
        for name in ("pending", "migrating"):
            set_status(name, {"phase": "Ready", "migrating": False})
        status = env.wait_applied(ks, sha, timeout=TIMEOUT + 45)
        healthy = env.condition(status, "Healthy")
        assert healthy is not None and healthy["status"] == "True", healthy

        bad = [{**exprs[0], "current": "status.phase =="}]
        env.kubectl("patch", KS, ks, "--type=merge",
                    "-p", json.dumps({"spec": {"healthCheckExprs": bad}}))

        def stalled() -> dict[str, Any]:
            st = env.status(ks)
            stall = env.condition(st, "Stalled")
            assert stall is not None and stall["status"] == "True", st
            assert stall["reason"] == "InvalidCELExpression", stall
            return stall

        stall = eventually(stalled, TIMEOUT, message="Stalled with InvalidCELExpression")
        assert "spec.healthCheckExprs[0]" in stall["message"]
        assert "status.phase ==" in stall["message"]
    finally:
        env.cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


@pytest.mark.flux_fields("Kustomization", "spec.healthCheckExprs[].apiVersion",
                         "spec.healthCheckExprs[].failed", "spec.healthCheckExprs[].current")
def test_health_check_exprs_match_the_group_and_read_optional_fields(env: Env) -> None:
    """An entry written for `v2` of the Widgets' group (a version the CRD does not serve)
    judges the Widget served as `v1`, as Flux matches entries by group and kind; its
    expressions read the conditions with cel-go's optional syntax (`.?`, `orValue`).
    A Ready=False condition (which kstatus alone calls in progress) makes `failed` true and
    fails the check at once; Ready=True makes `current` true and the check passes."""
    group = f"opt{uuid.uuid4().hex[:8]}.test.afflux.dev"
    crd = custom_resource_definition(group, "Widget", status_subresource=True)
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget",
              "metadata": {"name": "w1", "namespace": env.namespace}, "spec": {"size": 1}}
    ready_is = "status.?conditions.orValue([]).exists(c, c.type == 'Ready' && c.status == '{}')"
    exprs = [{"apiVersion": f"{group}/v2", "kind": "Widget",
              "failed": ready_is.format("False"), "current": ready_is.format("True")}]
    repo, sha = env.repo({"crd.yaml": dump(crd), "widget.yaml": dump(widget)})

    def set_ready(status: str) -> None:
        condition = {"type": "Ready", "status": status, "reason": "Set",
                     "message": f"set {status} by the test"}
        env.kubectl("patch", f"widgets.{group}", "w1", "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": {"conditions": [condition]}}))

    try:
        ks = env.kustomization("optional", env.source(repo), wait=True, timeout="30s",
                               retryInterval="2s", healthCheckExprs=exprs)
        eventually(lambda: env.exists(f"widgets.{group}", "w1"), TIMEOUT,
                   message="the Widget applied")
        set_ready("False")

        def failed() -> dict[str, Any]:
            ready = env.condition(env.status(ks), "Ready")
            assert ready is not None and ready["reason"] == "HealthCheckFailed", ready
            assert f"Widget/{env.namespace}/w1 status: 'Failed'" in ready["message"], ready
            assert "healthCheckExprs: the failed expression is true" in ready["message"]
            return ready

        eventually(failed, TIMEOUT + 45, message="HealthCheckFailed by the v2 entry")
        set_ready("True")
        status = env.wait_applied(ks, sha, timeout=TIMEOUT + 45)
        healthy = env.condition(status, "Healthy")
        assert healthy is not None and healthy["status"] == "True", healthy
    finally:
        env.cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


@pytest.mark.flux_fields("Kustomization", "spec.healthCheckExprs[].inProgress")
def test_health_check_exprs_use_the_extensions_of_fluxs_cel_environment(env: Env) -> None:
    """`healthCheckExprs` with the cel-go extensions Flux's environment has (`sets.*`,
    `base64.decode`, `<string>.format`, optional list entries), judging a ConfigMap the
    Kustomization applies: `failed` while its zones intersect the quarantined ones (the
    check fails at once), `current` once it lists both zones and its token decodes to
    `ready`."""
    zones = "data.zones.split(',')"
    exprs = [{"apiVersion": "v1", "kind": "ConfigMap",
              "failed": f"sets.intersects({zones}, ['quarantined'])",
              "inProgress": "size([?data.?pending]) > 0",
              "current": f"sets.equivalent({zones}, ['b', 'a']) && "
                         "base64.decode(data.token) == b'ready' && "
                         "'%s/%d'.format([data.zones, size(data)]) == 'a,b/2'"}]

    def config(zone_list: str, token: str) -> dict[str, str]:
        data = {"zones": zone_list, "token": base64.b64encode(token.encode()).decode()}
        return {"cfg.yaml": dump(configmap("cel-ext", data, namespace=env.namespace))}

    repo, _ = env.repo(config("a,quarantined", "ready"))
    source = env.source(repo)
    ks = env.kustomization("celext", source, wait=True, timeout="10m", retryInterval="2s",
                           healthCheckExprs=exprs)
    failed = env.wait_failed(ks, "HealthCheckFailed", timeout=TIMEOUT + 45)
    assert (f"ConfigMap/{env.namespace}/cel-ext status: 'Failed': healthCheckExprs: the "
            "failed expression is true") in failed["message"], failed
    sha = env.push(repo, source, config("a,b", "ready"))
    status = env.wait_applied(ks, sha, timeout=TIMEOUT + 45)
    healthy = env.condition(status, "Healthy")
    assert healthy is not None and healthy["status"] == "True", healthy


# --- who applies where -------------------------------------------------------------------------


@pytest.mark.flux_fields("Kustomization", "spec.serviceAccountName")
def test_impersonation_denied_by_rbac_is_reported_then_allowed(env: Env) -> None:
    ns = env.namespace
    env.kubectl("create", "serviceaccount", "limited")
    repo, sha = env.repo({"cm.yaml": dump(configmap("as-sa", namespace=ns))})
    ks = env.kustomization("impersonate", env.source(repo), serviceAccountName="limited")
    ready = env.wait_failed(ks, "ReconciliationFailed")
    assert f"ConfigMap/{ns}/as-sa" in ready["message"]
    assert "forbidden" in ready["message"]
    assert f"system:serviceaccount:{ns}:limited" in ready["message"]
    assert not env.exists("configmap", "as-sa")

    env.kubectl("create", "role", "limited-cm", "--verb=get,list,watch,create,patch,delete",
                "--resource=configmaps")
    env.kubectl("create", "rolebinding", "limited-cm", "--role=limited-cm",
                f"--serviceaccount={ns}:limited")
    env.kubectl("annotate", "--overwrite", KS, ks,
                f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")
    env.wait_applied(ks, sha)
    cm = json.loads(env.kubectl("get", "configmap", "as-sa", "-o", "json",
                                "--show-managed-fields").stdout)
    managers = {m["manager"] for m in cm["metadata"]["managedFields"]}
    assert managers == {"kustomize-controller"}


def test_prune_refused_by_rbac_keeps_the_object_in_the_inventory(env: Env) -> None:
    # The account may apply ConfigMaps and Secrets but not delete ConfigMaps: the prune
    # fails, and the object stays in the inventory (Flux would forget it) until it can go.
    ns = env.namespace
    env.kubectl("create", "serviceaccount", "no-delete")
    env.kubectl("create", "role", "no-delete", "--verb=get,list,watch,create,patch",
                "--resource=configmaps,secrets")
    env.kubectl("create", "rolebinding", "no-delete", "--role=no-delete",
                f"--serviceaccount={ns}:no-delete")
    repo, sha = env.repo({"a.yaml": dump(configmap("keep-a", namespace=ns)),
                          "b.yaml": dump(configmap("gone-b", namespace=ns))})
    source = env.source(repo)
    ks = env.kustomization("no-delete", source, serviceAccountName="no-delete")
    env.wait_applied(ks, sha)
    cm_b = f"{ns}_gone-b__ConfigMap"

    env.push(repo, source, {"b.yaml": None})
    ready = env.wait_failed(ks, "PruneFailed")
    assert f"ConfigMap/{ns}/gone-b" in ready["message"] and "forbidden" in ready["message"]
    assert "stay in the inventory" in ready["message"]
    ids = [e["id"] for e in env.status(ks)["inventory"]["entries"]]
    assert cm_b in ids and f"{ns}_keep-a__ConfigMap" in ids
    assert env.exists("configmap", "gone-b")

    # Allowed to delete now: the next run prunes it and only then drops it.
    env.kubectl("create", "role", "may-delete", "--verb=delete", "--resource=configmaps")
    env.kubectl("create", "rolebinding", "may-delete", "--role=may-delete",
                f"--serviceaccount={ns}:no-delete")
    env.kubectl("annotate", "--overwrite", KS, ks,
                f"reconcile.fluxcd.io/requestedAt={uuid.uuid4().hex}")

    def pruned() -> bool:
        status = env.status(ks)
        ready = env.condition(status, "Ready")
        assert ready is not None and ready["status"] == "True", ready
        assert cm_b not in [e["id"] for e in status["inventory"]["entries"]]
        return True

    eventually(pruned, TIMEOUT, message="the refused prune retried once allowed")
    assert not env.exists("configmap", "gone-b")


def test_deletion_whose_garbage_collection_fails_still_releases_the_finalizer(env: Env) -> None:
    ns = env.namespace
    env.kubectl("create", "serviceaccount", "gc-denied")
    env.kubectl("create", "role", "gc-denied", "--verb=get,list,watch,create,patch",
                "--resource=configmaps")
    env.kubectl("create", "rolebinding", "gc-denied", "--role=gc-denied",
                f"--serviceaccount={ns}:gc-denied")
    repo, sha = env.repo({"cm.yaml": dump(configmap("gc-kept", namespace=ns))})
    ks = env.kustomization("gc-denied", env.source(repo), serviceAccountName="gc-denied")
    env.wait_applied(ks, sha)
    env.kubectl("delete", KS, ks, "--wait=false")
    eventually(lambda: not env.exists(KS, ks), TIMEOUT,
               message="the Kustomization goes away although its objects could not be deleted")
    assert env.exists("configmap", "gc-kept")
    warnings = [e for e in env.events(ks) if e.get("type") == "Warning"]
    assert any(e["reason"] == "PruneFailed" and "garbage collection" in e["message"]
               for e in warnings), warnings
    assert "Attempt to overwrite" not in env.kustomize_controller.log_text(2000)


@pytest.mark.flux_fields("Kustomization", "spec.kubeConfig.secretRef.name")
def test_kubeconfig_secret_applies_to_the_cluster_it_names(env: Env, tmp_path: Path) -> None:
    # A second, separate control plane (its own etcd and kube-apiserver): what the
    # Kustomization applies must land there, and not in the cluster the controller runs in.
    remote = LocalCluster(tmp_path / "remote-cluster", nodes=0, log=lambda *_: None)
    remote.up()
    try:
        remote_cluster = Cluster(remote.kubeconfig)
        remote_cluster.kubectl("create", "namespace", env.namespace)
        config = tmp_path / "value.yaml"
        config.write_text(self_contained_kubeconfig(remote.kubeconfig))
        env.kubectl("create", "secret", "generic", "remote-kubeconfig",
                    f"--from-file=value.yaml={config}")
        repo, sha = env.repo({"cm.yaml": dump(configmap("remote", namespace=env.namespace))})
        ks = env.kustomization("remote", env.source(repo),
                               kubeConfig={"secretRef": {"name": "remote-kubeconfig"}})
        env.wait_applied(ks, sha)
        got = remote_cluster.kubectl("-n", env.namespace, "get", "configmap", "remote",
                                     "-o", "json")
        labels = json.loads(got.stdout)["metadata"]["labels"]
        assert labels["kustomize.toolkit.fluxcd.io/name"] == "remote"
        assert not env.exists("configmap", "remote")
    finally:
        remote.down(quiet=True)

    broken = env.kustomization("remote-missing", env.source(repo),
                               kubeConfig={"secretRef": {"name": "nope"}})
    ready = env.wait_failed(broken, "ReconciliationFailed")
    assert f"KubeConfig Secret '{env.namespace}/nope'" in ready["message"]


@pytest.mark.flux_fields("Kustomization", "spec.kubeConfig.configMapRef.name")
def test_kubeconfig_configmap_naming_an_account_needs_the_feature_gate(env: Env) -> None:
    # this env's kustomize-controller runs without --feature-gates (Flux's default: off)
    env.apply({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "remote-wi", "namespace": env.namespace},
               "data": {"provider": "generic", "address": "https://127.0.0.1:1",
                        "serviceAccountName": "deployer"}})
    repo, _ = env.repo({"cm.yaml": dump(configmap("gated", namespace=env.namespace))})
    ks = env.kustomization("remote-gated", env.source(repo),
                           kubeConfig={"configMapRef": {"name": "remote-wi"}})
    ready = env.wait_failed(ks, "FeatureGateDisabled")
    assert "--feature-gates=ObjectLevelWorkloadIdentity=true" in ready["message"]
    stalled = env.condition(env.status(ks), "Stalled")
    assert stalled is not None and stalled["status"] == "True"
    assert not env.exists("configmap", "gated")


def test_source_not_found_then_found(env: Env) -> None:
    ks = env.kustomization("no-source", "src-does-not-exist-yet")
    ready = env.wait_failed(ks, "ArtifactFailed")
    assert ready["message"] == (
        f"Source 'GitRepository/{env.namespace}/src-does-not-exist-yet' not found")


# --- per-object annotations --------------------------------------------------------------------


def test_reconcile_disabled_object_is_left_alone(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"app.yaml": dump(
        deployment("hands-off", replicas=1, namespace=ns),
        deployment("managed", replicas=1, namespace=ns))})
    source = env.source(repo)
    ks = env.kustomization("annotations", source, interval="3s")
    env.wait_applied(ks, sha)
    env.kubectl("annotate", "deployment", "hands-off",
                "kustomize.toolkit.fluxcd.io/reconcile=disabled")
    env.kubectl("scale", "deployment/hands-off", "--replicas=3")
    env.kubectl("scale", "deployment/managed", "--replicas=3")
    eventually(lambda: replicas(env, "managed") == 1, TIMEOUT, message="managed put back")
    assert replicas(env, "hands-off") == 3

    # removed from Git, a reconcile-disabled object is not pruned either
    second = env.push(repo, source, {"app.yaml": dump(deployment("managed", namespace=ns))})
    env.wait_applied(ks, second)
    assert env.exists("deployment", "hands-off")


# --- deletion ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "prune", "deleted"), [
    (None, True, True),
    (None, False, False),
    ("Delete", False, True),
    ("Orphan", True, False),
    ("WaitForTermination", True, True),
], ids=["mirror-prune-true", "mirror-prune-false", "delete", "orphan", "wait-for-termination"])
@pytest.mark.flux_fields("Kustomization", "spec.deletionPolicy", "spec.prune")
def test_deletion_policy(env: Env, policy: str | None, prune: bool, deleted: bool) -> None:
    name = f"del-{uuid.uuid4().hex[:6]}"
    repo, sha = env.repo({"cm.yaml": dump(configmap(name, namespace=env.namespace))})
    spec: dict[str, Any] = {"prune": prune}
    if policy:
        spec["deletionPolicy"] = policy
    ks = env.kustomization(name, env.source(repo), **spec)
    env.wait_applied(ks, sha)
    env.kubectl("delete", KS, ks, "--wait=false")
    eventually(lambda: env.get(KS, ks) is None, TIMEOUT, message="the Kustomization gone")
    if deleted:
        eventually(lambda: not env.exists("configmap", name), TIMEOUT,
                   message="its objects deleted")
    else:
        assert env.exists("configmap", name)
