"""Custom resource definitions for tests: a namespaced kind whose fields are unchecked."""

from __future__ import annotations

from typing import Any


def custom_resource_definition(group: str, kind: str, *,
                               status_subresource: bool = False) -> dict[str, Any]:
    """A namespaced CRD of `kind` in `group`, version v1, fields unchecked."""
    plural = f"{kind.lower()}s"
    version: dict[str, Any] = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object",
                                       "x-kubernetes-preserve-unknown-fields": True}}}
    if status_subresource:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                           "listKind": f"{kind}List"},
                 "versions": [version]},
    }
