"""Prometheus metrics of the reconcilers, in the text exposition format (version 0.0.4).

Three families, named and labelled as Flux's controllers publish them so existing
dashboards work:

- `gotk_reconcile_duration_seconds{kind,name,namespace}`: histogram of reconcile time;
- `gotk_reconcile_condition{kind,name,namespace,type,status}`: 1 for the current status of
  `Ready`, `Reconciling` and `Stalled` and 0 for the other statuses (an absent
  negative-polarity condition counts as False);
- `gotk_suspend_status{kind,name,namespace}`: 1 while `spec.suspend` is true.

An operator may add plain counters of its own (`counter()`), such as kustomize-controller's
`afflux_artifact_downloads_total`; they come after the Flux families.

Series of a deleted object are dropped (rather than kept with a `Deleted` status) so they
do not pile up. We write the exposition ourselves instead of depending on
`prometheus_client`: three families need about a hundred lines, and each of the six
operator images stays one dependency lighter. Everything runs on the operator's event loop;
a lock still guards the maps so a scrape from another thread (tests) is safe.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from afflux.api._meta import READY, RECONCILING, STALLED

from ._conditions import FALSE, TRUE, UNKNOWN

DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
CONDITION_TYPES: tuple[str, ...] = (READY, RECONCILING, STALLED)
STATUSES: tuple[str, ...] = (TRUE, FALSE, UNKNOWN)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

ObjectKey = tuple[str, str, str]  # kind, namespace, name


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


def format_labels(labels: Sequence[tuple[str, str]]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels) + "}"


@dataclass
class _Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1


class Metrics:
    """The runtime's metrics registry: record, then `render()` for a scrape."""

    def __init__(self, buckets: Iterable[float] = DEFAULT_BUCKETS) -> None:
        self.buckets = tuple(sorted(float(b) for b in buckets))
        self._lock = threading.Lock()
        self._durations: dict[ObjectKey, _Histogram] = {}
        self._conditions: dict[ObjectKey, dict[str, str]] = {}
        self._suspended: dict[ObjectKey, bool] = {}
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

    def observe_duration(self, kind: str, namespace: str, name: str, seconds: float) -> None:
        with self._lock:
            key = (kind, namespace, name)
            hist = self._durations.get(key)
            if hist is None:
                hist = self._durations[key] = _Histogram(self.buckets)
            hist.observe(seconds)

    def record_conditions(
        self, kind: str, namespace: str, name: str, conditions: Iterable[Mapping[str, Any]]
    ) -> None:
        """Remember the status of Ready/Reconciling/Stalled from a conditions list."""
        found = {c.get("type"): str(c.get("status")) for c in conditions}
        current = {}
        for type_ in CONDITION_TYPES:
            status = found.get(type_)
            if status is None:
                if type_ == READY:
                    status = UNKNOWN
                else:
                    status = FALSE
            current[type_] = status
        with self._lock:
            self._conditions[(kind, namespace, name)] = current

    def record_suspend(self, kind: str, namespace: str, name: str, suspended: bool) -> None:
        with self._lock:
            self._suspended[(kind, namespace, name)] = suspended

    def forget(self, kind: str, namespace: str, name: str) -> None:
        """Drop every series of a deleted object."""
        key = (kind, namespace, name)
        with self._lock:
            self._durations.pop(key, None)
            self._conditions.pop(key, None)
            self._suspended.pop(key, None)
            for family in self._labelled.values():  # labels that start with the object's
                for values in [v for v in family[2] if v[:3] == (kind, namespace, name)]:
                    del family[2][values]

    def render(self) -> str:
        """The whole exposition, families in a fixed order, series sorted."""
        with self._lock:
            durations = {k: (list(h.counts), h.total, h.count) for k, h in self._durations.items()}
            conditions = {k: dict(v) for k, v in self._conditions.items()}
            suspended = dict(self._suspended)
            counters = {k: tuple(v) for k, v in self._counters.items()}
            labelled = {k: (v[0], v[1], dict(v[2])) for k, v in self._labelled.items()}
        lines: list[str] = []
        name = "gotk_reconcile_duration_seconds"
        lines.append(f"# HELP {name} The duration in seconds of a GitOps Toolkit "
                     "resource reconciliation.")
        lines.append(f"# TYPE {name} histogram")
        for key in sorted(durations):
            counts, total, count = durations[key]
            base = _object_labels(key)
            for bound, n in zip(self.buckets, counts, strict=True):
                labels = format_labels([*base, ("le", format_value(bound))])
                lines.append(f"{name}_bucket{labels} {n}")
            lines.append(f"{name}_bucket{format_labels([*base, ('le', '+Inf')])} {count}")
            lines.append(f"{name}_sum{format_labels(base)} {format_value(total)}")
            lines.append(f"{name}_count{format_labels(base)} {count}")
        name = "gotk_reconcile_condition"
        lines.append(f"# HELP {name} The current condition status of a GitOps Toolkit "
                     "resource reconciliation.")
        lines.append(f"# TYPE {name} gauge")
        for key in sorted(conditions):
            for type_ in CONDITION_TYPES:
                current = conditions[key].get(type_)
                for status in STATUSES:
                    labels = format_labels([*_object_labels(key), ("type", type_),
                                            ("status", status)])
                    lines.append(f"{name}{labels} {1 if status == current else 0}")
        name = "gotk_suspend_status"
        lines.append(f"# HELP {name} The current suspend status of a GitOps Toolkit resource.")
        lines.append(f"# TYPE {name} gauge")
        for key in sorted(suspended):
            lines.append(f"{name}{format_labels(_object_labels(key))} {int(suspended[key])}")
        for name in sorted(counters):
            help_text, value = counters[name]
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} counter")
            lines.append(f"{name} {format_value(value)}")
        for name in sorted(labelled):
            help_text, label_names, series = labelled[name]
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} counter")
            for values in sorted(series):
                labels = format_labels(list(zip(label_names, values, strict=True)))
                lines.append(f"{name}{labels} {format_value(series[values])}")
        return "\n".join(lines) + "\n"


def _object_labels(key: ObjectKey) -> list[tuple[str, str]]:
    kind, namespace, name = key
    return [("kind", kind), ("name", name), ("namespace", namespace)]
