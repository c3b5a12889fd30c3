"""The pure parts of the aiohttp Kubernetes client: what it sends as a body, which
connections it takes on (the others go to the kubernetes package's client), the
authorization header it takes from the configuration and how often it runs the
configuration's refresh hook."""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import pytest
from kubernetes import client

from afflux.controllers.runtime import _kubeaio
from afflux.controllers.runtime._kube import KubernetesClient
from afflux.controllers.runtime._kubeaio import (
    AioKubeClient,
    ConnectionPool,
    client_for,
    encode_body,
    unsupported,
)
from afflux.controllers.runtime._ratelimit import TokenBucket


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param({"data": {"greeting": "grüß dich"}}, '{"data":{"greeting":"grüß dich"}}',
                 id="compact-utf8"),
    pytest.param([{"op": "remove", "path": "/metadata/finalizers/0"}],
                 '[{"op":"remove","path":"/metadata/finalizers/0"}]', id="json-patch-list"),
    pytest.param({"data": {"when": datetime.date(2024, 1, 2)}}, '{"data":{"when":"2024-01-02"}}',
                 id="yaml-date-as-iso"),
    pytest.param({"t": datetime.datetime(2024, 1, 2, 3, 4, 5)}, '{"t":"2024-01-02T03:04:05"}',
                 id="yaml-datetime-as-iso"),
    pytest.param(b'{"as":"is"}', '{"as":"is"}', id="bytes-unchanged"),
])
def test_encode_body(body: Any, expected: str) -> None:
    assert encode_body(body) == expected.encode()


def test_encode_body_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError, match="set cannot be sent as JSON"):
        encode_body({"data": {1, 2}})


def _configuration(**fields: Any) -> client.Configuration:
    configuration = client.Configuration()
    configuration.host = "https://127.0.0.1:6443"
    configuration.verify_ssl = False
    for name, value in fields.items():
        setattr(configuration, name, value)
    return configuration


@pytest.mark.parametrize(("fields", "lacking"), [
    pytest.param({}, [], id="plain"),
    pytest.param({"api_key": {"authorization": "Bearer t"}}, [], id="token"),
    pytest.param({"tls_server_name": "kubernetes"}, [], id="tls-server-name"),
    pytest.param({"assert_hostname": False}, [], id="no-hostname-check"),
    pytest.param({"proxy": "http://proxy:3128"}, ["a proxy"], id="proxy"),
    pytest.param({"retries": 5}, ["retries"], id="retries"),
    pytest.param({"socket_options": []}, ["socket options"], id="socket-options"),
    pytest.param({"assert_hostname": "other"}, ["assert_hostname"], id="assert-hostname-name"),
])
def test_unsupported(fields: dict[str, Any], lacking: list[str]) -> None:
    assert unsupported(_configuration(**fields)) == lacking


@pytest.mark.parametrize(("fields", "kind"), [
    pytest.param({}, AioKubeClient, id="supported-aiohttp"),
    pytest.param({"proxy": "http://proxy:3128"}, KubernetesClient, id="proxy-falls-back"),
])
def test_client_for_chooses(fields: dict[str, Any], kind: type) -> None:
    bucket = TokenBucket(5, 10)
    kube = client_for(client.ApiClient(_configuration(**fields)), pool=ConnectionPool(),
                      limiter=bucket)
    assert isinstance(kube, kind)
    assert kube.limiter is bucket  # type: ignore[attr-defined]  # --kube-api-qps/-burst
    if isinstance(kube, KubernetesClient):
        kube.close()


def test_fallback_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    _kubeaio._logged.discard("retries")
    api = client.ApiClient(_configuration(retries=3))
    with caplog.at_level("INFO", logger="afflux.runtime.kube"):
        for _ in range(3):
            kube = client_for(api, pool=ConnectionPool())
            assert isinstance(kube, KubernetesClient)
            kube.close()
    assert [r.getMessage() for r in caplog.records] == [
        "Kubernetes connection with retries: using the kubernetes package's client in "
        "worker threads"]


