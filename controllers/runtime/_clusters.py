"""Clients for the cluster an object is applied to: impersonated, or remote by kubeconfig.

A Kustomization (or HelmRelease) may ask to be applied as a ServiceAccount
(`spec.serviceAccountName`, or the operator's `--default-service-account`) and/or to another
cluster (`spec.kubeConfig.secretRef`). `ClusterClients.get(...)` returns a `Cluster`: a
`KubeClient`, its `RESTMapper` and a `ResourceManager` under the caller's field manager,
for that combination:

- no kubeconfig, no user: the operator's own client;
- a user: a copy of the operator's (or the remote) connection that sends
  `Impersonate-User: system:serviceaccount:<namespace>:<name>` with every request, so the
  API server authorizes each call as that account (a denied call comes back as 403 and is
  reported as such: the RBAC of the account decides what may be applied);
- a kubeconfig (the bytes of a Secret key): a connection to the cluster and user its current
  context names. It must be self-contained: `_kubeconfig.kubeconfig_refusals` decides what
  it may hold (no files of the controller ever; exec/auth-provider plugins and
  insecure-skip-tls-verify only when the operator's flags allow them), and a refused one
  raises `KubeConfigRefused` (the caller stalls: nothing but a new Secret fixes it).

- a `RemoteAccess` (`spec.kubeConfig.configMapRef`, `_workload`): a connection to its
  address, trusting its `ca.crt` (kept in a private 0600 file while the connection is
  cached), with a ServiceAccount token asked for before every request.

No message here copies content of the kubeconfig: a YAML error gives only its position.

Rate limit (`--kube-api-qps`, `--kube-api-burst`): an impersonated copy of the operator's
connection shares the operator's token bucket (the same API server); a remote cluster's
client has a bucket of its own with the same QPS and burst.

Clients are kept per (kubeconfig digest or remote key, user) and reused; the least recently
used are closed beyond `max_clients`. They are made by `_kubeaio.client_for` on the
operator's connection pool (`pool`), so all of them share its bound on open connections.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from afflux.api._meta import FEATURE_GATE_DISABLED

from ._discovery import RESTMapper
from ._errors import GenericError, StallingError
from ._kube import KubeClient, KubernetesClient
from ._kubeaio import ConnectionPool, client_for
from ._kubeconfig import KubeConfigPolicy, KubeConfigRefusal, kubeconfig_refusals
from ._ratelimit import TokenBucket
from ._ssa import ResourceManager
from ._workload import (
    RemoteAccess,
    RemoteConfigError,
    RemoteConfigUnavailable,
    ServiceAccountTokens,
    WorkloadIdentity,
    api_token_issuer,
    resolve_remote_access,
)

__all__ = ["Cluster", "ClusterClients", "KubeConfigError", "KubeConfigRefused",
           "service_account_user"]

IMPERSONATE_USER = "Impersonate-User"


class KubeConfigError(ValueError):
    """A kubeconfig that cannot be used."""


class KubeConfigRefused(KubeConfigError):
    """A kubeconfig that names a file or program, or turns off TLS, against the policy."""

    def __init__(self, refusals: list[KubeConfigRefusal]) -> None:
        self.refusals = refusals
        super().__init__("the kubeconfig is not self-contained: "
                         + "; ".join(r.message() for r in refusals))


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server gives a ServiceAccount."""
    return f"system:serviceaccount:{namespace}:{name}"


@dataclass(frozen=True)
class Cluster:
    """One target: how to talk to it and how to apply to it."""

    kube: KubeClient
    mapper: RESTMapper
    manager: ResourceManager
    user: str | None = None
    remote: bool = False


def _parse_kubeconfig(data: bytes | str, policy: KubeConfigPolicy) -> Mapping[str, Any]:
    try:
        config = yaml.safe_load(data)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise KubeConfigError(f"the kubeconfig is not valid YAML{where}") from None
    if not isinstance(config, Mapping) or not config.get("clusters"):
        raise KubeConfigError("the kubeconfig names no cluster")
    refusals = kubeconfig_refusals(config, policy)
    if refusals:
        raise KubeConfigRefused(refusals)
    return config


def _api_client_from_kubeconfig(config: Mapping[str, Any]) -> Any:
    from kubernetes import config as kube_config  # noqa: PLC0415 - keep import cost off pure users

    try:
        return kube_config.new_client_from_config_dict(dict(config), persist_config=False)
    except kube_config.ConfigException as err:
        # The client's own messages name keys and list names, not values.
        raise KubeConfigError(f"the kubeconfig cannot be used: {err}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise KubeConfigError(f"the kubeconfig cannot be used ({type(err).__name__}): check "
                              "that every *-data key is base64 and the current context "
                              "names a cluster and a user it defines") from None


def _copy_api_client(api_client: Any) -> Any:
    from kubernetes import client  # noqa: PLC0415

    copy = client.ApiClient(configuration=api_client.configuration)
    for name, value in api_client.default_headers.items():
        copy.set_default_header(name, value)
    return copy


def _api_client_for_remote(remote: RemoteAccess, ca_file: str | None) -> Any:
    from kubernetes import client  # noqa: PLC0415

    configuration = client.Configuration()
    configuration.host = remote.config.address
    configuration.verify_ssl = True
    configuration.ssl_ca_cert = ca_file
    # the hook puts a current token in before every request (none is asked for here: this
    # runs on the event loop); the placeholder makes the client send the header at all
    configuration.api_key = {"authorization": "Bearer -"}
    configuration.refresh_api_key_hook = remote.refresh_hook()
    return client.ApiClient(configuration=configuration)


