"""What the OCIRepository, HelmRepository, HelmChart and Bucket reconcilers read from the
cluster before they talk to a server, and how they run blocking work.

- `tls_material(ctx, name, field)`: the `certSecretRef` Secret as `TLSMaterial`;
- `registry_credentials(ctx, ...)`: credentials for a registry host from a
  dockerconfigjson Secret (`secretRef`), or its `username`/`password` keys (HelmRepository
  of type oci accepts both), or the image pull secrets of `serviceAccountName`;
- `basic_auth(ctx, name)`: `username`/`password` of a Secret (HelmRepository);
- `proxy_address(ctx, name)`: the proxy URL of a `proxySecretRef` Secret (`address`,
  `username`, `password`);
- `run_blocking(timeout, what, func, ...)`: `func` in a worker thread, bounded by the
  object's `spec.timeout` (plus a grace period, since the clients time out themselves);
- `registry_provider_refusal(provider)`: why a cloud `spec.provider` (aws, azure, gcp) of
  a registry login cannot work here and what to use instead (None for `generic`): afflux
  has no cloud workload identity, and never asks a cloud metadata endpoint for one.

A missing Secret or unusable material is a `GenericError` with reason
AuthenticationFailed (it is retried: fixing a Secret does not change the spec). Nothing
here touches conditions; the calling phase does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from afflux.api._meta import AUTHENTICATION_FAILED
from afflux.controllers.runtime import (
    DockerConfigError,
    GenericError,
    ObjectRef,
    ReconcileContext,
    RegistryCredentials,
    Resource,
    SecretKeyError,
    auth_keys,
    credentials_for,
    parse_docker_config_secret,
    proxy_keys,
)

from ._common_phases import read_secret
from ._transport import PROXY_SCHEMES, TLSConfigError, TLSMaterial

__all__ = [
    "SERVICE_ACCOUNTS",
    "THREAD_GRACE",
    "basic_auth",
    "proxy_address",
    "registry_credentials",
    "registry_provider_refusal",
    "run_blocking",
    "tls_material",
]

SERVICE_ACCOUNTS = Resource("", "v1", "ServiceAccount", "serviceaccounts")
#: Extra seconds the event loop waits for a worker thread beyond spec.timeout.
THREAD_GRACE = 15.0

T = TypeVar("T")


def registry_provider_refusal(provider: str | None) -> str | None:
    """The message for a registry `spec.provider` afflux cannot log in with (None when it
    is `generic`, the default)."""
    if (provider or "generic") == "generic":
        return None
    return (
        f"spec.provider '{provider}' is not supported by afflux: it has no cloud workload "
        "identity to log in to the registry with; use provider 'generic' (the default) with "
        "spec.secretRef naming a Secret that holds a registry token (a dockerconfigjson, or "
        "'username' and 'password')"
    )


async def tls_material(ctx: ReconcileContext[Any], name: str | None,
                       field: str = "spec.certSecretRef") -> TLSMaterial | None:
    if not name:
        return None
    data = await read_secret(ctx.kube, ctx.namespace or "", name, field)
    try:
        return TLSMaterial.from_secret(data)
    except TLSConfigError as err:
        raise GenericError(AUTHENTICATION_FAILED,
                           f"secret '{ctx.namespace}/{name}' ({field}): {err}") from None


def _credentials_from(data: dict[str, bytes], host: str, where: str) -> RegistryCredentials | None:
    if ".dockerconfigjson" in data or ".dockercfg" in data:
        try:
            config = parse_docker_config_secret(data, base64_values=False)
        except DockerConfigError as err:
            raise GenericError(AUTHENTICATION_FAILED, f"{where}: {err}") from None
        return credentials_for(config, host)
    if "username" in data or "password" in data:
        try:
            keys = auth_keys(data)
        except SecretKeyError as err:
            raise GenericError(AUTHENTICATION_FAILED, f"{where}: {err}") from None
        return RegistryCredentials(username=keys.username or "", password=keys.password or "")
    raise GenericError(
        AUTHENTICATION_FAILED,
        f"{where} has neither '.dockerconfigjson' nor 'username'/'password': create it with "
        "'kubectl create secret docker-registry'")


async def registry_credentials(
    ctx: ReconcileContext[Any],
    host: str,
    secret_name: str | None,
    service_account: str | None = None,
) -> RegistryCredentials | None:
    """Credentials for `host` (see the module docstring); None means anonymous."""
    namespace = ctx.namespace or ""
    if secret_name:
        data = await read_secret(ctx.kube, namespace, secret_name, "spec.secretRef")
        creds = _credentials_from(data, host, f"secret '{namespace}/{secret_name}'")
        if creds is not None:
            return creds
        return None
    if service_account:
        account = await ctx.kube.get(ObjectRef(SERVICE_ACCOUNTS, namespace, service_account))
        if account is None:
            raise GenericError(
                AUTHENTICATION_FAILED,
                f"service account '{namespace}/{service_account}' (spec.serviceAccountName) "
                "not found")
        for ref in account.get("imagePullSecrets") or []:
            name = (ref or {}).get("name")
            if not name:
                continue
            data = await read_secret(ctx.kube, namespace, name,
                                     f"imagePullSecrets of service account '{service_account}'")
            try:
                config = parse_docker_config_secret(data, base64_values=False)
            except DockerConfigError:
                continue
            creds = credentials_for(config, host)
            if creds is not None:
                return creds
    return None


async def basic_auth(ctx: ReconcileContext[Any], name: str | None
                     ) -> tuple[str | None, str | None]:
    """(`username`, `password`) of a `secretRef`; (None, None) without one."""
    if not name:
        return None, None
    data = await read_secret(ctx.kube, ctx.namespace or "", name, "spec.secretRef")
    where = f"secret '{ctx.namespace}/{name}' (spec.secretRef)"
    try:
        keys = auth_keys(data)
    except SecretKeyError as err:
        raise GenericError(AUTHENTICATION_FAILED, f"{where}: {err}") from None
    if "username" not in data and "password" not in data:
        return None, None  # e.g. a Secret holding only TLS material (deprecated use)
    if not keys.username or not keys.password:
        raise GenericError(AUTHENTICATION_FAILED,
                           f"{where} must have both 'username' and 'password'")
    return keys.username, keys.password


async def proxy_address(ctx: ReconcileContext[Any], name: str | None) -> str | None:
    if not name:
        return None
    data = await read_secret(ctx.kube, ctx.namespace or "", name, "spec.proxySecretRef")
    try:
        return proxy_keys(data, schemes=PROXY_SCHEMES).url()
    except SecretKeyError as err:
        raise GenericError(AUTHENTICATION_FAILED,
                           f"secret '{ctx.namespace}/{name}' (spec.proxySecretRef): {err}"
                           ) from None


async def run_blocking(limit: float, what: str, func: Callable[..., T], /, *args: Any,
                       on_timeout: Callable[[str], BaseException], **kwargs: Any) -> T:
    """`func(*args, **kwargs)` in a worker thread; `on_timeout(message)` is raised when it
    takes longer than `limit` seconds (+ `THREAD_GRACE`)."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(func, *args, **kwargs),
                                      limit + THREAD_GRACE)
    except TimeoutError:
        raise on_timeout(f"{what} did not finish within the timeout ({limit:g}s)") from None
