"""`afflux report` output: delivery metrics as a table, JSON, Markdown, or Prometheus text
(pure, no I/O).

The Prometheus form is the text exposition format for node-exporter's textfile collector
(or any scraper of a file): one gauge family per figure, labelled by kind, namespace, name
and the window, so the same numbers the table shows can be graphed and alerted on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from ._dora import Figures
from ._format import human_duration, render_table

__all__ = ["OUTPUTS", "Row", "render"]

OUTPUTS = ("text", "json", "markdown", "prometheus")
HEADERS = ["KIND", "NAMESPACE", "NAME", "DEPLOYS", "PER DAY", "LEAD TIME (MEDIAN)",
           "CHANGE FAILURE RATE", "TIME TO RESTORE (MEDIAN)", "FAILING SINCE"]


@dataclass
class Row:
    kind: str
    namespace: str
    name: str
    figures: Figures


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else human_duration(seconds)


def _rate(f: Figures) -> str:
    if f.change_failure_rate is None:
        return "-"
    return f"{f.change_failure_rate * 100:.0f}% ({f.failed_changes}/{f.changes})"


def _cells(row: Row) -> list[str]:
    f = row.figures
    return [row.kind, row.namespace, row.name, str(f.deployments),
            f"{f.deployment_frequency:.2f}", _duration(f.lead_time_median), _rate(f),
            _duration(f.time_to_restore_median),
            f.failing_since.strftime("%Y-%m-%dT%H:%M:%SZ") if f.failing_since else "-"]


def render(rows: Sequence[Row], output: str, window: str) -> str:
    if output == "json":
        return _json(rows, window)
    if output == "markdown":
        return _markdown(rows, window)
    if output == "prometheus":
        return _prometheus(rows, window)
    return render_table(HEADERS, [_cells(r) for r in rows])


def _jsonable(value: object) -> object:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value


def _json(rows: Sequence[Row], window: str) -> str:
    items = []
    for r in rows:
        figures = {k: _jsonable(v) for k, v in asdict(r.figures).items()}
        items.append({"kind": r.kind, "namespace": r.namespace, "name": r.name, **figures})
    return json.dumps({"window": window, "items": items}, indent=2) + "\n"


def _markdown(rows: Sequence[Row], window: str) -> str:
    out = [f"### Delivery metrics over the last {window}\n\n",
           "| " + " | ".join(h.title() for h in HEADERS) + " |\n",
           "| " + " | ".join("---" for _ in HEADERS) + " |\n"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |\n"
            for r in rows]
    return "".join(out)


_GAUGES = (
    ("afflux_delivery_deployments", "revisions first applied in the window", "deployments"),
    ("afflux_delivery_deployment_frequency_per_day", "deployments per day",
     "deployment_frequency"),
    ("afflux_delivery_lead_time_median_seconds",
     "median time from commit to applied, of the deployments in the window",
     "lead_time_median"),
    ("afflux_delivery_lead_time_max_seconds", "largest commit-to-applied time in the window",
     "lead_time_max"),
    ("afflux_delivery_changes", "revisions attempted in the window", "changes"),
    ("afflux_delivery_failed_changes", "attempted revisions that failed or were remediated",
     "failed_changes"),
    ("afflux_delivery_change_failure_ratio", "failed changes / changes",
     "change_failure_rate"),
    ("afflux_delivery_failures", "failed runs in the window", "failures"),
    ("afflux_delivery_remediations", "rollbacks and uninstalls in the window",
     "remediations"),
    ("afflux_delivery_time_to_restore_median_seconds",
     "median time from a failure to the next success", "time_to_restore_median"),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _prometheus(rows: Sequence[Row], window: str) -> str:
    out: list[str] = []
    for metric, text, attr in _GAUGES:
        out += [f"# HELP {metric} {text}\n", f"# TYPE {metric} gauge\n"]
        for r in rows:
            value = getattr(r.figures, attr)
            if value is None:
                continue
            labels = (f'kind="{_escape(r.kind)}",namespace="{_escape(r.namespace)}",'
                      f'name="{_escape(r.name)}",window="{_escape(window)}"')
            out.append(f"{metric}{{{labels}}} {float(value):g}\n")
    return "".join(out)
