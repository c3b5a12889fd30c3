"""Kubernetes Events of Flux objects as `afflux events` shows them: which events count as
Flux's, when an event was last seen, and the table rows LAST SEEN, TYPE, REASON, OBJECT,
MESSAGE (NAMESPACE first with -A), oldest first. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from afflux.api import KINDS

from ._format import parse_time, since

__all__ = ["event_headers", "event_rows", "event_time", "is_flux_event", "sort_events"]

_FLUX_KINDS = frozenset(k.KIND for k in KINDS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_flux_event(event: Mapping[str, Any]) -> bool:
    """Whether the event is about an object of a Flux kind (by kind and API group)."""
    involved = event.get("involvedObject") or event.get("regarding") or {}
    if involved.get("kind") not in _FLUX_KINDS:
        return False
    api_version = str(involved.get("apiVersion") or "")
    return not api_version or api_version.split("/")[0].endswith(".toolkit.fluxcd.io")


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """When the event was last seen: lastTimestamp, series.lastObservedTime, eventTime,
    firstTimestamp, then the object's creation."""
    for value in (
        event.get("lastTimestamp"),
        (event.get("series") or {}).get("lastObservedTime"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        (event.get("metadata") or {}).get("creationTimestamp"),
    ):
        when = parse_time(value) if isinstance(value, str) else None
        if when is not None:
            return when
    return None


def sort_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Oldest first (events without a time first), then by name for a stable order."""
    return sorted(events, key=lambda e: (event_time(e) or _EPOCH,
                                         str((e.get("metadata") or {}).get("name", ""))))


def event_headers(all_namespaces: bool) -> list[str]:
    head = ["Namespace"] if all_namespaces else []
    return [*head, "Last seen", "Type", "Reason", "Object", "Message"]


def event_row(event: Mapping[str, Any], now: datetime, all_namespaces: bool) -> list[str]:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    row = [
        since(event_time(event), now),
        str(event.get("type", "")),
        str(event.get("reason", "")),
        f"{involved.get('kind', '')}/{involved.get('name', '')}",
        str(event.get("message") or event.get("note") or "").strip(),
    ]
    if all_namespaces:
        ns = involved.get("namespace") or (event.get("metadata") or {}).get("namespace", "")
        row.insert(0, str(ns))
    return row


def event_rows(
    events: Iterable[Mapping[str, Any]], now: datetime, all_namespaces: bool = False
) -> list[list[str]]:
    """The rows of the events, oldest first."""
    return [event_row(e, now, all_namespaces) for e in sort_events(events)]
