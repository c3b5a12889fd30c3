"""Remote clusters reached by workload identity: `spec.kubeConfig.configMapRef`, provider
`generic` (Flux 2.7+).

The ConfigMap (read by `_kubeconfig.remote_cluster_config`) names no credentials: the
controller asks its own cluster's TokenRequest API (`serviceaccounts/token`, create) for a
token of a ServiceAccount, for the ConfigMap's audiences, and sends it as a bearer token
to the remote API server at `address`, trusting `ca.crt`. The remote cluster must accept
this cluster's ServiceAccount issuer (structured authentication, or, for the cluster
itself, its own `--api-audiences`). Whose token:

- `serviceAccountName` of the ConfigMap, else `--default-kubeconfig-service-account`: that
  ServiceAccount in the object's namespace (object-level: only with
  `--feature-gates=ObjectLevelWorkloadIdentity=true`, as in Flux);
- neither: the controller's own ServiceAccount, read from the token file Kubernetes mounts
  in its Pod (Flux reads the same file); a controller that runs outside a Pod has none, and
  the message says to set `serviceAccountName`.

`ServiceAccountTokens` keeps a token per (namespace, ServiceAccount, audiences) and issues a
new one once 80% of its lifetime (capped by `--token-cache-max-duration`) has passed, or
when a caller needs it valid for longer than it has left (helm's timeout); at most
`--token-cache-max-size` tokens are kept (0: a new token for every request, as Flux). The
remote connection asks it before every request (`refresh_api_key_hook`), so a long health
check or helm wait outlives any one token. Tokens are never logged, nor put in a status, an
event or an error message.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import datetime
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._kube import ApiError, KubeClient, api_error
from ._kubeconfig import (
    OBJECT_LEVEL_GATE,
    RemoteClusterConfig,
    RemoteConfigError,
    remote_cluster_config,
)
from ._object import ObjectRef, Resource
from ._options import duration_arg

__all__ = [
    "SA_TOKEN_FILE",
    "IssuedToken",
    "RemoteAccess",
    "RemoteConfigError",
    "RemoteConfigUnavailable",
    "ServiceAccountTokens",
    "WorkloadIdentity",
    "add_workload_identity_flags",
    "api_token_issuer",
    "controller_service_account",
    "parse_feature_gates",
    "resolve_remote_access",
]

_log = logging.getLogger("afflux.workload-identity")

#: where Kubernetes mounts a Pod's ServiceAccount token (Flux reads its identity there)
SA_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
#: the lifetime asked of the TokenRequest API (its own default; the server may shorten it)
TOKEN_SECONDS = 3600
_REFRESH_AT = 0.8  # of a token's lifetime
_MAX_TOKEN_FILE = 64 * 1024
CONFIGMAPS = Resource("", "v1", "ConfigMap", "configmaps")


class RemoteConfigUnavailable(Exception):
    """The ConfigMap or the token cannot be had now (missing, forbidden, API down):
    retried."""


def parse_feature_gates(text: str | None) -> dict[str, bool]:
    """`A=true,B=false` (Flux's `--feature-gates`) -> {"A": True, "B": False}."""
    gates: dict[str, bool] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or value.strip().lower() not in ("true", "false"):
            raise argparse.ArgumentTypeError(f"invalid feature gate {item!r}: want Name=true|false")
        gates[name.strip()] = value.strip().lower() == "true"
    return gates


@dataclass(frozen=True)
class WorkloadIdentity:
    """The operator's settings for `kubeConfig.configMapRef` (from its flags)."""

    object_level: bool = False  # --feature-gates=ObjectLevelWorkloadIdentity=true
    default_service_account: str = ""  # --default-kubeconfig-service-account
    cache_max_size: int = 100  # --token-cache-max-size
    cache_max_duration: float = 3600.0  # --token-cache-max-duration
    token_file: str = SA_TOKEN_FILE

    @classmethod
    def from_flags(cls, extra: argparse.Namespace) -> WorkloadIdentity:
        gates = parse_feature_gates(getattr(extra, "feature_gates", None))
        return cls(object_level=gates.get(OBJECT_LEVEL_GATE, False),
                   default_service_account=getattr(extra, "default_kubeconfig_service_account",
                                                   "") or "",
                   cache_max_size=getattr(extra, "token_cache_max_size", 100),
                   cache_max_duration=getattr(extra, "token_cache_max_duration", 3600.0))


def add_workload_identity_flags(parser: argparse.ArgumentParser) -> None:
    """Flux's flags for the tokens of `kubeConfig.configMapRef` (not `--feature-gates`,
    which each operator declares with its own gates)."""
    parser.add_argument(
        "--default-kubeconfig-service-account", default="", metavar="NAME",
        help="ServiceAccount (in the object's namespace) whose token reaches a remote cluster "
        "of kubeConfig.configMapRef when the ConfigMap names none; needs "
        f"--feature-gates={OBJECT_LEVEL_GATE}=true (default: the controller's own)")
    parser.add_argument(
        "--token-cache-max-size", type=int, default=100, metavar="N",
        help="ServiceAccount tokens kept for remote clusters (default 100; 0: a new token "
        "for every request)")
    parser.add_argument(
        "--token-cache-max-duration", type=duration_arg, default=3600.0, metavar="DURATION",
        help="longest a token is reused (default 1h; it is renewed at 80%% of its lifetime)")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires: float  # seconds since the epoch

    def __repr__(self) -> str:  # never show the token
        return f"IssuedToken(expires={self.expires})"


#: (namespace, ServiceAccount, audiences) -> a new token
Issuer = Callable[[str, str, tuple[str, ...]], IssuedToken]


def api_token_issuer(api_client: Any, seconds: int = TOKEN_SECONDS) -> Issuer:
    """An `Issuer` over the TokenRequest API of the cluster `api_client` talks to; a refusal
    raises `ApiError` (the API's words, which name the account, never a token)."""

    def issue(namespace: str, name: str, audiences: tuple[str, ...]) -> IssuedToken:
        from kubernetes import client  # noqa: PLC0415 - keep import cost off pure users

        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "spec": {"audiences": list(audiences), "expirationSeconds": seconds}}
        try:
            got = client.CoreV1Api(api_client).create_namespaced_service_account_token(
                name, namespace, body)
        except client.ApiException as err:
            raise api_error(err.status or 0, err.body) from None
        expires = got.status.expiration_timestamp
        if isinstance(expires, datetime.datetime):
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=datetime.UTC)
            at = expires.timestamp()
        else:
            at = time.time() + seconds
        return IssuedToken(got.status.token, at)

    return issue


