"""`afflux report` on a run with known commits and failures, against the real cluster, Git
server and operators: commit A applies, commit B breaks the build, commit C repairs it.
The report must say 2 deployments (A, C), 3 changes of which 1 failed (B), one restore
lasting from B's first failure to C's application, and lead times equal to the applied
events' times minus the commits' times in Git (fetched with the GitRepository's secretRef).
And a HelmRelease (real helm-controller) installed, upgraded with values its chart refuses,
then repaired: 2 deployments, 3 changes of which 1 failed, one restore."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pygit2
import pytest
from cli_harness import Run, private_git_source

from afflux.cli._format import parse_time
from harness.kustomize_env import Env, configmap, dump
from harness.wait import eventually

pytestmark = pytest.mark.integration


def first_event(env: Env, ks: str, reason: str, revision: str) -> datetime:
    """When the controller first recorded `reason` for `revision`."""

    def found() -> datetime:
        times = [parse_time(e["firstTimestamp"]) for e in env.events(ks)
                 if e["reason"] == reason and (e["metadata"].get("annotations") or {}).get(
                     "kustomize.toolkit.fluxcd.io/revision") == revision]
        assert times, f"no {reason} event for {revision}"
        return min(t for t in times if t is not None)

    return eventually(found, 30, message=f"a {reason} event for {revision}")


def test_report_prints_the_known_figures(env: Env, afflux: Run) -> None:
    ns = env.namespace
    repo, source, name = private_git_source(env)
    a = repo.push({"app/all.yaml": dump(configmap("x", {"v": "1"}, namespace=ns))}, "A")
    ks = env.kustomization("metrics", source, path="./app")
    env.wait_applied(ks, a)
    b = env.push(repo, source, {"app/kustomization.yaml": "resources: [missing.yaml]\n"},
                 "B breaks the build")
    env.wait_failed(ks, "BuildFailed")
    broken = first_event(env, ks, "BuildFailed", f"main@sha1:{b}")
    c = env.push(repo, source, {"app/kustomization.yaml": None,
                                "app/all.yaml": dump(configmap("x", {"v": "2"}, namespace=ns))},
                 "C repairs it")
    env.wait_applied(ks, c)
    applied = {sha: first_event(env, ks, "ReconciliationSucceeded", f"main@sha1:{sha}")
               for sha in (a, c)}
    git = pygit2.Repository(str(env.git.repo_path(name)))
    committed = {sha: datetime.fromtimestamp(git.get(sha).commit_time, tz=UTC)  # type: ignore[union-attr]
                 for sha in (a, c)}

    res = afflux("report", "-n", ns, "--since", "1h", "-o", "json")
    assert res.code == 0, res.err
    [item] = [i for i in json.loads(res.out)["items"] if i["name"] == ks]
    assert item["kind"] == "Kustomization" and item["namespace"] == ns
    assert (item["deployments"], item["changes"], item["failed_changes"]) == (2, 3, 1)
    assert item["change_failure_rate"] == round(1 / 3, 6)
    assert item["failures"] >= 1 and item["failing_since"] is None
    # the status history and the events record the same moments within a second
    want_leads = sorted((applied[s] - committed[s]).total_seconds() for s in (a, c))
    assert len(item["lead_times"]) == 2
    for got, want in zip(sorted(item["lead_times"]), want_leads, strict=True):
        assert abs(got - want) <= 1.0, (item["lead_times"], want_leads)
    [restore] = item["restores"]
    assert abs(restore - (applied[c] - broken).total_seconds()) <= 1.0, item

    res = afflux("report", "-n", ns, "--since", "1h")
    row: list[Any] = next(cells for cells in map(str.split, res.out.splitlines())
                          if ks in cells)
    assert row[:4] == ["Kustomization", ns, ks, "2"] and "33%" in row and "(1/3)" in row

    res = afflux("report", "-n", ns, "--since", "1h", "-o", "prometheus")
    labels = f'kind="Kustomization",namespace="{ns}",name="{ks}",window="60m"'
    assert f"afflux_delivery_deployments{{{labels}}} 2\n" in res.out
    assert f"afflux_delivery_failed_changes{{{labels}}} 1\n" in res.out


CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "{}\n",
    "charts/web/templates/config.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
        "data:\n  x: {{ required \"x is required\" .Values.x | quote }}\n"),
}


def test_report_of_a_helmrelease_with_a_failed_upgrade(
        env: Env, afflux: Run, helm_controller: Any) -> None:
    ns = env.namespace
    repo, source, _ = private_git_source(env)
    repo.push(CHART, "chart")
    env.apply({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "web", "namespace": ns},
               "spec": {"interval": "10m", "values": {"x": "one"}, "chart": {"spec": {
                   "chart": "./charts/web", "interval": "10m",
                   "sourceRef": {"kind": "GitRepository", "name": source}}}}})

    def ready(reason: str, status: str = "True") -> None:
        def check() -> bool:
            body = env.get("helmrelease", "web") or {}
            cond = env.condition(body.get("status") or {}, "Ready")
            assert cond is not None and (cond["status"], cond["reason"]) == (status, reason)
            return True

        eventually(check, 120, message=f"HelmRelease web {status} {reason}")

    ready("InstallSucceeded")
    # values without the required x: the upgrade fails; then x again: it is restored
    env.kubectl("patch", "helmrelease", "web", "--type=merge",
                "-p", '{"spec":{"values":{"x":null,"y":"1"}}}')
    ready("RetriesExceeded", "False")  # no remediation retries: it stops there
    env.kubectl("patch", "helmrelease", "web", "--type=merge",
                "-p", '{"spec":{"values":{"x":"two","y":null}}}')
    ready("UpgradeSucceeded")

    def reported() -> dict[str, Any]:
        res = afflux("report", "-n", ns, "--since", "1h", "-o", "json")
        [row] = [i for i in json.loads(res.out)["items"] if i["kind"] == "HelmRelease"]
        assert (row["deployments"], row["changes"], row["failed_changes"]) == (2, 3, 1), row
        assert row["failures"] >= 1 and len(row["restores"]) == 1, row
        assert row["failing_since"] is None and row["change_failure_rate"] == round(1 / 3, 6)
        return row

    eventually(reported, 60, message="the HelmRelease's figures")
