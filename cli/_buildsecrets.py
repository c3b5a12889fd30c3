"""The Secrets of `afflux create secret helm|oci|tls|notation|proxy|githubapp|receiver` and the objects
of `afflux create tenant`, with the keys and types flux's CLI gives them (`tls.crt`/`tls.key`/
`ca.crt`, `kubernetes.io/tls`, `kubernetes.io/basic-auth`, `kubernetes.io/dockerconfigjson`,
`githubAppID`, ...). Pure: the command reads the files; these shape dicts.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from afflux.api import receiver_webhook_path
from afflux.api._notification_v1 import RECEIVER_TYPES

from ._build import BuildError, _metadata, _split_list

__all__ = [
    "RECEIVER_TYPES",
    "TENANT_LABEL",
    "basic_auth_secret",
    "github_app_secret",
    "helm_secret",
    "notation_secret",
    "oci_secret",
    "proxy_secret",
    "receiver_secret",
    "secret",
    "tenant",
    "tls_secret",
]

TENANT_LABEL = "toolkit.fluxcd.io/tenant"


def secret(name: str, namespace: str, data: Mapping[str, str], *, type_: str | None = None,
           labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A v1 Secret with `stringData` (and `type` when given)."""
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                           "metadata": _metadata(name, namespace, labels)}
    if type_:
        doc["type"] = type_
    doc["stringData"] = dict(sorted(data.items()))
    return doc


