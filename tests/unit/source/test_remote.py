"""What the OCI, Helm and Bucket reconcilers read from Secrets and ServiceAccounts (against
the in-memory Kubernetes fake), and the thread timeout."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from runtime.fakes import FakeKube  # tests/unit is on sys.path (rootdir-relative import)

import afflux.controllers.source._remote as remote
from afflux.controllers.runtime import GenericError, Resource
from afflux.controllers.runtime._dockerconfig import RegistryCredentials
from afflux.controllers.source._remote import (
    SERVICE_ACCOUNTS,
    basic_auth,
    proxy_address,
    registry_credentials,
    registry_provider_refusal,
    run_blocking,
    tls_material,
)
from afflux.controllers.source._transport import TLSMaterial

SECRETS = Resource("", "v1", "Secret", "secrets")
NS = "apps"


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def ctx_with(*secrets: tuple[str, dict[str, str]], accounts: dict[str, Any] | None = None
             ) -> Any:
    kube = FakeKube()
    for name, data in secrets:
        kube.put(SECRETS, {"apiVersion": "v1", "kind": "Secret",
                           "metadata": {"name": name, "namespace": NS},
                           "data": {k: b64(v) for k, v in data.items()}})
    for name, body in (accounts or {}).items():
        kube.put(SERVICE_ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                    "metadata": {"name": name, "namespace": NS}, **body})
    return SimpleNamespace(kube=kube, namespace=NS)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


DOCKER = json.dumps({"auths": {"reg.example.com:5000": {"auth": b64("u:p")}}})


@pytest.mark.parametrize(
    ("data", "host", "expected"),
    [
        pytest.param({".dockerconfigjson": DOCKER}, "reg.example.com:5000",
                     RegistryCredentials(username="u", password="p"), id="dockerconfigjson"),
        pytest.param({".dockerconfigjson": DOCKER}, "other.example.com", None,
                     id="dockerconfigjson-other-host"),
        pytest.param({"username": "a", "password": "b"}, "any",
                     RegistryCredentials(username="a", password="b"), id="username-password"),
    ],
)
def test_registry_credentials_from_a_secret(data, host: str, expected) -> None:
    ctx = ctx_with(("creds", data))
    assert run(registry_credentials(ctx, host, "creds")) == expected


@pytest.mark.parametrize(
    ("secrets", "name", "message"),
    [
        pytest.param((), "absent", "not found", id="missing-secret"),
        pytest.param((("odd", {"token": "x"}),), "odd", "neither", id="no-known-keys"),
        pytest.param((("bad", {".dockerconfigjson": "{nope"}),), "bad", "not valid JSON",
                     id="broken-json"),
    ],
)
def test_registry_credentials_errors(secrets, name: str, message: str) -> None:
    with pytest.raises(GenericError, match=message) as err:
        run(registry_credentials(ctx_with(*secrets), "h", name))
    assert err.value.reason == "AuthenticationFailed"


def test_registry_credentials_from_service_account_pull_secrets() -> None:
    ctx = ctx_with(("pull", {".dockerconfigjson": DOCKER}),
                   accounts={"puller": {"imagePullSecrets": [{"name": "pull"}]}})
    creds = run(registry_credentials(ctx, "reg.example.com:5000", None, "puller"))
    assert creds == RegistryCredentials(username="u", password="p")
    assert run(registry_credentials(ctx, "elsewhere", None, "puller")) is None
    with pytest.raises(GenericError, match="service account"):
        run(registry_credentials(ctx, "h", None, "nobody"))
    assert run(registry_credentials(ctx, "h", None, None)) is None


def test_basic_auth() -> None:
    ctx = ctx_with(("ok", {"username": "u", "password": "p"}), ("half", {"username": "u"}),
                   ("tls-only", {"ca.crt": "x"}))
    assert run(basic_auth(ctx, "ok")) == ("u", "p")
    assert run(basic_auth(ctx, None)) == (None, None)
    assert run(basic_auth(ctx, "tls-only")) == (None, None)
    with pytest.raises(GenericError, match="both 'username' and 'password'"):
        run(basic_auth(ctx, "half"))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"address": "http://proxy:3128"}, "http://proxy:3128", id="address"),
        pytest.param({"address": "http://proxy:3128", "username": "a b", "password": "p@ss"},
                     "http://a%20b:p%40ss@proxy:3128", id="with-userinfo"),
    ],
)
def test_proxy_address(data, expected: str) -> None:
    assert run(proxy_address(ctx_with(("proxy", data)), "proxy")) == expected


def test_proxy_address_needs_a_url() -> None:
    with pytest.raises(GenericError, match="'address' must be"):
        run(proxy_address(ctx_with(("proxy", {"address": "proxy:3128"})), "proxy"))


def test_tls_material() -> None:
    ctx = ctx_with(("ca", {"ca.crt": "PEM"}), ("half", {"tls.crt": "C"}))
    assert run(tls_material(ctx, "ca")) == TLSMaterial(ca=b"PEM")
    assert run(tls_material(ctx, None)) is None
    with pytest.raises(GenericError, match="'tls.crt' and 'tls.key'"):
        run(tls_material(ctx, "half"))


def test_run_blocking_times_out_with_the_callers_error() -> None:
    release = threading.Event()

    def timed_out(message: str) -> GenericError:
        release.set()  # let the abandoned thread end, so the loop can shut down
        return GenericError("Slow", message)

    async def main() -> None:
        await run_blocking(0.0, "the slow thing", release.wait, 5, on_timeout=timed_out)

    grace, remote.THREAD_GRACE = remote.THREAD_GRACE, 0.05
    try:
        with pytest.raises(GenericError, match="the slow thing did not finish") as err:
            run(main())
    finally:
        remote.THREAD_GRACE = grace
        release.set()
    assert err.value.reason == "Slow"


@pytest.mark.parametrize(
    ("provider", "refused"),
    [
        pytest.param(None, False, id="unset-is-generic"),
        pytest.param("", False, id="empty-is-generic"),
        pytest.param("generic", False, id="generic"),
        pytest.param("aws", True, id="aws"),
        pytest.param("azure", True, id="azure"),
        pytest.param("gcp", True, id="gcp"),
    ],
)
def test_registry_provider_refusal_says_what_to_use(provider: str | None, refused: bool) -> None:
    message = registry_provider_refusal(provider)
    if not refused:
        assert message is None
        return
    assert message is not None
    assert f"spec.provider '{provider}'" in message
    assert "workload identity" in message and "spec.secretRef" in message
