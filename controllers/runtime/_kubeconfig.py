"""What a kubeconfig that comes from an object may contain (pure: no I/O).

A Kustomization's or HelmRelease's `spec.kubeConfig` names a Secret (or ConfigMap) whose
content is the tenant's choice. A kubeconfig can do far more than name a cluster: an
`exec` or `auth-provider` user runs a program on the controller's host, and
`tokenFile`, `client-certificate`, `client-key` and `certificate-authority` read files
from the controller's disk (its own admin credentials, the Git server's password...).
So a kubeconfig from an object must be self-contained:

- credentials inline only: `token`, `client-certificate-data`, `client-key-data`,
  `certificate-authority-data`, `username`/`password`;
- anything that names a file is refused, always;
- `exec` and `auth-provider` users are refused unless the operator runs with
  `--insecure-kubeconfig-exec` (Flux's flag; its advisory GHSA-vvmq-fwmg-2gjc);
- `insecure-skip-tls-verify: true` is refused unless the operator runs with
  `--insecure-kubeconfig-tls` (Flux's flag).

Every entry is checked, not only the current context's. Refusals name the entry by its
position (`users[1].user.exec`), never by a name or value taken from the content.

`spec.kubeConfig.configMapRef` (Flux 2.7+) names a ConfigMap instead: no credentials, only
where the remote cluster is and which identity to ask a token for (`remote_cluster_config`
reads it). Its keys, as Flux reads them: `provider` (required: `generic`, `aws`, `azure`,
`gcp`), `address` (the API server, required for `generic`; `https://` is assumed, port 443
by default), `ca.crt` (PEM; else the system's roots), `audiences` (one per line; default: the
address as written), `serviceAccountName` (the ServiceAccount of the object's namespace the
token is for; default `--default-kubeconfig-service-account`, else the controller's own),
`cluster` (the cloud provider's resource name; not used by `generic`). A ServiceAccount of
the object's namespace is object-level workload identity: Flux allows it only with
`--feature-gates=ObjectLevelWorkloadIdentity=true`. Errors name the key to fix; the values
of `ca.crt` are never echoed.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "CLOUD_PROVIDERS",
    "EXEC_FLAG",
    "GENERIC_PROVIDER",
    "OBJECT_LEVEL_GATE",
    "TLS_FLAG",
    "KubeConfigPolicy",
    "KubeConfigRefusal",
    "RemoteClusterConfig",
    "RemoteConfigError",
    "cluster_address",
    "kubeconfig_refusals",
    "remote_cluster_config",
]

EXEC_FLAG = "--insecure-kubeconfig-exec"
TLS_FLAG = "--insecure-kubeconfig-tls"

# Keys that make the client read a file of the controller's (no flag allows them).
_USER_FILE_KEYS = ("tokenFile", "client-certificate", "client-key")
_CLUSTER_FILE_KEYS = ("certificate-authority",)
# Keys that make the client run a program or a plugin (allowed by EXEC_FLAG).
_USER_PLUGIN_KEYS = ("exec", "auth-provider")


@dataclass(frozen=True)
class KubeConfigPolicy:
    """What the operator's flags allow beyond inline credentials."""

    allow_exec: bool = False
    allow_insecure_tls: bool = False


@dataclass(frozen=True)
class KubeConfigRefusal:
    """One refused key: where it is, why, and the flag that would allow it (if any)."""

    path: str
    why: str
    flag: str | None = None

    def message(self) -> str:
        hint = (f"remove it, or start the controller with {self.flag}" if self.flag
                else "embed the content inline instead (the *-data keys, or token)")
        return f"'{self.path}' is refused: {self.why}; {hint}"


def _entries(config: Mapping[str, Any], section: str, inner: str
             ) -> Iterator[tuple[str, Mapping[str, Any]]]:
    items = config.get(section) or []
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        body = item.get(inner) if isinstance(item, Mapping) else None
        if isinstance(body, Mapping):
            yield f"{section}[{index}].{inner}", body


def _set(value: Any) -> bool:
    """Is a key given a value (an empty string or null counts as absent)?"""
    return value not in (None, "", {}, [])


def kubeconfig_refusals(config: Mapping[str, Any], policy: KubeConfigPolicy
                        ) -> list[KubeConfigRefusal]:
    """Every key of `config` that `policy` does not allow, in document order."""
    refused: list[KubeConfigRefusal] = []
    for where, user in _entries(config, "users", "user"):
        for key in _USER_FILE_KEYS:
            if _set(user.get(key)):
                refused.append(KubeConfigRefusal(
                    f"{where}.{key}", "it names a file on the controller's host"))
        for key in _USER_PLUGIN_KEYS:
            if _set(user.get(key)) and not policy.allow_exec:
                refused.append(KubeConfigRefusal(
                    f"{where}.{key}", "it runs a program or plugin on the controller's host",
                    EXEC_FLAG))
    for where, cluster in _entries(config, "clusters", "cluster"):
        for key in _CLUSTER_FILE_KEYS:
            if _set(cluster.get(key)):
                refused.append(KubeConfigRefusal(
                    f"{where}.{key}", "it names a file on the controller's host"))
        if cluster.get("insecure-skip-tls-verify") is True and not policy.allow_insecure_tls:
            refused.append(KubeConfigRefusal(
                f"{where}.insecure-skip-tls-verify",
                "it turns off verification of the API server's certificate", TLS_FLAG))
    return refused


