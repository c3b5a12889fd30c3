"""Drift seen in seconds, not at the next interval: kustomize-controller's metadata watches of
the managed kinds (`--drift-watch`, default on) reconcile a Kustomization as soon as someone
else changes or deletes one of its objects, although its interval is an hour; a change by
kustomize-controller itself triggers nothing; with `--drift-watch=false` nothing happens
until the interval (or a request). And an interval reconcile with nothing changed skips the
apply (`afflux_apply_skipped_total`) and writes its status once (no progress patch).

The real source-controller and kustomize-controller run as processes (see
`test_kustomization` for the environment).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from afflux.cli import main as afflux_main
from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import Cluster
from harness.kustomize_env import KS, Env, configmap, deployment, dump, make_env, replicas
from harness.wait import eventually

pytestmark = pytest.mark.integration

#: far below the hour of the Kustomizations' interval, with room for a busy machine
SOON = 30.0
TRIGGERS = "afflux_drift_triggers_total"


@pytest.fixture(scope="module")
def env_off(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    yield from make_env(cluster, start_controller, git_server, tmp_path_factory,
                        "--drift-watch=false")


def applied(env: Env, name: str, files: dict[str, str], **spec: Any) -> str:
    repo, sha = env.repo(files)
    env.kustomization(name, env.source(repo), interval="1h", **spec)
    env.wait_applied(name, sha)
    return sha


def data(env: Env, name: str) -> dict[str, str] | None:
    body = env.get("configmap", name)
    return None if body is None else body.get("data")


def patch(env: Env, kind: str, name: str, body: dict[str, Any], manager: str) -> None:
    env.kubectl("patch", kind, name, "--type=merge", f"--field-manager={manager}",
                "-p", json.dumps(body))


def test_edit_by_another_manager_is_corrected_within_seconds(env: Env) -> None:
    ns = env.namespace
    applied(env, "edited", {"app.yaml": dump(configmap("edited-cm", namespace=ns),
                                             deployment("edited-web", namespace=ns))})
    before = env.metric(TRIGGERS)

    patch(env, "configmap", "edited-cm", {"data": {"key": "by hand"}}, "kubectl-edit")
    eventually(lambda: data(env, "edited-cm") == {"key": "value"}, SOON,
               message="the ConfigMap edited by hand put back")
    patch(env, "deployment", "edited-web", {"spec": {"replicas": 3}}, "kubectl-edit")
    eventually(lambda: replicas(env, "edited-web") == 1, SOON,
               message="the Deployment scaled by hand put back")
    assert env.metric(TRIGGERS) >= before + 2


def test_new_objects_are_created_without_a_get(env: Env) -> None:
    ns = env.namespace
    applied(env, "watched", {"cm.yaml": dump(configmap("watched-cm", namespace=ns))})
    # the ConfigMap watch is synced once it puts back an edit
    patch(env, "configmap", "watched-cm", {"data": {"key": "by hand"}}, "kubectl-edit")
    eventually(lambda: data(env, "watched-cm") == {"key": "value"}, SOON,
               message="the ConfigMap watch synced")
    # made by hand, without the owner labels: invisible to the watch, so called absent
    env.kubectl("-n", ns, "create", "configmap", "adopted-cm", "--from-literal=key=mine",
                "--from-literal=extra=x")
    before = env.metric("afflux_apply_create_only_total")
    fresh = [configmap(f"fresh-cm-{i}", namespace=ns) for i in range(3)]
    applied(env, "fresh", {"cm.yaml": dump(*fresh, configmap("adopted-cm", namespace=ns))})
    # three created without a GET; the made-by-hand one was refused by the API
    # server and applied by the full path, which took kubectl's fields over
    assert env.metric("afflux_apply_create_only_total") >= before + 4
    for i in range(3):
        body = env.get("configmap", f"fresh-cm-{i}")
        assert body is not None and body["data"] == {"key": "value"}
        assert body["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "fresh"
    assert data(env, "adopted-cm") == {"key": "value"}
    progressing = [e["message"] for e in env.events("fresh") if e.get("reason") == "Progressing"]
    assert any(f"ConfigMap/{ns}/adopted-cm configured" in m
               and f"ConfigMap/{ns}/fresh-cm-0 created" in m for m in progressing), progressing


def drift_events(env: Env, name: str) -> list[dict[str, Any]]:
    return [e for e in env.events(name) if e.get("reason") == "DriftCorrected"]


def test_a_kubectl_edit_is_explained_in_an_event_the_cli_and_a_metric(
        env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    ns = env.namespace
    sha = applied(env, "explained", {"app.yaml": dump(deployment("explained-web", namespace=ns))})
    assert drift_events(env, "explained") == []

    patch(env, "deployment", "explained-web", {"spec": {"replicas": 3}}, "kubectl-edit")
    eventually(lambda: replicas(env, "explained-web") == 1, SOON,
               message="the Deployment scaled by hand put back")
    event = eventually(lambda: drift_events(env, "explained")[0], SOON,
                       message="a DriftCorrected event")
    assert event["type"] == "Normal"
    assert event["message"] == ("drift corrected:\n"
                                f"Deployment/{ns}/explained-web:\n"
                                "  spec.replicas: 3 -> 1 (by kubectl-edit)")
    annotations = event["metadata"]["annotations"]
    assert annotations["kustomize.toolkit.fluxcd.io/revision"] == f"main@sha1:{sha}"
    assert json.loads(annotations["afflux.toolkit.fluxcd.io/drift"]) == [
        {"object": f"Deployment/{ns}/explained-web", "fields": [
            {"path": "spec.replicas", "live": "3", "applied": "1", "manager": "kubectl-edit"}]}]

    capsys.readouterr()
    code = afflux_main(["--kubeconfig", str(env.cluster.kubeconfig), "-n", ns,
                        "get", "ks", "explained", "--drift"])
    out = capsys.readouterr().out
    assert code == 0
    assert f"at revision main@sha1:{sha}:\n  Deployment/{ns}/explained-web\n" in out
    assert "    spec.replicas: 3 -> 1  by kubectl-edit\n" in out

    series = (f'afflux_drift_corrections_total{{kind="Kustomization",namespace="{ns}",'
              f'name="explained",object_kind="Deployment",object_namespace="{ns}",'
              'object_name="explained-web"} 1')
    assert series in env.kustomize_controller.metrics()


def test_a_change_by_kustomize_controller_itself_triggers_nothing(env: Env) -> None:
    ns = env.namespace
    applied(env, "ours", {"cm.yaml": dump(configmap("ours-cm", namespace=ns))})
    applied(env, "witness", {"cm.yaml": dump(configmap("witness-cm", namespace=ns))})
    before = env.metric(TRIGGERS)

    patch(env, "configmap", "ours-cm", {"data": {"key": "ours"}}, "kustomize-controller")
    # Events of one kind arrive in order: once the later foreign edit of the witness is
    # corrected, the watch has seen our own change too, and let it be.
    patch(env, "configmap", "witness-cm", {"data": {"key": "by hand"}}, "kubectl-edit")
    eventually(lambda: data(env, "witness-cm") == {"key": "value"}, SOON,
               message="the witness ConfigMap put back")
    assert data(env, "ours-cm") == {"key": "ours"}
    assert env.metric(TRIGGERS) == before + 1


def test_a_deleted_object_comes_back_quickly(env: Env) -> None:
    ns = env.namespace
    applied(env, "deleted", {"cm.yaml": dump(configmap("deleted-cm", namespace=ns))})
    env.kubectl("delete", "configmap", "deleted-cm")
    eventually(lambda: data(env, "deleted-cm") == {"key": "value"}, SOON,
               message="the deleted ConfigMap recreated")


def test_a_pruned_object_is_not_taken_for_drift(env: Env) -> None:
    ns = env.namespace
    repo, sha = env.repo({"a.yaml": dump(configmap("pruned-a", namespace=ns)),
                          "b.yaml": dump(configmap("pruned-b", namespace=ns))})
    source = env.source(repo)
    env.kustomization("pruned", source, interval="1h")
    env.wait_applied("pruned", sha)
    before = env.metric(TRIGGERS)
    sha = env.push(repo, source, {"b.yaml": None})
    env.wait_applied("pruned", sha)
    eventually(lambda: not env.exists("configmap", "pruned-b"), SOON)
    # the witness again: its correction means the watch has seen the deletion
    applied(env, "pruned-witness", {"cm.yaml": dump(configmap("pw-cm", namespace=ns))})
    patch(env, "configmap", "pw-cm", {"data": {"key": "by hand"}}, "kubectl-edit")
    eventually(lambda: data(env, "pw-cm") == {"key": "value"}, SOON)
    assert env.metric(TRIGGERS) == before + 1


@pytest.mark.flux_fields("Kustomization", "spec.interval")
def test_an_unchanged_interval_reconcile_skips_the_apply(env: Env) -> None:
    ns = env.namespace
    applied(env, "quiet", {"cm.yaml": dump(configmap("quiet-cm", namespace=ns))})
    before = env.metric("afflux_apply_skipped_total")
    env.kubectl("patch", KS, "quiet", "--type=merge", "-p", '{"spec":{"interval":"2s"}}')
    eventually(lambda: env.metric("afflux_apply_skipped_total") >= before + 2, SOON,
               message="interval reconciles that skip the apply")
    # and drift is still put back at once, by the watch
    patch(env, "configmap", "quiet-cm", {"data": {"key": "by hand"}}, "kubectl-edit")
    eventually(lambda: data(env, "quiet-cm") == {"key": "value"}, SOON)


def _writes(env: Env, name: str, enough: int) -> list[tuple[str, int]]:
    """(Ready status, history[0].totalReconciliations) of each status write of the
    Kustomization `name` seen by a watch from now, until `enough` no-change runs (a Ready=True
    write right after another) were seen or SOON seconds passed."""
    from kubernetes import client, watch

    api = client.CustomObjectsApi(env.cluster.api_client())
    group, version, plural = "kustomize.toolkit.fluxcd.io", "v1", "kustomizations"
    listed = api.list_namespaced_custom_object(group, version, env.namespace, plural,
                                               field_selector=f"metadata.name={name}")
    seen: list[tuple[str, int]] = []
    stream = watch.Watch()
    for event in stream.stream(api.list_namespaced_custom_object, group, version,
                               env.namespace, plural, field_selector=f"metadata.name={name}",
                               resource_version=listed["metadata"]["resourceVersion"],
                               timeout_seconds=int(SOON)):
        status = event["object"].get("status") or {}
        ready = env.condition(status, "Ready") or {}
        history = status.get("history") or [{}]
        seen.append((ready.get("status", ""), int(history[0].get("totalReconciliations") or 0)))
        single = [b for a, b in zip(seen, seen[1:], strict=False)
                  if a[0] == b[0] == "True" and b[1] == a[1] + 1]
        if len(single) >= enough:
            stream.stop()
    return seen


def test_a_no_change_interval_run_writes_its_status_once_and_stays_ready(env: Env) -> None:
    ns = env.namespace
    applied(env, "steady", {"cm.yaml": dump(configmap("steady-cm", namespace=ns))})
    env.kubectl("patch", KS, "steady", "--type=merge", "-p", '{"spec":{"interval":"2s"}}')
    seen = _writes(env, "steady", enough=2)
    # a run with real work (the new generation's build, a periodic full apply) writes
    # Ready=Unknown, then its result; a run that skips the apply writes only its result
    single = [b for a, b in zip(seen, seen[1:], strict=False)
              if a[0] == b[0] == "True" and b[1] == a[1] + 1]
    assert len(single) >= 2, seen
    assert env.condition(env.status("steady"), "Reconciling") is None


def test_with_drift_watch_off_nothing_happens_until_the_interval(env_off: Env) -> None:
    env = env_off
    ns = env.namespace
    applied(env, "off", {"cm.yaml": dump(configmap("off-cm", namespace=ns))})
    applied(env, "off-witness", {"cm.yaml": dump(configmap("off-witness-cm", namespace=ns))})
    patch(env, "configmap", "off-cm", {"data": {"key": "by hand"}}, "kubectl-edit")
    # another Kustomization reconciled on request: the controller is alive and busy, and
    # the edit is still there; no drift trigger is even published
    stamp = uuid.uuid4().hex
    env.kubectl("annotate", "--overwrite", KS, "off-witness",
                f"reconcile.fluxcd.io/requestedAt={stamp}")
    eventually(lambda: env.status("off-witness").get("lastHandledReconcileAt") == stamp, SOON)
    assert data(env, "off-cm") == {"key": "by hand"}
    assert TRIGGERS not in env.kustomize_controller.metrics()
    # the interval (here: a request) puts it back, as before
    env.kubectl("annotate", "--overwrite", KS, "off", f"reconcile.fluxcd.io/requestedAt={stamp}")
    eventually(lambda: data(env, "off-cm") == {"key": "value"}, SOON)