def tls_secret(name: str, namespace: str, *, tls_crt: str | None = None,
               tls_key: str | None = None, ca_crt: str | None = None,
               labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`kubernetes.io/tls` with a certificate and key (and `ca.crt`); `Opaque` with only
    `ca.crt`."""
    if bool(tls_crt) != bool(tls_key):
        raise BuildError("--tls-crt-file and --tls-key-file go together")
    if not tls_crt and not ca_crt:
        raise BuildError("give --tls-crt-file and --tls-key-file, or --ca-crt-file")
    data: dict[str, str] = {}
    if tls_crt and tls_key:
        data.update({"tls.crt": tls_crt, "tls.key": tls_key})
    if ca_crt:
        data["ca.crt"] = ca_crt
    return secret(name, namespace, data, type_="kubernetes.io/tls" if tls_crt else "Opaque",
                  labels=labels)


def basic_auth_secret(name: str, namespace: str, *, username: str | None, password: str | None,
                      labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`kubernetes.io/basic-auth` with `username` and `password`."""
    if not username or not password:
        raise BuildError("basic auth needs both --username and --password")
    return secret(name, namespace, {"username": username, "password": password},
                  type_="kubernetes.io/basic-auth", labels=labels)


def helm_secret(name: str, namespace: str, *, username: str | None = None,
                password: str | None = None, tls_crt: str | None = None,
                tls_key: str | None = None, ca_crt: str | None = None,
                labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A HelmRepository's credentials, as flux chooses: a client certificate first (a TLS
    Secret), else basic auth (plus `ca.crt`), else only a CA (an Opaque TLS Secret), else an
    empty Secret."""
    if tls_crt or tls_key:
        return tls_secret(name, namespace, tls_crt=tls_crt, tls_key=tls_key, ca_crt=ca_crt,
                          labels=labels)
    if username or password:
        doc = basic_auth_secret(name, namespace, username=username, password=password,
                                labels=labels)
        if ca_crt:
            doc["stringData"] = dict(sorted({**doc["stringData"], "ca.crt": ca_crt}.items()))
        return doc
    if ca_crt:
        return tls_secret(name, namespace, ca_crt=ca_crt, labels=labels)
    return secret(name, namespace, {}, labels=labels)


def oci_secret(name: str, namespace: str, *, url: str, username: str | None,
               password: str | None, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`kubernetes.io/dockerconfigjson` for the registry of `url` (`ghcr.io/org/charts`)."""
    if not url:
        raise BuildError("--url is required, e.g. --url=ghcr.io/org/charts")
    if "://" in url:
        raise BuildError(f"--url {url!r}: give the registry address without a scheme, e.g. "
                         "ghcr.io/org/charts")
    if not username:
        raise BuildError("--username is required")
    if not password:
        raise BuildError("--password is required")
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = {"auths": {url: {"username": username, "password": password, "auth": auth}}}
    return secret(name, namespace, {".dockerconfigjson": json.dumps(config, indent=2)},
                  type_="kubernetes.io/dockerconfigjson", labels=labels)


def proxy_secret(name: str, namespace: str, *, address: str, username: str | None = None,
                 password: str | None = None,
                 labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An Opaque Secret for `spec.proxySecretRef`: `address` (and `username`, `password`)."""
    if not address:
        raise BuildError("--address is required, e.g. --address=http://proxy:3128")
    data = {"address": address}
    if username:
        data["username"] = username
    if password:
        data["password"] = password
    return secret(name, namespace, data, type_="Opaque", labels=labels)


def github_app_secret(name: str, namespace: str, *, app_id: str, private_key: str,
                      installation_id: str | None = None,
                      installation_owner: str | None = None, base_url: str | None = None,
                      labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An Opaque Secret for a GitRepository with `provider: github`."""
    if not app_id:
        raise BuildError("--app-id is required")
    if not private_key:
        raise BuildError("--app-private-key is required (the App's private key file)")
    if bool(installation_id) == bool(installation_owner):
        raise BuildError("give exactly one of --app-installation-id and "
                         "--app-installation-owner")
    data = {"githubAppID": app_id, "githubAppPrivateKey": private_key}
    if installation_owner:
        data["githubAppInstallationOwner"] = installation_owner
    if installation_id:
        data["githubAppInstallationID"] = installation_id
    if base_url:
        data["githubAppBaseURL"] = base_url
    return secret(name, namespace, data, type_="Opaque", labels=labels)


def notation_secret(name: str, namespace: str, *, trust_policy: str,
                    ca_certs: Mapping[str, str],
                    labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Secret for `verify.provider: notation`: each CA certificate under its file name
    (`.crt` or `.pem`) and `trustpolicy.json`."""
    if not ca_certs:
        raise BuildError("--ca-cert-file is required")
    if not trust_policy:
        raise BuildError("--trust-policy-file is required")
    bad = [n for n in ca_certs if not n.endswith((".crt", ".pem"))]
    if bad:
        raise BuildError(f"--ca-cert-file {bad[0]}: the file name must end with .crt or .pem")
    try:
        doc = json.loads(trust_policy)
    except ValueError as err:
        raise BuildError(f"--trust-policy-file: not JSON: {err}") from None
    if not isinstance(doc, dict) or not doc.get("version") or \
            not isinstance(doc.get("trustPolicies"), list):
        raise BuildError("--trust-policy-file: a notation trust policy needs `version` and "
                         "`trustPolicies`")
    return secret(name, namespace, {**ca_certs, "trustpolicy.json": trust_policy},
                  labels=labels)


def tenant(name: str, namespaces: Sequence[str], *, cluster_role: str = "cluster-admin",
           service_account: str | None = None, skip_namespace: bool = False,
           labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Per namespace: the Namespace (unless skip_namespace), a ServiceAccount and a RoleBinding
    `<tenant>-reconciler` of `cluster_role` to the account and to the `gotk:<ns>:reconciler`
    user, all labelled `toolkit.fluxcd.io/tenant: <tenant>`."""
    names = _split_list(namespaces)
    if not names:
        raise BuildError("--with-namespace is required")
    if not cluster_role:
        raise BuildError("--cluster-role is required")
    all_labels = dict(sorted({**(labels or {}), TENANT_LABEL: name}.items()))
    account = service_account or name
    docs: list[dict[str, Any]] = []
    for ns in names:
        if not skip_namespace:
            docs.append({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"labels": all_labels, "name": ns}})
        docs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"labels": all_labels, "name": account, "namespace": ns}})
        docs.append({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"labels": all_labels, "name": f"{name}-reconciler", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": cluster_role},
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                 "name": f"gotk:{ns}:reconciler"},
                {"kind": "ServiceAccount", "name": account, "namespace": ns},
            ],
        })
    return docs


#: The annotation flux puts the computed webhook URL in.
WEBHOOK_URL_ANNOTATION = "notification.toolkit.fluxcd.io/webhook"


def receiver_secret(name: str, namespace: str, *, type_: str, token: str, hostname: str,
                    email_claim: str | None = None, audience_claim: str | None = None,
                    labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Secret of a Receiver as `flux create secret receiver` makes it: the `token`, the
    webhook URL `https://<hostname>/hook/<sha256(token+name+namespace)>` in the annotation
    `notification.toolkit.fluxcd.io/webhook`, and for `gcr` the `email` claim and the
    `audience` (the webhook URL unless given)."""
    if not type_:
        raise BuildError("--type is required")
    if not hostname:
        raise BuildError("--hostname is required")
    if type_ == "gcr" and not email_claim:
        raise BuildError("--email-claim is required for gcr receiver type")
    url = f"https://{hostname}{receiver_webhook_path(token, name, namespace)}"
    data = {"token": token}
    if type_ == "gcr":
        data["email"] = str(email_claim)
        data["audience"] = audience_claim or url
    doc = secret(name, namespace, data, labels=labels)
    doc["metadata"] = {"annotations": {WEBHOOK_URL_ANNOTATION: url}, **doc["metadata"]}
    return doc
