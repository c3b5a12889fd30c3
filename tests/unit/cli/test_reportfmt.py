"""The `afflux report` forms: table, JSON, Markdown and Prometheus text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from afflux.cli._dora import Figures
from afflux.cli._reportfmt import Row, render

ROWS = [
    Row("Kustomization", "apps", "web", Figures(
        window_days=7, deployments=3, deployment_frequency=3 / 7, lead_times=[60, 120, 600],
        lead_time_median=120, lead_time_max=600, changes=4, failed_changes=1,
        change_failure_rate=0.25, failures=2, restores=[300], time_to_restore_median=300)),
    Row("HelmRelease", "apps", "db", Figures(
        window_days=7, failing_since=datetime(2026, 11, 1, 12, tzinfo=UTC))),
]


def test_text_table() -> None:
    lines = render(ROWS, "text", "7d").splitlines()
    assert [c.strip() for c in lines[0].split("\t")][:4] == ["KIND", "NAMESPACE", "NAME",
                                                             "DEPLOYS"]
    assert [c.strip() for c in lines[1].split("\t")] == [
        "Kustomization", "apps", "web", "3", "0.43", "2m", "25% (1/4)", "5m", "-"]
    assert [c.strip() for c in lines[2].split("\t")] == [
        "HelmRelease", "apps", "db", "0", "0.00", "-", "-", "-", "2026-11-01T12:00:00Z"]


def test_json() -> None:
    data = json.loads(render(ROWS, "json", "7d"))
    assert data["window"] == "7d"
    assert data["items"][0]["lead_times"] == [60, 120, 600]
    assert data["items"][1]["failing_since"] == "2026-11-01T12:00:00Z"


def test_markdown() -> None:
    out = render(ROWS, "markdown", "7d")
    assert out.startswith("### Delivery metrics over the last 7d\n")
    assert "| Kustomization | apps | web | 3 | 0.43 | 2m | 25% (1/4) | 5m | - |\n" in out


def test_prometheus_text_leaves_unknown_values_out() -> None:
    out = render(ROWS, "prometheus", "7d")
    labels = 'kind="Kustomization",namespace="apps",name="web",window="7d"'
    assert f"afflux_delivery_lead_time_median_seconds{{{labels}}} 120\n" in out
    assert f"afflux_delivery_change_failure_ratio{{{labels}}} 0.25\n" in out
    assert "# TYPE afflux_delivery_deployments gauge\n" in out
    db = 'kind="HelmRelease",namespace="apps",name="db",window="7d"'
    assert f"afflux_delivery_deployments{{{db}}} 0\n" in out
    assert f"afflux_delivery_lead_time_median_seconds{{{db}}}" not in out