class ClusterClients:
    """Builds and caches `Cluster`s from the operator's own connection (module docstring)."""

    def __init__(self, api_client: Any, kube: KubeClient, *, field_manager: str,
                 max_clients: int = 32, workers: int = 4,
                 policy: KubeConfigPolicy | None = None,
                 identity: WorkloadIdentity | None = None,
                 pool: ConnectionPool | None = None) -> None:
        self.api_client = api_client
        self.kube = kube
        self.pool = pool if pool is not None else ConnectionPool()
        self.policy = policy or KubeConfigPolicy()
        self.identity = identity or WorkloadIdentity()
        self.tokens = ServiceAccountTokens(api_token_issuer(api_client),
                                           max_size=self.identity.cache_max_size,
                                           max_duration=self.identity.cache_max_duration)
        self.field_manager = field_manager
        self.max_clients = max_clients
        self.workers = workers
        mapper = RESTMapper(kube)
        self.local = Cluster(kube, mapper, ResourceManager(kube, field_manager=field_manager,
                                                           mapper=mapper))
        self._cache: OrderedDict[tuple[str, str], Cluster] = OrderedDict()
        self._ca_files: dict[tuple[str, str], str] = {}  # remote connection -> its CA file
        self._ca_dir: str | None = None

    async def remote_access(self, namespace: str, config_map: str) -> RemoteAccess:
        """The remote cluster a kubeConfig ConfigMap names, read with the operator's own
        client, a first token issued (`_workload.resolve_remote_access`)."""
        return await resolve_remote_access(self.kube, namespace, config_map, self.identity,
                                           self.tokens)

    async def remote_or_fail(self, namespace: str, config_map: str, reason: str
                             ) -> RemoteAccess:
        """`remote_access`, its errors as a reconcile's: a missing feature gate stalls
        FeatureGateDisabled, a ConfigMap that cannot work stalls with `reason`, a missing
        ConfigMap or ServiceAccount (or the API refusing a token) is retried with `reason`."""
        try:
            return await self.remote_access(namespace, config_map)
        except RemoteConfigError as err:
            raise StallingError(FEATURE_GATE_DISABLED if err.gate else reason, str(err)
                                ) from None
        except RemoteConfigUnavailable as err:
            raise GenericError(reason, str(err)) from None

    def _limiter(self, *, remote: bool) -> TokenBucket | None:
        """The rate limit of a new client: the operator's bucket, or for a remote cluster a
        new one like it (None when the operator's client has no limit)."""
        shared = getattr(self.kube, "limiter", None)
        if not isinstance(shared, TokenBucket) or not remote:
            return shared if isinstance(shared, TokenBucket) else None
        return TokenBucket(shared.qps, shared.burst)

    def _ca_file(self, pem: str) -> str:
        if self._ca_dir is None:
            self._ca_dir = tempfile.mkdtemp(prefix="afflux-remote-ca-")  # 0700
        path = os.path.join(self._ca_dir, hashlib.sha256(pem.encode()).hexdigest() + ".crt")
        if not os.path.exists(path):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(pem)
        return path

    def _forget_ca(self, key: tuple[str, str]) -> None:
        path = self._ca_files.pop(key, None)
        if path is not None and path not in self._ca_files.values():
            with contextlib.suppress(OSError):
                os.unlink(path)

    def get(self, *, user: str | None = None, kubeconfig: bytes | str | None = None,
            remote: RemoteAccess | None = None) -> Cluster:
        """The cluster for this user (None: no impersonation) and kubeconfig or remote
        access (both None: local)."""
        if not user and kubeconfig is None and remote is None:
            return self.local
        raw = kubeconfig.encode() if isinstance(kubeconfig, str) else kubeconfig
        if remote is not None:
            digest = f"remote:{remote.key}"
        else:
            digest = hashlib.sha256(raw).hexdigest() if raw is not None else ""
        key = (digest, user or "")
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if remote is not None:
            ca_file = self._ca_file(remote.config.ca_pem) if remote.config.ca_pem else None
            if ca_file is not None:
                self._ca_files[key] = ca_file
            api_client = _api_client_for_remote(remote, ca_file)
        elif raw is not None:
            api_client = _api_client_from_kubeconfig(_parse_kubeconfig(raw, self.policy))
        else:
            api_client = _copy_api_client(self.api_client)
        if user:
            api_client.set_default_header(IMPERSONATE_USER, user)
        kube = client_for(api_client, pool=self.pool, max_workers=self.workers,
                          limiter=self._limiter(remote=raw is not None or remote is not None))
        mapper = RESTMapper(kube)
        cluster = Cluster(kube, mapper, ResourceManager(kube, field_manager=self.field_manager,
                                                        mapper=mapper),
                          user=user or None, remote=raw is not None or remote is not None)
        self._cache[key] = cluster
        while len(self._cache) > self.max_clients:
            old_key, old = self._cache.popitem(last=False)
            if isinstance(old.kube, KubernetesClient):
                old.kube.close()
            self._forget_ca(old_key)
        return cluster

    def close(self) -> None:
        for cluster in self._cache.values():
            if isinstance(cluster.kube, KubernetesClient):
                cluster.kube.close()
        self._cache.clear()
        self._ca_files.clear()
        if self._ca_dir is not None:
            shutil.rmtree(self._ca_dir, ignore_errors=True)
            self._ca_dir = None