@dataclass
class _Held:
    token: IssuedToken
    renew_at: float


class ServiceAccountTokens:
    """Tokens per (namespace, ServiceAccount, audiences), renewed before they expire and
    bounded in number (module docstring). Thread-safe: the remote connections ask for
    tokens from their worker threads."""

    def __init__(self, issue: Issuer, *, max_size: int = 100, max_duration: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._issue = issue
        self.max_size = max_size
        self.max_duration = max_duration
        self._clock = clock
        self._held: OrderedDict[tuple[str, str, tuple[str, ...]], _Held] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def get(self, namespace: str, name: str, audiences: tuple[str, ...], *,
            min_valid: float = 0.0) -> str:
        """A token of `namespace/name` for `audiences`, valid `min_valid` seconds more."""
        key = (namespace, name, audiences)
        now = self._clock()
        with self._lock:
            held = self._held.get(key)
            if held is not None and now < held.renew_at and \
                    held.token.expires - now >= min_valid:
                self._held.move_to_end(key)
                return held.token.token
        issued = self._issue(namespace, name, audiences)
        lifetime = max(0.0, min(issued.expires - now, self.max_duration))
        if self.max_size > 0:
            with self._lock:
                self._held[key] = _Held(issued, now + _REFRESH_AT * lifetime)
                self._held.move_to_end(key)
                while len(self._held) > self.max_size:
                    self._held.popitem(last=False)
        return issued.token


def controller_service_account(path: str = SA_TOKEN_FILE) -> tuple[str, str] | None:
    """(namespace, name) of the ServiceAccount this process runs as, from the subject of the
    token Kubernetes mounts in its Pod (not verified: it is only a name); None outside a
    Pod or for a token of another shape."""
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_TOKEN_FILE)
    except OSError:
        return None
    parts = raw.decode("ascii", "replace").strip().split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, Mapping) else None
    pieces = str(subject or "").split(":")
    if len(pieces) != 4 or pieces[:2] != ["system", "serviceaccount"]:
        return None
    return pieces[2], pieces[3]


