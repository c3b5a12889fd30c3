"""How to reach the registry of an ImageRepository: its Secrets turned into client settings.

Both reconcilers of image-reflector-controller talk to registries: ImageRepository to list
tags, ImagePolicy to look up the digest of the tag it chose (`digestReflectionPolicy`).
`registry_access(ctx, repo)` reads what `spec` points at, in the ImageRepository's
namespace, through `ctx.kube`:

- `spec.secretRef`: a `kubernetes.io/dockerconfigjson` Secret; the entry for the image's
  registry host gives the credentials; without one, the `imagePullSecrets` of
  `spec.serviceAccountName` are tried in order (none of them: anonymous);
- `spec.certSecretRef`: `ca.crt`, and `tls.crt` + `tls.key` for a client certificate;
- `spec.proxySecretRef`: `address` (required), `username`, `password`;
- `spec.insecure`: plain HTTP; `spec.timeout` (default: the interval) bounds each scan.

A Secret that is missing or unusable fails with a message naming the field and what to
change: reason `AuthenticationFailed` for credentials and TLS material (as Flux), and
`ReadOperationFailed` for the proxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from afflux.api import ImageRepository
from afflux.api._meta import AUTHENTICATION_FAILED, READ_OPERATION_FAILED
from afflux.controllers.runtime import (
    DockerConfigError,
    GenericError,
    ObjectRef,
    ReconcileContext,
    RegistryCredentials,
    Resource,
    SecretKeyError,
    credentials_for,
    decode_secret,
    parse_docker_config_secret,
    proxy_keys,
)

from ._imagename import ImageName, parse_image
from ._registry import RegistryClient, TLSConfig, tls_from_secret

__all__ = [
    "SECRETS",
    "RegistryAccess",
    "proxy_url",
    "read_secret",
    "registry_access",
]

SECRETS = Resource("", "v1", "Secret", "secrets")
SERVICE_ACCOUNTS = Resource("", "v1", "ServiceAccount", "serviceaccounts")


@dataclass(frozen=True)
class RegistryAccess:
    """Everything a `RegistryClient` for one ImageRepository needs."""

    image: ImageName
    credentials: RegistryCredentials | None
    tls: TLSConfig | None
    insecure: bool
    timeout: float
    proxy: str | None
    #: `spec.secretRef` was set but has no entry for the image's registry host
    secret_without_entry: bool = False

    def client(self) -> RegistryClient:
        return RegistryClient(
            self.image, self.credentials, self.tls, self.insecure, self.timeout, self.proxy
        )

    def explain(self, message: str) -> str:
        """`message`, completed with why the credentials may be missing."""
        if self.secret_without_entry:
            return (
                f"{message} (the Secret of spec.secretRef has no credentials for "
                f"'{self.image.api_host}')"
            )
        return message


async def read_secret(
    ctx: ReconcileContext[Any], namespace: str, name: str, field: str, reason: str
) -> Mapping[str, str]:
    """The `data` (base64 values) of Secret `namespace/name`, which `field` names; a missing
    Secret fails with `reason` and a message that says which field to fix."""
    body = await ctx.kube.get(ObjectRef(SECRETS, namespace, name))
    if body is None:
        raise GenericError(
            reason,
            f"Secret '{namespace}/{name}' of {field} not found: create it or fix {field}.name",
        )
    return body.get("data") or {}


def proxy_url(data: Mapping[str, str], field: str = "spec.proxySecretRef") -> str:
    """The proxy URL of a proxy Secret's data (base64 values): `address` (http or https)
    with `username` and `password`, if any, put in."""
    try:
        return proxy_keys(decode_secret(data)).url()
    except SecretKeyError as err:
        raise GenericError(READ_OPERATION_FAILED,
                           f"invalid proxy address in the Secret of {field}: {err}") from None


async def _service_account_credentials(
    ctx: ReconcileContext[Any], namespace: str, name: str, image: ImageName
) -> RegistryCredentials | None:
    """The credentials for `image` in the first image pull Secret of ServiceAccount
    `namespace/name` that has some."""
    account = await ctx.kube.get(ObjectRef(SERVICE_ACCOUNTS, namespace, name))
    if account is None:
        raise GenericError(
            AUTHENTICATION_FAILED,
            f"ServiceAccount '{namespace}/{name}' of spec.serviceAccountName not found",
        )
    for entry in account.get("imagePullSecrets") or []:
        secret_name = (entry or {}).get("name")
        if not secret_name:
            continue
        body = await ctx.kube.get(ObjectRef(SECRETS, namespace, secret_name))
        if body is None:
            continue
        try:
            config = parse_docker_config_secret(body.get("data") or {})
        except DockerConfigError:
            continue
        found = credentials_for(config, image.api_host) or credentials_for(config, image.registry)
        if found is not None:
            return found
    return None


async def registry_access(ctx: ReconcileContext[Any], repo: ImageRepository) -> RegistryAccess:
    """Read the Secrets `repo.spec` refers to and build its registry access."""
    spec = repo.spec
    namespace = repo.namespace
    image = parse_image(spec.image)
    credentials: RegistryCredentials | None = None
    without_entry = False
    if spec.secret_ref is not None and spec.secret_ref.name:
        data = await read_secret(
            ctx, namespace, spec.secret_ref.name, "spec.secretRef", AUTHENTICATION_FAILED
        )
        try:
            config = parse_docker_config_secret(data)
        except DockerConfigError as err:
            raise GenericError(
                AUTHENTICATION_FAILED,
                f"the Secret '{namespace}/{spec.secret_ref.name}' of spec.secretRef is not a "
                f"usable Docker config: {err}",
            ) from err
        credentials = credentials_for(config, image.api_host) or credentials_for(
            config, image.registry
        )
        without_entry = credentials is None
    if credentials is None and spec.service_account_name:
        credentials = await _service_account_credentials(
            ctx, namespace, spec.service_account_name, image
        )
    tls: TLSConfig | None = None
    if spec.cert_secret_ref is not None and spec.cert_secret_ref.name:
        data = await read_secret(
            ctx, namespace, spec.cert_secret_ref.name, "spec.certSecretRef", AUTHENTICATION_FAILED
        )
        tls = tls_from_secret(data)
    proxy: str | None = None
    if spec.proxy_secret_ref is not None and spec.proxy_secret_ref.name:
        field = "spec.proxySecretRef"
        data = await read_secret(
            ctx, namespace, spec.proxy_secret_ref.name, field, READ_OPERATION_FAILED
        )
        proxy = proxy_url(data, field)
    return RegistryAccess(
        image=image,
        credentials=credentials,
        tls=tls,
        insecure=bool(spec.insecure),
        timeout=repo.timeout or 60.0,
        proxy=proxy,
        secret_without_entry=without_entry,
    )
