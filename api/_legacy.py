"""The CRD side of the removed versions: their schemas and the conversion webhook stanza.

An old version's schema is the current one plus the fields only the old version had
(so that nothing is pruned on the way down, and an old manifest validates unchanged).
`crdgen` adds these versions after the stored one, served and deprecated; the CRD of a
kind with old versions gets `spec.conversion.strategy: Webhook`. The checked-in CRDs name
the in-cluster Service of the operator that owns the kind; `client_config_url` /
`with_ca_bundle` are what installers use to point them elsewhere (loopback in the dev
environment) and to add the CA. Reads and writes of the stored version never call the
webhook, so the CRDs apply, and the current versions work, with no webhook running;
only requests in an old version then fail (the API server says the webhook is
unreachable).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from ._common import JSON6902Patch, Resource
from .conversion import CONVERTIBLE

__all__ = [
    "CONVERSION_PATH",
    "CONVERSION_PORT",
    "CONVERSION_SERVICE",
    "conversion_spec",
    "legacy_versions",
    "point_conversion",
]

#: The HTTPS path every afflux conversion server answers on.
CONVERSION_PATH = "/convert"
#: The port of the conversion server in-cluster (the Service's and the container's).
CONVERSION_PORT = 9443
#: The Service in front of each operator's conversion server (in the install namespace).
CONVERSION_SERVICE = {
    "Kustomization": "kustomize-controller",
    "GitRepository": "source-controller",
    "HelmRelease": "helm-controller",
}

_PRESERVE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _deprecated(node: dict[str, Any], note: str) -> dict[str, Any]:
    return {"description": f"Deprecated: {note}", **node}


def _json6902_list() -> dict[str, Any]:
    return {"type": "array", "items": JSON6902Patch.openapi_schema()}


def _additions(kind: str, version: str) -> dict[str, dict[str, Any]]:
    """Dotted path (from the root schema) -> property schema, added in `version`."""
    smp = _deprecated({"type": "array", "items": dict(_PRESERVE)},
                      "strategic-merge patches as objects; moved to patches in the current "
                      "version.")
    j6902 = _deprecated(_json6902_list(), "JSON 6902 patches; moved to patches in the "
                                          "current version.")
    if kind == "Kustomization":
        return {
            "spec.validation": _deprecated(
                {"type": "string", "enum": ["none", "client", "server"]},
                "not used; dropped by the conversion to v1."),
            "spec.patchesStrategicMerge": smp,
            "spec.patchesJson6902": j6902,
        }
    if kind == "GitRepository":
        artifact_checksum = _deprecated({"type": "string"}, "SHA-256 hex of the artifact; "
                                                            "the digest field replaces it.")
        return {
            "spec.gitImplementation": _deprecated(
                {"type": "string", "enum": ["go-git", "libgit2"]},
                "ignored; dropped by the conversion to v1."),
            "spec.accessFrom": _deprecated(dict(_PRESERVE),
                                           "ignored; dropped by the conversion to v1."),
            "status.contentConfigChecksum": _deprecated({"type": "string"}, "not used."),
            "status.artifact.checksum": artifact_checksum,
            "status.includedArtifacts[].checksum": artifact_checksum,
        }
    if kind == "HelmRelease":
        return {
            "spec.postRenderers[].kustomize.patchesStrategicMerge": smp,
            "spec.postRenderers[].kustomize.patchesJson6902": j6902,
        }
    return {}


def _node(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    node: dict[str, Any] | None = schema
    for part in path.split("."):
        if node is None:
            return None
        items = part.endswith("[]")
        node = (node.get("properties") or {}).get(part.removesuffix("[]"))
        if node is not None and items:
            node = node.get("items")
    return node


def legacy_schema(kind: str, version: str, current: Mapping[str, Any]) -> dict[str, Any]:
    """The openAPIV3Schema of an old version: `current` plus what only it had."""
    schema = copy.deepcopy(dict(current))
    for path, prop in _additions(kind, version).items():
        parent_path, _, name = path.rpartition(".")
        parent = _node(schema, parent_path)
        if parent is None:  # pragma: no cover - a model change; test_legacy_schema says so
            raise KeyError(f"{kind} schema has no {parent_path}")
        parent.setdefault("properties", {}).setdefault(name, prop)
    if kind == "GitRepository":
        mode = _node(schema, "spec.verify.mode")
        if mode is not None and "enum" in mode:
            mode["enum"] = ["head", *[m for m in mode["enum"] if m != "head"]]
    return schema


def legacy_versions(cls: type[Resource], stored: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The CRD `versions[]` entries of `cls`'s old versions, made from its stored entry."""
    entry = CONVERTIBLE.get((cls.GROUP, cls.KIND))
    if entry is None:
        return []
    out = []
    for version in entry[1]:
        item: dict[str, Any] = {
            "name": version,
            "served": True,
            "storage": False,
            "deprecated": True,
            "deprecationWarning": (
                f"{cls.GROUP}/{version} {cls.KIND} is deprecated (removed in Flux 2.8), use "
                f"{cls.GROUP}/{entry[0]}; `afflux migrate -f <dir>` rewrites manifests"),
        }
        for key, value in stored.items():
            if key not in item:
                item[key] = copy.deepcopy(value)
        item["schema"] = {"openAPIV3Schema": legacy_schema(
            cls.KIND, version, stored["schema"]["openAPIV3Schema"])}
        out.append(item)
    return out


