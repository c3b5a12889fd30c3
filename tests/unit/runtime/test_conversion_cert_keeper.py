"""`CertificateKeeper`: the in-cluster conversion webhook's Secret and the CRDs' caBundle,
against the in-memory API server."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from afflux.api._servingcert import KEEP, check_secret
from afflux.controllers.runtime import ObjectRef
from afflux.controllers.runtime._convcert import CRDS, SECRETS, CertificateKeeper, manager_name
from afflux.controllers.runtime._ssa import take_over_managed_fields

from .fakes import FakeKube

CRD = "kustomizations.kustomize.toolkit.fluxcd.io"


def crd(client_config: dict[str, Any], name: str = CRD) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"conversion": {
        "strategy": "Webhook", "webhook": {"clientConfig": client_config}}}}


SERVICE = {"service": {"name": "kustomize-controller", "namespace": "flux-system",
                       "path": "/convert", "port": 9443}}


def keeper(kube: FakeKube, crds: tuple[str, ...] = (CRD,)) -> CertificateKeeper:
    return CertificateKeeper(kube, namespace="flux-system", secret="kc-cert",
                             service="kustomize-controller", crds=crds,
                             manager=manager_name("kustomize-controller"))


def secret_data(kube: FakeKube) -> dict[str, str]:
    body = kube.body(ObjectRef(SECRETS, "flux-system", "kc-cert"))
    return {k: base64.b64decode(v).decode() for k, v in body["data"].items()}


def bundle(kube: FakeKube, name: str = CRD) -> str | None:
    config = kube.body(ObjectRef(CRDS, None, name))["spec"]["conversion"]["webhook"]
    return config["clientConfig"].get("caBundle")


def test_first_start_makes_the_secret_and_sets_the_ca_bundle() -> None:
    kube = FakeKube()
    kube.put(CRDS, crd(SERVICE))
    made = asyncio.run(keeper(kube).ensure())
    data = secret_data(kube)
    assert check_secret(data, keeper(kube).hosts).action == KEEP
    assert (made.ca, made.cert, made.key) == (data["ca.crt"], data["tls.crt"], data["tls.key"])
    assert base64.b64decode(bundle(kube) or "").decode() == data["ca.crt"]
    assert kube.body(ObjectRef(SECRETS, "flux-system", "kc-cert"))["type"] == "Opaque"


def test_a_second_round_changes_nothing() -> None:
    kube = FakeKube()
    kube.put(CRDS, crd(SERVICE))
    first = asyncio.run(keeper(kube).ensure())
    writes = len([c for c in kube.calls if c[0] != "get"])
    again = asyncio.run(keeper(kube).ensure())
    assert again == first
    assert len([c for c in kube.calls if c[0] != "get"]) == writes


def test_a_certificate_without_the_service_name_is_reissued_by_the_same_ca() -> None:
    kube = FakeKube()
    kube.put(CRDS, crd(SERVICE))
    first = asyncio.run(keeper(kube).ensure())
    other = CertificateKeeper(kube, namespace="flux-system", secret="kc-cert",
                              service="renamed", crds=(CRD,), manager="m")
    kube.put(CRDS, crd({"service": dict(SERVICE["service"], name="renamed")}))
    made = asyncio.run(other.ensure())
    assert made.ca == first.ca and made.cert != first.cert
    assert check_secret(secret_data(kube), other.hosts).action == KEEP


def test_a_crd_with_a_url_or_another_namespace_is_left_alone() -> None:
    kube = FakeKube()
    local = crd({"url": "https://127.0.0.1:4443/convert", "caBundle": "ZGV2"})
    elsewhere = crd({"service": dict(SERVICE["service"], namespace="other")}, name="b")
    kube.put(CRDS, local)
    kube.put(CRDS, elsewhere)
    asyncio.run(keeper(kube, crds=(CRD, "b")).ensure())
    assert bundle(kube) == "ZGV2"
    assert bundle(kube, "b") is None
    assert not [c for c in kube.calls if c[0] == "patch"]


def test_a_replica_that_loses_the_race_uses_the_winners_secret() -> None:
    kube = FakeKube()
    kube.put(CRDS, crd(SERVICE))
    winner = asyncio.run(keeper(kube).ensure())
    loser = keeper(kube)
    real_get = kube.get
    calls = {"n": 0}

    async def get_secret_missing_once(ref: ObjectRef) -> dict[str, Any] | None:
        if ref.resource == SECRETS and calls["n"] == 0:
            calls["n"] += 1
            return None  # it read before the winner created the Secret
        return await real_get(ref)

    kube.get = get_secret_missing_once  # type: ignore[method-assign]
    made = asyncio.run(loser.ensure())
    assert made == winner


@pytest.mark.parametrize("operator", ["kustomize-controller", "source-controller",
                                      "helm-controller"])
def test_kustomize_controllers_clean_up_never_takes_the_ca_bundle_over(operator: str) -> None:
    """bootstrap's kustomize-controller applies the CRDs again and again: it must not take
    over (and then drop) the caBundle a keeper patched in."""
    from afflux.controllers.kustomize._reconcile_apply import apply_options

    managers = apply_options(False, wait_interval=1, wait_timeout=1).cleanup.field_managers
    entry = {"manager": manager_name(operator), "operation": "Update",
             "fieldsV1": {"f:spec": {"f:conversion": {"f:webhook": {"f:clientConfig": {
                 "f:caBundle": {}}}}}}}
    assert take_over_managed_fields([entry], managers, "kustomize-controller") is None


@pytest.mark.parametrize(("cert_dir", "secret", "keeps"), [
    pytest.param(None, "kc-cert", True, id="in-cluster-secret"),
    pytest.param("/certs", "kc-cert", False, id="a-certificate-on-disk-wins"),
    pytest.param(None, None, False, id="neither"),
])
def test_which_certificate_the_operator_serves(cert_dir: str | None, secret: str | None,
                                               keeps: bool) -> None:
    """A local launcher passes the Deployment's args plus its loopback address and
    certificate: then the certificate on disk is served, never the in-cluster Secret's."""
    from kubernetes import client

    from afflux.controllers.runtime import Operator, Options, Reconciler, Resource

    async def phase(ctx: object) -> None:
        return None

    operator = Operator("kustomize-controller", Options(
        name="k", metrics_addr="0", health_addr="0", conversion_addr="127.0.0.1:0",
        conversion_cert_dir=cert_dir, conversion_cert_secret=secret),
        api_client=client.ApiClient(client.Configuration()), kube=FakeKube())
    operator.register(Reconciler(Resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization",
                                          "kustomizations"), [phase]))
    server = operator._conversion_server()
    assert (server._keeper is not None) == keeps
    if keeps:
        assert server._keeper is not None
        assert server._keeper.crds == [CRD]
        assert server._keeper.service == "kustomize-controller"
        assert server._keeper.manager == manager_name("kustomize-controller")