# --- spec.kubeConfig.configMapRef ------------------------------------------------------------

GENERIC_PROVIDER = "generic"
CLOUD_PROVIDERS = ("aws", "azure", "gcp")
#: Flux's feature gate for a token of a ServiceAccount named by (or for) the object
OBJECT_LEVEL_GATE = "ObjectLevelWorkloadIdentity"
_PROVIDERS = (*CLOUD_PROVIDERS, GENERIC_PROVIDER)
_SA_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_SHOWN = 64  # at most this much of a value is quoted back in a message


class RemoteConfigError(ValueError):
    """A kubeConfig ConfigMap that cannot work as written: the message names the key."""

    def __init__(self, message: str, *, gate: bool = False) -> None:
        super().__init__(message)
        self.gate = gate  # True: only the operator's feature gate is missing


@dataclass(frozen=True)
class RemoteClusterConfig:
    """What a kubeConfig ConfigMap asks for (module docstring), checked."""

    provider: str
    address: str  # https://host:port
    audiences: tuple[str, ...]
    ca_pem: str | None = None
    service_account: str | None = None  # None: the controller's own ServiceAccount
    object_level: bool = False  # the ServiceAccount is one of the object's namespace


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "..."


def cluster_address(address: str) -> str:
    """`address` as `https://<lower-case host>:<port>` (Flux's reading: `https://` is
    assumed without a scheme, port 443 by default); ValueError says what is wrong."""
    text = address.strip()
    if not text:
        raise ValueError("it is empty")
    if not text.startswith("http"):
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("it is not a URL") from None
    if parts.scheme != "https":
        raise ValueError("it must use https")
    if not parts.hostname or parts.username or parts.password:
        raise ValueError("it must be https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("it must be https://host[:port], without a path or query "
                         "(the API server is reached at its root)")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"https://{host}:{port or 443}"


def _check_ca(pem: str, where: str) -> None:
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise RemoteConfigError(f"{where}['ca.crt'] is not a PEM certificate: put the API "
                                "server's CA certificate there (-----BEGIN CERTIFICATE-----)")
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError):
        raise RemoteConfigError(f"{where}['ca.crt'] holds no valid PEM certificate: put the "
                                "API server's CA certificate there") from None


def remote_cluster_config(data: Mapping[str, Any], where: str, *,
                          default_service_account: str = "",
                          object_level_enabled: bool = False) -> RemoteClusterConfig:
    """Read and check the `data` of a kubeConfig ConfigMap (`where` names it in messages,
    e.g. "ConfigMap 'apps/remote'"); `RemoteConfigError` names the key to fix."""
    data = {k: v for k, v in (data or {}).items() if isinstance(v, str)}
    provider = data.get("provider", "").strip()
    if not provider:
        raise RemoteConfigError(f"{where} has no key 'provider': set it to one of "
                                + ", ".join(_PROVIDERS))
    if provider not in _PROVIDERS:
        raise RemoteConfigError(f"{where}: provider '{_shown(provider)}' is not one of "
                                + ", ".join(_PROVIDERS))
    account = data.get("serviceAccountName", "").strip() or default_service_account
    if account and not _SA_NAME.match(account):
        raise RemoteConfigError(f"{where}: serviceAccountName '{_shown(account)}' is not a "
                                "valid ServiceAccount name")
    if account and not object_level_enabled:
        source = ("serviceAccountName" if data.get("serviceAccountName", "").strip()
                  else "--default-kubeconfig-service-account")
        raise RemoteConfigError(
            f"{where}: a token for ServiceAccount '{account}' ({source}) is object-level "
            f"workload identity: start the controller with --feature-gates={OBJECT_LEVEL_GATE}"
            "=true", gate=True)
    if provider in CLOUD_PROVIDERS:
        raise RemoteConfigError(
            f"{where}: provider '{provider}' needs the {provider} cloud's credentials and "
            "token exchange, which afflux does not implement: use provider 'generic' (address, "
            "ca.crt and audiences of a cluster that trusts this cluster's ServiceAccount "
            "issuer) or spec.kubeConfig.secretRef")
    raw_address = data.get("address", "")
    if not raw_address.strip():
        raise RemoteConfigError(f"{where} has no key 'address': the generic provider needs "
                                "the remote API server's address (https://host[:port])")
    try:
        address = cluster_address(raw_address)
    except ValueError as err:
        raise RemoteConfigError(f"{where}: 'address' '{_shown(raw_address.strip())}' is not "
                                f"usable: {err}") from None
    ca = data.get("ca.crt")
    if ca is not None and ca.strip():
        _check_ca(ca, where)
    else:
        ca = None
    audiences = tuple(a.strip() for a in data.get("audiences", "").split("\n") if a.strip())
    return RemoteClusterConfig(
        provider=provider, address=address,
        audiences=audiences or (raw_address.strip(),),
        ca_pem=ca, service_account=account or None, object_level=bool(account))
