"""Prometheus metrics of the reconcilers, in the text exposition format (version 0.0.4).

The families are named and labelled as Flux's controllers (and the controller-runtime
library they are built on) publish them, so Flux's dashboards and alert rules work:

- `gotk_reconcile_duration_seconds{kind,name,namespace}`: histogram of reconcile time;
- `gotk_reconcile_condition{kind,name,namespace,type,status}`: 1 for the current status of
  `Ready`, `Reconciling` and `Stalled` and 0 for the other statuses (an absent
  negative-polarity condition counts as False); Flux 1.x-era dashboards read it;
- `gotk_suspend_status{kind,name,namespace}`: 1 while `spec.suspend` is true;
- `gotk_resource_info{customresource_kind,exported_namespace,name,ready,suspended,...}`:
  1 per object, the series Flux 2.x gets from kube-state-metrics (`_resource_info`);
  only while this process leads (a standby replica would double every count);
- `controller_runtime_reconcile_total{controller,result}` (`result`: success, error,
  requeue_after), `controller_runtime_reconcile_errors_total{controller}`,
  `controller_runtime_reconcile_time_seconds{controller}` (histogram),
  `controller_runtime_active_workers{controller}`,
  `controller_runtime_max_concurrent_reconciles{controller}`; `controller` is the kind in
  lower case (`kustomization`, `gitrepository`, ...), as Flux's controllers name theirs;
- `workqueue_depth`, `workqueue_adds_total`, `workqueue_retries_total`,
  `workqueue_queue_duration_seconds` and `workqueue_work_duration_seconds` (histograms),
  `workqueue_unfinished_work_seconds`, `workqueue_longest_running_processor_seconds`,
  labelled `{controller,name}` with the same value: afflux has no work queue, so "queued"
  means an object is due and waits for one of the `--concurrent` slots, and "work" is one
  reconcile (or finalize) run;
- `rest_client_requests_total{code,host,method}`: the requests of the runtime's
  Kubernetes client to the operator's cluster (`code` is `<error>` when no response came);
  kopf's watches and the clients of impersonated or remote clusters are not counted;
- `process_*` (CPU seconds, resident and virtual memory, open and max file descriptors,
  start time) and `python_info`, as Prometheus client libraries print them (`_process`).
  There is no `go_*` family: the operators are not Go programs.

An operator may add plain counters of its own (`counter()`), such as kustomize-controller's
`afflux_artifact_downloads_total`; they come after the Flux families.

Series of a deleted object are dropped (rather than kept with a `Deleted` status) so they
do not pile up. We write the exposition ourselves instead of depending on
`prometheus_client`: these families need a few hundred lines, and each of the six
operator images stays one dependency lighter. Everything runs on the operator's event loop;
a lock still guards the maps so a scrape from another thread (tests) is safe.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from afflux.api._meta import READY, RECONCILING, STALLED

from ._conditions import FALSE, TRUE, UNKNOWN
from ._interner import Interner
from ._process import Sample, process_samples
from ._resource_info import resource_info_labels

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: controller_runtime_reconcile_time_seconds' buckets (controller-runtime's own set).
RECONCILE_TIME_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7,
    0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20,
    25, 30, 40, 50, 60)
#: workqueue_*_duration_seconds' buckets (powers of ten from 1µs to 1000s).
WORKQUEUE_BUCKETS: tuple[float, ...] = tuple(10.0 ** e for e in range(-6, 4))
CONDITION_TYPES: tuple[str, ...] = (READY, RECONCILING, STALLED)
STATUSES: tuple[str, ...] = (TRUE, FALSE, UNKNOWN)
RESULTS: tuple[str, ...] = ("success", "error", "requeue", "requeue_after")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ObjectKey = tuple[str, str, str]  # kind, namespace, name
Labels = Sequence[tuple[str, str]]


def format_value(value: float) -> str:
    """A sample value or bucket bound as Prometheus prints them."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels) + "}"


def _status_or_default(status: str | None, type_: str) -> str:
    """An absent condition's status for the gauge: Ready Unknown, the others False."""
    if status is not None:
        return status
    return UNKNOWN if type_ == READY else FALSE


def controller_name(kind: str) -> str:
    """The `controller` label of a kind: its name in lower case, as Flux names them."""
    return kind.lower()


@dataclass(slots=True)
class _Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def copy(self) -> _Histogram:
        return _Histogram(self.bounds, list(self.counts), self.total, self.count)


@dataclass(slots=True)
class _ObjectSeries:
    """All the per-object series of one object, in one record under one key (rather than a
    map per family, each with its own key tuple): memory per object is what limits how
    many objects an operator holds. `conditions` and the label pairs of `info` are shared
    between objects (an `Interner`); None: not recorded (yet)."""

    duration: _Histogram | None = None
    conditions: tuple[str, ...] | None = None  # the statuses of CONDITION_TYPES, in order
    suspended: bool | None = None
    info: tuple[tuple[str, str], ...] | None = None


