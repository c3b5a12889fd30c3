"""The in-cluster conversion webhook's certificate against the real API server: the keeper
makes the Secret and puts its CA in the caBundle of a CRD whose webhook names the Service;
the webhook serves that certificate for `<service>.<namespace>.svc`; when the certificate
stops fitting (here: a host name missing, as after a renamed Service) it is re-issued by the
same CA and served from the next handshake on, the caBundle unchanged; and a caBundle
someone removed is put back. The check interval is shortened for the test."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import socket
import ssl
import string
import threading
from collections.abc import Iterator

import pytest
import yaml
from cryptography import x509

from afflux.api._servingcert import Authority, issue
from afflux.controllers.runtime import _conversion
from afflux.controllers.runtime._convcert import CertificateKeeper, service_hosts
from afflux.controllers.runtime._conversion import ConversionServer
from afflux.controllers.runtime._kube import KubernetesClient
from harness.fixtures_cluster import Cluster
from harness.wait import eventually

pytestmark = pytest.mark.integration

KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io", "Kustomization")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def crd(cluster: Cluster, namespace: str) -> Iterator[str]:
    plural = "gadgets" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
    name = f"{plural}.test.afflux.dev"
    body = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": "test.afflux.dev", "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": plural.capitalize(),
                      "listKind": plural.capitalize() + "List"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True}}}],
            "conversion": {"strategy": "Webhook", "webhook": {
                "conversionReviewVersions": ["v1"],
                "clientConfig": {"service": {"name": "webhook", "namespace": namespace,
                                             "path": "/convert", "port": 9443}}}},
        },
    }
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))
    yield name
    cluster.kubectl("delete", "crd", name, "--wait=false", check=False)


def ca_bundle(cluster: Cluster, crd: str) -> str | None:
    body = json.loads(cluster.kubectl("get", "crd", crd, "-o", "json").stdout)
    return body["spec"]["conversion"]["webhook"]["clientConfig"].get("caBundle")


def secret_data(cluster: Cluster, namespace: str) -> dict[str, str]:
    body = json.loads(cluster.kubectl("-n", namespace, "get", "secret", "webhook-cert", "-o",
                                      "json").stdout)
    return {k: base64.b64decode(v).decode() for k, v in body["data"].items()}


def served_serial(port: int, ca_pem: str, host: str) -> int:
    """The serial of the certificate served on `port`, verified against `ca_pem` for `host`."""
    ctx = ssl.create_default_context(cadata=ca_pem)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
            ctx.wrap_socket(sock, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


@contextlib.contextmanager
def keeping(cluster: Cluster, namespace: str, crd: str, loop: asyncio.AbstractEventLoop
            ) -> Iterator[int]:
    """A conversion webhook whose certificate a keeper of the Secret `webhook-cert` (for
    the Service `webhook`) looks after, started on `loop`; yields its port."""
    kube = KubernetesClient(cluster.api_client())
    keeper = CertificateKeeper(kube, namespace=namespace, secret="webhook-cert",
                               service="webhook", crds=[crd], manager="afflux-conversion-test")
    server = ConversionServer([KUSTOMIZATION], "127.0.0.1:0", keeper=keeper)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        yield eventually(lambda: server.port, 60, message="the webhook serving")
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        kube.close()


def test_the_keeper_makes_serves_renews_and_restores_the_certificate(
        cluster: Cluster, namespace: str, crd: str, loop: asyncio.AbstractEventLoop,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_conversion, "RENEW_CHECK", 0.5)
    host = f"webhook.{namespace}.svc"
    with keeping(cluster, namespace, crd, loop) as port:
        data = secret_data(cluster, namespace)
        assert ca_bundle(cluster, crd) == base64.b64encode(data["ca.crt"].encode()).decode()
        first = served_serial(port, data["ca.crt"], host)

        # a certificate that does not name the Service any more: re-issued, same CA
        authority = Authority(cert=data["ca.crt"], key=data["ca.key"])
        stale = issue(authority, [h for h in service_hosts("webhook", namespace) if h != host])
        patch = {"data": {"tls.crt": base64.b64encode(stale.cert.encode()).decode(),
                          "tls.key": base64.b64encode(stale.key.encode()).decode()}}
        cluster.kubectl("-n", namespace, "patch", "secret", "webhook-cert", "--type=merge",
                        "-p", json.dumps(patch))

        def renewed() -> int:
            now = secret_data(cluster, namespace)
            assert now["tls.crt"] not in (data["tls.crt"], stale.cert)
            serial = served_serial(port, data["ca.crt"], host)  # verifies for the host
            assert serial != first
            return serial

        eventually(renewed, 30, message="a re-issued certificate served")
        assert secret_data(cluster, namespace)["ca.crt"] == data["ca.crt"]
        bundle = ca_bundle(cluster, crd)
        assert bundle == base64.b64encode(data["ca.crt"].encode()).decode()

        # a caBundle someone took away comes back
        cluster.kubectl("patch", "crd", crd, "--type=json", "-p", json.dumps([
            {"op": "remove", "path": "/spec/conversion/webhook/clientConfig/caBundle"}]))
        eventually(lambda: ca_bundle(cluster, crd) == bundle, 30,
                   message="the caBundle put back")


@pytest.mark.parametrize("tamper", ["wrong-key", "garbage-pem", "encrypted-key"])
def test_a_tampered_secret_is_reissued_not_served(
        cluster: Cluster, namespace: str, crd: str, loop: asyncio.AbstractEventLoop,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tamper: str) -> None:
    """Someone writes a key that is not the certificate's, a PEM that does not parse, or an
    encrypted key into the Secret: the keeper re-issues a certificate by the same CA and
    the webhook serves it (verifying for the Service's name); the log names the Secret and
    holds no line of any key."""
    from cryptography.hazmat.primitives import serialization

    monkeypatch.setattr(_conversion, "RENEW_CHECK", 0.5)
    host = f"webhook.{namespace}.svc"
    with caplog.at_level("DEBUG"), keeping(cluster, namespace, crd, loop) as port:
        data = secret_data(cluster, namespace)
        first = served_serial(port, data["ca.crt"], host)
        other = issue(Authority(cert=data["ca.crt"], key=data["ca.key"]), [host])
        key = serialization.load_pem_private_key(data["tls.key"].encode(), None)
        bad = {
            "wrong-key": {"tls.key": other.key},
            "garbage-pem": {"tls.crt": "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n"
                                       "-----END CERTIFICATE-----\n"},
            "encrypted-key": {"tls.key": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"passphrase")).decode()},
        }[tamper]
        cluster.kubectl("-n", namespace, "patch", "secret", "webhook-cert", "--type=merge",
                        "-p", json.dumps({"data": {
                            k: base64.b64encode(v.encode()).decode()
                            for k, v in bad.items()}}))

        def reissued() -> dict[str, str]:
            now = secret_data(cluster, namespace)
            assert now["tls.crt"] != data["tls.crt"] and now["tls.key"] not in (
                data["tls.key"], *bad.values())
            assert served_serial(port, data["ca.crt"], host) != first
            return now

        now = eventually(reissued, 30, message="a re-issued certificate served")
    assert now["ca.crt"] == data["ca.crt"]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert f"Secret {namespace}/webhook-cert" in logged
    for value in (data["tls.key"], data["ca.key"], now["tls.key"], *bad.values()):
        for line in value.splitlines():
            assert "-----" in line or len(line) < 16 or line not in logged
