"""A self-contained kubeconfig for helm, made from a connection the runtime already loaded.

A kubeconfig from a Secret (`spec.kubeConfig`) is loaded by the runtime's `ClusterClients`
only, which refuses what such a kubeconfig must not do (exec plugins, files of the
controller). helm then gets a kubeconfig written from the *loaded* connection: the server,
the CA and client certificate as inline data, a bearer token or basic credentials, and
nothing else, so helm can neither run a program nor read a file on the Secret's behalf.
The result is only ever written to a private 0600 file (`_helm.Workspace`).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

__all__ = ["helm_kubeconfig"]


def _data(path: str | None) -> str | None:
    if not path:
        return None
    return base64.b64encode(Path(path).read_bytes()).decode()


def helm_kubeconfig(configuration: Any) -> bytes:
    """The kubeconfig (YAML bytes) of a `kubernetes.client.Configuration`."""
    cluster: dict[str, Any] = {"server": configuration.host}
    ca = _data(getattr(configuration, "ssl_ca_cert", None))
    if ca:
        cluster["certificate-authority-data"] = ca
    if not getattr(configuration, "verify_ssl", True):
        cluster["insecure-skip-tls-verify"] = True
    server_name = getattr(configuration, "tls_server_name", None)
    if server_name:
        cluster["tls-server-name"] = server_name
    user: dict[str, Any] = {}
    cert = _data(getattr(configuration, "cert_file", None))
    key = _data(getattr(configuration, "key_file", None))
    if cert and key:
        user["client-certificate-data"] = cert
        user["client-key-data"] = key
    auth = (getattr(configuration, "api_key", None) or {}).get("authorization")
    if auth:
        user["token"] = str(auth).removeprefix("Bearer ").strip()
    if getattr(configuration, "username", None):
        user["username"] = configuration.username
        user["password"] = configuration.password or ""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "target",
        "clusters": [{"name": "target", "cluster": cluster}],
        "users": [{"name": "target", "user": user}],
        "contexts": [{"name": "target", "context": {"cluster": "target", "user": "target"}}],
    }
    return yaml.safe_dump(config, sort_keys=False).encode()