def test_headers_from_the_api_client() -> None:
    api = client.ApiClient(_configuration(api_key={"authorization": "Bearer secret"}))
    api.set_default_header("Impersonate-User", "system:serviceaccount:team:deployer")
    kube = AioKubeClient(api, pool=ConnectionPool())
    assert kube._headers["Impersonate-User"] == "system:serviceaccount:team:deployer"
    assert kube._headers["User-Agent"] == api.user_agent
    assert kube._headers["Accept"] == "application/json"
    assert asyncio.run(kube._authorization()) == "Bearer secret"


def test_refresh_hook_runs_at_most_once_a_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration with a refresh hook (in-cluster token file, exec plugin, remote
    token): the hook runs off the loop, once for the requests of one period, and again
    after it; each request gets the header the last run gave."""
    calls: list[int] = []

    def hook(configuration: client.Configuration) -> None:
        calls.append(1)
        configuration.api_key["authorization"] = f"Bearer token-{len(calls)}"

    configuration = _configuration(api_key={"authorization": "Bearer -"})
    configuration.refresh_api_key_hook = hook
    kube = AioKubeClient(client.ApiClient(configuration), pool=ConnectionPool())
    now = [1000.0]
    monkeypatch.setattr(_kubeaio.time, "monotonic", lambda: now[0])

    async def requests(n: int) -> list[str | None]:
        return list(await asyncio.gather(*(kube._authorization() for _ in range(n))))

    async def periods() -> None:
        assert await requests(5) == ["Bearer token-1"] * 5
        now[0] += _kubeaio.AUTH_REFRESH / 2
        assert await requests(3) == ["Bearer token-1"] * 3
        now[0] += _kubeaio.AUTH_REFRESH
        assert await requests(2) == ["Bearer token-2"] * 2

    asyncio.run(periods())
    assert len(calls) == 2


def test_ssl_context_verification() -> None:
    verified = _kubeaio.ssl_context(_configuration(verify_ssl=True))
    unverified = _kubeaio.ssl_context(_configuration(verify_ssl=False))
    assert verified is not None and verified.check_hostname
    assert unverified is not None and not unverified.check_hostname
    assert _kubeaio.ssl_context(_configuration(host="http://127.0.0.1:8080")) is None


def test_body_is_json_the_api_server_reads() -> None:
    """What goes out parses back to what was given (dates aside)."""
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
            "data": {"a": "1", "list": "[1, 2]"}}
    assert json.loads(encode_body(body)) == body


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param({1: "a", None: "b", 2.5: "c"}, '{"1":"a","null":"b","2.5":"c"}',
                 id="non-string-keys-as-json-writes"),
    pytest.param({"n": 2**70}, '{"n":1180591620717411303424}', id="big-int-by-the-stdlib"),
    pytest.param({"t": datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC)},
                 '{"t":"2024-01-02T03:04:05.000006+00:00"}', id="aware-datetime-as-iso"),
])
def test_encode_body_matches_the_stdlib(body: Any, expected: str) -> None:
    assert encode_body(body) == expected.encode()
    assert json.loads(encode_body(body)) == json.loads(
        json.dumps(body, default=_kubeaio._json_default))


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param(b'{"items":[{"a":1}]}', {"items": [{"a": 1}]}, id="object"),
    pytest.param(b'{"n":1180591620717411303424}', {"n": 2**70}, id="big-int-by-the-stdlib"),
    pytest.param('{"s":"grüß"}'.encode(), {"s": "grüß"}, id="utf8"),
])
def test_decode(raw: bytes, expected: Any) -> None:
    assert _kubeaio.decode(raw) == expected


def test_decode_refuses_what_is_not_json() -> None:
    with pytest.raises(ValueError):
        _kubeaio.decode(b"<html>")