@dataclass(frozen=True)
class RemoteAccess:
    """A remote cluster and the ServiceAccount whose tokens reach it."""

    config: RemoteClusterConfig
    namespace: str  # of the ServiceAccount
    account: str
    tokens: ServiceAccountTokens

    @property
    def key(self) -> str:
        """What identifies a connection (address, CA, account, audiences)."""
        parts = [self.config.address, self.config.ca_pem or "", self.namespace, self.account,
                 *self.config.audiences]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    @property
    def subject(self) -> str:
        return f"ServiceAccount '{self.namespace}/{self.account}'"

    def token(self, min_valid: float = 0.0) -> str:
        return self.tokens.get(self.namespace, self.account, self.config.audiences,
                               min_valid=min_valid)

    def refresh_hook(self) -> Callable[[Any], None]:
        """A `kubernetes.client.Configuration.refresh_api_key_hook`: a current token before
        every request (a failure keeps the last one, logged without it: the API server's
        401 then says what is wrong)."""

        def refresh(configuration: Any) -> None:
            try:
                configuration.api_key["authorization"] = f"Bearer {self.token()}"
            except Exception as err:  # noqa: BLE001 - keep the connection usable
                # the API's words name the account; any other error only by its type
                why = str(err) if isinstance(err, ApiError) else type(err).__name__
                _log.warning("could not renew the token of %s for %s: %s", self.subject,
                             self.config.address, why)

        return refresh


async def resolve_remote_access(kube: KubeClient, namespace: str, name: str,
                                identity: WorkloadIdentity, tokens: ServiceAccountTokens
                                ) -> RemoteAccess:
    """The remote cluster of ConfigMap `namespace/name`, with a first token issued (so that
    a missing or forbidden ServiceAccount shows here). Raises `RemoteConfigError` (the
    ConfigMap must change, or the operator's flags) or `RemoteConfigUnavailable` (retry)."""
    where = f"ConfigMap '{namespace}/{name}'"
    try:
        body = await kube.get(ObjectRef(CONFIGMAPS, namespace, name))
    except ApiError as err:
        raise RemoteConfigUnavailable(f"could not get kubeConfig {where}: {err}") from None
    if body is None:
        raise RemoteConfigUnavailable(f"kubeConfig {where} not found")
    config = remote_cluster_config(body.get("data") or {}, f"kubeConfig {where}",
                                   default_service_account=identity.default_service_account,
                                   object_level_enabled=identity.object_level)
    if config.service_account:
        account = (namespace, config.service_account)
    else:
        own = controller_service_account(identity.token_file)
        if own is None:
            raise RemoteConfigError(
                f"kubeConfig {where} names no serviceAccountName and this controller does "
                "not run as a ServiceAccount (no Pod token): set serviceAccountName (with "
                f"--feature-gates={OBJECT_LEVEL_GATE}=true)")
        account = own
    access = RemoteAccess(config, account[0], account[1], tokens)
    try:
        await asyncio.to_thread(access.token)
    except ApiError as err:
        raise RemoteConfigUnavailable(f"could not get a token of {access.subject} for "
                                      f"kubeConfig {where}: {err}") from None
    return access
