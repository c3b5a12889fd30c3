"""What notification-controller records about each delivery, so `afflux events` can say
what was sent where: a Kubernetes Event on the Alert the event went through, Normal
`Delivered` or Warning `DeliveryFailed`, whose message names the object, the event's
reason and severity, and the Provider (name and type), and whose annotations
(`notification.toolkit.fluxcd.io/provider`, `/object`, `/reason`) carry the same for
tools. Never the Provider's address or a credential: a failure says only what the service
answered or what kind of error it was. Bounded like every Event: repeats bump the count of
the existing Event (the runtime's recorder), and kube-apiserver's event TTL ages them out.
Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DELIVERED", "DELIVERY_FAILED", "delivery_metadata", "delivery_message"]

DELIVERED = "Delivered"
DELIVERY_FAILED = "DeliveryFailed"
#: longest failure detail kept in a record
MAX_DETAIL = 300


def _object(event: Mapping[str, Any]) -> str:
    inv = event.get("involvedObject") or {}
    return f"{inv.get('kind', '')}/{inv.get('namespace', '')}/{inv.get('name', '')}"


def delivery_message(event: Mapping[str, Any], provider: Mapping[str, Any],
                     failure: str | None = None, unchanged: bool = False) -> str:
    """`sent Kustomization/apps/web (ReconciliationSucceeded, info) to Provider 'slack'
    (slack)`, or why it could not be sent."""
    spec = provider.get("spec") or {}
    name = (provider.get("metadata") or {}).get("name", "")
    what = f"{_object(event)} ({event.get('reason') or 'no reason'}, {event.get('severity')})"
    where = f"Provider '{name}' ({spec.get('type', '')})"
    if failure is not None:
        detail = failure if len(failure) <= MAX_DETAIL else failure[: MAX_DETAIL - 3] + "..."
        return f"could not send {what} to {where}: {detail or 'failed'}"
    if unchanged:
        return f"{what}: {where} already shows it, not sent again"
    return f"sent {what} to {where}"


def delivery_metadata(event: Mapping[str, Any], provider: Mapping[str, Any]) -> dict[str, str]:
    """The record's annotations (the recorder prefixes them with the Alert's group)."""
    return {"provider": str((provider.get("metadata") or {}).get("name", "")),
            "object": _object(event), "reason": str(event.get("reason") or "")}
