"""Prometheus text exposition of the runtime's metrics."""

from __future__ import annotations

import re

from afflux.controllers.runtime import Metrics
from afflux.controllers.runtime._metrics import escape_label, format_value

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?'
                    r" (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$")


def _lines(text: str) -> list[str]:
    assert text.endswith("\n")
    return text.rstrip("\n").split("\n")


def test_every_line_is_valid_exposition() -> None:
    m = Metrics()
    m.observe_duration("GitRepository", "flux-system", "repo", 0.3)
    m.record_conditions("GitRepository", "flux-system", "repo",
                        [{"type": "Ready", "status": "True"}])
    m.record_suspend("GitRepository", "flux-system", "repo", False)
    for line in _lines(m.render()):
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line


def test_histogram_buckets_sum_count() -> None:
    m = Metrics(buckets=(0.1, 1, 10))
    for value in (0.05, 0.5, 0.5, 20):
        m.observe_duration("Kustomization", "ns", "app", value)
    text = m.render()
    labels = 'kind="Kustomization",name="app",namespace="ns"'
    assert "# TYPE gotk_reconcile_duration_seconds histogram" in text
    assert f'gotk_reconcile_duration_seconds_bucket{{{labels},le="0.1"}} 1' in text
    assert f'gotk_reconcile_duration_seconds_bucket{{{labels},le="1"}} 3' in text
    assert f'gotk_reconcile_duration_seconds_bucket{{{labels},le="10"}} 3' in text
    assert f'gotk_reconcile_duration_seconds_bucket{{{labels},le="+Inf"}} 4' in text
    assert f"gotk_reconcile_duration_seconds_sum{{{labels}}} 21.05" in text
    assert f"gotk_reconcile_duration_seconds_count{{{labels}}} 4" in text


def test_condition_gauge_is_one_hot() -> None:
    m = Metrics()
    m.record_conditions("HelmRelease", "ns", "r", [
        {"type": "Ready", "status": "False"}, {"type": "Stalled", "status": "True"}])
    text = m.render()
    base = 'kind="HelmRelease",name="r",namespace="ns"'

    def value(type_: str, status: str) -> str:
        line = f'gotk_reconcile_condition{{{base},type="{type_}",status="{status}"}} '
        return next(x for x in _lines(text) if x.startswith(line)).rsplit(" ", 1)[1]

    assert [value("Ready", s) for s in ("True", "False", "Unknown")] == ["0", "1", "0"]
    assert [value("Stalled", s) for s in ("True", "False", "Unknown")] == ["1", "0", "0"]
    # absent negative-polarity condition counts as False
    assert [value("Reconciling", s) for s in ("True", "False", "Unknown")] == ["0", "1", "0"]


def test_suspend_gauge_and_forget() -> None:
    m = Metrics()
    m.record_suspend("Bucket", "ns", "b", True)
    assert 'gotk_suspend_status{kind="Bucket",name="b",namespace="ns"} 1' in m.render()
    m.record_suspend("Bucket", "ns", "b", False)
    assert 'gotk_suspend_status{kind="Bucket",name="b",namespace="ns"} 0' in m.render()
    m.observe_duration("Bucket", "ns", "b", 1)
    m.forget("Bucket", "ns", "b")
    assert 'name="b"' not in m.render()


def test_family_headers_present_even_when_empty() -> None:
    text = Metrics().render()
    for family, type_ in [("gotk_reconcile_duration_seconds", "histogram"),
                          ("gotk_reconcile_condition", "gauge"),
                          ("gotk_suspend_status", "gauge")]:
        assert f"# TYPE {family} {type_}" in text
        assert f"# HELP {family} " in text


def test_formatting_helpers() -> None:
    assert [format_value(v) for v in (1.0, 0.005, 2.5, float("inf"))] == [
        "1", "0.005", "2.5", "+Inf"]
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_own_counters_render_after_the_flux_families() -> None:
    metrics = Metrics()
    inc = metrics.counter("afflux_things_total", "Things done.")
    assert "afflux_things_total 0\n" in metrics.render()
    inc()
    inc(2)
    text = metrics.render()
    assert text.endswith("# HELP afflux_things_total Things done.\n"
                         "# TYPE afflux_things_total counter\nafflux_things_total 3\n")
    assert text.index("gotk_suspend_status") < text.index("afflux_things_total")


def test_a_labelled_counter_renders_one_series_per_label_values_and_forgets_an_object() -> None:
    m = Metrics()
    inc = m.labelled_counter("afflux_drift_corrections_total", "Drift put back.",
                             ("kind", "namespace", "name", "object_kind"))
    inc("Kustomization", "apps", "web", "Deployment")
    inc("Kustomization", "apps", "web", "Deployment")
    inc("Kustomization", "apps", "db", "ConfigMap")
    text = m.render()
    assert "# TYPE afflux_drift_corrections_total counter" in text
    assert ('afflux_drift_corrections_total{kind="Kustomization",namespace="apps",name="web",'
            'object_kind="Deployment"} 2') in text
    m.forget("Kustomization", "apps", "web")
    text = m.render()
    assert 'name="web"' not in text and 'name="db"' in text