def conversion_spec(cls: type[Resource], namespace: str = "flux-system") -> dict[str, Any] | None:
    """`spec.conversion` of `cls`'s CRD: a webhook at its operator's Service; None for kinds
    without old versions."""
    if (cls.GROUP, cls.KIND) not in CONVERTIBLE:
        return None
    return {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {"service": {
                "name": CONVERSION_SERVICE[cls.KIND],
                "namespace": namespace,
                "path": CONVERSION_PATH,
                "port": CONVERSION_PORT,
            }},
            "conversionReviewVersions": ["v1"],
        },
    }


def converted_kinds(crd: Mapping[str, Any]) -> tuple[str, str] | None:
    """(group, kind) of a CRD whose kind has old versions served by conversion, else None."""
    spec = crd.get("spec") or {}
    key = (str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", "")))
    return key if key in CONVERTIBLE else None


def point_conversion(crds: Iterable[Mapping[str, Any]], *, url: str | None = None,
                     url_for: Mapping[str, str] | None = None, ca_bundle: str | None = None,
                     namespace: str | None = None) -> list[dict[str, Any]]:
    """Copies of `crds` whose conversion webhook is reached where the caller says.

    `url` (or `url_for[kind]`): a URL instead of the Service (the dev environment's
    loopback `https://127.0.0.1:<port>/convert`); `namespace`: the Service's namespace;
    `ca_bundle`: the base64 PEM of the CA that signed the server's certificate. CRDs of
    other kinds come back unchanged.
    """
    out = []
    for crd in crds:
        crd = copy.deepcopy(dict(crd))
        key = converted_kinds(crd)
        webhook = ((crd.get("spec") or {}).get("conversion") or {}).get("webhook")
        if key is None or not isinstance(webhook, dict):
            out.append(crd)
            continue
        config = webhook.setdefault("clientConfig", {})
        target = (url_for or {}).get(key[1]) or url
        if target:
            config.pop("service", None)
            config["url"] = target
        elif namespace and isinstance(config.get("service"), dict):
            config["service"]["namespace"] = namespace
        if ca_bundle:
            config["caBundle"] = ca_bundle
        out.append(crd)
    return out


def follow_live_conversion(doc: Mapping[str, Any],
                           live: Mapping[str, Any] | None) -> dict[str, Any]:
    """`doc` (a CRD about to be applied) with the conversion webhook target of `live` (the
    CRD on the cluster) when that one is a URL: a local setup (dev environment, tests)
    reaches its webhooks on loopback, and an install must neither move them back to a
    Service nor set `service` beside `url` (the API server refuses both)."""
    out = copy.deepcopy(dict(doc))
    live_config = (((live or {}).get("spec") or {}).get("conversion") or {}).get("webhook", {})
    live_config = (live_config or {}).get("clientConfig") or {}
    webhook = ((out.get("spec") or {}).get("conversion") or {}).get("webhook")
    if isinstance(webhook, dict) and live_config.get("url"):
        webhook["clientConfig"] = copy.deepcopy(dict(live_config))
    return out


def without_client_config(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of `docs` whose CRDs name no conversion webhook target, for manifests that a
    kustomize-controller applies over CRDs whose target someone else set (bootstrap
    --local: the dev environment's loopback URLs)."""
    out = []
    for doc in docs:
        doc = copy.deepcopy(dict(doc))
        webhook = ((doc.get("spec") or {}).get("conversion") or {}).get("webhook")
        if doc.get("kind") == "CustomResourceDefinition" and isinstance(webhook, dict):
            webhook.pop("clientConfig", None)
        out.append(doc)
    return out
