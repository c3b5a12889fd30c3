"""config/monitoring/ against a real Prometheus scraping the real operators.

source-, kustomize- and helm-controller run as their own processes (the harness's), with a
healthy, a failing and a suspended Kustomization and a failing GitRepository in their
namespace. A real Prometheus runs config/monitoring/prometheus.yaml (scraping every second)
with config/monitoring/alerts.yaml, and the test checks:

- every series selector of every query of the dashboards (dashboards/*.json, panels and
  variables) and of the alert rules matches series, and every dashboard query returns a
  result, read from the files, so a dashboard query with a wrong metric or label name fails;
- the selectors Flux's own published dashboards use (names and labels listed below, the
  interface we implement) match series too;
- the not-ready alert fires for the failing Kustomization and only for it, and the
  suspended alert for the suspended one. The rules are the file's, with every `for`
  shortened to 2s so the test does not wait the real 10 minutes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from afflux.cli.devenv import GitHTTPServer
from harness.fixtures_cluster import REPO, Cluster
from harness.kustomize_env import Env, configmap, dump, make_env
from harness.prometheus import Prometheus
from harness.promql import (
    dashboard_queries,
    dashboard_variables,
    rule_queries,
    selectors,
    substitute,
)
from harness.wait import eventually

pytestmark = pytest.mark.integration

MONITORING = REPO / "config" / "monitoring"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
RULES = MONITORING / "alerts.yaml"
TIMEOUT = 90.0

#: Selectors Flux's published dashboards (cluster and control plane) query, with the
#: operators' namespace label as a target label (`namespace`) and the object's as
#: `exported_namespace`. Not listed, because a Python process has no such series: `go_info`,
#: `go_memstats_*`; nor the kubelet's `container_*`, which no operator exports.
FLUX_SELECTORS = [
    'gotk_resource_info{exported_namespace=~".*", customresource_kind=~"Kustomization|HelmRelease"}',
    'gotk_resource_info{exported_namespace=~".*", customresource_kind=~"Kustomization|HelmRelease", ready="False"}',
    'gotk_resource_info{exported_namespace=~".*", customresource_kind=~"GitRepository|HelmRepository|Bucket|OCIRepository"}',
    'gotk_resource_info{exported_namespace=~".*", customresource_kind=~"GitRepository|HelmRepository|Bucket|OCIRepository", ready="False"}',
    'gotk_resource_info{exported_namespace=~".*", suspended="true"}',
    'gotk_reconcile_duration_seconds_sum{namespace=~".*", exported_namespace=~".*", kind=~"Kustomization|HelmRelease"}',
    'gotk_reconcile_duration_seconds_count{namespace=~".*", exported_namespace=~".*", kind=~"GitRepository|HelmRepository|Bucket|OCIRepository"}',
    'workqueue_longest_running_processor_seconds{namespace="flux-system", pod=~".*-controller-.*"}',
    'workqueue_longest_running_processor_seconds{name="kustomization"}',
    "workqueue_work_duration_seconds_count",
    'process_cpu_seconds_total{namespace="flux-system", pod=~".*-controller-.*"}',
    'rest_client_requests_total{namespace="flux-system", pod=~".*-controller-.*"}',
    *(f'controller_runtime_reconcile_total{{controller="{c}", result{op}"error"}}'
      for c in ("kustomization", "gitrepository", "ocirepository", "helmrepository", "bucket",
                "helmrelease", "helmchart") for op in ("=", "!=")),
    'controller_runtime_reconcile_time_seconds_bucket{controller="helmrelease"}',
]


@dataclass
class Monitored:
    env: Env
    prometheus: Prometheus
    healthy: str
    broken: str
    paused: str


def shortened_rules(text: str) -> str:
    doc = yaml.safe_load(text)
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "2s"
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture(scope="module")
def monitored(cluster: Cluster, start_controller: Any, git_server: GitHTTPServer,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    for env in make_env(cluster, start_controller, git_server, tmp_path_factory):
        helm = start_controller("helm", "--watch-all-namespaces=false",
                                f"--namespace={env.namespace}")
        try:
            repo, _ = env.repo({"app/cm.yaml": dump(configmap("watched",
                                                              namespace=env.namespace))})
            source = env.source(repo)
            healthy = env.kustomization("healthy", source, path="./app")
            broken = env.kustomization("broken", source, path="./not-there")
            paused = env.kustomization("paused", source, path="./app", suspend=True)
            env.apply({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                       "metadata": {"name": "unreachable", "namespace": env.namespace},
                       "spec": {"url": env.git.url("no/such-repo"), "interval": "10m",
                                "ref": {"branch": "main"}}})
            directory = tmp_path_factory.mktemp("prometheus")
            prometheus = Prometheus(
                directory, yaml.safe_load((MONITORING / "prometheus.yaml").read_text()),
                rules={RULES.name: shortened_rules(RULES.read_text())},
                targets={"source-controller": env.source_controller.metrics_port,
                         "kustomize-controller": env.kustomize_controller.metrics_port,
                         "helm-controller": helm.metrics_port}).start()
            try:
                yield Monitored(env, prometheus, healthy, broken, paused)
            finally:
                prometheus.stop()
        finally:
            helm.stop()


def missing_series(prom: Prometheus, wanted: list[tuple[str, str]]) -> list[str]:
    """The (origin, selector) pairs whose selector matches no series now."""
    return [f"{origin}: {sel}" for origin, sel in wanted if not prom.query(f"count({sel})")]


def dashboard_values(path: Path) -> dict[str, str]:
    """Grafana variables as any non-empty value (`.+`, stricter than Grafana's "All", `.*`,
    which also matches a series without the label, so a misspelt label name would pass),
    and Grafana's interval macros."""
    values = dict.fromkeys(dashboard_variables(path), ".+")
    values.update({"__rate_interval": "1m", "__interval": "15s", "__range": "1h"})
    return values


