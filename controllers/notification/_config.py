"""A Provider's spec and Secrets turned into what the sender needs (`Resolved`), read the
same way by the Provider reconciler (to report what is wrong) and by every delivery (so a
changed Secret is used at once).

Secrets: `secretRef` (`address`, `token`, `username`, `password`, `headers` as a YAML
map; for nats `creds` and `nkey`), `certSecretRef` (`ca.crt`, `tls.crt` + `tls.key`), `proxySecretRef` (`address`,
`username`, `password`). Problems raise `ConfigError` with a message that says what to
change and never contains a secret value.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from afflux.controllers.runtime import (
    KubeClient,
    ObjectRef,
    Resource,
    SecretKeyError,
    decode_secret,
    parse_duration,
    proxy_keys,
    tls_keys,
)

from ._providers import ConfigError, ProviderConfig
from ._sender import ProxyConfig, TLSConfig

__all__ = ["SECRETS", "Resolved", "read_secret", "resolve_provider"]

SECRETS = Resource("", "v1", "Secret", "secrets")
DEFAULT_TIMEOUT = 15.0
#: types whose address is optional (they have a well-known default)
_DEFAULT_ADDRESS = frozenset({"telegram", "pagerduty", "bitbucket"})


class SecretNotFound(ConfigError):
    pass


@dataclass(frozen=True)
class Resolved:
    config: ProviderConfig
    tls: TLSConfig | None
    proxy: ProxyConfig | None
    timeout: float


async def read_secret(kube: KubeClient, namespace: str, name: str, field: str
                      ) -> dict[str, str]:
    """The Secret's data, decoded; `SecretNotFound` naming `field` if it does not exist."""
    body = await kube.get(ObjectRef(SECRETS, namespace, name))
    if body is None:
        raise SecretNotFound(f"Secret '{namespace}/{name}' (spec.{field}) not found: create it "
                             f"or fix spec.{field}")
    try:
        raw = decode_secret(body.get("data"))
    except SecretKeyError as err:
        raise ConfigError(f"Secret '{namespace}/{name}' (spec.{field}): {err}") from None
    data = {k: v.decode(errors="replace") for k, v in raw.items()}
    data.update(body.get("stringData") or {})
    return data


def _check_url(url: str, what: str, *, schemes: tuple[str, ...] = ("http", "https")) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(f"{what} must be an absolute {' or '.join(schemes)} URL"
                          + (f", got scheme {parts.scheme!r}" if parts.scheme else ""))


def _headers(text: str, name: str) -> dict[str, str]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        raise ConfigError(f"the 'headers' key of Secret '{name}' must be a YAML map of "
                          "header names to values")
    return {str(k): str(v) for k, v in data.items()}


async def _tls(kube: KubeClient, namespace: str, name: str) -> TLSConfig:
    data = await read_secret(kube, namespace, name, "certSecretRef.name")
    try:
        keys = tls_keys(data)
    except SecretKeyError as err:
        raise ConfigError(f"Secret '{namespace}/{name}' (spec.certSecretRef): {err}") from None
    tls = TLSConfig(ca_pem=keys.ca, cert_pem=keys.cert, key_pem=keys.key)
    if not (tls.ca_pem or tls.cert_pem):
        raise ConfigError(f"Secret '{namespace}/{name}' has neither 'ca.crt' nor 'tls.crt' and "
                          "'tls.key'")
    try:
        tls.context()
    except (ssl.SSLError, ValueError) as err:
        raise ConfigError(f"Secret '{namespace}/{name}' holds no valid PEM certificate or key: "
                          f"{type(err).__name__}") from None
    return tls


async def _proxy(kube: KubeClient, namespace: str, name: str) -> ProxyConfig:
    data = await read_secret(kube, namespace, name, "proxySecretRef.name")
    try:
        keys = proxy_keys(data)
    except SecretKeyError as err:
        raise ConfigError(f"Secret '{namespace}/{name}' (spec.proxySecretRef): {err}") from None
    return ProxyConfig(keys.address, keys.username or "", keys.password or "")


async def resolve_provider(kube: KubeClient, provider: Mapping[str, Any]) -> Resolved:
    """Everything a delivery through `provider` (a body) needs."""
    meta = provider.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    spec = provider.get("spec") or {}
    type_ = str(spec.get("type") or "")
    secret: dict[str, str] = {}
    secret_name = (spec.get("secretRef") or {}).get("name")
    if secret_name:
        secret = await read_secret(kube, namespace, secret_name, "secretRef.name")
    address = secret.get("address") or str(spec.get("address") or "")
    if address:
        where = (f"the address in Secret '{namespace}/{secret_name}'" if secret.get("address")
                 else "spec.address")
        _check_url(address.strip(), where, schemes=("nats", "tls") if type_ == "nats"
                   else ("http", "https"))
    elif type_ not in _DEFAULT_ADDRESS:
        raise ConfigError(f"a {type_} Provider needs an address: set spec.address or the "
                          "'address' key of the Secret in spec.secretRef")
    headers = _headers(secret["headers"], f"{namespace}/{secret_name}") if secret.get(
        "headers") else {}
    config = ProviderConfig(
        type=type_, address=address.strip(), channel=str(spec.get("channel") or ""),
        username=secret.get("username") or str(spec.get("username") or ""),
        token=secret.get("token", "").strip(), password=secret.get("password", ""),
        headers=headers, uid=str(meta.get("uid") or ""),
        address_from_secret=bool(secret.get("address")),
        provider=provider, commit_status_expr=str(spec.get("commitStatusExpr") or ""),
        creds=secret.get("creds", ""), nkey=secret.get("nkey", ""),
    )
    cert_name = (spec.get("certSecretRef") or {}).get("name")
    tls = await _tls(kube, namespace, cert_name) if cert_name else None
    proxy_name = (spec.get("proxySecretRef") or {}).get("name")
    proxy = await _proxy(kube, namespace, proxy_name) if proxy_name else None
    if proxy is None and spec.get("proxy"):
        _check_url(str(spec["proxy"]), "spec.proxy")
        proxy = ProxyConfig(str(spec["proxy"]))
    timeout = DEFAULT_TIMEOUT
    if spec.get("timeout"):
        try:
            timeout = parse_duration(str(spec["timeout"]))
        except ValueError:
            raise ConfigError(f"spec.timeout {spec['timeout']!r} is not a duration like 15s"
                              ) from None
    return Resolved(config, tls, proxy, timeout or DEFAULT_TIMEOUT)
