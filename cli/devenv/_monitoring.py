"""Prometheus file-based discovery for operators run as local processes.

The operators of `afflux dev up` (and of the test harness) listen for `/metrics` on free
loopback ports; `prometheus_targets` turns their ports into a `file_sd_configs` target
list that config/monitoring/prometheus.yaml reads. Each target carries the labels a
Pod scraped in the cluster would get (`namespace`, `pod`, `app`, `container`), so the
same queries work on both: in particular the object's own `namespace` label of
`gotk_reconcile_duration_seconds` becomes `exported_namespace`, as Flux's dashboards expect.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TARGETS_FILE = "prometheus-targets.json"


def prometheus_targets(ports: Mapping[str, int], namespace: str = "flux-system"
                       ) -> list[dict[str, Any]]:
    """One target group per operator (name -> metrics port), in name order."""
    return [
        {"targets": [f"127.0.0.1:{port}"],
         "labels": {"namespace": namespace, "pod": f"{name}-local", "app": name,
                    "container": "manager"}}
        for name, port in sorted(ports.items())
    ]


def write_targets(path: Path, ports: Mapping[str, int], namespace: str = "flux-system") -> None:
    """Write the target list atomically (Prometheus re-reads the file when it changes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(prometheus_targets(ports, namespace), indent=2) + "\n")
    os.replace(tmp, path)
