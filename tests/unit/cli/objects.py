"""Small builders of Flux objects (as the API server returns them) for the CLI's unit tests."""

from __future__ import annotations

from typing import Any

GROUPS = {
    "GitRepository": "source.toolkit.fluxcd.io/v1",
    "OCIRepository": "source.toolkit.fluxcd.io/v1",
    "HelmRepository": "source.toolkit.fluxcd.io/v1",
    "HelmChart": "source.toolkit.fluxcd.io/v1",
    "Bucket": "source.toolkit.fluxcd.io/v1",
    "Kustomization": "kustomize.toolkit.fluxcd.io/v1",
    "HelmRelease": "helm.toolkit.fluxcd.io/v2",
    "ImageRepository": "image.toolkit.fluxcd.io/v1",
    "ImagePolicy": "image.toolkit.fluxcd.io/v1",
    "ImageUpdateAutomation": "image.toolkit.fluxcd.io/v1",
    "Alert": "notification.toolkit.fluxcd.io/v1beta3",
    "Provider": "notification.toolkit.fluxcd.io/v1beta3",
    "Receiver": "notification.toolkit.fluxcd.io/v1",
}


def cond(type_: str, status: str, message: str = "", reason: str = "Succeeded",
         **extra: Any) -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2024-05-01T11:00:00Z", **extra}


def obj(kind: str, name: str = "podinfo", namespace: str = "flux-system", *,
        spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
        generation: int = 1, **meta: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": GROUPS.get(kind, "v1"),
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "generation": generation, **meta},
        "spec": spec or {},
    }
    if status is not None:
        body["status"] = status
    return body


def ready(kind: str, message: str = "ok", status: str = "True", **fields: Any) -> dict[str, Any]:
    """An object whose Ready condition has `status` and `message`, plus status `fields`."""
    return obj(kind, status={"conditions": [cond("Ready", status, message)], **fields})