def _tampered(kind: str, good: dict[str, str]) -> dict[str, str]:
    from afflux.api._servingcert import Authority, issue, new_authority

    other = issue(new_authority(), ["elsewhere.example.com"])
    return {
        "wrong-key": {**good, "tls.key": other.key},
        "garbage-pem": {**good, "tls.crt": "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n"
                                           "-----END CERTIFICATE-----\n"},
        "garbage-ca": {**good, "ca.crt": "garbage", "ca.key": "more garbage"},
        "cert-for-another-name": {**good, **dict(zip(("tls.crt", "tls.key"), issue(
            Authority(good["ca.crt"], good["ca.key"]), ["evil.example.com"])[1:],
            strict=True))},
        "another-ca": {**good, "ca.crt": other.ca, "ca.key": other.key},
    }[kind]


@pytest.mark.parametrize("kind", ["wrong-key", "garbage-pem", "garbage-ca",
                                  "cert-for-another-name", "another-ca"])
def test_a_tampered_secret_is_remade_and_the_log_names_it_without_its_content(
        kind: str, caplog: pytest.LogCaptureFixture) -> None:
    kube = FakeKube()
    kube.put(CRDS, crd(SERVICE))
    good = asyncio.run(keeper(kube).ensure())
    data = {"ca.crt": good.ca, "ca.key": secret_data(kube)["ca.key"], "tls.crt": good.cert,
            "tls.key": good.key}
    bad = _tampered(kind, data)
    body = kube.body(ObjectRef(SECRETS, "flux-system", "kc-cert"))
    body["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in bad.items()}
    kube.put(SECRETS, body)
    with caplog.at_level("DEBUG"):
        made = asyncio.run(keeper(kube).ensure())
    now = secret_data(kube)
    assert check_secret(now, keeper(kube).hosts).action == KEEP
    assert (made.cert, made.key) == (now["tls.crt"], now["tls.key"])
    assert made.key not in bad.values() and made.cert not in bad.values()
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "Secret flux-system/kc-cert" in logged
    for value in {*bad.values(), *now.values()}:  # no line of any PEM, old or new
        for line in value.splitlines():
            if len(line) >= 16 and "-----" not in line:
                assert line not in logged, kind
