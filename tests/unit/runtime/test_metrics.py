"""Prometheus text exposition of the runtime's metrics."""

from __future__ import annotations

import re

import pytest

from afflux.controllers.runtime import Metrics
from afflux.controllers.runtime._metrics import SHARED_MAX, escape_label, format_value

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


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _value(text: str, prefix: str) -> str:
    return next(x for x in _lines(text) if x.startswith(prefix + " ")).rsplit(" ", 1)[1]


def test_controller_runtime_and_workqueue_families() -> None:
    clock = Clock()
    m = Metrics(clock=clock, process=None)
    m.set_max_concurrent("kustomization", 4)
    queued = m.enqueue("kustomization")
    clock.now += 2
    m.dequeue("kustomization", queued)
    ok = m.begin_work("kustomization")
    clock.now += 0.5
    m.end_work(ok, "requeue_after")
    failing = m.begin_work("kustomization")
    clock.now += 3
    text = m.render()
    c, q = 'controller="kustomization"', 'controller="kustomization",name="kustomization"'
    assert _value(text, f"controller_runtime_active_workers{{{c}}}") == "1"
    assert _value(text, f"workqueue_longest_running_processor_seconds{{{q}}}") == "3"
    assert _value(text, f"workqueue_unfinished_work_seconds{{{q}}}") == "3"
    m.end_work(failing, "error")
    text = m.render()
    assert _value(text, f'controller_runtime_reconcile_total{{{c},result="requeue_after"}}') == "1"
    assert _value(text, f'controller_runtime_reconcile_total{{{c},result="error"}}') == "1"
    assert _value(text, f'controller_runtime_reconcile_total{{{c},result="success"}}') == "0"
    assert _value(text, f"controller_runtime_reconcile_errors_total{{{c}}}") == "1"
    assert _value(text, f"controller_runtime_max_concurrent_reconciles{{{c}}}") == "4"
    assert _value(text, f"controller_runtime_active_workers{{{c}}}") == "0"
    assert _value(text, f"controller_runtime_reconcile_time_seconds_count{{{c}}}") == "2"
    assert _value(text, f"controller_runtime_reconcile_time_seconds_sum{{{c}}}") == "3.5"
    assert _value(text, f"workqueue_depth{{{q}}}") == "0"
    assert _value(text, f"workqueue_adds_total{{{q}}}") == "1"
    assert _value(text, f"workqueue_retries_total{{{q}}}") == "1"
    assert _value(text, f"workqueue_queue_duration_seconds_sum{{{q}}}") == "2"
    assert _value(text, f"workqueue_longest_running_processor_seconds{{{q}}}") == "0"
    for line in _lines(text):
        assert line.startswith("# ") or SAMPLE.match(line), line