#: most shared values (condition statuses, label pairs) a `Metrics` keeps: a bound, so
#: that values unique to each object (or a churn of them) cannot grow the table for ever
SHARED_MAX = 4096
#: resource-info labels whose values are each object's own: never shared
_OWN_LABELS = frozenset({"name"})


@dataclass
class _ControllerStats:
    """controller_runtime_* and workqueue_* state of one controller (kind)."""

    max_concurrent: int = 0
    results: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))
    errors: int = 0
    reconcile_time: _Histogram = field(
        default_factory=lambda: _Histogram(RECONCILE_TIME_BUCKETS))
    depth: int = 0
    adds: int = 0
    retries: int = 0
    queue_duration: _Histogram = field(default_factory=lambda: _Histogram(WORKQUEUE_BUCKETS))
    work_duration: _Histogram = field(default_factory=lambda: _Histogram(WORKQUEUE_BUCKETS))
    running: dict[int, float] = field(default_factory=dict)  # token -> start time

    def copy(self) -> _ControllerStats:
        return _ControllerStats(
            self.max_concurrent, dict(self.results), self.errors, self.reconcile_time.copy(),
            self.depth, self.adds, self.retries, self.queue_duration.copy(),
            self.work_duration.copy(), dict(self.running))


@dataclass(frozen=True)
class Work:
    """One run in flight, from `Metrics.begin_work` to `Metrics.end_work`."""

    controller: str
    token: int
    started: float


