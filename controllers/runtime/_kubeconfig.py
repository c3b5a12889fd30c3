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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "EXEC_FLAG",
    "TLS_FLAG",
    "KubeConfigPolicy",
    "KubeConfigRefusal",
    "kubeconfig_refusals",
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
