"""Common flag parsing."""

from __future__ import annotations

import argparse

import pytest

from afflux.controllers.runtime import parse_options
from afflux.controllers.runtime._options import parse_addr


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNTIME_NAMESPACE", raising=False)
    o = parse_options("source-controller", [])
    assert o.name == "source-controller"
    assert o.watch_all_namespaces is True and o.namespace == "flux-system"
    assert o.concurrent == 4 and o.requeue_dependency == 30.0
    assert o.no_cross_namespace_refs is False and o.default_service_account == ""
    assert (o.log_level, o.log_encoding) == ("info", "json")
    assert o.enable_leader_election is False and o.kubeconfig is None
    assert (o.metrics_addr, o.health_addr) == (":8080", ":9440")


def test_runtime_namespace_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME_NAMESPACE", "gitops")
    assert parse_options("c", []).namespace == "gitops"


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["--watch-all-namespaces=false"], "watch_all_namespaces", False),
        (["--watch-all-namespaces"], "watch_all_namespaces", True),
        (["--no-cross-namespace-refs"], "no_cross_namespace_refs", True),
        (["--no-cross-namespace-refs=true"], "no_cross_namespace_refs", True),
        (["--enable-leader-election"], "enable_leader_election", True),
        (["--enable-leader-election=0"], "enable_leader_election", False),
        (["--concurrent=10"], "concurrent", 10),
        (["--requeue-dependency", "5s"], "requeue_dependency", 5.0),
        (["--requeue-dependency=1m30s"], "requeue_dependency", 90.0),
        (["--namespace=apps"], "namespace", "apps"),
        (["--default-service-account=deployer"], "default_service_account", "deployer"),
        (["--log-level=DEBUG"], "log_level", "debug"),
        (["--log-encoding=console"], "log_encoding", "console"),
        (["--kubeconfig=/tmp/kc"], "kubeconfig", "/tmp/kc"),
        (["--metrics-addr=127.0.0.1:0"], "metrics_addr", "127.0.0.1:0"),
        (["--health-addr=0"], "health_addr", "0"),
        (["--interval-jitter-percentage=10"], "interval_jitter_percentage", 10.0),
        (["--min-retry-delay=1s", "--max-retry-delay=5m"], "max_retry_delay", 300.0),
        ([], "kube_api_qps", 50.0),
        ([], "kube_api_burst", 300),
        (["--kube-api-qps=2.5"], "kube_api_qps", 2.5),
        (["--kube-api-burst=7"], "kube_api_burst", 7),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_flags(argv: list[str], field: str, value: object) -> None:
    assert getattr(parse_options("c", argv), field) == value


@pytest.mark.parametrize("argv", [
    ["--concurrent=0"], ["--requeue-dependency=soon"], ["--watch-all-namespaces=maybe"],
    ["--log-level=loud"], ["--log-encoding=xml"], ["--metrics-addr=8080"],
    ["--interval-jitter-percentage=150"], ["--unknown-flag"], ["--kube-api-qps=fast"],
    ["--kube-api-burst=1.5"],
])
def test_invalid_flags_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_options("c", argv)


def test_operator_specific_flags_land_in_extra() -> None:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--storage-path", default="/data")

    o = parse_options("source-controller", ["--storage-path=/tmp/s", "--concurrent=2"], add)
    assert o.extra.storage_path == "/tmp/s" and o.concurrent == 2


@pytest.mark.parametrize(("text", "addr"), [
    (":8080", ("0.0.0.0", 8080)), ("127.0.0.1:9440", ("127.0.0.1", 9440)),
    ("[::1]:80", ("::1", 80)), ("0", None),
])
def test_parse_addr(text: str, addr: tuple[str, int] | None) -> None:
    assert parse_addr(text) == addr
