"""The in-cluster conversion webhook's certificate: kept in a Secret, its CA in the CRDs.

In a cluster the API server reaches an operator's conversion webhook through a Service
(`<service>.<namespace>.svc`) and trusts it only if the CRD's `caBundle` names the CA that
signed its certificate. The operator that owns the converted kinds looks after both
(`--conversion-cert-secret=<name>`):

- the Secret `<name>` in its namespace holds `ca.crt`, `ca.key`, `tls.crt`, `tls.key`. At
  start and every few minutes `CertificateKeeper.ensure()` reads it; when it is missing, or
  `afflux.api._servingcert.check_secret` says the serving certificate is due (30 days before
  it ends, or a host name is missing) or the CA is (a year before its end), the missing
  part is made again and the Secret created or replaced (with its resourceVersion, so that
  two replicas never overwrite each other: the loser reads the winner's next round);
- the CRDs of its converted kinds whose webhook names its Service in its namespace get
  `caBundle` = that CA, with a merge patch under a field manager of its own
  (`afflux-conversion-<operator>`), so that whoever applies the CRDs (afflux install,
  bootstrap's kustomize-controller) without a caBundle never takes it away. The name must
  not start with `kustomize-controller`: kustomize-controller takes over the fields of its
  own name's Update entries (Flux's managedFields clean-up, by prefix) and its next apply
  would drop the caBundle. A CRD whose webhook names a URL (the dev environment, the test
  harness: loopback, their own CA) is left alone.

Why the operator and not the installer: bootstrap commits the install manifests to Git, and
a private key does not belong in Git; an operator that makes its own certificate serves
the same way after `afflux install`, a bootstrap, or a `kubectl apply` of exported
manifests, and renews it without anyone running an installer again. The price is RBAC:
get/create/update of that one Secret and get/patch of those CRDs.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from afflux.api._servingcert import (
    KEEP,
    NEW_AUTHORITY,
    SECRET_KEYS,
    Authority,
    ServingCert,
    check_secret,
    issue,
    new_authority,
)

from ._kube import ConflictError, KubeClient
from ._object import ObjectRef, Resource

__all__ = ["CRDS", "SECRETS", "CertificateKeeper", "manager_name", "service_hosts"]

_log = logging.getLogger("afflux.runtime.conversion")

SECRETS = Resource("", "v1", "Secret", "secrets")
CRDS = Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
                "customresourcedefinitions", namespaced=False)


def manager_name(operator: str) -> str:
    """The field manager of `operator`'s caBundle patches (see the module docstring)."""
    return f"afflux-conversion-{operator}"


def service_hosts(service: str, namespace: str) -> list[str]:
    """The names a Service is reached by; the API server asks for `<svc>.<ns>.svc`."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
            f"{service}.{namespace}.svc.cluster.local"]


def _decode(secret: Mapping[str, Any] | None) -> dict[str, str]:
    out = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        if key in SECRET_KEYS and isinstance(value, str):
            try:
                out[key] = base64.b64decode(value).decode()
            except (ValueError, UnicodeDecodeError):
                continue
    return out


def _encode(data: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


class CertificateKeeper:
    """The Secret `secret` in `namespace` and the caBundle of `crds` (see the module)."""

    def __init__(self, kube: KubeClient, *, namespace: str, secret: str, service: str,
                 crds: Sequence[str], manager: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.secret = secret
        self.service = service
        self.crds = list(crds)
        self.manager = manager
        self.hosts = service_hosts(service, namespace)

    async def ensure(self) -> ServingCert:
        """One round: the Secret good (made or renewed), the CRDs' caBundle its CA."""
        data = await self._secret_data()
        await self._patch_ca_bundles(data["ca.crt"])
        return ServingCert(ca=data["ca.crt"], cert=data["tls.crt"], key=data["tls.key"])

    async def _secret_data(self) -> dict[str, str]:
        ref = ObjectRef(SECRETS, self.namespace, self.secret)
        for _ in range(3):
            live = await self.kube.get(ref)
            data = _decode(live)
            verdict = check_secret(data, self.hosts)
            if verdict.action == KEEP:
                return data
            # the Secret's name and the reason, never what it holds
            log = _log.info if live is None else _log.warning
            log("conversion webhook certificate in Secret %s/%s: %s: making %s",
                self.namespace, self.secret, verdict.reason,
                "a new CA and certificate" if verdict.action == NEW_AUTHORITY
                else "a new serving certificate",
                extra={"secret": f"{self.namespace}/{self.secret}"})
            authority = (new_authority() if verdict.action == NEW_AUTHORITY
                         else Authority(cert=data["ca.crt"], key=data["ca.key"]))
            made = issue(authority, self.hosts)
            data = {"ca.crt": authority.cert, "ca.key": authority.key,
                    "tls.crt": made.cert, "tls.key": made.key}
            body: dict[str, Any] = {
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": self.secret, "namespace": self.namespace,
                             "labels": {"app.kubernetes.io/component": self.service,
                                        "app.kubernetes.io/part-of": "flux"}},
                "data": _encode(data),
            }
            try:
                if live is None:
                    await self.kube.create(SECRETS, self.namespace, body)
                else:
                    body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
                    await self.kube.replace(ref, body)
                return data
            except ConflictError:
                continue  # another replica wrote it first: use (or check) theirs
        raise RuntimeError(f"Secret {self.namespace}/{self.secret} kept changing under us")

    async def _patch_ca_bundles(self, ca_pem: str) -> None:
        bundle = base64.b64encode(ca_pem.encode()).decode()
        for name in self.crds:
            ref = ObjectRef(CRDS, None, name)
            crd = await self.kube.get(ref)
            webhook = (((crd or {}).get("spec") or {}).get("conversion") or {}).get("webhook")
            config = (webhook or {}).get("clientConfig") or {}
            service = config.get("service") or {}
            if (service.get("name"), service.get("namespace")) != (self.service, self.namespace):
                continue  # absent, a URL (a local setup), or another install's Service
            if config.get("caBundle") == bundle:
                continue
            await self.kube.patch(ref, {"spec": {"conversion": {"webhook": {
                "clientConfig": {"caBundle": bundle}}}}}, field_manager=self.manager)
            _log.info("conversion webhook CA set in the caBundle of %s", name)
