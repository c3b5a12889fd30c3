"""source-controller's cache of parsed Helm indexes (`--helm-cache-max-size`) against the real
parts: a source-controller with the cache and one with Flux's default (0, off) read the same
real HTTPS chart repository. HelmCharts reconciled one after the other on one HelmRepository
read its index once per index revision with the cache (one miss, then hits, in Flux's
`gotk_cache_events_total`), and a new revision is a miss again; without the cache no cache
event is counted and every HelmChart still gets its chart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from source_env import SourceEnv, obj_name, start_source_env

from harness.fixtures_cluster import Cluster
from harness.fixtures_helm import ChartRepoServer, HelmTool

pytestmark = pytest.mark.integration

SAMPLE = re.compile(r"^gotk_cache_events_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$")


@pytest.fixture(scope="module")
def cached(
    cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SourceEnv]:
    yield from start_source_env(
        cluster,
        start_controller,
        tmp_path_factory,
        "idxcache",
        args=("--helm-cache-max-size=10", "--helm-cache-ttl=10m"),
    )


@pytest.fixture(scope="module")
def uncached(
    cluster: Cluster, start_controller: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SourceEnv]:
    yield from start_source_env(cluster, start_controller, tmp_path_factory, "idxnocache")


def cache_events(env: SourceEnv) -> dict[str, float]:
    """event_type -> count over the HelmCharts of the env's namespace."""
    totals: dict[str, float] = {}
    for line in env.controller.metrics().splitlines():
        m = SAMPLE.match(line)
        if m is None:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
        if labels.get("namespace") == env.namespace:
            kind = labels["event_type"]
            totals[kind] = totals.get(kind, 0.0) + float(m["value"])
    return totals


def charts_one_by_one(
    env: SourceEnv, server: ChartRepoServer, url: str, count: int, newest: str
) -> str:
    env.secret("charts-auth", {"username": server.username, "password": server.password})
    env.secret("charts-ca", {"ca.crt": server.ca.ca_cert.read_bytes()})
    repo = env.create(
        "HelmRepository",
        obj_name("repo"),
        {"url": url, "secretRef": {"name": "charts-auth"}, "certSecretRef": {"name": "charts-ca"}},
    )
    env.wait_ready("HelmRepository", repo)
    for _ in range(count):  # one at a time: each load sees what the previous one cached
        name = env.create(
            "HelmChart",
            obj_name(),
            {
                "chart": "cached",
                "version": "1.x",
                "sourceRef": {"kind": "HelmRepository", "name": repo},
            },
        )
        env.wait_ready("HelmChart", name, newest)
    return repo


def test_an_index_is_read_once_per_revision_with_the_cache(
    cached: SourceEnv,
    uncached: SourceEnv,
    helm_tool: HelmTool,
    helm_repo_server: ChartRepoServer,
    tmp_path: Path,
) -> None:
    src, out = tmp_path / "src", tmp_path / "pkg"
    first = helm_tool.package(helm_tool.make_chart(src / "1", "cached", "1.0.0"), out)
    url = helm_repo_server.publish(helm_tool, [first])

    repo = charts_one_by_one(cached, helm_repo_server, url, 3, "1.0.0")
    events = cache_events(cached)  # 3 or more loads (a chart may reconcile twice), 1 read
    assert events.get("miss") == 1.0 and events.get("hit", 0.0) >= 2.0, events

    # a new index revision: the next HelmChart load misses once, then hits again
    second = helm_tool.package(helm_tool.make_chart(src / "2", "cached", "1.1.0"), out)
    directory = helm_repo_server.directory(url)
    (directory / second.name).write_bytes(second.read_bytes())
    helm_tool.run("repo", "index", str(directory), "--url", url.rstrip("/"))
    before = cached.get("HelmRepository", repo)["status"]["artifact"]["revision"]
    cached.request_reconcile("HelmRepository", repo)
    cached.wait_ready(
        "HelmRepository", repo, check=lambda o: o["status"]["artifact"]["revision"] != before
    )
    name = cached.create(
        "HelmChart",
        obj_name(),
        {
            "chart": "cached",
            "version": "1.1.0",
            "sourceRef": {"kind": "HelmRepository", "name": repo},
        },
    )
    cached.wait_ready("HelmChart", name, "1.1.0")
    events = cache_events(cached)
    assert events["miss"] >= 2.0 and events["hit"] >= 2.0, events

    # Flux's default, size 0: no cache, no cache events, the charts all the same
    charts_one_by_one(uncached, helm_repo_server, url, 2, "1.1.0")
    assert cache_events(uncached) == {}
