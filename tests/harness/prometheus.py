"""A real Prometheus (Debian's `prometheus`, installed by hack/install-deps.sh) on a free
loopback port, running config/monitoring/prometheus.yaml with the test's changes: its own
target file, a 1s scrape and evaluation interval, and the rule files it is given.

    prom = Prometheus(directory, config, rules={"alerts.yaml": text}).start()
    prom.query('count(gotk_resource_info)')     # the `data.result` of an instant query
    prom.alerts()                               # the `data.alerts` of /api/v1/alerts
    prom.stop()

A missing binary is an error that says how to install it, never a skip.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from afflux.cli.devenv import free_port, write_targets

from .daemon import Daemon

__all__ = ["Prometheus", "prometheus_binary"]

BINARY = "prometheus"


def prometheus_binary() -> str:
    binary = shutil.which(BINARY)
    if binary is None:
        raise RuntimeError(f"{BINARY} not found: run hack/install-deps.sh (Debian package "
                           "prometheus)")
    return binary


class Prometheus:
    def __init__(self, directory: Path, config: Mapping[str, Any],
                 rules: Mapping[str, str], targets: Mapping[str, int]) -> None:
        self.directory = directory
        self.port = free_port()
        self.targets_file = directory / "targets.json"
        write_targets(self.targets_file, targets)
        for name, text in rules.items():
            (directory / name).write_text(text)
        conf = json.loads(json.dumps(config))  # a deep copy
        conf["global"] = {**conf.get("global", {}), "scrape_interval": "1s",
                          "evaluation_interval": "1s"}
        conf["rule_files"] = list(rules)
        for job in conf["scrape_configs"]:
            for sd in job.get("file_sd_configs") or []:
                sd["files"] = [str(self.targets_file)]
                sd["refresh_interval"] = "1s"
        (directory / "prometheus.yaml").write_text(yaml.safe_dump(conf))
        self.log = directory / "prometheus.log"
        self.daemon = Daemon("prometheus", [
            prometheus_binary(), f"--config.file={directory / 'prometheus.yaml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"], self.log)

    def _get(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body.get("status") == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The result of an instant query (an error names the expression)."""
        try:
            data = self._get("/api/v1/query", query=expr)
        except urllib.error.HTTPError as err:
            raise AssertionError(f"query {expr!r} failed: {err.read().decode()}") from None
        return list(data["result"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/alerts")["alerts"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets")["activeTargets"])

    def start(self) -> Prometheus:
        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready",
                                        timeout=2) as resp:
                return resp.status == 200
        self.daemon.start(ready, 30)
        return self

    def stop(self) -> None:
        self.daemon.stop(grace=15)
