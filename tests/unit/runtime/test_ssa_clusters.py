"""Target-cluster clients for the apply engine: impersonation headers, kubeconfig Secrets,
kubeConfig ConfigMaps (workload identity), caching (no network: clients are built, never
used)."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from afflux.api._servingcert import new_authority
from afflux.controllers.runtime._clusters import (
    IMPERSONATE_USER,
    ClusterClients,
    KubeConfigError,
    KubeConfigRefused,
    service_account_user,
)
from afflux.controllers.runtime._kube import KubernetesClient
from afflux.controllers.runtime._kubeaio import AioKubeClient
from afflux.controllers.runtime._kubeconfig import remote_cluster_config
from afflux.controllers.runtime._workload import IssuedToken, RemoteAccess, ServiceAccountTokens

KUBECONFIG = json.dumps({
    "apiVersion": "v1", "kind": "Config", "current-context": "remote",
    "clusters": [{"name": "remote", "cluster": {
        "server": "https://remote.invalid:6443",
        "certificate-authority-data": base64.b64encode(b"not checked until used").decode()}}],
    "users": [{"name": "robot", "user": {"token": "t0ken"}}],
    "contexts": [{"name": "remote", "context": {"cluster": "remote", "user": "robot"}}],
})


@pytest.fixture
def clients() -> Iterator[ClusterClients]:
    config = client.Configuration()
    config.host = "https://local.invalid:6443"
    api_client = client.ApiClient(config)
    api_client.set_default_header("X-Existing", "kept")
    local = KubernetesClient(api_client, max_workers=1)
    made = ClusterClients(api_client, local, field_manager="kustomize-controller")
    yield made
    made.close()
    local.close()


def _headers(cluster: object) -> dict[str, str]:
    kube = cluster.kube  # type: ignore[attr-defined]
    if isinstance(kube, AioKubeClient):  # the headers it sends with every request
        return {k: v for k, v in kube._headers.items() if k != "Accept"}
    assert isinstance(kube, KubernetesClient)
    return dict(kube.api_client.default_headers)


def test_no_user_no_kubeconfig_is_the_operators_own_client(clients: ClusterClients) -> None:
    assert clients.get() is clients.local
    assert clients.local.manager.field_manager == "kustomize-controller"


def test_impersonation_sends_the_service_account_user(clients: ClusterClients) -> None:
    user = service_account_user("apps", "deployer")
    assert user == "system:serviceaccount:apps:deployer"
    cluster = clients.get(user=user)
    headers = _headers(cluster)
    assert headers[IMPERSONATE_USER] == user and headers["X-Existing"] == "kept"
    assert IMPERSONATE_USER not in _headers(clients.local)  # the operator's client untouched
    assert clients.get(user=user) is cluster
    assert clients.get(user=service_account_user("apps", "other")) is not cluster


def test_kubeconfig_targets_its_cluster(clients: ClusterClients) -> None:
    cluster = clients.get(kubeconfig=KUBECONFIG)
    assert cluster.remote and cluster.user is None
    kube = cluster.kube
    assert isinstance(kube, AioKubeClient)
    assert kube.api_client.configuration.host == "https://remote.invalid:6443"
    both = clients.get(kubeconfig=KUBECONFIG.encode(), user="system:serviceaccount:a:b")
    assert _headers(both)[IMPERSONATE_USER] == "system:serviceaccount:a:b"
    assert clients.get(kubeconfig=KUBECONFIG) is cluster


@pytest.mark.parametrize("text", ["{not yaml", "kind: Config\n", "[]"],
                         ids=["not-yaml", "no-clusters", "not-a-mapping"])
def test_unusable_kubeconfig(clients: ClusterClients, text: str) -> None:
    with pytest.raises(KubeConfigError):
        clients.get(kubeconfig=text)


def test_refused_kubeconfig_is_never_loaded(clients: ClusterClients, tmp_path) -> None:
    # The exec program would write a file if the client ever ran it.
    marker = tmp_path / "ran"
    config = json.loads(KUBECONFIG)
    config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                           "command": "touch", "args": [str(marker)]}}
    with pytest.raises(KubeConfigRefused) as err:
        clients.get(kubeconfig=json.dumps(config))
    assert "'users[0].user.exec' is refused" in str(err.value)
    assert "--insecure-kubeconfig-exec" in str(err.value)
    assert not marker.exists()


def test_yaml_errors_quote_no_content(clients: ClusterClients) -> None:
    with pytest.raises(KubeConfigError) as err:
        clients.get(kubeconfig="clusters:\n- token: s3cr3t-value: [\n")
    assert "s3cr3t" not in str(err.value) and "line" in str(err.value)


def test_least_recently_used_clients_are_closed() -> None:
    api_client = client.ApiClient(client.Configuration())
    local = KubernetesClient(api_client, max_workers=1)
    clients = ClusterClients(api_client, local, field_manager="m", max_clients=2)
    first = clients.get(user="a")
    clients.get(user="b")
    clients.get(user="c")
    assert clients.get(user="a") is not first
    clients.close()
    local.close()


def _remote(ca: str | None) -> RemoteAccess:
    data = {"provider": "generic", "address": "https://remote.invalid:6443"}
    if ca:
        data["ca.crt"] = ca
    config = remote_cluster_config(data, "ConfigMap 'apps/remote'")
    tokens = ServiceAccountTokens(lambda ns, name, aud: IssuedToken(f"tok-{name}", 1e12))
    return RemoteAccess(config, "apps", "deployer", tokens)


def test_remote_access_connects_to_the_address_with_its_ca_and_a_token(
        clients: ClusterClients) -> None:
    ca = new_authority(common_name="remote").cert
    cluster = clients.get(remote=_remote(ca), user=service_account_user("apps", "app"))
    configuration = cluster.kube.api_client.configuration  # type: ignore[attr-defined]
    assert cluster.remote
    assert configuration.host == "https://remote.invalid:6443"
    ca_file = Path(configuration.ssl_ca_cert)
    assert ca_file.read_text() == ca
    assert stat.S_IMODE(ca_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(ca_file.parent.stat().st_mode) == 0o700
    assert configuration.get_api_key_with_prefix("authorization") == "Bearer tok-deployer"
    assert _headers(cluster)[IMPERSONATE_USER] == "system:serviceaccount:apps:app"
    assert clients.get(remote=_remote(ca), user=service_account_user("apps", "app")) is cluster
    clients.close()
    assert not ca_file.exists()


def test_remote_ca_file_goes_with_the_last_client_using_it() -> None:
    api_client = client.ApiClient(client.Configuration())
    local = KubernetesClient(api_client, max_workers=1)
    clients = ClusterClients(api_client, local, field_manager="m", max_clients=1)
    ca = new_authority(common_name="remote").cert
    first = clients.get(remote=_remote(ca))
    ca_file = Path(first.kube.api_client.configuration.ssl_ca_cert)  # type: ignore[attr-defined]
    clients.get(remote=_remote(None))  # evicts the first
    assert not ca_file.exists()
    clients.close()
    local.close()


def test_rate_limit_is_shared_locally_and_own_for_a_remote_cluster() -> None:
    """--kube-api-qps/--kube-api-burst: an impersonated copy of the operator's connection
    takes its tokens from the operator's bucket (the same API server); a kubeconfig's
    cluster gets a bucket of its own with the same rate."""
    from afflux.controllers.runtime import TokenBucket
    from afflux.controllers.runtime._kubeaio import AioKubeClient

    config = client.Configuration()
    config.host = "https://local.invalid:6443"
    api_client = client.ApiClient(config)
    bucket = TokenBucket(2, 3)
    local = KubernetesClient(api_client, max_workers=1, limiter=bucket)
    made = ClusterClients(api_client, local, field_manager="kustomize-controller")
    try:
        impersonated = made.get(user=service_account_user("apps", "deployer")).kube
        remote = made.get(kubeconfig=KUBECONFIG).kube
        assert isinstance(impersonated, AioKubeClient)  # on the operator's connection pool
        assert isinstance(remote, AioKubeClient)
        assert impersonated.limiter is bucket
        assert remote.limiter is not bucket and remote.limiter is not None
        assert (remote.limiter.qps, remote.limiter.burst) == (2.0, 3)
    finally:
        made.close()
        local.close()


def test_no_rate_limit_stays_none_for_every_client(clients: ClusterClients) -> None:
    """A negative --kube-api-qps (no limit) gives no bucket to the clients made from it."""
    assert clients.get(user=service_account_user("apps", "deployer")).kube.limiter is None  # type: ignore[attr-defined]
    assert clients.get(kubeconfig=KUBECONFIG).kube.limiter is None  # type: ignore[attr-defined]
