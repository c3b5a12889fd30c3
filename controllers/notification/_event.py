"""Flux events: what notification-controller dispatches, built from a core/v1 Event or
read from Flux's event JSON, and the key the rate limit uses. Pure functions, no I/O.

A Flux event (the body of Flux's event API and of the `generic` provider's POST)::

    {"involvedObject": {"apiVersion", "kind", "name", "namespace", "uid", "resourceVersion"},
     "severity": "info" | "error" | "trace", "timestamp": "2024-01-02T03:04:05Z",
     "message", "reason", "metadata": {"kustomize.toolkit.fluxcd.io/revision": ...},
     "reportingController", "reportingInstance"}

The operators record core/v1 Events whose annotations carry the same metadata (keys
prefixed with the involved object's API group); `from_core_event` turns one into a Flux
event. Both paths then go through `clean_metadata`, which keeps only the keys prefixed
with the object's group or `event.toolkit.fluxcd.io/`, minus the checksum and digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "EVENT_GROUP",
    "FLUX_GROUP_SUFFIX",
    "InvalidEvent",
    "clean_metadata",
    "from_core_event",
    "from_json",
    "group_of",
    "is_flux_object",
    "rate_limit_key",
    "revision_of",
]

EVENT_GROUP = "event.toolkit.fluxcd.io"
FLUX_GROUP_SUFFIX = ".toolkit.fluxcd.io"
SEVERITIES = ("trace", "info", "error")
_DROPPED_KEYS = ("checksum", "digest")
#: the longest message a Flux event may carry (as Flux's event API)
MAX_MESSAGE = 39_000


class InvalidEvent(ValueError):
    """A Flux event that lacks what every event must have."""


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def is_flux_object(involved: Mapping[str, Any]) -> bool:
    """Whether an involvedObject is a Flux kind (its group ends in .toolkit.fluxcd.io)."""
    return group_of(str(involved.get("apiVersion") or "")).endswith(FLUX_GROUP_SUFFIX)


def clean_metadata(api_version: str, metadata: Mapping[str, Any] | None) -> dict[str, str]:
    """The metadata worth sending: keys under the object's group or event.toolkit.fluxcd.io,
    without `<group>/checksum` and `<group>/digest`."""
    group = group_of(api_version)
    prefixes = tuple(p for p in (f"{EVENT_GROUP}/", f"{group}/" if group else "") if p)
    dropped = {f"{group}/{key}" for key in _DROPPED_KEYS}
    return {str(k): str(v) for k, v in (metadata or {}).items()
            if str(k).startswith(prefixes) and str(k) not in dropped}


def revision_of(event: Mapping[str, Any]) -> str:
    """The revision an event is about (`<group>/revision`), or ''."""
    involved = event.get("involvedObject") or {}
    group = group_of(str(involved.get("apiVersion") or ""))
    metadata = event.get("metadata") or {}
    return str(metadata.get(f"{group}/revision") or metadata.get("revision") or "")


def _severity(event_type: str | None) -> str:
    if event_type == "Warning":
        return "error"
    if event_type == "Trace":
        return "trace"
    return "info"


def from_core_event(body: Mapping[str, Any]) -> dict[str, Any]:
    """The Flux event for a core/v1 Event recorded by a Flux controller."""
    involved = dict(body.get("involvedObject") or {})
    api_version = str(involved.get("apiVersion") or "")
    meta = body.get("metadata") or {}
    source = body.get("source") or {}
    return {
        "involvedObject": {k: v for k, v in involved.items()
                           if k in ("apiVersion", "kind", "name", "namespace", "uid",
                                    "resourceVersion") and v},
        "severity": _severity(body.get("type")),
        "timestamp": (body.get("lastTimestamp") or body.get("eventTime")
                      or body.get("firstTimestamp") or meta.get("creationTimestamp") or ""),
        "message": str(body.get("message") or ""),
        "reason": str(body.get("reason") or ""),
        "metadata": clean_metadata(api_version, meta.get("annotations")),
        "reportingController": str(body.get("reportingComponent")
                                   or source.get("component") or ""),
        "reportingInstance": str(body.get("reportingInstance") or source.get("host") or ""),
    }


def from_json(data: bytes) -> dict[str, Any]:
    """A Flux event POSTed to the event API, checked and with its metadata cleaned."""
    try:
        event = json.loads(data)
    except ValueError as err:
        raise InvalidEvent(f"the body is not JSON: {err}") from None
    if not isinstance(event, dict):
        raise InvalidEvent("the body is not a JSON object")
    involved = event.get("involvedObject")
    if not isinstance(involved, dict):
        raise InvalidEvent("involvedObject is missing")
    for key in ("kind", "name", "namespace"):
        if not involved.get(key):
            raise InvalidEvent(f"involvedObject.{key} is missing")
    if event.get("severity") not in SEVERITIES:
        raise InvalidEvent(f"severity must be one of {', '.join(SEVERITIES)}")
    message = event.get("message")
    if not isinstance(message, str) or not message:
        raise InvalidEvent("message is missing")
    if len(message) > MAX_MESSAGE:
        raise InvalidEvent(f"message is longer than {MAX_MESSAGE} characters")
    metadata = event.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidEvent("metadata must be an object of strings")
    event["metadata"] = clean_metadata(str(involved.get("apiVersion") or ""), metadata)
    event.setdefault("reason", "")
    return event


def rate_limit_key(event: Mapping[str, Any]) -> str:
    """What makes two events the same for the rate limit: the object, the message and the
    revision."""
    involved = event.get("involvedObject") or {}
    parts = [str(involved.get(k) or "") for k in ("kind", "namespace", "name")]
    parts += [str(event.get("message") or ""), revision_of(event)]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