class Metrics:
    """The runtime's metrics registry: record, then `render()` for a scrape.

    `leading()` says whether this process leads (`gotk_resource_info` is printed only
    then); `clock` is monotonic seconds; `process` gives the `process_*` samples."""

    def __init__(
        self,
        buckets: Iterable[float] = DEFAULT_BUCKETS,
        *,
        leading: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.monotonic,
        process: Callable[[], list[Sample]] | None = process_samples,
    ) -> None:
        self.buckets = tuple(sorted(float(b) for b in buckets))
        self.leading = leading
        self._clock = clock
        self._process = process
        self._lock = threading.Lock()
        self._objects: dict[ObjectKey, _ObjectSeries] = {}
        self._share = Interner(SHARED_MAX)  # condition statuses, label pairs
        self._controllers: dict[str, _ControllerStats] = {}
        self._tokens = itertools.count(1)
        self._requests: dict[tuple[str, str, str], int] = {}  # (code, host, method) -> n
        self._counters: dict[str, list[Any]] = {}  # name -> [help, value]
        # name -> [help, label names, {label values: value}]
        self._labelled: dict[str, list[Any]] = {}

    def counter(self, name: str, help_text: str) -> Callable[[float], None]:
        """Register a plain counter of the operator's own (rendered after the Flux families);
        returns the function that adds to it."""
        with self._lock:
            self._counters.setdefault(name, [help_text, 0.0])

        def inc(amount: float = 1.0) -> None:
            with self._lock:
                self._counters[name][1] += amount

        return inc

    def labelled_counter(self, name: str, help_text: str, label_names: Sequence[str]
                         ) -> Callable[..., None]:
        """Register a counter with labels; returns `inc(*label_values, amount=1.0)`. When
        its first labels are kind, namespace and name, `forget` drops the object's series."""
        with self._lock:
            self._labelled.setdefault(name, [help_text, tuple(label_names), {}])

        def inc(*values: str, amount: float = 1.0) -> None:
            with self._lock:
                series = self._labelled[name][2]
                key = tuple(str(v) for v in values)
                series[key] = series.get(key, 0.0) + amount

        return inc

    # --- per object ------------------------------------------------------------------

    def _series(self, key: ObjectKey) -> _ObjectSeries:
        """The object's record (created on first use); call it with the lock held."""
        series = self._objects.get(key)
        if series is None:
            series = self._objects[key] = _ObjectSeries()
        return series

    def observe_duration(self, kind: str, namespace: str, name: str, seconds: float) -> None:
        with self._lock:
            series = self._series((kind, namespace, name))
            if series.duration is None:
                series.duration = _Histogram(self.buckets)
            series.duration.observe(seconds)

    def record_conditions(
        self, kind: str, namespace: str, name: str, conditions: Iterable[Mapping[str, Any]]
    ) -> None:
        """Remember the status of Ready/Reconciling/Stalled from a conditions list."""
        found = {c.get("type"): str(c.get("status")) for c in conditions}
        current = tuple(_status_or_default(found.get(type_), type_)
                        for type_ in CONDITION_TYPES)
        with self._lock:
            self._series((kind, namespace, name)).conditions = self._share(current)

    def record_suspend(self, kind: str, namespace: str, name: str, suspended: bool) -> None:
        with self._lock:
            self._series((kind, namespace, name)).suspended = suspended

    def record_object(self, group: str, version: str, kind: str,
                      body: Mapping[str, Any]) -> None:
        """Remember the object's `gotk_resource_info` labels from its latest body."""
        meta = body.get("metadata") or {}
        key = (kind, meta.get("namespace") or "", meta.get("name") or "")
        labels = resource_info_labels(group, version, kind, body)
        with self._lock:
            self._series(key).info = tuple(
                pair if pair[0] in _OWN_LABELS else self._share(pair) for pair in labels)

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """Drop every series of a deleted object."""
        key = (kind, namespace, name)
        with self._lock:
            self._objects.pop(key, None)
            for family in self._labelled.values():  # labels that start with the object's
                for values in [v for v in family[2] if v[:3] == (kind, namespace, name)]:
                    del family[2][values]

    # --- per controller (controller_runtime_*, workqueue_*) ----------------------------

    def _stats(self, controller: str) -> _ControllerStats:
        stats = self._controllers.get(controller)
        if stats is None:
            stats = self._controllers[controller] = _ControllerStats()
        return stats

    def set_max_concurrent(self, controller: str, value: int) -> None:
        with self._lock:
            self._stats(controller).max_concurrent = value

    def enqueue(self, controller: str) -> float:
        """An object is due and waits for a slot; returns the time it started waiting."""
        with self._lock:
            stats = self._stats(controller)
            stats.depth += 1
            stats.adds += 1
        return self._clock()

    def dequeue(self, controller: str, enqueued: float) -> None:
        """The waiting object got its slot."""
        waited = max(self._clock() - enqueued, 0.0)
        with self._lock:
            stats = self._stats(controller)
            stats.depth -= 1
            stats.queue_duration.observe(waited)

    def begin_work(self, controller: str) -> Work:
        """A reconcile (or finalize) run starts."""
        work = Work(controller, next(self._tokens), self._clock())
        with self._lock:
            self._stats(controller).running[work.token] = work.started
        return work

    def end_work(self, work: Work, result: str) -> None:
        """The run ended with `result` (one of `RESULTS`; `error` counts a retry too)."""
        seconds = max(self._clock() - work.started, 0.0)
        with self._lock:
            stats = self._stats(work.controller)
            stats.running.pop(work.token, None)
            stats.results[result] = stats.results.get(result, 0) + 1
            if result == "error":
                stats.errors += 1
                stats.retries += 1
            stats.reconcile_time.observe(seconds)
            stats.work_duration.observe(seconds)

    def count_request(self, code: str, method: str, host: str) -> None:
        """One request of the runtime's Kubernetes client (any thread)."""
        with self._lock:
            key = (code, host, method)
            self._requests[key] = self._requests.get(key, 0) + 1

    # --- the exposition ----------------------------------------------------------------

    def render(self) -> str:
        """The whole exposition, families in a fixed order, series sorted."""
        leading = self.leading()
        with self._lock:
            objects = self._objects
            durations = {k: s.duration.copy() for k, s in objects.items()
                         if s.duration is not None}
            conditions = {k: s.conditions for k, s in objects.items()
                          if s.conditions is not None}
            suspended = {k: s.suspended for k, s in objects.items() if s.suspended is not None}
            info = ({k: s.info for k, s in objects.items() if s.info is not None}
                    if leading else {})
            controllers = {k: v.copy() for k, v in self._controllers.items()}
            counters = {k: tuple(v) for k, v in self._counters.items()}
            labelled = {k: (v[0], v[1], dict(v[2])) for k, v in self._labelled.items()}
            requests = dict(self._requests)
        now = self._clock()
        out: list[str] = []
        _header(out, "gotk_reconcile_duration_seconds", "histogram",
                "The duration in seconds of a GitOps Toolkit resource reconciliation.")
        for key in sorted(durations):
            _histogram(out, "gotk_reconcile_duration_seconds", _object_labels(key),
                       durations[key])
        _header(out, "gotk_reconcile_condition", "gauge",
                "The current condition status of a GitOps Toolkit resource reconciliation.")
        for key in sorted(conditions):
            for type_, current in zip(CONDITION_TYPES, conditions[key], strict=True):
                for status in STATUSES:
                    _sample(out, "gotk_reconcile_condition",
                            [*_object_labels(key), ("type", type_), ("status", status)],
                            1 if status == current else 0)
        _header(out, "gotk_suspend_status", "gauge",
                "The current suspend status of a GitOps Toolkit resource.")
        for key in sorted(suspended):
            _sample(out, "gotk_suspend_status", _object_labels(key), int(suspended[key]))
        _header(out, "gotk_resource_info", "gauge",
                "The current state of a GitOps Toolkit resource.")
        for key in sorted(info):
            _sample(out, "gotk_resource_info", info[key], 1)
        _render_controllers(out, controllers, now)
        _header(out, "rest_client_requests_total", "counter",
                "Number of HTTP requests, partitioned by status code, method, and host.")
        for (code, host, method), n in sorted(requests.items()):
            _sample(out, "rest_client_requests_total",
                    [("code", code), ("host", host), ("method", method)], n)
        if self._process is not None:
            _render_process(out, self._process())
        for name in sorted(counters):
            help_text, value = counters[name]
            _header(out, name, "counter", help_text)
            _sample(out, name, (), value)
        for name in sorted(labelled):
            help_text, label_names, series = labelled[name]
            _header(out, name, "counter", help_text)
            for values in sorted(series):
                _sample(out, name, list(zip(label_names, values, strict=True)), series[values])
        return "\n".join(out) + "\n"