def test_scrape_targets_are_up(monitored: Monitored) -> None:
    def up() -> list[dict[str, Any]]:
        result = monitored.prometheus.query('up{job="afflux-operators"} == 1')
        assert len(result) == 3, monitored.prometheus.targets()
        return result

    result = eventually(up, TIMEOUT, message="the three operators scraped")
    assert {r["metric"]["pod"] for r in result} == {
        "source-controller-local", "kustomize-controller-local", "helm-controller-local"}
    assert {r["metric"]["namespace"] for r in result} == {"flux-system"}


def test_every_dashboard_and_rule_selector_matches_series(monitored: Monitored) -> None:
    wanted: list[tuple[str, str]] = []
    for path in DASHBOARDS:
        values = dashboard_values(path)
        for query in dashboard_queries(path):
            wanted += [(query.origin, s) for s in selectors(substitute(query.expr, values))]
    for query, _ in rule_queries(RULES):
        wanted += [(query.origin, s) for s in selectors(query.expr)]
    assert len(wanted) > 40 and {origin.split(":")[0] for origin, _ in wanted} == {
        "cluster.json", "control-plane.json", "alerts.yaml"}

    def none_missing() -> bool:
        missing = missing_series(monitored.prometheus, wanted)
        assert not missing, "\n".join(missing)
        return True

    eventually(none_missing, TIMEOUT, interval=1, message="every selector matching series")
    # a wrong name is caught: the same check on a misspelt metric, label value or label
    # name (with a variable's value) finds nothing
    typos = ["gotk_reconcile_duration_second_sum",
             'gotk_resource_info{customresource_kind="Kustomisation"}',
             substitute('gotk_resource_info{exported_ns=~"$namespace"}',
                        dashboard_values(DASHBOARDS[0]))]
    assert missing_series(monitored.prometheus, [("typo", t) for t in typos]) == [
        f"typo: {t}" for t in typos]


def test_every_dashboard_query_returns_a_result(monitored: Monitored) -> None:
    queries = [(q.origin, substitute(q.expr, dashboard_values(path)))
               for path in DASHBOARDS for q in dashboard_queries(path)]

    def all_answer() -> bool:
        empty = [f"{origin}: {expr}" for origin, expr in queries
                 if not monitored.prometheus.query(expr)]
        assert not empty, "\n".join(empty)
        return True

    eventually(all_answer, TIMEOUT, interval=1, message="every dashboard query answering")


def test_flux_dashboard_selectors_match_series(monitored: Monitored) -> None:
    def none_missing() -> bool:
        missing = missing_series(monitored.prometheus, [("flux", s) for s in FLUX_SELECTORS])
        assert not missing, "\n".join(missing)
        return True

    eventually(none_missing, TIMEOUT, interval=1, message="Flux's dashboard selectors")


def test_resource_info_tells_ready_failing_and_suspended(monitored: Monitored) -> None:
    ns = monitored.env.namespace

    def states() -> dict[str, dict[str, str]]:
        result = monitored.prometheus.query(
            f'gotk_resource_info{{customresource_kind="Kustomization", exported_namespace="{ns}"}}')
        found = {r["metric"]["name"]: r["metric"] for r in result}
        assert found.get(monitored.healthy, {}).get("ready") == "True", found
        assert found.get(monitored.broken, {}).get("ready") == "False", found
        return found

    found = eventually(states, TIMEOUT, interval=1, message="Kustomizations' resource info")
    assert re.fullmatch(r"main@sha1:[0-9a-f]{40}", found[monitored.healthy]["revision"])
    assert found[monitored.healthy]["customresource_group"] == "kustomize.toolkit.fluxcd.io"
    assert found[monitored.paused]["suspended"] == "true"
    assert "suspended" not in found[monitored.healthy]  # spec.suspend unset: no label


def test_not_ready_alert_fires_for_the_failing_kustomization(monitored: Monitored) -> None:
    ns = monitored.env.namespace

    def firing() -> list[dict[str, str]]:
        alerts = [a["labels"] for a in monitored.prometheus.alerts()
                  if a["state"] == "firing" and a["labels"].get("exported_namespace") == ns]
        names = {(a["alertname"], a.get("customresource_kind"), a["name"]) for a in alerts}
        assert ("FluxObjectNotReady", "Kustomization", monitored.broken) in names, alerts
        assert ("FluxObjectSuspended", "Kustomization", monitored.paused) in names, alerts
        # the source fails on its own clock (its fetch must time out first), so its alert
        # may fire after the Kustomizations'
        assert ("FluxObjectNotReady", "GitRepository", "unreachable") in names, alerts
        return alerts

    alerts = eventually(firing, TIMEOUT, interval=1, message="the alerts firing")
    not_ready = {(a.get("customresource_kind"), a["name"]) for a in alerts
                 if a["alertname"] == "FluxObjectNotReady"}
    assert ("Kustomization", monitored.healthy) not in not_ready
    assert next(a for a in alerts if a["alertname"] == "FluxObjectNotReady")[
        "severity"] == "warning"