def test_resource_info_only_while_leading_and_forgotten_with_the_object() -> None:
    leading = [True]
    m = Metrics(leading=lambda: leading[0], process=None)
    m.record_object("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", {
        "metadata": {"name": "apps", "namespace": "ns"},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    line = ('gotk_resource_info{customresource_group="kustomize.toolkit.fluxcd.io",'
            'customresource_kind="Kustomization",customresource_version="v1",'
            'exported_namespace="ns",name="apps",suspended="",ready="False",revision="",'
            'source_name=""} 1')
    assert line in _lines(m.render())
    leading[0] = False
    assert "gotk_resource_info{" not in m.render()
    leading[0] = True
    m.forget("Kustomization", "ns", "apps")
    assert "gotk_resource_info{" not in m.render()


def test_process_samples_are_rendered_as_given() -> None:
    m = Metrics(process=lambda: [("process_open_fds", "gauge", "Open fds.", (), 7.0)])
    text = m.render()
    assert "# TYPE process_open_fds gauge" in text
    assert "process_open_fds 7" in _lines(text)


def test_rest_client_requests_by_code_host_and_method() -> None:
    m = Metrics(process=None)
    m.count_request("200", "GET", "127.0.0.1:6443")
    m.count_request("200", "GET", "127.0.0.1:6443")
    m.count_request("<error>", "PATCH", "127.0.0.1:6443")
    lines = _lines(m.render())
    assert "# TYPE rest_client_requests_total counter" in lines
    assert 'rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 2' in lines
    assert ('rest_client_requests_total{code="<error>",host="127.0.0.1:6443",method="PATCH"} 1'
            in lines)


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


# --- memory: one record per object, shared values -----------------------------------------


def _kustomization(name: str, revision: str = "main@sha1:abc") -> dict[str, object]:
    return {"metadata": {"namespace": "apps", "name": name},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "fleet"}},
            "status": {"lastAppliedRevision": revision,
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def test_one_record_per_object_whatever_it_was_told() -> None:
    m = Metrics()
    m.observe_duration("Kustomization", "apps", "a", 0.2)
    m.record_conditions("Kustomization", "apps", "a", [{"type": "Ready", "status": "True"}])
    m.record_suspend("Kustomization", "apps", "a", False)
    m.record_object("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", _kustomization("a"))
    m.record_suspend("Kustomization", "apps", "b", True)
    assert sorted(m._objects) == [("Kustomization", "apps", "a"), ("Kustomization", "apps", "b")]
    b = m._objects[("Kustomization", "apps", "b")]
    assert (b.duration, b.conditions, b.suspended, b.info) == (None, None, True, None)
    m.forget("Kustomization", "apps", "a")
    assert list(m._objects) == [("Kustomization", "apps", "b")]


@pytest.mark.parametrize(("first", "second", "shared"), [
    pytest.param([{"type": "Ready", "status": "True"}], [{"type": "Ready", "status": "True"}],
                 True, id="same-statuses-one-tuple"),
    pytest.param([{"type": "Ready", "status": "True"}],
                 [{"type": "Ready", "status": "True"}, {"type": "Stalled", "status": "False"}],
                 True, id="absent-stalled-equals-false"),
    pytest.param([{"type": "Ready", "status": "True"}], [{"type": "Ready", "status": "False"}],
                 False, id="different-statuses-apart"),
])
def test_condition_statuses_are_shared_between_objects(
        first: list[dict[str, str]], second: list[dict[str, str]], shared: bool) -> None:
    m = Metrics()
    m.record_conditions("Kustomization", "apps", "a", first)
    m.record_conditions("Kustomization", "apps", "b", second)
    a = m._objects[("Kustomization", "apps", "a")].conditions
    b = m._objects[("Kustomization", "apps", "b")].conditions
    assert (a is b) is shared
    assert (a == b) is shared


@pytest.mark.parametrize(("label", "shared"), [
    pytest.param("revision", True, id="revision-shared"),
    pytest.param("source_name", True, id="source-shared"),
    pytest.param("exported_namespace", True, id="namespace-shared"),
    pytest.param("name", False, id="name-own"),
])
def test_resource_info_label_pairs_are_shared_except_the_name(label: str, shared: bool) -> None:
    m = Metrics()
    for name in ("a", "b"):
        m.record_object("kustomize.toolkit.fluxcd.io", "v1", "Kustomization",
                        _kustomization(name))
    a, b = (dict((p[0], p) for p in m._objects[("Kustomization", "apps", n)].info or ())
            for n in ("a", "b"))
    assert (a[label] is b[label]) is shared


def test_shared_values_are_bounded_and_rendering_is_unchanged_beyond() -> None:
    m = Metrics()
    count = SHARED_MAX + 10
    for i in range(count):  # a revision of its own each: more pairs than the bound
        m.record_object("kustomize.toolkit.fluxcd.io", "v1", "Kustomization",
                        _kustomization(f"k{i}", revision=f"main@sha1:{i:040x}"))
    assert len(m._share) == SHARED_MAX
    text = m.render()
    assert text.count("gotk_resource_info{") == count
    last = f"main@sha1:{count - 1:040x}"
    assert f'name="k{count - 1}",suspended="",ready="True",revision="{last}"' in text