def _render_controllers(out: list[str], controllers: Mapping[str, _ControllerStats],
                        now: float) -> None:
    names = sorted(controllers)

    def by_controller(family: str, type_: str, help_text: str,
                      value: Callable[[_ControllerStats], float],
                      extra: Callable[[str], Labels] = lambda c: [("controller", c)]) -> None:
        _header(out, family, type_, help_text)
        for c in names:
            _sample(out, family, extra(c), value(controllers[c]))

    def queue(c: str) -> Labels:
        return [("controller", c), ("name", c)]

    _header(out, "controller_runtime_reconcile_total", "counter",
            "Total number of reconciliations per controller.")
    for c in names:
        for result in sorted(controllers[c].results):
            _sample(out, "controller_runtime_reconcile_total",
                    [("controller", c), ("result", result)], controllers[c].results[result])
    by_controller("controller_runtime_reconcile_errors_total", "counter",
                  "Total number of reconciliation errors per controller.", lambda s: s.errors)
    _header(out, "controller_runtime_reconcile_time_seconds", "histogram",
            "Length of time per reconciliation per controller.")
    for c in names:
        _histogram(out, "controller_runtime_reconcile_time_seconds", [("controller", c)],
                   controllers[c].reconcile_time)
    by_controller("controller_runtime_active_workers", "gauge",
                  "Number of currently used workers per controller.",
                  lambda s: len(s.running))
    by_controller("controller_runtime_max_concurrent_reconciles", "gauge",
                  "Maximum number of concurrent reconciles per controller.",
                  lambda s: s.max_concurrent)
    by_controller("workqueue_depth", "gauge", "Current depth of the work queue.",
                  lambda s: s.depth, queue)
    by_controller("workqueue_adds_total", "counter",
                  "Total number of adds handled by the work queue.", lambda s: s.adds, queue)
    by_controller("workqueue_retries_total", "counter",
                  "Total number of retries handled by the work queue.",
                  lambda s: s.retries, queue)
    for family, attr, help_text in (
            ("workqueue_queue_duration_seconds", "queue_duration",
             "How long in seconds an item stays in the work queue before being requested."),
            ("workqueue_work_duration_seconds", "work_duration",
             "How long in seconds processing an item from the work queue takes.")):
        _header(out, family, "histogram", help_text)
        for c in names:
            _histogram(out, family, queue(c), getattr(controllers[c], attr))
    by_controller("workqueue_unfinished_work_seconds", "gauge",
                  "How many seconds of work has been done that is in progress.",
                  lambda s: sum(max(now - t, 0.0) for t in s.running.values()), queue)
    by_controller("workqueue_longest_running_processor_seconds", "gauge",
                  "How many seconds the longest running processor has been running.",
                  lambda s: max((max(now - t, 0.0) for t in s.running.values()), default=0.0),
                  queue)


def _render_process(out: list[str], samples: list[Sample]) -> None:
    for name, type_, help_text, labels, value in samples:
        _header(out, name, type_, help_text)
        _sample(out, name, labels, value)


def _header(out: list[str], name: str, type_: str, help_text: str) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {type_}")


def _sample(out: list[str], name: str, labels: Labels, value: float) -> None:
    out.append(f"{name}{format_labels(labels)} {format_value(value)}")


def _histogram(out: list[str], name: str, base: Labels, hist: _Histogram) -> None:
    for bound, n in zip(hist.bounds, hist.counts, strict=True):
        _sample(out, f"{name}_bucket", [*base, ("le", format_value(bound))], n)
    _sample(out, f"{name}_bucket", [*base, ("le", "+Inf")], hist.count)
    _sample(out, f"{name}_sum", base, hist.total)
    _sample(out, f"{name}_count", base, hist.count)


def _object_labels(key: ObjectKey) -> list[tuple[str, str]]:
    kind, namespace, name = key
    return [("kind", kind), ("name", name), ("namespace", namespace)]
