"""The test cluster as the "remote" of a `spec.kubeConfig.configMapRef` (provider generic):
its own API server, reached at the address and with the CA of the test kubeconfig, with a
ServiceAccount token for the audience that API server accepts (its
`--service-account-issuer`, which is also its default `--api-audiences`); and a
ServiceAccount that may act in one namespace only."""

from __future__ import annotations

import json
from pathlib import Path

from afflux.cli.devenv._cluster import SERVICE_ACCOUNT_ISSUER

from .fixtures_cluster import Cluster

__all__ = ["AUDIENCE", "grant_in_namespace", "remote_config"]

#: the audience the test API server accepts
AUDIENCE = SERVICE_ACCOUNT_ISSUER


def remote_config(cluster: Cluster, **extra: str) -> dict[str, str]:
    """The `data` of a kubeConfig ConfigMap for the test API server (plus `extra` keys)."""
    config = json.loads(Path(cluster.kubeconfig).read_text())
    server = config["clusters"][0]["cluster"]
    ca = server.get("certificate-authority")
    data = {"provider": "generic", "address": server["server"], "audiences": AUDIENCE}
    if ca:
        data["ca.crt"] = Path(ca).read_text()
    return {**data, **extra}


def grant_in_namespace(cluster: Cluster, namespace: str, account: str,
                       resources: str = "configmaps,secrets") -> None:
    """ServiceAccount `account` of `namespace`, allowed everything on `resources` there, and
    nothing elsewhere."""
    cluster.kubectl("-n", namespace, "create", "serviceaccount", account)
    cluster.kubectl("-n", namespace, "create", "role", account, "--verb=*",
                    f"--resource={resources}")
    cluster.kubectl("-n", namespace, "create", "rolebinding", account, f"--role={account}",
                    f"--serviceaccount={namespace}:{account}")
